"""`mailgw firmware` on this machine, against a boot partition that is a folder
(MAILGW_BOOT_DIR), build facts (MAILGW_FACTS_DIR) and a kernel command line
(MAILGW_CMDLINE) as the board has them, with bundles made and signed by the build's own
tool (mgw-bundle): an update is verified and written into the other slot and marked on
trial; refused bundles (bad signature, other board, truncated, downgrade) change nothing
on the boot partition; a slot on trial confirms only when the real mailgwd answers.
The whole path through U-Boot and reboots is tests/system/test_update.py."""
import hashlib
import os
import signal
import subprocess
import threading
import time
import tty

import pytest

from mgw import binary, wait_for

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


# The boot guard on a watchdog whose driver counts less than the guard time (the
# Raspberry Pi 4's bcm2835_wdt: at most 15 s). The simulated watchdog (a regular file,
# MAILGW_WATCHDOG) takes one opener at a time and at most MAILGW_TEST_WDT_MAX seconds, like
# such a driver; PATH.events records every open, pet and close with the pid that did it.
# `firmware guard` runs on a terminal standing in for the serial console, as /init runs
# it: what it and its keeper print there is what an admin watching the boot sees.

WDT_MAX = 3


class Console:
    """A pseudo-terminal in the place of /dev/console (/init's stdout and stderr; the
    keeper keeps a stderr that is a terminal, and only such a one). Everything written
    to it is collected until the last process holding it has ended."""

    def __init__(self):
        self.master, self.tty = os.openpty()
        tty.setraw(self.tty)  # the text as written, no \r\n
        self.out = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                b = os.read(self.master, 4096)
            except OSError:  # EIO: nothing holds the terminal any more
                b = b""
            if not b:
                os.close(self.master)
                return
            with self.lock:
                self.out += b

    def let_go(self):
        """The test's own copy of the terminal closed (after the command started)."""
        if self.tty >= 0:
            os.close(self.tty)
            self.tty = -1

    def text(self):
        with self.lock:
            return self.out.decode(errors="replace")

    def wait(self, words, timeout=10):
        try:
            wait_for(lambda: words in self.text(), timeout=timeout)
        except AssertionError:
            raise AssertionError("not on the console: %r\nconsole:\n%s" % (words, self.text()))
        return self.text()


class Guard:
    """A board booted on trial in slot b whose watchdog counts at most 3 s."""

    def __init__(self, tmp_path, confirm_timeout):
        self.b = Board(tmp_path / "board")
        with open(os.path.join(self.b.facts, "confirm-timeout"), "w") as f:
            f.write("%d\n" % confirm_timeout)
        with open(os.path.join(self.b.boot, "mgwboot.env"), "w") as f:
            f.write("active=a\ntrying=b\ntries=1\n")
        with open(os.path.join(self.b.root, "cmdline"), "w") as f:
            f.write("console=ttyAMA0 mgw.slot=b mgw.trial=1\n")
        self.wd = os.path.join(self.b.root, "watchdog")
        open(self.wd, "w").close()
        os.chmod(self.wd, 0o600)
        self.pidfile = os.path.join(self.b.root, "wdt-guard.pid")
        self.env = {"MAILGW_WATCHDOG": self.wd, "MAILGW_TEST_WDT_MAX": str(WDT_MAX),
                    "MAILGW_TEST_WDT_PIDFILE": self.pidfile}

    def run(self, d, *args):
        return subprocess.run([binary("mailgw"), "-c", d.conf_path, "-y"] + list(args),
                              capture_output=True, text=True, timeout=60,
                              env=dict(self.b.env(d.control_path), **self.env))

    def guard(self, d, prefix=()):
        """`mailgw -y firmware guard </dev/null` as boot-guard runs it, its output (and
        the keeper's) on self.console; its exit status. prefix: a command to run it
        under."""
        self.console = Console()
        try:
            r = subprocess.run(list(prefix) + [binary("mailgw"), "-c", d.conf_path, "-y",
                                               "firmware", "guard"],
                               stdin=subprocess.DEVNULL, stdout=self.console.tty,
                               stderr=self.console.tty, timeout=60,
                               env=dict(self.b.env(d.control_path), **self.env))
        finally:
            self.console.let_go()
        return r.returncode

    def events(self):
        """[(pid, word, fields...)] of every open, pet and close so far."""
        with open(self.wd + ".events") as f:
            return [tuple(line.split()) for line in f if line.strip()]

    def line(self):
        with open(self.wd) as f:
            return f.read().strip()

    def keeper(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read())
        except FileNotFoundError:
            return 0


