"""The flushes that make an IMAP APPEND, an IMAP EXPUNGE/CLOSE/COPY/MOVE and a POP3 QUIT
durable run off the event loop, and so do those of the files a session rewrites
(dovecot-uidlist at SELECT, NOOP, IDLE, STATUS and the UID lookups after APPEND and
COPY; dovecot-uidvalidity, dovecot-keywords, subscriptions) and of a first login's
Maildir and folders: while one is held (the LD_PRELOAD shim
tests/integration/flushfault.c stalls every directory flush while the file "hold"
exists), other users' sessions are still answered, and the command that waits for the
flush is not answered yet; once released, it gets its OK and the change is on disk. A
flush that fails answers NO / -ERR, never OK, and announces nothing that depends on it."""
import os
import poplib
import re
import socket
import struct
import subprocess
import threading

import pytest

from gate import DOMAIN, PASSWORDS, client_ctx, maildir, message, messages
from mgw import wait_for
from test_imap import imap, smtp_deliver, start, stored

FLUSHFAULT_C = os.path.join(os.path.dirname(__file__), "flushfault.c")
POP3S = "[pop3s]\nlisten = 127.0.0.1:0\n"


@pytest.fixture(scope="module")
def flushfault_so(tmp_path_factory):
    so = str(tmp_path_factory.mktemp("flushfault") / "flushfault.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", so, FLUSHFAULT_C, "-ldl"],
                   check=True)
    return so


@pytest.fixture(params=["host disk", "own filesystem"])
def held(request, daemon, pki, tmp_path, flushfault_so):
    """(daemon with IMAPS and POP3S whose flushes the shim controls, control folder), its
    data on the host's disk (directory fsyncs) or on an ext4 of its own, as /data on the
    board (a shared syncfs). The hold is released before the daemon is stopped, whatever
    the test did."""
    if request.param == "own filesystem":
        request.getfixturevalue("freezable_fs")(str(tmp_path / "d0"))  # the daemon's dir
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    os.chmod(ctl, 0o777)  # the daemon's user creates and removes the control files
    d = start(daemon, pki, extra=POP3S, smtp_extra="min_free_space = 1M\n", run=False)  # 32 MiB fs
    d.start(env={"LD_PRELOAD": flushfault_so, "FLUSHFAULT_DIR": str(ctl),
                 "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:verify_asan_link_order=0"})
    assert d.control("status")[:-1].count(
        "store_flush: " + ("syncfs" if request.param == "own filesystem" else "fsync")) == 1
    yield d, ctl
    for name in ("hold", "fail"):
        if (ctl / name).exists():
            (ctl / name).unlink()
    assert d.stop() == 0
    d.assert_no_sanitizer_report()


