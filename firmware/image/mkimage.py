#!/usr/bin/python3
"""mkimage.py - assemble a board's image from what the build made (buildroot's
"target-finalize" + "rootfs" + "images" steps, for one board).

  staging/   BusyBox already installed into it by the Makefile; this adds the rootfs/
             overlay, our programs (stripped), the shared libraries they need from the
             cross toolchain's glibc (nothing else), the board's kernel modules with their
             dependencies (decompressed, depmod run), and build facts in /etc/mailgw.
  images/    the kernel, rootfs.cpio.gz (the initramfs: the whole root filesystem, in
             RAM at run time), data.img (ext4, LABEL=mgwdata, empty: filled on first
             boot), device trees and firmware for real boards (the Pi's sdcard.img is
             firmware/image/mksdcard.py, after the update bundle).

Prints a size report at the end. Runs as any user: ownership in the cpio is root's.
"""
import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def elf_info(readelf, path):
    """(needed sonames, interpreter or None) of an ELF file, or None if not ELF."""
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return None
    out = subprocess.run([readelf, "-d", "-l", "-W", path], capture_output=True, text=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    m = re.search(r"\[Requesting program interpreter: ([^\]]+)\]", out)
    return needed, (m.group(1) if m else None)


def copy_libs(args, staging):
    """Copies every library the image's ELF files need (transitively) from the sysroot."""
    readelf = args.cross + "readelf"
    libdirs = [os.path.join(args.sysroot, d) for d in ("lib", "usr/lib")]
    todo, have, interps = [], set(), set()
    for root, _, files in os.walk(staging):
        for n in files:
            p = os.path.join(root, n)
            if not os.path.islink(p) and os.path.isfile(p):
                todo.append(p)
    while todo:
        info = elf_info(readelf, todo.pop())
        if info is None:
            continue
        needed, interp = info
        if interp:
            interps.add(interp)
        for so in needed:
            if so in have:
                continue
            src = next((os.path.join(d, so) for d in libdirs if os.path.exists(os.path.join(d, so))), None)
            if src is None:
                sys.exit("mkimage: %s is needed but not in %s" % (so, args.sysroot))
            dst = os.path.join(staging, "lib", so)
            shutil.copyfile(os.path.realpath(src), dst)
            os.chmod(dst, 0o755)
            have.add(so)
            todo.append(dst)
    for interp in interps:
        so = os.path.basename(interp)
        dst = os.path.join(staging, interp.lstrip("/"))
        if not os.path.exists(dst):
            src = next(os.path.join(d, so) for d in libdirs if os.path.exists(os.path.join(d, so)))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.realpath(src), dst)
            os.chmod(dst, 0o755)
        have.add(so)
    return sorted(have)


