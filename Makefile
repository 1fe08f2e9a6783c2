# naq-events — everyday commands. `make help` lists them.
#
# Every tool is installed into ./bin through the Go module proxy at a pinned
# version, on first use or when the installed one is another version; the only
# things a machine needs are Go and a Docker engine (for the test module).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

MODULES := domain ports adapters app cmd test
# Modules holding benchmarks `make bench` runs.
BENCH_MODULES := domain adapters test

BIN := $(CURDIR)/bin
GOLANGCI_VERSION := 2.15.0
NATSCLI_VERSION := v0.5.1
GOTESTSUM_VERSION := v1.13.0
GOLANGCI := $(BIN)/golangci-lint
NATSCLI := $(BIN)/nats
GOTESTSUM := $(BIN)/gotestsum

# go test flags for `make test` and `make test/<module>`.
GOTEST_FLAGS ?= -race -count=1 -timeout 20m
# Arguments of `make run`: make run RUN_ARGS='serve --config x.yaml'.
RUN_ARGS ?= serve --demo
# `make bench` knobs: BENCH='Encode' BENCH_FLAGS='-benchtime=2s -count=5'.
# The default -timeout 60m leaves room for test/reads, which builds its 1M-event data set once.
BENCH ?= .
BENCH_FLAGS ?= -timeout 60m
BENCH_BASELINE_MSGS ?= 200000
# `make bench-logger`: rounds of natscli baseline + logger throughput, both
# against one nats-server process (NAQ_BENCH_SETUP=embedded: the Go side on
# an in-process server instead, not like for like).
BENCH_ROUNDS ?= 3
BENCH_RESULTS := bench-results

# The nats-server version adapters/go.mod pins; the test image is tagged with
# it. Evaluated once, on first use.
NATS_VERSION = $(eval NATS_VERSION := $$(shell cd adapters && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2))$(NATS_VERSION)
NATS_IMAGE = naq-events/nats:$(NATS_VERSION)
NATS_SERVER_BIN := test/nats-image/nats-server

# testcontainers-go on these machines: no reaper (its image cannot be
# pulled) and container ports reached on loopback.
export TESTCONTAINERS_RYUK_DISABLED ?= true
export TESTCONTAINERS_HOST_OVERRIDE ?= 127.0.0.1

.PHONY: help
help: ## list the targets
	@awk -F':.*## ' '/^[a-zA-Z_-]+:.*## / { printf "  %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "  test/<m> vet/<m> lint/<m> tidy/<m> tidy-check/<m>: one module of: $(MODULES)"

# ---------------------------------------------------------------- run

.PHONY: run
run: ## run the service (cmd/naq-events $(RUN_ARGS))
	@if [[ ! -d cmd/naq-events ]]; then \
		echo "make run: cmd/naq-events does not exist yet (the binary's issue adds it)" >&2; exit 1; fi
	cd cmd && go run ./naq-events $(RUN_ARGS)

# ---------------------------------------------------------------- test

.PHONY: test
test: gotestsum ## go test -race every module (builds the NATS image first)
	@$(MAKE) nats-image || echo "make test: no NATS image, so the test module will fail (see above)" >&2
	@$(MAKE) chromium || echo "make test: no chromium, so test/dashboard will fail (see above)" >&2
	@$(MAKE) natscli || echo "make test: no natscli, so test/hostile will fail (see above)" >&2
	@NAQ_NATS_IMAGE=$(NATS_IMAGE) GOTESTSUM=$(GOTESTSUM) GOTEST_FLAGS='$(GOTEST_FLAGS)' scripts/gotest.sh $(MODULES)

# test/<module>: one module; test/test builds the image first.
define module_rules
.PHONY: test/$(1) vet/$(1) lint/$(1) tidy/$(1) tidy-check/$(1)
test/$(1): gotestsum
	@NAQ_NATS_IMAGE=$$(NATS_IMAGE) GOTESTSUM=$$(GOTESTSUM) GOTEST_FLAGS='$$(GOTEST_FLAGS)' scripts/gotest.sh $(1)
vet/$(1):
	cd $(1) && go vet ./...
lint/$(1): golangci-lint
	cd $(1) && $$(GOLANGCI) run --config $$(CURDIR)/.golangci.yml ./...
tidy/$(1):
	cd $(1) && go mod tidy
tidy-check/$(1):
	cd $(1) && go mod tidy -diff
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))
test/test: nats-image chromium natscli

.PHONY: test-cluster
test-cluster: nats-image ## the three-node NATS cluster fault suite (test/cluster), alone
	cd test && NAQ_NATS_IMAGE=$(NATS_IMAGE) go test -race -count=1 -timeout 15m ./cluster/

