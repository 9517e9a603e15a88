#!/usr/bin/env bash
# CI's check of the deployment files, without a container engine or systemd
# running: the Dockerfile's build steps (deploy/build.sh) build a binary that
# runs, Debian's docker-compose accepts deploy/compose.yaml, and
# systemd-analyze accepts the units in deploy/systemd (run against the binary
# just built). deploy/deploy_test.go checks what these cannot: services and
# ports against the README, every flag and variable against the binary's.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "-- deploy/build.sh binary"
deploy/build.sh binary "$tmp/bin"

echo "-- docker-compose config"
docker-compose -f deploy/compose.yaml config -q
docker-compose -f deploy/compose.yaml --profile all-in-one config --services | sort | tr '\n' ' '; echo

echo "-- systemd-analyze verify"
mkdir -p "$tmp/units"
for u in deploy/systemd/*.service; do
  # The units name /usr/local/bin/faultline and /etc/faultline/faultline.env;
  # verify them against the binary built above and the example file.
  sed -e "s#/usr/local/bin/faultline#$tmp/bin/faultline#" \
      -e "s#EnvironmentFile=/etc/faultline/faultline.env#EnvironmentFile=$PWD/deploy/systemd/faultline.env.example#" \
      "$u" > "$tmp/units/$(basename "$u")"
done
# systemd-analyze only warns about unknown keys and bad values: any output fails.
if ! out=$(systemd-analyze verify "$tmp"/units/*.service 2>&1) || [ -n "$out" ]; then
  echo "$out" >&2
  echo "systemd-analyze verify: deploy/systemd has problems" >&2
  exit 1
fi
ls deploy/systemd
echo "deployment files OK"
