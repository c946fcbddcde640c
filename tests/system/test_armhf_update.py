"""Firmware updates on the 32-bit board (qemu_arm_virt, armhf), the run of the reference
board's test_update.py: its boot path is the same in kind, so the test is too. Debian's
U-Boot for arm (u-boot-qemu, qemu_arm) runs the same A/B boot script
(board/qemu_aarch64_virt/boot.cmd, with zImage and bootz), which counts the boots of a
slot on trial in mgwboot.env with fatwrite; the kernel is Debian's armmp zImage, and the
boot guard's watchdog on a slot on trial is softdog (this board has no i6300esb).

  version A (the built image) with mail in joe's mailbox
  -> update to B (a bundle of this build's zImage and initramfs) from a USB key, B boots
     on trial and confirms, the mail is still there and fetchable over POP3S
  -> update to a broken C (its mailgwd exits at start): C never confirms, after the boot
     script's limit the board rolls back to B by itself and the console says why; the
     mail is still there.

The refused bundles are the reference board's (test_update.py): the check is the same C
code on both.
"""
from test_update import mail_survives_b_and_broken_c

BOARD = "qemu_arm_virt"


def test_armhf_update_keeps_mail_and_rolls_back(vm, tmp_path):
    v = mail_survives_b_and_broken_c(vm, tmp_path, BOARD)
    assert v.check("uname -m").strip().startswith("armv7")
    assert "mgw.slot=b" in v.check("cat /proc/cmdline").split()
    # what U-Boot's boot script left after the rollback: B active, A failed, none on trial
    env = v.check("cat /boot/mgwboot.env").replace("\r", "").split("\n")
    assert "active=b" in env and "failed=a" in env and "trying=" not in "\n".join(env), env
