"""The SMTP receiver on port 25: delivery with real clients, what it refuses, limits."""
import os
import re
import smtplib
import socket
import subprocess
import time

import pytest

from smtputil import (Raw, add_domains, all_visible, answers, make_cert, messages, smtp_conf,
                      split_trace, start_mx)

MSG = (b"From: Sender <sender@example.net>\r\n"
       b"To: alice@example.com\r\n"
       b"Subject: hello\r\n"
       b"\r\n"
       b"first line\r\n"
       b".a line that starts with a dot\r\n"
       b"..two dots\r\n"
       b".\r\n"
       b"last line\r\n")


def test_smtplib_delivers_byte_exact(daemon):
    d = start_mx(daemon)
    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as s:
        code, banner = s.ehlo("client.example")
        assert code == 250
        for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8"):
            assert s.has_extn(ext), ext
        assert not s.has_extn("starttls")  # no [tls] cert configured
        assert s.esmtp_features["size"] == str(25 * 1024 * 1024)
        refused = s.sendmail("sender@example.net", ["alice@example.com"], MSG)
        assert refused == {}
    msgs = messages(d, "example.com", "alice")
    assert len(msgs) == 1
    trace, body = split_trace(msgs[0])
    assert body == MSG  # smtplib stuffed the dots, mailgwd removed them again
    assert trace.startswith(b"Return-Path: <sender@example.net>\r\n")
    assert b"Received: from client.example ([127.0.0.1])\r\n\tby mailgw.test (mailgw) with ESMTP id " in trace
    assert b"for <alice@example.com>; " in trace
    line = d.wait_log(r"smtp msg id=\S+ client=127\.0\.0\.1 tls=no from=<sender@example\.net> "
                      r"rcpts=<alice@example\.com> size=%d result=250" % len(MSG))
    assert "delivered" in line
    assert messages(d, "example.com", "bob") == []


def test_multiple_recipients_and_helo(daemon):
    d = start_mx(daemon)
    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.helo("old.example")
        assert s.sendmail("", ["alice@example.com", "BOB@EXAMPLE.COM", "carol@example.org"],
                          b"Subject: x\r\n\r\nbody\r\n") == {}
    for dom, user in (("example.com", "alice"), ("example.com", "bob"), ("example.org", "carol")):
        msgs = messages(d, dom, user)
        assert len(msgs) == 1, (dom, user)
        trace, body = split_trace(msgs[0])
        assert body == b"Subject: x\r\n\r\nbody\r\n"
        assert trace.startswith(b"Return-Path: <>\r\n")
        assert b" with SMTP id " in trace and b"for <" not in trace


