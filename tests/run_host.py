#!/usr/bin/python3
"""run_host.py - `make run` until the board image exists: runs the host build of mailgwd
in the foreground with a data directory under output/run, and says how to reach it."""
import os
import subprocess
import sys

out = sys.argv[1]
run = os.path.join(out, "run")
data = os.path.join(run, "data")
os.makedirs(os.path.join(data, "etc"), exist_ok=True)
conf = os.path.join(data, "etc", "mailgw.conf")
if not os.path.exists(conf):
    with open(conf, "w") as f:
        f.write("# mailgw.conf for `make run` on this machine; see README, Configuration.\n"
                "data_dir = %s\nuser = nobody\nlog_syslog = no\n[control]\nsocket = %s/control\n"
                "# SMTP on a high loopback port: port 25 may be taken by the machine's own MTA.\n"
                "[smtp]\nlisten = 127.0.0.1:2525\n"
                "# POP3S and IMAPS need the office CA ([tls]): off until it is installed.\n"
                "[pop3s]\nlisten = off\n[imaps]\nlisten = off\n"
                % (data, run))
print("mailgwd: config %s; control socket %s/control (try: echo status | nc -U %s/control)"
      % (conf, run, run), flush=True)
os.execv(os.path.join(out, "host", "bin", "mailgwd"), ["mailgwd", "-c", conf])
