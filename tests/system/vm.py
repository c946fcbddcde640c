"""vm.py - boot a board image in QEMU (software emulation) and drive its serial console.

Vm(board, tmp_path) copies the board's data.img (so every test starts from a first
boot), picks free host ports for the forwarded services (bind to port 0), and runs the
board's own board/<board>/run-qemu.sh under pexpect, so the tests boot exactly what
`make run` boots. Readiness is the daemon's "ready" line on the console, never a TCP
connect: with user-mode networking a forwarded port accepts connections even when
nothing listens inside.

QEMU's monitor (HMP) listens on a unix socket beside the data image (MGW_QEMU_MONITOR of
run-qemu.sh): attach_usb() plugs a disk image in as a USB key on the board's xhci
controller while it runs, detach_usb() pulls it, as a person at the board would. Keys are
FAT images made on the host with mkfs.vfat and read or written with mtools (usb_key(),
usb_read(), usb_write()): no host mount needed.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pexpect

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BOARDS_OUT = os.environ.get("MGW_BOARDS_OUT", os.path.join(TOP, "output/boards"))
HOST_BIN = os.environ.get("MGW_HOST_BIN", os.path.join(TOP, "output/host/bin"))
BOOT_TIMEOUT = int(os.environ.get("MGW_BOOT_TIMEOUT", "180"))
READY = r"mailgwd \S+ ready"
PROMPT = "[mgw]# "
CONSOLE_PROMPT = r"[\w.-]+> "
ADMIN_PW = "system-test admin pw"


def images(board):
    return os.path.join(BOARDS_OUT, board, "images")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mailgwd_has(section):
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write("[%s]\n" % section)
        f.flush()
        r = subprocess.run([os.path.join(HOST_BIN, "mailgwd"), "-t", "-c", f.name],
                           capture_output=True, text=True)
    return "unknown section" not in (r.stdout + r.stderr)


def smtp_greeting(port, timeout):
    """Waits for the SMTP banner (a forwarded port accepts connects even when nothing
    listens inside, so only the greeting counts)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                banner = s.recv(512)
                if banner.startswith(b"220"):
                    return banner
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError("no SMTP greeting on 127.0.0.1:%d within %ss" % (port, timeout))


