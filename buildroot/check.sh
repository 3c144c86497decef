#!/bin/bash
#
# check.sh - checks of the Buildroot tree that need no network
# (`make buildroot-check`):
#   1. Buildroot's utils/check-package over every file of this tree;
#   2. for every board: `make antt_BOARD_defconfig` in a scratch output
#      directory, then every line of the defconfig must have survived into
#      .config (Kconfig silently drops a misspelt or unmet option);
#   3. `make antt-gateway-show-info` and the package's Go settings
#      (CGO_ENABLED=0, build target, installed binary, version stamp).
# Against the Buildroot checkout named by BUILDROOT_DIR, which must be the
# pinned release (buildroot.env). Get one with:
#   git clone --depth 1 -b 2026.02.3 https://gitlab.com/buildroot.org/buildroot.git /tmp/buildroot
# check-package needs python3-magic, flake8 and shellcheck (Debian packages).
#
# usage: check.sh [--allow-missing] [--any-version] [BOARD...]
#   --allow-missing  BUILDROOT_DIR unset: say so and exit 0 (default: exit 2)
#   --any-version    accept a Buildroot checkout other than the pinned one
# Exit status: 0 all passed, 1 a check failed, 2 BUILDROOT_DIR missing.

set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Called from the project's Makefile: do not hand its make flags and
# command-line variables (VERSION, BOARD, ...) or Go settings to Buildroot,
# which sets its own for every package.
unset MAKEFLAGS MFLAGS MAKELEVEL GOOS GOARCH GOARM GOFLAGS CGO_ENABLED
# shellcheck source=buildroot.env
. "$HERE/buildroot.env"

allow_missing=""
any_version=""
boards=()
for arg in "$@"; do
	case "$arg" in
		--allow-missing) allow_missing=1 ;;
		--any-version) any_version=1 ;;
		-h|--help) sed -n '3,20p' "$0"; exit 0 ;;
		-*) echo "check.sh: unknown option $arg" >&2; exit 2 ;;
		*) boards+=("$arg") ;;
	esac
done
[ "${#boards[@]}" -gt 0 ] || read -r -a boards <<<"$ANTT_BOARDS"

if [ -z "${BUILDROOT_DIR:-}" ]; then
	echo "##################################################################" >&2
	echo "buildroot-check: BUILDROOT_DIR is not set: NOTHING WAS CHECKED." >&2
	echo "  Point it at a Buildroot $BUILDROOT_TAG checkout, e.g." >&2
	echo "  git clone --depth 1 -b $BUILDROOT_TAG $BUILDROOT_GIT /tmp/buildroot" >&2
	echo "  make buildroot-check BUILDROOT_DIR=/tmp/buildroot" >&2
	echo "##################################################################" >&2
	[ -n "$allow_missing" ] && exit 0
	exit 2
fi

failures=()
fail() {
	echo "buildroot-check: FAIL: $*" >&2
	failures+=("$*")
}

BR="$(cd "$BUILDROOT_DIR" 2>/dev/null && pwd)" || {
	echo "buildroot-check: FAIL: BUILDROOT_DIR=$BUILDROOT_DIR is not a directory" >&2
	exit 1
}
[ -x "$BR/utils/check-package" ] || {
	echo "buildroot-check: FAIL: $BR is not a Buildroot checkout (no utils/check-package)" >&2
	exit 1
}

# 0. The pinned release.
have="$(git -C "$BR" rev-parse --verify -q 'HEAD^{commit}' 2>/dev/null || echo unknown)"
version="$(make -s -C "$BR" --no-print-directory print-version 2>/dev/null || echo unknown)"
echo "== Buildroot $version at $have ($BR)"
if [ "$have" != "$BUILDROOT_COMMIT" ]; then
	if [ -n "$any_version" ]; then
		echo "buildroot-check: warning: not the pinned $BUILDROOT_TAG ($BUILDROOT_COMMIT)" >&2
	else
		fail "$BR is not Buildroot $BUILDROOT_TAG ($BUILDROOT_COMMIT); pass --any-version to check anyway"
	fi
fi

# 1. check-package over the whole tree, as Buildroot's CI checks its own.
echo "== check-package -b"
for tool in shellcheck flake8; do
	command -v "$tool" >/dev/null || fail "$tool is missing: check-package needs it (apt-get install $tool)"
done
# A python3 with the modules check-package imports (a pyenv or venv
# python3 first on PATH may lack Debian's python3-magic).
PYTHON=""
for py in "${PYTHON3:-python3}" /usr/bin/python3; do
	if "$py" -c 'import magic, flake8' 2>/dev/null; then
		PYTHON="$py"
		break
	fi
