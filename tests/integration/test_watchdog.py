"""The hardware watchdog seen through the simulated backend (a regular file that shows
the last pet): a running daemon pets it, a frozen one does not, a clean stop disarms."""
import os
import signal
import time

import pytest


def read(path):
    with open(path) as f:
        return f.read().strip()


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("condition not met within %ss" % timeout)


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
    d.proc.wait(20)
    assert d.proc.returncode == 1
    assert "watchdog" in d.log() and "No such file" in d.log()


@pytest.mark.parametrize("value", ["1s", "11m", "x"])
def test_watchdog_timeout_bounds(daemon, tmp_path, value):
    d = daemon("watchdog_timeout = %s\n" % value, start=False)
    d.start(wait=False)
    d.proc.wait(20)
    assert d.proc.returncode == 1
    assert "watchdog_timeout" in d.log()
