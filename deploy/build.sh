#!/usr/bin/env bash
# The build steps of the Dockerfile, as a script: the Dockerfile's RUN lines
# call it, and CI runs the very same steps without a container engine.
#
#   deploy/build.sh binary OUTDIR   build OUTDIR/faultline (static, CGO off) and check it runs
#   deploy/build.sh chdb OUTDIR     fetch libchdb.so (npm) into OUTDIR, at the Makefile's CHDB_VER
#
# VERSION (default: git describe, else "dev") is what `faultline version`
# prints.
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:?usage: deploy/build.sh binary|chdb OUTDIR}
out=${2:?usage: deploy/build.sh binary|chdb OUTDIR}
mkdir -p "$out"
case "$step" in
binary)
  version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/faultline/faultline/internal/cli.Version=$version" \
    -o "$out/faultline" ./cmd/faultline
  # The image must hold a binary that runs: print its version and flags.
  "$out/faultline" version
  help=$("$out/faultline" serve -h 2>&1 || true)
  grep -q -- '-role' <<<"$help" || { echo "build.sh: $out/faultline serve -h lists no --role" >&2; exit 1; }
  ;;
chdb)
  # One source for the version: the Makefile's CHDB_VER.
  ver=$(sed -n 's/^CHDB_VER *:= *//p' Makefile)
  [ -n "$ver" ] || { echo "build.sh: no CHDB_VER in the Makefile" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error "@chdb/lib-linux-x64-gnu@$ver"
  cp "$tmp/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so" "$out/libchdb.so"
  ls -l "$out/libchdb.so"
  ;;
*)
  echo "build.sh: unknown step $step (binary or chdb)" >&2
  exit 2
  ;;
esac
