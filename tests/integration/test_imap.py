"""IMAPS behind the certificate gate (RFC 3501 over implicit TLS) with real clients:
Python's imaplib, curl imaps://, fetchmail with protocol IMAP; mail arrives over SMTP
(smtplib) into the store, as in production."""
import imaplib
import os
import re
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from gate import DOMAIN, PASSWORDS, add_user, client_ctx, fetchmail, install_tls, maildir, message, messages, tls_dir
from smtputil import smtp_conf

REFUSED = (ssl.SSLError, ConnectionResetError, BrokenPipeError, EOFError, imaplib.IMAP4.abort,
           socket.timeout, OSError)


def start(daemon, pki, users=("joe", "ann"), extra="", smtp_extra="", run=True):
    d = daemon(start=False)
    install_tls(d, pki)
    for u in users:
        add_user(d, u)
    t = tls_dir(d)
    d.write_conf("[tls]\ncert = %s/server.crt\nkey = %s/server.key\nca = %s/ca.crt\n"
                 "crl = %s/crl.pem\n[imaps]\nlisten = 127.0.0.1:0\n" % (t, t, t, t)
                 + smtp_conf("postmaster = joe@%s\n%s" % (DOMAIN, smtp_extra)).replace(
                     "postmaster = alice@example.com\n", "") + extra)
    if run:
        d.start()
    return d


def smtp_deliver(d, body, rcpt="joe@" + DOMAIN):
    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.sendmail("sender@example.org", [rcpt], body)


def stored(d, user="joe"):
    """The message files of user's Maildir in arrival order (their names), as bytes."""
    md = maildir(d, user)
    paths = []
    for sub in ("new", "cur"):
        p = os.path.join(md, sub)
        paths += [(n, os.path.join(p, n)) for n in os.listdir(p)] if os.path.isdir(p) else []
    out = []
    for _, path in sorted(paths):
        with open(path, "rb") as f:
            out.append(f.read())
    return out


def imap(d, pki, cert="joe", login="joe", password=None):
    host, port = d.addr("imaps")
    ctx = client_ctx(pki, pki.user[cert] if cert else None)
    m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=15)
    if login:
        m.login("%s@%s" % (login, DOMAIN), PASSWORDS[login] if password is None else password)
    return m


def fetch1(m, what, uid=None):
    """FETCH of one message: the literal of the first item (or its text)."""
    typ, data = m.uid("FETCH", uid, what) if uid else m.fetch("1", what)
    assert typ == "OK", data
    return data[0][1] if isinstance(data[0], tuple) else data[0]


