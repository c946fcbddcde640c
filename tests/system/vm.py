"""vm.py - boot a board image in QEMU (software emulation) and drive its serial console.

Vm(board, tmp_path) copies the board's data.img (so every test starts from a first
boot), picks free host ports for the forwarded services (bind to port 0), and runs the
board's own board/<board>/run-qemu.sh under pexpect, so the tests boot exactly what
`make run` boots. Readiness is the daemon's "ready" line on the console, never a TCP
connect: with user-mode networking a forwarded port accepts connections even when
nothing listens inside.
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
        self.child = None
        self.started = None
        self.log_path = os.path.join(self.dir, "console.log")

    def start(self):
        env = dict(os.environ, MGW_PORT_SMTP=str(self.ports["smtp"]),
                   MGW_PORT_IMAPS=str(self.ports["imaps"]), MGW_PORT_POP3S=str(self.ports["pop3s"]),
                   MGW_QEMU_EXTRA=self.qemu_extra)
        self.logfile = open(self.log_path, "w")
        self.started = time.monotonic()
        self.child = pexpect.spawn(os.path.join(TOP, "board", self.board, "run-qemu.sh"),
                                   [self.images, self.data], env=env, encoding="utf-8",
                                   codec_errors="replace", timeout=BOOT_TIMEOUT, logfile=self.logfile)
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
        self.child.send("\r")  # Enter alone shows the password prompt again
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
        self.child.send("shell\r")
        self.expect(r"\S+# ", 30)
        # a prompt that the echo of this very line cannot match
        self.child.send("stty cols 1000; PS1='[mgw]''# '\r")
        self.expect(re.escape(PROMPT), 30)
        return i == 0

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

    def stop(self):
        if self.child is not None and self.child.isalive():
            self.child.terminate(force=True)
        if self.child is not None:
            self.logfile.close()
