"""IMAPS behind the certificate gate (RFC 3501 over implicit TLS) with real clients:
Python's imaplib, curl imaps://, fetchmail with protocol IMAP; mail arrives over SMTP
(smtplib) into the store, as in production."""
import grp
import imaplib
import os
import poplib
import pwd
import re
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from gate import DOMAIN, PASSWORDS, add_user, client_ctx, fetchmail, install_tls, maildir, message, messages, tls_dir
from mgw import maildir_arrival
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
    for _, path in sorted(paths, key=lambda p: maildir_arrival(p[0])):
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


# The special-use folders every user has from the first login on (RFC 6154), as LIST
# shows them after INBOX.
SPECIAL_LIST = [b'(\\HasNoChildren \\Archive) "." "Archive"', b'(\\HasNoChildren \\Drafts) "." "Drafts"',
                b'(\\HasNoChildren \\Junk) "." "Junk"', b'(\\HasNoChildren \\Sent) "." "Sent"',
                b'(\\HasNoChildren \\Trash) "." "Trash"']


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
              b"NAMESPACE", b"UNSELECT", b"ENABLE", b"MOVE", b"CHILDREN", b"SPECIAL-USE"):
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
    assert data == [b'(\\HasNoChildren) "." INBOX'] + SPECIAL_LIST, data
    typ, data = m.lsub('""', "*")
    assert data == [b'(\\HasNoChildren) "." INBOX'] + SPECIAL_LIST, data
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
    assert m.search(None, "KEYWORD", "$Junk") == ("OK", [b""])  # no message has it
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
    assert r.stdout == b"".join(b"* LIST %s\r\n" % x for x in [b'(\\HasNoChildren) "." INBOX'] + SPECIAL_LIST)
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
    typ, data = m.append("Nonexistent", None, None, message(4))
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


