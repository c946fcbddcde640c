"""Firmware updates on the reference board, through U-Boot and the A/B boot script, as an
admin does them (README "Updating the firmware"):

  version A (the built image) with mail in a mailbox
  -> update to B from a USB key (`mailgw firmware update`), B boots and confirms, the
     mail is still there and fetchable
  -> update to a broken C (its mailgwd exits at start): C never confirms, after the boot
     script's limit the board rolls back to B by itself and the console says why; the
     mail is still there
  -> bundles with a bad signature, for another board, truncated, and a downgrade: each
     refused with its reason, nothing written to the slots.

B and C are this build's slot files with an initramfs overlay (a second cpio archive,
which the kernel unpacks over the first): B changes only the version and build time; C
also replaces mailgwd by a program that exits, and shortens the confirmation time so the
three failed boots take minutes, not six. Each bundle is made and signed by the build's
own tool (mgw-bundle) with the build's development key, as `make` makes update.mgwfw.
"""
import os
import poplib
import random
import re
import shutil
import ssl
import subprocess
import sys
import time

import pexpect
from vm import BOOT_TIMEOUT, HOST_BIN, images, smtp_greeting

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_mail import DOMAIN, PASSWORD, seed_data  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from pki import PKI  # noqa: E402

BOARD = "qemu_aarch64_virt"
C_CONFIRM_TIMEOUT = 40
BOOT_TRIES = 3  # mgw_max_tries in board/qemu_aarch64_virt/boot.cmd


def bundle_tool(*args):
    r = subprocess.run([os.path.join(HOST_BIN, "mgw-bundle")] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def manifest_field(path, key):
    with open(path) as f:
        return re.search(r"^%s=(.*)$" % key, f.read(), re.M).group(1)


def overlay_initramfs(base, out, files):
    """base (gzip cpio) + a second gzip cpio archive holding files {path: (mode, text)}."""
    root = out + ".d"
    os.makedirs(root)
    names = set()
    for path, (mode, text) in files.items():
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            names.add("/".join(parts[:i]))
    listing = "\n".join(sorted(names)) + "\n"
    cpio = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=root,
                          input=listing.encode(), capture_output=True, check=True).stdout
    gz = subprocess.run(["gzip", "-9n"], input=cpio, capture_output=True, check=True).stdout
    shutil.copyfile(base, out)
    with open(out, "ab") as f:
        f.write(gz)


def make_bundle(work, name, key, version, build_time, overlay, board=BOARD, image_board=BOARD):
    return make_bundle_files(work, name, key, version, build_time, overlay, board, image_board)


def kernel_file(img):
    """The slot's kernel file of a built image: Image (arm64) or zImage (armhf)."""
    names = [n for n in ("Image", "zImage") if os.path.exists(os.path.join(img, n))]
    assert len(names) == 1, "%s: no single kernel file (Image or zImage): %s" % (img, names)
    return names[0]


def make_bundle_files(work, name, key, version, build_time, overlay, board, image_board,
                      extra=()):
    """A bundle for board of image_board's built kernel and initramfs, with an initramfs
    overlay (version, build time, overlay), and the extra slot files (device trees)."""
    img = images(image_board)
    d = os.path.join(work, name)
    os.makedirs(d)
    files = {"etc/mailgw/version": (0o644, version + "\n"),
             "etc/mailgw/revision": (0o644, "test-%s\n" % name),
             "etc/mailgw/build-time": (0o644, "%d\n" % build_time)}
    files.update(overlay)
    overlay_initramfs(os.path.join(img, "rootfs.cpio.gz"), os.path.join(d, "rootfs.cpio.gz"), files)
    kernel = kernel_file(img)
    shutil.copyfile(os.path.join(img, kernel), os.path.join(d, kernel))
    out = os.path.join(work, name + ".mgwfw")
    bundle_tool("create", "-k", key, "-K", "development", "-b", board, "-v", version,
                "-r", "test-" + name, "-t", build_time, "-o", out,
                os.path.join(d, kernel), os.path.join(d, "rootfs.cpio.gz"), *extra)
    return out