class Wire:
    """A line-oriented TLS client (IMAPS or POP3S) that can tell "no answer yet"."""

    def __init__(self, d, pki, proto, user):
        host, port = d.addr(proto)
        raw = socket.create_connection((host, port), timeout=30)
        self.s = client_ctx(pki, pki.user[user]).wrap_socket(raw, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            self.s.settimeout(30)
            data = self.s.recv(65536)
            if not data:
                raise EOFError("connection closed; got %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until(self, prefix):
        """Lines up to and including the first that starts with prefix."""
        lines = [self.line()]
        while not lines[-1].startswith(prefix):
            lines.append(self.line())
        return lines

    def silent(self):
        """True when nothing has come (the flush it waits for is held, so nothing may)."""
        if self.buf:
            return False
        self.s.settimeout(1)
        try:
            data = self.s.recv(65536)
        except (socket.timeout, TimeoutError):
            return True
        self.buf += data
        return False

    def close(self):
        self.s.close()


def imap_wire(d, pki, user):
    w = Wire(d, pki, "imaps", user)
    assert w.line().startswith(b"* OK ")
    w.send(b'l LOGIN %s@%s "%s"\r\n' % (user.encode(), DOMAIN.encode(), PASSWORDS[user].encode()))
    assert w.until(b"l ")[-1].startswith(b"l OK")
    return w


def pop_wire(d, pki, user):
    w = Wire(d, pki, "pop3s", user)
    assert w.line().startswith(b"+OK")
    w.send(b"USER %s@%s\r\nPASS %s\r\n" % (user.encode(), DOMAIN.encode(),
                                          PASSWORDS[user].encode()))
    assert w.line().startswith(b"+OK") and w.line().startswith(b"+OK")
    return w


def pop_session(d, pki, user):
    host, port = d.addr("pop3s")
    p = poplib.POP3_SSL(host, port, context=client_ctx(pki, pki.user[user]), timeout=30)
    p.user("%s@%s" % (user, DOMAIN))
    p.pass_(PASSWORDS[user])
    return p


def hold(ctl):
    if (ctl / "held").exists():
        (ctl / "held").unlink()
    (ctl / "hold").touch()


def wait_held(ctl):
    wait_for(lambda: (ctl / "held").exists(), 30)


def pop_answers(p, body):
    """Another user's POP3 session is served: STAT and RETR of its message."""
    assert p.stat()[0] == 1
    assert (b"\r\n".join(p.retr(1)[1]) + b"\r\n").endswith(body)


def while_held(ctl, w, command, others_served):
    """Sends command on w while the flushes are held: once a flush is held, another
    session is served (others_served()) and w has no answer; then the hold is released."""
    hold(ctl)
    w.send(command)
    wait_held(ctl)
    others_served()
    assert w.silent(), "%r answered while its flush is held: %r" % (command, w.buf)
    (ctl / "hold").unlink()


def ann_pop_joe_selected(d, pki):
    """A message for ann; her POP3 session and joe's IMAP session with INBOX selected."""
    ann_body = message(1)
    smtp_deliver(d, ann_body, rcpt="ann@" + DOMAIN)
    p = pop_session(d, pki, "ann")
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\n")
    assert w.until(b"s ")[-1].startswith(b"s OK")
    return ann_body, p, w


def test_append_waits_for_its_flush_while_others_are_served(held, pki):
    """joe's APPEND is committed and its flush held: ann's POP3 STAT and RETR are
    answered meanwhile, joe's APPEND is not; after the release joe gets
    OK [APPENDUID], and the message is in his Maildir, byte for byte."""
    d, ctl = held
    ann_body, p, w = ann_pop_joe_selected(d, pki)
    body = message(2, 3000)
    while_held(ctl, w, b"a APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body),
               lambda: pop_answers(p, ann_body))
    lines = w.until(b"a ")
    assert lines[-1].startswith(b"a OK [APPENDUID "), lines
    assert b"* 1 EXISTS" in lines, lines
    assert stored(d) == [body]
    p.quit()
    w.close()


def test_expunge_and_move_wait_for_their_flush(held, pki):
    """EXPUNGE (and MOVE, whose copy is flushed, then its expunge) held: ann is served,
    joe is not answered; after the release the EXPUNGE responses and OK come and the
    files are gone."""
    d, ctl = held
    ann_body = message(1)
    smtp_deliver(d, ann_body, rcpt="ann@" + DOMAIN)
    for i in (1, 2, 3):
        smtp_deliver(d, message(10 + i))
    p = pop_session(d, pki, "ann")
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\nf STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
    assert w.until(b"f ")[-1].startswith(b"f OK")
    while_held(ctl, w, b"e EXPUNGE\r\n", lambda: pop_answers(p, ann_body))
    lines = w.until(b"e ")
    assert lines == [b"* 1 EXPUNGE", b"e OK EXPUNGE completed"], lines
    assert len(messages(d, "joe")) == 2
    while_held(ctl, w, b"m MOVE 1 Archive\r\n", lambda: pop_answers(p, ann_body))
    lines = w.until(b"m ")
    assert lines[-1] == b"m OK MOVE completed" and b"* 1 EXPUNGE" in lines, lines
    assert len(messages(d, "joe")) == 1
    assert len(os.listdir(os.path.join(maildir(d, "joe"), ".Archive", "cur"))) == 1
    p.quit()
    w.close()


def test_folder_create_rename_delete_wait_for_their_flush(held, pki):
    """CREATE, RENAME and DELETE of a folder are answered once the directories they
    changed are flushed; while that flush is held ann is served and joe is not."""
    d, ctl = held
    ann_body = message(1)
    smtp_deliver(d, ann_body, rcpt="ann@" + DOMAIN)
    p = pop_session(d, pki, "ann")
    w = imap_wire(d, pki, "joe")
    md = maildir(d, "joe")
    for tag, command, done, there, gone in (
            (b"c", b"CREATE Projects", b"c OK CREATE completed", ".Projects", None),
            (b"r", b"RENAME Projects Old", b"r OK RENAME completed", ".Old", ".Projects"),
            (b"d", b"DELETE Old", b"d OK DELETE completed", None, ".Old")):
        while_held(ctl, w, tag + b" " + command + b"\r\n", lambda: pop_answers(p, ann_body))
        assert w.until(tag + b" ") == [done]
        assert there is None or os.path.isdir(os.path.join(md, there, "cur"))
        assert gone is None or not os.path.exists(os.path.join(md, gone))
    p.quit()
    w.close()


def joe_selected_ann_deleting(d, pki, joe_commands):
    """A message for each; joe's IMAP session after SELECT INBOX and joe_commands (the
    last one's tag is f), ann's POP3 session after DELE 1."""
    smtp_deliver(d, message(1))
    smtp_deliver(d, message(2), rcpt="ann@" + DOMAIN)  # ann has no maildirsize yet
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\n" + joe_commands)
    assert w.until(b"f ")[-1].startswith(b"f OK")
    a = pop_wire(d, pki, "ann")
    a.send(b"DELE 1\r\n")
    assert a.line().startswith(b"+OK")
    return w, a


def test_pop3_quit_waits_for_its_flush(held, pki):
    """ann's QUIT deletes her message; its flush is held: joe's IMAP NOOP and FETCH are
    answered meanwhile, ann's QUIT is not; after the release she gets +OK and the
    message is gone from her Maildir."""
    d, ctl = held
    w, a = joe_selected_ann_deleting(d, pki, b"f NOOP\r\n")

    def joe_served():
        w.send(b"n NOOP\r\nf FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])\r\n")
        assert w.until(b"f ")[-1].startswith(b"f OK")

    while_held(ctl, a, b"QUIT\r\n", joe_served)
    assert a.line() == b"+OK bye, 1 messages deleted"
    assert messages(d, "ann") == []
    w.close()


def status(d):
    return dict(x.split(": ", 1) for x in d.control("status")[:-1] if ": " in x)


def test_connections_closed_while_their_flush_runs(held, pki):
    """joe's EXPUNGE, ann's POP3 QUIT and joe's APPEND (in another session) wait for
    held flushes; meanwhile the console's `status` is answered (it counts ann's
    mailbox into a new maildirsize, which is not flushed). All three clients reset their
    connections; after the release the flushes complete for sessions that are gone: the
    daemon (ASan) touches no freed memory, the changes are there (the APPEND is stored,
    though its client never saw OK), and the next sessions see them."""
    d, ctl = held
    w, a = joe_selected_ann_deleting(d, pki, b"f STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
    w2 = imap_wire(d, pki, "joe")
    body = message(3)
    m = d.mark()
    hold(ctl)
    w.send(b"e EXPUNGE\r\n")
    wait_held(ctl)
    a.send(b"QUIT\r\n")
    w2.send(b"a APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body))
    # The three wait for a flush (the APPEND's commit batch is running).
    wait_for(lambda: status(d)["store_flushes"].endswith(", 3 waiting") and
             status(d)["smtp_commits"] == "0 waiting, 1 batches running", 30)
    assert w.silent() and a.silent() and w2.silent()
    for c in (w, a, w2):
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # a reset, noticed at once
    wait_for(lambda: len(re.findall(r"(imap|pop3) [\d.:]+: closed \(",
                                    "\n".join(d.lines[m:]))) == 3, 30)
    (ctl / "hold").unlink()
    wait_for(lambda: status(d)["store_flushes"].endswith(", 0 waiting") and
             status(d)["smtp_commits"] == "0 waiting, 0 batches running", 30)
    assert stored(d) == [body]
    assert messages(d, "ann") == []
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\n")
    assert b"* 1 EXISTS" in w.until(b"s ")
    w.close()


def test_failed_flush_answers_no_and_err(held, pki):
    """A directory flush that fails: APPEND answers NO and the message is not in the
    mailbox; COPY answers NO and the copy is removed again; EXPUNGE answers NO (the message is reported gone: its file was removed, but
    the removal is not claimed durable); POP3 QUIT answers -ERR. The sessions go on."""
    d, ctl = held
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\n")
    assert w.until(b"s ")[-1].startswith(b"s OK")
    (ctl / "fail").touch()
    body = message(3)
    w.send(b"a APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body))
    lines = w.until(b"a ")
    assert lines[-1].startswith(b"a NO [SERVERBUG]"), lines
    assert not (ctl / "fail").exists()
    assert messages(d, "joe") == []
    w.send(b"a2 APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body))
    assert w.until(b"a2 ")[-1].startswith(b"a2 OK [APPENDUID ")
    (ctl / "fail").touch()
    w.send(b"c COPY 1 Archive\r\n")
    assert w.until(b"c ")[-1].startswith(b"c NO [SERVERBUG]")
    assert os.listdir(os.path.join(maildir(d, "joe"), ".Archive", "cur")) == []
    w.send(b"f STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
    assert w.until(b"f ")[-1].startswith(b"f OK")
    (ctl / "fail").touch()
    w.send(b"e EXPUNGE\r\n")
    lines = w.until(b"e ")
    assert lines[-1].startswith(b"e NO [SERVERBUG]"), lines
    w.send(b"n NOOP\r\n")
    assert w.until(b"n ")[-1] == b"n OK NOOP completed"
    smtp_deliver(d, message(4), rcpt="ann@" + DOMAIN)
    a = pop_wire(d, pki, "ann")
    a.send(b"DELE 1\r\n")
    assert a.line().startswith(b"+OK")
    (ctl / "fail").touch()
    a.send(b"QUIT\r\n")
    assert a.line().startswith(b"-ERR [SYS/TEMP]")
    w.close()


def uidlist_uids(d, user):
    """The UIDs dovecot-uidlist on disk assigns (its record lines)."""
    with open(os.path.join(maildir(d, user), "dovecot-uidlist"), "rb") as f:
        return [int(x.split(b" ", 1)[0]) for x in f.read().splitlines()[1:] if x]


def test_select_waits_for_its_uidlist_flush(held, pki):
    """joe's SELECT finds a new delivery, so it assigns it a UID and rewrites
    dovecot-uidlist; that file's flush is held: ann's POP3 STAT and RETR are answered
    meanwhile, joe's SELECT is not (no UID is announced before the list that assigns it is
    durable); after the release joe gets EXISTS, UIDNEXT and OK, and the list on disk has
    the new UID."""
    d, ctl = held
    ann_body, p, w = ann_pop_joe_selected(d, pki)
    w.send(b"c CLOSE\r\n")
    assert w.until(b"c ")[-1].startswith(b"c OK")
    smtp_deliver(d, message(2))
    while_held(ctl, w, b"s SELECT INBOX\r\n", lambda: pop_answers(p, ann_body))
    lines = w.until(b"s ")
    assert lines[-1].startswith(b"s OK [READ-WRITE]"), lines
    assert b"* 1 EXISTS" in lines and b"* OK [UIDNEXT 2] Predicted next UID" in lines, lines
    assert uidlist_uids(d, "joe") == [1]
    p.quit()
    w.close()


def test_select_whose_uidlist_flush_fails_reveals_no_uid(held, pki):
    """The same SELECT with the uidlist's flush failing: NO, no EXISTS or UIDNEXT; the
    session goes on, and the next SELECT (flushed) announces the message. The same for
    ann's POP3 login: -ERR [SYS/TEMP], no UIDL; the next login is served."""
    d, ctl = held
    w = imap_wire(d, pki, "joe")
    smtp_deliver(d, message(2))
    (ctl / "fail").touch()
    w.send(b"s SELECT INBOX\r\n")
    lines = w.until(b"s ")
    assert re.match(rb"s NO \[(UNAVAILABLE|SERVERBUG)\]", lines[-1]), lines
    assert not any(b"EXISTS" in x or b"UIDNEXT" in x for x in lines), lines
    assert not (ctl / "fail").exists()
    w.send(b"s2 SELECT INBOX\r\n")
    lines = w.until(b"s2 ")
    assert lines[-1].startswith(b"s2 OK") and b"* 1 EXISTS" in lines, lines
    w.close()
    smtp_deliver(d, message(3), rcpt="ann@" + DOMAIN)
    pop_session(d, pki, "ann").quit()  # her uidlist exists
    smtp_deliver(d, message(4), rcpt="ann@" + DOMAIN)
    a = Wire(d, pki, "pop3s", "ann")
    assert a.line().startswith(b"+OK")
    login = b"USER ann@%s\r\nPASS %s\r\n" % (DOMAIN.encode(), PASSWORDS["ann"].encode())
    (ctl / "fail").touch()
    a.send(login)
    assert a.line().startswith(b"+OK")
    assert a.line().startswith(b"-ERR [SYS/TEMP]")
    assert not (ctl / "fail").exists()
    a.send(b"UIDL\r\n")
    assert a.line().startswith(b"-ERR"), "no UIDL before a login"
    a.send(login)
    assert a.line().startswith(b"+OK") and a.line().startswith(b"+OK logged in, 2 messages")
    a.close()


def test_pop3_login_waits_for_its_uidlist_flush(held, pki):
    """ann's POP3 login finds a new delivery (a new UID, a rewritten uidlist) whose flush
    is held: joe's IMAP session is answered meanwhile, ann's PASS is not; after the
    release +OK, and UIDL names the new message by the UID the list on disk has."""
    d, ctl = held
    smtp_deliver(d, message(1))
    smtp_deliver(d, message(2), rcpt="ann@" + DOMAIN)
    pop_session(d, pki, "ann").quit()  # her uidlist exists (a first one is another story)
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\n")
    assert w.until(b"s ")[-1].startswith(b"s OK")
    smtp_deliver(d, message(3), rcpt="ann@" + DOMAIN)
    a = Wire(d, pki, "pop3s", "ann")
    assert a.line().startswith(b"+OK")
    a.send(b"USER ann@%s\r\n" % DOMAIN.encode())
    assert a.line().startswith(b"+OK")

    def joe_served():
        w.send(b"f FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])\r\n")
        assert w.until(b"f ")[-1].startswith(b"f OK")

    while_held(ctl, a, b"PASS %s\r\n" % PASSWORDS["ann"].encode(), joe_served)
    assert a.line().startswith(b"+OK")
    a.send(b"UIDL\r\n")
    lines = a.until(b".")
    assert lines[0].startswith(b"+OK") and len(lines) == 4, lines
    assert uidlist_uids(d, "ann") == [1, 2]
    assert lines[1].endswith(b".1") and lines[2].startswith(b"2 ") and lines[2].endswith(b".2"), lines
    a.close()
    w.close()


def own_fs(d):
    return "syncfs" in status(d)["store_flush"]


def let_pass(ctl, n):
    """The next n batch flushes are neither held nor failed (the daemon's user counts
    them down in the file)."""
    (ctl / "pass").write_text("%d" % n)
    os.chmod(ctl / "pass", 0o666)


def test_noop_idle_status_wait_for_their_uidlist_flush(held, pki):
    """joe's NOOP, IDLE and STATUS each find a new delivery, so each rewrites
    dovecot-uidlist; its flush is held: ann's POP3 STAT and RETR are answered meanwhile,
    joe's command is not (no EXISTS, no STATUS counts); after the release joe gets them,
    and the list on disk has the new UIDs."""
    d, ctl = held
    ann_body, p, w = ann_pop_joe_selected(d, pki)
    smtp_deliver(d, message(2))
    while_held(ctl, w, b"n NOOP\r\n", lambda: pop_answers(p, ann_body))
    lines = w.until(b"n ")
    assert lines[-1] == b"n OK NOOP completed" and b"* 1 EXISTS" in lines, lines
    assert uidlist_uids(d, "joe") == [1]
    smtp_deliver(d, message(3))
    hold(ctl)
    w.send(b"i IDLE\r\n")
    assert w.line() == b"+ idling"
    wait_held(ctl)
    pop_answers(p, ann_body)
    assert w.silent(), "IDLE reported new mail while its uidlist's flush is held"
    (ctl / "hold").unlink()
    assert w.until(b"* 2 EXISTS")
    assert uidlist_uids(d, "joe") == [1, 2]
    w.send(b"DONE\r\n")
    assert w.until(b"i ")[-1] == b"i OK IDLE terminated"
    w.send(b"c CLOSE\r\n")
    assert w.until(b"c ")[-1].startswith(b"c OK")
    smtp_deliver(d, message(4))
    while_held(ctl, w, b"t STATUS INBOX (MESSAGES UIDNEXT)\r\n", lambda: pop_answers(p, ann_body))
    assert w.until(b"t ") == [b'* STATUS "INBOX" (MESSAGES 3 UIDNEXT 4)', b"t OK STATUS completed"]
    assert uidlist_uids(d, "joe") == [1, 2, 3]
    p.quit()
    w.close()


def test_append_and_copy_uids_wait_for_their_uidlist_flush(held, pki):
    """After APPEND's commit (flushed: "pass" lets its flushes through) the UID lookup
    rewrites the uidlist; that flush is held: ann is served, joe gets no APPENDUID yet.
    The same for COPY into a folder never opened before (a new list, a new UIDVALIDITY
    in dovecot-uidvalidity): COPYUID comes after the release, with the UIDVALIDITY that
    dovecot-uidvalidity on disk holds."""
    d, ctl = held
    ann_body, p, w = ann_pop_joe_selected(d, pki)
    body = message(2, 3000)
    let_pass(ctl, 2 if own_fs(d) else 1)  # the commit's flushes
    while_held(ctl, w, b"a APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body),
               lambda: pop_answers(p, ann_body))
    lines = w.until(b"a ")
    assert not (ctl / "pass").exists(), "the commit's flushes were let through"
    assert re.match(rb"a OK \[APPENDUID \d+ 1\] APPEND completed", lines[-1]), lines
    assert b"* 1 EXISTS" in lines, lines
    assert uidlist_uids(d, "joe") == [1]
    let_pass(ctl, 1)  # the copy's flush of Archive/cur
    while_held(ctl, w, b"c COPY 1 Archive\r\n", lambda: pop_answers(p, ann_body))
    lines = w.until(b"c ")
    assert not (ctl / "pass").exists()
    m = re.match(rb"c OK \[COPYUID (\d+) 1 1\] COPY completed", lines[-1])
    assert m, lines
    md = maildir(d, "joe")
    with open(os.path.join(md, "dovecot-uidvalidity")) as f:
        assert int(f.read(), 16) == int(m.group(1))
    assert uidlist_uids(d, "joe") == [1]
    with open(os.path.join(md, ".Archive", "dovecot-uidlist"), "rb") as f:
        assert f.read().split(b"\n")[0].startswith(b"3 V%s N2" % m.group(1))
    p.quit()
    w.close()


def test_failed_uidlist_flush_of_a_rescan_announces_nothing(held, pki):
    """The uidlist flush of a NOOP fails: NO, no EXISTS, and the message stays out of the
    session's view (UID FETCH 1:* shows nothing); the next NOOP flushes the list again and
    announces it. STATUS whose flush fails: NO and no STATUS counts."""
    d, ctl = held
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\n")
    assert w.until(b"s ")[-1].startswith(b"s OK")
    smtp_deliver(d, message(2))
    (ctl / "fail").touch()
    w.send(b"n NOOP\r\n")
    lines = w.until(b"n ")
    assert re.match(rb"n NO \[(UNAVAILABLE|SERVERBUG)\]", lines[-1]), lines
    assert not any(b"EXISTS" in x for x in lines), lines
    assert not (ctl / "fail").exists()
    w.send(b"f UID FETCH 1:* UID\r\n")
    assert w.until(b"f ") == [b"f OK UID FETCH completed"]
    w.send(b"n2 NOOP\r\n")
    lines = w.until(b"n2 ")
    assert lines[-1] == b"n2 OK NOOP completed" and b"* 1 EXISTS" in lines, lines
    w.send(b"f UID FETCH 1:* UID\r\n")
    assert w.until(b"f ") == [b"* 1 FETCH (UID 1)", b"f OK UID FETCH completed"]
    w.send(b"c CLOSE\r\n")
    assert w.until(b"c ")[-1].startswith(b"c OK")
    smtp_deliver(d, message(3))
    (ctl / "fail").touch()
    w.send(b"t STATUS INBOX (MESSAGES UIDNEXT)\r\n")
    lines = w.until(b"t ")
    assert len(lines) == 1 and re.match(rb"t NO \[(UNAVAILABLE|SERVERBUG)\]", lines[0]), lines
    w.send(b"t2 STATUS INBOX (MESSAGES UIDNEXT)\r\n")
    assert w.until(b"t2 ") == [b'* STATUS "INBOX" (MESSAGES 2 UIDNEXT 3)',
                               b"t2 OK STATUS completed"]
    w.close()


def test_subscribe_keyword_new_folder_wait_for_their_flush(held, pki):
    """SUBSCRIBE and UNSUBSCRIBE (subscriptions), a STORE of a new keyword
    (dovecot-keywords), SELECT of a new folder (its uidlist and dovecot-uidvalidity) and
    RENAME INBOX (its copy of dovecot-keywords) each wait for the flush of what they
    wrote: held, ann is served and joe is not answered; after the release joe gets his
    OK and the files say what he was told."""
    d, ctl = held
    smtp_deliver(d, message(2))
    ann_body, p, w = ann_pop_joe_selected(d, pki)
    md = maildir(d, "joe")

    def subscriptions():
        with open(os.path.join(md, "subscriptions"), "rb") as f:
            return f.read().split(b"\n")[2:-1]

    def served():
        pop_answers(p, ann_body)

    while_held(ctl, w, b"u SUBSCRIBE Projects\r\n", served)
    assert w.until(b"u ") == [b"u OK SUBSCRIBE completed"]
    assert b"Projects" in subscriptions()
    while_held(ctl, w, b"k STORE 1 +FLAGS (Work)\r\n", served)
    lines = w.until(b"k ")
    assert lines[-1] == b"k OK STORE completed", lines
    assert any(x.startswith(b"* FLAGS (") and x.endswith(b" Work)") for x in lines), lines
    with open(os.path.join(md, "dovecot-keywords"), "rb") as f:
        assert f.read() == b"0 Work\n"
    assert [n for n in os.listdir(os.path.join(md, "cur")) if n.endswith("a")], "letter a set"
    w.send(b"c CREATE Projects\r\n")
    assert w.until(b"c ") == [b"c OK CREATE completed"]
    while_held(ctl, w, b"s SELECT Projects\r\n", served)
    lines = w.until(b"s ")
    assert lines[-1].startswith(b"s OK [READ-WRITE]"), lines
    uv = [x for x in lines if x.startswith(b"* OK [UIDVALIDITY ")][0].split()[3].rstrip(b"]")
    with open(os.path.join(md, "dovecot-uidvalidity")) as f:
        assert int(f.read(), 16) == int(uv)
    while_held(ctl, w, b"r RENAME INBOX Moved\r\n", served)
    assert w.until(b"r ") == [b"r OK RENAME completed"]
    with open(os.path.join(md, ".Moved", "dovecot-keywords"), "rb") as f:
        assert f.read() == b"0 Work\n"
    while_held(ctl, w, b"x UNSUBSCRIBE Projects\r\n", served)
    assert w.until(b"x ") == [b"x OK UNSUBSCRIBE completed"]
    assert b"Projects" not in subscriptions()
    p.quit()
    w.close()


def test_failed_keyword_and_subscription_flush_answer_no(held, pki):
    """A STORE of a new keyword whose dovecot-keywords flush fails answers NO and gives
    no message the letter; the next STORE of it flushes the file again (it is still not
    known durable) and sets it. A SUBSCRIBE whose flush fails answers NO."""
    d, ctl = held
    smtp_deliver(d, message(2))
    w = imap_wire(d, pki, "joe")
    md = maildir(d, "joe")
    w.send(b"s SELECT INBOX\r\n")
    assert w.until(b"s ")[-1].startswith(b"s OK")
    (ctl / "fail").touch()
    w.send(b"k STORE 1 +FLAGS (Work)\r\n")
    lines = w.until(b"k ")
    assert len(lines) == 1 and re.match(rb"k NO \[(UNAVAILABLE|SERVERBUG)\]", lines[0]), lines
    assert not [n for n in os.listdir(os.path.join(md, "cur")) if n.endswith("a")]
    hold(ctl)
    w.send(b"k2 STORE 1 +FLAGS (Work)\r\n")
    wait_held(ctl)  # the file is flushed again, though nothing in it changes
    (ctl / "hold").unlink()
    assert w.until(b"k2 ")[-1] == b"k2 OK STORE completed"
    assert [n for n in os.listdir(os.path.join(md, "cur")) if n.endswith("a")]
    (ctl / "fail").touch()
    w.send(b"u SUBSCRIBE Projects\r\n")
    assert re.match(rb"u NO \[(UNAVAILABLE|SERVERBUG)\]", w.until(b"u ")[-1])
    w.close()


def test_first_logins_wait_for_their_maildir(held, pki):
    """ann's first POP3 login (no Maildir yet) and her first IMAP login (no special-use
    folders yet) make them on a worker; held, joe's FETCH is answered meanwhile and
    ann's login is not; after the release she is logged in and the Maildir, the folders
    and the subscriptions file are there."""
    d, ctl = held
    smtp_deliver(d, message(1))
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\n")
    assert w.until(b"s ")[-1].startswith(b"s OK")
    md = maildir(d, "ann")
    assert not os.path.exists(md)

    def joe_served():
        w.send(b"f FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])\r\n")
        assert w.until(b"f ")[-1].startswith(b"f OK")

    a = Wire(d, pki, "pop3s", "ann")
    assert a.line().startswith(b"+OK")
    a.send(b"USER ann@%s\r\n" % DOMAIN.encode())
    assert a.line().startswith(b"+OK")
    while_held(ctl, a, b"PASS %s\r\n" % PASSWORDS["ann"].encode(), joe_served)
    assert a.line() == b"+OK logged in, 0 messages (0 octets)"
    assert all(os.path.isdir(os.path.join(md, x)) for x in ("cur", "new", "tmp"))
    a.send(b"QUIT\r\n")
    assert a.line().startswith(b"+OK")
    a.close()
    a = Wire(d, pki, "imaps", "ann")
    assert a.line().startswith(b"* OK ")
    while_held(ctl, a, b'l LOGIN ann@%s "%s"\r\n' % (DOMAIN.encode(), PASSWORDS["ann"].encode()),
               joe_served)
    assert a.until(b"l ")[-1].startswith(b"l OK [CAPABILITY ")
    for folder in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
        assert os.path.isdir(os.path.join(md, "." + folder, "cur"))
    a.send(b'b LSUB "" "*"\r\n')
    lines = a.until(b"b ")
    assert all(any(f in x for x in lines) for f in (b"Sent", b"Drafts", b"Trash", b"Junk",
                                                     b"Archive")), lines
    a.close()
    w.close()


def test_failed_first_login_flush(held, pki):
    """A first POP3 login whose Maildir cannot be flushed answers -ERR [SYS/TEMP]; the next
    one is served. So does a first IMAP login with NO [UNAVAILABLE]. A first IMAP login
    whose folders (not the Maildir) cannot be flushed is logged in all the same (the
    folders are a convenience), writes no subscriptions file, and the next login makes
    them."""
    d, ctl = held
    md = maildir(d, "ann")
    a = Wire(d, pki, "pop3s", "ann")
    assert a.line().startswith(b"+OK")
    (ctl / "fail").touch()
    a.send(b"USER ann@%s\r\nPASS %s\r\n" % (DOMAIN.encode(), PASSWORDS["ann"].encode()))
    assert a.line().startswith(b"+OK")
    assert a.line().startswith(b"-ERR [SYS/TEMP]")
    a.close()
    pop_session(d, pki, "ann").quit()
    assert os.path.isdir(md)
    (ctl / "fail").touch()
    w = Wire(d, pki, "imaps", "joe")
    assert w.line().startswith(b"* OK ")
    w.send(b'l LOGIN joe@%s "%s"\r\n' % (DOMAIN.encode(), PASSWORDS["joe"].encode()))
    assert w.until(b"l ")[-1].startswith(b"l NO [UNAVAILABLE]")
    assert not (ctl / "fail").exists()
    w.close()
    # ann's Maildir is durable (her POP3 login), her folders are not made yet.
    (ctl / "fail").touch()
    w = imap_wire(d, pki, "ann")
    assert not (ctl / "fail").exists()
    assert not os.path.exists(os.path.join(md, "subscriptions"))
    w.close()
    for user in ("ann", "joe"):
        imap_wire(d, pki, user).close()
        with open(os.path.join(maildir(d, user), "subscriptions"), "rb") as f:
            assert f.read() == b"V\t2\n\nSent\nDrafts\nTrash\nJunk\nArchive\n"


def test_maildir_whose_flush_failed_is_flushed_by_its_next_user(held, pki):
    """ann's first POP3 login makes her Maildir, whose flush fails: -ERR [SYS/TEMP]. Its
    directories are there now, but not durable: her next login flushes them again before
    it opens the mailbox (failing again, it answers -ERR [SYS/TEMP] without having
    written a dovecot-uidlist), and so does a delivery to her: while that flush is held
    the message is not in her Maildir and not acknowledged; after the release it gets
    250, and her next login is served with it."""
    d, ctl = held
    md = maildir(d, "ann")
    login = b"USER ann@%s\r\nPASS %s\r\n" % (DOMAIN.encode(), PASSWORDS["ann"].encode())
    for _ in range(2):
        a = Wire(d, pki, "pop3s", "ann")
        assert a.line().startswith(b"+OK")
        (ctl / "fail").touch()
        a.send(login)
        assert a.line().startswith(b"+OK")
        assert a.line().startswith(b"-ERR [SYS/TEMP]")
        assert not (ctl / "fail").exists()
        a.close()
        assert all(os.path.isdir(os.path.join(md, x)) for x in ("cur", "new", "tmp"))
        assert not os.path.exists(os.path.join(md, "dovecot-uidlist")), \
            "the mailbox was opened, its Maildir's flush not tried again"
    if own_fs(d):
        let_pass(ctl, 1)  # the message's data (a syncfs)
    done = []
    hold(ctl)
    t = threading.Thread(target=lambda: done.append(
        smtp_deliver(d, message(1), rcpt="ann@" + DOMAIN)))
    t.start()
    wait_held(ctl)
    assert os.listdir(os.path.join(md, "new")) == [] and t.is_alive()
    (ctl / "hold").unlink()
    t.join(30)
    assert done == [None]  # 250: smtplib raised nothing
    assert len(os.listdir(os.path.join(md, "new"))) == 1
    a = pop_wire(d, pki, "ann")
    a.send(b"STAT\r\n")
    assert a.line().startswith(b"+OK 1 ")
    a.close()


def test_failed_rescan_flush_keeps_other_sessions_changes_for_the_next(held, pki):
    """Another session of joe flags message 1 and expunges message 2, and a message
    arrives; joe's NOOP finds all three changes, but its uidlist flush fails: NO and
    nothing announced. The next NOOP, flushed, reports them all (RFC 3501 7.4.1, 7.4.2):
    FETCH FLAGS for message 1, EXPUNGE for message 2, EXISTS for the new one. The same in
    IDLE: a flag change seen by a rescan whose flush failed (silently) is reported by the
    next rescan, at the next delivery."""
    d, ctl = held
    for i in (1, 2, 3):
        smtp_deliver(d, message(i))
    a, b = imap(d, pki), imap(d, pki)
    assert a.select("INBOX")[0] == "OK" and b.select("INBOX")[0] == "OK"
    b.store("1", "+FLAGS.SILENT", "(\\Flagged)")
    b.store("2", "+FLAGS.SILENT", "(\\Deleted)")
    assert b.expunge()[0] == "OK"
    smtp_deliver(d, message(4))
    a.untagged_responses.clear()
    (ctl / "fail").touch()
    typ, data = a.noop()
    assert typ == "NO" and re.match(rb"\[(UNAVAILABLE|SERVERBUG)\]", data[0]), data
    assert not (ctl / "fail").exists()
    assert not {"FETCH", "EXPUNGE", "EXISTS"} & set(a.untagged_responses), a.untagged_responses
    assert a.noop()[0] == "OK"
    assert a.untagged_responses.pop("FETCH") == [b"1 (FLAGS (\\Flagged \\Recent))"]
    assert a.untagged_responses.pop("EXPUNGE") == [b"2"]
    assert a.untagged_responses.pop("EXISTS") == [b"3"]
    assert a.uid("SEARCH", "ALL") == ("OK", [b"1 3 4"])
    a.logout()
    # IDLE: b flags message 3 (no notification), a delivery wakes the idler, whose
    # rescan sees both and fails its flush; the next delivery's rescan reports both.
    w = imap_wire(d, pki, "joe")
    w.send(b"s SELECT INBOX\r\n")
    assert w.until(b"s ")[-1].startswith(b"s OK")
    w.send(b"i IDLE\r\n")
    assert w.line() == b"+ idling"
    b.store("2", "+FLAGS.SILENT", "(\\Answered)")  # message UID 3
    let_pass(ctl, 2 if own_fs(d) else 1)  # the delivery's flushes
    (ctl / "fail").touch()
    smtp_deliver(d, message(5))
    wait_for(lambda: not (ctl / "fail").exists(), 30)
    assert w.silent(), "IDLE reported what its failed flush did not make durable"
    smtp_deliver(d, message(6))
    lines = w.until(b"* 5 EXISTS")
    assert b"* 2 FETCH (FLAGS (\\Answered))" in lines, lines
    w.send(b"DONE\r\n")
    assert w.until(b"i ")[-1] == b"i OK IDLE terminated"
    w.close()
    b.logout()
