"""dovecot_instance.py - a throwaway Debian Dovecot on 127.0.0.1, for the tests and the
benchmarks that compare mailgwd with Dovecot: its own base_dir, state_dir, log and config
file under one folder (dovecot -F -c FILE); the system's dovecot configuration and service
are never touched. Runs as root; Dovecot drops to dovenull for its login processes, to
dovecot for auth, and to nobody (mail_user) for mail access, as mailgwd drops to nobody.

The caller writes what its instance serves (configure: protocols, TLS, passdb/userdb, mail
location, listeners on self.port) and gives the files it copied in to their users (own).
Used by dovecot_oracle.py (plain IMAP, the MIME tests' oracle) and
tests/bench/bench_pop3s.py (the reference article's client-certificate gate over POP3S and
IMAPS: bench_imap.py, bench_tls.py, fetch_cpu.py)."""
import os
import pwd
import socket
import subprocess
import time

from mgw import free_port

DOVECOT = "/usr/sbin/dovecot"

# What every instance has: its own folders and log, loopback only, the Debian users.
BASE = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
"""


def available(*services):
    """Root, Dovecot, and the service programs named (e.g. "imap": dovecot-imapd)."""
    return os.geteuid() == 0 and os.path.exists(DOVECOT) and \
        all(os.path.exists(os.path.join("/usr/lib/dovecot", s)) for s in services)


class Dovecot:
    def __init__(self, root):
        """An instance under the folder root (created), not configured, not started."""
        self.dir = str(root)
        os.makedirs(os.path.join(self.dir, "run"))
        os.makedirs(os.path.join(self.dir, "state"))
        self.port = free_port()
        self.mail_user = pwd.getpwnam("nobody")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.proc = None

    def configure(self, settings):
        """Writes the config file: BASE, then settings."""
        with open(self.conf, "w") as f:
            f.write(BASE.format(dir=self.dir) + settings)

    def own(self, top, user):
        """Gives the tree at top (a file or folder under self.dir) to user (a pwd entry)."""
        for r, dirs, files in os.walk(top):
            for n in dirs + files:
                os.chown(os.path.join(r, n), user.pw_uid, user.pw_gid)
        os.chown(top, user.pw_uid, user.pw_gid)

    def start(self):
        """Starts Dovecot and waits until self.port accepts; self, or RuntimeError with
        its log. Every user may traverse the folders from self.dir up (not / and /tmp):
        Dovecot's unprivileged processes reach their files through them."""
        p = self.dir
        while p not in ("/", "/tmp"):
            os.chmod(p, os.stat(p).st_mode | 0o011)
            p = os.path.dirname(p)
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf], stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("dovecot did not start:\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
