# boot.cmd - A/B slot selection with a boot counter: U-Boot script, made into boot.scr by
# the image build (firmware/image/mkbootdisk.py); U-Boot's distro boot finds it on the
# boot disk's FAT partition. The slots are the folders a/ and b/ beside it, each with
# the kernel, rootfs.cpio.gz and the bundle's manifest. Every board boots it (the QEMU
# boards, and the Raspberry Pi 4 through Debian's u-boot-rpi): mkbootdisk.py puts the
# board's lines before it: mgw_kernel and mgw_boot (Image and booti on arm64, zImage and
# bootz on armhf), mgw_console (the kernel's console) and mgw_fdt (the device tree:
# U-Boot's own on QEMU, ${fdtcontroladdr}; on the Pi the one the Pi firmware loaded and
# fixed up, ${fdt_addr}).
#
# State: mgwboot.env on the same partition (and its copy mgwboot.bak), in U-Boot's text
# form, written by this script and by the console (`mailgw firmware update|confirm`), only
# these keys:
#   active=a|b     the slot that last confirmed (boots when nothing is on trial)
#   trying=a|b     a newly written slot on trial
#   tries=N        how often it was booted without confirming
#   failed=a|b     the slot the last rollback left
#   confirmed=V    the version that last confirmed
# A slot on trial boots at most mgw_max_tries times; it confirms when mailgwd is ready and
# its self-checks pass (rootfs/usr/libexec/mailgw/firmware-confirm), and reboots when it
# has not within the confirmation time. After that many boots, the active slot is booted
# again: a rollback.
setenv mgw_max_tries 3
setenv mgw_part ${devtype} ${devnum}:${distro_bootpart}
setexpr mgw_env ${scriptaddr} + 0x10000
# The console writes mgwboot.bak, then mgwboot.env; FAT has no journal, so when a power
# cut tore mgwboot.env, mgwboot.bak holds the same state.
for f in mgwboot.env mgwboot.bak; do
	if test "${active}" != a && test "${active}" != b; then
		setenv active
		setenv trying
		setenv tries 0
		setenv failed
		setenv confirmed
		if load ${mgw_part} ${mgw_env} ${f}; then
			env import -t ${mgw_env} ${filesize} active trying tries failed confirmed
		fi
	fi
done
if test "${active}" != a && test "${active}" != b; then
	echo "mgwboot: no boot state: slot a"
	setenv active a
	setenv trying
	setenv tries 0
fi
setenv slot ${active}
if test -n "${trying}"; then
	if test ${tries} -lt ${mgw_max_tries}; then
		setexpr tries ${tries} + 1
		setenv slot ${trying}
		echo "mgwboot: slot ${trying} on trial: boot ${tries} of ${mgw_max_tries}"
	else
		echo "mgwboot: slot ${trying} did not confirm in ${mgw_max_tries} boots: ROLLING BACK to slot ${active}"
		setenv failed ${trying}
		setenv trying
		setenv tries 0
	fi
	env export -t ${mgw_env} active trying tries failed confirmed
	fatwrite ${mgw_part} ${mgw_env} mgwboot.env ${filesize}
fi
echo "mgwboot: booting slot ${slot}"
if load ${mgw_part} ${kernel_addr_r} ${slot}/${mgw_kernel}; then
	if load ${mgw_part} ${ramdisk_addr_r} ${slot}/rootfs.cpio.gz; then
		setenv bootargs "console=${mgw_console} panic=5 quiet mgw.slot=${slot}"
		# On trial every hang must end in a reset that this script counts (README
		# "Rollback"): a kernel oops, a soft lockup or a task blocked for 120 s panic
		# (and panic=5 resets); mgw.trial makes /init arm the hardware watchdog until
		# mailgwd takes it over.
		if test "${slot}" = "${trying}"; then
			setenv bootargs "${bootargs} oops=panic softlockup_panic=1 hung_task_panic=1 mgw.trial=${tries}"
		fi
		if test "${mgw_boot}" = bootz; then
			bootz ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${mgw_fdt}
		fi
		booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${mgw_fdt}
	fi
fi
# A slot that cannot be loaded counts as a failed boot of it.
echo "mgwboot: slot ${slot} cannot be booted; resetting"
reset