def test_imaplib_every_basic_command(daemon, pki):
    d = start(daemon, pki)
    body = message(1, 3000)
    smtp_deliver(d, body)
    smtp_deliver(d, message(2))
    files = stored(d)
    assert len(files) == 2 and files[0].endswith(body)  # mailgwd adds its trace headers on top
    m = imap(d, pki, login=None)
    assert m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1")
    typ, caps = m.capability()
    for c in (b"IMAP4rev1", b"AUTH=PLAIN", b"IDLE", b"UIDPLUS", b"LITERAL+", b"SASL-IR", b"ID",
              b"NAMESPACE", b"UNSELECT", b"ENABLE"):
        assert c in caps[0].split(), caps
    # Before login only the not-authenticated commands (imaplib must be told to try).
    m.state = "AUTH"
    with pytest.raises(imaplib.IMAP4.error, match="Log in first"):
        m.select("INBOX")
    m.state = "NONAUTH"
    typ, data = m.login("joe@" + DOMAIN, PASSWORDS["joe"])
    assert typ == "OK" and b"[CAPABILITY" in data[0]
    assert b"AUTH=PLAIN" not in m.capability()[1][0]
    typ, data = m.list()
    assert data == [b'(\\HasNoChildren) "." INBOX'], data
    typ, data = m.lsub('""', "*")
    assert data == [b'(\\HasNoChildren) "." INBOX'], data
    typ, data = m.status("INBOX", "(MESSAGES RECENT UNSEEN UIDNEXT UIDVALIDITY)")
    st = data[0].decode()
    assert re.search(r"MESSAGES 2 ", st) and re.search(r"UNSEEN 2", st), st
    assert m.namespace()[1] == [b'(("" ".")) NIL NIL']
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    assert m.untagged_responses.get("RECENT") == [b"2"]
    uidvalidity = int(m.untagged_responses["UIDVALIDITY"][0])
    assert uidvalidity > 0
    # FETCH: sizes as sent, the message byte for byte, sections, partial, \Seen.
    typ, data = m.fetch("1:2", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert typ == "OK"
    meta = [x.decode() for x in data]
    assert re.match(r'1 \(UID 1 FLAGS \(\\Recent\) RFC822\.SIZE %d INTERNALDATE "\d\d-\w{3}-\d{4} '
                    r'\d\d:\d\d:\d\d \+0000"\)$' % len(files[0]), meta[0]), meta
    assert "UID 2 " in meta[1]
    assert fetch1(m, "BODY.PEEK[]") == files[0]
    assert b"\\Seen" not in fetch1(m, "FLAGS")
    header, _, text = files[0].partition(b"\r\n\r\n")
    assert fetch1(m, "BODY.PEEK[HEADER]") == header + b"\r\n\r\n"
    assert fetch1(m, "BODY.PEEK[TEXT]") == text
    assert fetch1(m, "RFC822.HEADER") == header + b"\r\n\r\n"
    assert fetch1(m, "BODY.PEEK[]<10.20>") == files[0][10:30]
    assert fetch1(m, "BODY.PEEK[HEADER.FIELDS (Subject MESSAGE-ID)]") == \
        b"Subject: test 1\r\nMessage-ID: <1@example.org>\r\n\r\n"
    nots = fetch1(m, "BODY.PEEK[HEADER.FIELDS.NOT (Received)]")
    assert b"Received:" not in nots and b"Subject: test 1\r\n" in nots
    typ, data = m.fetch("1", "BODY[]")
    assert data[0][1] == files[0] and b"\\Seen" in data[0][0] + data[1]
    # UID commands, SEARCH
    assert fetch1(m, "(BODY.PEEK[])", uid="2") == stored(d)[1]
    assert m.search(None, "ALL") == ("OK", [b"1 2"])
    assert m.search(None, "UNSEEN") == ("OK", [b"2"])
    assert m.search(None, "SEEN") == ("OK", [b"1"])
    assert m.search(None, "NOT", "SEEN") == ("OK", [b"2"])
    assert m.search(None, "OR", "SEEN", "LARGER", "1") == ("OK", [b"1 2"])
    assert m.search(None, "LARGER", "2000") == ("OK", [b"1"])
    assert m.uid("SEARCH", "UID", "2:*") == ("OK", [b"2"])
    assert m.search(None, "SINCE", "1-Jan-2020", "BEFORE", "1-Jan-2200") == ("OK", [b"1 2"])
    # Header and text keys, case-insensitive (RFC 3501 6.4.4).
    assert m.search(None, "SUBJECT", '"TEST 2"') == ("OK", [b"2"])
    assert m.search(None, "FROM", "SENDER@Example") == ("OK", [b"1 2"])
    assert m.search(None, "TO", "nobody") == ("OK", [b""])
    assert m.search(None, "HEADER", "Message-ID", '"<1@"') == ("OK", [b"1"])
    assert m.search(None, "BODY", '"hello 2"') == ("OK", [b"2"])
    assert m.search(None, "BODY", "subject:") == ("OK", [b""])  # the header is not the body
    assert m.search(None, "TEXT", '"subject: TEST 1"') == ("OK", [b"1"])
    assert m.search("UTF-8", "BODY", "xxxxxxxxxxx") == ("OK", [b"1"])  # only 1 is long
    assert m.uid("SEARCH", "CHARSET", "US-ASCII", "OR", "BODY", "nothing-here", "SUBJECT", "1") == \
        ("OK", [b"1"])
    assert m.search(None, "KEYWORD", "$Junk") == ("OK", [b""])  # keywords are never kept
    assert m.search(None, "UNKEYWORD", "$Junk") == ("OK", [b"1 2"])
    # STORE, EXPUNGE: the file is gone from the Maildir.
    typ, data = m.store("2", "+FLAGS", "(\\Deleted \\Flagged)")
    assert typ == "OK" and b"\\Deleted" in data[0] and b"\\Flagged" in data[0]
    typ, data = m.store("2", "-FLAGS.SILENT", "(\\Flagged)")
    assert typ == "OK" and data == [None]
    assert m.check()[0] == "OK" and m.noop()[0] == "OK"
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"2"]
    assert len(messages(d, "joe")) == 1
    assert m.unselect()[0] == "OK"
    typ, data = m.select("INBOX", readonly=True)  # EXAMINE
    assert typ == "OK" and data == [b"1"]
    typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO" and b"[READ-ONLY]" in data[0], data
    assert m.close()[0] == "OK"
    assert m.logout()[0] == "BYE"
    d.wait_log(r"imap .*: closed \(LOGOUT\), joe@example.test")


