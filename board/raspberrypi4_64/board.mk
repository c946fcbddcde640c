# Raspberry Pi 4 (64-bit): Debian's arm64 kernel and its upstream device tree, the GPU
# boot firmware from Debian's raspi-firmware, an SD card made by genimage (genimage.cfg).
BOARD_KERNEL := LINUX_ARM64
BOARD_KERNEL_FILE := Image
BOARD_SYSROOT := /usr/aarch64-linux-gnu
BOARD_DTBS := broadcom/bcm2711-rpi-4-b.dtb
BOARD_FIRMWARE := RASPI_FIRMWARE
BOARD_FIRMWARE_FILES := start4.elf fixup4.dat
# A/B updates as on the QEMU boards: the firmware starts U-Boot (Debian's u-boot-rpi),
# which runs the same boot script (board/qemu_aarch64_virt/boot.cmd) from the card's boot
# partition and boots the slot with the device tree the firmware passed (fdt_addr: its
# fixups and overlays apply). The console is the mini UART.
BOARD_UBOOT := U_BOOT_RPI
BOARD_UBOOT_BIN := usr/lib/u-boot/rpi_arm64/u-boot.bin
BOARD_UBOOT_SCRIPT := $(TOP)/board/qemu_aarch64_virt/boot.cmd
BOARD_UBOOT_FDT := fdt_addr
BOARD_UBOOT_CONSOLE := ttyS1,115200
# fsck.fat (Debian's dosfstools) repairs the boot partition after a power cut.
BOARD_EXTRA_PROGRAMS := $(DOSFSTOOLS_ARM64_ROOT)/sbin/fsck.fat
BOARD_EXTRA_STAMPS := $(DOSFSTOOLS_ARM64_ROOT)/.stamp_extracted