def usb_key(path, files):
    """A FAT USB key image holding files."""
    subprocess.run(["mkfs.vfat", "-C", "-n", "UPDATES", path, str(256 * 1024)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["mcopy", "-i", path] + files + ["::"], check=True)


def fetch_all(port, pki):
    """Every message in joe's mailbox over POP3S with his certificate (kept on the server)."""
    ctx = ssl.create_default_context(cafile=pki.ca.crt)
    ctx.check_hostname = False
    ctx.load_cert_chain(pki.user["joe"].crt, pki.user["joe"].key)
    p = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=60)
    try:
        p.user("joe@" + DOMAIN)
        p.pass_(PASSWORD)
        count = len(p.list()[1])
        return [b"\n".join(p.retr(i + 1)[1]).decode(errors="replace") for i in range(count)]
    finally:
        p.quit()


def slot_digest(v):
    """What is on the boot partition: every slot file's and the state's SHA-256."""
    return v.check("cd /boot && sha256sum mgwboot.env a/* b/*")


def mount_key(v):
    """The key is /dev/sda (a FAT file system without partition table); once mounted it
    stays mounted until the next reboot."""
    v.check("mailgw usb mount device /dev/sda || mailgw usb | grep '/media/usb: mounted'")


def update(v, name, extra=""):
    """An update that is refused or not rebooted: (exit status, output)."""
    mount_key(v)
    return v.run("mailgw -y firmware update /media/usb/%s %s" % (name, extra), timeout=300)


def update_and_reboot(v, name, version, slot):
    """An update that goes through: verified, written, and the board reboots into it."""
    mount_key(v)
    v.child.send("mailgw -y firmware update /media/usb/%s\r" % name)
    v.expect(r"verified: %s" % re.escape(version), 300)
    v.expect(r"slot %s written; rebooting" % slot, 300)


# C: its mailgwd exits at start, and its confirmation time is short
BROKEN_C = {
    "usr/sbin/mailgwd": (0o755, "#!/bin/sh\necho 'mailgwd (broken test build C): exiting at start'\nexit 1\n"),
    "etc/mailgw/confirm-timeout": (0o644, "%d\n" % C_CONFIRM_TIMEOUT)}


def update_to_broken_c(v, update=None):
    """The update to C (c.mgwfw on the key; update(name, version, slot) installs it on a
    board that has no USB key) from slot b into slot a: three boots that do not confirm,
    then the boot script rolls back and boots slot b."""
    (update or (lambda *a: update_and_reboot(v, *a)))("c.mgwfw", "C-test", "a")
    for n in range(1, BOOT_TRIES + 1):
        v.expect(r"mgwboot: slot a on trial: boot %d of %d" % (n, BOOT_TRIES))
        v.expect(r"broken test build C\): exiting at start")
        v.expect(r"this slot did not confirm within %d s" % C_CONFIRM_TIMEOUT,
                 C_CONFIRM_TIMEOUT + BOOT_TIMEOUT)
    v.expect(r"mgwboot: slot a did not confirm in %d boots: ROLLING BACK to slot b" % BOOT_TRIES)
    v.expect(r"mgwboot: booting slot b")


