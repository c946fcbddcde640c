"""mutt against mailgwd's IMAPS, driven non-interactively on a pty (pexpect) with its
keys pushed by -e 'push ...': the user's client certificate (ssl_client_cert), the
office CA as the only trust, LOGIN with imap_user/imap_pass. Mail arrives over SMTP."""
import os
import re

import pexpect

from gate import PASSWORDS, maildir, message
from test_imap import fetch1, folder_dir, imap, smtp_deliver, start, stored

MUTTRC = """set folder = "imaps://localhost:{port}/"
set spoolfile = "+INBOX"
set imap_user = "joe@example.test"
set imap_pass = "{password}"
set imap_authenticators = "login"
set ssl_force_tls = yes
set ssl_verify_host = yes
set ssl_ca_certificates_file = "{ca}"
set certificate_file = "{ca}"
{client_cert}
set tmpdir = "{tmp}"
set header_cache = ""
set message_cachedir = ""
set mail_check_stats = no
set wait_key = no
set confirmappend = no
set confirmcreate = no
set delete = yes
set move = no
set mark_old = no
set pipe_decode = no
set beep = no
save-hook . "=Archive"
"""


def mutt(tmp_path, d, pki, keys, cert=True):
    """Runs mutt on INBOX (-f: it ends when INBOX does not open) with keys pushed after
    it opened the mailbox; returns what it showed on its terminal."""
    host, port = d.addr("imaps")
    joe = pki.user["joe"]
    pem = tmp_path / "joe.pem"  # mutt (GnuTLS) reads the certificate and its key from one file
    pem.write_bytes(open(joe.crt, "rb").read() + open(joe.key, "rb").read())
    pem.chmod(0o600)
    rc = tmp_path / "muttrc"
    rc.write_text(MUTTRC.format(port=port, password=PASSWORDS["joe"], ca=pki.ca.crt, tmp=tmp_path,
                                client_cert='set ssl_client_cert = "%s"' % pem if cert else ""))
    child = pexpect.spawn("mutt", ["-n", "-F", str(rc), "-f", "=INBOX", "-e", "push '%s'" % keys],
                          env=dict(os.environ, HOME=str(tmp_path), TERM="xterm"),
                          dimensions=(40, 160), timeout=60, encoding="utf-8", codec_errors="replace")
    child.expect(pexpect.EOF)
    child.close()
    return child.before


def test_mutt_reads_and_moves_a_message(tmp_path, daemon, pki):
    """mutt opens INBOX, shows the message, pipes it to a file (the bytes SMTP delivered,
    with mutt's LF line ends), saves it into Archive (a COPY on the server, the original
    marked \\Deleted) and expunges INBOX when it syncs the mailbox: Archive holds it,
    read, on the server and in the Maildir++ folder .Archive/cur."""
    d = start(daemon, pki)
    body = message(1, 9000, extra=b"\xc3\xa4 umlaut line\r\n")
    smtp_deliver(d, body)
    smtp_deliver(d, message(2))
    delivered, second = stored(d)  # with the Received: and Return-Path: of the delivery
    assert delivered.endswith(body)
    out = tmp_path / "piped.eml"
    screen = mutt(tmp_path, d, pki, "<display-message><exit><pipe-message>cat > %s<enter>"
                  "<save-message><enter><sync-mailbox><quit>" % out)
    assert out.exists(), screen
    assert out.read_bytes() == delivered.replace(b"\r\n", b"\n")
    # On the server: INBOX keeps message 2 only, Archive has message 1, \Seen.
    m = imap(d, pki)
    assert m.select("INBOX") == ("OK", [b"1"])
    assert b"Subject: test 2" in fetch1(m, "BODY.PEEK[HEADER]")
    assert m.select("Archive") == ("OK", [b"1"])
    assert fetch1(m, "BODY.PEEK[]") == delivered
    assert b"\\Seen" in fetch1(m, "FLAGS")
    m.logout()
    # On disk: the Maildir++ folder .Archive holds the file, flagged S in its name.
    arch = os.path.join(folder_dir(d, "Archive"), "cur")
    names = os.listdir(arch)
    assert len(names) == 1 and names[0].partition(":2,")[2] == "S", names
    with open(os.path.join(arch, names[0]), "rb") as f:
        assert f.read() == delivered
    assert stored(d) == [second]
    assert folder_dir(d, "Archive") == os.path.join(maildir(d, "joe"), ".Archive")


def test_mutt_without_its_certificate_is_refused(tmp_path, daemon, pki):
    """The same mutt without ssl_client_cert: the handshake fails, mutt shows the TLS
    alert and never opens INBOX (nothing piped, nothing moved, no LOGIN sent)."""
    d = start(daemon, pki)
    smtp_deliver(d, message(1))
    before = stored(d)
    out = tmp_path / "piped.eml"
    screen = mutt(tmp_path, d, pki, "<pipe-message>cat > %s<enter><save-message><enter><sync-mailbox>"
                  "<quit>" % out, cert=False)
    d.wait_log(r"refused: no client certificate")
    # TLS 1.3: the client's handshake is over when the gate's alert comes, so mutt
    # reports it at its first read and leaves with it as its last line.
    assert screen.rstrip().endswith("tls_socket_read (A TLS fatal alert has been received.)"), screen
    assert not out.exists()
    assert stored(d) == before
    assert not re.search(r"imap .*login", d.log()), d.log()
    m = imap(d, pki)
    assert m.select("Archive") == ("OK", [b"0"])
    m.logout()