# The browser tests (test/dashboard) drive Debian's chromium; installed
# with apt-get when missing (as root, or through sudo).
.PHONY: chromium
chromium: ## install Debian's chromium for the browser tests when it is missing
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium) present"; else \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		echo "chromium: missing; apt-get install -y chromium"; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y chromium; fi

.PHONY: screenshots
screenshots: chromium ## the dashboard's screenshots, light and dark, into docs/images (headless chromium)
	cd test && NAQ_SCREENSHOTS=$(CURDIR)/docs/images go test -count=1 -run 'TestDashboard$$' ./dashboard/

# ---------------------------------------------------------------- bench

.PHONY: bench
bench: natscli nats-server ## the natscli baseline, then the benchmarks of $(BENCH_MODULES) (x-natscli = ratio to it), saved in bench-results/
	@mkdir -p $(BENCH_RESULTS)
	@out=$(BENCH_RESULTS)/bench-$$(date +%Y%m%d-%H%M%S).txt; status=0; \
	{ \
		echo "# $$(go version), $$(nproc) cores, $$(date -u +%FT%TZ)"; \
		echo "== baseline: natscli against nats-server $(NATS_VERSION)"; \
		base=$$(scripts/bench-baseline.sh $(NATS_SERVER_BIN) $(NATSCLI) $(BENCH_BASELINE_MSGS) | tee /dev/stderr \
			| sed -n 's/^baseline_msgs_per_sec=//p') || status=1; \
		export NAQ_BASELINE_MSGS_PER_SEC=$$base; \
		for m in $(BENCH_MODULES); do \
			echo "== $$m: go test -run='^$$' -bench='$(BENCH)' -benchmem $(BENCH_FLAGS) ./..."; \
			(cd $$m && go test -run='^$$' -bench='$(BENCH)' -benchmem $(BENCH_FLAGS) ./...) || status=1; \
		done; \
		exit $$status; \
	} 2>&1 | tee $$out || status=1; \
	echo "saved in $$out"; exit $$status

.PHONY: bench-logger
bench-logger: natscli nats-server ## logger vs natscli on one nats-server process, paired runs (ratio, median), Log ns/op, latency p50/p99
	@mkdir -p $(BENCH_RESULTS)
	@out=$(BENCH_RESULTS)/bench-logger-$$(date +%Y%m%d-%H%M%S).txt; \
	scripts/bench-logger.sh $(NATS_SERVER_BIN) $(NATSCLI) $(BENCH_BASELINE_MSGS) $(BENCH_ROUNDS) 2>&1 | tee $$out; \
	echo "saved in $$out"

.PHONY: bench-server-profile
bench-server-profile: natscli nats-server ## nats-server's CPU per message and CPU profile under natscli fast+dedup and under the logger (600000 messages, 2 rounds)
	@mkdir -p $(BENCH_RESULTS)
	OUT=$(BENCH_RESULTS)/server-profile-$$(date +%Y%m%d-%H%M%S) scripts/bench-server-profile.sh $(NATS_SERVER_BIN) $(NATSCLI) 600000 2

.PHONY: bench-stream-config
bench-stream-config: natscli nats-server ## natscli fast+dedup into its own bench stream vs into one with jsstore's configuration (and the logger's subject length), paired rounds
	@mkdir -p $(BENCH_RESULTS)
	scripts/bench-stream-config.sh $(NATS_SERVER_BIN) $(NATSCLI) 200000 7 2>&1 | tee $(BENCH_RESULTS)/stream-config-$$(date +%Y%m%d-%H%M%S).txt

.PHONY: bench-baseline
bench-baseline: natscli nats-server ## natscli: JetStream async publish with de-dup, 512 B, on a local nats-server
	scripts/bench-baseline.sh $(NATS_SERVER_BIN) $(NATSCLI) $(BENCH_BASELINE_MSGS)

# ---------------------------------------------------------------- fuzz

# `make fuzz FUZZTIME=30s`: every fuzz target of every module (found by
# their `func FuzzX` in *_test.go), one after another, FUZZTIME each. A
# failing input is written by go test under the package's testdata/fuzz/,
# where plain `go test` replays it as a regression input from then on.
FUZZTIME ?= 5m
# How long go test may spend minimising each new interesting input (its own
# default, 60 s, can take most of a short run); crashers are minimised too.
FUZZMINIMIZETIME ?= 10s

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 5m); crashers land in testdata/fuzz/ as regression inputs
	@status=0; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' $(MODULES) | sort); do \
		dir=$$(dirname $$f); mod=$${dir%%/*}; pkg=./$${dir#*/}; [[ $$dir == $$mod ]] && pkg=.; \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== $$dir $$name: -fuzztime=$(FUZZTIME)"; start=$$(date +%s); \
			(cd $$mod && go test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg) || status=1; \
			echo "== $$dir $$name: $$(( $$(date +%s) - start )) s"; \
		done; \
	done; \
	if ((status)); then echo "make fuzz: a target failed; its input is in testdata/fuzz/ (see above)"; fi; \
	exit $$status

