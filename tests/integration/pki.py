"""pki.py - a test PKI made with the openssl CLI: the office CA, a foreign CA, server
certificates (ECDSA P-256 and RSA 2048) for localhost/127.0.0.1, user certificates, and
CRLs on demand (any set of revoked certificates, any lastUpdate/nextUpdate).

Every CRL is made from a copy of the CA's database, so tests never disturb each other.
"""
import datetime
import os
import shutil
import subprocess

CA_CNF = """\
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = copy
email_in_dn = yes
[ policy_any ]
commonName = supplied
emailAddress = optional
[ usr ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[ srv ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
[ req ]
distinguished_name = dn
[ dn ]
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


def run(*args, cwd=None):
    r = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def utc(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


class Cert:
    def __init__(self, name, crt, key):
        self.name, self.crt, self.key = name, crt, key

    def serial(self):
        out = run("openssl", "x509", "-in", self.crt, "-noout", "-serial")
        return out.strip().split("=", 1)[1]


class CA:
    def __init__(self, dir, cn, keyalg="ec"):
        self.dir = dir
        os.makedirs(os.path.join(dir, "newcerts"), exist_ok=True)
        open(os.path.join(dir, "index.txt"), "w").close()
        with open(os.path.join(dir, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(dir, "crlnumber"), "w") as f:
            f.write("01\n")
        self.cnf = os.path.join(dir, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write(CA_CNF.format(dir=dir))
        self.key = os.path.join(dir, "ca.key")
        self.crt = os.path.join(dir, "ca.crt")
        self._genkey(self.key, keyalg)
        run("openssl", "req", "-config", self.cnf, "-new", "-x509", "-key", self.key, "-out", self.crt,
            "-days", "3650", "-subj", "/CN=%s" % cn, "-extensions", "v3_ca", "-sha256")

    @staticmethod
    def _genkey(path, alg):
        if alg == "ec":
            run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path)
        else:
            run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % alg,
                "-out", path)
        os.chmod(path, 0o600)

    def issue(self, name, subj, san=None, ext="usr", keyalg="ec", start=None, end=None):
        """A certificate signed by this CA; start/end are datetimes (default: valid now
        for a year)."""
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        crt = os.path.join(self.dir, name + ".crt")
        self._genkey(key, keyalg)
        req = ["openssl", "req", "-config", self.cnf, "-new", "-key", key, "-out", csr, "-subj", subj]
        if san:
            req += ["-addext", "subjectAltName=" + san]
        run(*req)
        start = start or now() - datetime.timedelta(days=1)
        end = end or now() + datetime.timedelta(days=365)
        run("openssl", "ca", "-batch", "-config", self.cnf, "-extensions", ext, "-in", csr,
            "-out", crt, "-notext", "-startdate", utc(start), "-enddate", utc(end))
        return Cert(name, crt, key)

    def crl(self, out, revoked=(), last=None, next=None, number=None, exts=None):
        """Writes a CRL revoking the given certificates to out (a fresh copy of the CA
        database each time). last/next default to an hour ago / 30 days ahead; number
        (an int) is its CRL number (default: the database's, the same every time); exts
        are extra crlExtensions lines in openssl's config syntax."""
        tmp = out + ".db"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.dir, tmp, ignore=shutil.ignore_patterns("*.db"))
        cnf = os.path.join(tmp, "ca.cnf")
        with open(cnf, "w") as f:
            f.write(CA_CNF.format(dir=tmp))
            if exts:
                f.write("[ crl_exts ]\n%s\n" % "\n".join(exts))
        if number is not None:
            with open(os.path.join(tmp, "crlnumber"), "w") as f:
                f.write("%04X\n" % number)
        for cert in revoked:
            run("openssl", "ca", "-config", cnf, "-revoke", cert.crt, "-crl_reason", "keyCompromise")
        last = last or now() - datetime.timedelta(hours=1)
        next = next or now() + datetime.timedelta(days=30)
        run("openssl", "ca", "-config", cnf, "-gencrl", "-out", out, "-crl_lastupdate", utc(last),
            "-crl_nextupdate", utc(next), *(("-crlexts", "crl_exts") if exts else ()))
        shutil.rmtree(tmp, ignore_errors=True)
        return out


class PKI:
    """The test PKI: pki.ca (office CA), pki.foreign (another CA), pki.server (ECDSA),
    pki.server_rsa, and users by name: pki.user["joe"] ..."""

    USERS = {
        # name: (subject, subjectAltName)
        "joe": ("/CN=joe@example.test", "email:joe@example.test"),
        "ann": ("/CN=ann@example.test", "email:ann@example.test"),
        "rev": ("/CN=rev@example.test", "email:rev@example.test"),
        "mia": ("/CN=mia@example.test", "email:mia@example.test"),
        "sam": ("/CN=sam@example.test", "email:sam@example.test"),
        "bob": ("/CN=bob@example.test", "email:bob@example.test"),
        # identity only in the subject's emailAddress (no SAN)
        "sub": ("/CN=Sub User/emailAddress=sub@example.test", None),
        # no email anywhere: refused at login under identity = email
        "noid": ("/CN=noid", None),
    }

    def __init__(self, root):
        self.root = str(root)
        self.ca = CA(os.path.join(self.root, "ca"), "mailgw test office CA")
        self.foreign = CA(os.path.join(self.root, "foreign"), "Some other CA")
        self.server = self.ca.issue("server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", ext="srv")
        self.server_rsa = self.ca.issue("server_rsa", "/CN=localhost", "DNS:localhost,IP:127.0.0.1",
                                        ext="srv", keyalg=2048)
        self.user = {n: self.ca.issue(n, subj, san) for n, (subj, san) in self.USERS.items()}
        self.user["expired"] = self.ca.issue(
            "expired", "/CN=old@example.test", "email:old@example.test",
            start=now() - datetime.timedelta(days=400), end=now() - datetime.timedelta(days=2))
        self.user["future"] = self.ca.issue(
            "future", "/CN=new@example.test", "email:new@example.test",
            start=now() + datetime.timedelta(days=2), end=now() + datetime.timedelta(days=400))
        self.user["foreign"] = self.foreign.issue("foreign_joe", "/CN=joe@example.test",
                                                  "email:joe@example.test")
        self.crl_path = self.ca.crl(os.path.join(self.root, "crl.pem"))

    def path(self, name):
        return os.path.join(self.root, name)
