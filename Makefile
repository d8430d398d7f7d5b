# journey — run `make` for the list of targets.
#
# `make test` installs what is missing (Debian's redis-server and kcat,
# Apache Kafka's jars via rig/pom.xml), starts a real Kafka broker and a real
# Redis on loopback, runs every test against them, and always stops them.

SHELL       := /usr/bin/env bash
GO          ?= go
CACHE       ?= $(CURDIR)/.cache
RIG         := $(CACHE)/bin/rig
BIN         := bin/journey
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
TEST_FLAGS  ?= -count=1 -timeout 60m
# An execution count, not a duration: Go 1.26's fuzz coordinator can fail a
# target with a bare "context deadline exceeded" when a duration expires
# while a worker is mid-input (golang/go#75804, fixed in Go 1.27).
FUZZTIME    ?= 200000x
# flags of both bench/e2e runs (the later of two repeated flags wins), e.g.
# make bench BENCH_FLAGS='-latency-duration 60s'
BENCH_FLAGS ?=
# flags of bench/e2e's API run (bench-api), e.g. make bench-api API_FLAGS='-api-rps 1000 -page-loads 20'
API_FLAGS   ?=
# flags of bench/scale, e.g. make bench-scale SCALE_FLAGS='-events 100000 -customers 10000 -standbys 1'
SCALE_FLAGS ?=
# flags of bench/peers, e.g. make bench-peers PEERS_FLAGS='-events 200000 -customers 20000 -impls raw,journey'
PEERS_FLAGS ?= -cpuprofile bench/results/peers-journey.cpu.pprof
# flags of journey dev for make demo, e.g. make demo DEV_FLAGS='--kafka-port 0 --redis-port 0'
DEV_FLAGS   ?=
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

export JOURNEY_CACHE := $(CACHE)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@echo "journey — make targets:"
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/journey (static, stripped)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/journey

.PHONY: test
test: rig ## run every test against a real Kafka and Redis that it starts and stops
	@$(RIG) exec -dir .rig/test -- $(MAKE) --no-print-directory test-all

.PHONY: test-all
test-all: # the suite itself; needs the services in the environment (make test provides them)
	@test -n "$$JOURNEY_TEST_KAFKA_BROKERS" || { echo "test-all: no services; run make test" >&2; exit 1; }
	@out=$$(gofmt -l $$(git ls-files '*.go') </dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags journeyfaults ./pkg/journey/ # the chaos suite's fault injector (TestChaosPoison builds with it)
	$(GO) test $(TEST_FLAGS) ./...
	cd bench/peers/goka && $(GO) test $(TEST_FLAGS) ./... # its own module: ./... above does not reach it
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

.PHONY: test-unit
test-unit: ## fast tests only, no services (integration tests skip with -short)
	$(GO) test -short -count=1 ./...

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 200000x executions each)
	@set -e; for f in $$(grep -rlE '^func Fuzz' --include='*_test.go' . | sort); do \
	  pkg=./$$(dirname $$f); \
	  for t in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]+' $$f | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -timeout 10m $$pkg; \
	  done; \
	done

.PHONY: up
up: rig build ## start Kafka and Redis in the background (addresses in .rig/env), build bin/journey, say what to run next
	@$(RIG) up -dir .rig/up -env .rig/env
	@printf '%s\n' '' \
	  'From here to a running journey (in this shell):' \
	  '  set -a; . .rig/env; set +a' \
	  '  $(BIN) topics create --config journey.example.yaml --partitions 8' \
	  '  $(BIN) run --config journey.example.yaml' \
	  'and traffic, from another shell (source .rig/env there too):' \
	  '  $(BIN) generate --rate 50'

.PHONY: down
down: ## stop what `make up` started and remove its data
	@if [ -x $(RIG) ]; then $(RIG) down -dir .rig/up; else rm -rf .rig/up .rig/env; fi

.PHONY: lint
lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go') </dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

