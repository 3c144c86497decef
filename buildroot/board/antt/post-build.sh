#!/bin/sh
#
# Post-build script of the ANTT Gateway images (after the rootfs overlay).
# $1: TARGET_DIR; $2: the board name (BR2_ROOTFS_POST_SCRIPT_ARGS).

set -u
set -e

TARGET="$1"
BOARD="${2:-unknown}"

# Buildroot's own Raspberry Pi post-build (a console on tty1 for HDMI).
BR_BOARD_POST_BUILD="board/raspberrypi/post-build.sh"
[ -x "$BR_BOARD_POST_BUILD" ] && "$BR_BOARD_POST_BUILD" "$TARGET"

# Mount points on the read-only root: they cannot be made at run time.
mkdir -p "$TARGET/boot" "$TARGET/data"

# ssh host keys survive reboots on the data partition (S03data makes the
# directory); Buildroot links /etc/dropbear to RAM on a read-only root.
if [ -e "$TARGET/usr/sbin/dropbear" ]; then
	ln -snf /data/dropbear "$TARGET/etc/dropbear"
fi

# root's ssh keys are read from the boot partition, where the installer
# puts them from a laptop (/boot/ssh/authorized_keys).
mkdir -p "$TARGET/root"
ln -snf /boot/ssh "$TARGET/root/.ssh"

# What this image is, for "cat /etc/antt-release" on the board
# ("gateway version" gives the gateway's own version).
echo "ANTT Gateway image for $BOARD" >"$TARGET/etc/antt-release"