def keeper_pets(g, pid):
    return [int(e[3]) for e in g.events() if e[0] == str(pid) and e[1] == "pet"]


def test_guard_outlasts_a_short_driver_maximum(daemon, tmp_path):
    """A slow boot: guard time 10 s, the driver counts 3 s. The keeper pets past the 3 s
    until the guard's 10 s are up, then lets go without disarming (the board resets at most
    3 s later unless mailgwd took the watchdog over)."""
    d = daemon()
    g = Guard(tmp_path, 5)
    assert g.guard(d) == 0, g.console.text()
    g.console.wait("firmware: slot on trial: watchdog %s armed for 3 s (its maximum); a "
                   "keeper pets it until the guard's 10 s are up" % g.wd)
    pid = g.keeper()
    assert pid > 0
    wait_for(lambda: g.keeper() == 0, timeout=60)  # the keeper ends at the deadline
    # and says so on the console (the admin then knows why the board resets)
    out = g.console.wait("firmware: watchdog %s: the boot guard's time is up and mailgwd "
                         "has not taken it over: the board resets within 3 s\n" % g.wd)
    assert "cannot pet" not in out, out
    ms = keeper_pets(g, pid)
    assert ms and ms[-1] - ms[0] > 2 * WDT_MAX * 1000, ms  # far past what the driver counts
    assert g.line().startswith("pet "), g.line()  # left armed: no magic close
    assert not [e for e in g.events() if e[1] == "closed"], g.events()
    last = g.line()
    time.sleep(1.5)  # longer than the pet interval (1 s)
    assert g.line() == last, "nothing pets after the guard's deadline"


def test_guard_without_keeper_when_the_driver_counts_long_enough(daemon, tmp_path):
    """A driver that takes the whole guard time: armed and let go, as before, no keeper."""
    d = daemon()
    g = Guard(tmp_path, 5)
    g.env["MAILGW_TEST_WDT_MAX"] = "600"
    assert g.guard(d) == 0, g.console.text()
    g.console.wait("watchdog %s armed for 10 s; the board resets unless mailgwd takes it over"
                   % g.wd)
    assert g.keeper() == 0 and g.line() == "armed 10", g.line()


def test_mailgwd_takes_over_from_the_keeper(daemon, tmp_path):
    """mailgwd starts while the keeper pets: it asks the keeper to hand over, opens the
    device and pets it; the device is never disarmed in between."""
    g = Guard(tmp_path, 60)
    d = daemon("watchdog = %s\nwatchdog_timeout = 3s\n" % g.wd, start=False)
    assert g.guard(d) == 0, g.console.text()
    pid = g.keeper()
    wait_for(lambda: len(keeper_pets(g, pid)) >= 2)
    d.start(env=g.env)
    d.wait_log(r"watchdog %s: taken over from the boot guard's keeper \(pid %d\)" % (g.wd, pid))
    wait_for(lambda: len(keeper_pets(g, d.proc.pid)) >= 2)
    assert g.keeper() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    words = [(e[0], e[1]) for e in g.events()]
    assert "closed" not in [w for _, w in words], words  # never disarmed in between
    assert words.index((str(d.proc.pid), "armed")) > words.index((str(pid), "pet"))
    assert d.stop() == 0
    assert g.line().startswith("closed "), g.line()
    # The hand-over is mailgwd's to report (its log); the keeper said nothing more.
    assert g.console.text().count("firmware: ") == 1, g.console.text()


