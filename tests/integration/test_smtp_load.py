"""SMTP under load and under failure: Postfix's smtp-source as a load generator, kill -9
during deliveries, a full disk."""
import os
import pathlib
import random
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from smtputil import Raw, add_domains, all_visible, messages, smtp_conf, split_trace, start_mx
from mgw import Daemon, wait_for

LOAD_CONF = "max_per_address = 20\nmax_connections = 32\nrate = 1000\n"


def body_file(tmp_path, who):
    """A message as smtp-source -F sends it: LF lines, each sent with CRLF, leading dots
    stuffed. Returns (path, the bytes a Maildir must hold after our trace headers)."""
    # Leading dots (stuffed by smtp-source, unstuffed by us) and a 900-octet line.
    text = ("From: load@example.net\n"
            "To: %s@example.com\n"
            "Subject: load test for %s\n"
            "\n"
            ".a line starting with a dot\n"
            "..two dots\n"
            "%s\n"
            "\n"
            "the end for %s\n" % (who, who, "x" * 900, who))
    p = tmp_path / ("body-" + who)
    p.write_text(text)
    # smtp-source ends DATA with "\r\n.\r\n" after the file's last CRLF: that empty
    # line is part of what it sent, so it is part of the message.
    return str(p), text.replace("\n", "\r\n").encode() + b"\r\n"


@pytest.fixture(params=["host disk", "own filesystem"])
def data_fs(request, tmp_path):
    """(folder for a daemon, extra [smtp] settings): on the host's disk (mailgwd flushes
    each message with its own fsync) or on an ext4 of its own, as /data on the board
    (deliveries are committed in batches, one syncfs per step of a batch)."""
    if request.param == "host disk":
        return tmp_path, ""
    mount = request.getfixturevalue("freezable_fs")
    return pathlib.Path(mount(str(tmp_path / "fs"))), "min_free_space = 1M\n"  # 32 MiB


