"""The admin console `mailgw` on a pty (pexpect) and from scripts, against the real
daemon running as its unprivileged user: the first login sets the admin password (typed
twice, never echoed), later logins ask for it; `?` help, TAB completion, abbreviations,
confirmations; scripted exit status 0/1/2; what it writes has the layout's owner and mode."""
import io
import os
import poplib
import re
import ssl
import stat
import subprocess

import pexpect
import pytest

from mgw import binary

PROMPT = r"[\w.-]+> "
# what a client sees when the certificate gate refuses it in the handshake
REFUSED = (ssl.SSLError, ConnectionResetError, BrokenPipeError, EOFError, poplib.error_proto,
           OSError)
ADMIN_PW = "Adm1n-console-pw"


class Console:
    """mailgw --login on a pty, everything it prints kept in .out."""

    def __init__(self, d, *args):
        self.out = io.StringIO()
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", TERM="vt100")
        self.p = pexpect.spawn(binary("mailgw"), ["-c", d.conf_path, *args], env=env,
                               encoding="utf-8", timeout=20, dimensions=(24, 80))
        self.p.logfile_read = self.out

    def expect(self, pattern):
        return self.p.expect(pattern)

    def line(self, text):
        """Types a line and Enter (a terminal sends CR)."""
        self.p.send(text + "\r")

    def close(self):
        self.line("quit")
        self.p.expect(pexpect.EOF)
        self.p.close()
        assert "Sanitizer" not in self.out.getvalue() and "runtime error" not in self.out.getvalue()
        return self.p.exitstatus


def login_first(d):
    c = Console(d, "--login")
    c.expect("choose the admin password")
    c.expect("New admin password: ")
    c.line(ADMIN_PW)
    c.expect("again: ")
    c.line(ADMIN_PW)
    c.expect("Admin password set")
    c.expect(PROMPT)
    return c


def login(d, pw=ADMIN_PW):
    c = Console(d, "--login")
    c.expect("Admin password: ")
    c.line(pw)
    c.expect(PROMPT)
    return c


def script(d, *args, input=None):
    return subprocess.run([binary("mailgw"), "-c", d.conf_path, *args], input=input,
                          capture_output=True, text=True, timeout=30)


def narrow(text, paths=None):
    """The console's 80 columns (a line naming a path of this test's long temporary
    folder, as status' "config: PATH", is as long as the path; on the board it is /data)."""
    for line in text.splitlines():
        assert len(line) <= 80 or (paths and paths in line), line


def data_files(d):
    """Every file under the data directory but mail/, with its content."""
    out = {}
    for root, dirs, files in os.walk(d.data):
        for n in files:
            p = os.path.join(root, n)
            if "/mail/" not in p:
                out[p] = open(p, "rb").read()
    return out