def mbsync(tmp_path, d, pki, template):
    """An mbsync run against d with joe's certificate (run() runs it) and its local
    Maildir store."""
    host, port = d.addr("imaps")
    joe = pki.user["joe"]
    near = tmp_path / "near"
    near.mkdir()
    pwfile = tmp_path / "pw"
    pwfile.write_text(PASSWORDS["joe"])
    rc = tmp_path / "mbsyncrc"
    rc.write_text(template.format(port=port, pwfile=pwfile, ca=pki.ca.crt, crt=joe.crt,
                                  key=joe.key, near=near))
    run = lambda: subprocess.run(["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True,
                                 timeout=60, env=dict(os.environ, HOME=str(tmp_path)))
    return run, near


def test_mbsync_both_ways(tmp_path, daemon, pki):
    """isync's mbsync with the client certificate: new mail down; a flag, a deletion and
    a new message made in the local Maildir go up (APPEND, STORE, EXPUNGE); then a flag,
    an expunge and a new delivery on the server come down."""
    d = start(daemon, pki)
    bodies = [message(1), message(2, 20000)]
    for b in bodies:
        smtp_deliver(d, b)
    run, near = mbsync(tmp_path, d, pki, MBSYNCRC)
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
    # On the server: the read one flagged, the uploaded one deleted, a new delivery.
    m.store("1", "+FLAGS", "\\Flagged")
    m.store("2", "+FLAGS", "\\Deleted")
    m.expunge()
    m.logout()
    smtp_deliver(d, message(4))
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    local = {re.search(rb"Subject: (test \d)", p.read_bytes()).group(1): p.name.partition(":2,")[2]
             for p in (near / "INBOX").glob("*/*")}
    assert local == {b"test 1": "FS", b"test 4": ""}, local


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


# ---- folders (Maildir++ as dovecot), COPY, MOVE, the move to dovecot ----------------

def folder_dir(d, name, user="joe"):
    return os.path.join(maildir(d, user), "." + name)


def test_folders_first_login_create_list_rename_delete(daemon, pki):
    """The special-use folders appear at the first login, in dovecot's layout, owned by
    the daemon; CREATE/RENAME/DELETE/SUBSCRIBE/LIST/LSUB with wildcards and attributes;
    bad names are refused and touch nothing."""
    d = start(daemon, pki)
    smtp_deliver(d, message(1))
    md = maildir(d, "joe")
    assert not os.path.exists(os.path.join(md, "subscriptions"))
    m = imap(d, pki)
    owner = os.stat(os.path.join(md, "cur")).st_uid  # the daemon's user made the Maildir
    for name in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
        st = os.stat(folder_dir(d, name))
        assert (st.st_uid, st.st_mode & 0o777) == (owner, 0o700), name
        assert sorted(os.listdir(folder_dir(d, name))) == ["cur", "maildirfolder", "new", "tmp"]
    with open(os.path.join(md, "subscriptions"), "rb") as f:
        assert f.read() == b"V\t2\n\nSent\nDrafts\nTrash\nJunk\nArchive\n"  # dovecot 2.3's format
    assert m.lsub()[1] == [b'(\\HasNoChildren) "." INBOX'] + SPECIAL_LIST
    # CREATE, hierarchy with '.', children, \Noselect for a parent that does not exist.
    assert m.create("Archive.2026") == ("OK", [b"CREATE completed"])
    assert os.path.isdir(os.path.join(folder_dir(d, "Archive.2026"), "cur"))
    assert m.create("Projects.Alpha.Docs")[0] == "OK"
    assert m.create("Entw&APw-rfe")[0] == "OK"  # modified UTF-7 for "Entwürfe"
    assert os.path.isdir(folder_dir(d, "Entw&APw-rfe"))
    typ, data = m.list('""', "Archive*")
    assert data == [b'(\\HasChildren \\Archive) "." "Archive"',
                    b'(\\HasNoChildren) "." "Archive.2026"'], data
    typ, data = m.list('""', "%")
    assert b'(\\HasChildren \\Noselect) "." "Projects"' in data, data
    assert not any(b"Alpha" in x or b"2026" in x for x in data), data
    typ, data = m.list('""', "Projects.%")
    assert data == [b'(\\HasChildren \\Noselect) "." "Projects.Alpha"'], data
    typ, data = m.list("Projects.", "*")  # reference + pattern
    assert data == [b'(\\HasChildren \\Noselect) "." "Projects.Alpha"',
                    b'(\\HasNoChildren) "." "Projects.Alpha.Docs"'], data
    typ, data = m.select("Projects")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0], data
    assert m.status("Nope", "(MESSAGES)")[1][0].startswith(b"[NONEXISTENT]")
    assert m.list('""', "inbox")[1] == [b'(\\HasNoChildren) "." INBOX']  # RFC 3501 5.1
    assert m.list('""', "sent")[1] == [None]  # other names are case-sensitive, as dovecot
    typ, data = m.select("Sent", readonly=True)
    assert typ == "OK" and data == [b"0"]
    assert "READ-ONLY" in m.untagged_responses
    m.unselect()
    # Refusals: existing names, INBOX, bad names; nothing appears on disk.
    folders = lambda: sorted(n for n in os.listdir(md) if n.startswith("."))
    before = folders()
    assert m.create("Archive")[1][0].startswith(b"[ALREADYEXISTS]")
    assert m.create("inbox")[0] == "NO"
    for bad in ("../x", "a/b", ".x", "x..", "a..b", "x*", "x%", "&Jjo", "&AGE-", "&ZeVnLIqe",
                "a\\b", "x" * 201, "Ab\x01c"):
        typ, data = m._simple_command("CREATE", '"%s"' % bad.replace("\\", "\\\\"))
        assert typ == "NO" and (b"[CANNOT]" in data[0] or b"BAD" in data[0]), (bad, data)
    assert m._simple_command("CREATE", '"%s"' % ("x" * 200))[0] == "OK"  # the longest
    assert m.create("Later.")[0] == "OK"  # RFC 3501 6.3.3: children to follow
    assert os.path.isdir(folder_dir(d, "Later")) and m.delete("Later")[0] == "OK"
    assert m.delete("x" * 200)[0] == "OK"
    assert folders() == before
    assert not os.path.exists(os.path.join(os.path.dirname(md), "x"))
    # SUBSCRIBE/UNSUBSCRIBE and LSUB; INBOX cannot be unsubscribed.
    assert m.subscribe("Archive.2026")[0] == "OK"
    assert m.unsubscribe("Junk")[0] == "OK"
    assert m.unsubscribe("INBOX")[0] == "NO"
    typ, data = m.lsub('""', "*")
    assert b'(\\HasNoChildren) "." "Archive.2026"' in data and not any(b"Junk" in x for x in data)
    typ, data = m.lsub('""', "Projects.%")
    assert data == [None] or data == [], data
    with open(os.path.join(md, "subscriptions"), "rb") as f:
        assert f.read() == b"V\t2\n\nSent\nDrafts\nTrash\nArchive\nArchive\t2026\n"
    # RENAME with children; to an existing name; of a name that does not exist.
    smtp_deliver(d, message(2))
    assert m.select("Archive.2026")[0] == "OK"
    assert m.append("Archive.2026", None, None, message(3))[0] == "OK"
    m.unselect()
    assert m.rename("Archive", "Old") == ("OK", [b"RENAME completed"])
    assert not os.path.exists(folder_dir(d, "Archive"))
    assert os.path.isdir(folder_dir(d, "Old")) and os.path.isdir(folder_dir(d, "Old.2026"))
    assert m.select("Old.2026") == ("OK", [b"1"])
    m.unselect()
    assert m.rename("Old", "Sent")[1][0].startswith(b"[ALREADYEXISTS]")
    assert m.rename("Nope", "Nope2")[1][0].startswith(b"[NONEXISTENT]")
    assert m.rename("Old", "Old.2026.x")[0] == "NO"  # into itself
    assert m.rename("Old", "../Old")[1][0].startswith(b"[CANNOT]")
    # RENAME INBOX (RFC 3501 6.3.5): its messages move, INBOX stays, empty.
    assert m.status("INBOX", "(MESSAGES)")[1] == [b'"INBOX" (MESSAGES 2)']
    assert m.rename("INBOX", "Saved")[0] == "OK"
    assert m.status("INBOX", "(MESSAGES)")[1] == [b'"INBOX" (MESSAGES 0)']
    assert m.status("Saved", "(MESSAGES UIDNEXT)")[1] == [b'"Saved" (MESSAGES 2 UIDNEXT 3)']
    assert messages(d, "joe") == []
    # DELETE: the folder and its files go, its children stay; INBOX cannot.
    assert m.delete("Old")[0] == "OK"
    assert not os.path.exists(folder_dir(d, "Old")) and os.path.isdir(folder_dir(d, "Old.2026"))
    typ, data = m.list('""', "Old*")
    assert data == [b'(\\HasChildren \\Noselect) "." "Old"', b'(\\HasNoChildren) "." "Old.2026"'], data
    assert m.delete("Old")[1][0].startswith(b"[NONEXISTENT]")
    assert m.delete("INBOX")[0] == "NO"
    assert m.delete("Old.2026")[0] == "OK"
    assert not os.path.exists(folder_dir(d, "Old.2026"))
    # A folder deleted and created again never gets the UIDVALIDITY it had.
    uv1 = m.status("Junk", "(UIDVALIDITY)")[1][0]
    assert m.delete("Junk")[0] == "OK" and m.create("Junk")[0] == "OK"
    uv2 = m.status("Junk", "(UIDVALIDITY)")[1][0]
    assert int(uv2.split()[-1].rstrip(b")")) > int(uv1.split()[-1].rstrip(b")")), (uv1, uv2)
    # The second login does not create the special-use folders again.
    assert m.delete("Drafts")[0] == "OK"
    m.logout()
    m = imap(d, pki)
    assert not any(b"Drafts" in x for x in m.list()[1])
    m.logout()


