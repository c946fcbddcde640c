/*
 * fw_slots.c - the A/B slot backends (fw_slots.h): uboot-env (mgwboot.env, read and
 * counted by U-Boot's boot script) and pi-tryboot (autoboot.txt, read by the Raspberry Pi
 * firmware, plus our trial marker). Every file here is replaced atomically (temporary
 * file, fsync, rename, directory fsync): FAT has no journal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "fw_slots.h"

#define FW_FACTS_DIR "/etc/mailgw"
#define FW_BOOT_DIR "/boot"
#define FW_RUN_DIR "/run/mailgw"
#define FW_BOOT_ID "/proc/sys/kernel/random/boot_id"
#define FW_STATE_MAX 1024
#define FW_FACT_MAX 256
#define FW_BOOT_ID_MAX 64

#define FW_UB_STATE "mgwboot.env"
#define FW_UB_STATE_BAK "mgwboot.bak"

#define FW_PI_AUTOBOOT "autoboot.txt"
#define FW_PI_AUTOBOOT_MAX 512 /* the firmware reads no more */
#define FW_PI_TRIAL "mgwtrial.env"
#define FW_PI_PART_A 2
#define FW_PI_PART_B 3
#define FW_PI_REBOOT_ARG "0 tryboot"
#define FW_REBOOT_ARG_FILE "reboot-arg"

const char *fw_env(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && v[0] == '/' ? v : dflt;
}

static void fw_boot_path(char out[FW_PATH_MAX], const char *name)
{
	snprintf(out, FW_PATH_MAX, "%s/%s", fw_env("MAILGW_BOOT_DIR", FW_BOOT_DIR), name);
}

void fw_fact(const char *name, char *out, size_t outsz)
{
	char path[FW_PATH_MAX], *data = NULL;
	size_t len = 0;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", fw_env("MAILGW_FACTS_DIR", FW_FACTS_DIR), name);
	if (file_read_all(path, FW_FACT_MAX, &data, &len) == 0) {
		data[strcspn(data, "\r\n")] = '\0';
		snprintf(out, outsz, "%s", data);
	}
	free(data);
}

void fw_reboot_arg_path(char out[FW_PATH_MAX])
{
	snprintf(out, FW_PATH_MAX, "%s/%s", fw_env("MAILGW_RUN_DIR", FW_RUN_DIR),
		 FW_REBOOT_ARG_FILE);
}

static char fw_slot_value(const char *v)
{
	return (v[0] == 'a' || v[0] == 'b') && v[1] == '\0' ? v[0] : 0;
}

/* Parses the key=value lines of a state file (U-Boot's text form: it ends the file with a
 * NUL and writes numbers in hex) into st; boot= (the trial marker's) into boot_id. A
 * missing file leaves st as it is: 0, or -1. */
static int fw_kv_read(const char *name, struct fw_state *st, char boot_id[FW_BOOT_ID_MAX])
{
	char path[FW_PATH_MAX], *data = NULL, *line, *save = NULL;
	size_t len = 0;

	fw_boot_path(path, name);
	if (file_read_all(path, FW_STATE_MAX, &data, &len) != 0)
		return -1;
	data[strnlen(data, len)] = '\0';
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, '=');

		if (v == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "active") == 0)
			st->active = fw_slot_value(v);
		else if (strcmp(line, "trying") == 0)
			st->trying = fw_slot_value(v);
		else if (strcmp(line, "failed") == 0)
			st->failed = fw_slot_value(v);
		else if (strcmp(line, "tries") == 0)
			st->tries = strtoul(v, NULL, 16);
		else if (strcmp(line, "confirmed") == 0)
			snprintf(st->confirmed, sizeof(st->confirmed), "%s", v);
		else if (strcmp(line, "boot") == 0 && boot_id != NULL)
			snprintf(boot_id, FW_BOOT_ID_MAX, "%s", v);
	}
	free(data);
	return 0;
}

/* The trying/failed/confirmed lines of a state file; text holds n bytes already. */
static int fw_kv_format(char *text, size_t size, int n, const struct fw_state *st,
			const char *boot_id)
{
	if (st->trying != 0 && boot_id != NULL)
		n += snprintf(text + n, size - (size_t)n, "trying=%c\nboot=%s\n", st->trying,
			      boot_id);
	else if (st->trying != 0)
		n += snprintf(text + n, size - (size_t)n, "trying=%c\ntries=%lx\n", st->trying,
			      st->tries);
	if (st->failed != 0)
		n += snprintf(text + n, size - (size_t)n, "failed=%c\n", st->failed);
	if (st->confirmed[0] != '\0')
		n += snprintf(text + n, size - (size_t)n, "confirmed=%s\n", st->confirmed);
	return n;
}

