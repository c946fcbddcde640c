"""The Raspberry Pi 4's A/B update through tryboot (README "Raspberry Pi 4: tryboot"), with
everything Linux does on the Pi run for real and the Pi's boot firmware played by this
test.

No QEMU runs the Pi 4's boot firmware (QEMU 7.2 has no Pi 4 machine, and the GPU
firmware is not emulated). So between two boots this test does what the Raspberry Pi
documentation says the firmware does: it reads autoboot.txt from the card's partition 1;
when the last boot ended with the kernel's "Restarting system with command '0 tryboot'"
(the tryboot flag, one boot only) it takes the [tryboot] boot_partition, else the [all]
one; and it boots that partition's Image, rootfs.cpio.gz and cmdline.txt. The rest is
the Pi image itself on QEMU's virt machine: its kernel and initramfs from the card, the
card's own sdcard.img as its disk (USB storage: the Pi image carries the USB stack), its
serial console ttyS1 (the second of two PCI 16550s: virt has no mini UART), boot-mount
on the card's labels, `mailgw firmware update` writing partition 3 or 2, rcK ending
with the reboot system call and its argument, `firmware confirm` rewriting autoboot.txt.

What this does not show: that the real firmware reads this autoboot.txt and honours the
flag, and that Debian's kernel passes the flag to it (it does not: README).
The virt machine has no bcm2835 watchdog, so /data's configuration (prepared as an
admin would, with the project's tools) has none; a broken update here is one whose /init
exits (a kernel panic, panic=5: a reset without the flag).
"""
import os
import re
import shutil
import struct
import subprocess
import time

import pexpect
from vm import BOOT_TIMEOUT, HOST_BIN, READY, TOP, Vm, images

from test_update import make_bundle_files, manifest_field

BOARD = "raspberrypi4_64"
TRYBOOT = "reboot: Restarting system with command '0 tryboot'"


def partitions(card):
    with open(card, "rb") as f:
        mbr = f.read(512)
    return [struct.unpack("<II", mbr[446 + 16 * i + 8: 446 + 16 * i + 16]) for i in range(4)]


def mtype(card, part, name):
    start, _ = partitions(card)[part - 1]
    return subprocess.run(["mtype", "-i", "%s@@%d" % (card, start * 512), "::" + name],
                          check=True, capture_output=True, text=True).stdout


def firmware_pick(card, tryboot):
    """The partition the Pi firmware boots: autoboot.txt's [all] boot_partition, or its
    [tryboot] one when the tryboot flag is set."""
    section, pick = "all", {}
    for line in mtype(card, 1, "autoboot.txt").splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif line.startswith("boot_partition="):
            pick[section] = int(line.split("=")[1])
    return pick["tryboot"] if tryboot else pick["all"]


class PiVm(Vm):
    """One boot of the card: the firmware's pick of partition, then Linux on QEMU virt."""

    def __init__(self, work, card, key, part):
        self.dir = str(work)
        self.card, self.key, self.part = card, key, part
        self.child = None
        self.log_path = os.path.join(self.dir, "console-p%d-%d.log" % (part, time.monotonic_ns()))

    def start(self):
        start, _ = partitions(self.card)[self.part - 1]
        boot = os.path.join(self.dir, "boot-p%d" % self.part)
        shutil.rmtree(boot, ignore_errors=True)
        os.makedirs(boot)
        for name in ("Image", "rootfs.cpio.gz", "cmdline.txt"):
            subprocess.run(["mcopy", "-n", "-i", "%s@@%d" % (self.card, start * 512), "::" + name,
                            os.path.join(boot, name)], check=True)
        with open(os.path.join(boot, "cmdline.txt")) as f:
            cmdline = f.read().strip()
        self.logfile = open(self.log_path, "w")
        self.started = time.monotonic()
        self.child = pexpect.spawn("qemu-system-aarch64", [
            "-M", "virt", "-cpu", "cortex-a72", "-m", "512", "-smp", "1", "-display", "none",
            "-serial", "null", "-monitor", "none", "-nic", "none", "-no-reboot",
            "-kernel", os.path.join(boot, "Image"), "-initrd", os.path.join(boot, "rootfs.cpio.gz"),
            "-append", cmdline,
            "-device", "qemu-xhci,id=usb",
            "-drive", "if=none,id=card,format=raw,file=" + self.card,
            "-device", "usb-storage,drive=card,bus=usb.0",
            "-drive", "if=none,id=key,format=raw,file=" + self.key,
            "-device", "usb-storage,drive=key,bus=usb.0",
            "-chardev", "null,id=s0", "-device", "pci-serial,chardev=s0",
            "-chardev", "stdio,id=s1", "-device", "pci-serial,chardev=s1"],
            encoding="utf-8", codec_errors="replace", timeout=BOOT_TIMEOUT)
        self.child.logfile_read = self.logfile
        return self

    def ended_with_tryboot(self):
        """Waits for QEMU to exit (-no-reboot: a reboot ends it); True when the kernel
        restarted with the argument "0 tryboot"."""
        self.child.expect(pexpect.EOF, timeout=BOOT_TIMEOUT)
        self.logfile.flush()
        with open(self.log_path, errors="replace") as f:
            return TRYBOOT in f.read()


