"""mgw.py - start and drive the real mailgwd binary for integration tests.

Daemon(tmp_path, extra_conf) writes a configuration into a fresh data directory, starts
mailgwd (the ASan+UBSan build by default: $MGW_BIN), waits for its "ready" line and
parses the "listening NAME on ADDR" lines, so tests use port 0 and never collide.
When the tests run as root the daemon drops to 'nobody', as it would on the board.
"""
import fcntl
import os
import pwd
import re
import signal
import socket
import subprocess
import threading
import time

BIN = os.environ.get("MGW_BIN", os.path.join(os.path.dirname(__file__), "../../output/asan/bin"))
HOST_BIN = os.environ.get("MGW_HOST_BIN", os.path.join(os.path.dirname(__file__), "../../output/host/bin"))
READY_TIMEOUT = 20
F_SETPIPE_SZ = 1031  # linux/fcntl.h


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("condition not met within %ss" % timeout)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for peers that cannot listen
    on port 0 and say which port they got)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def binary(name, asan=True):
    return os.path.join(BIN if asan else HOST_BIN, name)


class Daemon:
    def __init__(self, tmp_path, conf="", prog="mailgwd", asan=True, drop_to="nobody",
                 chown=True):
        self.dir = str(tmp_path)
        self.data = os.path.join(self.dir, "data")
        os.makedirs(os.path.join(self.data, "etc"), exist_ok=True)
        self.conf_path = os.path.join(self.data, "etc", "mailgw.conf")
        self.control_path = os.path.join(self.dir, "run", "control")
        self.prog = binary(prog, asan)
        self.user = drop_to if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        # chown=False: the data directory is prepared by the admin tools (mailgw-layout,
        # mailgw-passwd) as on the board, never chowned by the test.
        self.chown = chown
        self.proc = None
        self.lines = []
        self.listening = {}
        self._cond = threading.Condition()
        self._reading = threading.Event()
        self._reading.set()
        self.write_conf(conf)

    def base_conf(self):
        return ("hostname = mailgw.test\n"
                "data_dir = %s\n"
                "user = %s\n"
                "log_syslog = no\n"
                "log_level = debug\n"
                "shutdown_grace = 3s\n"
                "[control]\n"
                "socket = %s\n" % (self.data, self.user, self.control_path)
                + self.off_sections())

    # Services that listen on a fixed port by default are turned off unless a test
    # configures their section itself.
    OFF_SECTIONS = ("pop3s", "imaps", "smtp")

    def off_sections(self):
        return "".join("[%s]\nlisten = off\n" % sec for sec in self.OFF_SECTIONS
                       if "[%s]" % sec not in self.extra)

    def write_conf(self, extra=""):
        """Writes base settings + extra; extra may add keys of the global section
        (before any [section] header it contains) and whole sections."""
        self.extra = extra
        base = self.base_conf()
        head, _, rest = extra.partition("\n[")
        if extra.startswith("["):
            head, rest = "", extra[1:]
        text = head + ("\n" if head and not head.endswith("\n") else "") + base
        if rest:
            text += "[" + rest
        with open(self.conf_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.conf_path + ".tmp", self.conf_path)

    def chown_data(self):
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            if self.chown:
                # Mail and spool files a test seeded as root stand for what the daemon
                # itself writes there (the layout gives mail/ and spool/ to it); every
                # other path gets its owner and mode from the product's own tool, as at
                # every boot on the board (rcS: mailgw-layout fix).
                for sub in ("mail", "spool"):
                    for root, dirs, files in os.walk(os.path.join(self.data, sub)):
                        for n in dirs + files:
                            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
                subprocess.run([binary("mailgw-layout"), "-u", self.user, "fix",
                                self.data], check=True, capture_output=True)
            # pytest's temporary folders are 0700: let the dropped user traverse them
            # (the test's folders above the data directory, not the data directory).
            d = self.dir
            while d not in ("/", "/tmp"):
                os.chmod(d, os.stat(d).st_mode | 0o011)
                d = os.path.dirname(d)

    def start(self, args=(), wait=True, pipe_size=None, env=None):
        """pipe_size: shrink the pipe of the daemon's stderr (F_SETPIPE_SZ) so that a
        test can fill it (see pause_reading). env: added to the daemon's environment."""
        self.chown_data()
        env = dict(os.environ, **(env or {}))
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.proc = subprocess.Popen([self.prog, "-c", self.conf_path, *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        if pipe_size:
            fcntl.fcntl(self.proc.stdout.fileno(), F_SETPIPE_SZ, pipe_size)
        self._reader_thread = threading.Thread(target=self._reader, daemon=True)
        self._reader_thread.start()
        if wait:
            self.wait_log(r"ready", READY_TIMEOUT)
        return self

    def wait_exit(self, timeout):
        """Waits for the daemon to exit and for its log to be read to the end (the
        reader thread may still hold its last lines when the process is reaped);
        returns the exit code."""
        code = self.proc.wait(timeout)
        self._reader_thread.join(timeout)
        return code

    def pause_reading(self):
        """Stops reading the daemon's stderr: once the pipe is full, nobody drains it
        (a console slower than the log)."""
        self._reading.clear()

    def resume_reading(self):
        self._reading.set()

    def _reader(self):
        for raw in iter(self._read_line, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            m = re.search(r"listening (\S+) on (\S+)", line)
            with self._cond:
                if m:
                    self.listening[m.group(1)] = m.group(2)
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_log(self, pattern, timeout=10, start=0):
        """Waits for a log line matching pattern (from line index start); returns it."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                if self.proc.poll() is not None and not self._reader_alive():
                    raise AssertionError("mailgwd exited (%s) before %r:\n%s"
                                         % (self.proc.returncode, pattern, self.log()))
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("no log line %r within %ss:\n%s" % (pattern, timeout, self.log()))
                self._cond.wait(min(left, 0.2))

    def _read_line(self):
        self._reading.wait()
        return self.proc.stdout.readline()

    def _reader_alive(self):
        return self._reader_thread.is_alive()

    def log(self):
        with self._cond:
            return "\n".join(self.lines)

    def mark(self):
        with self._cond:
            return len(self.lines)

    def addr(self, name):
        host, _, port = self.listening[name].rpartition(":")
        return host.strip("[]"), int(port)

    def control(self, *commands, timeout=10):
        """Sends commands on the control socket; returns the reply lines of each."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.control_path)
        f = s.makefile("rwb")
        replies = []
        for cmd in commands:
            f.write(cmd.encode() + b"\n")
            f.flush()
            lines = []
            while True:
                line = f.readline().decode().rstrip("\n")
                lines.append(line)
                if line == "OK" or line.startswith("ERR") or line == "":
                    break
            replies.append(lines)
        s.close()
        return replies[0] if len(replies) == 1 else replies

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit code. Fails on sanitizer reports."""
        if self.proc is None:
            return None
        self.resume_reading()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mailgwd did not stop within %ss:\n%s" % (timeout, self.log()))
        self._reader_thread.join(2)  # the log's last lines (a sanitizer report)
        self.assert_no_sanitizer_report()
        return self.proc.returncode

    def assert_no_sanitizer_report(self):
        """Fails, with the whole log, if ASan, LeakSanitizer or UBSan reported anything."""
        text = self.log()
        assert "ERROR: AddressSanitizer" not in text, text
        assert "ERROR: LeakSanitizer" not in text, text
        assert "runtime error:" not in text, text
        assert "WARNING: ThreadSanitizer" not in text, text


def maildir_arrival(path):
    """A Maildir name's delivery time, <sec>.M<usec>P...: as numbers, since a plain sort
    puts M999999 after M1000012 within one second. Sort message files by it."""
    name = os.path.basename(path)
    m = re.match(r"(\d+)\.M(\d+)P", name)
    return (int(m.group(1)), int(m.group(2)), name) if m else (0, 0, name)
