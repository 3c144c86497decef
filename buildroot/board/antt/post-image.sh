#!/bin/bash
#
# Post-image script of the ANTT Gateway images: writes sdcard.img with
# three partitions (genimage-antt.cfg.in):
#   1 boot  FAT32, the Pi firmware, kernel, DTBs, cmdline.txt, config.txt
#           and the installer's files: gateway.yaml, secrets/, ssh/
#   2 root  ext4, the read-only root file system (rootfs.ext4)
#   3 data  ext4, empty, label "data": the gateway's outbox (/data)
# Arguments from Buildroot: $1 BINARIES_DIR, then BR2_ROOTFS_POST_SCRIPT_ARGS.

set -e
set -u

BOARD_DIR="$(dirname "$0")"
GENIMAGE_CFG="${BINARIES_DIR}/genimage-antt.cfg"
GENIMAGE_TMP="${BUILD_DIR}/genimage.tmp"

# The installer's files on the boot partition.
install -D -m 0644 "${BOARD_DIR}/boot/gateway.yaml" "${BINARIES_DIR}/antt-boot/gateway.yaml"
install -D -m 0644 "${BOARD_DIR}/boot/secrets/README.txt" \
	"${BINARIES_DIR}/antt-boot/secrets/README.txt"
install -D -m 0644 "${BOARD_DIR}/boot/ssh/README.txt" \
	"${BINARIES_DIR}/antt-boot/ssh/README.txt"

# The boot files differ per Pi model (firmware variant, kernel, DTBs): list
# what Buildroot produced, as Buildroot's board/raspberrypi/post-image.sh.
FILES=()
for i in "${BINARIES_DIR}"/*.dtb "${BINARIES_DIR}"/rpi-firmware/*; do
	FILES+=( "${i#"${BINARIES_DIR}"/}" )
done
KERNEL=$(sed -n 's/^kernel=//p' "${BINARIES_DIR}/rpi-firmware/config.txt")
FILES+=( "${KERNEL}" )
BOOT_FILES=$(printf '\\t\\t\\t"%s",\\n' "${FILES[@]}")
sed "s|#BOOT_FILES#|${BOOT_FILES}|" "${BOARD_DIR}/genimage-antt.cfg.in" \
	>"${GENIMAGE_CFG}"

# An empty root path: genimage only assembles prebuilt images here (and
# the data partition is made empty).
trap 'rm -rf "${ROOTPATH_TMP}"' EXIT
ROOTPATH_TMP="$(mktemp -d)"

rm -rf "${GENIMAGE_TMP}"

genimage \
	--rootpath "${ROOTPATH_TMP}" \
	--tmppath "${GENIMAGE_TMP}" \
	--inputpath "${BINARIES_DIR}" \
	--outputpath "${BINARIES_DIR}" \
	--config "${GENIMAGE_CFG}"

echo "ANTT Gateway image: ${BINARIES_DIR}/sdcard.img"
