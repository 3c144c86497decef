# ANTT Gateway. `make demo` runs the whole system on loopback; `make test`
# installs what the tests need and runs every test. See README.md.

SHELL      := /bin/bash
GO         ?= go
MODULE     := github.com/antt-gateway/antt
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -buildid= -X $(MODULE)/device.Version=$(VERSION) -X main.version=$(VERSION)
GOFLAGS_RELEASE := -trimpath -buildvcs=false -ldflags '$(LDFLAGS)'
STATICCHECK_VERSION := v0.8.2
BIN        := bin

export CGO_ENABLED := 0

.PHONY: all build cross test test-deps unit lint bench demo clean fuzz

all: build

## build: gateway and station for this machine, into bin/
build:
	$(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/gateway ./cmd/gateway
	$(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/station ./cmd/station

## cross: static, stripped gateway (and station) for the boards, with checksums
cross:
	GOOS=linux GOARCH=arm GOARM=6 $(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/linux-armv6/gateway ./cmd/gateway
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/linux-armv7/gateway ./cmd/gateway
	GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/linux-arm64/gateway ./cmd/gateway
	GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/linux-arm64/station ./cmd/station
	GOOS=linux GOARCH=amd64 $(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/linux-amd64/station ./cmd/station
	cd $(BIN) && sha256sum linux-*/* > SHA256SUMS && cat SHA256SUMS
	@ls -l $(BIN)/linux-*/* | awk '{printf "%-28s %6.2f MiB\n", $$9, $$5/1048576}'

## test: install the tests' tools (apt when root, Go modules), lint, run every test
test: test-deps lint unit

test-deps:
	@./.ci/test-deps.sh

unit:
	$(GO) test -count=1 -timeout 15m ./...

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: the figures of docs/performance.md, printed as a table
bench: test-deps
	$(GO) run ./cmd/bench

## fuzz: a short run of every fuzz target (seeds always run in `make test`)
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; \
	  done; done

## demo: the station with its broker and one gateway with a simulated PIR
demo: build
	$(GO) run ./cmd/demo

clean:
	rm -rf $(BIN)
