#!/usr/bin/env bash
# Regenerates the grouping corpus (internal/grouping/testdata/corpus) from
# the real SDKs: @sentry/node, @sentry/browser (headless Chromium),
# Debian's python3-sentry-sdk and sentry-go; Java and Ruby are written by
# hand. Then it rewrites the golden titles and culprits. Review the diff:
# the groups each event must land in are in the generators.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out="$root/internal/grouping/testdata/corpus"
mkdir -p "$out"
cd "$here/.."
node corpus/node-corpus.mjs > "$out/node.jsonl"
node corpus/browser-corpus.mjs > "$out/browser.jsonl"
/usr/bin/python3 corpus/python_corpus.py > "$out/python.jsonl"
python3 corpus/handwritten_corpus.py "$out"
cd "$root"
go test ./internal/grouping -run '^TestCorpus$' -count=1 -generate -update
echo "corpus: $(cat "$out"/*.jsonl | wc -l) events"