done
[ -n "$PYTHON" ] || fail "no python3 with the magic and flake8 modules: check-package needs them (apt-get install python3-magic flake8)"
# Every file: check-package picks the checks by name and type and skips
# the kinds it does not know (fstab, config.txt, ...).
mapfile -t files < <(cd "$HERE" && find . -type f | sed 's|^\./||' | sort)
if ! out="$(cd "$HERE" && "${PYTHON:-python3}" "$BR/utils/check-package" -b "${files[@]}" 2>&1)"; then
	echo "$out"
	fail "check-package reported problems"
else
	echo "$out"
	grep -qx '0 warnings generated' <<<"$out" || fail "check-package: unexpected output"
fi

# 2 and 3, for every board.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/antt-br-check.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
for board in "${boards[@]}"; do
	defconfig="$HERE/configs/antt_${board}_defconfig"
	echo "== $board"
	if [ ! -f "$defconfig" ]; then
		fail "$board: no $defconfig"
		continue
	fi
	out="$scratch/$board"
	if ! make -s -C "$BR" BR2_EXTERNAL="$HERE" O="$out" "antt_${board}_defconfig" \
		>"$scratch/$board.log" 2>&1; then
		cat "$scratch/$board.log" >&2
		fail "$board: make antt_${board}_defconfig failed"
		continue
	fi
	# Every option of the defconfig must be in the resulting .config.
	while IFS= read -r line; do
		case "$line" in
			BR2_*=*)
				grep -qxF "$line" "$out/.config" ||
					fail "$board: '$line' was dropped by Kconfig (misspelt, or a dependency is missing)" ;;
			"# BR2_"*" is not set")
				opt="${line#\# }"; opt="${opt%% *}"
				grep -q "^$opt=" "$out/.config" && fail "$board: $opt is set, the defconfig says not" ;;
		esac
	done <"$defconfig"
	# What the image is made of: read-only root, BusyBox init, our package.
	for want in BR2_INIT_BUSYBOX=y BR2_PACKAGE_ANTT_GATEWAY=y BR2_PACKAGE_HOST_GO=y; do
		grep -qxF "$want" "$out/.config" || fail "$board: .config lacks $want"
	done
	grep -q '^BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW=y' "$out/.config" &&
		fail "$board: the root file system would be remounted read-write"

	if ! info="$(make -s -C "$BR" O="$out" antt-gateway-show-info 2>"$scratch/$board.err")"; then
		cat "$scratch/$board.err" >&2
		fail "$board: make antt-gateway-show-info failed"
		continue
	fi
	echo "$info"
	python3 - "$info" "$HERE" <<'PY' || fail "$board: antt-gateway-show-info is not what it should be"
import json, os, sys
info = json.loads(sys.argv[1])
pkg = info.get("antt-gateway")
if not pkg:
    sys.exit("no antt-gateway in show-info")
problems = []
if pkg.get("type") != "target":
    problems.append("type %r" % pkg.get("type"))
if not pkg.get("version"):
    problems.append("no version")
if "host-go" not in pkg.get("dependencies", []):
    problems.append("host-go is not a dependency")
for p in problems:
    print("show-info: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
	vars="$(make -s -C "$BR" O="$out" printvars \
		VARS='ANTT_GATEWAY_GO_ENV ANTT_GATEWAY_BUILD_TARGETS ANTT_GATEWAY_INSTALL_BINS ANTT_GATEWAY_LDFLAGS ANTT_GATEWAY_SITE_METHOD ANTT_GATEWAY_PRE_BUILD_HOOKS' 2>&1)"
	echo "$vars"
	for want in 'ANTT_GATEWAY_GO_ENV=CGO_ENABLED=0' \
		'ANTT_GATEWAY_BUILD_TARGETS=cmd/gateway' \
		'ANTT_GATEWAY_INSTALL_BINS=gateway' \
		'ANTT_GATEWAY_SITE_METHOD=local'; do
		grep -qxF "$want" <<<"$vars" || fail "$board: expected $want"
	done
	grep -q '^ANTT_GATEWAY_LDFLAGS=.*-X github.com/antt-gateway/antt/device.Version=' <<<"$vars" ||
		fail "$board: the version is not stamped into the binary"
	grep -q '^ANTT_GATEWAY_PRE_BUILD_HOOKS=.*ANTT_GATEWAY_VENDOR_MODULES' <<<"$vars" ||
		fail "$board: the modules would not be vendored before the build"
done

if [ "${#failures[@]}" -gt 0 ]; then
	echo "##################################################################" >&2
	echo "buildroot-check: ${#failures[@]} PROBLEM(S):" >&2
	printf '  - %s\n' "${failures[@]}" >&2
	echo "##################################################################" >&2
	exit 1
fi
echo "buildroot-check: OK (${boards[*]}, Buildroot $version)"