def test_wire_literals_pipelining_and_errors(daemon, pki):
    """Raw protocol: synchronizing and LITERAL+ literals, pipelined commands, BAD for
    malformed commands, a FETCH of a number beyond the mailbox."""
    d = start(daemon, pki)
    smtp_deliver(d, message(1))
    host, port = d.addr("imaps")
    raw = socket.create_connection((host, port), timeout=15)
    s = client_ctx(pki, pki.user["joe"]).wrap_socket(raw, server_hostname="localhost")
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK ")
    user = b"joe@" + DOMAIN.encode()
    pw = PASSWORDS["joe"].encode()
    s.sendall(b"a1 LOGIN {%d}\r\n" % len(user))
    assert f.readline().startswith(b"+ ")
    s.sendall(user + b" {%d+}\r\n" % len(pw) + pw + b"\r\n")
    assert f.readline().startswith(b"a1 OK [CAPABILITY ")
    # Pipelined: all sent at once, answered in order.
    s.sendall(b"a2 SELECT INBOX\r\na3 NOOP\r\na4 FETCH 9 UID\r\na5 FETCH 1 (BODY.PEEK[]<0.4>)\r\n"
              b"a6 FETCH 1 FOO\r\na7 XYZZY\r\na8 SELECT {5+}\r\nINBOX\r\n")
    lines = []
    while not lines or not lines[-1].startswith(b"a8 "):
        lines.append(f.readline())
    tagged = [l for l in lines if not l.startswith((b"*", b"Hell", b"From"))]
    assert tagged[0].startswith(b"a2 OK [READ-WRITE]")
    assert tagged[1].startswith(b"a3 OK")
    assert tagged[2].startswith(b"a4 BAD")
    assert b"* 1 FETCH (BODY[]<0> {4}\r\n" in lines
    assert tagged[-4].startswith(b"a5 OK")
    assert tagged[-3].startswith(b"a6 BAD Invalid fetch attribute")
    assert tagged[-2].startswith(b"a7 BAD Unknown command")
    assert tagged[-1].startswith(b"a8 OK [READ-WRITE]")
    s.sendall(b"a9 LOGOUT\r\n")
    assert f.readline() == b"* BYE Logging out\r\n"
    s.close()


def test_authenticate_plain_sasl_ir(daemon, pki):
    d = start(daemon, pki)
    m = imap(d, pki, login=None)
    typ, _ = m.authenticate("PLAIN", lambda _: b"\0joe@example.test\0" + PASSWORDS["joe"].encode())
    assert typ == "OK"
    assert m.select("INBOX") == ("OK", [b"0"])
    m.logout()
    # SASL-IR on the wire, as Thunderbird sends it.
    host, port = d.addr("imaps")
    raw = socket.create_connection((host, port), timeout=15)
    s = client_ctx(pki, pki.user["joe"]).wrap_socket(raw, server_hostname="localhost")
    f = s.makefile("rb")
    f.readline()
    import base64
    ir = base64.b64encode(b"\0joe@example.test\0" + PASSWORDS["joe"].encode())
    s.sendall(b"x AUTHENTICATE PLAIN " + ir + b"\r\n")
    assert f.readline().startswith(b"x OK ")
    s.close()