static int fw_boot_write(struct cons *c, const char *name, const char *text, int n)
{
	char path[FW_PATH_MAX];

	fw_boot_path(path, name);
	if (file_write_atomic(path, text, (size_t)n, 0644) != 0) {
		cons_err(c, "cannot write the boot state %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- uboot-env ------------------------------------------------------------------------ */

static int ub_read(struct fw_state *st, char running)
{
	(void)running;
	memset(st, 0, sizeof(*st));
	if (fw_kv_read(FW_UB_STATE, st, NULL) != 0)
		return -1;
	if (st->active == 0)
		st->active = 'a'; /* the boot script's default */
	return 0;
}

/* mgwboot.bak, then mgwboot.env: should a power cut tear the rename of one, the boot
 * script reads the other. */
static int ub_write(struct cons *c, const struct fw_state *st)
{
	char text[FW_STATE_MAX];
	int n = snprintf(text, sizeof(text), "active=%c\n", st->active);

	n = fw_kv_format(text, sizeof(text), n, st, NULL);
	if (fw_boot_write(c, FW_UB_STATE_BAK, text, n) != 0)
		return -1;
	return fw_boot_write(c, FW_UB_STATE, text, n);
}

/* The boot script boots the slot on trial as soon as the state says so. */
static int ub_arm(struct cons *c)
{
	(void)c;
	return 0;
}

/* ---- pi-tryboot ----------------------------------------------------------------------- */

static char pi_part_slot(unsigned long part)
{
	return part == FW_PI_PART_A ? 'a' : part == FW_PI_PART_B ? 'b' : 0;
}

/* The default slot in autoboot.txt: boot_partition= of the [all] section (the lines
 * before any section count as [all]), or 0. */
static char pi_autoboot_default(char *text)
{
	char *line, *save = NULL, slot = 0;
	bool all = true;

	for (line = strtok_r(text, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (line[0] == '[')
			all = strcmp(line, "[all]") == 0;
		else if (all && strncmp(line, "boot_partition=", 15) == 0)
			slot = pi_part_slot(strtoul(line + 15, NULL, 10));
	}
	return slot;
}

static void pi_autoboot_format(char *text, size_t size, char active)
{
	snprintf(text, size,
		 "[all]\ntryboot_a_b=1\nboot_partition=%d\n[tryboot]\nboot_partition=%d\n",
		 active == 'a' ? FW_PI_PART_A : FW_PI_PART_B,
		 active == 'a' ? FW_PI_PART_B : FW_PI_PART_A);
}

/* This boot's id. A plain read(): /proc files have no size for file_read_all(). */
static void pi_boot_id(char out[FW_BOOT_ID_MAX])
{
	int fd = open(fw_env("MAILGW_BOOT_ID", FW_BOOT_ID), O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, FW_BOOT_ID_MAX - 1) : -1;

	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (fd >= 0)
		close(fd);
}

static int pi_read(struct fw_state *st, char running)
{
	char path[FW_PATH_MAX], *data = NULL, marked[FW_BOOT_ID_MAX] = "", now[FW_BOOT_ID_MAX];
	size_t len = 0;

	memset(st, 0, sizeof(*st));
	fw_boot_path(path, FW_PI_AUTOBOOT);
	if (file_read_all(path, FW_PI_AUTOBOOT_MAX, &data, &len) != 0)
		return -1;
	st->active = pi_autoboot_default(data);
	free(data);
	if (st->active == 0)
		return -1;
	fw_kv_read(FW_PI_TRIAL, st, marked);
	if (st->trying == 0)
		return 0;
	pi_boot_id(now);
	if (st->trying == running) {
		st->tries = 1; /* the firmware boots a tryboot slot once */
	} else if (strcmp(marked, now) != 0) {
		/* Written in an earlier boot, and this boot is the default slot again: the
		 * tryboot did not come up (or never started), the firmware fell back. */
		st->failed = st->trying;
		st->trying = 0;
	}
	return 0;
}

/* autoboot.txt first (only when the default slot changes: a confirmation), then the
 * marker. A cut between the two boots the new default slot with the marker still saying
 * "on trial" there: it confirms again. */
static int pi_write(struct cons *c, const struct fw_state *st)
{
	char path[FW_PATH_MAX], want[FW_PI_AUTOBOOT_MAX], text[FW_STATE_MAX],
	    boot_id[FW_BOOT_ID_MAX];
	char *data = NULL;
	size_t len = 0;
	int n, rc = 0;

	pi_autoboot_format(want, sizeof(want), st->active);
	fw_boot_path(path, FW_PI_AUTOBOOT);
	if (file_read_all(path, FW_PI_AUTOBOOT_MAX, &data, &len) != 0 || strcmp(data, want) != 0)
		rc = fw_boot_write(c, FW_PI_AUTOBOOT, want, (int)strlen(want));
	free(data);
	if (rc != 0)
		return -1;
	pi_boot_id(boot_id);
	n = fw_kv_format(text, sizeof(text), 0, st, boot_id);
	return fw_boot_write(c, FW_PI_TRIAL, text, n);
}

/* The next reboot passes "0 tryboot" (partition 0: the default one, as autoboot.txt says;
 * tryboot: the firmware's one-shot flag, so [tryboot] boot_partition boots once). BusyBox
 * reboot cannot pass an argument: rcK ends with `mailgw firmware restart`, which makes
 * the reboot system call with it. */
static int pi_arm(struct cons *c)
{
	char path[FW_PATH_MAX];

	fw_reboot_arg_path(path);
	if (file_write_atomic(path, FW_PI_REBOOT_ARG "\n", strlen(FW_PI_REBOOT_ARG "\n"), 0600) !=
	    0) {
		cons_err(c, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static const struct fw_backend fw_uboot_env = {"uboot-env", ub_read, ub_write, ub_arm};
static const struct fw_backend fw_pi_tryboot = {"pi-tryboot", pi_read, pi_write, pi_arm};

const struct fw_backend *fw_backend(void)
{
	char name[FW_FACT_MAX];

	fw_fact("slot-backend", name, sizeof(name));
	return strcmp(name, fw_pi_tryboot.name) == 0 ? &fw_pi_tryboot : &fw_uboot_env;
}