def test_append_copy_move_into_folders(daemon, pki):
    """APPEND into a folder keeps its date-time and flags (APPENDUID); COPY and MOVE
    answer COPYUID, MOVE expunges; per-folder UIDs; quota over all folders."""
    d = start(daemon, pki, smtp_extra="quota = 20000\n")
    for n in (1, 2, 3):
        smtp_deliver(d, message(n))
    m = imap(d, pki)
    uv_sent = int(m.status("Sent", "(UIDVALIDITY)")[1][0].split()[-1].rstrip(b")"))
    when = "14-Jul-2021 10:20:30 +0200"
    typ, data = m.append("Sent", "(\\Seen \\Answered)", '"%s"' % when, message(10, 2000))
    assert typ == "OK" and data[0] == b"[APPENDUID %d 1] APPEND completed" % uv_sent, data
    assert m.select("Sent") == ("OK", [b"1"])
    typ, data = m.fetch("1", "(INTERNALDATE FLAGS)")
    assert b'INTERNALDATE "14-Jul-2021 08:20:30 +0000"' in data[0], data
    assert b"\\Seen" in data[0] and b"\\Answered" in data[0], data
    assert fetch1(m, "BODY.PEEK[]") == message(10, 2000)
    names = os.listdir(os.path.join(folder_dir(d, "Sent"), "cur"))
    assert len(names) == 1 and names[0].endswith(":2,RS")
    assert int(os.stat(os.path.join(folder_dir(d, "Sent"), "cur", names[0])).st_mtime) == 1626250830
    # COPY from INBOX: COPYUID pairs; source stays; flags and date kept.
    assert m.select("INBOX") == ("OK", [b"3"])
    uv_in = int(m.untagged_responses["UIDVALIDITY"][0])
    m.store("2", "+FLAGS.SILENT", "(\\Flagged)")
    uv_ar = int(m.status("Archive", "(UIDVALIDITY)")[1][0].split()[-1].rstrip(b")"))
    typ, data = m.copy("1:2", "Archive")
    assert typ == "OK" and data[0] == b"[COPYUID %d 1:2 1:2] COPY completed" % uv_ar, data
    assert m.search(None, "ALL") == ("OK", [b"1 2 3"])
    typ, data = m._simple_command("UID", "COPY", "3", "Archive")
    assert data[0] == b"[COPYUID %d 3 3] UID COPY completed" % uv_ar, data
    assert m.copy("1", "Nowhere")[1][0].startswith(b"[TRYCREATE]")
    assert m.copy("1", "../x")[1][0].startswith(b"[CANNOT]")
    with pytest.raises(imaplib.IMAP4.error, match="Invalid message sequence number"):
        m.copy("9", "Archive")
    # COPY into the selected mailbox itself: EXISTS, new UID.
    m.untagged_responses.clear()
    typ, data = m.copy("3", "INBOX")
    assert data[0] == b"[COPYUID %d 3 4] COPY completed" % uv_in, data
    assert m.untagged_responses.get("EXISTS") == [b"4"]
    # MOVE (RFC 6851): COPYUID untagged, EXPUNGE, the files leave INBOX.
    m.untagged_responses.clear()
    typ, data = m._simple_command("MOVE", "2", "Trash")
    assert typ == "OK", data
    assert m.untagged_responses.get("OK", [])[-1].startswith(b"[COPYUID "), m.untagged_responses
    assert m.untagged_responses.get("EXPUNGE") == [b"2"]
    assert m.search(None, "ALL") == ("OK", [b"1 2 3"])
    m.untagged_responses.clear()
    typ, data = m.uid("MOVE", "3:4", "Trash")
    assert typ == "OK" and m.untagged_responses.get("EXPUNGE") == [b"3", b"2"], m.untagged_responses
    assert len(messages(d, "joe")) == 1
    typ, data = m.select("Trash")
    assert data == [b"3"]
    assert m.fetch("1", "FLAGS")[1][0].count(b"\\Flagged") == 1  # flags moved along
    # UIDs per folder, never reused: expunge the last one of Trash, append again.
    m.store("3", "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
    typ, data = m.append("Trash", None, None, message(11))
    assert data[0].endswith(b" 4] APPEND completed"), data
    # MOVE in a read-only mailbox is refused.
    m.select("Archive", readonly=True)
    assert m._simple_command("MOVE", "1", "Trash")[1][0].startswith(b"[READ-ONLY]")
    # The quota counts every folder (maildirsize): of 20000 bytes, INBOX uses a few
    # hundred, the folders some 3000.
    m.unselect()
    typ, data = m.append("Drafts", None, None, message(12, 18000))
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    assert os.listdir(os.path.join(folder_dir(d, "Drafts"), "cur")) == []
    m.logout()


def test_folder_sessions_see_each_others_changes(daemon, pki):
    """Two sessions on one folder: APPEND, COPY, flag changes and expunges by one reach
    the other at NOOP, and IDLE is woken by an APPEND into its folder."""
    d = start(daemon, pki)
    a, b = imap(d, pki), imap(d, pki)
    for n in (1, 2):
        assert b.append("Archive", None, None, message(n))[0] == "OK"
    assert a.select("Archive") == ("OK", [b"2"])
    b.select("Archive")
    b.store("1", "+FLAGS.SILENT", "(\\Flagged \\Deleted)")
    b.expunge()
    b.store("1", "+FLAGS.SILENT", "(\\Seen)")
    smtp_deliver(d, message(3))
    b.select("INBOX")
    b.copy("1", "Archive")
    a.untagged_responses.clear()
    assert a.noop()[0] == "OK"
    assert a.untagged_responses.pop("FETCH") == [b"2 (FLAGS (\\Seen \\Recent))"]
    assert a.untagged_responses.pop("EXPUNGE") == [b"1"]
    assert a.untagged_responses.pop("EXISTS") == [b"2"]
    assert a.uid("SEARCH", "ALL") == ("OK", [b"2 3"])
    # IDLE in the folder, woken by the other session's APPEND.
    tag = a._new_tag()
    a.send(tag + b" IDLE\r\n")
    assert a.readline().startswith(b"+ ")
    b.append("Archive", None, None, message(4))
    a.sock.settimeout(5)
    assert a.readline() == b"* 3 EXISTS\r\n"
    a.send(b"DONE\r\n")
    while not a.readline().startswith(tag + b" OK"):
        pass
    # The folder deleted by the other session: the session that has it selected ends.
    assert b.delete("Archive")[0] == "OK"
    with pytest.raises(imaplib.IMAP4.abort, match="deleted or renamed"):
        a.noop()
    b.logout()


def dovecot_view(tmp_path, md, folders):
    """What Debian's dovecot (its imap binary, preauthenticated, run as the owner of the
    Maildir as a server would) says about the copied Maildir md: {folder: (UIDVALIDITY,
    [(uid, flags)])}, and its LIST and LSUB lines."""
    owner = pwd.getpwuid(os.stat(md).st_uid).pw_name
    group = grp.getgrgid(os.stat(md).st_gid).gr_name
    conf = tmp_path / "dovecot.conf"
    conf.write_text("base_dir = %s/run\nstate_dir = %s/state\nlog_path = %s/dovecot.log\n"
                    "ssl = no\nprotocols =\nmail_location = maildir:%s\n"
                    "namespace inbox {\n  inbox = yes\n}\n" % (tmp_path, tmp_path, tmp_path, md))
    script = 'l LIST "" "*"\r\nls LSUB "" "*"\r\n'
    for i, f in enumerate(folders):
        script += 's%d EXAMINE "%s"\r\nf%d UID FETCH 1:* (FLAGS)\r\n' % (i, f, i)
    # Every body of INBOX: dovecot checks the sizes it was given (W in the list) against
    # what it sends, and logs an error if they differ.
    script += "b EXAMINE INBOX\r\nbb UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])\r\nz LOGOUT\r\n"
    r = subprocess.run(["/usr/lib/dovecot/imap", "-c", str(conf), "-o", "mail_uid=" + owner,
                        "-o", "mail_gid=" + group], input=script, capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, USER="joe", HOME=str(tmp_path)))
    assert r.returncode == 0 and "z OK" in r.stdout, r.stdout + r.stderr
    logf = tmp_path / "dovecot.log"  # the standalone imap logs to stderr
    log = r.stderr + (logf.read_text() if logf.exists() else "")
    assert "Disconnected: Logged out" in log, log
    assert not re.search(r"Error|Panic|Fatal|[Cc]orrupt", log), log
    assert "bb OK" in r.stdout, r.stdout
    # The size dovecot announces is the size of what it sends, for every message.
    sizes = re.findall(r"RFC822\.SIZE (\d+) BODY\[\] \{(\d+)\}", r.stdout)
    assert sizes and all(a == b for a, b in sizes), sizes
    view, cur, uv, lists = {}, None, None, []
    for line in r.stdout.splitlines():
        if line.startswith("* LIST") or line.startswith("* LSUB"):
            lists.append(line)
        mm = re.match(r"\* OK \[UIDVALIDITY (\d+)\]", line)
        if mm:
            uv = int(mm.group(1))
        if line.startswith("b OK"):
            cur = None
        mm = re.match(r"s(\d+) OK", line)
        if mm:
            cur = folders[int(mm.group(1))]
            view[cur] = (uv, [])
        if cur and re.match(r"\* \d+ FETCH ", line):
            view[cur][1].append(fetch_uid_flags(line))
    return view, lists


