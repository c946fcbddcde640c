"""The Raspberry Pi 4 SD card image: the layout the README promises (MBR; FAT boot
partition with Debian's firmware, kernel, device tree, initramfs and config; ext4 data
partition labelled mgwdata)."""
import os
import struct
import subprocess

from vm import images


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


def test_rpi4_sdcard_layout():
    img = os.path.join(images("raspberrypi4_64"), "sdcard.img")
    parts = partitions(img)
    assert len(parts) == 2
    (b1, t1, off1, _), (b2, t2, off2, size2) = parts
    assert b1 == 0x80 and t1 == 0x0C, "partition 1: bootable FAT32 (LBA)"
    assert t2 == 0x83, "partition 2: Linux"

    listing = subprocess.run(["mdir", "-b", "-i", "%s@@%d" % (img, off1), "::"], check=True,
                             capture_output=True, text=True).stdout
    for name in ("start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb", "config.txt", "cmdline.txt",
                 "Image", "rootfs.cpio.gz"):
        assert "::/" + name in listing, "%s missing from the boot partition:\n%s" % (name, listing)
    config = subprocess.run(["mtype", "-i", "%s@@%d" % (img, off1), "::config.txt"], check=True,
                            capture_output=True, text=True).stdout
    assert "arm_64bit=1" in config and "initramfs rootfs.cpio.gz" in config

    with open(img, "rb") as f:
        f.seek(off2 + 1024)
        sb = f.read(1024)
    assert struct.unpack("<H", sb[56:58])[0] == 0xEF53, "partition 2 is not ext2/3/4"
    assert sb[120:136].rstrip(b"\0") == b"mgwdata"
    assert struct.unpack("<I", sb[92:96])[0] & 0x4, "the data partition has a journal"
