#!/usr/bin/env bash
# Installs what the emulated-board test (device/boardtest, `make test-board`)
# needs on this machine: qemu-system-aarch64 to boot the board, apt-get and
# dpkg-deb to fetch and unpack Debian's arm64 kernel and busybox into a private
# cache (fetch.sh; the machine's own apt sources are never touched), xz to
# unpack compressed kernel modules, gpgv and the archive keyring so apt can
# check the Debian release signature. Safe to run again: installs only what is
# missing. Needs root for apt-get.
set -euo pipefail

# Debian package and a file it provides, to tell whether it is there.
pkgs=(
  "qemu-system-arm:/usr/bin/qemu-system-aarch64"
  "xz-utils:/usr/bin/xz"
  "zstd:/usr/bin/zstd"
  "gpgv:/usr/bin/gpgv"
  "debian-archive-keyring:/usr/share/keyrings/debian-archive-keyring.gpg"
  "ca-certificates:/etc/ssl/certs/ca-certificates.crt"
)

missing=()
for p in "${pkgs[@]}"; do
  name=${p%%:*} file=${p#*:}
  [ -e "$file" ] || missing+=("$name")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "board deps: missing Debian packages: ${missing[*]}" >&2
  echo "board deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "board deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
