import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from vm import Vm, images  # noqa: E402


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
