/*
 * fw_slots.c - the A/B boot state (fw_slots.h): mgwboot.env, read and counted by U-Boot's
 * boot script, written here with its copy mgwboot.bak. Every file here is replaced
 * atomically (temporary file, fsync, rename, directory fsync): FAT has no journal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "fw_slots.h"

#define FW_FACTS_DIR "/etc/mailgw"
#define FW_BOOT_DIR "/boot"
#define FW_STATE_MAX 1024
#define FW_FACT_MAX 256

#define FW_STATE "mgwboot.env"
#define FW_STATE_BAK "mgwboot.bak"

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

static char fw_slot_value(const char *v)
{
	return (v[0] == 'a' || v[0] == 'b') && v[1] == '\0' ? v[0] : 0;
}

/* mgwboot.env in U-Boot's text form (`env export -t`: it ends the file with a NUL and
 * writes numbers in hex). */
int fw_state_read(struct fw_state *st)
{
	char path[FW_PATH_MAX], *data = NULL, *line, *save = NULL;
	size_t len = 0;

	memset(st, 0, sizeof(*st));
	fw_boot_path(path, FW_STATE);
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
	}
	free(data);
	if (st->active == 0)
		st->active = 'a'; /* the boot script's default */
	return 0;
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

/* mgwboot.bak, then mgwboot.env: should a power cut tear the rename of one, the boot
 * script reads the other. */
int fw_state_write(struct cons *c, const struct fw_state *st)
{
	char text[FW_STATE_MAX];
	int n = snprintf(text, sizeof(text), "active=%c\n", st->active);

	if (st->trying != 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "trying=%c\ntries=%lx\n",
			      st->trying, st->tries);
	if (st->failed != 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "failed=%c\n", st->failed);
	if (st->confirmed[0] != '\0')
		n += snprintf(text + n, sizeof(text) - (size_t)n, "confirmed=%s\n", st->confirmed);
	if (fw_boot_write(c, FW_STATE_BAK, text, n) != 0)
		return -1;
	return fw_boot_write(c, FW_STATE, text, n);
}
