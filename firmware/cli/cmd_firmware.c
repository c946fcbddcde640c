/*
 * cmd_firmware.c - firmware updates: firmware status|update|confirm|guard|migrate (README
 * "Updating the firmware").
 *
 * A board with A/B updates has its slots a/ and b/ under /boot (boot-mount), each with
 * the slot files and the manifest of the bundle they came from; the boot state is U-Boot's
 * mgwboot.env beside them (fw_slots.h), which the boot script reads and counts. The
 * running slot is mgw.slot= on the kernel command line. An update is verified completely
 * (lib/pki/fwbundle.c) before anything is written; nothing is on trial while it writes
 * (the running slot keeps booting), the files are written into the other slot one by one
 * (temporary name, fsync, rename), and only then is it marked "trying". A power cut at
 * any point boots the running slot again.
 *
 * MAILGW_CMDLINE, MAILGW_WATCHDOG and MAILGW_REBOOT (a program) replace /proc/cmdline,
 * /dev/watchdog and the reboot itself (tests on the build machine; the other paths:
 * fw_slots.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "core/err.h"
#include "core/file.h"
#include "fw_slots.h"
#include "pki/fwbundle.h"
#include "watchdog/wdt.h"

#define FW_BOOT_DIR "/boot"
#define FW_FACTS_DIR "/etc/mailgw"
#define FW_CMDLINE "/proc/cmdline"
#define FW_FACT_MAX 256
#define FW_USB_DIR "/media/usb"
#define FW_SUFFIX ".mgwfw"
#define FW_WATCHDOG "/dev/watchdog"
#define FW_CONFIRM_TIMEOUT 120 /* s, when /etc/mailgw/confirm-timeout is missing */

static void fw_path(char out[FW_PATH_MAX], const char *dir, const char *name)
{
	snprintf(out, FW_PATH_MAX, "%s/%s", dir, name);
}

/* The running slot from the kernel command line (mgw.slot=a|b), or 0. */
static char fw_running(void)
{
	char *data = NULL, *p;
	size_t len = 0;
	char slot = 0;

	if (file_read_all(fw_env("MAILGW_CMDLINE", FW_CMDLINE), 4096, &data, &len) != 0)
		return 0;
	for (p = strstr(data, "mgw.slot="); p != NULL; p = strstr(p + 1, "mgw.slot="))
		if ((p == data || p[-1] == ' ') && (p[9] == 'a' || p[9] == 'b') &&
		    (p[10] == '\0' || p[10] == ' ' || p[10] == '\n'))
			slot = p[9];
	free(data);
	return slot;
}

/* True when the boot script booted a slot on trial (mgw.trial=N on the command line). */
static bool fw_trial_boot(void)
{
	char *data = NULL, *p;
	size_t len = 0;
	bool trial = false;

	if (file_read_all(fw_env("MAILGW_CMDLINE", FW_CMDLINE), 4096, &data, &len) != 0)
		return false;
	for (p = strstr(data, "mgw.trial="); p != NULL && !trial; p = strstr(p + 1, "mgw.trial="))
		trial = p == data || p[-1] == ' ';
	free(data);
	return trial;
}

static char fw_other(char slot)
{
	return slot == 'a' ? 'b' : 'a';
}

/* The manifest of the bundle installed in slot, or -1 (empty or half-written slot). */
static int fw_slot_manifest(char slot, struct fwb_manifest *m)
{
	char dir[FW_PATH_MAX], path[FW_PATH_MAX + 16], *data = NULL, why[128];
	size_t len = 0;
	int rc = -1;

	snprintf(dir, sizeof(dir), "%s/%c", fw_env("MAILGW_BOOT_DIR", FW_BOOT_DIR), slot);
	snprintf(path, sizeof(path), "%s/%s", dir, FWB_MANIFEST_NAME);
	if (file_read_all(path, FWB_MANIFEST_MAX, &data, &len) == 0 &&
	    fwb_manifest_parse(data, len, m, why, sizeof(why)) == MGW_PARSE_OK)
		rc = 0;
	free(data);
	return rc;
}

static const char *fw_slot_version(char slot, char *buf, size_t bufsz)
{
	struct fwb_manifest m;

	if (slot == 0 || fw_slot_manifest(slot, &m) != 0)
		return "none (empty, or an update to it was interrupted)";
	snprintf(buf, bufsz, "%s (revision %.12s)", m.version, m.revision);
	return buf;
}

