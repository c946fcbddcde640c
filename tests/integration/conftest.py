import os
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
