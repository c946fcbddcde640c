"""The reference board boots, serves its console, and keeps its promises across a
reboot and a hung daemon."""
import hashlib
import re
import smtplib
import ssl
import subprocess
import time

from vm import BOOT_TIMEOUT, mailgwd_has, smtp_greeting


def test_first_boot_console(vm, tmp_path):
    # a USB key plugged in at boot: its uevent must reach the crlwatch spool
    stick = tmp_path / "stick.img"
    subprocess.run(["mkfs.vfat", "-C", "-n", "CRLKEY", str(stick), "8192"], check=True,
                   stdout=subprocess.DEVNULL)
    v = vm(qemu_extra="-drive if=none,id=stick,format=raw,file=%s "
                      "-device usb-storage,drive=stick,bus=usb.0" % stick)
    fp = v.expect(r"server certificate SHA256 Fingerprint=([0-9A-F:]{95})").group(1)
    v.wait_ready()
    ready = time.monotonic() - v.started
    print("\nboot-to-ready (qemu_aarch64_virt, TCG): %.1f s" % ready)
    v.login()

    assert v.check("cat /etc/mailgw/board").strip() == "qemu_aarch64_virt"
    # the fingerprint shown on the console is the certificate's on /data
    assert fp in v.check("mailgw-keygen -c /data/etc/tls/server.crt -f")
    assert "BEGIN CERTIFICATE" in v.check("cat /data/etc/tls/server.crt")
    # README's /data layout, as first boot left it
    for path, want in (("/data/etc/tls/server.key", "root:root 600"),
                       ("/data/etc/tls/server.crt", "root:mailgw 640"),
                       ("/data/etc/tls", "root:mailgw 750"),
                       ("/data/etc/mailgw.conf", "root:mailgw 640"),
                       ("/data/etc", "root:mailgw 750"),
                       ("/data/mail", "mailgw:mailgw 700"),
                       ("/data/state", "root:root 755"),
                       ("/data/state/clock", "root:root 644")):
        assert v.check("stat -c '%%U:%%G %%a' %s" % path).strip() == want, path
    v.check("mailgw-layout check /data")
    assert v.run("test -e /data/pki")[0] != 0
    # mailgwd runs unprivileged, /data is the ext4 disk, / is the initramfs in RAM
    assert re.search(r"^\s*\d+\s+mailgw\s", v.check("ps -o pid,user,args | grep '[m]ailgwd -c'"), re.M)
    # (the data disk follows the A/B boot disk where the board boots through U-Boot)
    mounts = v.check("cat /proc/mounts")
    assert re.search(r"^/dev/vd[a-z] /data ext4 ", mounts, re.M), mounts
    assert not re.search(r"^\S+ / (ext4|vfat) ", mounts, re.M), mounts
    # the default configuration: no users, the watchdog on
    conf = v.check("cat /data/etc/mailgw.conf")
    assert "watchdog = /dev/watchdog" in conf
    # syslog is a RAM ring, the USB key was queued for crlwatch
    assert "/dev/sda" in v.check("cat /run/mailgw/usb/sda*")
    assert "queued for crlwatch" in v.check("logread | grep usb")
    # the console's USB commands: mount the key, export the configuration to it, unmount
    assert "/dev/sda mounted at /media/usb" in v.check("mailgw usb mount")
    assert "exported to /media/usb/mailgw-config.txt" in v.check(
        "mailgw config export /media/usb/mailgw-config.txt")
    assert "can be pulled" in v.check("mailgw usb umount")
    # the console's status: mailgwd's services, the server certificate, the clock
    st = v.check("mailgw status")
    assert "user: mailgw" in st and "watchdog: armed" in st
    assert re.search(r"^clock: \d{4}-", st, re.M)
    assert "/data/etc/console.passwd" not in v.check("mailgw config export /tmp/x; cat /tmp/x")
    assert v.check("stat -c '%U:%G %a' /data/etc/console.passwd").strip() == "root:root 600"
    # network from the configuration (DHCP on QEMU's user network)
    assert "10.0.2.15/24" in v.check("ip -4 addr show dev eth0")

    if mailgwd_has("smtp"):
        # the default configuration serves SMTP with STARTTLS on the first-boot key: a
        # client sees the very certificate whose fingerprint the console showed
        smtp_greeting(v.ports["smtp"], 60)
        with smtplib.SMTP("127.0.0.1", v.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            assert s.has_extn("starttls")
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            der = s.sock.getpeercert(binary_form=True)
        seen = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
        assert seen == fp


def test_reboot_keeps_data_and_clock(vm):
    # an RTC that says 2001: the clock must come from the build time, then the saved time
    v = vm(qemu_extra="-rtc base=2001-01-01T00:00:00")
    v.expect(r"clock: .* from the build time")
    v.wait_ready()
    assert v.login(), "a fresh /data must make the admin set the console password"
    build = int(v.check("cat /etc/mailgw/build-time"))
    assert int(v.check("date +%s")) >= build
    fp1 = v.check("mailgw-keygen -c /data/etc/tls/server.crt -f").strip()

    v.check("echo kept-across-reboot > /data/etc/note")
    future = build + 40 * 86400
    v.check("date -u -s @%d >/dev/null" % future)
    v.child.send("reboot\r")
    v.expect(r"rcK: /data saved and unmounted", 60)
    # an orderly stop: mailgwd has finished (its sessions had their grace time) before
    # /data is saved and unmounted, not killed afterwards with everything else
    assert "mailgwd info: stopped" in v.child.before, \
        "mailgwd was still running when /data was unmounted:\n" + v.console_tail()
    v.expect(r"clock: .* UTC", BOOT_TIMEOUT)
    boot = v.child.before
    assert "first boot" not in boot
    v.wait_ready()
    assert not v.login(), "the admin password must survive the reboot and be asked"
    assert v.check("cat /data/etc/note").strip() == "kept-across-reboot"
    assert int(v.check("date +%s")) >= future, "the clock went backwards across a reboot"
    assert v.check("mailgw-keygen -c /data/etc/tls/server.crt -f").strip() == fp1


def test_watchdog_resets_hung_daemon(vm):
    v = vm()
    v.wait_ready()
    v.login()
    assert "i6300ESB" in v.check("cat /sys/class/watchdog/watchdog0/identity")
    v.check("echo survives-reset > /data/etc/note && sync")
    t0 = time.monotonic()
    v.child.send("kill -STOP $(pidof mailgwd)\r")
    # nothing pets the i6300esb now: the board resets and boots again
    v.expect(r"init started: BusyBox", BOOT_TIMEOUT)
    print("\nwatchdog reset %.1f s after SIGSTOP (timeout 15 s)" % (time.monotonic() - t0))
    v.wait_ready()
    if mailgwd_has("smtp"):
        smtp_greeting(v.ports["smtp"], 60)  # and it serves mail again
    v.login()
    assert v.check("cat /data/etc/note").strip() == "survives-reset"


def test_armhf_board_boots(vm):
    # through U-Boot (Debian's qemu_arm build) and the A/B boot script, as make run does
    v = vm(board="qemu_arm_virt")
    v.expect(r"mgwboot: booting slot a")
    v.wait_ready()
    print("\nboot-to-ready (qemu_arm_virt, TCG): %.1f s" % (time.monotonic() - v.started))
    v.login()
    assert v.check("uname -m").strip().startswith("armv7")
    assert "Software Watchdog" in v.check("cat /sys/class/watchdog/watchdog0/identity")
    assert v.check("cat /etc/mailgw/board").strip() == "qemu_arm_virt"
    assert "mgw.slot=a" in v.check("cat /proc/cmdline").split()
    st = v.check("mailgw firmware status")
    assert "running slot: a\n" in st and "other slot b: none" in st, st