# ---------------------------------------------------------------- lint

.PHONY: lint
lint: golangci-lint ## gofmt check, go vet and golangci-lint over every module
	@status=0; \
	echo "== gofmt -l"; \
	unformatted=$$(gofmt -l $(MODULES)); \
	if [[ -n $$unformatted ]]; then echo "not gofmt'ed (run gofmt -w):"; echo "$$unformatted"; status=1; fi; \
	for m in $(MODULES); do \
		if [[ -z $$(cd $$m && go list ./... 2>/dev/null) ]]; then echo "== $$m: no packages yet"; continue; fi; \
		echo "== $$m: go vet"; (cd $$m && go vet ./...) || status=1; \
		echo "== $$m: golangci-lint $(GOLANGCI_VERSION)"; \
		(cd $$m && $(GOLANGCI) run --config $(CURDIR)/.golangci.yml ./...) || status=1; \
	done; \
	if ((status)); then echo "make lint: FAILED (see above)"; else echo "make lint: ok"; fi; \
	exit $$status

# ---------------------------------------------------------------- modules

.PHONY: tidy
tidy: $(addprefix tidy/,$(MODULES)) ## go mod tidy every module

.PHONY: tidy-check
tidy-check: ## fail if any module's go.mod/go.sum is not tidy
	@status=0; for m in $(MODULES); do \
		echo "== $$m: go mod tidy -diff"; (cd $$m && go mod tidy -diff) || status=1; \
	done; exit $$status

# ---------------------------------------------------------------- NATS image

.PHONY: nats-image
nats-image: ## build the naq-events/nats:<version> image if missing (no registry needed)
	@if ! docker info >/dev/null 2>&1; then \
		echo "nats-image: no Docker engine answers (docker info failed): start dockerd; .ci/run does in CI" >&2; exit 1; fi
	@if docker image inspect $(NATS_IMAGE) >/dev/null 2>&1; then \
		echo "nats-image: $(NATS_IMAGE) present"; \
	else \
		$(MAKE) nats-image-build; \
	fi

.PHONY: nats-image-build
nats-image-build: nats-server ## (re)build the image unconditionally
	docker build --label org.opencontainers.image.version=$(NATS_VERSION) -t $(NATS_IMAGE) test/nats-image

# The static server binary, from the module version adapters/go.mod pins;
# rebuilt when missing or of another version.
.PHONY: nats-server
nats-server:
	@if [[ "$$($(NATS_SERVER_BIN) --version 2>/dev/null)" != "nats-server: $(NATS_VERSION)" ]]; then \
		echo "building nats-server $(NATS_VERSION) (static) into $(NATS_SERVER_BIN)"; \
		cd adapters && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' \
			-o ../$(NATS_SERVER_BIN) github.com/nats-io/nats-server/v2; \
	fi

# ---------------------------------------------------------------- tools

.PHONY: tools
tools: golangci-lint natscli gotestsum ## install every pinned tool into ./bin

.PHONY: golangci-lint
golangci-lint:
	@if [[ "$$($(GOLANGCI) version --short 2>/dev/null)" != "$(GOLANGCI_VERSION)" ]]; then \
		echo "installing golangci-lint v$(GOLANGCI_VERSION) into bin/"; \
		GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_VERSION); \
	fi

.PHONY: natscli
natscli:
	@if [[ "$$($(NATSCLI) --version 2>/dev/null)" != "$(NATSCLI_VERSION)" ]]; then \
		echo "installing natscli $(NATSCLI_VERSION) into bin/"; \
		GOBIN=$(BIN) go install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION); \
	fi

.PHONY: gotestsum
gotestsum:
	@if [[ "$$($(GOTESTSUM) --version 2>/dev/null)" != "gotestsum version $(GOTESTSUM_VERSION)" ]]; then \
		echo "installing gotestsum $(GOTESTSUM_VERSION) into bin/"; \
		GOBIN=$(BIN) go install gotest.tools/gotestsum@$(GOTESTSUM_VERSION); \
	fi

# ---------------------------------------------------------------- clean

.PHONY: clean
clean: ## remove bin/, results and the built server binary (not the image)
	rm -rf $(BIN) $(BENCH_RESULTS) test-results $(NATS_SERVER_BIN)