def test_refusals_on_the_wire(daemon, pki):
    d = start(daemon, pki)
    host, port = d.addr("imaps")
    # No client certificate: refused in the handshake, before any IMAP byte.
    with pytest.raises(REFUSED):
        m = imaplib.IMAP4_SSL(host, port, ssl_context=client_ctx(pki, None), timeout=15)
        m.noop()
    d.wait_log(r"refused: no client certificate")
    # ann's certificate, joe's name and password: NO at LOGIN, after the throttle's delay.
    m = imap(d, pki, cert="ann", login=None)
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED"):
        m.login("joe@" + DOMAIN, PASSWORDS["joe"])
    d.wait_log(r"imap .*login failed for 'joe@example.test': the certificate belongs to "
               r"'ann@example.test'")
    # The right certificate, a wrong password.
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED"):
        m.login("ann@" + DOMAIN, "wrong")
    d.wait_log(r"imap .*login failed for 'ann@example.test': wrong password")
    # fail_close (3): the third failure ends the connection.
    with pytest.raises((imaplib.IMAP4.error, imaplib.IMAP4.abort)):
        m.login("ann@" + DOMAIN, "wrong again")
    d.wait_log(r"imap .*closed \(too many failed logins\)")


def test_idle_sees_smtp_delivery(daemon, pki):
    d = start(daemon, pki)
    m = imap(d, pki)
    m.select("INBOX")
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    assert m.readline().startswith(b"+ ")
    smtp_deliver(d, message(5))
    # The delivery is reported while the client is still idling (no command sent).
    assert m.readline() == b"* 1 EXISTS\r\n"
    assert m.readline() == b"* 1 RECENT\r\n"
    m.send(b"DONE\r\n")
    assert m.readline().startswith(tag + b" OK")
    assert fetch1(m, "BODY.PEEK[]") == stored(d)[0]
    m.logout()


def test_pop3_and_imap_share_the_mailbox(daemon, pki):
    """Flags set over IMAP are in the file names; an IMAP expunge is gone for POP3."""
    import poplib
    d = start(daemon, pki, extra="[pop3s]\nlisten = 127.0.0.1:0\n")
    smtp_deliver(d, message(1))
    smtp_deliver(d, message(2))
    m = imap(d, pki)
    m.select("INBOX")
    m.store("1", "+FLAGS", "(\\Seen \\Deleted)")
    assert any(n.endswith(":2,ST") for n in messages(d, "joe")), messages(d, "joe")
    m.expunge()
    host, port = d.addr("pop3s")
    p = poplib.POP3_SSL(host, port, context=client_ctx(pki, pki.user["joe"]), timeout=15)
    p.user("joe@" + DOMAIN)
    p.pass_(PASSWORDS["joe"])
    assert p.stat()[0] == 1
    assert p.uidl(1).split()[2].endswith(b".2")  # UIDVALIDITY.UID: the same UID 2
    p.quit()
    m.logout()


