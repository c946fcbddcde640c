#!/usr/bin/python3
"""mksdcard.py - the Raspberry Pi 4's SD card with A/B slots for the firmware's tryboot
(README "Raspberry Pi 4", "Updating the firmware").

  sdcard.img  MBR, made by genimage (board/<board>/genimage.cfg) from:
              1 autoboot.vfat  FAT32 "MGWBOOT": autoboot.txt (the board's: slot a, partition
                               2, is the default; [tryboot] boots slot b, partition 3),
                               and the empty folders a/ and b/ on which Linux mounts the
                               slots (boot-mount)
              2 slota.vfat     FAT32 "MGWSLOTA": the boot firmware, config.txt, cmdline.txt
                               with mgw.slot=a, this build's slot files and its manifest
              3 slotb.vfat     FAT32 "MGWSLOTB": the boot firmware, config.txt, cmdline.txt
                               with mgw.slot=b; no slot files (the first update goes there)
              4 data.img       /data (ext4, LABEL=mgwdata)

A slot partition holds two kernels while an update replaces one (the new file is written
beside the old one before the rename).
"""
import argparse
import os
import subprocess
import sys
import tempfile


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def fat(path, label, size_mib):
    # FAT32 as the Pi's firmware reads it (partition type 0x0C); 512-byte clusters keep
    # the small autoboot partition above FAT32's minimum cluster count
    run("mkfs.vfat", "-F", "32", "-s", "1", "-C", "-n", label, path, str(size_mib * 1024))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--board-dir", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--firmware-file", action="append", default=[])
    ap.add_argument("--autoboot-mib", type=int, default=64)
    ap.add_argument("--slot-mib", type=int, default=128)
    ap.add_argument("slot_files", nargs="+")
    args = ap.parse_args()
    img = args.images
    with open(os.path.join(args.board_dir, "cmdline.txt")) as f:
        cmdline = f.read().strip()
    with tempfile.TemporaryDirectory() as tmp:
        auto = os.path.join(tmp, "autoboot.vfat")
        fat(auto, "MGWBOOT", args.autoboot_mib)
        run("mmd", "-i", auto, "::a", "::b")
        run("mcopy", "-i", auto, os.path.join(args.board_dir, "autoboot.txt"), "::autoboot.txt")
        for slot in ("a", "b"):
            part = os.path.join(tmp, "slot%s.vfat" % slot)
            fat(part, "MGWSLOT" + slot.upper(), args.slot_mib)
            line = os.path.join(tmp, "cmdline-" + slot)
            with open(line, "w") as f:
                f.write("%s mgw.slot=%s\n" % (cmdline, slot))
            run("mcopy", "-i", part, *[os.path.join(img, fw) for fw in args.firmware_file],
                os.path.join(args.board_dir, "config.txt"), "::")
            run("mcopy", "-i", part, line, "::cmdline.txt")
            if slot == "a":
                run("mcopy", "-i", part, *args.slot_files, "::")
                run("mcopy", "-i", part, args.manifest, "::manifest")
        os.symlink(os.path.join(os.path.abspath(img), "data.img"), os.path.join(tmp, "data.img"))
        root = os.path.join(tmp, "root")
        os.makedirs(root)
        r = subprocess.run(["genimage", "--config", os.path.join(args.board_dir, "genimage.cfg"),
                            "--rootpath", root, "--tmppath", os.path.join(tmp, "gen"),
                            "--inputpath", tmp, "--outputpath", img],
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit("mksdcard: genimage failed:\n" + r.stdout + r.stderr)
    print("  %-28s %9.1f KiB  %s" % ("sdcard.img", os.path.getsize(os.path.join(img, "sdcard.img")) / 1024,
                                     "autoboot + slots a, b (FAT32) + data ext4 (write it to the SD card)"))


if __name__ == "__main__":
    main()