/* The firmware lines of `status` and `firmware status`. */
void fw_status(struct cons *c)
{
	char version[FW_FACT_MAX], rev[FW_FACT_MAX], key[FW_FACT_MAX], other[160];
	char running = fw_running();
	struct fw_state st;

	fw_fact("version", version, sizeof(version));
	fw_fact("revision", rev, sizeof(rev));
	fw_fact("update-key", key, sizeof(key));
	cons_out(c, "firmware: %s (revision %.12s)", version, rev);
	cons_out(c, "update key: %s",
		 strcmp(key, "release") == 0
		     ? "release"
		     : "development key (a throwaway build key: NOT for production)");
	data_status(c);
	if (running == 0 || fw_state_read(&st) != 0) {
		cons_out(c, "slots: none (no A/B boot partition): no firmware updates here");
		return;
	}
	cons_out(c, "running slot: %c", running);
	cons_out(c, "other slot %c: %s", fw_other(running),
		 fw_slot_version(fw_other(running), other, sizeof(other)));
	if (st.trying != 0 && st.trying == running)
		cons_out(c, "last update: on trial in slot %c (boot %lu), not confirmed yet",
			 running, st.tries);
	else if (st.trying != 0)
		cons_out(c, "last update: slot %c written, boots on trial at the next reboot",
			 st.trying);
	else if (st.failed != 0) {
		cons_out(c, "last update: ROLLED BACK to slot %c: slot %c did not confirm",
			 st.active, st.failed);
		cons_out(c, "  (slot %c: %s)", st.failed,
			 fw_slot_version(st.failed, other, sizeof(other)));
	} else if (st.confirmed[0] != '\0')
		cons_out(c, "last update: %s confirmed", st.confirmed);
	else
		cons_out(c, "last update: none since this boot disk was written");
}

static int cmd_fw_status(struct cons *c)
{
	fw_status(c);
	return CONS_OK;
}

/* The one *.mgwfw file on the mounted USB key, into out. */
static int fw_usb_file(struct cons *c, char out[FW_PATH_MAX])
{
	DIR *d = opendir(FW_USB_DIR);
	struct dirent *de;
	int n = 0;

	if (d == NULL) {
		cons_err(c, "firmware update usb: no USB key at %s ('usb mount' first)",
			 FW_USB_DIR);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= strlen(FW_SUFFIX) ||
		    strcmp(de->d_name + len - strlen(FW_SUFFIX), FW_SUFFIX) != 0)
			continue;
		if (n++ == 0)
			fw_path(out, FW_USB_DIR, de->d_name);
		else
			cons_err(c, "also on the key: %s", de->d_name);
	}
	closedir(d);
	if (n == 1)
		return 0;
	cons_err(c, n == 0 ? "no *" FW_SUFFIX " file on the USB key"
			   : "more than one *" FW_SUFFIX
			     " file: give the one to install as " FW_USB_DIR "/NAME");
	return -1;
}

static int cmd_fw_update(struct cons *c)
{
	const char *src = cons_arg(c, "FILE");
	char version[FW_FACT_MAX], board[FW_FACT_MAX], btime[FW_FACT_MAX], keys[FW_PATH_MAX];
	char path[FW_PATH_MAX], slot_dir[FW_PATH_MAX], why[512] = "", q[256];
	const char *boot = fw_env("MAILGW_BOOT_DIR", FW_BOOT_DIR);
	char running = fw_running(), target;
	struct fwb_policy pol = {0};
	struct fw_state st;
	struct fwb_open o;
	int rc;

	if (running == 0 || fw_state_read(&st) != 0) {
		cons_err(c,
			 "firmware update: this gateway has no A/B boot partition (%s); "
			 "nothing was written",
			 boot);
		return CONS_ERROR;
	}
	if (st.trying != 0 || st.active != running) {
		cons_err(c,
			 "firmware update: slot %c is on trial and not confirmed yet; wait for "
			 "it (or reboot) and try again",
			 running);
		return CONS_REFUSED;
	}
	if (strcmp(src, "usb") == 0) {
		if (fw_usb_file(c, path) < 0)
			return CONS_REFUSED;
	} else {
		snprintf(path, sizeof(path), "%s", src);
	}
	fw_fact("board", board, sizeof(board));
	fw_fact("build-time", btime, sizeof(btime));
	fw_fact("version", version, sizeof(version));
	fw_path(keys, fw_env("MAILGW_FACTS_DIR", FW_FACTS_DIR), "update-keys");
	pol.board = board;
	pol.build_time = strtoull(btime, NULL, 10);
	pol.keys_dir = keys;
	pol.force = cons_arg(c, "force") != NULL;
	cons_out(c, "checking %s ...", path);
	if (fwb_open(path, &pol, &o, why, sizeof(why)) != 0) {
		cons_err(c, "firmware update refused, nothing was written: %s", why);
		return CONS_REFUSED;
	}
	target = fw_other(running);
	cons_out(c, "verified: %s (revision %.12s) for %s", o.b.m.version, o.b.m.revision,
		 o.b.m.board);
	cons_out(c, "  signed with the %s key; running now: %s", o.b.m.key, version);
	snprintf(q, sizeof(q), "Install %s into slot %c and reboot into it?", o.b.m.version,
		 target);
	if (!cons_confirm(c, q)) {
		fwb_close(&o);
		cons_out(c, "cancelled: nothing was written");
		return CONS_REFUSED;
	}
	/* Nothing is on trial (checked above): the boot script boots the active slot, the
	 * running one, whatever the other slot holds, until the state says otherwise. */
	snprintf(slot_dir, sizeof(slot_dir), "%s/%c", boot, target);
	mkdir(slot_dir, 0755);
	rc = fwb_install(&o, slot_dir, why, sizeof(why));
	fwb_close(&o);
	if (rc != 0) {
		cons_err(c,
			 "firmware update: writing slot %c failed: %s; slot %c is unchanged and "
			 "keeps booting",
			 target, why, running);
		return CONS_ERROR;
	}
	st.trying = target;
	st.tries = 0;
	st.failed = 0;
	if (fw_state_write(c, &st) != 0)
		return CONS_ERROR;
	sync();
	cons_out(c, "slot %c written; rebooting into it on trial (if it does not confirm,", target);
	cons_out(c, "  slot %c boots again)", running);
	if (cons_arg(c, "noreboot") != NULL) {
		cons_out(c, "(not rebooting now: the new slot is tried at the next reboot)");
		return CONS_OK;
	}
	return cons_reboot(c);
}

