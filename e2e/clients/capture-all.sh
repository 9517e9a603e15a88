#!/usr/bin/env bash
# Regenerates the request captures: runs each client once (REPEAT=1, with a
# release so the JS SDKs also send sessions) against capture-server.mjs.
# Sentry clients' captures go to internal/ingest/testdata/captures/<client>/
# (golden inputs of the ingest tests), Airbrake's to captures/<client>/.
# Usage: ./capture-all.sh [client...]   (default: all six)
set -euo pipefail
cd "$(dirname "$0")"
port=${CAPTURE_PORT:-8000}
declare -A cmd=(
  [sentry-node]="node sentry-node.mjs"
  [sentry-browser]="node sentry-browser.mjs"
  [raven]="node raven.js"
  [sentry-cli]="./sentry-cli.sh"
  [airbrake-node]="node airbrake-node.mjs"
  [python-sdk]="/usr/bin/python3 python_sdk.py"
)
declare -A max=([sentry-browser]=7 [airbrake-node]=8) # every request of one run
clients=("$@"); [ ${#clients[@]} -gt 0 ] || clients=(sentry-node sentry-browser raven sentry-cli airbrake-node python-sdk)
for c in "${clients[@]}"; do
  dir="../../internal/ingest/testdata/captures/$c"
  [ "$c" = airbrake-node ] && dir="captures/$c"
  rm -rf "$dir"
  CAPTURE_DIR="$dir" CAPTURE_PORT=$port CAPTURE_MAX=${max[$c]:-6} node capture-server.mjs >/dev/null 2>&1 &
  srv=$!
  for _ in $(seq 50); do [ -d "$dir" ] && (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  rc=0
  FAULTLINE_DSN="http://e2epublickey@127.0.0.1:$port/42" FAULTLINE_REPEAT=1 FAULTLINE_RELEASE=shop@1.2.3 \
    FAULTLINE_AIRBRAKE_STATS=1 ${cmd[$c]} >/dev/null 2>&1 || rc=$?
  kill "$srv"; wait "$srv" 2>/dev/null || true
  echo "$c: exit $rc, $(ls "$dir" | wc -l) requests captured"
done
