/*
 * usb.c - the USB source: the mdev hook (rootfs/usr/libexec/mailgw/usb-event) spools
 * each added storage device as a file in [crlwatch] usb_spool holding its device path;
 * crlwatch mounts it read-only (ro,nosuid,nodev,noexec; vfat, then ext4) on a private
 * directory, offers the CRL files it finds to the one install path, unmounts, and says
 * on the console and in the log what it found and did. A directory instead of a device
 * is read in place (the host tests' simulated key; also `crlwatch usb DIR`).
 *
 * What is read from a key (README "crlwatch"): mailgw/crl.pem, then every *.crl in
 * mailgw/ and in the top directory, in name order; regular files only (a symlink is
 * not followed), at most [crlwatch] max_size bytes each, at most CW_USB_FILES_MAX files.
 * The mount and the directory walk are root's; each file is opened here and its fd is
 * handed to the unprivileged child that reads and validates it (cw_offer_fd): the
 * key's owners and modes (ext4: anything; vfat: root-only, as mounted) do not matter.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "crlwatch.h"

#define CW_USB_FILES_MAX 16
#define CW_USB_NAME_MAX 128
#define CW_USB_MNT "/run/mailgw/usb-mnt"

struct cw_usb_result {
	unsigned found, installed, same, refused;
};

/*
 * Opens dir/name (relative to dfd) for the unprivileged check without following a
 * symlink: the fd or negative (-MGW_ENOENT: no such file, -MGW_ELIMIT: larger than max,
 * -MGW_EINVAL: not a regular file). Root only opens and looks at the inode; the bytes
 * are read by the child that parses them (install.c).
 */
static int cw_usb_open(int dfd, const char *name, size_t max)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return errno == ENOENT ? -MGW_ENOENT : -MGW_EINVAL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -MGW_EINVAL;
	}
	if ((unsigned long long)st.st_size > max) {
		close(fd);
		return -MGW_ELIMIT;
	}
	return fd;
}

static void cw_usb_offer(struct cw *cw, int dfd, const char *label, const char *rel,
			 const char *name, struct cw_usb_result *res, time_t now)
{
	char why[CW_WHY_MAX], src[CW_SOURCE_MAX];
	int fd, rc;

	snprintf(src, sizeof(src), "USB %s:%s%s", label, rel, name);
	fd = cw_usb_open(dfd, name, (size_t)cw->cfg.crlwatch_max_size);
	if (fd == -MGW_ENOENT)
		return;
	res->found++;
	if (fd < 0) {
		res->refused++;
		cw_say(cw, LOG_LVL_WARN, "%s: not read (%s)", src,
		       fd == -MGW_ELIMIT ? "larger than [crlwatch] max_size"
					 : "not a readable regular file");
		return;
	}
	rc = cw_offer_fd(cw, fd, src, now, why, sizeof(why));
	close(fd);
	if (rc == 1) {
		res->installed++;
		cw_say(cw, LOG_LVL_INFO, "%s: new CRL installed", src);
	} else if (rc == 0) {
		res->same++;
		cw_say(cw, LOG_LVL_INFO, "%s: the CRL already installed", src);
	} else {
		res->refused++;
		cw_say(cw, LOG_LVL_WARN, "%s: refused: %s", src, why);
	}
}

static int cw_usb_namecmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Every *.crl directly in dir (sorted), offered. */
static void cw_usb_crls(struct cw *cw, int dfd, const char *label, const char *rel,
			struct cw_usb_result *res, time_t now)
{
	char names[CW_USB_FILES_MAX][CW_USB_NAME_MAX];
	size_t n = 0;
	struct dirent *de;
	int fd2 = dup(dfd); /* closedir closes it; dfd stays the caller's */
	DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;

	if (d == NULL) {
		if (fd2 >= 0)
			close(fd2);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL && n < CW_USB_FILES_MAX) {
		size_t l = strlen(de->d_name);

		if (l <= 4 || l >= CW_USB_NAME_MAX || strcasecmp(de->d_name + l - 4, ".crl") != 0)
			continue;
		/* the name reaches logs, the console and the state file: plain names only */
		if (strspn(de->d_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789._-+") != l) {
			char safe[CW_USB_NAME_MAX];

			cw_say(cw, LOG_LVL_WARN, "USB %s:%s%s: odd file name, not read", label, rel,
			       log_safe(safe, sizeof(safe), de->d_name, l));
			continue;
		}
		memcpy(names[n++], de->d_name, l + 1);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cw_usb_namecmp);
	for (size_t i = 0; i < n; i++)
		cw_usb_offer(cw, dfd, label, rel, names[i], res, now);
}

/* Looks at the mounted (or simulated) key at root. */
static void cw_usb_scan(struct cw *cw, const char *root, const char *label, time_t now)
{
	struct cw_usb_result res = {0};
	int rfd, mfd;

	rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0) {
		cw_say(cw, LOG_LVL_WARN, "USB %s: cannot open %s: %s", label, root,
		       strerror(errno));
		return;
	}
	mfd = openat(rfd, "mailgw", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd >= 0) {
		cw_usb_offer(cw, mfd, label, "mailgw/", "crl.pem", &res, now);
		cw_usb_crls(cw, mfd, label, "mailgw/", &res, now);
		close(mfd);
	}
	cw_usb_crls(cw, rfd, label, "", &res, now);
	close(rfd);
	if (res.found == 0)
		cw_say(cw, LOG_LVL_INFO,
		       "USB %s: no CRL on this key (looked for mailgw/crl.pem and *.crl)", label);
	else
		cw_say(cw, LOG_LVL_INFO,
		       "USB %s: %u CRL file(s): %u installed, %u already "
		       "installed, %u refused",
		       label, res.found, res.installed, res.same, res.refused);
}

