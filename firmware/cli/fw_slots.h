/*
 * fw_slots.h - the A/B slot backends of `mailgw firmware`: where a board keeps its boot
 * state and how it boots a slot on trial (README "Updating the firmware", "The boot
 * path"). The slots themselves are the same on every board: the folders a/ and b/ under
 * the boot directory (/boot), each holding a bundle's files and its manifest.
 *
 *   uboot-env   (QEMU boards) U-Boot's boot script board/<board>/boot.cmd reads and
 *               updates mgwboot.env (and its copy mgwboot.bak) on the one FAT boot
 *               partition; it counts the boots of a slot on trial and rolls back itself.
 *   pi-tryboot  (Raspberry Pi 4) the Pi firmware reads autoboot.txt on the card's first
 *               FAT partition (/boot): [all] boot_partition is the default slot, the
 *               [tryboot] one boots once after `reboot "0 tryboot"`; a tryboot that does
 *               not come up boots the default again (the firmware's one-shot flag).
 *               The slots are partitions 2 (a) and 3 (b), mounted on /boot/a and
 *               /boot/b. The trial marker mgwtrial.env says which slot was tried, in
 *               which boot (the kernel's boot_id): back on the default slot in a later
 *               boot, that slot did not confirm.
 *
 * The backend is the build fact slot-backend (/etc/mailgw/slot-backend; uboot-env when
 * missing). MAILGW_BOOT_DIR, MAILGW_FACTS_DIR, MAILGW_BOOT_ID (a file holding the boot id)
 * and MAILGW_RUN_DIR replace /boot, /etc/mailgw, /proc/sys/kernel/random/boot_id and
 * /run/mailgw (tests on the build machine).
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

struct fw_backend {
	const char *name;
	/* Reads the state as the board boots now (running: this boot's slot). 0, or -1 when
	 * the boot partition or its state is missing (no A/B updates here). */
	int (*read)(struct fw_state *st, char running);
	/* Makes the state durable (atomic per file, fsync). 0, or -1 (told on c). */
	int (*write)(struct cons *c, const struct fw_state *st);
	/* Makes the next reboot boot the slot on trial (after write() marked it). 0 or -1. */
	int (*arm)(struct cons *c);
};

/* The board's backend (the slot-backend build fact). */
const struct fw_backend *fw_backend(void);

/* The directory an environment variable names when it is an absolute path, else dflt. */
const char *fw_env(const char *name, const char *dflt);

/* One line of a small build fact file, without its line end; "" when missing. */
void fw_fact(const char *name, char *out, size_t outsz);

/* The file that holds a pending reboot argument ("0 tryboot"), for `firmware restart`. */
void fw_reboot_arg_path(char out[FW_PATH_MAX]);

#endif
