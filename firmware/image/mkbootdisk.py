#!/usr/bin/python3
"""mkbootdisk.py - the boot disk of a board that boots through U-Boot with A/B slots
(board/<board>/boot.cmd says how the slots are picked).

  boot.img   an MBR disk with one FAT partition (label MGWBOOT, marked bootable):
             boot.scr (the board's boot.cmd after the lines naming its kernel file and
             boot command, made with U-Boot's mkimage),
             a/ (this build's slot files and its bundle manifest), b/ (empty: the first
             update goes there), mgwboot.env ("active=a").

The partition is large enough for both slots plus one file being replaced (an update
writes a new file beside the old one before the rename).
"""
import argparse
import os
import shutil
import struct
import subprocess
import tempfile


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--arch", default="arm64")
    ap.add_argument("--kernel-file", default="Image")
    ap.add_argument("--boot-command", choices=("booti", "bootz"), default="booti")
    ap.add_argument("slot_files", nargs="+")
    args = ap.parse_args()
    offset = 1 << 20
    with tempfile.TemporaryDirectory() as tmp:
        # the board's kernel file and boot command, then the board's script
        cmd = os.path.join(tmp, "boot.cmd")
        with open(cmd, "w") as f, open(args.script) as script:
            f.write("setenv mgw_kernel %s\nsetenv mgw_boot %s\n" % (args.kernel_file, args.boot_command))
            f.write(script.read())
        scr = os.path.join(tmp, "boot.scr")
        run("mkimage", "-A", args.arch, "-T", "script", "-C", "none", "-n", "mailgw A/B boot",
            "-d", cmd, scr)
        fat = os.path.join(tmp, "fat.img")
        run("mkfs.vfat", "-C", "-n", "MGWBOOT", fat, str((args.size_mib - 1) * 1024))
        env = os.path.join(tmp, "mgwboot.env")
        with open(env, "w") as f:
            f.write("active=a\n")
        run("mmd", "-i", fat, "::a", "::b")
        run("mcopy", "-i", fat, scr, env, "::")
        run("mcopy", "-i", fat, *args.slot_files, "::a/")
        run("mcopy", "-i", fat, args.manifest, "::a/manifest")
        size = os.path.getsize(fat)
        mbr = bytearray(512)
        # one partition: bootable, FAT32 (LBA), CHS fields unused
        mbr[446:462] = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x0c, b"\xfe\xff\xff",
                                   offset // 512, size // 512)
        mbr[510:512] = b"\x55\xaa"
        with open(args.out + ".tmp", "wb") as out:
            out.write(mbr)
            out.seek(offset)
            with open(fat, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
        os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
