# Linux: Debian's kernel binary packages, never rebuilt. The board picks one
# (BOARD_KERNEL in board/<board>/board.mk); the image takes the kernel image, the
# device trees it needs and only the modules listed in board/<board>/modules (with
# their dependencies, resolved by depmod at build time).
# arm64 (qemu_aarch64_virt, raspberrypi4_64): the signed generic arm64 flavour.
LINUX_ARM64_DEB := linux-image-6.12.117+deb13-arm64
LINUX_ARM64_KVER := 6.12.117+deb13-arm64
LINUX_ARM64_DEBVERSION := 6.12.117-1
LINUX_ARM64_SUITE := trixie
LINUX_ARM64_ARCH := arm64
LINUX_ARM64_SHA256 := 73805585385c78e048e63fdfba66da36bab724c2cdebd96a3055a8a4f1ae287a
$(eval $(call pkg-deb,linux-arm64,LINUX_ARM64))

# armhf (qemu_arm_virt): ARMv7 multiplatform.
LINUX_ARMMP_DEB := linux-image-6.12.117+deb13-armmp
LINUX_ARMMP_KVER := 6.12.117+deb13-armmp
LINUX_ARMMP_DEBVERSION := 6.12.117-1
LINUX_ARMMP_SUITE := trixie
LINUX_ARMMP_ARCH := armhf
LINUX_ARMMP_SHA256 := 5eaa6e3941a84c91e9327fa28c63ce39b18834481d1247295e2715ad60fe70ea
$(eval $(call pkg-deb,linux-armmp,LINUX_ARMMP))
