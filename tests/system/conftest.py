import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from vm import Vm, images  # noqa: E402


# Run first (make test-system runs the tests on SYSTEST_JOBS workers, in this order as
# workers come free): the longest, so that no worker starts one of them last.
LONGEST_FIRST = ("test_update.py", "test_pi_update.py", "test_armhf_update.py",
                 "test_console_flow.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: each file keeps its own order


@pytest.fixture
def vm(tmp_path):
    """A factory: vm(board="qemu_aarch64_virt", qemu_extra="") -> started Vm; all are
    stopped at the end."""
    started = []

    def make(board="qemu_aarch64_virt", qemu_extra="", data_seed=None):
        if not os.path.exists(os.path.join(images(board), "rootfs.cpio.gz")):
            pytest.fail("no image for %s: run `make test-system` (it builds them)" % board)
        v = Vm(board, tmp_path / ("vm%d" % len(started)), qemu_extra, data_seed)
        started.append(v)
        return v.start()

    yield make
    for v in started:
        v.stop()
