#!/bin/sh
# run-qemu.sh IMAGES [DATA_IMG] - boot the qemu_arm_virt (armhf) image as
# board/qemu_aarch64_virt/run-qemu.sh boots its board (U-Boot and the A/B boot disk, the
# ports, the USB controller, MGW_QEMU_MONITOR, MGW_BOOT_IMG, MGW_QEMU_EXTRA: see there).
MGW_QEMU_ARCH=arm exec "$(dirname "$0")/../qemu_aarch64_virt/run-qemu.sh" "$@"
