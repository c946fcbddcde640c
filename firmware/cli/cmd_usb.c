/*
 * cmd_usb.c - the USB key: usb list|mount|umount. A key is mounted at USB_MOUNT
 * (nosuid, nodev, noexec) so that bundles, exports, CA and CRL files can be read from and
 * written to it (`cert issue ... to /media/usb`, `config export /media/usb/...`); umount
 * flushes it before it is pulled. Devices come from mdev's queue (/run/mailgw/usb, see
 * rootfs/usr/libexec/mailgw/usb-event); a device name is allow-listed (/dev/sd<letter>
 * [digits]) before it reaches mount.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"

#define USB_QUEUE "/run/mailgw/usb"
#define USB_MOUNT "/media/usb"

static bool usb_dev_ok(const char *dev)
{
	const char *p = dev + strlen("/dev/sd");

	if (strncmp(dev, "/dev/sd", strlen("/dev/sd")) != 0 || !islower((unsigned char)*p))
		return false;
	for (p++; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return strlen(dev) < 16;
}

static bool usb_mounted(void)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/mounts", "r");

	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, " " USB_MOUNT " ") != NULL;
	if (f != NULL)
		fclose(f);
	return found;
}

/* The queued devices, partitions before whole disks; the first into first. */
static int usb_scan(struct cons *c, bool print, char *first, size_t firstsz)
{
	struct dirent *de;
	DIR *d = opendir(USB_QUEUE);
	int n = 0;

	first[0] = '\0';
	while (d != NULL && (de = readdir(d)) != NULL) {
		char dev[32];

		if (de->d_name[0] == '.' || strlen(de->d_name) > 8)
			continue;
		snprintf(dev, sizeof(dev), "/dev/%.8s", de->d_name);
		if (!usb_dev_ok(dev))
			continue;
		n++;
		if (print)
			cons_out(c, "%s", dev);
		/* a partition (sda1) is what holds the file system on most keys */
		if (first[0] == '\0' || (isdigit((unsigned char)dev[strlen(dev) - 1]) &&
					 !isdigit((unsigned char)first[strlen(first) - 1])))
			snprintf(first, firstsz, "%s", dev);
	}
	if (d != NULL)
		closedir(d);
	return n;
}

static int cmd_usb_list(struct cons *c)
{
	char first[32];

	if (usb_scan(c, true, first, sizeof(first)) == 0)
		cons_out(c, "no USB storage seen (plug the key in, then 'usb' again)");
	cons_out(c, "%s: %s", USB_MOUNT, usb_mounted() ? "mounted" : "not mounted");
	return CONS_OK;
}

static int cmd_usb_mount(struct cons *c)
{
	const char *dev = cons_arg(c, "device");
	char first[32];
	char *argv[] = {"/bin/mount", "-o", "nosuid,nodev,noexec", NULL, USB_MOUNT, NULL};

	if (dev == NULL) {
		if (usb_scan(c, false, first, sizeof(first)) == 0) {
			cons_err(c, "no USB storage seen");
			return CONS_REFUSED;
		}
		dev = first;
	}
	if (!usb_dev_ok(dev)) {
		cons_err(c, "device: a USB disk or partition, /dev/sda1 for example");
		return CONS_REFUSED;
	}
	if (usb_mounted()) {
		cons_err(c, "%s is in use: 'usb umount' first", USB_MOUNT);
		return CONS_REFUSED;
	}
	mkdir("/media", 0755);
	mkdir(USB_MOUNT, 0700);
	argv[3] = (char *)dev;
	/* FAT first, with the image's UTF-8 NLS (the kernel's default iocharset, ascii, is
	 * not on the image); then without it for ext2/3/4 keys. */
	argv[2] = "nosuid,nodev,noexec,iocharset=utf8";
	if (cons_run_prog(c, argv, -1) == 0) {
		cons_out(c, "%s mounted at %s", dev, USB_MOUNT);
		return CONS_OK;
	}
	argv[2] = "nosuid,nodev,noexec";
	if (cons_run_prog(c, argv, -1) != 0) {
		cons_err(c, "cannot mount %s (no FAT/ext file system on it?)", dev);
		return CONS_ERROR;
	}
	cons_out(c, "%s mounted at %s", dev, USB_MOUNT);
	return CONS_OK;
}

static int cmd_usb_umount(struct cons *c)
{
	char *argv[] = {"/bin/umount", USB_MOUNT, NULL};

	if (!usb_mounted()) {
		cons_out(c, "%s is not mounted", USB_MOUNT);
		return CONS_OK;
	}
	sync();
	if (cons_run_prog(c, argv, -1) != 0) {
		cons_err(c, "cannot unmount %s (still in use?)", USB_MOUNT);
		return CONS_ERROR;
	}
	cons_out(c, "%s unmounted: the key can be pulled", USB_MOUNT);
	return CONS_OK;
}

const struct cons_cmd cons_cmds_usb[] = {
    {"usb", "the USB storage seen and whether it is mounted", cmd_usb_list, {{NULL}}},
    {"usb mount",
     "mount the USB key at " USB_MOUNT,
     cmd_usb_mount,
     {{"device", CONS_ARG_VALUE, "which one (default: the first seen)"}, {NULL}}},
    {"usb umount", "write everything out and unmount the key", cmd_usb_umount, {{NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
