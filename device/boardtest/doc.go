// Package boardtest runs the gateway on an emulated arm64 board with real
// Linux GPIO: qemu-system-aarch64 boots Debian's arm64 kernel with an
// initramfs holding busybox, the kernel's gpio-sim module and the
// cross-built gateways; gpio-sim's lines are named like a Raspberry Pi's, so
// the gateway's gpio driver (periph.io's gpioioctl) finds them as on a board.
//
// The board's /init (testdata/board/init) drives the lines through gpio-sim's
// sysfs "pull" files, stops the gateway and prints its outbox on the serial
// console; the test reads the console. The test itself is built only with
// the "board" build tag (make test-board), because it needs qemu and Debian's
// registry; the console parser here is tested everywhere.
package boardtest
