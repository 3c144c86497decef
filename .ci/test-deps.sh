#!/usr/bin/env bash
# Installs the Debian packages the tests need (when run as root), then the Go
# modules. Safe to run again: it installs only what is missing.
set -euo pipefail

# Debian packages and a command each provides, to tell whether it is there.
pkgs=(
  "mosquitto:/usr/sbin/mosquitto"
  "mosquitto-clients:/usr/bin/mosquitto_pub"
  "openssl:/usr/bin/openssl"
  "iproute2:/usr/sbin/ip"
)

missing=()
for p in "${pkgs[@]}"; do
  name=${p%%:*} file=${p#*:}
  [ -e "$file" ] || missing+=("$name")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing Debian packages: ${missing[*]}" >&2
    echo "test-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Mosquitto's Debian package starts a system broker on :1883; the tests start
# their own on free loopback ports and do not need it.
go mod download
