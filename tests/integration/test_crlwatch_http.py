"""crlwatch's network source against real servers: nginx from Debian (HTTP and HTTPS, with
ETag/Last-Modified) on loopback ports, started by the test, and a server that never
answers. Every fetched candidate goes through the one validation path: installed (and
the newly revoked user's next POP3S connection is refused) or refused with its reason."""
import datetime
import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from pki import CA, now, run
from test_crlwatch import (CRLWATCH, children, crlwatch, free_port, installed, pem_of,
                           proc_status, wait_for, watched)
from test_pop3 import pop, refused

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    log_format st '$request_method $uri $status $body_bytes_sent';
    access_log {dir}/access.log st;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    default_type application/pkix-crl;
    server {{
        listen 127.0.0.1:{http};
        root {root};
    }}
    server {{
        listen 127.0.0.1:{https} ssl;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {root};
    }}
    server {{
        listen 127.0.0.1:{https12} ssl;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2;
        root {root};
    }}
}}
"""


class Nginx:
    def __init__(self, dir, server):
        self.dir = str(dir)
        self.root = os.path.join(self.dir, "www")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        os.makedirs(self.root, exist_ok=True)
        self.http, self.https, self.https12 = free_port(), free_port(), free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, root=self.root, http=self.http,
                                      https=self.https, https12=self.https12, crt=server.crt, key=server.key))
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.http), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

    def serve(self, name, src=None, data=None):
        tmp = os.path.join(self.root, name + ".tmp")
        if src:
            shutil.copy(src, tmp)
        else:
            with open(tmp, "wb") as f:
                f.write(data)
        os.replace(tmp, os.path.join(self.root, name))

    def statuses(self, name):
        with open(os.path.join(self.dir, "access.log")) as f:
            return [int(l.split()[2]) for l in f if l.split()[1] == "/" + name]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def nginx(tmp_path, pki):
    n = Nginx(tmp_path / "nginx", pki.server)
    yield n
    n.stop()


def with_url(daemon, pki, tmp_path, url, extra=""):
    first = pki.ca.crl(str(tmp_path / "first.pem"), number=3)
    return watched(daemon, pki, tmp_path, crl=first,
                   extra_crlwatch="url = %s\n%s" % (url, extra))


def test_http_fetch_installs_then_304(daemon, pki, tmp_path, nginx):
    d = with_url(daemon, pki, tmp_path, "http://127.0.0.1:%d/ca.crl" % nginx.http)
    new = pki.ca.crl(str(tmp_path / "new.pem"), revoked=[pki.user["rev"]], number=4)
    der = subprocess.run(["openssl", "crl", "-in", new, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    nginx.serve("ca.crl", data=der)
    m = d.mark()
    r = crlwatch(d, "refresh")
    assert r.returncode == 0, r.stderr
    assert "installed" in r.stdout
    assert installed(d) == pem_of(new)
    d.wait_log(r"generation 2 replaces 1", start=m)
    refused(d, pki, pki.user["rev"])
    # Unchanged on the server: a conditional GET, answered 304, nothing reloaded.
    r = crlwatch(d, "refresh")
    assert r.returncode == 0, r.stderr
    assert "not modified (HTTP 304)" in r.stderr
    assert nginx.statuses("ca.crl") == [200, 304]
    assert "next_attempt: never" not in crlwatch(d, "status").stdout


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_https_fetch_one_tls_version(daemon, pki, tmp_path, nginx, version):
    d = with_url(daemon, pki, tmp_path, "https://localhost:%d/crl.pem" % nginx.https,
                 "tls_version = %s\n" % version)
    new = pki.ca.crl(str(tmp_path / "new.pem"), revoked=[pki.user["mia"]], number=4)
    nginx.serve("crl.pem", src=new)
    r = crlwatch(d, "refresh")
    assert r.returncode == 0, r.stderr
    assert installed(d) == pem_of(new)
    refused(d, pki, pki.user["mia"])


def test_tls13_only_client_does_not_fall_back_to_tls12(daemon, pki, tmp_path, nginx):
    d = with_url(daemon, pki, tmp_path, "https://localhost:%d/crl.pem" % nginx.https12,
                 "tls_version = 1.3\n")
    before = installed(d)
    nginx.serve("crl.pem", src=pki.ca.crl(str(tmp_path / "new.pem"), number=4))
    r = crlwatch(d, "refresh")
    assert r.returncode == 1
    assert "TLS with localhost" in r.stderr, r.stderr
    assert installed(d) == before


def test_https_server_not_trusted_is_refused(daemon, pki, tmp_path, nginx):
    d = with_url(daemon, pki, tmp_path, "https://localhost:%d/crl.pem" % nginx.https,
                 "trust = %s\n" % pki.foreign.crt)
    before = installed(d)
    nginx.serve("crl.pem", src=pki.ca.crl(str(tmp_path / "new.pem"), number=4))
    r = crlwatch(d, "refresh")
    assert r.returncode == 1
    assert "server certificate not trusted" in r.stderr, r.stderr
    assert installed(d) == before
    assert nginx.statuses("crl.pem") == []  # no request was sent


@pytest.mark.parametrize("case", ["foreign", "bad", "huge", "404", "older"])
def test_bad_responses_are_not_installed(daemon, pki, tmp_path, nginx, case):
    d = with_url(daemon, pki, tmp_path, "http://127.0.0.1:%d/crl.pem" % nginx.http)
    before = installed(d)
    reason = {
        "foreign": "not issued by this CA",
        "bad": "not a valid CRL",
        "huge": "body larger than the size limit",
        "404": "HTTP 404",
        "older": "rollback refused",
    }[case]
    if case == "foreign":
        nginx.serve("crl.pem", src=pki.foreign.crl(str(tmp_path / "f.pem"), number=9))
    elif case == "bad":
        nginx.serve("crl.pem", data=b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    elif case == "huge":
        nginx.serve("crl.pem", data=b"0" * (2 * 1024 * 1024))
    elif case == "older":
        nginx.serve("crl.pem", src=pki.ca.crl(str(tmp_path / "o.pem"), number=2))
    r = crlwatch(d, "refresh")
    assert r.returncode == 1
    assert reason in r.stderr, r.stderr
    assert installed(d) == before
    st = crlwatch(d, "status").stdout
    assert reason in st, st
    pop(d, pki, user="mia").quit()  # mailgwd serves with the CRL it had


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege separation needs root")
def test_stalled_server_times_out_with_backoff(daemon, pki, tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    held = []

    def accept():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            held.append(c)  # read nothing, answer nothing

    threading.Thread(target=accept, daemon=True).start()
    d = with_url(daemon, pki, tmp_path, "http://127.0.0.1:%d/crl.pem" % srv.getsockname()[1],
                 "timeout = 8s\n")
    before = installed(d)
    # While the server stalls, the process talking to it is not root.
    p = subprocess.Popen([CRLWATCH, "-c", d.conf_path, "refresh"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: held)
    uids = [int(proc_status(c)["Uid"].split()[0]) for c in children(p.pid)]
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1 and "timed out" in err, err
    assert uids == [pwd.getpwnam("nobody").pw_uid]
    r = crlwatch(d, "refresh")
    assert r.returncode == 1
    assert "timed out" in r.stderr, r.stderr
    assert "(2 in a row)" in r.stderr
    assert installed(d) == before
    srv.close()


def test_url_from_the_ca_certificates_crl_distribution_point(daemon, pki, tmp_path, nginx):
    # A CA whose certificate names where its CRL is published (no [crlwatch] url).
    ca = CA(str(tmp_path / "dpca"), "CA with a distribution point")
    run("openssl", "req", "-config", ca.cnf, "-new", "-x509", "-key", ca.key, "-out", ca.crt,
        "-days", "3650", "-subj", "/CN=CA with a distribution point", "-extensions", "v3_ca",
        "-sha256", "-addext",
        "crlDistributionPoints=URI:ldap://ldap.invalid/x,URI:http://127.0.0.1:%d/dp.crl"
        % nginx.http)
    first = ca.crl(str(tmp_path / "dp1.pem"), number=1)
    d = watched(daemon, pki, tmp_path, crl=first, ca=ca.crt)
    new = ca.crl(str(tmp_path / "dp2.pem"), number=2)
    nginx.serve("dp.crl", src=new)
    r = crlwatch(d, "refresh")
    assert r.returncode == 0, r.stderr
    assert "CRL from http://127.0.0.1:%d/dp.crl installed" % nginx.http in r.stderr
    assert installed(d) == pem_of(new)


def dp_ca(tmp_path, name, url):
    """A CA whose certificate names where its CRL is published."""
    ca = CA(str(tmp_path / name), "CA %s" % name)
    run("openssl", "req", "-config", ca.cnf, "-new", "-x509", "-key", ca.key, "-out", ca.crt,
        "-days", "3650", "-subj", "/CN=CA %s" % name, "-extensions", "v3_ca", "-sha256",
        "-addext", "crlDistributionPoints=URI:%s" % url)
    return ca


def test_each_ca_crl_from_its_own_distribution_point(daemon, pki, tmp_path, nginx):
    # Two CAs in [tls] ca, each publishing its CRL at its own URL: a refresh fetches
    # both; each new CRL replaces its own CA's CRL only; one URL failing does not keep
    # the other's CRL out.
    base = "http://127.0.0.1:%d/" % nginx.http
    a, b = dp_ca(tmp_path, "a", base + "a.crl"), dp_ca(tmp_path, "b", base + "b.crl")
    cas = tmp_path / "cas.pem"
    cas.write_bytes(open(a.crt, "rb").read() + open(b.crt, "rb").read())
    a1, b1 = a.crl(str(tmp_path / "a1.pem"), number=1), b.crl(str(tmp_path / "b1.pem"), number=1)
    both = tmp_path / "both.pem"
    both.write_bytes(pem_of(a1) + pem_of(b1))
    d = watched(daemon, pki, tmp_path, crl=str(both), ca=str(cas))
    b2 = b.crl(str(tmp_path / "b2.pem"), number=2)
    nginx.serve("b.crl", src=b2)  # a.crl is not there yet: 404
    r = crlwatch(d, "refresh")
    assert r.returncode == 1, r.stderr
    assert "%sa.crl: HTTP 404" % base in r.stderr
    assert "CRL from %sb.crl installed" % base in r.stderr
    assert installed(d) == pem_of(a1) + pem_of(b2)
    a2 = a.crl(str(tmp_path / "a2.pem"), number=2)
    nginx.serve("a.crl", src=a2)
    r = crlwatch(d, "refresh")
    assert r.returncode == 0, r.stderr
    assert "CRL from %sa.crl installed" % base in r.stderr
    assert installed(d) == pem_of(a2) + pem_of(b2)
    assert nginx.statuses("a.crl") == [404, 200]
    assert nginx.statuses("b.crl") == [200, 200]


def next_attempt_in(d):
    st = crlwatch(d, "status").stdout
    m = re.search(r"next_attempt: (\S+ \S+) UTC", st)
    assert m, st
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return (t - now()).total_seconds()


def test_schedule_backoff_then_earlier_attempts_near_next_update(daemon, pki, tmp_path, nginx):
    d = with_url(daemon, pki, tmp_path, "http://127.0.0.1:%d/crl.pem" % nginx.http)
    # Failures (404): 30 s, then 60 s, each +-25 %.
    assert crlwatch(d, "refresh").returncode == 1
    assert 0 < next_attempt_in(d) <= 38
    r = crlwatch(d, "refresh")
    assert "(2 in a row)" in r.stderr
    assert 40 <= next_attempt_in(d) <= 76
    # A CRL valid 2 hours: the next attempt comes after a quarter of that (+-25 %), not
    # after the 6 h poll period.
    nginx.serve("crl.pem", src=pki.ca.crl(str(tmp_path / "short.pem"), number=4,
                                          next=now() + datetime.timedelta(hours=2)))
    r = crlwatch(d, "refresh")
    assert r.returncode == 0 and "installed" in r.stdout, r.stderr
    assert 1300 <= next_attempt_in(d) <= 2260
