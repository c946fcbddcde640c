# QEMU aarch64 virt, the reference board: Debian's arm64 kernel, initramfs root, data
# on a virtio disk. What `make run` and the system tests boot.
BOARD_KERNEL := LINUX_ARM64
BOARD_KERNEL_FILE := Image
BOARD_SYSROOT := /usr/aarch64-linux-gnu
BOARD_QEMU := qemu-system-aarch64
