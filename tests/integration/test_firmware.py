"""`mailgw firmware` on this machine, against a boot partition that is a folder
(MAILGW_BOOT_DIR), build facts (MAILGW_FACTS_DIR) and a kernel command line
(MAILGW_CMDLINE) as the board has them, with bundles made and signed by the build's own
tool (mgw-bundle): an update is verified and written into the other slot and marked on
trial; refused bundles (bad signature, other board, truncated, downgrade) change nothing
on the boot partition; a slot on trial confirms only when the real mailgwd answers.
The whole path through U-Boot and reboots is tests/system/test_update.py."""
import hashlib
import os
import subprocess

from mgw import binary

BOARD = "qemu_aarch64_virt"
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


def tool(*args):
    r = subprocess.run([binary("mgw-bundle")] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


class Board:
    """The boot partition, facts and command line of a board running slot a, build
    time 1000."""

    def __init__(self, root):
        self.root = str(root)
        self.boot = os.path.join(self.root, "boot")
        self.facts = os.path.join(self.root, "facts")
        os.makedirs(os.path.join(self.boot, "a"))
        os.makedirs(os.path.join(self.facts, "update-keys"))
        self.key = os.path.join(self.root, "dev.key")
        tool("keygen", self.key, os.path.join(self.facts, "update-keys", "development.pem"))
        for name, value in (("board", BOARD), ("build-time", "1000"), ("version", "A-test"),
                            ("revision", "aaaa"), ("update-key", "development")):
            with open(os.path.join(self.facts, name), "w") as f:
                f.write(value + "\n")
        with open(os.path.join(self.boot, "mgwboot.env"), "w") as f:
            f.write("active=a\n")
        self.slot("a")

    def slot(self, s):
        with open(os.path.join(self.root, "cmdline"), "w") as f:
            f.write("console=ttyAMA0 panic=5 quiet mgw.slot=%s\n" % s)

    def bundle(self, name, version, build_time, board=BOARD, key=None):
        d = os.path.join(self.root, name)
        os.makedirs(d)
        files = []
        for fname, text in (("Image", "kernel of %s\n" % version), ("rootfs.cpio.gz", "root of %s\n" % version)):
            files.append(os.path.join(d, fname))
            with open(files[-1], "w") as f:
                f.write(text)
        out = os.path.join(self.root, name + ".mgwfw")
        tool("create", "-k", key or self.key, "-K", "development", "-b", board, "-v", version,
             "-r", "rev-" + name, "-t", build_time, "-o", out, *files)
        return out

    def env(self, sock):
        return dict(os.environ, MAILGW_BOOT_DIR=self.boot, MAILGW_FACTS_DIR=self.facts,
                    MAILGW_CMDLINE=os.path.join(self.root, "cmdline"), MAILGW_SOCKET=sock)

    def digest(self):
        h = {}
        for top, _, files in os.walk(self.boot):
            for n in files:
                with open(os.path.join(top, n), "rb") as f:
                    h[os.path.relpath(os.path.join(top, n), self.boot)] = hashlib.sha256(f.read()).hexdigest()
        return h

    def state(self):
        with open(os.path.join(self.boot, "mgwboot.env")) as f:
            return f.read()


def mailgw(board, d, *args):
    return subprocess.run([binary("mailgw"), "-c", d.conf_path, "-y"] + list(args),
                          capture_output=True, text=True, timeout=60, env=board.env(d.control_path))


def test_update_refusals_and_confirm(daemon, tmp_path):
    d = daemon()
    b = Board(tmp_path / "board")
    r = mailgw(b, d, "firmware", "status")
    assert r.returncode == 0, r.stderr
    assert "running slot: a" in r.stdout and "development key" in r.stdout, r.stdout
    assert "other slot b: none" in r.stdout, r.stdout

    other = os.path.join(str(tmp_path), "other.key")
    tool("keygen", other, os.path.join(str(tmp_path), "other.pem"))
    good = b.bundle("good", "B-test", 2000)
    trunc = good + ".cut"
    with open(good, "rb") as f, open(trunc, "wb") as t:
        t.write(f.read(os.path.getsize(good) - 3))
    refused = ((b.bundle("badsig", "B-test", 2000, key=other), "bad signature"),
               (b.bundle("arm", "B-test", 2000, board="qemu_arm_virt"), "for board qemu_arm_virt"),
               (trunc, "truncated"),
               (b.bundle("old", "old-test", 999), "downgrade"))
    before = b.digest()
    for path, why in refused:
        r = mailgw(b, d, "firmware", "update", path, "noreboot")
        assert r.returncode == 1, (path, r.stdout, r.stderr)
        assert "refused, nothing was written" in r.stderr and why in r.stderr, (path, r.stderr)
        assert b.digest() == before, path

    r = mailgw(b, d, "firmware", "update", good, "noreboot")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified: B-test" in r.stdout and "slot b written" in r.stdout, r.stdout
    with open(os.path.join(b.boot, "b", "rootfs.cpio.gz")) as f:
        assert f.read() == "root of B-test\n"
    assert b.state() == "active=a\ntrying=b\ntries=0\n"
    r = mailgw(b, d, "firmware", "status")
    assert "other slot b: B-test (revision rev-good)" in r.stdout, r.stdout
    # a second update while one is pending is refused
    r = mailgw(b, d, "firmware", "update", good, "noreboot")
    assert r.returncode == 1 and "on trial" in r.stderr, r.stderr

    # the boot script booted slot b on trial: it confirms only when mailgwd answers
    b.slot("b")
    with open(os.path.join(b.boot, "mgwboot.env"), "w") as f:
        f.write("active=a\ntrying=b\ntries=1\n\0")  # as U-Boot's env export writes it
    stopped = subprocess.run([binary("mailgw"), "-c", d.conf_path, "-y", "firmware", "confirm"],
                             capture_output=True, text=True, timeout=60,
                             env=b.env(d.control_path + ".gone"))
    assert stopped.returncode == 1 and "trying=b" in b.state()
    os.makedirs(os.path.join(d.data, "mail"), exist_ok=True)
    r = mailgw(b, d, "firmware", "confirm")
    assert r.returncode == 0, r.stdout + r.stderr
    # (the facts of this test still name A-test as the running version)
    assert "firmware: slot b (A-test) confirmed" in r.stdout, r.stdout
    assert b.state() == "active=b\nconfirmed=A-test\n"

    # a rollback as the boot script records it: status and confirm say so
    b.slot("b")
    with open(os.path.join(b.boot, "mgwboot.env"), "w") as f:
        f.write("active=b\nfailed=a\ntries=0\n")
    r = mailgw(b, d, "firmware", "confirm")
    assert r.returncode == 0 and "ROLLED BACK to slot b: the update in slot a did not confirm" in r.stdout, r.stdout
    r = mailgw(b, d, "firmware", "status")
    assert "last update: ROLLED BACK to slot b: slot a did not confirm" in r.stdout, r.stdout


PI_AUTOBOOT_B = "[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n"


class PiBoard(Board):
    """A Raspberry Pi 4 (pi-tryboot): /boot is the card's first FAT partition with the
    build's autoboot.txt, and a/ and b/ stand in for partitions 2 and 3 mounted there
    (boot-mount). The boot id and the reboot are files and a program of the test: the
    reboot hook records its arguments (never the host's reboot)."""

    def __init__(self, root):
        super().__init__(root)
        os.unlink(os.path.join(self.boot, "mgwboot.env"))
        os.makedirs(os.path.join(self.boot, "b"))
        with open(os.path.join(self.facts, "slot-backend"), "w") as f:
            f.write("pi-tryboot\n")
        with open(os.path.join(TOP, "board/raspberrypi4_64/autoboot.txt")) as src, \
                open(os.path.join(self.boot, "autoboot.txt"), "w") as f:
            f.write(src.read())
        self.run_dir = os.path.join(self.root, "run")
        os.makedirs(self.run_dir)
        self.reboots = os.path.join(self.root, "reboots")
        self.hook = os.path.join(self.root, "reboot-hook")
        with open(self.hook, "w") as f:
            f.write("#!/bin/sh\necho \"reboot [$*]\" >> %s\n" % self.reboots)
        os.chmod(self.hook, 0o755)
        self.boot_id = os.path.join(self.root, "boot_id")
        self.new_boot("a")

    def new_boot(self, slot):
        """The board booted (again) into slot: a new kernel boot id."""
        self.slot(slot)
        with open(self.boot_id, "w") as f:
            f.write(os.urandom(16).hex() + "\n")

    def env(self, sock):
        return dict(super().env(sock), MAILGW_BOOT_ID=self.boot_id, MAILGW_RUN_DIR=self.run_dir,
                    MAILGW_REBOOT=self.hook)

    def read(self, name):
        with open(os.path.join(self.boot, name)) as f:
            return f.read()

    def reboot_log(self):
        if not os.path.exists(self.reboots):
            return []
        with open(self.reboots) as f:
            return f.read().splitlines()


def test_pi_tryboot_update_confirm_rollback(daemon, tmp_path):
    d = daemon()
    os.makedirs(os.path.join(d.data, "mail"), exist_ok=True)
    b = PiBoard(tmp_path / "pi")
    first = b.read("autoboot.txt")
    assert "boot_partition=2\n[tryboot]\nboot_partition=3" in first
    r = mailgw(b, d, "firmware", "status")
    assert "running slot: a (pi-tryboot)" in r.stdout and "other slot b: none" in r.stdout, r.stdout

    other = os.path.join(str(tmp_path), "other.key")
    tool("keygen", other, os.path.join(str(tmp_path), "other.pem"))
    before = b.digest()
    r = mailgw(b, d, "firmware", "update", b.bundle("badsig", "B-test", 2000, key=other))
    assert r.returncode == 1 and "bad signature" in r.stderr, r.stderr
    assert b.digest() == before and b.reboot_log() == []

    # the update: slot b's partition written, autoboot.txt untouched (slot a stays the
    # default), the trial marker, then a reboot whose argument is "0 tryboot"
    r = mailgw(b, d, "firmware", "update", b.bundle("good", "B-test", 2000))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "slot b written" in r.stdout, r.stdout
    assert b.read("b/Image") == "kernel of B-test\n"
    assert b.read("b/rootfs.cpio.gz") == "root of B-test\n"
    r2 = mailgw(b, d, "firmware", "status")
    assert "other slot b: B-test (revision rev-good)" in r2.stdout, r2.stdout
    assert b.read("autoboot.txt") == first
    with open(b.boot_id) as f:
        assert b.read("mgwtrial.env") == "trying=b\nboot=%s" % f.read()
    with open(os.path.join(b.run_dir, "reboot-arg")) as f:
        assert f.read() == "0 tryboot\n"
    assert b.reboot_log() == ["reboot []"]  # BusyBox reboot: init runs rcK
    r = mailgw(b, d, "firmware", "restart")  # what rcK runs last
    assert r.returncode == 0 and 'rebooting with "0 tryboot"' in r.stdout, r.stdout + r.stderr
    assert b.reboot_log() == ["reboot []", "reboot [0 tryboot]"]
    assert not os.path.exists(os.path.join(b.run_dir, "reboot-arg"))
    r = mailgw(b, d, "firmware", "restart")  # an ordinary reboot later: no argument
    assert "no reboot argument pending" in r.stdout and len(b.reboot_log()) == 2

    # the firmware booted partition 3 once ([tryboot]): slot b on trial confirms when
    # mailgwd answers, and autoboot.txt makes it the default
    b.new_boot("b")
    r = mailgw(b, d, "firmware", "status")
    assert "last update: on trial in slot b" in r.stdout, r.stdout
    stopped = subprocess.run([binary("mailgw"), "-c", d.conf_path, "-y", "firmware", "confirm"],
                             capture_output=True, text=True, timeout=60,
                             env=b.env(d.control_path + ".gone"))
    assert stopped.returncode == 1 and b.read("autoboot.txt") == first
    r = mailgw(b, d, "firmware", "confirm")
    assert r.returncode == 0 and "slot b (A-test) confirmed" in r.stdout, r.stdout + r.stderr
    assert b.read("autoboot.txt") == PI_AUTOBOOT_B
    assert b.read("mgwtrial.env") == "confirmed=A-test\n"
    b.new_boot("b")
    r = mailgw(b, d, "firmware", "status")
    assert "running slot: b" in r.stdout and "other slot a: none" in r.stdout, r.stdout
    assert "last update: A-test confirmed" in r.stdout, r.stdout

    # the next update goes to slot a; its tryboot does not come up: the firmware boots
    # the default (b) again, and the console says the update was rolled back
    r = mailgw(b, d, "firmware", "update", b.bundle("broken", "C-test", 3000), "noreboot")
    assert r.returncode == 0 and "slot a written" in r.stdout, r.stdout + r.stderr
    r = mailgw(b, d, "firmware", "status")
    assert "slot a written, boots on trial at the next reboot" in r.stdout, r.stdout
    b.new_boot("b")
    r = mailgw(b, d, "firmware", "confirm")
    assert r.returncode == 0, r.stderr
    assert "ROLLED BACK to slot b: the update in slot a did not confirm" in r.stdout, r.stdout
    assert "(slot a: C-test" in r.stdout, r.stdout
    assert b.read("autoboot.txt") == PI_AUTOBOOT_B
    r = mailgw(b, d, "firmware", "status")
    assert "last update: ROLLED BACK to slot b: slot a did not confirm" in r.stdout, r.stdout
    # and the failed slot is simply the next one written
    r = mailgw(b, d, "firmware", "update", b.bundle("fixed", "D-test", 4000), "noreboot")
    assert r.returncode == 0 and "slot a written" in r.stdout, r.stdout + r.stderr
    assert b.read("a/rootfs.cpio.gz") == "root of D-test\n"


def test_a_slot_on_trial_arms_the_watchdog_until_mailgwd_takes_it(daemon, tmp_path):
    """boot-guard's `firmware guard` (run by /init) and the disarm at the confirmation,
    on the simulated watchdog (a regular file: wdt_sim.c): on a slot on trial the
    watchdog is armed with twice the confirmation time and left running, nothing pets it until
    mailgwd opens it; a boot not on trial leaves it alone; the confirmation disarms it
    when mailgwd does not hold it (a configuration with watchdog off)."""
    d = daemon()
    b = Board(tmp_path / "board")
    wd = os.path.join(str(tmp_path), "watchdog")
    open(wd, "w").close()

    def run(*args):
        env = b.env(d.control_path)
        env["MAILGW_WATCHDOG"] = wd
        return subprocess.run([binary("mailgw"), "-c", d.conf_path, "-y"] + list(args),
                              capture_output=True, text=True, timeout=60, env=env)

    r = run("firmware", "guard")  # slot a, not on trial (no mgw.trial=)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    assert open(wd).read() == ""

    # the boot script booted slot b on trial: mgw.trial=1 on the command line
    with open(os.path.join(b.root, "cmdline"), "w") as f:
        f.write("console=ttyAMA0 panic=5 quiet mgw.slot=b oops=panic softlockup_panic=1 "
                "hung_task_panic=1 mgw.trial=1\n")
    with open(os.path.join(b.boot, "mgwboot.env"), "w") as f:
        f.write("active=a\ntrying=b\ntries=1\n")
    r = run("firmware", "guard")
    assert r.returncode == 0, r.stdout + r.stderr
    # twice the confirmation time (120 s): firmware-confirm's reboot, with its message,
    # comes first when the boot gets that far
    assert ("firmware: slot on trial: watchdog %s armed for 240 s; the board resets unless "
            "mailgwd takes it over" % wd) in r.stdout, r.stdout
    assert open(wd).read() == "armed 240\n"  # and left running: no "closed"
    with open(os.path.join(b.facts, "confirm-timeout"), "w") as f:
        f.write("45\n")
    r = run("firmware", "guard")
    assert "armed for 90 s" in r.stdout and open(wd).read() == "armed 90\n", r.stdout

    os.makedirs(os.path.join(d.data, "mail"), exist_ok=True)
    r = run("firmware", "confirm")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "firmware: slot b (A-test) confirmed" in r.stdout, r.stdout
    assert "firmware: boot watchdog %s disarmed (mailgwd does not use it)" % wd in r.stdout
    assert open(wd).read() == "closed 0\n"

    os.unlink(wd)
    r = run("firmware", "guard")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "slot on trial, but no watchdog: %s: No such file or directory" % wd in r.stderr