def test_swaks_plain_pipelining_8bit(daemon, tmp_path):
    d = start_mx(daemon)
    host, port = d.addr("smtp")
    body = tmp_path / "body"
    body.write_bytes("Grüße aus Zürich\r\n.leading dot\r\n".encode())
    for extra in ([], ["--pipeline"]):
        r = subprocess.run(["swaks", "--server", host, "--port", str(port), "--to",
                            "bob@example.com", "--from", "s@example.net", "--helo", "swaks.example",
                            "--body", "@" + str(body), "--header", "Subject: 8bit"] + extra,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(r"<-  250 2\.0\.0 ok: queued as", r.stdout), r.stdout
        if extra:
            assert "PIPELINING" in r.stdout
    msgs = messages(d, "example.com", "bob")
    assert len(msgs) == 2
    for m in msgs:
        _, rest = split_trace(m)
        assert "\r\n\r\nGrüße aus Zürich\r\n.leading dot\r\n".encode() in rest


def test_8bitmime_smtputf8_and_size_params(daemon):
    d = start_mx(daemon, "max_message_size = 4K\n")
    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.ehlo("client.example")
        assert s.esmtp_features["size"] == "4096"
        msg = "Subject: ü\r\n\r\nünïcödé\r\n".encode()
        # smtplib adds SIZE= itself since the server advertises it.
        assert s.sendmail("s@example.net", ["alice@example.com"], msg,
                          mail_options=["BODY=8BITMIME"]) == {}
        code, text = s.mail("jörg@example.net", ["SMTPUTF8", "SIZE=100"])
        assert code == 250, text
        assert s.rcpt("alice@example.com")[0] == 250
        assert s.data("Subject: utf8\r\n\r\nx\r\n".encode())[0] == 250
        code, text = s.mail("s@example.net", ["SIZE=5000"])
        assert (code, text[:5]) == (552, b"5.3.4")
        code, text = s.mail("jörg@example.net")
        assert (code, text[:5]) == (553, b"5.6.7")
        s.rset()
        code, text = s.mail("s@example.net", ["BODY=BINARYMIME"])
        assert (code, text[:5]) == (555, b"5.5.4")
    msgs = messages(d, "example.com", "alice")
    assert len(msgs) == 2
    bodies = sorted(split_trace(m)[1] for m in msgs)
    assert "Subject: ü\r\n\r\nünïcödé\r\n".encode() in bodies
    utf8 = [m for m in msgs if b"Return-Path: <j\xc3\xb6rg@example.net>" in m]
    assert len(utf8) == 1 and b" with UTF8SMTP id " in utf8[0]


def test_data_without_waiting_for_354_and_clients_gone_after_data(daemon):
    """The spool file is created on a worker after DATA: a client that sends its message
    without waiting for 354 still gets it delivered, one that leaves right after DATA
    leaves no file behind."""
    d = start_mx(daemon, "max_per_address = 30\n")
    eager = []
    for i in range(10):
        r = Raw(d.addr("smtp"))
        assert r.cmd("EHLO c.example")[0] == 250
        assert r.cmd("MAIL FROM:<s@example.net>")[0] == 250
        assert r.cmd("RCPT TO:<alice@example.com>")[0] == 250
        r.send("DATA\r\nSubject: eager %d\r\n\r\nbody\r\n.\r\n" % i)
        eager.append(r)
        gone = Raw(d.addr("smtp"))
        assert gone.cmd("EHLO c.example")[0] == 250
        assert gone.cmd("MAIL FROM:<s@example.net>")[0] == 250
        assert gone.cmd("RCPT TO:<bob@example.com>")[0] == 250
        gone.send("DATA\r\n")
        gone.f.close()  # the socket's file too: only then is the fd closed
        gone.s.close()
    for r in eager:
        assert r.reply()[0] == 354
        assert r.reply()[0] == 250
        r.cmd("QUIT")
    got = sorted(split_trace(m)[1] for m in messages(d, "example.com", "alice"))
    assert got == sorted(b"Subject: eager %d\r\n\r\nbody\r\n" % i for i in range(10))
    assert messages(d, "example.com", "bob") == []
    spool = os.path.join(d.data, "spool")
    for _ in range(100):  # the last creations may still be on their way back to the loop
        if os.listdir(spool) == []:
            break
        time.sleep(0.05)
    assert os.listdir(spool) == [], d.log()
    assert answers(d)


def test_oversized_message_refused_while_streaming(daemon):
    d = start_mx(daemon, "max_message_size = 2K\n")
    r = Raw(d.addr("smtp"))
    assert r.cmd("EHLO c.example")[0] == 250
    assert r.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 200 + b".\r\n")
    assert r.reply()[1][-1].startswith("552 5.3.4")
    # The session goes on: a small message is taken right after.
    assert r.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: small\r\n\r\nok\r\n.\r\n")
    assert r.reply()[0] == 250
    r.cmd("QUIT")
    msgs = messages(d, "example.com", "alice")
    assert len(msgs) == 1 and split_trace(msgs[0])[1] == b"Subject: small\r\n\r\nok\r\n"
    assert os.listdir(os.path.join(d.data, "spool")) == []
    assert answers(d)