def fetch_uid_flags(line):
    """(uid, sorted flags without \\Recent) of a FETCH response line, either order."""
    u = int(re.search(r"UID (\d+)", line).group(1))
    fl = re.search(r"FLAGS \(([^)]*)\)", line).group(1).split()
    return u, sorted(f for f in fl if f != "\\Recent")


def mailgw_view(m, folders):
    view = {}
    for f in folders:
        typ, data = m.select(f, readonly=True)
        assert typ == "OK", (f, data)
        uv = int(m.untagged_responses["UIDVALIDITY"][0])
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        view[f] = (uv, [fetch_uid_flags("* " + x.decode()) for x in data if x is not None])
    return view


def test_dovecot_reads_the_same_uids(tmp_path, daemon, pki):
    """The day the office moves to dovecot: Debian's dovecot, pointed at a copy of a
    Maildir mailgwd wrote (SMTP deliveries, APPENDs, a COPY and a MOVE into folders, an
    expunge), reports the same UIDVALIDITY, UIDs and flags per folder as mailgwd did to
    imaplib, and the same folders and subscriptions; so no client downloads anything
    again."""
    d = start(daemon, pki)
    for n in (1, 2, 3):
        smtp_deliver(d, message(n))
    # A message the admin copied in from an old server: LF line ends, no final newline
    # (mailgwd sends one CRLF more than dovecot there, and must not make dovecot's
    # cached size wrong).
    old = os.path.join(maildir(d, "joe"), "cur", "1999999999.M1P1.oldserver:2,S")  # UID 4
    with open(old, "wb") as f:
        f.write(b"Subject: old\n\nno final newline")
    m = imap(d, pki)
    m.create("Archive.2026")
    m.append("Sent", "(\\Seen)", None, message(4))
    m.append("INBOX", "(\\Flagged)", None, message(5))
    m.select("INBOX")
    m.store("1", "+FLAGS.SILENT", "(\\Seen \\Answered)")
    m.copy("1:2", "Archive.2026")
    m._simple_command("MOVE", "3", "Trash")
    m.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
    folders = ["INBOX", "Sent", "Archive.2026", "Trash", "Drafts"]
    ours = mailgw_view(m, folders)
    m.logout()
    assert [len(ours[f][1]) for f in folders] == [3, 1, 2, 1, 0], ours
    assert [u for u, _ in ours["INBOX"][1]] == [2, 4, 5]  # 1 expunged, 3 moved; 4, 5: the APPEND, the old file
    # The admin copies the mail directory to the new server (cp -a keeps the owner).
    copy = tmp_path / "dovecot-mail"
    subprocess.run(["cp", "-a", maildir(d, "joe"), str(copy)], check=True)
    theirs, lists = dovecot_view(tmp_path, str(copy), folders)
    for f in folders:
        assert theirs[f][0] == ours[f][0], (f, theirs[f], ours[f])
        assert [u for u, _ in theirs[f][1]] == [u for u, _ in ours[f][1]], (f, theirs[f], ours[f])
        assert [fl for _, fl in theirs[f][1]] == [fl for _, fl in ours[f][1]], (f, theirs[f], ours[f])
    assert '* LIST (\\HasNoChildren) "." Archive.2026' in lists, lists
    assert '* LSUB () "." Sent' in lists and '* LSUB () "." Archive' in lists, lists


