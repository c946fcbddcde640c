"""benchfs.py - the slow disk's filesystem for the benchmarks: an ext4 of its own on a
loop device, as the board's /data partition is (mailgwd then flushes as on the board:
one syncfs per batch of deliveries, store/dirsync.h)."""
import os
import subprocess

FS_MB = int(os.environ.get("BENCH_FS_MB", "512"))


def own_fs(tmp):
    """Mounts a fresh ext4 on a loop device under tmp; returns (its path, unmount) or
    (tmp, None) when that is not possible."""
    if os.geteuid() != 0:
        return tmp, None
    img, mnt = os.path.join(tmp, "fs.img"), os.path.join(tmp, "fs")
    os.makedirs(mnt)
    subprocess.run(["truncate", "-s", "%dM" % FS_MB, img], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
    if subprocess.run(["mount", "-o", "loop", img, mnt]).returncode != 0:
        return tmp, None
    os.chmod(mnt, 0o755)
    return mnt, lambda: subprocess.run(["umount", "-l", mnt], check=False)
