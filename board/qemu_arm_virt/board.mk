# QEMU arm virt (armhf, ARMv7): Debian's armmp kernel. This kernel has no i6300esb
# driver, so the watchdog is softdog.
BOARD_KERNEL := LINUX_ARMMP
BOARD_KERNEL_FILE := zImage
BOARD_SYSROOT := /usr/arm-linux-gnueabihf
BOARD_QEMU := qemu-system-arm