/*
 * The boot guard's time: twice the confirmation time (/etc/mailgw/confirm-timeout), within
 * the watchdog's range. firmware-confirm's own timer starts at the end of rcS and reboots
 * with a console message after the confirmation time; the guard, armed earlier, is the
 * backstop for what never gets that far, and must not cut that message short.
 */
static unsigned fw_guard_timeout(void)
{
	char text[FW_FACT_MAX];
	unsigned long t;

	fw_fact("confirm-timeout", text, sizeof(text));
	t = text[0] != '\0' ? strtoul(text, NULL, 10) : FW_CONFIRM_TIMEOUT;
	if (t > WDT_TIMEOUT_MAX / 2)
		return WDT_TIMEOUT_MAX;
	return t < WDT_TIMEOUT_MIN ? WDT_TIMEOUT_MIN : 2 * (unsigned)t;
}

/*
 * /init, first thing, on a slot on trial: arm the hardware watchdog with twice the
 * confirmation time and let go of it. Nothing pets it until mailgwd opens it, so a hang
 * anywhere before that (the boot scripts, firstboot, mailgwd's start) resets the board, and
 * the boot script counts that boot like any other that did not confirm. A driver that
 * counts less than that (bcm2835_wdt: 15 s) is armed for its maximum and a keeper
 * (wdt_keeper.c) pets it until the guard's time is up, then lets go the same way.
 */
