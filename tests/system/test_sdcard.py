"""The Raspberry Pi 4 SD card image: the layout the README promises (MBR; partition 1, the
bootable FAT boot partition MGWBOOT: the Pi firmware, config.txt starting Debian's
U-Boot, the device tree, boot.scr, mgwboot.env and the slots a/ (this build) and b/;
ext4 data partition 2 labelled mgwdata). Its boot through U-Boot and its updates are
tests/system/test_pi_update.py."""
import os
import struct
import subprocess

from vm import images

SLOT_FILES = ("Image", "rootfs.cpio.gz", "manifest")
FIRMWARE_FILES = ("start4.elf", "fixup4.dat", "config.txt", "bcm2711-rpi-4-b.dtb", "u-boot.bin")


def partitions(path):
    with open(path, "rb") as f:
        mbr = f.read(512)
    assert mbr[510:512] == b"\x55\xaa", "no MBR"
    out = []
    for i in range(4):
        e = mbr[446 + 16 * i: 446 + 16 * (i + 1)]
        boot, ptype = e[0], e[4]
        start, count = struct.unpack("<II", e[8:16])
        if ptype:
            out.append((boot, ptype, start * 512, count * 512))
    return out


def fat(img, off, *args):
    return subprocess.run(list(args[:1]) + ["-i", "%s@@%d" % (img, off)] + list(args[1:]),
                          check=True, capture_output=True, text=True).stdout


def test_rpi4_sdcard_layout():
    built = images("raspberrypi4_64")
    img = os.path.join(built, "sdcard.img")
    parts = partitions(img)
    assert len(parts) == 2, parts
    (b1, t1, off1, size1), (_, t2, off2, _) = parts
    assert b1 == 0x80 and t1 == 0x0C, "partition 1: FAT (LBA), bootable"
    assert t2 == 0x83, "partition 2: Linux"
    assert "MGWBOOT" in fat(img, off1, "mlabel", "-s", "::")

    # the Pi firmware's files and U-Boot's beside the slots
    listing = fat(img, off1, "mdir", "-b", "::").split()
    for name in FIRMWARE_FILES + ("boot.scr", "mgwboot.env", "a/", "b/"):
        assert "::/" + name in listing, "%s missing from the boot partition:\n%s" % (name, listing)
    config = fat(img, off1, "mtype", "::config.txt")
    assert "kernel=u-boot.bin" in config and "arm_64bit=1" in config, config
    assert "enable_uart=1" in config and "device_tree=bcm2711-rpi-4-b.dtb" in config, config
    with open(os.path.join(built, "u-boot.bin"), "rb") as f:
        assert b"U-Boot 2023.01" in f.read(), "u-boot.bin is not Debian's U-Boot"
    assert fat(img, off1, "mtype", "::mgwboot.env") == "active=a\n"
    # the boot script: the board's console and the firmware's device tree
    scr = subprocess.run(["mtype", "-i", "%s@@%d" % (img, off1), "::boot.scr"],
                         check=True, capture_output=True).stdout
    assert b"setenv mgw_console ttyS1,115200" in scr and b"setenv mgw_fdt ${fdt_addr}" in scr

    # slot a: this build; slot b: empty (the first update goes there)
    a = fat(img, off1, "mdir", "-b", "::a").split()
    assert sorted(a) == sorted("::/a/" + n for n in SLOT_FILES), a
    assert fat(img, off1, "mdir", "-b", "::b").split() == [], "slot b is not empty"
    with open(os.path.join(built, "rootfs.cpio.gz"), "rb") as f:
        cpio = f.read()
    on_card = subprocess.run(["mtype", "-i", "%s@@%d" % (img, off1), "::a/rootfs.cpio.gz"],
                             check=True, capture_output=True).stdout
    assert on_card == cpio, "slot a's initramfs is not this build's"
    # room for both slots and one file being replaced (written beside the old one)
    slot = sum(os.path.getsize(os.path.join(built, n)) for n in ("Image", "rootfs.cpio.gz"))
    fixed = sum(os.path.getsize(os.path.join(built, n)) for n in FIRMWARE_FILES)
    assert size1 > fixed + 3 * slot, (size1, fixed, slot)

    with open(img, "rb") as f:
        f.seek(off2 + 1024)
        sb = f.read(1024)
    assert struct.unpack("<H", sb[56:58])[0] == 0xEF53, "partition 2 is not ext2/3/4"
    assert sb[120:136].rstrip(b"\0") == b"mgwdata"
    assert struct.unpack("<I", sb[92:96])[0] & 0x4, "the data partition has a journal"