def mail_survives_b_and_broken_c(vm, tmp_path, board, more_bundles=None):
    """On board: version A (the built image, slot a) with a message in joe's mailbox ->
    update to B from a USB key, B boots on trial and confirms, the message is still there
    over POP3S -> update to the broken C: three boots that do not confirm, the board rolls
    back to B by itself and the console says why, the message is still there.
    more_bundles(work, key, a_time) makes further bundles for the key. Returns the board,
    running B, logged in to the console's shell."""
    img = images(board)
    key = os.path.join(os.path.dirname(img), "update-key", "development.key")
    assert os.path.exists(os.path.join(img, "boot.img")), "the image has no A/B boot disk"
    a_time = int(manifest_field(os.path.join(img, "manifest"), "build-time"))
    a_version = manifest_field(os.path.join(img, "manifest"), "version")
    work = str(tmp_path / "bundles")
    os.makedirs(work)
    b = make_bundle(work, "b", key, "B-test", a_time + 100, {}, board, board)
    c = make_bundle(work, "c", key, "C-test", a_time + 200, BROKEN_C, board, board)
    key_img = str(tmp_path / "usbkey.img")
    usb_key(key_img, [b, c] + (more_bundles(work, key, a_time) if more_bundles else []))
    usb = ("-drive if=none,id=usbkey,format=raw,file=%s "
           "-device usb-storage,bus=usb.0,drive=usbkey" % key_img)

    pki = PKI(tmp_path / "pki")
    seed = tmp_path / "seed"
    seed_data(str(seed), pki)
    v = vm(board=board, qemu_extra=usb, data_seed=seed)

    # ---- A: boots through U-Boot's boot script from slot a; mail goes into joe's mailbox
    v.expect(r"mgwboot: booting slot a")
    v.wait_ready()
    smtp_greeting(v.ports["smtp"], 120)
    body = "kept across updates %d" % time.time_ns()
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % v.ports["smtp"], "--from",
                        "ann@example.org", "--to", "joe@" + DOMAIN, "--header", "Subject: keep me",
                        "--body", body], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert any(body in m for m in fetch_all(v.ports["pop3s"], pki))
    v.login()
    out = v.check("mailgw status")
    assert "running slot: a" in out and "development key" in out, out
    assert "firmware: %s" % a_version in out, out

    # ---- update to B from the USB key: verified, written to slot b, reboot, B confirms
    update_and_reboot(v, "b.mgwfw", "B-test", "b")
    v.expect(r"mgwboot: slot b on trial: boot 1 of %d" % BOOT_TRIES)
    v.expect(r"mgwboot: booting slot b")
    v.expect(r"firmware: slot b \(B-test\) confirmed")  # mailgwd answered: it is ready
    smtp_greeting(v.ports["smtp"], 120)
    assert any(body in m for m in fetch_all(v.ports["pop3s"], pki)), "mail lost by the update to B"
    v.login()
    out = v.check("mailgw firmware status")
    assert "firmware: B-test" in out and "running slot: b" in out, out
    assert "other slot a: %s" % a_version in out and "last update: B-test confirmed" in out, out

    # ---- update to the broken C: three boots without confirming, then back to B
    update_to_broken_c(v)
    v.expect(r"firmware: \*\*\* ROLLED BACK to slot b: the update in slot a did not confirm")
    v.expect(r"firmware: \*\*\* \(slot a: C-test \(revision test-c\)\)")
    smtp_greeting(v.ports["smtp"], BOOT_TIMEOUT)
    assert any(body in m for m in fetch_all(v.ports["pop3s"], pki)), "mail lost by the rollback"
    v.login()
    out = v.check("mailgw status")
    assert "firmware: B-test" in out and "running slot: b" in out, out
    assert "ROLLED BACK to slot b: slot a did not confirm" in out and "(slot a: C-test" in out, out
    return v


