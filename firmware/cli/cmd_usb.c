/*
 * cmd_usb.c - the USB key: usb list|mount|umount. A key is mounted at USB_MOUNT
 * (nosuid, nodev, noexec) so that bundles, exports, CA and CRL files can be read from and
 * written to it (`cert issue ... to /media/usb`, `config export /media/usb/...`); umount
 * flushes it before it is pulled. The devices are what the kernel sees now (/sys/block/sd*
 * and their partitions), not mdev's queue for crlwatch (/run/mailgw/usb), which crlwatch
 * empties as it reads each key; a device name is allow-listed (/dev/sd<letter>[digits])
 * before it reaches mount.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "console.h"

#define USB_SYS_BLOCK "/sys/block"
#define USB_MOUNT "/media/usb"
#define USB_BUSY_WAIT_S 15 /* crlwatch reading the key: wait this long for it */

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

/* The mount point of dev (or of anything at mnt when dev is NULL) in /proc/mounts. */
static bool usb_mounted_at(const char *dev, const char *mnt)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/mounts", "r");

	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
		char *sp = strchr(line, ' ');

		if (sp == NULL)
			continue;
		*sp = '\0';
		if (dev != NULL)
			found = strcmp(line, dev) == 0;
		else
			found =
			    strncmp(sp + 1, mnt, strlen(mnt)) == 0 && sp[1 + strlen(mnt)] == ' ';
	}
	if (f != NULL)
		fclose(f);
	return found;
}

static bool usb_mounted(void)
{
	return usb_mounted_at(NULL, USB_MOUNT);
}

/* crlwatch has dev queued ([crlwatch] usb_spool, while it watches: its state file is
 * there) or mounted. */
static bool usb_busy(const struct mgw_cfg *cfg, const char *dev)
{
	char queued[CFG_STR_MAX + 24];

	snprintf(queued, sizeof(queued), "%s/%.16s", cfg->crlwatch_usb_spool,
		 dev + strlen("/dev/"));
	return usb_mounted_at(dev, NULL) ||
	       (cfg->crlwatch_usb && access(cfg->crlwatch_state, F_OK) == 0 &&
		access(queued, F_OK) == 0);
}

/* One device seen: counted, printed, and the best first (a partition, which holds the
 * file system on most keys, before a whole disk). */
static void usb_seen(struct cons *c, const char *name, bool print, int *n, char *first,
		     size_t firstsz)
{
	char dev[32];

	if (strlen(name) > 8)
		return;
	snprintf(dev, sizeof(dev), "/dev/%.8s", name);
	if (!usb_dev_ok(dev))
		return;
	(*n)++;
	if (print)
		cons_out(c, "%s", dev);
	if (first[0] == '\0' || (isdigit((unsigned char)dev[strlen(dev) - 1]) &&
				 !isdigit((unsigned char)first[strlen(first) - 1])))
		snprintf(first, firstsz, "%s", dev);
}

/* The USB disks the kernel sees now and their partitions. */
static int usb_scan(struct cons *c, bool print, char *first, size_t firstsz)
{
	struct dirent *de, *pe;
	DIR *d = opendir(USB_SYS_BLOCK);
	int n = 0;

	first[0] = '\0';
	while (d != NULL && (de = readdir(d)) != NULL) {
		char sub[64];
		DIR *pd;

		if (strncmp(de->d_name, "sd", 2) != 0 || strlen(de->d_name) > 8)
			continue;
		usb_seen(c, de->d_name, print, &n, first, firstsz);
		snprintf(sub, sizeof(sub), "%s/%.8s", USB_SYS_BLOCK, de->d_name);
		pd = opendir(sub);
		while (pd != NULL && (pe = readdir(pd)) != NULL)
			if (strncmp(pe->d_name, de->d_name, strlen(de->d_name)) == 0)
				usb_seen(c, pe->d_name, print, &n, first, firstsz);
		if (pd != NULL)
			closedir(pd);
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
	static struct mgw_cfg cfg;
	const char *dev = cons_arg(c, "device");
	char first[32], why[256];
	char *argv[] = {"/bin/mount", "-t",	 "vfat", "-o", "nosuid,nodev,noexec,iocharset=utf8",
			NULL,	      USB_MOUNT, NULL};

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
	/* crlwatch reads every key that is plugged in (read-only, for a second or so) and
	 * the kernel refuses a second, writable mount meanwhile: wait while it has the key
	 * queued or mounted */
	if (cfg_load(c->conf_path, &cfg, why, sizeof(why)) < 0)
		cfg_defaults(&cfg);
	for (int i = 0; i < USB_BUSY_WAIT_S * 2 && usb_busy(&cfg, dev); i++)
		usleep(500 * 1000);
	mkdir("/media", 0755);
	mkdir(USB_MOUNT, 0700);
	argv[5] = (char *)dev;
	/* FAT first, with the image's UTF-8 NLS (the kernel's default iocharset, ascii, is
	 * not on the image); then ext2/3/4 (the ext4 driver). */
	if (cons_run_prog(c, argv, -1) == 0) {
		cons_out(c, "%s mounted at %s", dev, USB_MOUNT);
		return CONS_OK;
	}
	argv[2] = "ext4";
	argv[4] = "nosuid,nodev,noexec";
	if (cons_run_prog(c, argv, -1) != 0) {
		cons_err(c, "cannot mount %s (no FAT/ext file system on it, or in use?)", dev);
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
