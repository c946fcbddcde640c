#!/usr/bin/python3
"""mkbootdisk.py - the boot disk of a board that boots through U-Boot with A/B slots
(board/qemu_aarch64_virt/boot.cmd says how the slots are picked).

  the FAT boot partition (label MGWBOOT, marked bootable):
             boot.scr (the board's boot.cmd after the lines naming its kernel file, boot
             command, console and device tree, made with U-Boot's mkimage),
             a/ (this build's slot files and its bundle manifest), b/ (empty: the first
             update goes there), mgwboot.env ("active=a"),
             and the --root-file files (the Raspberry Pi: its boot firmware, config.txt,
             the device tree and u-boot.bin, which the firmware starts)

  --out boot.img           an MBR disk with that one partition (the QEMU boards), or
  --sdcard genimage.cfg    the board's SD card made by genimage (the Raspberry Pi:
                           boot.vfat, the boot partition, and data.img, /data) in the
                           folder of --data

The partition is large enough for both slots plus one file being replaced (an update
writes a new file beside the old one before the rename).
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def boot_fat(args, tmp):
    """The boot partition's FAT image in tmp."""
    cmd = os.path.join(tmp, "boot.cmd")
    with open(cmd, "w") as f, open(args.script) as script:
        f.write("setenv mgw_kernel %s\nsetenv mgw_boot %s\nsetenv mgw_console %s\n"
                "setenv mgw_fdt ${%s}\n" % (args.kernel_file, args.boot_command, args.console,
                                            args.fdt))
        f.write(script.read())
    scr = os.path.join(tmp, "boot.scr")
    run("mkimage", "-A", args.arch, "-T", "script", "-C", "none", "-n", "mailgw A/B boot",
        "-d", cmd, scr)
    fat = os.path.join(tmp, "boot.vfat")
    run("mkfs.vfat", "-C", "-n", "MGWBOOT", fat, str((args.size_mib - 1) * 1024))
    env = os.path.join(tmp, "mgwboot.env")
    with open(env, "w") as f:
        f.write("active=a\n")
    run("mmd", "-i", fat, "::a", "::b")
    run("mcopy", "-i", fat, scr, env, *args.root_file, "::")
    run("mcopy", "-i", fat, *args.slot_files, "::a/")
    run("mcopy", "-i", fat, args.manifest, "::a/manifest")
    return fat


def boot_img(fat, out):
    offset = 1 << 20
    size = os.path.getsize(fat)
    mbr = bytearray(512)
    # one partition: bootable, FAT (LBA), CHS fields unused
    mbr[446:462] = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x0c, b"\xfe\xff\xff",
                               offset // 512, size // 512)
    mbr[510:512] = b"\x55\xaa"
    with open(out + ".tmp", "wb") as o:
        o.write(mbr)
        o.seek(offset)
        with open(fat, "rb") as f:
            shutil.copyfileobj(f, o, 1 << 20)
    os.replace(out + ".tmp", out)


def sdcard(tmp, cfg, data):
    os.symlink(os.path.abspath(data), os.path.join(tmp, "data.img"))
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    r = subprocess.run(["genimage", "--config", cfg, "--rootpath", root,
                        "--tmppath", os.path.join(tmp, "gen"), "--inputpath", tmp,
                        "--outputpath", os.path.dirname(os.path.abspath(data))],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit("mkbootdisk: genimage failed:\n" + r.stdout + r.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--manifest", required=True)
    out = ap.add_mutually_exclusive_group(required=True)
    out.add_argument("--out")
    out.add_argument("--sdcard")
    ap.add_argument("--data")
    ap.add_argument("--root-file", action="append", default=[])
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--arch", default="arm64")
    ap.add_argument("--kernel-file", default="Image")
    ap.add_argument("--boot-command", choices=("booti", "bootz"), default="booti")
    ap.add_argument("--console", default="ttyAMA0")
    ap.add_argument("--fdt", choices=("fdtcontroladdr", "fdt_addr"), default="fdtcontroladdr")
    ap.add_argument("slot_files", nargs="+")
    args = ap.parse_args()
    if args.sdcard and not args.data:
        ap.error("--sdcard needs --data")
    with tempfile.TemporaryDirectory() as tmp:
        fat = boot_fat(args, tmp)
        if args.sdcard:
            sdcard(tmp, args.sdcard, args.data)
        else:
            boot_img(fat, args.out)


if __name__ == "__main__":
    main()
