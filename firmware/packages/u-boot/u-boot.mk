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
