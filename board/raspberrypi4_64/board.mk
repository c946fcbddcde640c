# Raspberry Pi 4 (64-bit): Debian's arm64 kernel and its upstream device tree, the GPU
# boot firmware from Debian's raspi-firmware, an SD card made by genimage (genimage.cfg).
BOARD_KERNEL := LINUX_ARM64
BOARD_KERNEL_FILE := Image
BOARD_SYSROOT := /usr/aarch64-linux-gnu
BOARD_DTBS := broadcom/bcm2711-rpi-4-b.dtb
BOARD_FIRMWARE := RASPI_FIRMWARE
BOARD_FIRMWARE_FILES := start4.elf fixup4.dat
# A/B updates through the firmware's tryboot: autoboot.txt on partition 1, slots a and b
# on partitions 2 and 3 (firmware/image/mksdcard.py, genimage.cfg).
BOARD_SLOT_BACKEND := pi-tryboot
# fsck.fat (Debian's dosfstools) repairs the FAT partitions after a power cut.
BOARD_EXTRA_PROGRAMS := $(DOSFSTOOLS_ARM64_ROOT)/sbin/fsck.fat
BOARD_EXTRA_STAMPS := $(DOSFSTOOLS_ARM64_ROOT)/.stamp_extracted
