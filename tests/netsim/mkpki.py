#!/usr/bin/python3
"""mkpki.py DIR - the netsim's PKI, made by the integration tests' test PKI (pki.py, the
openssl CLI): DIR/ca.crt, DIR/crl.pem (revoking "rev"), DIR/server.{crt,key} and the
client certificates DIR/{joe,ann,rev,foreign}.{crt,key}. Does nothing when DIR/done exists
(make removes it when this script or pki.py changes)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import pki  # noqa: E402

out = os.path.abspath(sys.argv[1])
if os.path.exists(os.path.join(out, "done")):
    sys.exit(0)
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
p = pki.PKI(os.path.join(out, "src"))
shutil.copy(p.ca.crt, os.path.join(out, "ca.crt"))
p.ca.crl(os.path.join(out, "crl.pem"), revoked=[p.user["rev"]])
for name, c in (("server", p.server), ("joe", p.user["joe"]), ("ann", p.user["ann"]),
                ("rev", p.user["rev"]), ("foreign", p.user["foreign"])):
    shutil.copy(c.crt, os.path.join(out, name + ".crt"))
    shutil.copy(c.key, os.path.join(out, name + ".key"))
open(os.path.join(out, "done"), "w").close()