class Vm:
    def __init__(self, board, tmp_path, qemu_extra="", data_seed=None):
        self.board = board
        self.images = images(board)
        self.dir = str(tmp_path)
        os.makedirs(self.dir, exist_ok=True)
        self.data = os.path.join(self.dir, "data.img")
        if data_seed is None:
            shutil.copyfile(os.path.join(self.images, "data.img"), self.data)
        else:
            # a /data prepared on the host (configuration, PKI, users): what an admin
            # would have installed; the board's first boot fills in the rest
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "mgwdata", "-E", "root_owner=0:0",
                            "-d", str(data_seed), self.data, "256M"], check=True,
                           stdout=subprocess.DEVNULL)
        self.ports = {"smtp": free_port(), "imaps": free_port(), "pop3s": free_port()}
        self.qemu_extra = qemu_extra
        self.monitor_path = os.path.join(self.dir, "monitor.sock")
        self.usb_seq = 0
        self.usb_dev = None
        self.child = None
        self.started = None
        self.log_path = os.path.join(self.dir, "console.log")

    def start(self):
        env = dict(os.environ, MGW_PORT_SMTP=str(self.ports["smtp"]),
                   MGW_PORT_IMAPS=str(self.ports["imaps"]), MGW_PORT_POP3S=str(self.ports["pop3s"]),
                   MGW_QEMU_EXTRA=self.qemu_extra, MGW_QEMU_MONITOR=self.monitor_path)
        self.logfile = open(self.log_path, "w")
        self.started = time.monotonic()
        self.child = pexpect.spawn(os.path.join(TOP, "board", self.board, "run-qemu.sh"),
                                   [self.images, self.data], env=env, encoding="utf-8",
                                   codec_errors="replace", timeout=BOOT_TIMEOUT)
        # what the board printed only: what the tests type (passwords) is not logged
        self.child.logfile_read = self.logfile
        return self

    def expect(self, pattern, timeout=BOOT_TIMEOUT):
        try:
            self.child.expect(pattern, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            raise AssertionError("console: no %r within %ss (%s); console log:\n%s"
                                 % (pattern, timeout, type(e).__name__, self.console_tail())) from None
        return self.child.match

    def console_tail(self, n=60):
        self.logfile.flush()
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def wait_ready(self, timeout=BOOT_TIMEOUT):
        """Waits for mailgwd's ready line; returns seconds since QEMU started."""
        t0 = time.monotonic()
        self.expect(READY, timeout)
        return time.monotonic() - t0

    def login(self, admin_pw=ADMIN_PW):
        """Logs in on the serial console as an admin does: the console (mailgw --login)
        asks for the admin password, or on a fresh /data has it set (typed twice); then
        `shell` for the BusyBox shell the tests drive. True when the password was set now
        (a first login), False when it was asked."""
        first = self.console_login(admin_pw)
        self.shell()
        return first

    # ---- the admin console (mailgw), as an admin types it -------------------------------

    def console_login(self, admin_pw=ADMIN_PW):
        """Logs in to the admin console and stays there. True when this login set the
        admin password (typed twice: a fresh /data), False when it was asked."""
        self.child.send("\r")
        i = self.child.expect([r"New admin password: ", r"Admin password: ",
                               pexpect.TIMEOUT, pexpect.EOF], timeout=60)
        if i >= 2:
            raise AssertionError("console: no admin password prompt; console log:\n%s"
                                 % self.console_tail())
        self.child.send(admin_pw + "\r")
        if i == 0:
            self.expect("again: ", 30)
            self.child.send(admin_pw + "\r")
            self.expect("Admin password set", 60)
        self.expect(CONSOLE_PROMPT, 60)
        return i == 0

    def cli(self, line, answers=(), timeout=120):
        """Types one console command; answers are (prompt regex, reply) pairs for what it
        asks (passwords, confirmations), in order. Returns what it printed (without the
        echo of the line)."""
        self.child.send(line + "\r")
        self.expect(re.escape(line), 30)  # libcli's echo of the line
        out = ""
        for prompt, reply in answers:
            self.expect(prompt, timeout)
            out += self.child.before + self.child.after
            self.child.send(reply + "\r")
        self.expect(r"\n" + CONSOLE_PROMPT, timeout)
        return (out + self.child.before).replace("\r", "")

    def shell(self):
        """From the console to its expert shell (`shell`), with a prompt run() knows."""
        self.child.send("shell\r")
        self.expect(r"\S+# ", 30)
        self.child.send("stty cols 1000; PS1='[mgw]''# '\r")
        self.expect(re.escape(PROMPT), 30)

    def shell_exit(self):
        """Back from the shell to the console."""
        self.child.send("exit\r")
        self.expect(CONSOLE_PROMPT, 30)

    def run(self, cmd, timeout=60):
        """Runs cmd in the console's shell; returns (exit status, output)."""
        self.child.send("%s; echo \"@@rc=$?@@\"\r" % cmd)
        m = self.expect(r"@@rc=(\d+)@@", timeout)
        out = self.child.before
        self.expect(re.escape(PROMPT), timeout)
        # drop the echo of the command line itself
        out = out.replace("\r", "")
        first_nl = out.find("\n")
        return int(m.group(1)), (out[first_nl + 1:] if first_nl >= 0 else "")

    def check(self, cmd, timeout=60):
        rc, out = self.run(cmd, timeout)
        assert rc == 0, "%r exited %d:\n%s" % (cmd, rc, out)
        return out

    # ---- QEMU's monitor: USB keys ------------------------------------------------------

    def monitor(self, cmd, timeout=30, check=True):
        """Runs one HMP command on QEMU's monitor socket; returns its output (an error
        message from QEMU fails the test)."""
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(self.monitor_path)
            buf = b""
            while not buf.endswith(b"(qemu) "):
                chunk = s.recv(4096)
                assert chunk, "QEMU monitor closed"
                buf += chunk
            s.sendall(cmd.encode() + b"\n")
            buf = b""
            while not buf.endswith(b"(qemu) "):
                assert time.monotonic() < deadline, "QEMU monitor: no answer to %r" % cmd
                chunk = s.recv(4096)
                assert chunk, "QEMU monitor closed"
                buf += chunk
        # the monitor echoes the line with terminal escapes; the answer follows it
        out = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", buf.decode(errors="replace"))
        out = out.split("\n", 1)[1] if "\n" in out else ""
        out = out[:-len("(qemu) ")].strip()
        assert not check or "rror" not in out, "QEMU monitor: %r: %s" % (cmd, out)
        return out

    def attach_usb(self, img):
        """Plugs the disk image img in as a USB key (usb-storage on the board's xhci)."""
        assert self.usb_dev is None, "a USB key is already plugged in"
        self.usb_seq += 1
        drive, dev = "usbkey%d" % self.usb_seq, "usbdev%d" % self.usb_seq
        self.monitor("drive_add 0 if=none,id=%s,format=raw,file=%s" % (drive, img))
        self.monitor("device_add usb-storage,id=%s,drive=%s,bus=usb.0,removable=on" % (dev, drive))
        self.usb_dev = dev

    def detach_usb(self):
        """Pulls the USB key (its drive goes with the device)."""
        assert self.usb_dev is not None, "no USB key plugged in"
        self.monitor("device_del %s" % self.usb_dev)
        # gone once QEMU no longer lists it
        deadline = time.monotonic() + 30
        while "ID: %s" % self.usb_dev in self.monitor("info usb", check=False):
            assert time.monotonic() < deadline, "USB key %s not released" % self.usb_dev
            time.sleep(0.5)
        self.usb_dev = None

    def stop(self):
        if self.child is not None and self.child.isalive():
            self.child.terminate(force=True)
        if self.child is not None:
            self.logfile.close()


# ---- USB key images on the host (mtools: the host kernel cannot mount vfat) -----------

def usb_key(path, label="USBKEY", size_kib=16384, files=None):
    """A FAT USB key image at path, optionally with files {"dir/name": bytes}."""
    subprocess.run(["mkfs.vfat", "-C", "-n", label, str(path), str(size_kib)], check=True,
                   stdout=subprocess.DEVNULL)
    for name, data in (files or {}).items():
        usb_write(path, name, data)
    return str(path)


def usb_write(img, name, data):
    parts = name.split("/")
    for i in range(1, len(parts)):
        subprocess.run(["mmd", "-D", "s", "-i", str(img), "::/" + "/".join(parts[:i])],
                       capture_output=True)
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        subprocess.run(["mcopy", "-o", "-i", str(img), f.name, "::/" + name], check=True)


def usb_list(img, folder="/"):
    """The names of the files in a folder of the key (long names, dot files too)."""
    r = subprocess.run(["mdir", "-b", "-a", "-i", str(img), "::" + folder], capture_output=True,
                       text=True, check=True)
    return sorted(os.path.basename(line.rstrip("/")) for line in r.stdout.splitlines() if line.strip())


def usb_read(img, name):
    r = subprocess.run(["mcopy", "-n", "-i", str(img), "::/" + name, "-"], capture_output=True,
                       check=True)
    return r.stdout