def owner_mode(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_first_login_sets_the_admin_password_then_asks_for_it(daemon):
    d = daemon()
    c = Console(d, "--login")
    c.expect("New admin password: ")
    for _ in range(5):  # Enter alone asks again and uses up no try
        c.line("")
        c.expect("New admin password: ")
    c.line(ADMIN_PW)
    c.expect("again: ")
    c.line(ADMIN_PW + "x")
    c.expect("the two passwords differ")
    c.expect("New admin password: ")
    c.line("short")
    c.expect("again: ")
    c.line("short")
    c.expect("too short")
    c.expect("New admin password: ")
    c.line(ADMIN_PW)
    c.expect("again: ")
    c.line(ADMIN_PW)
    c.expect("Admin password set")
    c.expect(PROMPT)
    assert c.close() == 0
    # typed without echo: the password never appears on the terminal
    assert ADMIN_PW not in c.out.getvalue()
    path = os.path.join(d.data, "etc", "console.passwd")
    assert owner_mode(path) == (os.geteuid(), os.getegid(), 0o600)
    stored = open(path).read()
    assert stored.startswith("{SHA512-CRYPT}$6$rounds=") and ADMIN_PW not in stored

    c = Console(d, "--login")
    c.expect("Admin password: ")
    c.line("not the password")
    c.expect("wrong password")
    c.expect("Admin password: ")
    c.line(ADMIN_PW)
    c.expect(PROMPT)
    assert c.close() == 0
    assert ADMIN_PW not in c.out.getvalue()

    c = Console(d, "--login")
    for _ in range(3):
        c.expect("Admin password: ")
        c.line("wrong again")
    c.p.expect(pexpect.EOF)
    c.p.close()
    assert c.p.exitstatus == 1
    assert not re.search(PROMPT, c.out.getvalue()), "a refused login reached the prompt"


def test_help_completion_abbreviation_history(daemon):
    d = daemon()
    c = login_first(d)
    # '?' at the start lists the commands, with their help, within 80 columns
    c.p.send("?")
    c.expect(PROMPT)
    out = c.out.getvalue()
    for cmd in ("status", "reload", "shell", "net", "log", "reboot", "factory-reset"):
        assert re.search(r"^\s+%s\s+\S" % re.escape(cmd), out, re.M), cmd
    assert max(len(l) for l in out.replace("\r", "").split("\n")) <= 80
    # '?' after a command: its sub-commands; after a sub-command: its arguments
    c.p.send("net ?")
    c.expect(r"static\s+a fixed address")
    c.expect(PROMPT)
    c.p.send("static ?")
    c.expect(r"<ADDRESS>\s+address/prefix")
    c.p.send("\x15")  # Ctrl-U clears the line
    # TAB completes a unique prefix to the whole command
    c.p.send("sta\t")
    c.expect("status ")
    c.line("")
    c.expect(r"generation: 1\r\n")
    c.expect(PROMPT)
    # a unique prefix is enough
    c.line("rel")
    c.expect(PROMPT)
    c.line("st")
    c.expect(r"generation: 2\r\n")
    c.expect(PROMPT)
    # an ambiguous or unknown word is refused, not guessed
    c.line("re")
    c.expect(r"(?i)ambiguous|invalid")
    c.expect(PROMPT)
    # history: the up arrow brings the last command back
    c.p.send("\x1b[A")
    c.expect("re")
    c.p.send("\x15")
    c.line("history")
    c.expect(r"st\r\n")
    c.expect(PROMPT)
    assert c.close() == 0
    assert d.control("status")[-1] == "OK"


def test_confirmation_before_destructive_commands(daemon):
    d = daemon()
    c = login_first(d)
    c.line("reboot")
    c.expect(r"Reboot the gateway now\? \[y/N\] ")
    c.line("n")
    c.expect("cancelled")
    c.expect(PROMPT)
    c.line("factory-reset")
    c.expect("Type 'factory-reset' to go on")
    c.line("yes")
    c.expect("cancelled: nothing was changed")
    c.expect(PROMPT)
    assert c.close() == 0
    assert os.path.exists(os.path.join(d.data, "etc", "console.passwd"))
    assert os.path.exists(d.conf_path)
    # a script without -y and without an answer on stdin is refused, nothing done
    r = script(d, "reboot", input="")
    assert r.returncode == 1 and "cancelled" in r.stdout
    # three-word commands; a new server identity needs the reboot, so it asks first
    r = script(d, "tls", "server-cert", "generate", input="n\n")
    assert r.returncode == 1 and "cancelled" in r.stdout
    assert not os.path.exists(os.path.join(d.data, "etc", "tls", "server.key"))


def test_shell_and_back(daemon):
    d = daemon()
    c = login_first(d)
    c.line("shell")
    c.expect("BusyBox shell for experts")
    c.line("echo marker-$((40+2))")
    c.expect("marker-42")
    c.line("exit")
    c.expect(PROMPT)
    c.line("st")
    c.expect("generation: 1")
    c.expect(PROMPT)
    assert c.close() == 0


def test_scripted_exit_status(daemon):
    d = daemon()
    r = script(d, "status")
    assert r.returncode == 0, r.stderr
    assert "generation: 1" in r.stdout.splitlines()
    assert re.search(r"^data: %s, \d+ MiB free" % re.escape(d.data), r.stdout, re.M)
    assert script(d, "reload").returncode == 0
    # a change mailgwd refuses: exit 1, its reason (file:line) on stderr (the console
    # cannot read the broken file either: the socket is given, as on the board by default)
    d.write_conf("max_connections = 2\n")
    r = script(d, "-s", d.control_path, "reload")
    assert r.returncode == 1
    assert r.stderr.strip() == "mailgw: %s:1: max_connections: out of range (4 to 10000)" % d.conf_path
    # unknown commands and bad arguments: refused (1)
    r = script(d, "frobnicate")
    assert r.returncode == 1 and "Invalid command" in r.stderr
    r = script(d, "net", "dns", "$(reboot)")
    assert r.returncode == 1 and "addresses or host names" in r.stderr
    # mailgwd not reachable: error (2)
    r = subprocess.run([binary("mailgw"), "-d", d.data, "-s", d.control_path + ".nope", "status"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "cannot reach mailgwd" in r.stderr
    # one command per line on standard input; the status is the worst of them
    r = subprocess.run([binary("mailgw"), "-d", d.data, "-s", d.control_path],
                       input="# comment\nnet\nfrobnicate\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and "address: from DHCP" in r.stdout


def test_net_settings_written_root_only(daemon):
    d = daemon()
    r = script(d, "net", "static", "192.0.2.10/24", "192.0.2.1")
    assert r.returncode == 0, r.stderr
    assert script(d, "net", "dns", "192.0.2.53 192.0.2.54").returncode == 0
    assert script(d, "net", "ntp", "ntp.example.org").returncode == 0
    path = os.path.join(d.data, "etc", "network.conf")
    assert owner_mode(path) == (0, 0, 0o600) if os.geteuid() == 0 else True
    # the boot script sources it with a shell: check what that shell sees
    out = subprocess.check_output(["/bin/sh", "-c", ". %s; echo \"$NET_MODE|$NET_ADDRESS|"
                                   "$NET_GATEWAY|$NET_DNS|$NTP_SERVERS\"" % path], text=True)
    assert out.strip() == "static|192.0.2.10/24|192.0.2.1|192.0.2.53 192.0.2.54|ntp.example.org"
    r = script(d, "net")
    assert "address: 192.0.2.10/24 (static)" in r.stdout
    # with NTP the clock is not set by hand; `time` says where it comes from
    r = script(d, "time", "set", "2099-01-01 00:00:00")
    assert r.returncode == 1 and "the clock follows NTP (ntp.example.org)" in r.stderr
    assert "ntp: ntp.example.org" in script(d, "time").stdout
    assert "clock source: NTP (ntp.example.org)" in script(d, "status").stdout


# ---- the admin's first session: domain, user, alias, then mail and POP3 -------------------

DOMAIN = "example.test"
USER_PW = "joe's console pw 7"


def pop3_login(d, ctx):
    """joe logs in over POP3S with the client certificate of ctx."""
    import poplib
    hp, pp = d.addr("pop3s")
    p = poplib.POP3_SSL(hp, pp, context=ctx, timeout=15)
    p.user("joe@" + DOMAIN)
    p.pass_(USER_PW)
    p.quit()


def pop3_refused(d, ctx):
    with pytest.raises(REFUSED):
        pop3_login(d, ctx)


def tls_prepared(daemon, pki):
    """A daemon with SMTP and POP3S whose data directory only the tools wrote, as root:
    the layout made by mailgw-layout (what firstboot runs) and the TLS files installed
    through it; no file chowned by the test."""
    from gate import tls_conf
    d = daemon(start=False, chown=False)
    d.write_conf("[smtp]\nlisten = 127.0.0.1:0\n" + tls_conf(d))
    layout = binary("mailgw-layout")
    subprocess.run([layout, "fix", d.data], check=True, capture_output=True, timeout=30)
    for name, src in (("server.crt", pki.server.crt), ("server.key", pki.server.key),
                      ("ca.crt", pki.ca.crt), ("crl.pem", pki.crl_path)):
        with open(src, "rb") as f:
            subprocess.run([layout, "install", d.data, "etc/tls/" + name], input=f.read(),
                           check=True, capture_output=True, timeout=30)
    return d.start()


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_domain_user_alias_from_the_console_then_mail_arrives_and_pop3_login(daemon, pki):
    import grp
    import poplib
    import pwd
    import smtplib
    from gate import client_ctx

    d = tls_prepared(daemon, pki)
    c = login_first(d)
    c.line("domain add " + DOMAIN)
    c.expect("domain %s added" % DOMAIN)
    c.expect(PROMPT)
    c.line("user add joe@" + DOMAIN)
    c.expect("Password: ")
    c.line(USER_PW)
    c.expect("again: ")
    c.line(USER_PW)
    c.expect("user joe@%s added" % DOMAIN)
    c.expect(PROMPT)
    # TAB completes existing names: domains, users
    c.p.send("domain del ex\t")
    c.expect("example.test ")
    c.p.send("\x15")
    c.p.send("user passwd j\t")
    c.expect("joe@example.test ")
    c.p.send("\x15")
    c.line("alias add info@%s joe" % DOMAIN)
    c.expect("alias info@%s set" % DOMAIN)
    c.expect(PROMPT)
    # an unknown user cannot be an alias target; the reason is shown
    c.line("alias add sales@%s nobody-here" % DOMAIN)
    c.expect("nobody-here")
    c.expect(PROMPT)
    c.line("history")
    c.expect(PROMPT)
    assert c.close() == 0
    out = c.out.getvalue()
    assert USER_PW not in out and ADMIN_PW not in out

    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as s:
        assert s.sendmail("sender@example.net", ["joe@" + DOMAIN, "info@" + DOMAIN],
                          b"Subject: console\r\n\r\nhello from the console test\r\n") == {}
    hp, pp = d.addr("pop3s")
    p = poplib.POP3_SSL(hp, pp, context=client_ctx(pki, pki.user["joe"]), timeout=15)
    p.user("joe@" + DOMAIN)
    p.pass_(USER_PW)
    assert p.stat()[0] >= 1
    assert b"hello from the console test" in b"\r\n".join(p.retr(1)[1])
    p.quit()

    # what the console wrote has the layout's owner, group and mode (README "/data layout")
    dg = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_gid
    for rel, want in (("etc/console.passwd", (0, 0, 0o600)),
                      ("etc/domains", (0, dg, 0o750)),
                      ("etc/domains/%s" % DOMAIN, (0, dg, 0o750)),
                      ("etc/domains/%s/passwd" % DOMAIN, (0, dg, 0o640)),
                      ("etc/domains/%s/aliases" % DOMAIN, (0, dg, 0o640))):
        assert owner_mode(os.path.join(d.data, rel)) == want, rel
    # every change was applied with a reload the unprivileged daemon ran (generation 1 +
    # domain add, user add, alias add)
    st = script(d, "status").stdout
    assert "generation: 4" in st.splitlines()
    # status: the services and their ports, mail per user, the CA and the CRL countdown
    assert "service smtp: %s:%d" % (host, port) in st.splitlines()
    assert "service pop3s: %s:%d" % (hp, pp) in st.splitlines()
    assert re.search(r"^mail joe@example.test: [1-9]\d* messages, \d+ KiB$", st, re.M), st
    assert re.search(r"^CRL of CN=.*\n  next update .*, in \d+ days \d+ hours$", st, re.M), st
    assert "office CA: CN=mailgw test office CA" in st

    # scripted: the password from standard input, never in argv
    r = script(d, "user", "passwd", "joe@" + DOMAIN, input="new pw for joe\n")
    assert r.returncode == 0, r.stderr
    r = script(d, "user", "add", "joe@" + DOMAIN, input="x\n")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = script(d, "user", "del", "joe@" + DOMAIN, input="")
    assert r.returncode == 1 and "cancelled" in r.stdout
    r = script(d, "-y", "user", "del", "ann@" + DOMAIN)
    assert r.returncode == 1 and "no user ann@" in r.stderr
    r = script(d, "user", "list")
    assert r.stdout.splitlines() == ["joe@" + DOMAIN]


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_a_change_mailgwd_refuses_is_rolled_back(daemon, pki):
    d = tls_prepared(daemon, pki)
    assert script(d, "domain", "add", DOMAIN).returncode == 0
    assert script(d, "user", "add", "joe@" + DOMAIN, input="pw\n").returncode == 0
    before = open(d.conf_path).read()
    # the CRL goes bad behind the console's back: mailgw.conf with the new postmaster
    # still parses, but mailgwd cannot build a generation from the files, so it refuses
    # the reload; the console puts the old mailgw.conf back and shows mailgwd's reason
    crl = os.path.join(d.data, "etc", "tls", "crl.pem")
    with open(crl, "r+") as f:
        f.write("-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n")
        f.truncate()
    r = script(d, "postmaster", "set", "joe@" + DOMAIN)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "mailgwd refused the change, which was undone: " in r.stderr
    assert "crl.pem" in r.stderr
    assert open(d.conf_path).read() == before
    assert owner_mode(d.conf_path)[2] == 0o640
    assert "postmaster: (none)" in script(d, "postmaster").stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_office_ca_certificate_bundle_pop3_then_revoked(daemon, pki, tmp_path):
    """ca create -> cert issue to a folder (the USB key) -> POP3S with the bundle's key and
    certificate and the user's password -> cert revoke -> the same client is refused in
    the handshake; the CA stays root-only, what mailgwd reads is root:DG 0640."""
    import poplib
    import ssl

    d = tls_prepared(daemon, pki)
    assert script(d, "domain", "add", DOMAIN).returncode == 0
    assert script(d, "user", "add", "joe@" + DOMAIN, input=USER_PW + "\n").returncode == 0
    r = script(d, "ca", "create", "Console Test Office CA")
    assert r.returncode == 0, r.stderr
    assert "CA: CN=Console Test Office CA" in r.stdout
    assert re.search(r"SHA256 fingerprint:\n  ([0-9A-F]{2}:){15}[0-9A-F]{2}\n"
                     r"  ([0-9A-F]{2}:){15}[0-9A-F]{2}\n", r.stdout), r.stdout
    narrow(r.stdout, d.data)  # "[crlwatch] ca_dir = /data/ca set" on the board
    usb = tmp_path / "usbkey"
    usb.mkdir()
    r = script(d, "cert", "issue", "joe@" + DOMAIN, "years", "2", "to", str(usb))
    assert r.returncode == 0, r.stderr
    m = re.search(r"passphrase of the \.p12 \(shown only now\): (\S+)", r.stdout)
    assert m
    for f in ("joe.p12", "joe.crt", "joe.key", "office-ca.pem", ".fetchmailrc", "README.txt"):
        assert (usb / f).exists(), f
    # the one-time passphrase opens the PKCS#12 bundle
    subprocess.run(["openssl", "pkcs12", "-in", str(usb / "joe.p12"), "-noout",
                    "-passin", "pass:" + m.group(1)], check=True, capture_output=True)
    r = script(d, "cert", "list")
    assert re.search(r"^valid   until \d{4}-\d\d-\d\d  joe@example.test\n"
                     r"        serial [0-9A-F]+$", r.stdout, re.M), r.stdout
    narrow(r.stdout)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca.crt)  # the server certificate is the test PKI's
    ctx.load_cert_chain(str(usb / "joe.crt"), str(usb / "joe.key"))
    hp, pp = d.addr("pop3s")
    pop3_login(d, ctx)
    # the test PKI's own joe certificate is no longer accepted: the console's CA replaced it
    from gate import client_ctx
    pop3_refused(d, client_ctx(pki, pki.user["joe"]))

    r = script(d, "cert", "revoke", "joe@" + DOMAIN, input="n\n")
    assert r.returncode == 1 and "cancelled" in r.stdout
    r = script(d, "-y", "cert", "revoke", "joe@" + DOMAIN, "reason", "keyCompromise")
    assert r.returncode == 0, r.stderr
    assert "1 certificate(s) revoked" in r.stdout
    with pytest.raises(REFUSED):
        pop3_login(d, ctx)
    r = script(d, "crl", "show")
    assert re.search(r"^  [0-9A-F]+ revoked \d{4}-\d\d-\d\d keyCompromise$", r.stdout, re.M)
    assert "signature checked" in r.stdout
    narrow(r.stdout)
    narrow(script(d, "tls", "show").stdout)
    narrow(script(d, "status").stdout, d.dir)

    for rel, want in (("ca", (0, 0, 0o700)), ("ca/ca.key", (0, 0, 0o600)),
                      ("etc/tls/ca.crt", (0, None, 0o640)), ("etc/tls/crl.pem", (0, None, 0o640))):
        uid, gid, mode = owner_mode(os.path.join(d.data, rel))
        assert (uid, mode) == (want[0], want[2]), rel
    # a bad name is refused with a clear message, nothing written
    r = script(d, "cert", "issue", "nobody@" + DOMAIN)
    assert r.returncode == 1 and "no user nobody@example.test" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_config_export_diff_import(daemon, pki, tmp_path):
    d = tls_prepared(daemon, pki)
    assert script(d, "domain", "add", DOMAIN).returncode == 0
    assert script(d, "user", "add", "joe@" + DOMAIN, input="pw one\n").returncode == 0
    exp = tmp_path / "usb" / "mailgw-config.txt"
    exp.parent.mkdir()
    r = script(d, "config", "export", str(exp))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(exp).st_mode) == 0o600
    text = exp.read_text()
    assert "=== etc/domains/example.test/passwd\njoe:{SHA512-CRYPT}" in text
    assert "PRIVATE KEY" not in text
    assert "no differences" in script(d, "config", "diff", str(exp)).stdout
    assert script(d, "user", "add", "ann@" + DOMAIN, input="pw two\n").returncode == 0
    r = script(d, "config", "diff", str(exp))
    assert "etc/domains/example.test/passwd: changed" in r.stdout
    assert re.search(r"^  - ann:\{SHA512-CRYPT\}", r.stdout, re.M)
    r = script(d, "config", "import", str(exp), input="n\n")
    assert r.returncode == 1 and "cancelled" in r.stdout
    r = script(d, "-y", "config", "import", str(exp))
    assert r.returncode == 0, r.stderr
    assert script(d, "user", "list").stdout.splitlines() == ["joe@" + DOMAIN]
    assert owner_mode(os.path.join(d.data, "etc/domains", DOMAIN, "passwd"))[2] == 0o640
    # an export naming a file outside the list (a private key) is refused, nothing written
    bad = tmp_path / "bad.txt"
    bad.write_text("# mailgw configuration export\n=== etc/tls/server.key\nnot a key\n")
    r = script(d, "-y", "config", "import", str(bad))
    assert r.returncode == 1 and "'etc/tls/server.key' is not a file" in r.stderr
    assert "BEGIN" in open(os.path.join(d.data, "etc/tls/server.key")).read()


def test_log_lines_and_filter(daemon, tmp_path):
    """`log` reads the system log through logread; here a stand-in prints the daemon's
    own log (MAILGW_LOGREAD), so lines, grep and the status' last errors are real."""
    d = daemon()
    logfile = tmp_path / "log.txt"
    logfile.write_text(d.log() + "\nmailgwd error: something broke\n")
    reader = tmp_path / "logread"
    reader.write_text("#!/bin/sh\nexec cat %s\n" % logfile)
    reader.chmod(0o755)
    env = dict(os.environ, MAILGW_LOGREAD=str(reader))
    run = lambda *a: subprocess.run([binary("mailgw"), "-c", d.conf_path, *a], env=env,
                                    capture_output=True, text=True, timeout=30)
    r = run("log", "lines", "2")
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "mailgwd error: something broke"
    assert len(r.stdout.splitlines()) == 2
    r = run("log", "grep", "ready")
    assert r.stdout.splitlines() and all("ready" in l for l in r.stdout.splitlines())
    r = run("status")
    assert "last errors in the log:\nmailgwd error: something broke" in r.stdout
    assert run("log", "lines", "0").returncode == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_bad_input_is_refused_with_a_reason_and_nothing_written(daemon, pki, tmp_path):
    d = tls_prepared(daemon, pki)
    assert script(d, "domain", "add", DOMAIN).returncode == 0
    before = data_files(d)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    for args, stdin, reason in (
            (("domain", "add", "../etc"), None, r"domain"),
            (("domain", "add", "Bad_Domain"), None, r"(?i)domain"),
            (("domain", "del", "nowhere.test"), "y\n", r"nowhere\.test"),
            (("user", "add", "joe"), None, r"user@domain"),
            (("user", "add", "joe@nowhere.test"), "pw\n", r"nowhere\.test"),
            (("user", "add", "a b@" + DOMAIN), "pw\n", r"."),
            (("user", "passwd", "nobody@" + DOMAIN), "pw\n", r"no user nobody@"),
            (("alias", "add", "info@" + DOMAIN, "nobody"), None, r"nobody"),
            (("postmaster", "set", "ghost@" + DOMAIN), None, r"ghost@example\.test"),
            (("cert", "show", "ZZZZ"), None, r"no office CA yet"),
            (("cert", "issue", "joe@" + DOMAIN, "years", "9"), None, r"years: 1 to 3"),
            (("ca", "import", str(garbage)), "y\n", r"garbage\.pem"),
            (("crl", "import", str(garbage)), None, r"no office CA yet"),
            (("config", "import", str(garbage)), "y\n", r"not a mailgw configuration export"),
            (("net", "static", "192.0.2.10", "192.0.2.1"), None, r"ADDRESS/PREFIX"),
            (("time", "set", "tomorrow"), None, r"YYYY-MM-DD"),
            (("time", "set", "2001-01-01 00:00:00"), None, r"never goes back"),
            (("log", "lines", "many"), None, r"lines: a number"),
            (("frobnicate",), None, r"Invalid command"),
            (("user", "frobnicate"), None, r"(?i)invalid|incomplete")):
        r = script(d, *args, input=stdin or "")
        assert r.returncode == 1, (args, r.returncode, r.stdout, r.stderr)
        assert re.search(reason, r.stderr), (args, r.stderr)
        assert "Sanitizer" not in r.stderr
    assert data_files(d) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_server_cert_import_checks_the_pair_and_asks(daemon, pki):
    d = tls_prepared(daemon, pki)
    before = data_files(d)
    r = script(d, "tls", "server-cert", "import", pki.server.crt, pki.server_rsa.key)
    assert r.returncode == 1 and "is not the key of" in r.stderr
    r = script(d, "tls", "server-cert", "import", pki.server_rsa.crt, pki.server_rsa.key,
               input="n\n")
    assert r.returncode == 1 and "cancelled" in r.stdout
    fp = subprocess.check_output(["openssl", "x509", "-in", pki.server_rsa.crt, "-noout",
                                  "-fingerprint", "-sha256"], text=True).strip().split("=")[1]
    assert fp[:47] in r.stdout and fp[48:] in r.stdout
    assert data_files(d) == before


def test_log_follow_ends_with_ctrl_c_and_the_console_stays(daemon, tmp_path):
    d = daemon()
    reader = tmp_path / "logread"
    reader.write_text("#!/bin/sh\n[ \"$1\" = -f ] || exit 0\necho follow-line-1\n"
                      "exec sleep 300\n")
    reader.chmod(0o755)
    os.environ["MAILGW_LOGREAD"] = str(reader)
    try:
        c = login_first(d)
    finally:
        del os.environ["MAILGW_LOGREAD"]
    c.line("log follow")
    c.expect("follow-line-1")
    c.p.sendintr()  # Ctrl-C: ends the follower, not the console
    c.expect(PROMPT)
    c.line("st")
    c.expect("generation: 1")
    c.expect(PROMPT)
    assert c.close() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_ca_import_of_the_articles_cacrl_bundle(daemon, pki, tmp_path):
    """An office with its own CA brings the reference article's CAcrl-bundle (CA
    certificate, then its CRL) on the USB key: fingerprint shown, confirmed, split into
    ca.crt and crl.pem, installed and reloaded; that CA's users get in, the old CA's not."""
    import poplib
    import ssl
    from gate import client_ctx

    d = tls_prepared(daemon, pki)
    assert script(d, "domain", "add", DOMAIN).returncode == 0
    assert script(d, "user", "add", "joe@" + DOMAIN, input=USER_PW + "\n").returncode == 0
    crl = pki.foreign.crl(str(tmp_path / "foreign-crl.pem"))
    bundle = tmp_path / "CAcrl-bundle"
    bundle.write_text(open(pki.foreign.crt).read() + open(crl).read())
    r = script(d, "ca", "import", str(bundle), input="n\n")
    assert r.returncode == 1 and "cancelled" in r.stdout
    assert "CA: CN=Some other CA" in r.stdout and "key on the gateway: no" in r.stdout
    r = script(d, "ca", "import", str(bundle), input="y\n")
    assert r.returncode == 0, r.stderr
    assert "office CA imported and installed with its CRL" in r.stdout
    tls = os.path.join(d.data, "etc", "tls")
    assert open(os.path.join(tls, "ca.crt")).read().count("BEGIN CERTIFICATE") == 1
    assert "BEGIN X509 CRL" in open(os.path.join(tls, "crl.pem")).read()
    pop3_login(d, client_ctx(pki, pki.user["foreign"]))
    pop3_refused(d, client_ctx(pki, pki.user["joe"]))
    # without its key the gateway cannot sign: issuing is refused with the reason
    r = script(d, "cert", "issue", "joe@" + DOMAIN)
    assert r.returncode == 1, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_newcomer_from_first_boot_layout_to_pop3s_with_the_console_only(daemon, pki, tmp_path):
    """The gateway as the first boot leaves it (a server certificate, no CA, POP3S off):
    the office CA, the user, POP3S and the certificate come from the console alone, no
    file edited; mailgwd starts again (as after the reboot the console offers) and the
    user logs in with the bundle."""
    import socket
    d = daemon(start=False, chown=False)
    t = os.path.join(d.data, "etc", "tls")
    d.write_conf("[smtp]\nlisten = 127.0.0.1:0\n[tls]\ncert = %s/server.crt\nkey = %s/server.key\n"
                 % (t, t))
    layout = binary("mailgw-layout")
    subprocess.run([layout, "fix", d.data], check=True, capture_output=True, timeout=30)
    for name, src in (("server.crt", pki.server.crt), ("server.key", pki.server.key)):
        with open(src, "rb") as f:
            subprocess.run([layout, "install", d.data, "etc/tls/" + name], input=f.read(),
                           check=True, capture_output=True, timeout=30)
    d.start()
    assert "service pop3s: off" in script(d, "status").stdout
    assert script(d, "domain", "add", DOMAIN).returncode == 0
    assert script(d, "user", "add", "joe@" + DOMAIN, input=USER_PW + "\n").returncode == 0
    r = script(d, "ca", "create", "Newcomer Office CA")
    assert r.returncode == 0, r.stderr
    conf = open(d.conf_path).read()
    assert "ca = %s/ca.crt" % t in conf and "crl = %s/crl.pem" % t in conf
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = script(d, "service", "pop3s", "on", "port", str(port), input="n\n")
    assert r.returncode == 0, r.stderr
    assert "[pop3s] listen = 0.0.0.0:%d set" % port in r.stdout
    usb = tmp_path / "usb"
    usb.mkdir()
    assert script(d, "cert", "issue", "joe@" + DOMAIN, "to", str(usb)).returncode == 0
    assert d.stop() == 0
    m = d.mark()
    d.start(wait=False)
    d.wait_log(r"ready", 20, start=m)
    assert "service pop3s: 0.0.0.0:%d" % port in script(d, "status").stdout
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca.crt)
    ctx.load_cert_chain(str(usb / "joe.crt"), str(usb / "joe.key"))
    p = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=15)
    p.user("joe@" + DOMAIN)
    p.pass_(USER_PW)
    p.quit()


