# raspi-firmware: the Raspberry Pi's GPU boot firmware (start4.elf, fixup4.dat, overlays)
# from Debian's non-free-firmware component (an "all" package, listed under arm64).
RASPI_FIRMWARE_DEB := raspi-firmware
RASPI_FIRMWARE_DEBVERSION := 1.20240424+ds-6
RASPI_FIRMWARE_SUITE := trixie
RASPI_FIRMWARE_ARCH := arm64
RASPI_FIRMWARE_SHA256 := f95a3d3c41df10bac33580be91b595efa1e126ad5e4b7eca75ce26fbbc69af06
$(eval $(call pkg-deb,raspi-firmware,RASPI_FIRMWARE))
