# u-boot: Debian's U-Boot builds for QEMU (u-boot-qemu, an "all" package, listed under
# arm64), never rebuilt. The QEMU boards boot through it (-bios u-boot.bin): its distro
# boot finds boot.scr on the boot disk, and the board's boot script picks the A/B slot
# with a boot counter (board/<board>/boot.cmd). The board names the binary it takes
# (BOARD_UBOOT_BIN in board.mk).
U_BOOT_QEMU_DEB := u-boot-qemu
U_BOOT_QEMU_DEBVERSION := 2023.01+dfsg-2+deb12u3
U_BOOT_QEMU_SUITE := bookworm
U_BOOT_QEMU_ARCH := arm64
U_BOOT_QEMU_SHA256 := 02a14f0876b76c0d7d7934e9b83a77515c5bdbad1e00af84c445bfeb1e6b8665
$(eval $(call pkg-deb,u-boot,U_BOOT_QEMU))

# Debian's U-Boot builds for the Raspberry Pi (u-boot-rpi, arm64). The Pi 4 boots
# rpi_arm64/u-boot.bin as the firmware's "kernel" (config.txt kernel=u-boot.bin); it runs
# the same A/B boot script as the QEMU boards from the card's boot partition, with the
# device tree the Pi firmware passed (${fdt_addr}). rpi_arm64 runs on the Pi 3 and Pi 4.
U_BOOT_RPI_DEB := u-boot-rpi
U_BOOT_RPI_DEBVERSION := 2023.01+dfsg-2+deb12u3
U_BOOT_RPI_SUITE := bookworm
U_BOOT_RPI_ARCH := arm64
U_BOOT_RPI_SHA256 := 3722f286cfafca03f4cac7adade04fccf66158ad8467501b9deabd154162b5e8
$(eval $(call pkg-deb,u-boot-rpi,U_BOOT_RPI))