.PHONY: bench
bench: rig ## end-to-end figures on a fresh real Kafka and Redis: rates, journey÷raw ratio, latency, replay — the core pipeline (one processor), then every processor with identity routing off, then on (latest.md, beside it, and beside identity off run back to back in each pair); then bench-api and bench-scale (bench/results/)
	@$(RIG) exec -dir .rig/bench -- env CGO_ENABLED=0 $(GO) run ./bench/e2e -processors interest -runs 3 -name pipeline-only $(BENCH_FLAGS)
	@$(RIG) exec -dir .rig/bench -- env CGO_ENABLED=0 $(GO) run ./bench/e2e -name identity-off -set 'identity: {enabled: false}' $(BENCH_FLAGS)
	@$(RIG) exec -dir .rig/bench -- env CGO_ENABLED=0 $(GO) run ./bench/e2e -compare bench/results/identity-off.json -beside 'identity: {enabled: false}' $(BENCH_FLAGS)
	@$(MAKE) --no-print-directory bench-api
	@$(MAKE) --no-print-directory bench-scale

.PHONY: bench-api
bench-api: rig ## the read-side API: GET /v1/customers/{id} at 500/s during the 5,000 events/s latency phase, beside it without; the page's load time in headless Chromium (bench/results/api.md)
	@$(RIG) exec -dir .rig/bench-api -- env CGO_ENABLED=0 $(GO) run ./bench/e2e -name api -events 200000 -customers 20000 -runs 1 \
	  -set 'processors: {timeline: {enabled: true}}' -api-rps 500 -page-loads 10 $(API_FLAGS)

.PHONY: bench-scale
bench-scale: rig ## changelog: journey state restore ÷ raw changelog read, failover time with and without a standby (bench/results/scale.md)
	@$(RIG) exec -dir .rig/bench-scale -- env CGO_ENABLED=0 $(GO) run ./bench/scale -go $(GO) $(SCALE_FLAGS)

.PHONY: bench-peers
bench-peers: rig peers ## journey vs Goka vs Kafka Streams vs the raw consumer: one real Kafka, one workload (bench/results/peers.md)
	@$(RIG) exec -dir .rig/peers -- bin/peers/peers $(PEERS_FLAGS)

.PHONY: peers
peers: # build the peer benchmark: bench, raw consumer, journey (bin/peers), Goka (own module), Kafka Streams (Maven)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/peers/ ./bench/peers/...
	cd bench/peers/goka && CGO_ENABLED=0 $(GO) build -trimpath -o ../../../bin/peers/goka .
	mvn -q -B -ntp -Dstyle.color=never -f bench/peers/kstreams/pom.xml package

.PHONY: chaos
chaos: rig ## the chaos suite at full size on its own rig: kill -9, faults, malformed records (~30 min; bench/results/reliability.md)
	@mkdir -p .rig && : > .rig/chaos.jsonl
	@$(RIG) exec -dir .rig/chaos -- env JOURNEY_CHAOS=1 JOURNEY_CHAOS_REPORT=$(CURDIR)/.rig/chaos.jsonl \
	  $(GO) test -count=1 -timeout 60m -v -run '^TestChaos' ./cmd/journey; \
	  status=$$?; $(GO) run ./bench/chaos -in .rig/chaos.jsonl -out bench/results/reliability.md || status=1; exit $$status

.PHONY: bench-micro
bench-micro: ## Go micro-benchmarks of the hot path, no services (Redis ones skip)
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/... ./processors/...

.PHONY: bench-decoders
bench-decoders: ## the JSON decode path beside goccy/go-json, segmentio/encoding and sonic (own module; bench/README.md)
	cd bench/decoders && $(GO) test -tags journey_decoders -count 1 . && $(GO) test -tags journey_decoders -run '^$$' -bench . -benchmem -count 6 .

.PHONY: demo
# A plain go build (not make build's static -trimpath one) shares the build
# cache that go test fills, so after make test the demo starts at once.
demo: ## the whole system in one process, nothing to install: journey dev (DEV_FLAGS='--rate 200 ...')
	@$(GO) build -o bin/journey-demo ./cmd/journey && bin/journey-demo dev $(DEV_FLAGS)

.PHONY: rig
rig: # install and build what the test rig needs
	@rig/install.sh
	@$(GO) build -o $(RIG) ./rig

.PHONY: clean
clean: ## remove build output, the rig's data and the Kafka jar cache
	@-[ -x $(RIG) ] && $(RIG) down -dir .rig/up
	rm -rf bin .rig $(CACHE)