def test_swaks_size_limit(daemon, tmp_path):
    d = start_mx(daemon, "max_message_size = 2K\n")
    host, port = d.addr("smtp")
    body = tmp_path / "big"
    body.write_bytes(b"y" * 60 + b"\r\n" * 1 + (b"z" * 60 + b"\r\n") * 100)
    r = subprocess.run(["swaks", "--server", host, "--port", str(port), "--to", "alice@example.com",
                        "--from", "s@example.net", "--body", "@" + str(body)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "250-SIZE 2048" in r.stdout
    assert "552 5.3.4" in r.stdout
    assert all_visible(d) == []
    assert answers(d)


RELAY = [
    ("RCPT TO:<someone@foreign.example>", "550 5.7.1"),
    ("RCPT TO:<someone%foreign.example@example.com>", "550 5.7.1"),
    ("RCPT TO:<alice%example.com@example.com>", "550 5.7.1"),
    ("RCPT TO:<@example.com:someone@foreign.example>", "550 5.7.1"),
    ("RCPT TO:<@example.com,@example.org:alice@example.com>", "550 5.7.1"),
    ("RCPT TO:<alice@[127.0.0.1]>", "550 5.7.1"),
    ("RCPT TO:<alice@[IPv6:::1]>", "550 5.7.1"),
    ("RCPT TO:<\"alice\"@example.com>", "553 5.1.3"),
    ("RCPT TO:<\"someone@foreign.example\"@example.com>", "553 5.1.3"),
    ("RCPT TO:<alice@example.com.foreign.example>", "550 5.7.1"),
    ("RCPT TO:<alice@sub.example.com>", "550 5.7.1"),
    ("RCPT TO:<nobody@example.com>", "550 5.1.1"),
    ("RCPT TO:<alice!foreign@example.com>", "550 5.1.1"),
    ("RCPT TO:<../../etc@example.com>", "501 5.1.3"),
    ("RCPT TO:<alice@../../etc>", "501 5.1.3"),
    ("RCPT TO:<j\u00f6rg@example.com>", "553 5.6.7"),
    ("RCPT TO:<>", "501 5.1.3"),
    ("RCPT TO:alice@example.com", "501 5.1.3"),
]


def test_relay_and_unknown_refused(daemon):
    d = start_mx(daemon, "max_bad_commands = 100\n")
    r = Raw(d.addr("smtp"))
    assert r.cmd("EHLO c.example")[0] == 250
    assert r.cmd("MAIL FROM:<s@example.net>")[0] == 250
    for line, want in RELAY:
        got = r.text(line)
        assert got.startswith(want), (line, got)
    # Nothing was accepted, so DATA has no recipient (RFC 2920 3.1).
    assert r.text("DATA").startswith("554 5.5.1")
    assert r.cmd("QUIT")[0] == 221
    assert all_visible(d) == []
    assert answers(d)


def test_postmaster_abuse_and_aliases(daemon):
    aliases = {"example.com": "# team\nteam: alice, bob\nsales:carol@example.org\n"
                              "broken line without colon\nghost: nobody\n"
                              "outside: someone@foreign.example\n"}
    d = start_mx(daemon, aliases=aliases)
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<s@example.net>")
    assert r.text("RCPT TO:<team@example.com>").startswith("250 2.1.5")
    assert r.text("RCPT TO:<Sales@Example.Com>").startswith("250 2.1.5")
    assert r.text("RCPT TO:<postmaster>").startswith("250 2.1.5")
    assert r.text("RCPT TO:<abuse@example.org>").startswith("250 2.1.5")
    assert r.text("RCPT TO:<ghost@example.com>").startswith("451 4.3.0")
    assert r.text("RCPT TO:<outside@example.com>").startswith("451 4.3.0")
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: to the team\r\n\r\nhi\r\n.\r\n")
    assert r.reply()[0] == 250
    r.cmd("QUIT")
    # alice is in the team and the admin: one copy; bob and carol one each.
    assert len(messages(d, "example.com", "alice")) == 1
    assert len(messages(d, "example.com", "bob")) == 1
    assert len(messages(d, "example.org", "carol")) == 1
    aliases_path = os.path.join(d.data, "etc", "domains", "example.com", "aliases")
    d.wait_log(re.escape(aliases_path) + r":5: target nobody@example\.com is not a local user")
    d.wait_log(re.escape(aliases_path) + r":6: target someone@foreign\.example is not a local")
    d.wait_log(re.escape(aliases_path) + r":4: expected 'local: user\[, user\.\.\.\]'")
    assert answers(d)



def test_max_recipients(daemon):
    d = start_mx(daemon)
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<s@example.net>")
    # Pipelined: 100 accepted, the 101st deferred with 452 4.5.3 (RFC 5321 4.5.3.1.10).
    r.send("".join("RCPT TO:<alice@example.com>\r\n" for _ in range(101)))
    codes = [r.reply()[1][-1][:9] for _ in range(101)]
    assert codes == ["250 2.1.5"] * 100 + ["452 4.5.3"]
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: many\r\n\r\n.\r\n")
    assert r.reply()[0] == 250
    r.cmd("QUIT")
    assert len(messages(d, "example.com", "alice")) == 1
    assert answers(d)



def test_pipelining_replies_in_order(daemon):
    d = start_mx(daemon)
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    # One write: the whole transaction and the next command (RFC 2920).
    r.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.com>\r\n"
           b"RCPT TO:<x@foreign.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
           b"Subject: p\r\n\r\npipelined\r\n.\r\nNOOP\r\nQUIT\r\n")
    got = [r.reply()[1][-1][:3] for _ in range(8)]
    assert got == ["250", "250", "550", "250", "354", "250", "250", "221"]
    assert r.closed()
    for u in ("alice", "bob"):
        (m,) = messages(d, "example.com", u)
        assert split_trace(m)[1] == b"Subject: p\r\n\r\npipelined\r\n"
    assert answers(d)



SMUGGLE = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n"]


@pytest.mark.parametrize("seq", SMUGGLE, ids=lambda s: repr(s)[2:-1])
def test_smtp_smuggling_refused(daemon, seq):
    d = start_mx(daemon)
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<s@example.net>")
    r.cmd("RCPT TO:<alice@example.com>")
    assert r.cmd("DATA")[0] == 354
    # The classic: end the message the "other" way and smuggle a second transaction.
    r.send(b"Subject: outer\r\n\r\nouter" + seq +
           b"MAIL FROM:<admin@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
    code, lines = r.reply()
    assert lines[-1].startswith("550 5.6.11"), lines
    # Nothing of the smuggled transaction was executed: the next reply is to NOOP.
    assert r.text("NOOP").startswith("250 2.0.0")
    r.cmd("QUIT")
    assert all_visible(d) == []
    assert answers(d)


def test_nul_and_bare_lf_commands(daemon):
    d = start_mx(daemon)
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    assert r.text("MAIL FROM:<s@example.net>\0junk").startswith("500 5.5.2")
    r.send(b"MAIL FROM:<s@example.net>\n")
    assert r.reply()[1][-1].startswith("500 5.5.2")
    r.cmd("MAIL FROM:<s@example.net>")
    r.cmd("RCPT TO:<alice@example.com>")
    r.cmd("DATA")
    r.send(b"Subject: nul\r\n\r\na\0b\r\n.\r\n")
    assert r.reply()[1][-1].startswith("550 5.6.0")
    r.cmd("QUIT")
    assert all_visible(d) == []
    assert answers(d)



def test_overlong_lines(daemon):
    d = start_mx(daemon)
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    # 512 octets incl. CRLF is the limit for commands (RFC 5321 4.5.3.1.4).
    assert r.text("NOOP " + "x" * 505).startswith("250")
    assert r.text("NOOP " + "x" * 506).startswith("500 5.5.2")
    assert r.text("RCPT TO:<" + "a" * 65 + "@example.com>").startswith("503")
    r.cmd("MAIL FROM:<s@example.net>")
    assert r.text("RCPT TO:<" + "a" * 65 + "@example.com>").startswith("501 5.1.3")
    assert r.text("RCPT TO:<alice@example.com>").startswith("250")
    r.cmd("DATA")
    # A 1000-octet line (incl. CRLF) is fine, 1001 is refused (4.5.3.1.6).
    r.send(b"Subject: long\r\n\r\n" + b"x" * 998 + b"\r\n" + b"y" * 999 + b"\r\n.\r\n")
    assert r.reply()[1][-1].startswith("550 5.6.0")
    r.cmd("MAIL FROM:<s@example.net>")
    r.cmd("RCPT TO:<alice@example.com>")
    r.cmd("DATA")
    r.send(b"Subject: long\r\n\r\n" + b"x" * 998 + b"\r\n.\r\n")
    assert r.reply()[0] == 250
    r.cmd("QUIT")
    (m,) = messages(d, "example.com", "alice")
    assert split_trace(m)[1] == b"Subject: long\r\n\r\n" + b"x" * 998 + b"\r\n"
    assert answers(d)



def test_garbage_commands_then_421(daemon):
    d = start_mx(daemon, "max_bad_commands = 5\n")
    r = Raw(d.addr("smtp"))
    replies = []
    for junk in ("GET / HTTP/1.0", "\x16\x03\x01\x02\x00", "MAIL FROM:<a@b>", "RCPT TO:<x>",
                 "DATA"):
        replies.append(r.text(junk))
    # The fifth bad command still gets its own reply, then 421 (RFC 5321 3.8).
    assert [x[:3] for x in replies] == ["500", "500", "503", "503", "503"]
    assert r.reply()[1][-1].startswith("421 4.7.0")
    assert r.closed()
    assert answers(d)


def test_harmless_commands_cannot_hold_a_session_forever(daemon):
    d = start_mx(daemon, "max_bad_commands = 3\n")
    r = Raw(d.addr("smtp"))
    assert r.text("EHLO client.example").startswith("250")
    # 100 harmless commands are fine ...
    for i in range(100):
        assert r.text(("NOOP", "RSET", "VRFY postmaster", "HELP")[i % 4])[:3] in ("250", "252", "214")
    # ... after that each counts as an error: the third one ends the session.
    assert r.text("NOOP").startswith("250")
    assert r.text("NOOP").startswith("250")
    assert r.text("NOOP").startswith("250")
    assert r.reply()[1][-1].startswith("421 4.7.0")
    assert r.closed()
    assert answers(d)


def test_early_talker_dropped(daemon):
    d = start_mx(daemon, "greeting_delay = 1s\n")
    r = Raw(d.addr("smtp"), greeting=False)
    r.send(b"EHLO eager.example\r\nMAIL FROM:<spam@example.net>\r\n")
    code, lines = r.reply()
    assert lines[-1].startswith("554 5.7.0"), lines
    assert r.closed()
    d.wait_log(r"talked before the greeting")
    # A client that waits for the banner is served.
    t0 = time.time()
    assert answers(d)
    assert time.time() - t0 >= 0.9


def test_vrfy_expn_help_noop_rset(daemon):
    d = start_mx(daemon)
    r = Raw(d.addr("smtp"))
    assert r.greeting[1][-1].startswith("220 mailgw.test ESMTP")
    assert r.text("MAIL FROM:<s@example.net>").startswith("503 5.5.1")
    r.cmd("EHLO c.example")
    for who in ("alice", "nobody", "alice@example.com"):
        assert r.text("VRFY " + who).startswith("252 2.5.0")
    assert r.text("EXPN team").startswith("252 2.5.0")
    code, lines = r.cmd("HELP")
    assert code == 214 and all(l[4:9] == "2.0.0" for l in lines)
    assert r.text("NOOP").startswith("250 2.0.0")
    r.cmd("MAIL FROM:<s@example.net>")
    assert r.text("MAIL FROM:<s@example.net>").startswith("503 5.5.1")
    assert r.text("RSET").startswith("250 2.0.0")
    assert r.text("RCPT TO:<alice@example.com>").startswith("503 5.5.1")
    assert r.text("STARTTLS").startswith("502 5.5.1")
    assert r.text("QUIT").startswith("221 2.0.0")


def test_timeout_421(daemon):
    d = start_mx(daemon, "helo_timeout = 1s\ncommand_timeout = 2s\n")
    r = Raw(d.addr("smtp"))
    t0 = time.time()
    code, lines = r.reply()
    assert lines[-1].startswith("421 4.4.2") and 0.8 <= time.time() - t0 < 5
    assert r.closed()
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    t0 = time.time()
    assert r.reply()[1][-1].startswith("421 4.4.2") and 1.8 <= time.time() - t0 < 6
    assert answers(d)



def test_connection_limits(daemon):
    d = start_mx(daemon, "max_per_address = 2\nrate = 3\n")
    a, b = Raw(d.addr("smtp")), Raw(d.addr("smtp"))
    c = Raw(d.addr("smtp"), greeting=False)
    assert c.reply()[1][-1].startswith("421 4.7.0")
    assert c.closed()
    a.cmd("QUIT")
    b.cmd("QUIT")
    assert a.closed() and b.closed()  # the server closed both: they no longer count
    e = Raw(d.addr("smtp"), greeting=False)  # the 3rd counted within the minute
    assert e.reply()[0] == 220
    e.cmd("QUIT")
    f = Raw(d.addr("smtp"), greeting=False)  # the 4th
    assert f.reply()[1][-1].startswith("421 4.7.0")
    d.wait_log(r"more than 3 connections per minute")



def test_free_space_reserve_452(daemon):
    d = start_mx(daemon, "min_free_space = 1000000G\n")
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    assert r.text("MAIL FROM:<s@example.net>").startswith("452 4.3.1")
    r.cmd("QUIT")
    assert all_visible(d) == []
    assert answers(d)



# ---- per-user quota (RFC 3463 4.2.2) -------------------------------------------------

def body_of(size, n):
    line = b"y" * 60 + b"\r\n"
    return b"Subject: quota %d\r\n\r\n" % n + line * (size // len(line))


def set_passwd(d, domain, lines):
    """Writes a domain's passwd-file with dovecot extra fields, as an admin importing
    dovecot's files does."""
    with open(os.path.join(d.data, "etc", "domains", domain, "passwd"), "w") as f:
        f.write("".join(lines))


def fill_then_overflow(d, rcpts):
    """smtplib sends bob 1.2K, then (without SIZE=) 1.2K more to rcpts: 452 4.2.2."""
    host, port = d.addr("smtp")
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.ehlo("c.example")
        assert s.sendmail("s@example.net", ["bob@example.com"], body_of(1200, 1)) == {}
        s.esmtp_features.pop("size")
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("s@example.net", rcpts, body_of(1200, 2))
        assert e.value.smtp_code == 452 and e.value.smtp_error.startswith(b"4.2.2 mailbox full")


def test_quota_452_at_rcpt_and_after_data(daemon):
    # alice: the configured default (4K); bob: 2K from his passwd line; carol: none.
    d = start_mx(daemon, "quota = 4K\n")
    set_passwd(d, "example.com", [
        "alice:{PLAIN}secret-alice::::::\n",
        "bob:{PLAIN}secret-bob::::::userdb_mail=maildir:~/Maildir userdb_quota_rule=*:storage=2K\n"])
    set_passwd(d, "example.org", ["carol:{PLAIN}secret-carol::::::userdb_quota_rule=*:storage=0\n"])
    # No SIZE=: known only after DATA; it would put bob over 2K: 452, nothing stored.
    fill_then_overflow(d, ["bob@example.com"])
    assert len(messages(d, "example.com", "bob")) == 1
    d.wait_log(r"mailbox bob@example\.com would go over its quota of 2048 bytes")
    # With SIZE= (RFC 1870) the refusal comes at RCPT, for bob only; the others get it.
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    assert r.text("MAIL FROM:<s@example.net> SIZE=1300").startswith("250")
    assert r.text("RCPT TO:<bob@example.com>").startswith("452 4.2.2 mailbox full")
    assert r.text("RCPT TO:<alice@example.com>").startswith("250")
    assert r.text("RCPT TO:<carol@example.org>").startswith("250")
    assert r.cmd("DATA")[0] == 354
    r.send(body_of(1200, 3) + b".\r\n")
    assert r.reply()[0] == 250
    assert len(messages(d, "example.com", "bob")) == 1
    assert len(messages(d, "example.com", "alice")) == 1
    assert len(messages(d, "example.org", "carol")) == 1
    # The admin lowers bob's quota below what he uses: full at RCPT, whatever the size.
    set_passwd(d, "example.com", [
        "alice:{PLAIN}secret-alice::::::\n",
        "bob:{PLAIN}secret-bob::::::userdb_quota_rule=*:storage=1K\n"])
    assert r.text("MAIL FROM:<s@example.net>").startswith("250")
    assert r.text("RCPT TO:<bob@example.com>").startswith("452 4.2.2 mailbox full")
    d.wait_log(r"<bob@example\.com>: mailbox bob@example\.com full: \d+ of 1024 bytes used")
    r.cmd("QUIT")
    # status shows each user's use against the quota.
    bob = sum(len(m) for m in messages(d, "example.com", "bob"))
    alice = sum(len(m) for m in messages(d, "example.com", "alice"))
    status = d.control("status")
    assert "quota: bob@example.com %d of 1024 bytes, 1 messages" % bob in status, status
    assert "quota: alice@example.com %d of 4096 bytes, 1 messages" % alice in status, status
    assert any(re.match(r"quota: carol@example\.org \d+ of none bytes, 1 messages", x)
               for x in status), status
    assert answers(d)


def test_quota_as_a_share_of_the_data_disk(daemon):
    """`quota = 10%`: each user may fill a tenth of the data filesystem, whatever its size
    (an SD card, a grown partition), as status shows."""
    d = start_mx(daemon, "quota = 10%\n")
    set_passwd(d, "example.com", ["alice:{PLAIN}secret-alice::::::\n",
                                  "bob:{PLAIN}secret-bob::::::userdb_quota_rule=*:storage=2K\n"])
    sv = os.statvfs(d.data)
    tenth = sv.f_blocks * sv.f_frsize // 100 * 10
    status = d.control("status")
    assert "quota: alice@example.com 0 of %d bytes, 0 messages" % tenth in status, status
    assert "quota: bob@example.com 0 of 2048 bytes, 0 messages" in status, status
    assert answers(d)


def test_quota_multiple_recipients_all_or_nothing(daemon):
    """One reply after DATA for all recipients (RFC 5321): when one mailbox would go over,
    nobody gets a copy, so the client's retry cannot duplicate the message."""
    d = start_mx(daemon, "quota = 2K\n")
    fill_then_overflow(d, ["alice@example.com", "bob@example.com"])
    assert len(messages(d, "example.com", "alice")) == 0
    assert len(messages(d, "example.com", "bob")) == 1


def test_config_errors(tmp_path):
    from mgw import Daemon, binary
    for text, problem in [
        ("[smtp]\nmax_recipients = 101\n", "max_recipients: out of range (1 to 100)"),
        ("[smtp]\nlisten = nowhere\n", "listen: expected HOST:PORT"),
        ("[smtp]\npostmaster = alice\n", "postmaster: expected user@domain"),
        ("[smtp]\nmax_message_size = 10Q\n", "max_message_size: expected a size"),
    ]:
        d = Daemon(tmp_path, "")
        with open(d.conf_path, "w") as f:
            f.write(text)
        r = subprocess.run([binary("mailgwd"), "-c", d.conf_path, "-t"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 1 and problem in r.stderr, r.stderr


def tls_conf(tmp_path):
    cert, key = make_cert(str(tmp_path))
    os.chmod(key, 0o600)
    return "[tls]\ncert = %s\nkey = %s\n" % (cert, key)


def test_starttls_swaks_and_received_header(daemon, tmp_path):
    d = start_mx(daemon, tls_conf(tmp_path))
    host, port = d.addr("smtp")
    r = subprocess.run(["swaks", "--server", host, "--port", str(port), "--to", "alice@example.com",
                        "--from", "s@example.net", "--tls", "--header", "Subject: tls"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "220 2.0.0 ready to start TLS" in r.stdout
    (m,) = messages(d, "example.com", "alice")
    trace, _ = split_trace(m)
    assert re.search(rb"with ESMTPS \(TLSv1\.[23] \S+\) id ", trace), trace
    d.wait_log(r"smtp msg id=\S+ client=127\.0\.0\.1 tls=TLSv1\.[23] ")


def test_starttls_smtplib_state_reset(daemon, tmp_path):
    import ssl
    d = start_mx(daemon, tls_conf(tmp_path))
    host, port = d.addr("smtp")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.ehlo("c.example")
        assert s.has_extn("starttls")
        s.starttls(context=ctx)
        # RFC 3207 4.2: the session starts over; MAIL before EHLO is out of sequence.
        code, _ = s.docmd("MAIL FROM:<s@example.net>")
        assert code == 503
        s.ehlo("c.example")
        assert not s.has_extn("starttls")
        assert s.sendmail("s@example.net", ["bob@example.com"], b"Subject: t\r\n\r\nx\r\n") == {}
    assert len(messages(d, "example.com", "bob")) == 1


def test_starttls_session_outlives_its_generation(daemon, tmp_path):
    """A STARTTLS session keeps the TLS configuration of the generation it started with:
    a reload in the middle, then QUIT, frees that generation only after the session's
    TLS state (under ASan, a configuration freed first is a use-after-free inside
    mbedTLS, and the daemon dies)."""
    import signal
    import ssl
    d = start_mx(daemon, tls_conf(tmp_path))
    host, port = d.addr("smtp")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP(host, port, timeout=15)
    s.ehlo("c.example")
    s.starttls(context=ctx)
    s.ehlo("c.example")
    assert s.sendmail("s@example.net", ["bob@example.com"], b"Subject: 1\r\n\r\nx\r\n") == {}
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    # The session goes on over TLS with its generation, and ends normally.
    assert s.sendmail("s@example.net", ["bob@example.com"], b"Subject: 2\r\n\r\nx\r\n") == {}
    assert s.quit()[0] == 221
    # The daemon still serves STARTTLS with the new generation.
    with smtplib.SMTP(host, port, timeout=15) as s2:
        s2.ehlo("c.example")
        s2.starttls(context=ctx)
        s2.ehlo("c.example")
        assert s2.sendmail("s@example.net", ["bob@example.com"], b"Subject: 3\r\n\r\nx\r\n") == {}
    assert len(messages(d, "example.com", "bob")) == 3
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["generation"] == "2"


def test_starttls_injection_discarded(daemon, tmp_path):
    import ssl
    d = start_mx(daemon, tls_conf(tmp_path))
    r = Raw(d.addr("smtp"))
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<s@example.net>")
    # STARTTLS and a command in one packet: only STARTTLS may be answered.
    r.send(b"STARTTLS\r\nRSET\r\nRCPT TO:<alice@example.com>\r\n")
    code, lines = r.reply()
    assert code == 503  # STARTTLS inside a transaction is out of sequence
    assert r.reply()[0] == 250  # RSET
    assert r.reply()[1][-1].startswith("503")  # RCPT without MAIL
    r.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<injected@example.net>\r\n")
    code, lines = r.reply()
    assert code == 220, lines
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(r.s, server_hostname="mailgw.test")
    f = t.makefile("rwb")
    # The first thing said inside TLS gets the first reply: the pipelined RSET and MAIL
    # from the clear were dropped, so NOOP's 250 is the first and only reply.
    f.write(b"NOOP\r\n")
    f.flush()
    assert f.readline().startswith(b"250 2.0.0")
    f.write(b"RCPT TO:<alice@example.com>\r\n")
    f.flush()
    assert f.readline().startswith(b"503")  # no MAIL was executed
    f.write(b"QUIT\r\n")
    f.flush()
    assert f.readline().startswith(b"221")
    assert all_visible(d) == []
    assert answers(d)



def test_ipv6_listener_and_received_literal(daemon):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    d = daemon(smtp_conf().replace("127.0.0.1:0", "[::1]:0"), start=False)
    add_domains(d)
    d.start()
    host, port = d.addr("smtp")
    assert host == "::1"
    with smtplib.SMTP(host, port, timeout=15) as s:
        assert s.sendmail("s@example.net", ["alice@example.com"], b"Subject: v6\r\n\r\nx\r\n") == {}
    (m,) = messages(d, "example.com", "alice")
    assert b"Received: from " in m and b"([IPv6:::1])" in m


def test_enhanced_status_codes_everywhere(daemon):
    """RFC 2034 3: every 2xx/4xx/5xx reply but the greeting and the EHLO/HELO reply carries
    an RFC 3463 code, refusals included."""
    d = start_mx(daemon, "max_bad_commands = 100\n")
    r = Raw(d.addr("smtp"))
    rx = re.compile(r"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3} ")
    script = ["EHLO c.example", "NOOP", "HELP", "VRFY alice", "EXPN x", "BOGUS", "RCPT TO:<a@b>",
              "MAIL FROM:<s@example.net> SIZE=999999999999", "MAIL FROM:<s@example.net> X=1",
              "MAIL FROM:<s@example.net>", "RCPT TO:<x@foreign.example>",
              "RCPT TO:<nobody@example.com>", "RCPT TO:<\"q\"@example.com>",
              "RCPT TO:<alice@example.com>", "MAIL FROM:<s@example.net>", "RSET",
              "STARTTLS x", "DATA", "NOOP " + "x" * 600]
    for line in script:
        code, lines = r.cmd(line)
        if line.startswith("EHLO"):
            continue
        for l in lines:
            assert rx.match(l), (line, l)
    r.cmd("MAIL FROM:<s@example.net>")
    r.cmd("RCPT TO:<alice@example.com>")
    assert r.cmd("DATA")[0] == 354
    r.send(b"x\r\n.\r\n")
    assert rx.match(r.reply()[1][-1])
    code, lines = r.cmd("QUIT")
    assert rx.match(lines[-1])


def test_status_counts_smtp_sessions(daemon):
    d = start_mx(daemon)
    r = Raw(d.addr("smtp"))
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["smtp_sessions"] == "1"
    r.cmd("QUIT")
    assert r.closed()
    time.sleep(0.2)
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["smtp_sessions"] == "0"


def test_client_that_half_closes_after_pipelining_gets_every_reply(daemon):
    """A client may send its whole session and shut down its sending side before reading
    (printf ... | nc -N): the daemon still answers every command it ran, so the client
    learns that its message was accepted (and does not send it again)."""
    d = start_mx(daemon)
    s = socket.create_connection(d.addr("smtp"), timeout=15)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    s.sendall(b"EHLO c.example\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@example.com>\r\n"
              b"DATA\r\nSubject: half\r\n\r\nhello\r\n.\r\nQUIT\r\n")
    s.shutdown(socket.SHUT_WR)
    replies = [l.rstrip(b"\r\n") for l in f.readlines()]
    codes = [r[:4] for r in replies if not r.startswith(b"250-")]
    assert codes == [b"250 ", b"250 ", b"250 ", b"354 ", b"250 ", b"221 "], replies
    assert len(messages(d, "example.com", "bob")) == 1
    s.close()


def test_half_close_with_replies_backed_up_loses_none(daemon):
    """Like the above with many pipelined commands: at the client's end of input the
    daemon still has replies it could not send yet; it sends them before it closes."""
    import threading
    d = start_mx(daemon, "max_bad_commands = 1000\n")
    s = socket.create_connection(d.addr("smtp"), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    n = 20000

    # EHLO: a command with a long reply that is not one of the harmless commands an
    # SMTP session may only send 100 of between messages.
    def send():
        s.sendall(b"EHLO c.example\r\n" * (n + 1) + b"QUIT\r\n")
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send)
    t.start()
    time.sleep(2)  # replies back up in the kernel and in the daemon meanwhile
    replies = [l.rstrip(b"\r\n") for l in f.readlines()]
    t.join()
    assert replies[-1].startswith(b"221 "), replies[-3:]
    assert sum(1 for r in replies if r.startswith(b"250 ")) == n + 1
    s.close()
