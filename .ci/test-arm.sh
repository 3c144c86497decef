#!/usr/bin/env bash
# make test-arm: the suite cross-compiled for the boards and run under
# qemu-user, -short (the longest soak tests scaled down, none skipped).
#
#   arm64        every package: the gateway and the station both ship on it.
#   arm (GOARM=7) the packages the gateway is built from and the test
#                helpers their tests use (.ci/gateway-packages.sh): only the
#                gateway ships on armv6/armv7; the station's packages run
#                natively and on arm64.
#
# The two passes run at the same time (under qemu-user much of a test's
# time is spent waiting on its child processes, sockets and timers, and
# one pass alone leaves the cores idle then); each output line is prefixed
# with its pass. The exit status is non-zero if either pass fails.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
arm_pkgs=$(./.ci/gateway-packages.sh) || { echo "test-arm: listing the gateway's packages failed" >&2; exit 1; }

# pass NAME QEMU GOARCH [GOARM] -- PACKAGES...
pass() {
	local name=$1 qemu=$2
	shift 2
	local env=()
	while [ "$1" != "--" ]; do env+=("$1"); shift; done
	shift
	env "${env[@]}" ANTT_TEST_EXEC="$qemu" \
		"$GO" test -count=1 -short -timeout 20m -exec "$qemu" "$@" 2>&1 | sed -u "s/^/[$name] /"
}

start=$SECONDS
pass armv7 qemu-arm-static GOARCH=arm GOARM=7 -- $arm_pkgs &
arm=$!
pass arm64 qemu-aarch64-static GOARCH=arm64 -- ./... &
arm64=$!
wait $arm; arm_rc=$?
wait $arm64; arm64_rc=$?
echo "test-arm: armv7 exit $arm_rc, arm64 exit $arm64_rc, $((SECONDS - start)) s"
[ $arm_rc -eq 0 ] && [ $arm64_rc -eq 0 ]
