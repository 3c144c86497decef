#!/bin/bash
#
# make-image.sh BOARD - build the ANTT Gateway SD-card image for BOARD
# (raspberrypi3, raspberrypi4_64 or raspberrypizero2w) with the pinned
# Buildroot release (buildroot.env). Needs the internet (Buildroot, the
# toolchain, the kernel, Go modules) and an hour or more the first time.
#
# Environment:
#   ANTT_CACHE     where Buildroot, downloads and build trees go
#                  (default ~/.cache/antt-buildroot); must be outside the
#                  repository
#   BUILDROOT_DIR  use this Buildroot checkout instead of cloning one (it
#                  must be at the pinned commit)
#   BUILDROOT_GIT  where to clone Buildroot from (default: the official
#                  repository); the pinned commit is checked either way
#   JOBS           passed to make -j (default: Buildroot's own choice)
#
# The image ends up in bin/image/antt-BOARD-VERSION.img with its SHA-256.

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Called from the project's Makefile: do not hand its make flags and
# command-line variables (VERSION, BOARD, ...) or Go settings to Buildroot,
# which sets its own for every package.
unset MAKEFLAGS MFLAGS MAKELEVEL GOOS GOARCH GOARM GOFLAGS CGO_ENABLED
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source=buildroot.env
. "$HERE/buildroot.env"

die() { echo "make-image: $*" >&2; exit 1; }

BOARD="${1:-}"
[ -n "$BOARD" ] || die "usage: make-image.sh BOARD (one of: $ANTT_BOARDS)"
case " $ANTT_BOARDS " in
	*" $BOARD "*) ;;
	*) die "unknown board '$BOARD' (one of: $ANTT_BOARDS)" ;;
esac

CACHE="$(realpath -m "${ANTT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/antt-buildroot}")"
case "$CACHE/" in
	"$REPO"/*) die "ANTT_CACHE ($CACHE) is inside the repository; Buildroot copies the repository into its build tree, so put the cache elsewhere" ;;
esac
mkdir -p "$CACHE"

# Buildroot at the pinned release, cloned once into the cache.
if [ -z "${BUILDROOT_DIR:-}" ]; then
	BUILDROOT_DIR="$CACHE/buildroot-$BUILDROOT_TAG"
	if [ ! -d "$BUILDROOT_DIR/.git" ]; then
		rm -rf "$BUILDROOT_DIR.tmp"
		git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$BUILDROOT_TAG" \
			"$BUILDROOT_GIT" "$BUILDROOT_DIR.tmp"
		mv "$BUILDROOT_DIR.tmp" "$BUILDROOT_DIR"
	fi
fi
have="$(git -C "$BUILDROOT_DIR" rev-parse --verify -q 'HEAD^{commit}' 2>/dev/null || true)"
[ "$have" = "$BUILDROOT_COMMIT" ] ||
	die "$BUILDROOT_DIR is at commit '${have:-none}', not Buildroot $BUILDROOT_TAG ($BUILDROOT_COMMIT)"
[ -z "$(git -C "$BUILDROOT_DIR" status --porcelain --untracked-files=no)" ] ||
	die "$BUILDROOT_DIR has local changes; use a clean checkout"

OUT="$CACHE/build/$BOARD"
# Downloads are shared by every board and kept across Buildroot updates.
export BR2_DL_DIR="$CACHE/dl"
mkdir -p "$OUT" "$BR2_DL_DIR"

VERSION="$(git -C "$REPO" describe --tags --always --dirty 2>/dev/null || echo dev)"
MAKE=(make -C "$BUILDROOT_DIR" O="$OUT" BR2_EXTERNAL="$HERE")
[ -n "${JOBS:-}" ] && MAKE+=(-j"$JOBS")

echo "make-image: $BOARD, gateway $VERSION, Buildroot $BUILDROOT_TAG, output $OUT"
"${MAKE[@]}" "antt_${BOARD}_defconfig"
# The gateway is rebuilt from the current source on every run.
"${MAKE[@]}" antt-gateway-dirclean
"${MAKE[@]}"

IMG="$REPO/bin/image/antt-$BOARD-$VERSION.img"
mkdir -p "$(dirname "$IMG")"
cp "$OUT/images/sdcard.img" "$IMG"
(cd "$(dirname "$IMG")" && sha256sum "$(basename "$IMG")" >"$(basename "$IMG").sha256")
echo "make-image: $IMG ($(du -h "$IMG" | cut -f1)); flash it as docs/install.md says"
