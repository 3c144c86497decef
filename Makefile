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

.PHONY: all build cross test test-deps unit test-arm test-board lint bench demo clean fuzz image buildroot-check

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

## test: install the tests' tools (apt when root, Go modules), lint, run every
## test natively, under qemu-user for arm and arm64, and on the emulated board
test: test-deps lint unit test-arm test-board

test-deps:
	@./.ci/test-deps.sh

unit:
	$(GO) test -count=1 -timeout 15m ./...

## test-arm: the suite cross-compiled and run under qemu-user; -short scales the
## longest soak tests down, none is skipped. 32-bit ARM (GOARM=7) runs the
## packages the gateway is built from and their tests' helpers
## (.ci/gateway-packages.sh): only the gateway ships on armv6/armv7; the
## station's packages run natively and on arm64, where both ship and every
## package runs. The passes run one after the other: under qemu the tests
## compute more than they wait, so at once they would save little and starve
## the camera tests' frame-rate checks.
test-arm:
	pkgs=$$(GO=$(GO) ./.ci/gateway-packages.sh) && \
	  GOARCH=arm GOARM=7 ANTT_TEST_EXEC=qemu-arm-static \
	  $(GO) test -count=1 -short -timeout 20m -exec qemu-arm-static $$pkgs
	GOARCH=arm64 ANTT_TEST_EXEC=qemu-aarch64-static \
	  $(GO) test -count=1 -short -timeout 20m -exec qemu-aarch64-static ./...

## test-board: gateway (arm64, armv7) on an emulated arm64 board with real Linux GPIO (gpio-sim)
test-board:
	@./.ci/test-deps.sh
	$(GO) test -tags board -count=1 -timeout 10m -run 'TestBoard$$' -v ./device/boardtest/

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags board ./device/boardtest/
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags board ./device/boardtest/

## bench: the figures of docs/performance.md, printed as a table
bench: test-deps
	$(GO) run ./cmd/bench

## fuzz: a short run of every fuzz target (seeds always run in `make test`)
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s -fuzzminimizetime 1s $$pkg || exit 1; \
	  done; done

## demo: the station (broker, store, web console) and two enrolled gateways with simulated sensors and looping cameras
demo: build
	$(GO) run ./cmd/demo

## image: SD-card image for BOARD (raspberrypi3, raspberrypi4_64, raspberrypizero2w); needs the internet
BOARD ?= raspberrypi4_64
image:
	./buildroot/make-image.sh $(BOARD)

## buildroot-check: check-package, defconfigs and show-info against the
## Buildroot checkout named by BUILDROOT_DIR (offline; see buildroot/README.md)
buildroot-check:
	BUILDROOT_DIR="$(BUILDROOT_DIR)" ./buildroot/check.sh $(BUILDROOT_CHECK_FLAGS)

clean:
	rm -rf $(BIN)
