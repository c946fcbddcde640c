"""The Raspberry Pi 4 image's A/B update, booted the way the Pi boots it: Debian's U-Boot
(u-boot-rpi, rpi_arm64) runs the card's boot.scr, which picks the slot with the boot
counter in mgwboot.env and boots it with the device tree the firmware passed (README
"Raspberry Pi 4: what is tested").

QEMU 7.2 has no Pi 4 machine; its raspi3b (a Pi 3 Model B) runs the same rpi_arm64
U-Boot binary, the same kernel and the card image itself. So this boots the build's own
sdcard.img (a copy, grown to a power of two as QEMU's SD card wants) on raspi3b:
QEMU plays the Pi firmware's part (it starts u-boot.bin as the "kernel" and hands it the
device tree from Debian's kernel package, bcm2837-rpi-3-b.dtb, as the firmware would
hand its own), U-Boot finds boot.scr on the card's boot partition, and the slot's
Debian kernel boots with that device tree: the card on the Pi 3's SD host (bcm2835),
the console on the mini UART (ttyS1). Resets go back through U-Boot, as on the board.

The test: version A with a message in joe's mailbox -> `mailgw firmware update` to B ->
B boots on trial (mgw.trial=1 on its command line) and is confirmed, the message is
still there -> update to a broken C (its mailgwd exits at start): three boots that do
not confirm, the boot script rolls back to B and the console says so, the message is
still there.

The bundles are not on a USB key: Linux's dwc2 driver does not enumerate USB devices on
QEMU 7.2's raspi3b (the port drops them, "dwc2 3f980000.usb: Not connected"; U-Boot's
driver sees them). They are on a FAT partition 3 the test adds to its copy of the card,
mounted from the console's shell (`mailgw usb` takes USB disks only).

What the emulation cannot show: the Pi 4's GPU firmware (start4.elf reading config.txt
and starting u-boot.bin, its device tree fixups and overlays), the Pi 4's own SD (emmc2)
and USB (xhci behind the VL805), and the watchdog. QEMU's raspi3b does not count the
BCM2835 watchdog down: arming it (what mailgwd and the boot guard do when they open
/dev/watchdog) resets the machine at once. So /data's configuration has no watchdog,
and B and C are built without the watchdog module: their boot guard runs (mgw.trial is
on the command line) and says that it has no watchdog. That module also holds the Pi's
restart handler: a kernel of B or C stops at "reboot: Restarting system", and the test
resets the machine there through QEMU's monitor, as the driver would. The mail comes in over SMTP from
the board's own loopback (BusyBox nc; the emulated Pi 3 has no network the kernel
drives) and is looked up in the store.
"""
import os
import re
import struct
import subprocess
import sys
import time

import pexpect
from vm import BOOT_TIMEOUT, READY, Vm, images

from test_update import BOOT_TRIES, BROKEN_C, manifest_field, make_bundle_files, \
    update_to_broken_c, usb_key

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_mail import DOMAIN, seed_data  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from pki import PKI  # noqa: E402

BOARD = "raspberrypi4_64"
RESTART = r"reboot: Restarting system"
PI3_DTB = "usr/lib/linux-image-%s/broadcom/bcm2837-rpi-3-b.dtb"


def kernel_dtb(img):
    """bcm2837-rpi-3-b.dtb from the Debian kernel package the image was built from."""
    kver = subprocess.run(["sh", "-c", "zcat '%s' | cpio -i --quiet --to-stdout etc/mailgw/kernel"
                           % os.path.join(img, "rootfs.cpio.gz")],
                          capture_output=True, text=True, check=True).stdout.strip()
    build = os.path.join(os.path.dirname(img), "build")
    for d in sorted(os.listdir(build)):
        path = os.path.join(build, d, "root", PI3_DTB % kver)
        if os.path.exists(path):
            return path
    raise AssertionError("no %s under %s" % (PI3_DTB % kver, build))


def image_file(img, name):
    return subprocess.run(["sh", "-c", "zcat '%s' | cpio -i --quiet --to-stdout %s"
                           % (os.path.join(img, "rootfs.cpio.gz"), name)],
                          capture_output=True, text=True, check=True).stdout


def partition(card, n):
    """(start, sectors) of MBR partition n (1-based)."""
    with open(card, "rb") as f:
        mbr = f.read(512)
    e = 446 + 16 * (n - 1)
    return int.from_bytes(mbr[e + 8:e + 12], "little"), int.from_bytes(mbr[e + 12:e + 16], "little")