@pytest.mark.skipif(not os.path.exists("/usr/sbin/smtp-source"), reason="postfix not installed")
def test_smtp_source_5000_messages_10_sessions(tmp_path, data_fs):
    base, extra = data_fs
    d = Daemon(base / "d", smtp_conf(LOAD_CONF + extra))
    add_domains(d)
    d.start()
    try:
        host, port = d.addr("smtp")
        runs = []
        expect = {}
        for who in ("alice", "bob"):
            path, want = body_file(tmp_path, who)
            expect[who] = want
            # 2 x 2500 messages, 5 sessions each, every session sends many messages.
            runs.append(subprocess.Popen(
                ["/usr/sbin/smtp-source", "-d", "-s", "5", "-m", "2500", "-M", "source.example",
                 "-f", "load@example.net", "-t", "%s@example.com" % who, "-F", path,
                 "%s:%d" % (host, port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        for p in runs:
            out, _ = p.communicate(timeout=900)
            # smtp-source stops with an error on the first reply that is not positive, so
            # exit 0 means every one of its messages was acknowledged with 250.
            assert p.returncode == 0, (out, d.log()[-3000:])
        for who in ("alice", "bob"):
            msgs = messages(d, "example.com", who)
            assert len(msgs) == 2500, who
            for m in msgs:
                trace, rest = split_trace(m)
                assert rest == expect[who]
                assert (b"for <%s@example.com>" % who.encode()) in trace
        assert messages(d, "example.org", "carol") == []
        assert os.listdir(os.path.join(d.data, "spool")) == []
        ok = [l for l in d.lines if "smtp msg id=" in l and "result=250" in l]
        assert len(ok) == 5000
    finally:
        assert d.stop() == 0
    d.assert_no_sanitizer_report()


class Sender:
    """Sends numbered messages one at a time over smtplib; remembers which ones got 250.
    Never resends a message: an unacknowledged one may or may not be delivered."""

    def __init__(self, total):
        self.total = total
        self.next = 0
        self.acked = set()
        self.lock = threading.Lock()

    @staticmethod
    def body(i):
        line = b"message %06d line %04d ...........................................\r\n"
        return (b"Subject: crash %d\r\n\r\n" % i) + b"".join(
            line % (i, n) for n in range(1 + (i * 37) % 400))

    def take(self):
        with self.lock:
            self.next += 1
            return self.next - 1

    def run(self, addr, stop):
        while not stop.is_set() and self.next < self.total:
            try:
                s = smtplib.SMTP(addr[0], addr[1], timeout=10)
                s.ehlo("crash.example")
            except (OSError, smtplib.SMTPException):
                return
            try:
                while not stop.is_set() and self.next < self.total:
                    i = self.take()
                    s.sendmail("crash@example.net", ["alice@example.com"], self.body(i))
                    with self.lock:
                        self.acked.add(i)
            except (OSError, smtplib.SMTPException):
                return


def test_kill_9_during_deliveries_loses_nothing(data_fs):
    """kill -9 at random moments while messages stream in from four clients (so that
    deliveries commit together, in batches on a filesystem of its own); after each
    restart every acknowledged message is there, complete, exactly once, and nothing
    partial is visible."""
    base, extra = data_fs
    d = Daemon(base / "d", smtp_conf(LOAD_CONF + extra), asan=False)
    add_domains(d)
    rng = random.Random(4711)
    sender = Sender(100000)
    for round_ in range(6):
        d.start()
        stop = threading.Event()
        ts = [threading.Thread(target=sender.run, args=(d.addr("smtp"), stop))
              for _ in range(4)]
        for t in ts:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        stop.set()
        for t in ts:
            t.join(30)
        d.listening.clear()
        d.lines.clear()
    # A last clean start runs the start-up cleanup; then look at the mailbox.
    d.start()
    assert d.stop() == 0
    assert len(sender.acked) > 20, "the kills came too early to show anything"
    seen = {}
    for path in all_visible(d):
        with open(path, "rb") as f:
            m = f.read()
        trace, rest = split_trace(m)
        subject = rest.split(b"\r\n", 1)[0]
        assert subject.startswith(b"Subject: crash "), rest[:80]
        i = int(subject.split()[-1])
        assert rest == Sender.body(i), "message %d is incomplete" % i
        assert i not in seen, "message %d delivered twice" % i
        seen[i] = path
    print("kill -9 x6: %d acknowledged, %d visible, %d unacknowledged but delivered"
          % (len(sender.acked), len(seen), len(set(seen) - sender.acked)))
    missing = sender.acked - set(seen)
    assert not missing, "acknowledged but lost: %r" % sorted(missing)[:10]
    # The spool (where a message is written before it is acknowledged) is empty after the
    # start-up cleanup; a link a kill left in tmp/ is invisible to readers and the store
    # removes it once it is 36 hours old (Maildir convention).
    assert os.listdir(os.path.join(d.data, "spool")) == []


@pytest.fixture
def tiny_fs(tmp_path):
    """A 1 MiB tmpfs as the data directory (needs root: CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount tmpfs: " + r.stderr)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def tiny_daemon(tiny_fs, extra):
    d = Daemon(tiny_fs / "d", smtp_conf(LOAD_CONF + extra))
    from smtputil import add_domains
    add_domains(d)
    return d.start()


def test_disk_full_reserve_452(tiny_fs):
    d = tiny_daemon(tiny_fs, "min_free_space = 2M\n")
    try:
        r = Raw(d.addr("smtp"))
        r.cmd("EHLO c.example")
        assert r.text("MAIL FROM:<s@example.net>").startswith("452 4.3.1")
        assert r.text("QUIT").startswith("221")
        assert all_visible(d) == []
    finally:
        assert d.stop() == 0


def test_admin_mail_uses_half_the_reserve(tiny_fs):
    """Free space between half the reserve and the reserve: mail to postmaster/abuse is
    still accepted (the admin gets the warnings), mail to anybody else gets 452 4.3.1."""
    d = tiny_daemon(tiny_fs, "min_free_space = 1400K\n")
    try:
        r = Raw(d.addr("smtp"))
        r.cmd("EHLO c.example")
        assert r.text("MAIL FROM:<s@example.net>").startswith("250")
        assert r.text("RCPT TO:<bob@example.com>").startswith("452 4.3.1")
        assert r.text("RCPT TO:<postmaster@example.com>").startswith("250")
        assert r.text("RCPT TO:<abuse@example.org>").startswith("250")
        assert r.cmd("DATA")[0] == 354
        r.send(b"Subject: disk filling\r\n\r\nwarning\r\n.\r\n")
        assert r.reply()[0] == 250
        assert r.text("QUIT").startswith("221")
        assert len(messages(d, "example.com", "alice")) == 1  # the postmaster
        assert messages(d, "example.com", "bob") == []
    finally:
        assert d.stop() == 0


def test_disk_fills_mid_message(tiny_fs):
    d = tiny_daemon(tiny_fs, "min_free_space = 0\n")
    try:
        host, port = d.addr("smtp")
        r = Raw((host, port))
        r.cmd("EHLO c.example")
        r.cmd("MAIL FROM:<s@example.net>")
        r.cmd("RCPT TO:<alice@example.com>")
        assert r.cmd("DATA")[0] == 354
        line = b"z" * 78 + b"\r\n"
        r.send(b"Subject: too big for the disk\r\n\r\n" + line * 20000 + b".\r\n")
        code, lines = r.reply()
        assert code in (451, 452), lines
        # The disk is usable again at once (the partial file is gone): a small message
        # goes through on the same connection.
        r.cmd("MAIL FROM:<s@example.net>")
        r.cmd("RCPT TO:<alice@example.com>")
        r.cmd("DATA")
        r.send(b"Subject: small\r\n\r\nfits\r\n.\r\n")
        assert r.reply()[0] == 250
        r.cmd("QUIT")
        msgs = messages(d, "example.com", "alice")
        assert [split_trace(m)[1] for m in msgs] == [b"Subject: small\r\n\r\nfits\r\n"]
        assert os.listdir(os.path.join(d.data, "spool")) == []
    finally:
        assert d.stop() == 0


def test_concurrent_deliveries_to_one_mailbox_both_acknowledged(daemon):
    """Deliveries commit on worker threads and share the fsync of the mailbox's new/
    (group commit): eight clients end their messages to the same user at the same moment
    (every final dot sent in one go); every one gets 250, and every message is in new/,
    complete, once. A pipelined command behind the dot is answered after the 250."""
    from smtputil import Raw
    d = start_mx(daemon, LOAD_CONF)
    n = 8
    clients = []
    for i in range(n):
        r = Raw(d.addr("smtp"))
        assert r.cmd("EHLO c%d.example" % i)[0] == 250
        assert r.cmd("MAIL FROM:<s%d@example.net>" % i)[0] == 250
        assert r.cmd("RCPT TO:<alice@example.com>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send("Subject: concurrent %d\r\n\r\nbody %d\r\n" % (i, i))
        clients.append(r)
    for r in clients:
        r.send(".\r\nNOOP\r\n")
    for i, r in enumerate(clients):
        code, lines = r.reply()
        assert code == 250, lines
        assert r.reply()[0] == 250  # the NOOP, after the message's reply
        assert r.cmd("QUIT")[0] == 221
        r.close()
    got = sorted(split_trace(m)[1] for m in messages(d, "example.com", "alice"))
    want = sorted(b"Subject: concurrent %d\r\n\r\nbody %d\r\n" % (i, i) for i in range(n))
    assert got == want
    d.stop()
    d.assert_no_sanitizer_report()


# ---- group commit under I/O errors ----------------------------------------------------

FLUSHFAULT_C = os.path.join(os.path.dirname(__file__), "flushfault.c")


@pytest.fixture(scope="module")
def flushfault_so(tmp_path_factory):
    """tests/integration/flushfault.c, the LD_PRELOAD shim that stalls or fails the
    daemon's flushes when the test says so (no device-mapper on the build host)."""
    so = str(tmp_path_factory.mktemp("flushfault") / "flushfault.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", so, FLUSHFAULT_C, "-ldl"],
                   check=True)
    return so


@pytest.fixture(params=["host disk", "own filesystem"])
def faulty_mx(request, tmp_path, flushfault_so):
    """(daemon, control folder): a daemon whose flushes the shim controls, with its data
    on the host's disk (one fsync per message, shared new/ fsyncs) or on an ext4 of its
    own, as /data on the board (one shared syncfs per batch)."""
    own = request.param == "own filesystem"
    base = tmp_path
    if own:
        base = pathlib.Path(request.getfixturevalue("freezable_fs")(str(tmp_path / "fs")))
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    os.chmod(ctl, 0o777)  # the daemon's user creates and removes the control files
    d = Daemon(base / "d", smtp_conf(LOAD_CONF + "min_free_space = 1M\n"))  # 32 MiB fs
    add_domains(d)
    d.start(env={"LD_PRELOAD": flushfault_so, "FLUSHFAULT_DIR": str(ctl),
                 "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:verify_asan_link_order=0"})
    assert flush_status(d)[0] == ("syncfs" if own else "fsync")
    yield d, ctl
    assert d.stop() == 0
    d.assert_no_sanitizer_report()


def flush_status(d):
    """(mode, deliveries waiting for a flush or for a commit batch now) from `status`."""
    st = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    return st["store_flush"], (int(st["store_flushes"].split(", ")[1].split()[0]) +
                               int(st["smtp_commits"].split()[0]))


def batch_body(i):
    return b"Subject: batch %d\r\n\r\nmessage %d of the batch\r\n" % (i, i)


def send_batch_msg(addr, i, codes):
    """One message; codes[i] = the reply to its final dot."""
    try:
        with smtplib.SMTP(*addr, timeout=60) as s:
            s.sendmail("s@example.net", ["alice@example.com"], batch_body(i))
        codes[i] = 250
    except smtplib.SMTPDataError as e:
        codes[i] = e.smtp_code


def visible_batch(d):
    """{message number: times it is in alice's Maildir}, each checked byte-exact."""
    seen = {}
    for m in messages(d, "example.com", "alice"):
        rest = split_trace(m)[1]
        i = int(rest.split(b"\r\n", 1)[0].split()[-1])
        assert rest == batch_body(i), rest
        seen[i] = seen.get(i, 0) + 1
    return seen


def stalled_batch(d, ctl, arm):
    """Message 1 is committed and its flush stalls (shim "hold"); arm() then sets a fault;
    messages 2, 3 and 4 are committed and wait for a flush or a commit batch (or failed
    before). Releases the stall and returns {message: reply code}."""
    codes = {}
    send_batch_msg(d.addr("smtp"), 0, codes)  # the mailbox exists
    assert codes[0] == 250
    # status counts alice's mailbox into a new maildirsize (an atomic write, with its
    # own fsyncs): before the stall, so that the polls below only read it.
    flush_status(d)
    (ctl / "hold").touch()
    first = threading.Thread(target=send_batch_msg, args=(d.addr("smtp"), 1, codes))
    first.start()
    wait_for(lambda: (ctl / "held").exists(), 30)
    arm()
    rest = [threading.Thread(target=send_batch_msg, args=(d.addr("smtp"), i, codes))
            for i in (2, 3, 4)]
    for t in rest:
        t.start()
    # Every one of them is waiting behind the stalled flush, or already refused.
    # (Message 1 counts as waiting for its own flush.)
    wait_for(lambda: flush_status(d)[1] + sum(1 for i in (2, 3, 4) if i in codes) == 4, 30)
    (ctl / "hold").unlink()
    for t in [first] + rest:
        t.join(60)
    return codes


def test_failed_flush_refuses_every_message_it_covered(faulty_mx):
    """The kernel reports a write-back error to one flush only. That flush fails every
    message it covered with 451, and none of them is in the mailbox; none is told 250
    because a flush it retried alone found nothing to report. Every message told 250 is
    there, complete, once. The daemon then delivers as before.
    On the host disk messages 2-4 wait together for the one fsync of new/ after the
    stalled one, which fails: all three get 451. On a filesystem of its own the failed
    syncfs covers the data of the batch that was waiting (message 2 at least; the
    commit queue starts 3 and 4 in a later batch): the batch itself is checked
    deterministically by tests/unit/test_dirsync.c."""
    d, ctl = faulty_mx
    m = d.mark()
    codes = stalled_batch(d, ctl, lambda: (ctl / "fail").touch())
    assert len(re.findall(r"(syncfs|fsync directory): Input/output error",
                          "\n".join(d.lines[m:]))) == 1, "one flush failed"
    if flush_status(d)[0] == "fsync":
        assert [codes[i] for i in (2, 3, 4)] == [451, 451, 451], codes
    assert all(codes[i] in (250, 451) for i in (1, 2, 3, 4)), codes
    assert any(codes[i] == 451 for i in (2, 3, 4)), codes
    assert visible_batch(d) == {i: 1 for i in (0, 1, 2, 3, 4) if codes[i] == 250}
    send_batch_msg(d.addr("smtp"), 5, codes)
    assert codes[5] == 250
    assert visible_batch(d)[5] == 1


def test_failed_write_back_of_one_message_refuses_only_it(faulty_mx):
    """One message's own data fails to reach the disk (its fsync, or its file's error
    after the shared syncfs): that message gets 451 and is not in the mailbox; the
    other messages of its batch get 250 and are there, complete, once."""
    d, ctl = faulty_mx
    codes = stalled_batch(d, ctl, lambda: (ctl / "fail_file").touch())
    refused = [i for i in (1, 2, 3, 4) if codes[i] == 451]
    assert len(refused) == 1, codes
    assert all(codes[i] == 250 for i in (1, 2, 3, 4) if i not in refused), codes
    assert visible_batch(d) == {i: 1 for i in (0, 1, 2, 3, 4) if i not in refused}
