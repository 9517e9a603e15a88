#!/usr/bin/env bash
# Installs everything the client scripts need. Idempotent, and quick when all
# is in place: apt packages only if missing (needs root), npm ci only when
# node_modules is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
/usr/bin/python3 -c 'import sentry_sdk' 2>/dev/null || missing+=(python3 python3-sentry-sdk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: missing ${missing[*]}; run as root to apt-get install them" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
v=$(/usr/bin/python3 -c 'import sentry_sdk; print(sentry_sdk.VERSION)')
[ "$v" = 1.9.10 ] || echo "install.sh: warning: python3-sentry-sdk is $v, the scripts were written for 1.9.10" >&2

# The sentry-cli and esbuild binaries come as optional npm dependencies; never
# let an install script try to download one instead.
export SENTRYCLI_SKIP_DOWNLOAD=1
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -f cli2/node_modules/.package-lock.json ] || [ cli2/package-lock.json -nt cli2/node_modules/.package-lock.json ]; then
  (cd cli2 && npm ci --no-audit --no-fund --loglevel=error)
fi
node_modules/.bin/sentry-cli --version >/dev/null
cli2/node_modules/.bin/sentry-cli --version >/dev/null
node_modules/.bin/esbuild --version >/dev/null