def refused_bundles(work, key, a_time):
    """Bundles `firmware update` refuses: a bad signature, another board's, a truncated
    one, a downgrade."""
    subprocess.run([os.path.join(HOST_BIN, "mgw-bundle"), "keygen", os.path.join(work, "other.key"),
                    os.path.join(work, "other.pem")], check=True)
    badsig = make_bundle(work, "badsig", os.path.join(work, "other.key"), "D-test", a_time + 300, {})
    otherboard = make_bundle(work, "otherboard", key, "E-test", a_time + 300, {}, board="qemu_arm_virt")
    old = make_bundle(work, "old", key, "old-test", a_time - 100, {})
    b = os.path.join(work, "b.mgwfw")
    trunc = os.path.join(work, "truncated.mgwfw")
    with open(b, "rb") as f, open(trunc, "wb") as t:
        t.write(f.read(os.path.getsize(b) // 2))
    return [badsig, otherboard, old, trunc]


def test_update_keeps_mail_and_rolls_back(vm, tmp_path):
    v = mail_survives_b_and_broken_c(vm, tmp_path, BOARD, refused_bundles)

    # ---- refused bundles: each says why, nothing on the boot partition changes
    before = slot_digest(v)
    for name, why, extra in (("badsig.mgwfw", "bad signature", ""),
                             ("otherboard.mgwfw", "for board qemu_arm_virt, this gateway is "
                              "qemu_aarch64_virt", ""),
                             ("truncated.mgwfw", "truncated", ""),
                             ("old.mgwfw", "downgrade", "")):
        rc, out = update(v, name, extra)
        assert rc == 1, (name, out)
        assert why in out and "nothing was written" in out, (name, out)
        assert slot_digest(v) == before, name
    # the same downgrade, forced by the admin, is accepted (not rebooted here)
    rc, out = update(v, "old.mgwfw", "force noreboot")
    assert rc == 0 and "verified: old-test" in out, out


def one_update_on_a_key(tmp_path, name, version, overlay):
    """A bundle of this build (version, built 100 s after it, with overlay) on a USB key
    plugged in at boot: (the board's version, QEMU options for the key)."""
    img = images(BOARD)
    key = os.path.join(os.path.dirname(img), "update-key", "development.key")
    a_time = int(manifest_field(os.path.join(img, "manifest"), "build-time"))
    work = str(tmp_path / "bundles")
    os.makedirs(work)
    bundle = make_bundle(work, name, key, version, a_time + 100, overlay)
    key_img = str(tmp_path / "usbkey.img")
    usb_key(key_img, [bundle])
    return (manifest_field(os.path.join(img, "manifest"), "version"),
            "-drive if=none,id=usbkey,format=raw,file=%s "
            "-device usb-storage,bus=usb.0,drive=usbkey" % key_img)


def test_power_loss_during_update(vm, tmp_path):
    """QEMU killed (the power pulled) at random moments while `firmware update` writes the
    inactive slot: the running version boots again every time, and the update can be
    repeated and then goes through. The moments are printed (seed) for a replay."""
    seed = int(os.environ.get("MGW_POWERLOSS_SEED", str(time.time_ns() % 100000)))
    rnd = random.Random(seed)
    print("power-loss seed %d (MGW_POWERLOSS_SEED replays it)" % seed)
    _, usb = one_update_on_a_key(tmp_path, "b", "B-test", {})
    v = vm(board=BOARD, qemu_extra=usb)
    v.wait_ready()
    v.login()
    running, cut_during_write = "a", 0
    for attempt in range(3):
        target = "b" if running == "a" else "a"
        mount_key(v)
        v.child.send("mailgw -y firmware update /media/usb/b.mgwfw noreboot\r")
        v.expect(r"verified: B-test", 300)
        delay = rnd.uniform(0.0, 2.0)
        time.sleep(delay)
        # what the console had printed when the power went
        done = v.child.expect([r"slot %s written" % target, pexpect.TIMEOUT], timeout=0.2) == 0
        print("attempt %d: power off %.2f s after the bundle was verified, %s" %
              (attempt, delay, "after the update was complete" if done else "during the write"))
        v.stop()  # SIGKILL to QEMU: no sync, no unmount
        v.start()
        # Either the running slot boots as before, or (the update was complete, if its
        # last line had not reached the console yet) the new slot is tried and confirms;
        # never anything else.
        trial = r"mgwboot: slot %s on trial: boot 1 of %d" % (target, BOOT_TRIES)
        i = v.child.expect([trial, r"mgwboot: booting slot %s" % running], timeout=BOOT_TIMEOUT)
        assert i == 0 or not done, "the update was complete, but slot %s was not tried" % target
        if i == 0:
            v.expect(r"firmware: slot %s \(B-test\) confirmed" % target)
            running = target
        else:
            cut_during_write += 1
            v.wait_ready()
        v.login()
        out = v.check("mailgw firmware status")
        assert "running slot: %s" % running in out, out
        assert "on trial" not in out and "boots on trial" not in out, out
    print("%d of 3 power cuts landed during the write" % cut_during_write)
    # and then the update goes through
    target = "b" if running == "a" else "a"
    update_and_reboot(v, "b.mgwfw", "B-test", target)
    v.expect(r"mgwboot: slot %s on trial: boot 1 of %d" % (target, BOOT_TRIES))
    v.expect(r"firmware: slot %s \(B-test\) confirmed" % target)


H_CONFIRM_TIMEOUT = 15  # the boot guard: 2 x 15 s from /init to the reset


def test_a_hang_before_mailgwd_rolls_back(vm, tmp_path):
    """An update H whose boot hangs before mailgwd ever starts (its rcS waits forever:
    no getty, no mailgwd, no firmware-confirm): on each boot on trial /init's boot guard
    armed the i6300esb with twice H's confirmation time, nothing pets it, the board resets,
    and after the boot script's limit it is back on A with nobody typing anything. The
    time per failed boot (kernel start to armed, armed to reset) and to the rollback are
printed (measured, not asserted)."""
    a_version, usb = one_update_on_a_key(tmp_path, "h", "H-test", {
        "etc/init.d/rcS": (0o755, "#!/bin/sh\necho 'rcS (hanging test build H): waiting forever'\n"
                                  "exec sleep 1000000\n"),
        "etc/mailgw/confirm-timeout": (0o644, "%d\n" % H_CONFIRM_TIMEOUT)})
    v = vm(board=BOARD, qemu_extra=usb)
    v.expect(r"mgwboot: booting slot a")
    v.wait_ready()
    v.login()

    update_and_reboot(v, "h.mgwfw", "H-test", "b")
    t0 = time.monotonic()
    phases = []
    for n in range(1, BOOT_TRIES + 1):
        v.expect(r"mgwboot: slot b on trial: boot %d of %d" % (n, BOOT_TRIES))
        v.expect(r"Starting kernel")
        t_kernel = time.monotonic()
        v.expect(r"firmware: slot on trial: watchdog /dev/watchdog armed for %d s" %
                 (2 * H_CONFIRM_TIMEOUT))
        t_armed = time.monotonic()
        v.expect(r"hanging test build H\): waiting forever")
        # nothing on the console until the watchdog resets the board (U-Boot again)
        v.expect(r"U-Boot \d{4}\.\d\d", 2 * H_CONFIRM_TIMEOUT + BOOT_TIMEOUT)
        phases.append((round(t_armed - t_kernel, 1), round(time.monotonic() - t_armed, 1)))
    v.expect(r"mgwboot: slot b did not confirm in %d boots: ROLLING BACK to slot a" % BOOT_TRIES)
    t_back = time.monotonic() - t0
    v.expect(r"mgwboot: booting slot a")
    v.expect(r"firmware: \*\*\* ROLLED BACK to slot a: the update in slot b did not confirm")
    v.wait_ready()
    print("hang before mailgwd, confirmation time %d s: per boot on trial (kernel start -> "
          "watchdog armed, armed -> reset) %s s; from the reboot into H to U-Boot's rollback "
          "%.1f s" % (H_CONFIRM_TIMEOUT, phases, t_back))
    v.login()
    out = v.check("mailgw firmware status")
    assert "firmware: %s" % a_version in out and "running slot: a" in out, out
    assert "ROLLED BACK to slot a: slot b did not confirm" in out, out


def old_layout_seed(root):
    """/data as an early image's first boot left it: the server key and certificate in a
    root-only /data/pki (made by mailgw-keygen, as that first boot did), mailgw.conf (the
    product's mailgw-layout install) pointing there. Migration 1 moves them."""
    pki = os.path.join(root, "pki")
    os.makedirs(pki, mode=0o700)
    subprocess.run([os.path.join(HOST_BIN, "mailgw-keygen"), "-k", os.path.join(pki, "server.key"),
                    "-c", os.path.join(pki, "server.crt"), "-n", "mailgw"], check=True,
                   capture_output=True)
    conf = ("user = mailgw\ndata_dir = /data\nwatchdog = /dev/watchdog\n"
            "[tls]\ncert = /data/pki/server.crt\nkey = /data/pki/server.key\n"
            "[pop3s]\nlisten = off\n[imaps]\nlisten = off\n")  # (no office CA yet)
    subprocess.run([os.path.join(HOST_BIN, "mailgw-layout"), "-u", "nobody", "install", root,
                    "etc/mailgw.conf"], input=conf.encode(), check=True, capture_output=True)


def test_a_migration_runs_only_after_the_new_slot_confirmed(vm, tmp_path):
    """B is written into slot b by `firmware update ... noreboot`; the power goes and the
    board comes back on a /data that still has an early first boot's /data/pki (format
    0): B boots on trial, its migration 1 waits (rcS says so, firstboot makes no second
    key), mailgwd comes up on the old paths, the slot confirms, and only then migration 1
    moves the files, records format 1 and mailgwd reloads onto them. The next boot runs
    nothing."""
    _, usb = one_update_on_a_key(tmp_path, "b", "B-test", {})
    v = vm(board=BOARD, qemu_extra=usb)
    v.wait_ready()
    v.login()
    rc, out = update(v, "b.mgwfw", "noreboot")
    assert rc == 0 and "slot b written" in out, out
    v.stop()
    seed = str(tmp_path / "seed")
    old_layout_seed(seed)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "mgwdata", "-E", "root_owner=0:0", "-d", seed,
                    v.data, "256M"], check=True, stdout=subprocess.DEVNULL)
    v.start()
    v.expect(r"mgwboot: slot b on trial: boot 1 of %d" % BOOT_TRIES)
    v.expect(r"data: /data is in format 0, this firmware's is 1: the migrations wait until slot "
             r"b confirms")
    v.expect(r"server certificate SHA256 Fingerprint=\S+ \(in /data/pki until migration 1\)")
    v.expect(r"firmware: slot b \(B-test\) confirmed")
    v.expect(r"data: migration 1 \(the server key and certificate move from /data/pki to "
             r"/data/etc/tls\): running")
    v.expect(r"moved /data/pki/server.key to /data/etc/tls/server.key")
    v.expect(r"data: migration 1 done: /data is now in format 1")
    v.expect(r"data: mailgwd reloaded its configuration")
    v.login()
    rc, _ = v.run("test -e /data/pki")
    assert rc != 0, "/data/pki is still there"
    out = v.check("stat -c '%n %U:%G %a' /data/state/data-format /data/etc/tls/server.key "
                  "/data/etc/tls/server.crt; grep -E '^(cert|key) =' /data/etc/mailgw.conf")
    assert "/data/state/data-format root:root 644" in out, out
    assert "/data/etc/tls/server.key root:root 600" in out, out
    assert "/data/etc/tls/server.crt root:mailgw 640" in out, out
    assert "cert = /data/etc/tls/server.crt" in out and "key = /data/etc/tls/server.key" in out, out
    out = v.check("logread | grep 'data: migration'")
    assert "data: migration 1 done: /data is now in format 1" in out, out  # syslog too
    out = v.check("mailgw firmware status")
    assert "data format: 1\n" in out.replace("\r", ""), out
    assert "last update: B-test confirmed" in out, out
    # the next boot: nothing more to migrate
    v.stop()
    v.start()
    v.expect(r"mgwboot: booting slot b")
    v.wait_ready()
    v.login()
    rc, out = v.run("logread | grep -c 'data: migration' || true")
    assert out.strip().splitlines()[-1] == "0", out
