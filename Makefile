# chanio's tasks. `make test` is the one command that runs the whole suite
# (installing the real peers it needs first); `make run` starts the chat
# example. See README.md.

GO          ?= go
FUZZTIME    ?= 20s
BENCHTIME   ?= 2s
BIN         := $(CURDIR)/bin
STATICCHECK_VERSION := v0.7.0
# Debian packages the interop tests need.
APT_PACKAGES := python3-engineio python3-socketio python3-websocket python3-aiohttp python3-requests chromium
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all test test-unit bench bench-scale bench-micro fuzz lint interop deps deps-apt deps-js deps-chat deps-sio-chat run run-sio run-cluster clean

all: lint test

## run: the chat example with its browser page on http://127.0.0.1:8080/.
run: deps-chat
	$(GO) run ./examples/chat -webtransport-dev

## run-sio: the Socket.IO chat with rooms (examples/sio-chat) and its
## browser page on http://127.0.0.1:8080/.
run-sio: deps-sio-chat
	$(GO) run ./examples/sio-chat

deps-sio-chat: examples/sio-chat/web/node_modules/.package-lock.json

examples/sio-chat/web/node_modules/.package-lock.json: examples/sio-chat/web/package.json examples/sio-chat/web/package-lock.json
	@command -v npm >/dev/null 2>&1 || $(MAKE) deps-apt
	cd examples/sio-chat/web && npm ci --no-audit --no-fund
	@touch $@

## run-cluster: the chat on three cluster nodes (embedded NATS) behind a
## round-robin proxy without affinity, on http://127.0.0.1:8080/.
run-cluster: deps-chat
	$(GO) run ./examples/cluster

deps-chat: examples/chat/web/node_modules/.package-lock.json

examples/chat/web/node_modules/.package-lock.json: examples/chat/web/package.json examples/chat/web/package-lock.json
	@command -v npm >/dev/null 2>&1 || $(MAKE) deps-apt
	cd examples/chat/web && npm ci --no-audit --no-fund
	@touch $@

## test: every test, race detector on, with the real Node and Python peers.
# The race detector caps live goroutines at 8128, so under -race the eio
# Shutdown test holds 3,000 sessions; its full 10,000 run without it.
test: deps
	CHANIO_REQUIRE_PEERS=1 $(GO) test -race -shuffle=on ./...
	$(GO) test -count=1 -run='^TestShutdownBusySessions$$' ./eio
	# Allocation counts, which the race detector's sync.Pool makes vary.
	$(GO) test -count=1 -run='Allocation' ./actor ./transport ./eio

## test-unit: the Go tests alone (interop tests skip when peers are missing).
test-unit:
	$(GO) test -race -shuffle=on ./...

## interop: the tests against the real Node and Python peers only.
interop: deps
	CHANIO_REQUIRE_PEERS=1 $(GO) test -race -count=1 ./interop/...

## bench: chanio against a bare gobwas/ws server; prints the table and
## writes bench/RESULTS.md.
bench:
	CHANIO_BENCH_RESULTS=$(CURDIR)/bench/RESULTS.md CHANIO_BENCH_COMMAND="make bench BENCHTIME=$(BENCHTIME)" \
		$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -timeout=20m ./bench

## bench-scale: 100,000 concurrent WebSocket sessions on six examples/cluster
## nodes joined over an external nats-server, held by six load-generator
## processes (bench/scale_test.go); takes minutes and writes its own section
## of bench/RESULTS.md. Not part of .ci/run. It raises the open-files limit to
## the hard limit (the most a user may without root) and checks it and the
## ephemeral port range, which it cannot change without root.
bench-scale: $(BIN)/nats-server
	@ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; \
	echo "open files per process: $$(ulimit -n); ephemeral ports: $$(cat /proc/sys/net/ipv4/ip_local_port_range)"; \
	CHANIO_NATS_SERVER=$(BIN)/nats-server CHANIO_SCALE_NOFILE="$$(ulimit -n)" \
	CHANIO_BENCH_RESULTS=$(CURDIR)/bench/RESULTS.md \
		$(GO) test -run='^$$' -bench='^BenchmarkScale$$' -benchtime=1x -timeout=30m ./bench

# nats-server for bench-scale, from the module version go.mod pins.
$(BIN)/nats-server: go.mod go.sum
	$(GO) build -o $@ github.com/nats-io/nats-server/v2

## bench-micro: the codec, actor and transport micro-benchmarks.
bench-micro:
	$(GO) test -run='^$$' -bench=. -benchmem ./codec ./actor ./transport

## fuzz: every fuzz target for FUZZTIME each: a duration (20s) or a count of
## inputs (200000x). CI uses a count: in Go 1.26 a duration can end in a
## spurious "context deadline exceeded" failure when the deadline races a
## busy worker (golang/go#75804, fixed in Go 1.27); a count has no deadline.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list='^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

## lint: gofmt, go vet and staticcheck (installed into ./bin at a pinned version).
lint: $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## deps: install the test peers: Debian packages and the pinned npm packages.
deps: deps-apt deps-js deps-chat deps-sio-chat

deps-apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if ! command -v node >/dev/null 2>&1; then missing="$$missing nodejs npm"; fi; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

deps-js: interop/js/node_modules/.package-lock.json

interop/js/node_modules/.package-lock.json: interop/js/package.json interop/js/package-lock.json
	cd interop/js && npm ci --no-audit --no-fund
	@touch $@

clean:
	rm -rf $(BIN) interop/js/node_modules examples/chat/web/node_modules examples/sio-chat/web/node_modules
