# dosfstools: fsck.fat for the A/B boot partition (FAT), from Debian's binary package,
# never rebuilt. FAT has no journal: a power cut while an update writes a slot can leave
# lost or dangling cluster chains, which boot-mount repairs (fsck.fat -a) before the
# partition is mounted. The board names it in BOARD_EXTRA_PROGRAMS (board.mk).
DOSFSTOOLS_ARM64_DEB := dosfstools
DOSFSTOOLS_ARM64_DEBVERSION := 4.2-1
DOSFSTOOLS_ARM64_SUITE := bookworm
DOSFSTOOLS_ARM64_ARCH := arm64
DOSFSTOOLS_ARM64_SHA256 := cf3b4e462dc49bd0652479085d376c33a6786771c538987560d7cf4e245df633
$(eval $(call pkg-deb,dosfstools-arm64,DOSFSTOOLS_ARM64))

# The same for the armhf board (qemu_arm_virt).
DOSFSTOOLS_ARMHF_DEB := dosfstools
DOSFSTOOLS_ARMHF_DEBVERSION := 4.2-1
DOSFSTOOLS_ARMHF_SUITE := bookworm
DOSFSTOOLS_ARMHF_ARCH := armhf
DOSFSTOOLS_ARMHF_SHA256 := 66281728cf14f2e210f9c7aab64ad21f872d88766bcd5ebe1dacddc992d32320
$(eval $(call pkg-deb,dosfstools-armhf,DOSFSTOOLS_ARMHF))