static int cmd_fw_guard(struct cons *c)
{
	const char *dev = fw_env("MAILGW_WATCHDOG", FW_WATCHDOG);
	unsigned guard = fw_guard_timeout();
	char why[256];
	struct timespec now;
	struct wdt w;
	int pid;

	if (!fw_trial_boot())
		return CONS_OK;
	if (wdt_open(&w, dev, guard, why, sizeof(why)) < 0) {
		cons_err(c,
			 "firmware: *** slot on trial, but no watchdog: %s: a hang before "
			 "mailgwd starts is not reset ***",
			 why);
		return CONS_ERROR;
	}
	if (w.timeout_s >= guard) {
		cons_out(c,
			 "firmware: slot on trial: watchdog %s armed for %u s; the board resets "
			 "unless mailgwd takes it over",
			 dev, w.timeout_s);
		wdt_release(&w);
		return CONS_OK;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	pid = wdt_keeper_start(&w, dev, guard,
			       (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u, why,
			       sizeof(why));
	if (pid < 0) {
		cons_err(c,
			 "firmware: *** watchdog %s armed for only %u s (its maximum), and no "
			 "keeper: %s: the board resets unless mailgwd opens it within %u s ***",
			 dev, w.timeout_s, why, w.timeout_s);
		wdt_release(&w);
		return CONS_ERROR;
	}
	cons_out(c,
		 "firmware: slot on trial: watchdog %s armed for %u s (its maximum); a keeper "
		 "pets it until the guard's %u s are up (pid %d, %s); the board resets unless "
		 "mailgwd takes it over",
		 dev, w.timeout_s, guard, pid, wdt_keeper_pidfile());
	return CONS_OK;
}

/* After the confirmation: the boot guard's watchdog is disarmed unless mailgwd holds it
 * (a configuration with watchdog off would otherwise reset a confirmed slot). */
static void fw_guard_release(struct cons *c)
{
	const char *dev = fw_env("MAILGW_WATCHDOG", FW_WATCHDOG);
	char why[256];
	struct wdt w;
	pid_t keeper;
	int rc;

	if (!fw_trial_boot())
		return;
	keeper = wdt_keeper_disarm();
	if (keeper > 0) {
		cons_out(
		    c,
		    "firmware: boot watchdog %s disarmed by the boot guard's keeper (pid %ld): "
		    "mailgwd does not use it",
		    dev, (long)keeper);
		return;
	}
	if (keeper < 0) /* (a keeper killed but not reaped yet): disarm it here */
		cons_err(c, "firmware: the boot guard's keeper did not disarm watchdog %s", dev);
	rc = wdt_open(&w, dev, WDT_TIMEOUT_MAX, why, sizeof(why));
	if (rc == -MGW_EEXIST)
		return; /* mailgwd has it open and pets it */
	if (rc < 0) {
		cons_err(c, "firmware: cannot disarm the boot watchdog: %s", why);
		return;
	}
	wdt_close(&w);
	cons_out(c, "firmware: boot watchdog %s disarmed (mailgwd does not use it)", dev);
}

/* A slot on trial confirms when mailgwd answers on its control socket (it loaded its
 * configuration and TLS files and runs its event loop) and the mail store is there. */
static bool fw_self_check(struct cons *c)
{
	char why[256], mail[FW_PATH_MAX];
	struct stat sb;

	fw_path(mail, c->data_dir, "mail");
	return ctl_call(c->sock_path, "status", NULL, NULL, why, sizeof(why)) == CONS_OK &&
	       stat(mail, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int cmd_fw_confirm(struct cons *c)
{
	char running = fw_running(), version[FW_FACT_MAX], other[160];
	struct fw_state st;

	if (running == 0 || fw_state_read(&st) != 0)
		return CONS_OK; /* no A/B slots: nothing to confirm */
	if (st.trying == running) {
		if (!fw_self_check(c))
			return CONS_REFUSED; /* not yet: firmware-confirm asks again */
		fw_fact("version", version, sizeof(version));
		st.active = running;
		st.trying = 0;
		st.tries = 0;
		st.failed = 0;
		snprintf(st.confirmed, sizeof(st.confirmed), "%.*s", FWB_FIELD_MAX, version);
		if (fw_state_write(c, &st) != 0)
			return CONS_ERROR;
		sync();
		cons_out(c,
			 "firmware: slot %c (%s) confirmed: mailgwd is ready; it boots from now on",
			 running, version);
		fw_guard_release(c);
		/* Only now may /data change format: the previous slot no longer boots. */
		data_migrate(c, true);
		return CONS_OK;
	}
	if (st.failed != 0 && st.failed != running) {
		cons_out(
		    c,
		    "firmware: *** ROLLED BACK to slot %c: the update in slot %c did not confirm",
		    running, st.failed);
		cons_out(c, "firmware: *** (slot %c: %s)", st.failed,
			 fw_slot_version(st.failed, other, sizeof(other)));
	}
	return CONS_OK;
}

/* rcS, before firstboot: /data's pending migrations run now, unless this slot is on
 * trial (then `firmware confirm` runs them once it has confirmed). */
static int cmd_fw_migrate(struct cons *c)
{
	char running = fw_running();
	struct fw_state st;

	if (running != 0 && fw_state_read(&st) == 0 && st.trying == running) {
		data_migrate_wait(c, running);
		return CONS_OK;
	}
	return data_migrate(c, false);
}

const struct cons_cmd cons_cmds_firmware[] = {
    {"firmware status",
     "running slot and version, the other slot, the last update",
     cmd_fw_status,
     {{NULL}}},
    {"firmware update",
     "verify a signed update bundle and install it into the other slot, then reboot",
     cmd_fw_update,
     {{"FILE", CONS_ARG, "the bundle (a path), or usb: the one *.mgwfw on the mounted key"},
      {"force", CONS_ARG_FLAG, "install an older version too (downgrade)"},
      {"noreboot", CONS_ARG_FLAG, "do not reboot now (the next reboot tries it)"},
      {NULL}}},
    {"firmware confirm",
     "confirm the slot on trial when mailgwd is ready (the boot scripts do this)",
     cmd_fw_confirm,
     {{NULL}}},
    {"firmware guard",
     "on a slot on trial, arm the watchdog until mailgwd takes it over (/init does this)",
     cmd_fw_guard,
     {{NULL}}},
    {"firmware migrate",
     "run /data's pending migrations, unless this slot is on trial (the boot scripts do this)",
     cmd_fw_migrate,
     {{NULL}}},
    {NULL, NULL, NULL, {{NULL}}},
};
