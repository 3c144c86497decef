#!/usr/bin/env bash
# Installs the Debian packages the tests need (when run as root, apt-get
# update first), then the Go modules. Safe to run again: it installs only
# what is missing.
set -euo pipefail

pkgs=(
  # A real MQTT broker and its clients; openssl and iproute2 for the tests.
  mosquitto mosquitto-clients openssl iproute2
  # The suite under qemu-user (make test-arm).
  qemu-user-static
  # The emulated board (make test-board): qemu-system-aarch64 boots Debian's
  # arm64 kernel, which testdata/board/fetch.sh gets with apt-get into a
  # private cache (the machine's own sources are never touched); xz and zstd
  # unpack its modules; gpgv and the keyring check the release signature.
  qemu-system-arm xz-utils zstd gpgv debian-archive-keyring ca-certificates
  # The test camera: GStreamer's RTSP server through python3-gi
  # (testdata/camera/rtsp-server.py), x264enc from plugins-ugly.
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-tools
  # The live-view viewer (uplink/live): headless Chromium driven by chromedp.
  chromium
  # ffprobe judges recorded clips (device/camera/mp4/mp4test).
  ffmpeg
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
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

go mod download
