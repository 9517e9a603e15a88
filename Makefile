# Faultline. `make run` starts it on the embedded default; `make test` runs
# every test. Both install what they need first.

GO        ?= go
CHDB_VER  := 26.5.3
CHDB_DIR  := .cache/chdb
CHDB_LIB  := $(CHDB_DIR)/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so
CLIENTS   := e2e/clients
FUZZTIME  ?= 2m
export CGO_ENABLED = 0

.PHONY: run build chdb clients test test-go vet fmt fuzz bench bench-store bench-store-go bench-store-disk bench-workers bench-stages install clean

run: build chdb
	./bin/faultline serve $(ARGS)

build:
	$(GO) build -trimpath -o bin/faultline ./cmd/faultline

# libchdb.so (the embedded ClickHouse, ~530 MiB) comes from npm into a cache
# that git ignores. faultline finds it there, or at FAULTLINE_CHDB_LIB.
chdb: $(CHDB_LIB)
$(CHDB_LIB):
	mkdir -p $(CHDB_DIR)
	npm install --prefix $(CHDB_DIR) --no-save --no-audit --no-fund --loglevel=error @chdb/lib-linux-x64-gnu@$(CHDB_VER)
	test -f $@

# The real SDKs the end-to-end tests drive (npm); see e2e/clients/README.md.
# The last sentry-cli 2.x has its own prefix (cli2), beside the current 3.x.
clients: $(CLIENTS)/node_modules/.package-lock.json $(CLIENTS)/cli2/node_modules/.package-lock.json
$(CLIENTS)/node_modules/.package-lock.json: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	cd $(CLIENTS) && SENTRYCLI_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $@
$(CLIENTS)/cli2/node_modules/.package-lock.json: $(CLIENTS)/cli2/package.json $(CLIENTS)/cli2/package-lock.json
	cd $(CLIENTS)/cli2 && SENTRYCLI_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $@

# What the tests need beyond npm's: Debian packages (as root; otherwise it
# stops and prints the one command to run) and the Go modules, as CI does.
install:
	./.ci/install

# Every test, after installing what they need (install, chdb, clients).
# Store tests also run against a ClickHouse server: the one in
# FAULTLINE_TEST_CLICKHOUSE, or one started here from Debian's
# clickhouse-server. With CI=true, a test that lacks a component fails
# instead of skipping.
test: install chdb clients vet
	./.ci/with-clickhouse $(MAKE) --no-print-directory test-go

test-go:
	$(GO) test -count=1 -timeout 40m ./...

vet:
	@test -z "$$(gofmt -l cmd internal e2e)" || { gofmt -l cmd internal e2e; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

fmt:
	gofmt -w cmd internal e2e

# The store's benchmarks: 1M events (FAULTLINE_BENCH_EVENTS) in 10k issues
# (FAULTLINE_BENCH_ISSUES) loaded into chDB and into a ClickHouse server (as
# for `make test`), then disk per event after merges and the API's query
# latencies; they write their section of BENCHMARKS.md. The 1M events are
# 100k generated ones stored ten times by INSERT ... SELECT (minutes, not an
# hour); bench-store-disk generates every event, for the disk figures.
BENCHTIME ?= 50x
bench-store: chdb
	./.ci/with-clickhouse $(MAKE) --no-print-directory bench-store-go

bench-store-go:
	FAULTLINE_BENCH_OUT=$(CURDIR)/BENCHMARKS.md $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 300m ./internal/store/

bench-store-disk: chdb
	FAULTLINE_BENCH_LOAD=generate ./.ci/with-clickhouse $(MAKE) --no-print-directory bench-store-go

# Source-map symbolication (issue 15): CPU per event and per frame on a
# realistic esbuild bundle (@sentry/browser, a 5 MB map), cache hit and miss.
bench-sourcemap: clients
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./internal/sourcemap/

# The worker's Go CPU per event, stage by stage (cpu-µs/op is the process's
# CPU time per event; ns/op is wall clock, which a loaded machine inflates).
bench-stages:
	$(GO) test -run '^$$' -bench Stages -benchmem -cpu 1 -count 5 ./internal/process/

# Fuzz every parser of outside input for FUZZTIME each (never in CI).
fuzz:
	@$(GO) list ./internal/... | while read pkg; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Benchmarks (never in CI): load and latency of ingest, processing rate,
# RSS. Figures go to BENCHMARKS.md with the command and the machine. Run it
# on a quiet machine: the load generator shares the cores with Faultline.
bench: build chdb bench-store bench-sourcemap bench-stages bench-workers
	$(GO) run ./tools/loadgen bench -bin bin/faultline -out BENCHMARKS.md $(BENCHARGS)
	$(GO) run ./tools/loadgen alertlatency -bin bin/faultline -out BENCHMARKS.md

# Workers scale (issue 18): drain the same backlog with 1, 2 and 4 worker
# processes sharing one NATS, into a ClickHouse server of its own (Debian's,
# on ports 19000 and 18123, so that its CPU time is the benchmark's alone);
# processed events/s, CPU seconds per event of the workers, ClickHouse and
# NATS, the load average, and a check that every event was stored once.
SCALEARGS ?= -events 60000 -workers 1,2,4
bench-workers: build
	D=$$(CLICKHOUSE_TCP_PORT=19000 CLICKHOUSE_HTTP_PORT=18123 ./.ci/start-clickhouse) && \
	trap 'kill $$(cat $$D/pid); rm -rf $$D' EXIT && \
	$(GO) run ./tools/loadgen scale -bin bin/faultline -out BENCHMARKS.md \
	  -clickhouse clickhouse://127.0.0.1:19000 -clickhouse-http http://127.0.0.1:18123 -clickhouse-pid $$(cat $$D/pid) $(SCALEARGS)

clean:
	rm -rf bin