def test_confirm_disarms_through_the_keeper(daemon, tmp_path):
    """mailgwd runs without the watchdog: `firmware confirm` has the keeper disarm it."""
    g = Guard(tmp_path, 60)
    d = daemon()
    os.makedirs(os.path.join(d.data, "mail"), exist_ok=True)
    assert g.guard(d) == 0, g.console.text()
    pid = g.keeper()
    wait_for(lambda: len(keeper_pets(g, pid)) >= 1)
    r = g.run(d, "firmware", "confirm")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "confirmed" in r.stdout, r.stdout
    assert ("boot watchdog %s disarmed by the boot guard's keeper (pid %d): mailgwd does "
            "not use it" % (g.wd, pid)) in r.stdout, r.stdout
    assert g.line().startswith("closed "), g.line()
    assert g.keeper() == 0


def test_killed_keeper_leaves_the_watchdog_armed(daemon, tmp_path):
    """A hang: the keeper stops (SIGKILL), nothing pets, nothing disarms: the board resets."""
    d = daemon()
    g = Guard(tmp_path, 60)
    assert g.guard(d) == 0, g.console.text()
    pid = g.keeper()
    wait_for(lambda: len(keeper_pets(g, pid)) >= 2)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    last = g.line()
    time.sleep(1.5)  # longer than the pet interval (1 s)
    assert g.line() == last and last.startswith("pet "), last
    assert not [e for e in g.events() if e[1] == "closed"], g.events()


def test_keeper_that_cannot_start_says_why(daemon, tmp_path):
    """The keeper cannot write its pidfile (on the board: /run not mounted, a read-only
    root): the guard says on the console that there is no keeper, and the keeper's own
    reason."""
    d = daemon()
    g = Guard(tmp_path, 60)
    g.pidfile = g.env["MAILGW_TEST_WDT_PIDFILE"] = os.path.join(g.b.root, "no-run", "guard.pid")
    assert g.guard(d) != 0, g.console.text()
    g.console.wait("firmware: *** watchdog %s armed for only 3 s (its maximum), and no keeper: "
                   "the keeper did not start: pidfile %s: No such file or directory: the board "
                   "resets unless mailgwd opens it within 3 s ***" % (g.wd, g.pidfile))


def test_keeper_that_cannot_pet_says_so(daemon, tmp_path):
    """The device refuses the keeper's pets (here the simulated one: the guard and its
    keeper may write at most 8 bytes to a file, enough to arm it, not to record a pet).
    The keeper says so on the console once, and goes on trying once per pet interval,
    asleep in between; the board resets one driver timeout after the last good pet."""
    d = daemon()
    g = Guard(tmp_path, 60)
    limit = ["sh", "-c", 'trap "" XFSZ; exec prlimit --fsize=8 "$@"', "sh"]
    assert g.guard(d, prefix=limit) == 0, g.console.text()
    pid = g.keeper()
    assert pid > 0
    try:
        said = ("firmware: watchdog %s: the boot guard's keeper cannot pet it (Input/output "
                "error): the board resets within 3 s\n" % g.wd)
        g.console.wait(said)
        cpu0 = cpu_seconds(pid)
        time.sleep(2.5)  # more than two pet intervals (1 s): tried again, not said again
        assert g.console.text().count(said) == 1, g.console.text()
        assert cpu_seconds(pid) - cpu0 < 0.25, "the keeper spins instead of sleeping"
    finally:
        os.kill(pid, signal.SIGTERM)  # as init's kill at a reboot: leaves it armed
    wait_for(lambda: g.keeper() == 0)


def cpu_seconds(pid):
    """User and system CPU time of a process so far (proc(5), /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