def test_curl_imaps(daemon, pki):
    d = start(daemon, pki)
    body = message(7, 5000)
    smtp_deliver(d, body)
    host, port = d.addr("imaps")
    joe = pki.user["joe"]
    base = ["curl", "-sS", "--cacert", pki.ca.crt, "--cert", joe.crt, "--key", joe.key,
            "--user", "joe@example.test:" + PASSWORDS["joe"],
            "--resolve", "localhost:%d:127.0.0.1" % port]
    url = "imaps://localhost:%d/" % port
    r = subprocess.run(base + [url], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'* LIST (\\HasNoChildren) "." INBOX\r\n'
    r = subprocess.run(base + [url + "INBOX;UID=1"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == stored(d)[0]
    r = subprocess.run(base + [url + "INBOX?UNSEEN"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"* SEARCH\r\n"  # curl's FETCH set \Seen
    r = subprocess.run(base + [url + "INBOX?ALL"], capture_output=True, timeout=30)
    assert r.stdout == b"* SEARCH 1\r\n"
    # Without a client certificate curl gets no further than the handshake.
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca.crt, "--user", "joe@example.test:x",
                        "--resolve", "localhost:%d:127.0.0.1" % port, url],
                       capture_output=True, timeout=30)
    assert r.returncode != 0


def test_fetchmail_imap(tmp_path, daemon, pki):
    d = start(daemon, pki)
    bodies = [message(1), message(2, 200000)]
    for b in bodies:
        smtp_deliver(d, b)
    r, got = fetchmail(tmp_path, d, pki, keep=True, protocol="IMAP")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(got) == 2
    for f, b in zip(got, bodies):
        assert f.read_bytes().endswith(b.replace(b"\r\n", b"\n"))
    assert len(messages(d, "joe")) == 2
    # keep: fetchmail marks them \Seen and fetches nothing new the second time.
    r, got = fetchmail(tmp_path, d, pki, keep=True, protocol="IMAP")
    assert r.returncode == 1, r.stdout + r.stderr  # 1: no mail
    # nokeep: fetched, \Deleted and expunged.
    smtp_deliver(d, message(3))
    r, got = fetchmail(tmp_path, d, pki, keep=False, protocol="IMAP")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(got) == 3
    assert messages(d, "joe") == []


def test_two_sessions_see_each_others_changes(daemon, pki):
    """Flags set and messages expunged by one session reach the other at its NOOP."""
    d = start(daemon, pki)
    smtp_deliver(d, message(1))
    smtp_deliver(d, message(2))
    a, b = imap(d, pki), imap(d, pki)
    a.select("INBOX")
    b.select("INBOX")
    b.store("1", "+FLAGS.SILENT", "(\\Flagged)")
    b.store("2", "+FLAGS.SILENT", "(\\Deleted)")
    b.expunge()
    smtp_deliver(d, message(3))
    assert b.untagged_responses.get("RECENT", [b"0"]) == [b"0"]
    a.untagged_responses.clear()
    typ, _ = a.noop()
    assert typ == "OK"
    # \Recent only for a: its SELECT moved the messages out of new/ before b's.
    assert a.untagged_responses.pop("FETCH") == [b"1 (FLAGS (\\Flagged \\Recent))"]
    assert a.untagged_responses.pop("EXPUNGE") == [b"2"]
    assert a.untagged_responses.pop("EXISTS") == [b"2"]
    assert a.uid("SEARCH", "ALL") == ("OK", [b"1 3"])
    a.logout()
    b.logout()


def test_pipelined_after_a_streamed_fetch_and_big_store(daemon, pki):
    """Commands sent behind a FETCH whose body streams over several output drains wait,
    then run intact; a STORE on many messages reports every one to a slow reader."""
    d = start(daemon, pki)
    big = message(1, 600000)
    smtp_deliver(d, big)
    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as c:
        for n in range(2, 402):
            c.sendmail("sender@example.org", ["joe@" + DOMAIN], message(n))
    host, port = d.addr("imaps")
    raw = socket.create_connection((host, port), timeout=30)
    s = client_ctx(pki, pki.user["joe"]).wrap_socket(raw, server_hostname="localhost")
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN joe@example.test {%d+}\r\n%s\r\nb SELECT INBOX\r\n"
              b"c FETCH 1 BODY.PEEK[]\r\nd NOOP\r\ne STORE 1:* +FLAGS (\\Seen)\r\nf NOOP\r\n"
              % (len(PASSWORDS["joe"]), PASSWORDS["joe"].encode()))
    time.sleep(1)  # let the server fill its output while this client does not read
    data = b""
    while not re.search(rb"\r\nf (OK|NO|BAD)", data):
        chunk = f.read1(65536)
        assert chunk, data[-300:]
        data += chunk
    tagged = [l for l in data.split(b"\r\n") if re.match(rb"[a-f] ", l)]
    assert [t[:4] for t in tagged] == [b"a OK", b"b OK", b"c OK", b"d OK", b"e OK", b"f OK"], tagged
    assert len(re.findall(rb"\* \d+ FETCH \(FLAGS \(\\Seen", data)) == 401
    s.close()


def test_append_uidplus(daemon, pki):
    """APPEND stores the message as a delivery does, with its flags, and answers the UID
    (RFC 4315 APPENDUID); the selected INBOX sees it; limits and refusals."""
    d = start(daemon, pki, smtp_extra="max_message_size = 100000\n")
    smtp_deliver(d, message(1))
    m = imap(d, pki)
    typ, data = m.select("INBOX")
    uidvalidity = int(m.untagged_responses["UIDVALIDITY"][0])
    draft = message(2, 5000)
    m.untagged_responses.clear()
    typ, data = m.append("INBOX", "(\\Seen \\Draft)", None, draft)
    assert typ == "OK", data
    assert data[0] == b"[APPENDUID %d 2] APPEND completed" % uidvalidity
    assert m.untagged_responses.get("EXISTS") == [b"2"]
    names = messages(d, "joe")
    assert len(names) == 2 and any(n.endswith(":2,DS") for n in names), names
    assert fetch1(m, "(BODY.PEEK[])", uid="2") == draft  # byte for byte, no headers added
    assert b"\\Draft" in fetch1(m, "(FLAGS)", uid="2")
    # Not selected: APPEND answers too, and the next SELECT shows the message.
    m.unselect()
    typ, data = m.append("INBOX", None, None, message(3))
    assert typ == "OK" and data[0] == b"[APPENDUID %d 3] APPEND completed" % uidvalidity
    typ, data = m.append("Sent", None, None, message(4))
    assert typ == "NO" and b"[TRYCREATE]" in data[0]
    assert m.select("INBOX") == ("OK", [b"3"])
    # Over [smtp] max_message_size: refused before the octets are sent (synchronizing
    # literal), or read and dropped (LITERAL+); the session goes on.
    tag = m._new_tag()
    m.send(tag + b" APPEND INBOX {100001}\r\n")
    assert m.readline().startswith(tag + b" NO [TOOBIG]")
    tag = m._new_tag()
    m.send(tag + b" APPEND INBOX {100001+}\r\n" + b"x" * 100001 + b"\r\n")
    assert m.readline().startswith(tag + b" NO [TOOBIG]")
    assert m.noop()[0] == "OK"
    assert len(messages(d, "joe")) == 3
    # UID EXPUNGE (RFC 4315 2.1) removes only the \Deleted messages of its UID set.
    m.store("2:3", "+FLAGS.SILENT", "(\\Deleted)")
    m.untagged_responses.clear()
    typ, data = m._simple_command("UID", "EXPUNGE", "3")
    assert typ == "OK" and m.untagged_responses.get("EXPUNGE") == [b"3"], m.untagged_responses
    assert m.uid("SEARCH", "DELETED") == ("OK", [b"2"])
    assert len(messages(d, "joe")) == 2
    m.logout()


MBSYNCRC = """IMAPAccount gw
Host localhost
Port {port}
User joe@example.test
PassCmd "cat {pwfile}"
SSLType IMAPS
SSLVersions TLSv1.2 TLSv1.3
CertificateFile {ca}
ClientCertificate {crt}
ClientKey {key}
AuthMechs PLAIN

IMAPStore gw-far
Account gw

MaildirStore near
Path {near}/
Inbox {near}/INBOX

Channel ch
Far :gw-far:
Near :near:
Patterns INBOX
Create Near
Expunge Both
SyncState *
"""


def test_mbsync_both_ways(tmp_path, daemon, pki):
    """isync's mbsync with the client certificate: new mail down; a flag, a deletion and
    a new message made in the local Maildir go up (APPEND, STORE, EXPUNGE)."""
    d = start(daemon, pki)
    bodies = [message(1), message(2, 20000)]
    for b in bodies:
        smtp_deliver(d, b)
    host, port = d.addr("imaps")
    joe = pki.user["joe"]
    near = tmp_path / "near"
    near.mkdir()
    pwfile = tmp_path / "pw"
    pwfile.write_text(PASSWORDS["joe"])
    rc = tmp_path / "mbsyncrc"
    rc.write_text(MBSYNCRC.format(port=port, pwfile=pwfile, ca=pki.ca.crt, crt=joe.crt,
                                  key=joe.key, near=near))
    run = lambda: subprocess.run(["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True,
                                 timeout=60, env=dict(os.environ, HOME=str(tmp_path)))
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    local = sorted((near / "INBOX").glob("*/*"))
    # mbsync keeps LF line ends locally and adds its X-TUID header; the rest is the same.
    got = sorted(re.sub(rb"X-TUID: \S+\n", b"", p.read_bytes()) for p in local)
    assert got == sorted(f.replace(b"\r\n", b"\n") for f in stored(d))
    # Locally: the small one read, the big one deleted, a new one written.
    small = [p for p in local if len(p.read_bytes()) < 5000][0]
    big = [p for p in local if p != small][0]
    small.rename(near / "INBOX" / "cur" / (small.name.split(":")[0] + ":2,S"))
    big.unlink()
    new = message(3)
    (near / "INBOX" / "new" / "1.local.host").write_bytes(new)
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    names = messages(d, "joe")
    assert len(names) == 2, names
    assert sum("S" in n.partition(":2,")[2] for n in names) == 1, names
    assert new in [re.sub(rb"X-TUID: \S+\r\n", b"", f) for f in stored(d)]  # APPENDed
    m = imap(d, pki)
    m.select("INBOX")
    assert m.search(None, "SEEN") == ("OK", [b"1"])
    assert m.search(None, "SUBJECT", '"test 3"') == ("OK", [b"2"])
    m.logout()


def test_search_sent_dates(daemon, pki):
    d = start(daemon, pki)
    smtp_deliver(d, b"Date: Tue, 3 Mar 2026 23:30:00 -0800\r\n" + message(1))
    smtp_deliver(d, b"Date: 28 Feb 26 00:00 +0000\r\n" + message(2))
    smtp_deliver(d, message(3))  # no Date: field: never matches
    m = imap(d, pki)
    m.select("INBOX")
    assert m.search(None, "SENTON", "3-Mar-2026") == ("OK", [b"1"])  # the date as written
    assert m.search(None, "SENTBEFORE", "3-Mar-2026") == ("OK", [b"2"])
    assert m.search(None, "SENTSINCE", "28-Feb-2026") == ("OK", [b"1 2"])
    assert m.search(None, "NOT", "SENTSINCE", "1-Jan-1990") == ("OK", [b"3"])
    m.logout()


def test_sessions_per_user(daemon, pki):
    """Ten logged-in sessions per user; the eleventh login is refused, and allowed again
    once one has logged out."""
    d = start(daemon, pki)
    ms = [imap(d, pki) for _ in range(10)]
    extra = imap(d, pki, login=None)
    with pytest.raises(imaplib.IMAP4.error, match=r"UNAVAILABLE\] Too many sessions"):
        extra.login("joe@" + DOMAIN, PASSWORDS["joe"])
    assert imap(d, pki, cert="ann", login="ann").logout()[0] == "BYE"  # others are not limited
    ms.pop().logout()
    d.wait_log(r"imap .*closed \(LOGOUT\), joe@example.test")
    assert extra.login("joe@" + DOMAIN, PASSWORDS["joe"])[0] == "OK"
    for m in ms + [extra]:
        m.logout()


def test_long_header_field_lists(daemon, pki):
    """BODY[HEADER.FIELDS (...)] with 64 names of 127 octets (8 KiB of names): the
    response echoes the section exactly (a literal of its own length follows), and a
    longer name is refused."""
    d = start(daemon, pki)
    smtp_deliver(d, message(1))
    m = imap(d, pki)
    m.select("INBOX")
    names = [("X-%03d-" % i).encode() + b"n" * 120 for i in range(63)] + [b"Subject"]
    typ, data = m.fetch("1", b"(BODY.PEEK[HEADER.FIELDS (" + b" ".join(names) + b")])")
    assert typ == "OK", data
    assert data[0][0] == b"1 (BODY[HEADER.FIELDS (" + b" ".join(b'"%s"' % n for n in names) + \
        b")] {19}"
    assert data[0][1] == b"Subject: test 1\r\n\r\n"
    with pytest.raises(imaplib.IMAP4.error, match="Header field name too long"):
        m.fetch("1", b"(BODY.PEEK[HEADER.FIELDS (" + b"y" * 128 + b")])")
    assert m.noop()[0] == "OK"
    m.logout()


def test_imaps_needs_tls(daemon):
    """[imaps] without the certificate gate is a configuration error, as for [pop3s]."""
    d = daemon(start=False)
    d.write_conf("[imaps]\nlisten = 127.0.0.1:0\n")
    r = subprocess.run([d.prog, "-c", d.conf_path, "-t"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "[imaps] needs [tls] cert, key, ca and crl" in r.stderr


# ---- the password check runs on a worker thread (issue 11) ----------------------------

def imap_raw(d, pki, cert="joe"):
    """A TLS connection to IMAPS with cert's certificate, past the greeting: (sock, file)."""
    host, port = d.addr("imaps")
    raw = socket.create_connection((host, port), timeout=15)
    s = client_ctx(pki, pki.user[cert]).wrap_socket(raw, server_hostname="localhost")
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK ")
    return s, f


def test_commands_pipelined_behind_a_login_wait_for_the_password_check(daemon, pki):
    """LOGIN, SELECT, FETCH and LOGOUT in one write: the session takes nothing while the
    password is checked off the loop, then answers every command, in order, as the
    logged-in user. A wrong password pipelined the same way: its NO (after the
    throttle's delay) comes before the reply to the command behind it, which is refused
    as not logged in."""
    d = start(daemon, pki)
    body = message(1)
    smtp_deliver(d, body)
    s, f = imap_raw(d, pki)
    user = b"joe@" + DOMAIN.encode()
    s.sendall(b'a1 LOGIN %s "%s"\r\na2 SELECT INBOX\r\na3 FETCH 1 (BODY.PEEK[]<0.11>)\r\n'
              b"a4 LOGOUT\r\n" % (user, PASSWORDS["joe"].encode()))
    lines = []
    while not lines or not lines[-1].startswith(b"a4 "):
        lines.append(f.readline())
    tagged = [l for l in lines if l[:1] == b"a"]
    assert [t[:5] for t in tagged] == [b"a1 OK", b"a2 OK", b"a3 OK", b"a4 OK"], lines
    assert b"* 1 FETCH (BODY[]<0> {11}\r\n" in lines
    s.close()
    s, f = imap_raw(d, pki)
    s.sendall(b"b1 LOGIN %s wrong\r\nb2 SELECT INBOX\r\n" % user)
    assert f.readline().startswith(b"b1 NO [AUTHENTICATIONFAILED]")
    assert f.readline().startswith(b"b2 BAD Log in first")
    s.close()
    d.stop()
    d.assert_no_sanitizer_report()


def test_connection_closed_while_its_password_is_checked(daemon, pki):
    """A client that sends LOGIN and resets the connection while the password is being
    checked: the result finds the session gone and is dropped, nothing is logged in (no
    session of joe is left counted), and the daemon (ASan build) reports no use of the
    freed session. joe's hash is set with 1,000,000 rounds (the most that verify) by the
    admin's tool, so the check is still running when the reset arrives."""
    import struct
    from mgw import binary
    d = start(daemon, pki, run=False)
    subprocess.run([binary("mailgw-passwd"), "-r", "1000000", "-u", d.user, "set", d.data,
                    "joe@" + DOMAIN], input=PASSWORDS["joe"].encode(), check=True,
                   capture_output=True)
    d.start()
    smtp_deliver(d, message(1))
    m = d.mark()
    s, f = imap_raw(d, pki)
    s.sendall(b'a1 LOGIN joe@%s "%s"\r\n' % (DOMAIN.encode(), PASSWORDS["joe"].encode()))
    d.wait_log(r"imap [\d.:]+: checking the password of 'joe@example\.test' on a worker",
               start=m)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    f.close()
    s.close()  # SO_LINGER 0: a reset, noticed at once
    d.wait_log(r"imap [\d.:]+: closed \(peer ", start=m)
    d.wait_log(r"imap: the password check of 'joe@example\.test' finished after its "
               r"connection had closed: result dropped", start=m, timeout=60)
    assert not re.search(r"login joe@example\.test", "\n".join(d.lines[m:]))
    mm = imap(d, pki)
    assert mm.select("INBOX") == ("OK", [b"1"])
    mm.logout()
    d.stop()
    d.assert_no_sanitizer_report()
