import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mgw import Daemon  # noqa: E402


@pytest.fixture
def daemon(tmp_path):
    """A factory: daemon(conf_text) -> started Daemon; all are stopped at the end and
    must exit cleanly with no sanitizer report."""
    started = []

    def make(conf="", start=True, **kw):
        d = Daemon(tmp_path / ("d%d" % len(started)), conf, **kw)
        started.append(d)
        return d.start() if start else d

    yield make
    for d in started:
        if d.proc is not None and d.proc.poll() is None:
            assert d.stop() == 0, d.log()
        elif d.proc is not None:
            # A daemon that died during the test (a sanitizer aborts it) must say why.
            d.assert_no_sanitizer_report()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The test PKI (tests/integration/pki.py), made once per run with the openssl CLI."""
    from pki import PKI
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def freezable_fs(tmp_path):
    """mount(path): a small ext4 filesystem on a loop device at path, which fsfreeze can
    freeze: every write and fsync on it then blocks until it is thawed, as on a hung SD
    card (needs root: CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a loop device needs root")
    img = tmp_path / "fs.img"
    subprocess.run(["truncate", "-s", "32M", str(img)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True)
    mounted = []

    def mount(path):
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(["mount", "-o", "loop", str(img), path], capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a loop device: " + r.stderr)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["fsfreeze", "-u", path], capture_output=True)
        subprocess.run(["umount", "-l", path])
