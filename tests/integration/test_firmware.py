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