def make_card(img, work, pki, key):
    """The build's sdcard.img, its /data (partition 2) prepared as an admin does, and the
    key image as a partition 3 behind it; grown to the next power of two."""
    card = os.path.join(work, "card.img")
    subprocess.run(["cp", "--sparse=always", os.path.join(img, "sdcard.img"), card], check=True)
    seed = os.path.join(work, "seed")
    seed_data(seed, pki, watchdog=False)
    start, count = partition(card, 2)
    data = os.path.join(work, "data.ext4")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "mgwdata", "-E", "root_owner=0:0", "-d", seed,
                    data, "%dK" % (count // 2)], check=True, stdout=subprocess.DEVNULL)
    put(card, data, start)
    start = (start + count + 2047) // 2048 * 2048
    put(card, key, start)
    with open(card, "r+b") as f:
        f.seek(446 + 16 * 2)
        f.write(struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", 0x0C, b"\xfe\xff\xff", start,
                            os.path.getsize(key) // 512))
    os.truncate(card, 1 << (os.path.getsize(card) - 1).bit_length())
    return card


def put(card, image, sector):
    subprocess.run(["dd", "if=" + image, "of=" + card, "bs=1M", "seek=%d" % (sector * 512),
                    "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"], check=True)


class PiVm(Vm):
    """The card on QEMU's raspi3b, through U-Boot; one QEMU across reboots."""

    def __init__(self, work, card, dtb):
        self.dir, self.card, self.dtb = str(work), card, dtb
        self.images = images(BOARD)
        self.child = None
        self.log_path = os.path.join(self.dir, "console.log")
        self.monitor_path = os.path.join(self.dir, "monitor.sock")
        self.no_restart_driver = False

    # The emulated Pi 3 boots 2-3 times slower than the virt board, more on a loaded
    # machine (CI once saw U-Boot to mailgwd take over 180 s): twice the boot time limit.
    def expect(self, pattern, timeout=2 * BOOT_TIMEOUT):
        """Vm.expect; once the slots without bcm2835_wdt run (no_restart_driver), a kernel
        that stops at "reboot: Restarting system" is reset through QEMU's monitor."""
        if not self.no_restart_driver:
            return super().expect(pattern, timeout)
        while True:
            m = super().expect("(?:%s)|(?:%s)" % (pattern, RESTART), timeout)
            if not re.fullmatch(RESTART, m.group(0)):
                return m
            self.monitor("system_reset")

    def start(self):
        self.logfile = open(self.log_path, "w")
        self.started = time.monotonic()
        self.child = pexpect.spawn("qemu-system-aarch64", [
            # the translation cache as run-qemu.sh sets it (a warm reset keeps QEMU's
            # translated code; with the default 1 GiB the next boots crawl)
            "-M", "raspi3b", "-accel", "tcg,tb-size=64", "-display", "none",
            "-monitor", "unix:%s,server=on,wait=off" % self.monitor_path,
            "-kernel", os.path.join(self.images, "u-boot.bin"), "-dtb", self.dtb,
            "-drive", "if=sd,format=raw,file=" + self.card,
            # the PL011 (ttyAMA0) first, the mini UART (the Pi's console, ttyS1) second
            "-serial", "null", "-serial", "stdio"],
            encoding="utf-8", codec_errors="replace", timeout=BOOT_TIMEOUT)
        self.child.logfile_read = self.logfile
        return self

    def smtp_deliver(self, body):
        """One message to joe over SMTP on the board's loopback, as a client talks."""
        lines = ["EHLO pi-test", "MAIL FROM:<ann@example.org>", "RCPT TO:<joe@%s>" % DOMAIN,
                 "DATA", "Subject: keep me\r\n\r\n%s\r\n." % body, "QUIT"]
        script = "; ".join("sleep 1; printf '%s\\r\\n'" % l.replace("\r\n", "\\r\\n") for l in lines)
        out = self.check("(%s; sleep 2) | nc 127.0.0.1 25" % script, timeout=120)
        # the go-ahead for the message (354), then a 250 for its end (the daemon's log
        # lines may come in between)
        after = out.replace("\r", "").partition("\n354 ")[2]
        assert re.search(r"^250 ", after, re.M), out

    def update(self, name, version, slot):
        """`mailgw firmware update` of a bundle on partition 3 (mounted read-only from the
        console's shell: `mailgw usb` takes USB disks only), which goes through: verified,
        written, and the board reboots into it."""
        self.check("mkdir -p /tmp/bundles && mount -t vfat -o ro,iocharset=utf8 /dev/mmcblk0p3 /tmp/bundles")
        self.child.send("mailgw -y firmware update /tmp/bundles/%s\r" % name)
        self.expect(r"verified: %s" % re.escape(version), 300)
        self.expect(r"slot %s written; rebooting" % slot, 300)

    def stored(self, body):
        """True when the message is in the store on /data."""
        return self.run("grep -rlq '%s' /data/mail" % body)[0] == 0


def test_pi_update_through_uboot(tmp_path):
    img = images(BOARD)
    work = str(tmp_path)
    assert os.path.exists(os.path.join(img, "u-boot.bin")), "the image has no U-Boot"
    key_file = os.path.join(os.path.dirname(img), "update-key", "development.key")
    a_time = int(manifest_field(os.path.join(img, "manifest"), "build-time"))
    a_version = manifest_field(os.path.join(img, "manifest"), "version")
    # B and C without the watchdog module (see above)
    modules = "".join(l + "\n" for l in image_file(img, "etc/mailgw/modules").split()
                      if l != "bcm2835_wdt")
    no_wdt = {"etc/mailgw/modules": (0o644, modules)}
    b = make_bundle_files(work, "b", key_file, "B-test", a_time + 100, no_wdt, BOARD, BOARD)
    c = make_bundle_files(work, "c", key_file, "C-test", a_time + 200, dict(BROKEN_C, **no_wdt),
                          BOARD, BOARD)
    key = os.path.join(work, "key.img")
    usb_key(key, [b, c])
    card = make_card(img, work, PKI(tmp_path / "pki"), key)
    v = PiVm(work, card, kernel_dtb(img)).start()
    try:
        # ---- A: Debian's U-Boot runs boot.scr from the card, slot a
        # (U-Boot's banner goes to the PL011; from its relocation on it writes here)
        v.expect(r"Loading Environment from FAT")
        v.expect(r"Found U-Boot script /boot.scr")
        v.expect(r"mgwboot: booting slot a")
        v.expect(r"Booting using the fdt blob")
        v.wait_ready()
        v.login()
        body = "kept across Pi updates %d" % time.time_ns()
        v.smtp_deliver(body)
        assert v.stored(body)
        out = v.check("mailgw firmware status")
        assert "firmware: %s" % a_version in out and "running slot: a\n" in out, out
        assert "other slot b: none" in out, out
        mounts = v.check("cat /proc/mounts")
        assert re.search(r"^/dev/mmcblk0p1 /boot vfat ", mounts, re.M), mounts
        assert re.search(r"^/dev/mmcblk0p2 /data ext4 ", mounts, re.M), mounts

        # ---- update to B from the "key": U-Boot boots slot b on trial, it confirms
        v.update("b.mgwfw", "B-test", "b")
        v.expect(r"Found U-Boot script /boot.scr")
        v.no_restart_driver = True
        v.expect(r"mgwboot: slot b on trial: boot 1 of %d" % BOOT_TRIES)
        v.expect(r"mgwboot: booting slot b")
        v.expect(r"firmware: \*\*\* slot on trial, but no watchdog")
        v.expect(r"firmware: slot b \(B-test\) confirmed")
        v.login()
        assert "mgw.trial=1" in v.check("cat /proc/cmdline")
        assert v.stored(body), "mail lost by the update to B"
        out = v.check("mailgw firmware status")
        assert "firmware: B-test" in out and "running slot: b" in out, out
        assert "other slot a: %s" % a_version in out and "last update: B-test confirmed" in out, out
        assert "active=b" in v.check("cat /boot/mgwboot.env")

        # ---- update to the broken C: three boots without confirming, then back to B
        update_to_broken_c(v, v.update)
        # the console's rollback message (firmware-confirm) and mailgwd's ready line come
        # from two processes started by rcS: either may be first
        rolled = r"firmware: \*\*\* ROLLED BACK to slot b: the update in slot a did not confirm"
        v.expect("(%s|%s)" % (rolled, READY))
        v.expect(READY if "ROLLED BACK" in v.child.match.group(1) else rolled)
        v.login()
        assert v.stored(body), "mail lost by the rollback"
        out = v.check("mailgw status")
        assert "firmware: B-test" in out and "running slot: b" in out, out
        assert "ROLLED BACK to slot b: slot a did not confirm" in out and "(slot a: C-test" in out, out
    finally:
        v.stop()