def seed_card(card, work):
    """/data (partition 4) as an admin prepares it: a configuration without a watchdog."""
    root = os.path.join(work, "seed")
    os.makedirs(os.path.join(root, "etc"))
    # the image's default configuration (what firstboot writes) without the watchdog
    share = os.path.join(TOP, "rootfs/usr/share/mailgw")
    conf = ""
    for path in [os.path.join(share, "default/etc/mailgw.conf")] + sorted(
            os.path.join(share, "conf.d", n) for n in os.listdir(os.path.join(share, "conf.d"))):
        with open(path) as f:
            conf += "".join(l for l in f if not l.startswith("watchdog"))
    r = subprocess.run([os.path.join(HOST_BIN, "mailgw-layout"), "-u", "nobody", "install", root,
                        "etc/mailgw.conf"], input=conf.encode(), capture_output=True)
    assert r.returncode == 0, r.stderr
    start, count = partitions(card)[3]
    data = os.path.join(work, "data.ext4")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "mgwdata", "-E", "root_owner=0:0", "-d", root,
                    data, "%dK" % (count // 2)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["dd", "if=" + data, "of=" + card, "bs=1M", "seek=%d" % (start * 512),
                    "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"], check=True)


def boot(work, card, key, tryboot):
    part = firmware_pick(card, tryboot)
    return PiVm(work, card, key, part).start(), part


def test_pi_tryboot_update_confirm_rollback(tmp_path):
    img = images(BOARD)
    work = str(tmp_path)
    card = os.path.join(work, "card.img")
    subprocess.run(["cp", "--sparse=always", os.path.join(img, "sdcard.img"), card], check=True)
    seed_card(card, work)
    key_file = os.path.join(os.path.dirname(img), "update-key", "development.key")
    a_time = int(manifest_field(os.path.join(img, "manifest"), "build-time"))
    a_version = manifest_field(os.path.join(img, "manifest"), "version")
    extra = [os.path.join(img, "bcm2711-rpi-4-b.dtb")]
    b = make_bundle_files(work, "b", key_file, "B-test", a_time + 100, {}, BOARD, BOARD, extra)
    c = make_bundle_files(work, "c", key_file, "C-test", a_time + 200, {
        "init": (0o755, "#!/bin/sh\necho 'broken test build C: /init exits'\nexit 1\n")},
        BOARD, BOARD, extra)
    key = os.path.join(work, "key.img")
    subprocess.run(["mkfs.vfat", "-C", "-n", "UPDATES", key, str(256 * 1024)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["mcopy", "-i", key, b, c, "::"], check=True)
    vms = []
    try:
        # first boot: partition 2, slot a, this build
        v, part = boot(work, card, key, tryboot=False)
        vms.append(v)
        assert part == 2
        v.wait_ready()
        v.login()
        st = v.check("mailgw firmware status")
        assert "running slot: a (pi-tryboot)" in st and "other slot b: none" in st, st
        mounts = v.check("cat /proc/mounts")
        for d in ("/boot", "/boot/a", "/boot/b"):
            assert re.search(r"^/dev/sd[a-z]\d %s vfat " % d, mounts, re.M), mounts
        v.check("mailgw usb mount device $(findfs LABEL=UPDATES)")
        v.child.send("mailgw -y firmware update /media/usb/b.mgwfw\r")
        v.expect(r"verified: B-test", 300)
        v.expect(r"slot b written; rebooting", 300)
        v.expect(r'firmware: rebooting with "0 tryboot"', 120)
        assert v.ended_with_tryboot(), "the kernel did not restart with '0 tryboot'"
        assert mtype(card, 1, "autoboot.txt").startswith("[all]\ntryboot_a_b=1\nboot_partition=2\n")
        assert "trying=b" in mtype(card, 1, "mgwtrial.env")
        assert mtype(card, 3, "cmdline.txt").endswith("mgw.slot=b\n")

        # the tryboot: partition 3, slot b on trial, confirms and becomes the default
        v, part = boot(work, card, key, tryboot=True)
        vms.append(v)
        assert part == 3
        v.expect(r"firmware: slot b \(B-test\) confirmed", BOOT_TIMEOUT)
        v.login()
        assert v.check("cat /boot/autoboot.txt") == \
            "[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n"
        st = v.check("mailgw firmware status")
        assert "running slot: b" in st and "B-test confirmed" in st, st
        assert "other slot a: %s (revision" % a_version in st, st

        # a broken C into slot a: its tryboot panics, the firmware boots the default (b)
        v.check("mailgw usb mount device $(findfs LABEL=UPDATES)")
        v.child.send("mailgw -y firmware update /media/usb/c.mgwfw\r")
        v.expect(r"slot a written; rebooting", 300)
        assert v.ended_with_tryboot()
        v, part = boot(work, card, key, tryboot=True)
        vms.append(v)
        assert part == 2
        v.expect(r"broken test build C: /init exits", BOOT_TIMEOUT)
        assert not v.ended_with_tryboot()  # a panic: an ordinary reset, the flag is gone
        v, part = boot(work, card, key, tryboot=False)
        vms.append(v)
        assert part == 3
        # the console's rollback message (firmware-confirm) and mailgwd's ready line come
        # from two processes started by rcS: either may be first
        rolled = r"ROLLED BACK to slot b: the update in slot a did not confirm"
        v.expect("(%s|%s)" % (rolled, READY), BOOT_TIMEOUT)
        v.expect(READY if "ROLLED BACK" in v.child.match.group(1) else rolled, BOOT_TIMEOUT)
        v.login()
        st = v.check("mailgw firmware status")
        assert "running slot: b" in st and "ROLLED BACK to slot b" in st, st
        assert mtype(card, 1, "autoboot.txt").endswith("boot_partition=3\n[tryboot]\nboot_partition=2\n")
    finally:
        for v in vms:
            v.stop()