def keyword_file(d, folder=""):
    """The folder's dovecot-keywords as {letter: name}."""
    path = os.path.join(maildir(d, "joe"), "." + folder if folder else "", "dovecot-keywords")
    with open(path) as f:
        return {chr(ord("a") + int(i)): n for i, n in (l.split(" ", 1) for l in f.read().splitlines())}


def file_letters(d, folder=""):
    """The ":2," letters of the message files of the folder, sorted."""
    md = os.path.join(maildir(d, "joe"), "." + folder if folder else "")
    return sorted(n.split(":2,")[1] for n in os.listdir(os.path.join(md, "cur")))


def test_keywords_stored_as_dovecot_does(tmp_path, daemon, pki):
    """Keywords (RFC 3501 2.3.2): STORE +/-/replace, FLAGS and PERMANENTFLAGS with \\*,
    SEARCH KEYWORD/UNKEYWORD, APPEND with keywords, COPY and MOVE remapping them into the
    destination's dovecot-keywords; stored as dovecot stores them (letters a-z in the file
    name, the names in dovecot-keywords), and Debian's dovecot reads the same keywords."""
    d = start(daemon, pki)
    for n in (1, 2, 3):
        smtp_deliver(d, message(n))
    m = imap(d, pki)
    typ, _ = m.select("INBOX")
    assert typ == "OK"
    assert m.untagged_responses["PERMANENTFLAGS"][-1].endswith(b" \\*)")
    typ, data = m.store("1:2", "+FLAGS", "($Forwarded Work)")
    assert typ == "OK" and all(b"$Forwarded" in x and b"Work" in x for x in data), data
    # A new keyword is announced in FLAGS at once (RFC 3501 7.2.6).
    assert b"$Forwarded Work" in m.untagged_responses["FLAGS"][-1], m.untagged_responses
    typ, data = m.store("2", "+FLAGS", "(\\Seen $Junk)")
    assert typ == "OK" and b"$Junk" in data[0] and b"\\Seen" in data[0], data
    typ, data = m.store("1", "-FLAGS", "(work)")  # names ignore case, as dovecot's
    assert typ == "OK" and b"Work" not in data[0] and b"$Forwarded" in data[0], data
    typ, data = m.store("3", "FLAGS", "(Todo)")
    assert typ == "OK" and b"Todo" in data[0], data
    assert m.search(None, "KEYWORD", "$Forwarded") == ("OK", [b"1 2"])
    assert m.search(None, "KEYWORD", "WORK") == ("OK", [b"2"])
    assert m.search(None, "UNKEYWORD", "$Junk") == ("OK", [b"1 3"])
    assert m.search(None, "KEYWORD", "Nonesuch") == ("OK", [b""])
    assert m.search(None, "UNKEYWORD", "Nonesuch") == ("OK", [b"1 2 3"])
    assert keyword_file(d) == {"a": "$Forwarded", "b": "Work", "c": "$Junk", "d": "Todo"}
    assert file_letters(d) == ["Sabc", "a", "d"]
    typ, data = m.append("Archive", "(\\Seen Todo Receipt)", None, message(4))
    assert typ == "OK", data
    # COPY and MOVE keep the keywords, under the destination's own letters.
    assert m.copy("2", "Archive")[0] == "OK"
    typ, data = m._simple_command("MOVE", "1", "Archive")
    assert typ == "OK", data
    assert keyword_file(d, "Archive") == {"a": "Todo", "b": "Receipt", "c": "$Forwarded",
                                          "d": "Work", "e": "$Junk"}
    ours = mailgw_view(m, ["INBOX", "Archive"])
    assert [fl for _, fl in ours["Archive"][1]] == [["Receipt", "Todo", "\\Seen"],
                                                    ["$Forwarded", "$Junk", "Work", "\\Seen"],
                                                    ["$Forwarded"]], ours
    # A second session sees the keywords and the keyword list of the folder.
    m2 = imap(d, pki)
    assert m2.select("Archive")[0] == "OK"
    assert m2.untagged_responses["FLAGS"][-1] == \
        b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft Todo Receipt $Forwarded Work $Junk)"
    assert m2.search(None, "KEYWORD", "Receipt") == ("OK", [b"1"])
    m2.logout()
    m.logout()
    copy = tmp_path / "dovecot-mail"
    subprocess.run(["cp", "-a", maildir(d, "joe"), str(copy)], check=True)
    theirs, _ = dovecot_view(tmp_path, str(copy), ["INBOX", "Archive"])
    for f in ("INBOX", "Archive"):
        assert theirs[f] == ours[f], (f, theirs[f], ours[f])
    # 26 keywords a folder (dovecot's letters), names up to 128 octets, all in FLAGS.
    m = imap(d, pki)
    assert m.select("Archive")[0] == "OK"
    long = ["K%02d" % i + "x" * 125 for i in range(21)]
    typ, data = m.store("2", "+FLAGS", "(%s)" % " ".join(long))
    assert typ == "OK" and all(k.encode() in data[-1] for k in long), data
    assert all(k.encode() in m.untagged_responses["FLAGS"][-1] for k in long)
    assert m.store("2", "+FLAGS", "(One-too-many)") == \
        ("NO", [b"[LIMIT] Too many keywords in this mailbox"])
    m.select("INBOX")
    typ, data = m.store("1", "+FLAGS", "(%s)" % ("y" * 129))
    assert typ == "NO" and data[0].startswith(b"[LIMIT]"), data
    typ, data = m.append("Archive", "(Another)", None, message(5))
    assert typ == "NO" and data[0].startswith(b"[LIMIT]"), data
    # RENAME INBOX moves the messages with their keywords (RFC 3501 6.3.5).
    m.unselect()
    assert m.rename("INBOX", "Old")[0] == "OK"
    old = mailgw_view(m, ["Old"])["Old"][1]
    assert [fl for _, fl in old] == [fl for _, fl in ours["INBOX"][1]], (old, ours)
    m.logout()