def test_scripted_quit_and_exit(daemon):
    """`quit` and `exit` end a script successfully: exit status 0, and on standard input
    nothing after them runs."""
    d = daemon()
    for word in ("quit", "exit"):
        r = script(d, word)
        assert r.returncode == 0, (word, r.returncode, r.stdout, r.stderr)
        assert r.stderr == ""
        r = subprocess.run([binary("mailgw"), "-d", d.data, "-s", d.control_path],
                           input="net\n%s\nfrobnicate\n" % word, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, (word, r.returncode, r.stdout, r.stderr)
        assert "address: from DHCP" in r.stdout and "Invalid command" not in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_ca_replaced_only_with_the_word_typed(daemon, pki, tmp_path):
    """An office that started with the built-in CA and then imports its own: the console
    asks for the word 'replace' (the old CA's certificates stop working), keeps the old
    CA in ca/replaced-DATE, and installs the new one; anything else changes nothing."""
    d = tls_prepared(daemon, pki)
    r = script(d, "ca", "create", "First Office CA")
    assert r.returncode == 0, r.stderr
    first = open(os.path.join(d.data, "ca", "ca.crt")).read()
    crl = pki.ca.crl(str(tmp_path / "office-crl.pem"))
    r = script(d, "ca", "import", pki.ca.crt, "crl", crl, input="y\nno\n")
    assert r.returncode == 1 and "cancelled: the office CA stays" in r.stdout, r.stdout + r.stderr
    assert "There is an office CA already (CN=First Office CA)" in r.stdout
    assert open(os.path.join(d.data, "ca", "ca.crt")).read() == first
    r = script(d, "ca", "import", pki.ca.crt, "crl", crl, input="y\nreplace\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "office CA imported and installed with its CRL" in r.stdout
    assert open(os.path.join(d.data, "etc", "tls", "ca.crt")).read() == open(pki.ca.crt).read()
    kept = [n for n in os.listdir(os.path.join(d.data, "ca")) if n.startswith("replaced-")]
    assert len(kept) == 1
    assert open(os.path.join(d.data, "ca", kept[0], "ca.crt")).read() == first


@pytest.mark.skipif(os.geteuid() != 0, reason="the console runs as root, the daemon as 'nobody'")
def test_builtin_ca_is_handed_to_crlwatch(daemon, pki, tmp_path):
    """ca create makes crlwatch re-sign the built-in CA's CRL before it expires ([crlwatch]
    ca_dir); an imported CA without its key is not re-signed (the setting goes)."""
    d = tls_prepared(daemon, pki)
    side = tmp_path / "side"
    side.mkdir()
    with open(d.conf_path, "a") as f:
        f.write("[crlwatch]\nconsole = %s\nstate = %s\nmail = no\n" % (side / "console", side / "state"))
    cw = [binary("crlwatch"), "-c", d.conf_path, "refresh"]
    r = script(d, "ca", "create", "Resigning Office CA")
    assert r.returncode == 0, r.stderr
    assert "[crlwatch] ca_dir = %s/ca" % d.data in r.stdout, r.stdout
    r = subprocess.run(cw, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing new" in r.stdout  # the CRL ca create installed is current
    crl = pki.ca.crl(str(tmp_path / "office-crl.pem"))
    r = script(d, "ca", "import", pki.ca.crt, "crl", crl, input="y\nreplace\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ca_dir" not in open(d.conf_path).read()
    r = subprocess.run(cw, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no source to refresh from" in r.stderr, r.stdout + r.stderr
