#!/usr/bin/env bash
# Drives the real sentry-cli (npm @sentry/cli) `send-event` against
# FAULTLINE_DSN: envelopes with X-Sentry-Auth, no Content-Type. See README.md.
# Sends three distinct messages FAULTLINE_REPEAT times each (interleaved),
# with user, tag, environment, release and breadcrumbs (from --logfile).
set -euo pipefail
cd "$(dirname "$0")"
: "${FAULTLINE_DSN:?FAULTLINE_DSN is required}"
repeat=${FAULTLINE_REPEAT:-2}

# Only talk to the DSN: no update check, no .env loading, no progress bars.
export SENTRY_DSN=$FAULTLINE_DSN SENTRY_DISABLE_UPDATE_CHECK=true SENTRY_LOAD_DOTENV=0 \
  SENTRY_NO_PROGRESS_BAR=1 SENTRY_LOG_LEVEL=warn
unset SENTRY_URL SENTRY_AUTH_TOKEN SENTRY_ORG SENTRY_PROJECT SENTRY_PROPERTIES

log=$(mktemp); trap 'rm -f "$log"' EXIT
printf 'checkout: cart loaded\n' >"$log"
common=(--no-environ -E "${FAULTLINE_ENVIRONMENT:-test}" -t feature:checkout
  -u id:user-42 -u email:alice@example.com --logfile "$log" --with-categories)
[ -n "${FAULTLINE_RELEASE:-}" ] && common+=(-r "$FAULTLINE_RELEASE")

sent=() failures=()
send() { # label, then send-event arguments
  local label=$1 out; shift
  if out=$(node_modules/.bin/sentry-cli send-event "${common[@]}" "$@" 2>&1); then
    sent+=("{\"label\":\"$label\",\"event_id\":\"$(sed -n 's/^Event id: //p' <<<"$out" | tr -d -)\"}")
  else
    echo "$out" >&2
    failures+=("\"$label: sentry-cli exited non-zero\"")
  fi
}

for ((r = 0; r < repeat; r++)); do
  send message-a -m "cli message A"
  send message-b -m "cli message B for %s" -a checkout -l warning
  send message-c -m "cli message C" -l fatal -f cli-custom-fingerprint
done

join() { local IFS=,; echo "$*"; }
ok=$([ ${#failures[@]} -eq 0 ] && echo true || echo false)
echo "{\"client\":\"sentry-cli\",\"sent\":[$(join "${sent[@]}")],\"requests\":${#sent[@]},\"ok\":$ok,\"failures\":[$(join "${failures[@]}")]}"
[ "$ok" = true ]
