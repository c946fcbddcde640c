#!/bin/sh
# run-qemu.sh IMAGES [DATA_IMG] - boot the qemu_aarch64_virt image with the serial
# console on this terminal (Ctrl-A X quits QEMU).
#
# It boots as the board does: U-Boot (IMAGES/u-boot.bin, Debian's u-boot-qemu) runs the
# A/B boot script from the boot disk, which picks slot a or b (README "Updating the
# firmware"). The boot disk is MGW_BOOT_IMG, by default boot.img beside DATA_IMG, copied
# from IMAGES/boot.img when it does not exist yet; like DATA_IMG it keeps its state
# (installed updates, the boot counter) from run to run. An IMAGES folder without
# u-boot.bin and boot.img is booted directly (-kernel, -initrd), without A/B slots.
#
# The appliance's ports are forwarded on 127.0.0.1 only: MGW_PORT_SMTP (2525) -> 25,
# MGW_PORT_IMAPS (9993) -> 993, MGW_PORT_POP3S (9995) -> 995. The guest reaches nothing
# beyond them (user-mode network, restrict=on). MGW_QEMU_EXTRA adds QEMU options.
# The board has a USB host controller (qemu-xhci, id usb) for USB keys; MGW_QEMU_MONITOR
# names a unix socket for QEMU's monitor (HMP), through which a key is plugged in and
# pulled while the board runs (drive_add, device_add usb-storage,bus=usb.0, device_del).
set -eu
images=${1:?usage: run-qemu.sh IMAGES [DATA_IMG]}
data=${2:-$images/data.img}
smtp=${MGW_PORT_SMTP:-2525} imaps=${MGW_PORT_IMAPS:-9993} pop3s=${MGW_PORT_POP3S:-9995}
fwd="hostfwd=tcp:127.0.0.1:$smtp-:25,hostfwd=tcp:127.0.0.1:$imaps-:993,hostfwd=tcp:127.0.0.1:$pop3s-:995"
if [ -f "$images/u-boot.bin" ] && [ -f "$images/boot.img" ]; then
	boot=${MGW_BOOT_IMG:-$(dirname "$data")/boot.img}
	[ -f "$boot" ] || cp --sparse=always "$images/boot.img" "$boot"
	# the boot disk first: U-Boot's distro boot scans virtio 0 before the data disk
	set -- -bios "$images/u-boot.bin" \
		-drive "file=$boot,if=none,format=raw,id=boot" -device virtio-blk-pci,drive=boot
else
	set -- -kernel "$images/Image" -initrd "$images/rootfs.cpio.gz" \
		-append "console=ttyAMA0 panic=5 quiet"
fi
# shellcheck disable=SC2086
exec qemu-system-aarch64 -M virt -cpu cortex-a53 -m 256 -smp 1 -nographic "$@" \
	-drive "file=$data,if=none,format=raw,id=data" -device virtio-blk-pci,drive=data \
	-netdev "user,id=net0,restrict=on,$fwd" -device virtio-net-pci,netdev=net0,romfile= \
	-device virtio-rng-pci -device i6300esb -device qemu-xhci,id=usb \
	${MGW_QEMU_MONITOR:+-monitor unix:$MGW_QEMU_MONITOR,server=on,wait=off} \
	${MGW_QEMU_EXTRA:-}