def modules_closure(moddir, wanted):
    """Paths (relative to moddir) of the wanted modules and everything they depend on."""
    deps, byname = {}, {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
            name = os.path.basename(mod).split(".ko")[0].replace("-", "_")
            byname[name] = mod
    out, stack = [], []
    for w in wanted:
        if w.replace("-", "_") not in byname:
            sys.exit("mkimage: module %s is not in this kernel (built in? then drop it from the list)" % w)
        stack.append(byname[w.replace("-", "_")])
    while stack:
        m = stack.pop()
        if m in out:
            continue
        out.append(m)
        stack.extend(deps[m])
    return out


def install_modules(args, staging):
    kmods = os.path.join(args.kroot, "usr/lib/modules", args.kver)
    with tempfile.TemporaryDirectory() as base:
        # depmod -b wants BASE/lib/modules/VERSION; the package has usr/lib/modules.
        os.makedirs(os.path.join(base, "lib/modules"))
        os.symlink(kmods, os.path.join(base, "lib/modules", args.kver))
        if not os.path.exists(os.path.join(kmods, "modules.dep")):
            run("depmod", "-b", base, args.kver)
    wanted = [l.strip() for l in open(args.modules) if l.strip() and not l.startswith("#")]
    mods = modules_closure(kmods, wanted)
    dst_root = os.path.join(staging, "lib/modules", args.kver)
    for m in mods:
        dst = os.path.join(dst_root, re.sub(r"\.(xz|gz|zst)$", "", m))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        src = os.path.join(kmods, m)
        with open(dst, "wb") as out:
            if m.endswith(".xz"):
                run("xz", "-dc", src, stdout=out)
            else:
                shutil.copyfileobj(open(src, "rb"), out)
    for f in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if os.path.exists(os.path.join(kmods, f)):
            shutil.copy(os.path.join(kmods, f), dst_root)
    run("depmod", "-b", staging, args.kver)
    with open(os.path.join(staging, "etc/mailgw/modules"), "w") as f:
        f.write("\n".join(wanted) + "\n")
    return mods


def du(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for n in files:
            p = os.path.join(root, n)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def main():
    ap = argparse.ArgumentParser()
    for a in ("board", "board-dir", "staging", "images", "cross", "sysroot", "kroot", "kver",
              "kernel-file", "overlay", "console", "version", "build-time", "modules",
              "clock-max-ahead-days"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--program", action="append", default=[])
    ap.add_argument("--dtb", action="append", default=[])
    ap.add_argument("--firmware-dir")
    ap.add_argument("--firmware-file", action="append", default=[])
    ap.add_argument("--data-size", default="256M")
    ap.add_argument("--revision", default="unknown")
    ap.add_argument("--update-pubkey", required=True)
    ap.add_argument("--update-key-kind", choices=("development", "release"), required=True)
    args = ap.parse_args()
    st, img = args.staging, args.images
    os.makedirs(img, exist_ok=True)

    # 1. the overlay, then the board's own files
    shutil.copytree(args.overlay, st, symlinks=True, dirs_exist_ok=True)
    board_overlay = os.path.join(args.board_dir, "rootfs")
    if os.path.isdir(board_overlay):
        shutil.copytree(board_overlay, st, symlinks=True, dirs_exist_ok=True)
    for d in ("dev", "proc", "sys", "run", "tmp", "data", "root", "var", "lib", "etc/mailgw"):
        os.makedirs(os.path.join(st, d), exist_ok=True)
    os.chmod(os.path.join(st, "tmp"), 0o1777)
    os.chmod(os.path.join(st, "root"), 0o700)
    for link, target in (("var/run", "../run"), ("var/tmp", "../tmp")):
        p = os.path.join(st, link)
        if not os.path.lexists(p):
            os.symlink(target, p)
    inittab = os.path.join(st, "etc/inittab")
    with open(inittab) as f:
        text = f.read().replace("@CONSOLE@", args.console)
    with open(inittab, "w") as f:
        f.write(text)
    os.chmod(os.path.join(st, "etc/shadow"), 0o600)
    facts = {"build-time": args.build_time, "board": args.board, "version": args.version,
             "kernel": args.kver, "clock-max-ahead-days": args.clock_max_ahead_days,
             "revision": args.revision, "update-key": args.update_key_kind,
             "confirm-timeout": "120"}
    for k, v in facts.items():
        with open(os.path.join(st, "etc/mailgw", k), "w") as f:
            f.write(v + "\n")

    # the public key updates must be signed with (firmware update, lib/pki/fwbundle.c)
    keys = os.path.join(st, "etc/mailgw/update-keys")
    os.makedirs(keys, exist_ok=True)
    shutil.copyfile(args.update_pubkey, os.path.join(keys, args.update_key_kind + ".pem"))

    # 2. our programs
    os.makedirs(os.path.join(st, "usr/sbin"), exist_ok=True)
    for p in args.program:
        dst = os.path.join(st, "usr/sbin", os.path.basename(p))
        run(args.cross + "strip", "-o", dst, p)

    # 3. libraries: only what the image's binaries need
    libs = copy_libs(args, st)

    # 4. kernel modules
    mods = install_modules(args, st)

    # 5. the initramfs: the whole root filesystem, owned by root
    cpio = os.path.join(img, "rootfs.cpio.gz")
    names = subprocess.run("cd '%s' && find . -mindepth 1 | LC_ALL=C sort" % st, shell=True,
                           check=True, capture_output=True).stdout
    with open(cpio + ".tmp", "wb") as out:
        c = subprocess.Popen(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=st,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        g = subprocess.Popen(["gzip", "-9n"], stdin=c.stdout, stdout=out)
        c.stdout.close()
        c.stdin.write(names)
        c.stdin.close()
        if c.wait() or g.wait():
            sys.exit("mkimage: cpio failed")
    os.replace(cpio + ".tmp", cpio)

    # 6. kernel, device trees, boot firmware
    kernel = os.path.join(img, args.kernel_file)
    shutil.copyfile(os.path.join(args.kroot, "boot", "vmlinuz-" + args.kver), kernel)
    for dtb in args.dtb:
        shutil.copyfile(os.path.join(args.kroot, "usr/lib/linux-image-" + args.kver, dtb),
                        os.path.join(img, os.path.basename(dtb)))
    for fw in args.firmware_file:
        shutil.copyfile(os.path.join(args.firmware_dir, fw), os.path.join(img, fw))
    if os.path.exists(os.path.join(args.board_dir, "config.txt")):
        shutil.copyfile(os.path.join(args.board_dir, "config.txt"), os.path.join(img, "config.txt"))

    # 7. the data partition: ext4 with a journal, empty, filled on the first boot
    data = os.path.join(img, "data.img")
    if os.path.exists(data):
        os.unlink(data)
    run("mkfs.ext4", "-q", "-F", "-L", "mgwdata", "-E", "root_owner=0:0", data, args.data_size,
        stdout=subprocess.DEVNULL)

    # 8. size report
    def line(name, size, note=""):
        print("  %-28s %9.1f KiB  %s" % (name, size / 1024, note))
    print("image for %s (%s, kernel %s):" % (args.board, args.version, args.kver))
    line(args.kernel_file, du(kernel), "Debian kernel")
    line("rootfs.cpio.gz", du(cpio), "initramfs, compressed; uncompressed:")
    line("  busybox", du(os.path.join(st, "bin/busybox")))
    for p in args.program:
        line("  " + os.path.basename(p), du(os.path.join(st, "usr/sbin", os.path.basename(p))))
    line("  libraries (%d)" % len(libs), du(os.path.join(st, "lib")) - du(os.path.join(st, "lib/modules")),
         " ".join(libs))
    line("  modules (%d)" % len(mods), du(os.path.join(st, "lib/modules")))
    line("  whole root filesystem", du(st))
    total = du(kernel) + du(cpio)
    for extra in [os.path.basename(d) for d in args.dtb] + args.firmware_file:
        line(extra, du(os.path.join(img, extra)))
        total += du(os.path.join(img, extra))
    line("total boot payload", total, "(kernel + initramfs + boot files)")
    data_used = os.stat(data).st_blocks * 512
    line("data.img", du(data), "ext4 %s, %.1f KiB allocated" % (args.data_size, data_used / 1024))


if __name__ == "__main__":
    main()