/* Mounts dev read-only on a fresh directory; the directory or NULL. */
static int cw_usb_mount(struct cw *cw, const char *dev, char *mnt, size_t mntsz)
{
	static const char *const types[] = {"vfat", "ext4"};
	const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int err = 0;

	(void)file_mkdirs(CW_USB_MNT, 0700);
	snprintf(mnt, mntsz, "%s/XXXXXX", CW_USB_MNT);
	if (mkdtemp(mnt) == NULL) {
		cw_say(cw, LOG_LVL_ERR, "USB %s: cannot make a mount point: %s", dev,
		       strerror(errno));
		return -MGW_EIO;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		/* vfat: files owned by root, not readable by others, no exec either way; the
		 * image's UTF-8 NLS for the names (the kernel's default iocharset, ascii, is
		 * not on the image: without it every FAT key fails to mount) */
		const char *opts =
		    i == 0 ? "uid=0,gid=0,fmask=0177,dmask=0077,iocharset=utf8" : NULL;

		if (mount(dev, mnt, types[i], flags, opts) == 0) {
			log_info("USB %s: mounted read-only (%s) on %s", dev, types[i], mnt);
			return 0;
		}
		/* EINVAL is "not this file system"; anything else is the reason to show */
		if (err == 0 || err == EINVAL)
			err = errno;
	}
	rmdir(mnt);
	if (err == EBUSY)
		cw_say(cw, LOG_LVL_WARN,
		       "USB %s: in use (mounted by the console?): its CRLs were not read; "
		       "'usb umount', pull it and plug it in again",
		       dev);
	else
		cw_say(cw, LOG_LVL_WARN, "USB %s: not mounted (neither vfat nor ext4?): %s", dev,
		       strerror(err));
	return -MGW_EIO;
}

void cw_usb_key(struct cw *cw, const char *path, time_t now)
{
	char mnt[sizeof(CW_USB_MNT) + 16];
	struct stat st;

	if (stat(path, &st) < 0) {
		cw_say(cw, LOG_LVL_WARN, "USB %s: gone before it could be read (%s)", path,
		       strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		cw_usb_scan(cw, path, path, now);
		return;
	}
	if (!S_ISBLK(st.st_mode)) {
		cw_say(cw, LOG_LVL_WARN, "USB %s: neither a block device nor a directory", path);
		return;
	}
	if (cw_usb_mount(cw, path, mnt, sizeof(mnt)) < 0)
		return;
	cw_usb_scan(cw, mnt, path, now);
	if (umount2(mnt, 0) < 0 && umount2(mnt, MNT_DETACH) < 0)
		log_err("USB %s: cannot unmount %s: %s", path, mnt, strerror(errno));
	else
		log_info("USB %s: unmounted; the key can be removed", path);
	rmdir(mnt);
}

void cw_usb_spool(struct cw *cw, time_t now)
{
	char names[CW_USB_FILES_MAX][CW_USB_NAME_MAX];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if (!cw->cfg.crlwatch_usb)
		return;
	d = opendir(cw->cfg.crlwatch_usb_spool);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && n < CW_USB_FILES_MAX) {
		/* ".NAME" is the hook's temporary file (it renames when complete) */
		if (de->d_name[0] != '.' && strlen(de->d_name) < CW_USB_NAME_MAX)
			memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		char path[CFG_STR_MAX + CW_USB_NAME_MAX + 2], *data = NULL;
		size_t len = 0;

		snprintf(path, sizeof(path), "%s/%.127s", cw->cfg.crlwatch_usb_spool, names[i]);
		if (file_read_all(path, CFG_STR_MAX, &data, &len) == 0) {
			data[strcspn(data, "\r\n")] = '\0';
			/* the device path came from mdev: only absolute paths, nothing else */
			if (data[0] == '/')
				cw_usb_key(cw, data, now);
			else
				log_warn("%s: not a device path, ignored", path);
		}
		free(data);
		/* handled once: a key plugged in again is a new event */
		if (unlink(path) < 0 && errno != ENOENT)
			log_err("%s: cannot remove: %s", path, strerror(errno));
	}
}
