# QEMU aarch64 virt, the reference board: Debian's arm64 kernel, initramfs root, data
# on a virtio disk. What `make run` and the system tests boot.
BOARD_KERNEL := LINUX_ARM64
BOARD_KERNEL_FILE := Image
BOARD_SYSROOT := /usr/aarch64-linux-gnu
BOARD_QEMU := qemu-system-aarch64
# Boot through U-Boot (Debian's u-boot-qemu) and the A/B boot script, as a board with
# firmware updates does: boot.img holds boot.scr and the slots a/ and b/.
BOARD_UBOOT := U_BOOT_QEMU
BOARD_UBOOT_BIN := usr/lib/u-boot/qemu_arm64/u-boot.bin
# fsck.fat (Debian's dosfstools) repairs the boot partition after a power cut.
BOARD_EXTRA_PROGRAMS := $(DOSFSTOOLS_ARM64_ROOT)/sbin/fsck.fat
BOARD_EXTRA_STAMPS := $(DOSFSTOOLS_ARM64_ROOT)/.stamp_extracted
