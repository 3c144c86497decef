################################################################################
#
# antt-gateway
#
################################################################################

# The source is the repository that holds this BR2_EXTERNAL tree.
ANTT_GATEWAY_VERSION := $(shell git -C $(BR2_EXTERNAL_ANTT_PATH)/.. describe --tags --always --dirty 2>/dev/null || echo dev)
ANTT_GATEWAY_SITE = $(BR2_EXTERNAL_ANTT_PATH)/..
ANTT_GATEWAY_SITE_METHOD = local
# Not copied into the build directory: the image tree itself, binaries
# built on the host and a developer's own vendor/ (made fresh below).
ANTT_GATEWAY_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /buildroot --exclude /bin --exclude /vendor

ANTT_GATEWAY_GOMOD = github.com/antt-gateway/antt
# One build target, so the binary is named "gateway" and installed as
# /usr/bin/gateway (since Buildroot 2025.11 the list of binaries derives
# from the build targets; setting ANTT_GATEWAY_INSTALL_BINS is an error).
ANTT_GATEWAY_BUILD_TARGETS = cmd/gateway
# Pure Go: a static binary that does not depend on the target's C library.
ANTT_GATEWAY_GO_ENV = CGO_ENABLED=0
ANTT_GATEWAY_LDFLAGS = \
	-buildid= \
	-X $(ANTT_GATEWAY_GOMOD)/device.Version=$(ANTT_GATEWAY_VERSION)

# Buildroot builds Go packages with GOFLAGS=-mod=vendor and GOPROXY=off, and
# vendors the modules of downloaded sources only (at download time, by
# support/download/go-post-process), never of a local source. So the
# modules are vendored here, in the build directory, with the host Go,
# from the Go module proxy; go.sum pins the hash of every module, so what
# is fetched is verified. The source tree itself is never touched and no
# vendor/ directory is kept in the repository.
#
# A pre-build hook rather than a post-rsync one: host-go is a dependency of
# the configure step, so it is surely built by now (a post-rsync hook may
# run before it), and the hook runs again on "make antt-gateway-rebuild",
# which copies the source again, so vendor/ always matches go.mod.
# The module cache is kept in the download directory, so an image rebuilt
# later, or for another board, fetches nothing new.
ANTT_GATEWAY_GOPROXY = $(if $(GOPROXY),$(GOPROXY),https://proxy.golang.org)

define ANTT_GATEWAY_VENDOR_MODULES
	cd $(@D) && $(HOST_GO_COMMON_ENV) \
		GOFLAGS=-mod=mod \
		GOPROXY="$(ANTT_GATEWAY_GOPROXY)" \
		GOMODCACHE="$(ANTT_GATEWAY_DL_DIR)/gomodcache" \
		$(GO_BIN) mod vendor -modcacherw
endef
ANTT_GATEWAY_PRE_BUILD_HOOKS += ANTT_GATEWAY_VENDOR_MODULES

define ANTT_GATEWAY_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(ANTT_GATEWAY_PKGDIR)/S99antt-gateway \
		$(TARGET_DIR)/etc/init.d/S99antt-gateway
	$(INSTALL) -D -m 0755 $(ANTT_GATEWAY_PKGDIR)/antt-gateway-supervise \
		$(TARGET_DIR)/usr/libexec/antt-gateway/supervise
endef

$(eval $(golang-package))
