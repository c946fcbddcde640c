"""Mail end to end through the booted appliance: swaks to port 25, fetchmail over POP3S
with a client certificate (the reference article's rcfile shape), and a client without a
certificate refused in the handshake.

mailgwd gets its SMTP receiver and POP3S service from other branches. Until both are in,
this test skips: it asks the daemon itself, by checking a configuration that has
[smtp] and [pop3s] sections (`mailgwd -t`); once they parse, the test runs.
"""
import os
import subprocess
import tempfile

import pytest

HOST_BIN = os.environ.get("MGW_HOST_BIN", os.path.join(os.path.dirname(__file__), "../../output/host/bin"))


def mailgwd_has(section):
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write("[%s]\n" % section)
        f.flush()
        r = subprocess.run([os.path.join(HOST_BIN, "mailgwd"), "-t", "-c", f.name],
                           capture_output=True, text=True)
    return "unknown section" not in (r.stdout + r.stderr)


def test_mail_end_to_end(vm):
    missing = [s for s in ("smtp", "pop3s") if not mailgwd_has(s)]
    if missing:
        pytest.skip("mailgwd has no %s service yet (its configuration rejects [%s]); this "
                    "end-to-end test turns on when the SMTP and POP3S branches are merged"
                    % (" and ".join(missing), "] and [".join(missing)))
    pytest.fail("mailgwd now has [smtp] and [pop3s]: write the provisioning of a user, the "
                "office CA and CRL on the booted image here (swaks -> :25, fetchmail with "
                "sslcert/sslkey -> :995, a client without a certificate refused)")
