"""smtputil.py - helpers for the SMTP tests: a mail domain setup, a raw line client, and
Maildir readers that strip the two trace headers mailgwd prepends."""
import glob
import os
import socket
import subprocess

from mgw import maildir_arrival

DOMAINS = {"example.com": ["alice", "bob"], "example.org": ["carol"]}


def smtp_conf(extra=""):
    """An [smtp] section on a free loopback port, without the greeting pause (tests
    that check early talkers set greeting_delay themselves)."""
    conf = "[smtp]\nlisten = 127.0.0.1:0\npostmaster = alice@example.com\n"
    if "greeting_delay" not in extra:
        conf += "greeting_delay = 0\n"
    return conf + extra


def add_domains(d, domains=DOMAINS, aliases=None):
    """Creates <data>/etc/domains/<domain>/passwd (and aliases) for the daemon d."""
    for dom, users in domains.items():
        p = os.path.join(d.data, "etc", "domains", dom)
        os.makedirs(p, exist_ok=True)
        with open(os.path.join(p, "passwd"), "w") as f:
            for u in users:
                f.write("%s:{PLAIN}secret-%s::::::\n" % (u, u))
        if aliases and dom in aliases:
            with open(os.path.join(p, "aliases"), "w") as f:
                f.write(aliases[dom])


def start_mx(daemon, extra="", domains=DOMAINS, aliases=None, **kw):
    d = daemon(smtp_conf(extra), start=False, **kw)
    add_domains(d, domains, aliases)
    d.start()
    return d


def maildir_files(d, domain, user, sub=("new", "cur")):
    base = os.path.join(d.data, "mail", domain, user, "Maildir")
    out = []
    for s in sub:
        out += sorted(glob.glob(os.path.join(base, s, "*")), key=maildir_arrival)
    return out


def messages(d, domain, user):
    res = []
    for p in maildir_files(d, domain, user):
        with open(p, "rb") as f:
            res.append(f.read())
    return res


def all_visible(d):
    """Every message file in every new/ and cur/."""
    return sorted(glob.glob(os.path.join(d.data, "mail", "*", "*", "Maildir", "new", "*")) +
                  glob.glob(os.path.join(d.data, "mail", "*", "*", "Maildir", "cur", "*")))


def split_trace(msg):
    """Returns (trace_headers, rest): the Return-Path: line and the Received: header
    (with its continuation lines) mailgwd prepends, and the message as received."""
    lines = msg.split(b"\r\n")
    assert lines[0].startswith(b"Return-Path: <"), msg[:200]
    assert lines[1].startswith(b"Received: from "), msg[:200]
    i = 2
    while lines[i].startswith(b"\t"):
        i += 1
    return b"\r\n".join(lines[:i]) + b"\r\n", b"\r\n".join(lines[i:])


class Raw:
    """A line-level SMTP client over a plain socket: sends bytes exactly as given."""

    def __init__(self, addr, greeting=True, timeout=15):
        self.s = socket.create_connection(addr, timeout=timeout)
        self.f = self.s.makefile("rb")
        self.greeting = self.reply() if greeting else None

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """One (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            raw = self.f.readline()
            if not raw:
                raise EOFError("connection closed after %r" % lines)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def text(self, line):
        code, lines = self.cmd(line)
        return "%d %s" % (code, lines[-1][4:])

    def closed(self, timeout=5):
        """True when the server closes the connection within timeout (unread input is
        discarded)."""
        self.s.settimeout(timeout)
        try:
            self.f.read()
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def answers(d):
    """The daemon still serves: a fresh client gets a 220 and a 250 to EHLO."""
    r = Raw(d.addr("smtp"))
    assert r.greeting[0] == 220, r.greeting
    assert r.cmd("EHLO check.example")[0] == 250
    assert r.cmd("QUIT")[0] == 221
    r.close()
    return True


def make_cert(dirpath, cn="mailgw.test"):
    """A self-signed ECDSA P-256 server certificate and key (openssl)."""
    key = os.path.join(dirpath, "server.key")
    cert = os.path.join(dirpath, "server.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=" + cn, "-addext",
                    "subjectAltName=DNS:" + cn], check=True, capture_output=True)
    return cert, key
