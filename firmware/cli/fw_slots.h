/*
 * fw_slots.h - the A/B boot state of `mailgw firmware` (README "Updating the firmware",
 * "The boot path"). Every board boots through U-Boot and the boot script
 * board/qemu_aarch64_virt/boot.cmd, which picks the slot: the folders a/ and b/ on the
 * FAT boot partition (/boot), each holding a bundle's files and its manifest. The script
 * reads and updates mgwboot.env (and its copy mgwboot.bak) beside them; it counts the
 * boots of a slot on trial and rolls back itself.
 *
 * MAILGW_BOOT_DIR and MAILGW_FACTS_DIR replace /boot and /etc/mailgw (tests on the build
 * machine).
 */
#ifndef MGW_FW_SLOTS_H
#define MGW_FW_SLOTS_H

#include "console.h"
#include "pki/fwbundle.h"

#define FW_PATH_MAX 512

/* The boot state; slot names are 'a' or 'b', 0 for none. */
struct fw_state {
	char active;			   /* the slot that boots when nothing is on trial */
	char trying;			   /* a slot written and on trial (or about to be) */
	char failed;			   /* the slot the last rollback left */
	unsigned long tries;		   /* boots of the slot on trial so far */
	char confirmed[FWB_FIELD_MAX + 1]; /* the version that last confirmed */
};

/* Reads the boot state. 0, or -1 when the boot partition or its state is missing (no
 * A/B updates here). */
int fw_state_read(struct fw_state *st);

/* Makes the state durable (atomic per file, fsync). 0, or -1 (told on c). */
int fw_state_write(struct cons *c, const struct fw_state *st);

/* The directory an environment variable names when it is an absolute path, else dflt. */
const char *fw_env(const char *name, const char *dflt);

/* One line of a small build fact file, without its line end; "" when missing. */
void fw_fact(const char *name, char *out, size_t outsz);

#endif