def test_old_uidlist_converted_pop3_uidl_and_fetchmail_keep(tmp_path, daemon, pki):
    """A Maildir of the firmware before folders (mailgw-uidlist version 2, its sizes in a
    second column) is converted to dovecot-uidlist at its first use: POP3 UIDL values
    stay the same, so fetchmail with keep fetches nothing again; the old file is gone."""
    d = start(daemon, pki, extra="[pop3s]\nlisten = 127.0.0.1:0\n")
    for n in (1, 2):
        smtp_deliver(d, message(n, 3000 * n))
    r, got = fetchmail(tmp_path, d, pki, keep=True)
    assert r.returncode == 0 and len(got) == 2, r.stdout + r.stderr
    p = poplib.POP3_SSL(*d.addr("pop3s"), context=client_ctx(pki, pki.user["joe"]), timeout=15)
    p.user("joe@" + DOMAIN)
    p.pass_(PASSWORDS["joe"])
    uidl = p.uidl()[1]
    sizes = p.list()[1]
    p.quit()
    d.stop()
    # What the older firmware had written for these two messages: the same UIDVALIDITY,
    # UIDs and sizes as sent, in its own format, and no dovecot-uidlist.
    md = maildir(d, "joe")
    with open(os.path.join(md, "dovecot-uidlist")) as f:
        head, *recs = f.read().splitlines()
    uv = int(head.split()[1][1:])
    nxt = int(head.split()[2][1:])
    old = "mailgw-uidlist 2\nuidvalidity %d\nuidnext %d\n" % (uv, nxt)
    for rec, size in zip(recs, sizes):
        uid, _, base = rec.partition(" :")
        old += "%s %s %s\n" % (uid, size.split()[1].decode(), base)
    os.unlink(os.path.join(md, "dovecot-uidlist"))
    with open(os.path.join(md, "mailgw-uidlist"), "w") as f:
        f.write(old)
    mark = d.mark()
    d.start(wait=False)
    d.wait_log(r"ready", 30, start=mark)
    r, got = fetchmail(tmp_path, d, pki, keep=True)
    assert r.returncode == 1 and got == [], r.stdout + r.stderr  # 1: no new mail
    assert not os.path.exists(os.path.join(md, "mailgw-uidlist"))
    with open(os.path.join(md, "dovecot-uidlist")) as f:
        assert f.readline().startswith("3 V%d N" % uv)
    p = poplib.POP3_SSL(*d.addr("pop3s"), context=client_ctx(pki, pki.user["joe"]), timeout=15)
    p.user("joe@" + DOMAIN)
    p.pass_(PASSWORDS["joe"])
    assert p.uidl()[1] == uidl and p.list()[1] == sizes
    p.quit()
    d.wait_log(r"mailgw-uidlist: converted to dovecot-uidlist \(UIDVALIDITY %d, UIDs kept\)" % uv)


