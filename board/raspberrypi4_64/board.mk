# Raspberry Pi 4 (64-bit): Debian's arm64 kernel and its upstream device tree, the GPU
# boot firmware from Debian's raspi-firmware, an SD card made by genimage (genimage.cfg).
BOARD_KERNEL := LINUX_ARM64
BOARD_KERNEL_FILE := Image
BOARD_SYSROOT := /usr/aarch64-linux-gnu
BOARD_DTBS := broadcom/bcm2711-rpi-4-b.dtb
BOARD_FIRMWARE := RASPI_FIRMWARE
BOARD_FIRMWARE_FILES := start4.elf fixup4.dat
