"""The mailgwd core: configuration errors, start, control socket, reload, stop, privileges."""
import os
import signal
import socket
import subprocess
import time

import pytest

from mgw import Daemon, binary


def run_check(tmp_path, text):
    d = Daemon(tmp_path, "")
    with open(d.conf_path, "w") as f:
        f.write(text)
    return d, subprocess.run([binary("mailgwd"), "-c", d.conf_path], capture_output=True,
                             text=True, timeout=30)


@pytest.mark.parametrize("text,lineno,problem", [
    ("hostname = a\nfrobnicate = yes\n", 2, "unknown key 'frobnicate'"),
    ("max_connections = lots\n", 1, "max_connections: expected a whole number"),
    ("\n\n[control]\nsocket = relative/path\n", 4, "socket: must be an absolute path"),
    ("[smtpd]\n", 1, "unknown section [smtpd]"),
])
def test_bad_config_names_file_and_line(tmp_path, text, lineno, problem):
    d, r = run_check(tmp_path, text)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines == ["mailgwd: %s:%d: %s" % (d.conf_path, lineno, problem)], r.stderr


def test_missing_config_file(tmp_path):
    path = str(tmp_path / "nope.conf")
    r = subprocess.run([binary("mailgwd"), "-c", path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip() == "mailgwd: %s: cannot open: No such file or directory" % path


def test_check_mode(tmp_path):
    d = Daemon(tmp_path, "max_connections = 32\n")
    r = subprocess.run([binary("mailgwd"), "-c", d.conf_path, "-t"], capture_output=True, text=True)
    assert r.returncode == 0
    assert "configuration ok" in r.stdout


def test_status_over_control_socket(daemon):
    d = daemon()
    reply = d.control("status")
    assert reply[-1] == "OK"
    fields = dict(line.split(": ", 1) for line in reply[:-1])
    assert fields["generation"] == "1"
    assert fields["config"] == d.conf_path
    assert int(fields["connections"]) == 1  # this very control connection
    assert oct(os.stat(d.control_path).st_mode & 0o777) == "0o600"


def test_control_rejects_garbage_and_survives(daemon):
    d = daemon()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.control_path)
    s.sendall(b"x" * 5000 + b"\n" + b"\x00\x01bogus\n" + b"status\n")
    s.settimeout(5)
    data = b""
    while b"\nOK\n" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    s.close()
    assert b"ERR line too long" in data
    assert b"ERR" in data.split(b"\n")[1]
    assert d.control("status")[-1] == "OK"


def test_sighup_reload_good_and_bad(daemon):
    d = daemon()
    # A good new file becomes generation 2.
    d.write_conf("max_connections = 99\n")
    m = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"generation 2 replaces 1", start=m)
    # A bad file is refused with file:line, and generation 2 stays.
    with open(d.conf_path, "a") as f:
        f.write("bogus_key = 1\n")
    m = d.mark()
    d.signal(signal.SIGHUP)
    line = d.wait_log(r"reload refused", start=m)
    assert "keeping generation 2" in line and d.conf_path + ":" in line and "unknown key 'bogus_key'" in line
    status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
    assert status["generation"] == "2"


def test_reload_via_control_reports_error(daemon):
    d = daemon()
    d.write_conf("max_connections = 2\n")
    reply = d.control("reload")
    assert reply == ["ERR %s:1: max_connections: out of range (4 to 10000)" % d.conf_path]


def test_sigterm_waits_for_sessions_then_exits_zero(daemon):
    d = daemon()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.control_path)
    t0 = time.time()
    d.signal(signal.SIGTERM)
    d.wait_log(r"stopping: no new connections, 1 open")
    # The idle session is closed when the grace period (3 s) ends; then exit 0.
    assert d.proc.wait(10) == 0
    assert 2.5 <= time.time() - t0 < 9
    assert s.recv(10) == b""
    assert d.stop() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_privilege_drop(daemon):
    d = daemon()
    with open("/proc/%d/status" % d.proc.pid) as f:
        uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
    nobody = int(subprocess.check_output(["id", "-u", "nobody"]))
    assert all(int(u) == nobody for u in uids)
    assert "running as nobody" in d.log()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_refuses_to_stay_root(tmp_path):
    d = Daemon(tmp_path, "", drop_to="root")
    d.start(wait=False)
    assert d.wait_exit(20) == 1
    assert "refusing to run as root" in d.log()


def test_mailgw_cli_status_reload_and_errors(daemon):
    d = daemon()
    cli = [binary("mailgw"), "-s", d.control_path]
    r = subprocess.run(cli + ["status"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "generation: 1" in r.stdout.splitlines()
    r = subprocess.run(cli + ["reload"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout == ""
    assert "generation: 2" in subprocess.check_output(cli + ["status"], text=True).splitlines()
    d.write_conf("max_connections = 2\n")
    r = subprocess.run(cli + ["reload"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert r.stderr.strip() == "mailgw: %s:1: max_connections: out of range (4 to 10000)" % d.conf_path
    r = subprocess.run(cli + ["frobnicate"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "Invalid command" in r.stderr
    r = subprocess.run([binary("mailgw"), "-s", d.control_path + ".nope", "status"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "cannot reach mailgwd" in r.stderr