MBSYNCRC_FOLDERS = MBSYNCRC.replace("Patterns INBOX\n", "Patterns *\n").replace(
    "Create Near\n", "Create Both\n").replace("Inbox {near}/INBOX\n", "Inbox {near}/INBOX\nSubFolders Verbatim\n")


def test_mbsync_syncs_a_new_folder_both_ways(tmp_path, daemon, pki):
    """mbsync with Patterns *: a folder made on the server (with a COPY in it) comes
    down; a folder made in the local Maildir goes up (CREATE, APPEND)."""
    d = start(daemon, pki)
    smtp_deliver(d, message(1))
    m = imap(d, pki)
    m.create("Projects")
    m.select("INBOX")
    m.copy("1", "Projects")
    m.logout()
    run, near = mbsync(tmp_path, d, pki, MBSYNCRC_FOLDERS)
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    got = list((near / "Projects").glob("*/*"))
    assert len(got) == 1 and b"Subject: test 1" in got[0].read_bytes()
    for sub in ("cur", "new", "tmp"):
        (near / "Ideas" / sub).mkdir(parents=True)
    (near / "Ideas" / "new" / "1.local.host").write_bytes(message(7))
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.isdir(folder_dir(d, "Ideas"))
    m = imap(d, pki)
    assert m.select("Ideas") == ("OK", [b"1"])
    assert b"Subject: test 7" in fetch1(m, "BODY.PEEK[HEADER]")
    m.logout()


def test_list_of_too_many_folders_is_refused_not_fatal(daemon, pki):
    """A Maildir copied in from another server with hundreds of folders (more than a LIST
    answer fits in the output buffer): LIST answers NO [LIMIT], the session goes on, and
    a narrower pattern works; CREATE refuses a folder beyond the limit."""
    d = start(daemon, pki)
    smtp_deliver(d, message(1))
    md = maildir(d, "joe")
    for i in range(400):  # as cp -a of another server's Maildir would leave them
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, ".Project-%03d-%s" % (i, "x" * 150), sub))
    m = imap(d, pki)
    typ, data = m.list('""', "*")
    assert typ == "NO" and data[0].startswith(b"[LIMIT]"), data
    assert m.noop()[0] == "OK"
    m.untagged_responses.clear()  # the LIST lines sent before the NO
    typ, data = m.list('""', "Project-007*")
    assert typ == "OK" and len(data) == 1 and b"Project-007-" in data[0], data
    assert m.create("One-more")[1][0].startswith(b"[LIMIT]")
    m.logout()


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
