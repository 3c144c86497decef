#!/usr/bin/env bash
# fetch.sh CACHE_DIR — fetches Debian unstable's arm64 kernel and static
# busybox for the emulated board, without touching this machine's apt
# configuration: apt runs on a private sources list, state and cache under
# CACHE_DIR/apt, with the machine's Debian mirror and archive keyring.
# apt checks the release signature and every .deb's SHA256 against the
# signed Packages index.
#
# Leaves, and prints as KEY=VALUE lines for the caller:
#   KERNEL   CACHE_DIR/<ver>/vmlinuz        (as Debian ships it)
#   MODULES  CACHE_DIR/<ver>/modules        gpio-sim.ko and its dependencies,
#            uncompressed; MODULES/order lists them in load order
#   BUSYBOX  CACHE_DIR/<ver>/busybox        (static, arm64)
#   KVER     the kernel release
# A second run with a complete CACHE_DIR/current makes no network request
# unless ANTT_BOARD_REFRESH=1.
set -euo pipefail

cache=${1:?usage: fetch.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

emit() { # emit DIR: print the result of a complete fetch.
  local d=$1
  echo "KERNEL=$d/vmlinuz"
  echo "MODULES=$d/modules"
  echo "BUSYBOX=$d/busybox"
  echo "KVER=$(cat "$d/kver")"
}

if [ "${ANTT_BOARD_REFRESH:-0}" != 1 ] && [ -f "$cache/current/complete" ]; then
  emit "$(readlink -f "$cache/current")"
  exit 0
fi

# The machine's Debian mirror: the first deb822 or one-line source whose path
# ends in /debian (not debian-security).
mirror=$(
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for(i=2;i<=NF;i++)print $i}'
    grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
  } 2>/dev/null | grep -E '/debian/?$' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || { echo "fetch.sh: $keyring missing; run .ci/test-deps.sh" >&2; exit 1; }

a=$cache/apt
mkdir -p "$a/state/lists/partial" "$a/cache/archives/partial" "$a/etc/sources.list.d" "$a/etc/preferences.d" "$a/etc/apt.conf.d" "$a/debs"
: > "$a/state/status"
echo "deb [arch=arm64 signed-by=$keyring] ${mirror%/} sid main" > "$a/etc/sources.list"

apt_opts=(
  -o "Dir::Etc::sourcelist=$a/etc/sources.list"
  -o "Dir::Etc::sourceparts=$a/etc/sources.list.d"
  -o "Dir::Etc::preferencesparts=$a/etc/preferences.d"
  -o "Dir::Etc::preferences=$a/etc/preferences"
  -o "Dir::State=$a/state"
  -o "Dir::State::status=$a/state/status"
  -o "Dir::Cache=$a/cache"
  -o "APT::Architecture=arm64"
  -o "APT::Architectures::=arm64"
  -o "Acquire::Languages=none"
  -o "Acquire::PDiffs=false"
  -o "Acquire::GzipIndexes=true"
  -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
  # The registry reachable here may serve a frozen snapshot whose Release is
  # past its Valid-Until; the signature is still checked.
  -o "Acquire::Check-Valid-Until=false"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=true"
  -q
)

apt-get "${apt_opts[@]}" update >&2

# linux-image-arm64 names the current kernel package; busybox-static is arch'd.
image=$(apt-cache "${apt_opts[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$image" ] || { echo "fetch.sh: cannot resolve linux-image-arm64 in sid" >&2; exit 1; }
# Since Linux 7 Debian splits the image into linux-binary-* (vmlinuz) and
# linux-modules-*; older ones hold both in the image package itself.
parts=$(apt-cache "${apt_opts[@]}" depends "$image" | awk '/Depends: linux-(binary|modules)-[0-9]/ {print $2}')
(cd "$a/debs" && apt-get "${apt_opts[@]}" download "$image" $parts busybox-static >&2)

kdebs=()
for p in "$image" $parts; do kdebs+=("$(ls -t "$a/debs/${p}"_*_arm64.deb | head -n1)"); done
kdeb=${kdebs[0]}
bdeb=$(ls -t "$a/debs/"busybox-static_*_arm64.deb | head -n1)
ver=$(basename "$kdeb" .deb)__$(basename "$bdeb" .deb)
out=$cache/$ver
if [ ! -f "$out/complete" ]; then
  rm -rf "$out" "$out.tmp"
  mkdir -p "$out.tmp/x" "$out.tmp/modules"
  # Only the parts needed: the kernel, modules.dep and the GPIO modules.
  for d in "${kdebs[@]}"; do dpkg-deb -x "$d" "$out.tmp/x"; done
  moddir=$(ls -d "$out.tmp/x"/usr/lib/modules/* "$out.tmp/x"/lib/modules/* 2>/dev/null | head -n1 || true)
  [ -n "$moddir" ] || { echo "fetch.sh: no modules directory in ${kdebs[*]}" >&2; exit 1; }
  kver=$(basename "$moddir")
  if [ -f "$moddir/vmlinuz" ]; then
    cp "$moddir/vmlinuz" "$out.tmp/vmlinuz"
  else
    cp "$out.tmp/x/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
  fi
  echo "$kver" > "$out.tmp/kver"
  # gpio-sim and the modules its .modinfo "depends=" names, dependencies
  # first. The package has no modules.dep (depmod runs at install time), and
  # this machine need not have kmod, so read .modinfo's NUL-separated strings.
  declare -A seen=()
  unpack() { # unpack PATH: print the module uncompressed on stdout
    case $1 in
      *.xz) xz -dc "$1" ;; *.zst) zstd -qdc "$1" ;; *.gz) gzip -dc "$1" ;; *) cat "$1" ;;
    esac
  }
  add() { # add NAME: add module NAME after its dependencies
    local want=${1//_/-} path name deps d
    [ -n "${seen[$want]:-}" ] && return 0
    seen[$want]=1
    path=$(find "$moddir/kernel" -regextype posix-extended \
      -regex ".*/(${want//-/[-_]})\.ko(\.(xz|zst|gz))?" | head -n1)
    if [ -z "$path" ]; then
      echo "fetch.sh: module $1 not found in $kver (built in?)" >&2
      return 0
    fi
    name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
    unpack "$path" > "$out.tmp/modules/$name"
    deps=$(tr '\0' '\n' < "$out.tmp/modules/$name" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' ')
    for d in $deps; do add "$d"; done
    echo "$name" >> "$out.tmp/modules/order"
  }
  add gpio-sim
  [ -f "$out.tmp/modules/gpio-sim.ko" ] || { echo "fetch.sh: gpio-sim is not a module of $kver" >&2; exit 1; }
  dpkg-deb -x "$bdeb" "$out.tmp/bb"
  cp "$(ls "$out.tmp"/bb/usr/bin/busybox "$out.tmp"/bb/bin/busybox 2>/dev/null | head -n1)" "$out.tmp/busybox"
  rm -rf "$out.tmp/x" "$out.tmp/bb"
  touch "$out.tmp/complete"
  mv "$out.tmp" "$out"
fi
# What the board needs is unpacked; the packages (100 MB) are not kept.
rm -f "$a/debs/"*.deb "$a/cache/archives/"*.deb
ln -sfn "$ver" "$cache/current"
emit "$out"
