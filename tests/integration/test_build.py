"""The build system as a developer uses it: defconfig, a no-op second make, a changed
option that changes the generated header and the build, savedefconfig, menuconfig, and a
misspelt CONFIG_ symbol that fails the build. Runs in a copy of the tree (sharing dl/)."""
import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    files = subprocess.check_output(["git", "ls-files", "-z", "--cached", "--others",
                                     "--exclude-standard"], cwd=REPO).split(b"\0")
    for f in files:
        if not f:
            continue
        src = os.path.join(REPO, f.decode())
        if not os.path.isfile(src):
            continue
        dst = os.path.join(root, f.decode())
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
    os.makedirs(os.path.join(REPO, "dl"), exist_ok=True)
    os.symlink(os.path.join(REPO, "dl"), os.path.join(root, "dl"))
    return str(root)


# As an admin types it in a shell: nothing inherited from the `make test` that runs us
# (MAKELEVEL would add "Entering directory" lines, MAKEFLAGS its options).
MAKE_ENV = {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEFILES", "MAKEOVERRIDES")}


def make(tree, *args, check=True):
    r = subprocess.run(["make", *args], cwd=tree, capture_output=True, text=True, timeout=900,
                       env=MAKE_ENV)
    if check and r.returncode != 0:
        raise AssertionError("make %s failed:\n%s\n%s" % (" ".join(args), r.stdout, r.stderr))
    return r


def header(tree):
    with open(os.path.join(tree, "output/include/mgw_config.h")) as f:
        return f.read()


def test_defconfig_build_noop_and_changed_option(tree):
    make(tree, "qemu_aarch64_virt_defconfig")
    with open(os.path.join(tree, ".config")) as f:
        assert "CONFIG_BOARD_QEMU_AARCH64_VIRT=y" in f.read()
    make(tree, "host")
    assert os.access(os.path.join(tree, "output/host/bin/mailgwd"), os.X_OK)
    # Built against the pinned mbedTLS, not a system one.
    with open(os.path.join(tree, "firmware/packages/mbedtls/mbedtls.mk")) as f:
        version = re.search(r"^MBEDTLS_VERSION := (\S+)$", f.read(), re.M).group(1)
    assert os.path.exists(os.path.join(tree, "output/build/mbedtls-%s/host/library/libmbedtls.a"
                                       % version))
    # A second make with nothing changed does nothing.
    assert make(tree, "-q", "host", check=False).returncode == 0
    assert "Nothing to be done" in make(tree, "host").stdout
    assert "#define CONFIG_MAX_CONNECTIONS 256\n" in header(tree)
    hdr_mtime = os.stat(os.path.join(tree, "output/include/mgw_config.h")).st_mtime_ns

    # Regenerating the same configuration leaves the header alone.
    make(tree, "olddefconfig")
    make(tree, "host")
    assert os.stat(os.path.join(tree, "output/include/mgw_config.h")).st_mtime_ns == hdr_mtime

    # A changed option changes the header and rebuilds what depends on it.
    cfg = os.path.join(tree, ".config")
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(re.sub(r"CONFIG_MAX_CONNECTIONS=\d+", "CONFIG_MAX_CONNECTIONS=64", text))
    make(tree, "olddefconfig")
    out = make(tree, "host").stdout
    assert "#define CONFIG_MAX_CONNECTIONS 64\n" in header(tree)
    assert "CC      firmware/lib/cfg/cfg.c (host)" in out
    assert "LD" in out and "bin/mailgwd" in out

    # savedefconfig writes the minimal defconfig back to the board.
    make(tree, "savedefconfig")
    with open(os.path.join(tree, "board/qemu_aarch64_virt/defconfig")) as f:
        assert "CONFIG_MAX_CONNECTIONS=64" in f.read()


def test_misspelt_symbol_fails_the_build(tree):
    make(tree, "qemu_aarch64_virt_defconfig")
    src = os.path.join(tree, "firmware/lib/core/err.c")
    with open(src) as f:
        orig = f.read()
    try:
        with open(src, "a") as f:
            f.write('\n#include "mgw_config.h"\n#if CONFIG_MAX_CONECTIONS > 1\n#endif\n')
        r = make(tree, "host", check=False)
        assert r.returncode != 0
        assert "CONFIG_MAX_CONECTIONS" in r.stdout + r.stderr
    finally:
        with open(src, "w") as f:
            f.write(orig)


def test_board_defconfigs_select_their_toolchain(tree):
    make(tree, "qemu_arm_virt_defconfig")
    make(tree, os.path.join(tree, "output/include/mgw_config.h"))
    assert '#define CONFIG_TARGET_CROSS "arm-linux-gnueabihf-"' in header(tree)
    make(tree, "raspberrypi4_64_defconfig")
    make(tree, os.path.join(tree, "output/include/mgw_config.h"))
    assert '#define CONFIG_TARGET_CROSS "aarch64-linux-gnu-"' in header(tree)
    assert '#define CONFIG_BOARD_NAME "raspberrypi4_64"' in header(tree)


def test_menuconfig_starts_and_quits(tree):
    pexpect = pytest.importorskip("pexpect")
    make(tree, "qemu_aarch64_virt_defconfig")
    child = pexpect.spawn("make", ["menuconfig"], cwd=tree, env=dict(MAKE_ENV, TERM="xterm"),
                          dimensions=(40, 120), timeout=30, encoding="utf-8")
    child.expect("mailgw firmware configuration")
    child.expect("Board")
    child.send("Q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.parametrize("goal", ["host", "menuconfig", "qemu_aarch64_virt_defconfig", "all"])
def test_missing_package_is_one_line_naming_make_deps(tree, tmp_path, goal):
    """A fresh machine before `make deps`: a Python without kconfiglib (site-packages off)
    gets one line naming the module and `make deps`, not a traceback or 'No rule'."""
    py = tmp_path / "python-without-kconfiglib"
    py.write_text("#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n")
    py.chmod(0o755)
    r = make(tree, goal, "PY=%s" % py, check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "Traceback" not in out and "No rule to make target" not in out, out
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 1, out
    assert "kconfiglib" in lines[0] and "python3-kconfiglib" in lines[0], out
    assert "run 'make deps' first" in lines[0], out
