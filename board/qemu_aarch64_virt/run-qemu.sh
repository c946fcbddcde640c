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
#
# board/qemu_arm_virt/run-qemu.sh runs this with MGW_QEMU_ARCH=arm (the armhf board:
# qemu-system-arm, zImage, no i6300esb: its kernel watches with softdog).
set -eu
case ${MGW_QEMU_ARCH:-aarch64} in
aarch64) qemu=qemu-system-aarch64 machine=virt cpu=cortex-a53 kernel=Image wdt="-device i6300esb" ;;
arm) qemu=qemu-system-arm machine=virt,highmem=off cpu=cortex-a15 kernel=zImage wdt= ;;
*) echo "run-qemu.sh: MGW_QEMU_ARCH must be aarch64 or arm" >&2; exit 1 ;;
esac
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
	set -- -kernel "$images/$kernel" -initrd "$images/rootfs.cpio.gz" \
		-append "console=ttyAMA0 panic=5 quiet"
fi
# The translation cache is 64 MiB, not QEMU's default (1 GiB here): TCG keeps the
# translated blocks across a reset, and the next boot pays for every one of them on each
# page it reuses (a reboot after a few minutes spent 60-150 s unpacking the initramfs);
# with 64 MiB, kernel start to /init takes a few seconds on every boot.
# shellcheck disable=SC2086
exec $qemu -M $machine -accel tcg,tb-size=64 -cpu $cpu -m 256 -smp 1 -nographic "$@" \
	-drive "file=$data,if=none,format=raw,id=data" -device virtio-blk-pci,drive=data \
	-netdev "user,id=net0,restrict=on,$fwd" -device virtio-net-pci,netdev=net0,romfile= \
	-device virtio-rng-pci $wdt -device qemu-xhci,id=usb \
	${MGW_QEMU_MONITOR:+-monitor unix:$MGW_QEMU_MONITOR,server=on,wait=off} \
	${MGW_QEMU_EXTRA:-}
