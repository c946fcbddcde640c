"""A throwaway Debian Dovecot (imapd) on loopback, the oracle the MIME tests compare
mailgwd's FETCH answers with: its own base_dir and config file (dovecot -F -c FILE), one
user with a static password whose Maildir is a copy of a mailgwd user's, plain IMAP on
127.0.0.1 (it only ever sees test messages). Runs as root, dropping to nobody for mail
access as mailgwd does."""
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import time

DOVECOT = "/usr/sbin/dovecot"
PASSWORD = "oracle-pw"

CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = static
  args = password={pw}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
mail_location = maildir:{dir}/Maildir
first_valid_uid = 1
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def available():
    return os.geteuid() == 0 and os.path.exists(DOVECOT) and \
        os.path.exists("/usr/lib/dovecot/imap")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Dovecot:
    def __init__(self, root, maildir):
        """An instance under root serving a copy of the Maildir at maildir."""
        self.dir = str(root)
        for sub in ("run", "state", "home"):
            os.makedirs(os.path.join(self.dir, sub))
        shutil.copytree(maildir, os.path.join(self.dir, "Maildir"))
        pw = pwd.getpwnam("nobody")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(dir=self.dir, port=self.port, uid=pw.pw_uid, gid=pw.pw_gid,
                                pw=PASSWORD))
        for top in ("Maildir", "home"):
            for r, dirs, files in os.walk(os.path.join(self.dir, top)):
                for n in dirs + files:
                    os.chown(os.path.join(r, n), pw.pw_uid, pw.pw_gid)
            os.chown(os.path.join(self.dir, top), pw.pw_uid, pw.pw_gid)
        p = self.dir
        while p not in ("/", "/tmp"):
            os.chmod(p, os.stat(p).st_mode | 0o011)
            p = os.path.dirname(p)
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf], stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("dovecot did not start:\n" + self.log())

    def login(self):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        m.login("oracle", PASSWORD)
        return m

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
