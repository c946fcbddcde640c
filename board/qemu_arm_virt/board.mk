# QEMU arm virt (armhf, ARMv7): Debian's armmp kernel. This kernel has no i6300esb
# driver, so the watchdog is softdog.
BOARD_KERNEL := LINUX_ARMMP
BOARD_KERNEL_FILE := zImage
BOARD_SYSROOT := /usr/arm-linux-gnueabihf
BOARD_QEMU := qemu-system-arm
# Boots through U-Boot (Debian's u-boot-qemu, qemu_arm) and the same A/B boot script as
# qemu_aarch64_virt (bootz instead of booti: mkbootdisk.py --boot-command).
BOARD_UBOOT := U_BOOT_QEMU
BOARD_UBOOT_BIN := usr/lib/u-boot/qemu_arm/u-boot.bin
BOARD_UBOOT_SCRIPT := $(TOP)/board/qemu_aarch64_virt/boot.cmd
BOARD_UBOOT_BOOT := bootz
# fsck.fat (Debian's dosfstools) repairs the boot partition after a power cut.
BOARD_EXTRA_PROGRAMS := $(DOSFSTOOLS_ARMHF_ROOT)/sbin/fsck.fat
BOARD_EXTRA_STAMPS := $(DOSFSTOOLS_ARMHF_ROOT)/.stamp_extracted
