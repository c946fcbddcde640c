"""The hardware watchdog seen through the simulated backend (a regular file that shows
the last pet): a running daemon pets it, a frozen one does not, a clean stop disarms."""
import os
import signal
import socket
import subprocess
import time

import pytest

from mgw import wait_for


def read(path):
    with open(path) as f:
        return f.read().strip()


def pets(path):
    line = read(path)
    return int(line.split()[1]) if line.startswith("pet ") else 0


def test_frozen_daemon_stops_petting(daemon, tmp_path):
    wd = str(tmp_path / "watchdog")
    open(wd, "w").close()
    os.chmod(wd, 0o600)
    d = daemon("watchdog = %s\nwatchdog_timeout = 3s\n" % wd)
    d.wait_log(r"watchdog %s armed: timeout 3 s, pet every 1000 ms" % wd)
    wait_for(lambda: pets(wd) >= 3, timeout=10)

    d.signal(signal.SIGSTOP)
    try:
        time.sleep(0.3)
        frozen = read(wd)
        time.sleep(3.5)  # longer than the whole timeout: hardware would have reset
        assert read(wd) == frozen, "a frozen daemon must not pet the watchdog"
    finally:
        d.signal(signal.SIGCONT)
    before = pets(wd)
    wait_for(lambda: pets(wd) > before, timeout=5)

    assert d.stop() == 0
    assert read(wd).startswith("closed "), "a clean stop disarms the watchdog (magic close)"


def test_watchdog_path_must_exist(daemon, tmp_path):
    d = daemon("watchdog = %s\n" % (tmp_path / "nope"), start=False)
    d.start(wait=False)
    assert d.wait_exit(20) == 1
    assert "watchdog" in d.log() and "No such file" in d.log()


@pytest.mark.parametrize("value", ["1s", "11m", "x"])
def test_watchdog_timeout_bounds(daemon, tmp_path, value):
    d = daemon("watchdog_timeout = %s\n" % value, start=False)
    d.start(wait=False)
    assert d.wait_exit(20) == 1
    assert "watchdog_timeout" in d.log()


def test_stuck_disk_keeps_the_loop_turning_then_stops_the_pets(freezable_fs, tmp_path):
    """The mailboxes' filesystem hangs while a delivery is being committed: the commit
    (copy into the mailbox, fsyncs) waits on a worker, so the daemon still answers (the
    control socket) and pets the watchdog, and the client gets no 250 yet; once the job
    has run longer than watchdog_job_limit the pets stop (hardware would reset the
    board). Thawed, the delivery completes with 250, the message is there, and the pets
    resume. (The spool stays on the unfrozen filesystem: the message is written into it
    from the loop as it arrives.)"""
    from mgw import Daemon
    from smtputil import Raw, add_domains, messages, smtp_conf
    wd = str(tmp_path / "watchdog")
    open(wd, "w").close()
    os.chmod(wd, 0o600)
    d = Daemon(tmp_path / "d", "watchdog = %s\nwatchdog_timeout = 3s\n"
               "watchdog_job_limit = 2s\n" % wd + smtp_conf("min_free_space = 1M\n"))
    add_domains(d)
    mail = freezable_fs(os.path.join(d.data, "mail"))
    d.start()
    wait_for(lambda: pets(wd) >= 2)
    r = Raw(d.addr("smtp"))
    assert r.cmd("EHLO c.example")[0] == 250
    assert r.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    subprocess.run(["fsfreeze", "-f", mail], check=True)
    try:
        m = d.mark()
        r.send(b"Subject: frozen\r\n\r\ncommitted while the disk hung\r\n.\r\n")
        status = dict(x.split(": ", 1) for x in d.control("status")[:-1])
        assert status["smtp_sessions"] == "1"
        before = pets(wd)
        wait_for(lambda: pets(wd) > before)  # the loop turns and pets while the job waits
        d.wait_log(r"watchdog: a worker job has been running for \d+ s "
                   r"\(watchdog_job_limit 2 s\): no longer petting the watchdog", start=m)
        stopped = read(wd)
        time.sleep(2.5)  # longer than the pet interval (1 s)
        assert read(wd) == stopped, "a stuck worker job must stop the pets"
        r.s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            r.s.recv(1)  # no reply while the message is not durable
        r.s.settimeout(15)
    finally:
        subprocess.run(["fsfreeze", "-u", mail], check=True)
    code, lines = r.reply()
    assert code == 250, lines
    assert r.cmd("QUIT")[0] == 221
    before = pets(wd)
    wait_for(lambda: pets(wd) > before)
    assert len(messages(d, "example.com", "alice")) == 1
    assert d.stop() == 0
    d.assert_no_sanitizer_report()
