"""The Raspberry Pi 4 SD card image: the layout the README promises for A/B updates
through the firmware's tryboot (MBR; partition 1 FAT with autoboot.txt; partitions 2 and 3
FAT, slots a and b, each with Debian's boot firmware, config.txt and a cmdline.txt naming
its slot; slot a holds this build; ext4 data partition 4 labelled mgwdata). The Pi's boot
firmware itself cannot run under QEMU: its update path is tested on the host
(tests/integration/test_firmware.py)."""
import os
import struct
import subprocess

from vm import TOP, images

SLOT_FILES = ("Image", "rootfs.cpio.gz", "bcm2711-rpi-4-b.dtb", "manifest")
FIRMWARE_FILES = ("start4.elf", "fixup4.dat", "config.txt", "cmdline.txt")


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


def label(img, off):
    with open(img, "rb") as f:
        f.seek(off + 71)  # FAT32 boot sector: volume label
        return f.read(11).decode().strip()


def test_rpi4_sdcard_layout():
    img = os.path.join(images("raspberrypi4_64"), "sdcard.img")
    parts = partitions(img)
    assert len(parts) == 4, parts
    (b1, t1, off1, _), (_, t2, off2, size2), (_, t3, off3, size3), (_, t4, off4, _) = parts
    assert b1 == 0x80 and t1 == t2 == t3 == 0x0C, "partitions 1-3: FAT32 (LBA), 1 bootable"
    assert t4 == 0x83, "partition 4: Linux"
    assert [label(img, o) for o in (off1, off2, off3)] == ["MGWBOOT", "MGWSLOTA", "MGWSLOTB"]

    # partition 1: the board's autoboot.txt (slot a = partition 2 by default, slot b =
    # partition 3 on a tryboot) and the mount points of the slots
    with open(os.path.join(TOP, "board/raspberrypi4_64/autoboot.txt")) as f:
        want = f.read()
    assert want == "[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n"
    assert fat(img, off1, "mtype", "::autoboot.txt") == want
    listing = fat(img, off1, "mdir", "-b", "::")
    assert sorted(listing.split()) == ["::/a/", "::/autoboot.txt", "::/b/"], listing

    # slot a: this build, bootable by the firmware on its own; slot b: the same firmware
    # and configuration, no system yet
    a = fat(img, off2, "mdir", "-b", "::")
    for name in FIRMWARE_FILES + SLOT_FILES:
        assert "::/" + name in a, "%s missing from slot a:\n%s" % (name, a)
    b = fat(img, off3, "mdir", "-b", "::")
    for name in FIRMWARE_FILES:
        assert "::/" + name in b, "%s missing from slot b:\n%s" % (name, b)
    assert "::/Image" not in b and "::/manifest" not in b, b
    for off, slot in ((off2, "a"), (off3, "b")):
        cmdline = fat(img, off, "mtype", "::cmdline.txt")
        assert cmdline.endswith(" mgw.slot=%s\n" % slot) and "console=ttyS1" in cmdline, cmdline
        config = fat(img, off, "mtype", "::config.txt")
        assert "arm_64bit=1" in config and "initramfs rootfs.cpio.gz" in config
    with open(os.path.join(images("raspberrypi4_64"), "rootfs.cpio.gz"), "rb") as f:
        built = f.read()
    on_card = subprocess.run(["mtype", "-i", "%s@@%d" % (img, off2), "::rootfs.cpio.gz"],
                             check=True, capture_output=True).stdout
    assert on_card == built, "slot a's initramfs is not this build's"
    # each slot holds its files twice over: an update writes a new file beside the old one
    used = sum(os.path.getsize(os.path.join(images("raspberrypi4_64"), n))
               for n in ("Image", "rootfs.cpio.gz", "bcm2711-rpi-4-b.dtb", "start4.elf"))
    assert size2 == size3 and size2 > 2 * used, (size2, used)

    with open(img, "rb") as f:
        f.seek(off4 + 1024)
        sb = f.read(1024)
    assert struct.unpack("<H", sb[56:58])[0] == 0xEF53, "partition 4 is not ext2/3/4"
    assert sb[120:136].rstrip(b"\0") == b"mgwdata"
    assert struct.unpack("<I", sb[92:96])[0] & 0x4, "the data partition has a journal"
