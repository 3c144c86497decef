#!/usr/bin/env bash
# Prints the packages `make test-arm` runs on 32-bit ARM: the packages of
# this module the gateway is built from (go list -deps ./cmd/gateway), and
# the test helpers their tests import (devtest, mqtttest, reexec, ...), as
# the go command sees them for GOARCH=arm. Only the gateway ships on
# armv6/armv7 (`make cross`); the station's packages (cmd/station and its
# internal packages), cmd/demo and cmd/bench run natively and on arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export GOOS=linux GOARCH=arm GOARM=${GOARM:-7}
module=$("$GO" list -m)
gateway=$("$GO" list -deps ./cmd/gateway | grep -E "^$module(/|\$)")
# -test adds the test variants ("pkg [pkg.test]"), the external test
# packages ("pkg_test") and the test mains ("pkg.test"): keep the packages.
"$GO" list -deps -test $gateway | grep -E "^$module(/|\$)" |
  sed -E 's/ \[.*\]$//; s/_test$//' | grep -v '\.test$' | sort -u
