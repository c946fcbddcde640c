#!/bin/sh
# run-qemu.sh IMAGES [DATA_IMG] - boot the qemu_arm_virt (armhf) image; see
# board/qemu_aarch64_virt/run-qemu.sh for the ports and options.
set -eu
images=${1:?usage: run-qemu.sh IMAGES [DATA_IMG]}
data=${2:-$images/data.img}
smtp=${MGW_PORT_SMTP:-2525} imaps=${MGW_PORT_IMAPS:-9993} pop3s=${MGW_PORT_POP3S:-9995}
fwd="hostfwd=tcp:127.0.0.1:$smtp-:25,hostfwd=tcp:127.0.0.1:$imaps-:993,hostfwd=tcp:127.0.0.1:$pop3s-:995"
# shellcheck disable=SC2086
exec qemu-system-arm -M virt,highmem=off -cpu cortex-a15 -m 256 -smp 1 -nographic \
	-kernel "$images/zImage" -initrd "$images/rootfs.cpio.gz" \
	-append "console=ttyAMA0 panic=5 quiet" \
	-drive "file=$data,if=none,format=raw,id=data" -device virtio-blk-pci,drive=data \
	-netdev "user,id=net0,restrict=on,$fwd" -device virtio-net-pci,netdev=net0,romfile= \
	-device virtio-rng-pci \
	${MGW_QEMU_EXTRA:-}
