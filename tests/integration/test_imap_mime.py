"""FETCH ENVELOPE, BODYSTRUCTURE, BODY and BODY[section] with part numbers, and SEARCH over
decoded text, on MIME messages as real mailers write them (and as broken ones do), with
Python's imaplib over IMAPS; Debian's Dovecot (dovecot-imapd) is the oracle: a throwaway
instance on loopback serves a copy of the same Maildir (the files mailgwd stored after
SMTP delivery) and must give the same answers.

Both answers are parsed into values before they are compared, so a string sent quoted by
one server and as a literal by the other compares equal (RFC 3501 4.3 lets a server choose).
"""
import base64
import hashlib
import os
import re

import pytest

import dovecot_oracle
from test_imap import imap, smtp_deliver, start
from gate import deliver

pytestmark = pytest.mark.skipif(not dovecot_oracle.available(),
                                reason="needs root and dovecot-imapd (make deps)")

BIG = os.urandom(2 * 1024 * 1024)


def b64(data):
    return b"\r\n".join(base64.encodebytes(data).split(b"\n")).rstrip(b"\r\n") + b"\r\n"


def corpus():
    """(Message-ID, bytes) of every test message, CRLF as SMTP carries them."""
    msgs = []

    def add(mid, text):
        msgs.append((mid, b"Message-ID: <%s@mime.test>\r\n" % mid.encode() + text))

    add("nested", b"From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@example.org>, \"Ann B.\" <ann@x.org>\r\n"
        b"To: Team: a@example.org, b@example.org;, undisclosed-recipients:;\r\n"
        b"Cc: c@example.org (Carl)\r\nReply-To: <@relay.example:reply@example.org>\r\n"
        b"Subject: =?iso-8859-1?q?Caf=E9?= =?utf-8?b?IGNyw6htZQ==?= and more\r\n"
        b"Date: Mon, 30 Nov 2026 10:00:00 +0100\r\nIn-Reply-To: <prev@example.org>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_outer\"\r\n\r\n"
        b"This is a multi-part message in MIME format.\r\n--=_outer\r\n"
        b"Content-Type: multipart/alternative;\r\n\tboundary=\"=_alt\"\r\n\r\n--=_alt\r\n"
        b"Content-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Gr=FC=DFe aus M=FCnchen, ein sehr langer Satz der umbrochen wird und=\r\n weitergeht.\r\n"
        b"--=_alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64("<p>Grüße aus München</p>\n".encode()) +
        b"--=_alt--\r\n\r\n--=_outer\r\n"
        b"Content-Type: application/pdf;\r\n name*0*=utf-8''%E2%82%AC%20Rechnung;\r\n name*1=\" 2026.pdf\"\r\n"
        b"Content-Disposition: attachment;\r\n filename*0*=utf-8''%E2%82%AC%20Rechnung;\r\n"
        b" filename*1=\" 2026.pdf\"; size=12\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-ID: <part3@example.org>\r\nContent-Description: =?utf-8?q?Rechnung_=E2=82=AC?=\r\n"
        b"Content-Language: de, en\r\nContent-Location: rechnung.pdf\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\n"
        + b64(b"%PDF-1.4 fake") + b"--=_outer--\r\nepilogue\r\n")
    add("rfc822", b"From: fwd@example.org\r\nTo: joe@example.test\r\nSubject: Fwd: inner\r\n"
        b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
        b"see attached\r\n--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        b"From: Inner Sender <inner@example.net>\r\nTo: x@example.net\r\nSubject: the inner one\r\n"
        b"Date: Sun, 29 Nov 2026 09:00:00 -0500\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\ninner text\r\n--b2\r\n"
        b"Content-Type: text/html\r\n\r\n<b>inner</b>\r\n--b2--\r\n\r\n--b1--\r\n")
    add("malformed", b"From: broken@example.org\r\nSubject: broken boundaries\r\n"
        b"Content-Type: multipart/mixed; boundary=\"never\"\r\n\r\n--nevermind this is not it\r\n"
        b"no boundary ever comes\r\n")
    add("unterminated", b"From: a@example.org\r\nSubject: unterminated\r\n"
        b"Content-Type: multipart/mixed; boundary=u\r\n\r\npre\r\n--u\r\n\r\nno header\r\n--u\r\n"
        b"Content-Type: multipart/related; boundary=inner\r\n\r\n--inner\r\n"
        b"Content-Type: text/plain\r\n\r\ninner never closed\r\n--u\r\n"
        b"Content-Type: text/plain\r\n\r\nlast, no close delimiter\r\n")
    add("noboundary", b"Subject: multipart without boundary\r\nContent-Type: multipart/mixed\r\n\r\nbody\r\n")
    add("digest", b"Subject: digest\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
        b"Subject: first\r\nFrom: one@example.org\r\n\r\nbody one\r\n--d\r\n"
        b"Content-Type: text/plain\r\n\r\nnot a message\r\n--d--\r\n")
    add("big", b"From: big@example.org\r\nSubject: =?utf-8?q?gro=C3=9F?=\r\n"
        b"Content-Type: multipart/mixed; boundary=big\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\n"
        b"two MiB follow\r\n--big\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=\"random.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64(BIG) + b"--big--\r\n")
    add("oddities", "From: Zoë <zoe@example.org>\r\nSubject: raw UTF-8 Grüße (RFC 6532)\r\n".encode() +
        b"To: \"Smith, J\" <j@example.org>,\r\n\t(comment only) k@example.org\r\nNot a header line\r\n"
        b"Content-Type: multipart/mixed (a comment); boundary=\"x y\"; charset=\"ignored\"\r\n\r\n"
        b"--x y\r\nContent-Type: text/plain (plain text); charset=UTF-8 (utf)\r\n"
        b"Content-Transfer-Encoding: 8bit\r\nContent-Disposition: inline; filename=\"a\\\"b.txt\"\r\n\r\n"
        + "Grüße\r\n".encode() + b"--x y\r\nContent-Type: TEXT/Calendar; method=REQUEST\r\n"
        b"Content-Language: en\r\n\r\nBEGIN:VCALENDAR\r\n--x y--\r\n")
    add("plain", b"From: \"Doe, John\" <john@example.org>\r\nSubject: plain text\r\n\r\nJust text.\r\n")
    return msgs


def lf_message():
    """A message as another server's Maildir holds it: LF line ends."""
    return (b"Message-ID: <lf@mime.test>\nFrom: lf@example.org\nSubject: LF on disk\n"
            b"To: \"folded\n local\"@example.org\n"  # a line break inside a quoted string
            b"Content-Type: multipart/mixed; boundary=L\n\n--L\nContent-Type: text/plain\n\n"
            b"line one\nline two\n--L\nContent-Type: text/plain; name=x.txt\n\nattached\n--L--\n")


# ---- a small parser of IMAP values (RFC 3501 section 9) -----------------------------

def raw_response(data):
    """imaplib's FETCH data (tuples for literals) back into the bytes on the wire."""
    out = b""
    for d in data:
        out += d[0] + b"\r\n" + d[1] if isinstance(d, tuple) else d
    return out


def parse_values(b, i=0):
    """The list of values of b from i: NIL -> None, numbers -> int, strings and atoms ->
    bytes, lists -> lists."""
    out = []
    while i < len(b):
        c = b[i:i + 1]
        if c == b" ":
            i += 1
        elif c == b"(":
            v, i = parse_values(b, i + 1)
            out.append(v)
        elif c == b")":
            return out, i + 1
        elif c == b'"':
            j, s = i + 1, b""
            while b[j:j + 1] != b'"':
                if b[j:j + 1] == b"\\":
                    j += 1
                s += b[j:j + 1]
                j += 1
            out.append(s)
            i = j + 1
        elif c == b"{":
            m = re.match(rb"\{(\d+)\}\r\n", b[i:])
            n = int(m.group(1))
            start = i + m.end()
            out.append(b[start:start + n])
            i = start + n
        else:
            # an atom; a section spec runs to its "]" ("BODY[HEADER.FIELDS (A B)]<0>")
            m = re.match(rb"[^ ()\[]+\[[^\]]*\][^ ()]*|[^ ()]+", b[i:])
            a = m.group(0)
            out.append(None if a == b"NIL" else int(a) if a.isdigit() else a)
            i += m.end()
    return out, i


def fetch_items(m, seq, items):
    """{item name: value} of one message's FETCH."""
    typ, data = m.fetch(str(seq), items if items in ("ALL", "FAST", "FULL") else "(%s)" % items)
    assert typ == "OK", data
    raw = raw_response(data)
    vals, _ = parse_values(raw[raw.index(b"(") + 1:])
    vals = vals[0] if len(vals) == 1 and isinstance(vals[0], list) else vals
    # the names as each server echoes them: the field names' case and quotes may differ
    return {vals[k].decode().upper().replace('"', ""): vals[k + 1] for k in range(0, len(vals), 2)}


def by_message_id(m):
    typ, data = m.select("INBOX")
    assert typ == "OK"
    out = {}
    for seq in range(1, int(data[0]) + 1):
        hdr = fetch_items(m, seq, "BODY.PEEK[HEADER.FIELDS (Message-ID)]")
        out[re.search(rb"<([^@]+)@", hdr["BODY[HEADER.FIELDS (MESSAGE-ID)]"]).group(1).decode()] = seq
    return out


def part_paths(body, prefix=""):
    """(part number, is message/rfc822) of every part of a BODYSTRUCTURE value."""
    if not isinstance(body[0], list):
        return [(prefix + "1", False)]  # a body that is not multipart is part 1
    out = []
    for k, child in enumerate(body):
        if not isinstance(child, list):
            break  # the subtype, then extension data
        path = "%s%d" % (prefix, k + 1)
        is_msg = isinstance(child[0], bytes) and child[0].lower() == b"message" and \
            child[1].lower() == b"rfc822"
        out.append((path, is_msg))
        if isinstance(child[0], list):
            out += part_paths(child, path + ".")
        elif is_msg:
            out += part_paths(child[8], path + ".")
    return out


@pytest.fixture
def servers(daemon, pki, tmp_path):
    d = start(daemon, pki)
    for _, text in corpus():
        smtp_deliver(d, text)
    deliver(d, "joe", lf_message())
    dv = dovecot_oracle.Dovecot(tmp_path / "dovecot", os.path.join(d.data, "mail", "example.test",
                                                                    "joe", "Maildir"))
    try:
        ours, theirs = imap(d, pki), dv.login()
        yield d, ours, theirs
        ours.logout()
        theirs.logout()
    finally:
        dv.stop()


def test_envelope_and_bodystructure_as_dovecot(servers):
    d, ours, theirs = servers
    mine, oracle = by_message_id(ours), by_message_id(theirs)
    assert sorted(mine) == sorted(oracle) and len(mine) == len(corpus()) + 1
    for mid in sorted(mine):
        a = fetch_items(ours, mine[mid], "ENVELOPE BODYSTRUCTURE BODY")
        b = fetch_items(theirs, oracle[mid], "ENVELOPE BODYSTRUCTURE BODY")
        for item in ("ENVELOPE", "BODYSTRUCTURE", "BODY"):
            assert a[item] == b[item], "%s %s:\nmailgwd %r\ndovecot %r" % (mid, item, a[item], b[item])
    # The FULL macro (RFC 3501 6.4.5) is FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.
    a, b = fetch_items(ours, mine["nested"], "FULL"), fetch_items(theirs, oracle["nested"], "FULL")
    assert sorted(a) == sorted(b) == ["BODY", "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert [a[k] for k in ("BODY", "ENVELOPE", "RFC822.SIZE")] == \
        [b[k] for k in ("BODY", "ENVELOPE", "RFC822.SIZE")]
    # What a mail client shows: the attachment's name and size, the inner message's subject.
    bs = fetch_items(ours, mine["nested"], "BODYSTRUCTURE")["BODYSTRUCTURE"]
    assert bs[1][2] == [b"name*", b"utf-8''%E2%82%AC%20Rechnung 2026.pdf"]
    assert bs[1][8] == [b"attachment", [b"size", b"12", b"filename*", b"utf-8''%E2%82%AC%20Rechnung 2026.pdf"]]
    bs = fetch_items(ours, mine["rfc822"], "BODYSTRUCTURE")["BODYSTRUCTURE"]
    assert bs[1][:2] == [b"message", b"rfc822"] and bs[1][7][1] == b"the inner one"
    bs = fetch_items(ours, mine["big"], "BODYSTRUCTURE")["BODYSTRUCTURE"]
    assert bs[1][6] > 2 * 1024 * 1024 * 4 // 3


def test_body_sections_as_dovecot(servers):
    d, ours, theirs = servers
    mine, oracle = by_message_id(ours), by_message_id(theirs)
    # BODY (not PEEK) of a part sets \Seen, as RFC 3501 6.4.5 says.
    f = fetch_items(ours, mine["plain"], "BODY[1]")
    assert f["BODY[1]"] == b"Just text.\r\n" and b"\\Seen" in f["FLAGS"]
    asked = 0
    for mid in sorted(mine):
        bs = fetch_items(theirs, oracle[mid], "BODYSTRUCTURE")["BODYSTRUCTURE"]
        items = ["BODY.PEEK[TEXT]", "BODY.PEEK[1]", "BODY.PEEK[1]<3.10>", "BODY.PEEK[9]",
                 "BODY.PEEK[HEADER.FIELDS.NOT (Received)]", "BODY.PEEK[HEADER]", "RFC822.HEADER",
                 "RFC822.SIZE", "RFC822.TEXT"]
        for path, is_msg in part_paths(bs):
            items += ["BODY.PEEK[%s]" % path, "BODY.PEEK[%s.MIME]" % path]
            if is_msg:
                items += ["BODY.PEEK[%s.HEADER]" % path, "BODY.PEEK[%s.TEXT]" % path,
                          "BODY.PEEK[%s.HEADER.FIELDS (Subject FROM)]" % path,
                          "BODY.PEEK[%s.HEADER.FIELDS.NOT (Subject)]" % path, "BODY.PEEK[%s.1]" % path]
        for item in items:
            a = fetch_items(ours, mine[mid], item)
            b = fetch_items(theirs, oracle[mid], item)
            a.pop("FLAGS", None)  # RFC822.TEXT sets \Seen: both say so, compared below
            b.pop("FLAGS", None)
            assert a == b, "%s %s:\nmailgwd %r\ndovecot %r" % (mid, item, a, b)
            asked += 1
    assert asked > 60
    # The 2 MiB attachment arrives whole and decodes to the bytes that were sent.
    part = fetch_items(ours, mine["big"], "BODY.PEEK[2]")["BODY[2]"]
    assert base64.b64decode(part) == BIG


def test_search_decodes_headers_and_bodies(servers):
    d, ours, theirs = servers
    mine, oracle = by_message_id(ours), by_message_id(theirs)
    names = {v: k for k, v in mine.items()}
    onames = {v: k for k, v in oracle.items()}

    def search(m, names, charset, *keys, literal=None):
        m.literal = literal
        typ, data = m.search(charset, *keys)
        assert typ == "OK", data
        return sorted(names[int(n)] for n in data[0].split())

    cases = [
        ("UTF-8", ("SUBJECT",), "CAFÉ CRÈME".encode()),   # RFC 2047, two words joined, folded
        ("UTF-8", ("FROM",), "jörg müller".encode()),
        ("UTF-8", ("SUBJECT",), "groß".encode()),
        ("UTF-8", ("BODY",), "grüße aus münchen".encode()),   # quoted-printable, ISO-8859-1
        ("UTF-8", ("BODY",), "Satz der umbrochen wird und weitergeht".encode()),  # soft break
        ("UTF-8", ("TEXT",), "inner text".encode()),
        ("UTF-8", ("BODY",), "GRÜSSE".encode()),   # no match: no ß -> ss folding either side
        (None, ("HEADER", "Content-Type", "digest"), None),
        (None, ("CC", "carl"), None),
        (None, ("SUBJECT", "Caf=E9"), None),   # the encoded form is not the subject
        (None, ("BODY", "PGNyw6htZQ"), None),
    ]
    found = 0
    for charset, keys, lit in cases:
        got = search(ours, names, charset, *keys, literal=lit)
        want = search(theirs, onames, charset, *keys, literal=lit)
        assert got == want, (keys, lit, got, want)
        found += bool(got)
    assert found == 8, found
    # The cases above found what they looked for (so the comparison is not empty).
    assert search(ours, names, "UTF-8", "SUBJECT", literal="CAFÉ CRÈME".encode()) == ["nested"]
    assert search(ours, names, "UTF-8", "BODY", literal="grüße aus münchen".encode()) == ["nested"]
    assert search(ours, names, None, "SUBJECT", "Caf=E9") == []
    # Only US-ASCII and UTF-8 (RFC 3501 6.4.4: NO [BADCHARSET]).
    ours.literal = None
    typ, data = ours.search("ISO-8859-2", "ALL")
    assert typ == "NO" and data[0].startswith(b"[BADCHARSET"), data
