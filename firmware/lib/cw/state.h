/*
 * state.h - crlwatch's state file (README "crlwatch"): what crlwatch last announced and
 * did, kept between its runs and read by mailgwd for `mailgw status`.
 *
 * The file ([crlwatch] state, /run/mailgw/crlwatch.state) is written by crlwatch (root,
 * 0644, atomically) as "key value" lines; unknown keys and bad values are ignored by the
 * reader, so that an old reader copes with a newer writer.
 */
#ifndef MGW_CW_STATE_H
#define MGW_CW_STATE_H

#include <stddef.h>
#include <time.h>

#define CW_WHY_MAX 512
#define CW_SOURCE_MAX 300
#define CW_STATUS_MAX 8192 /* bytes of the file */

/* The countdown (README "crlwatch"), in order of urgency. */
enum cw_state {
	CW_OK = 0,
	CW_REFRESH_DUE,
	CW_WARNING,
	CW_CRITICAL,
	CW_EXPIRED,
	CW_NO_CRL, /* no valid CRL installed at all */
	CW_STATE_MAX
};

/* What crlwatch remembers between runs (the state file). */
struct cw_status {
	enum cw_state state;  /* last announced */
	enum cw_state mailed; /* the state postmaster has had a mail about */
	time_t state_since;   /* when it was announced */
	time_t last_announce; /* last console/syslog line (repeats) */
	time_t last_refresh;  /* last CRL installed */
	char last_source[CW_SOURCE_MAX];
	time_t next_attempt; /* next network fetch, 0: none */
	char last_error[CW_WHY_MAX];
	time_t last_error_at;
	time_t next_update; /* of the installed CRL */
	char etag[128];	    /* of the last HTTP 200 */
	char last_modified[64];
	unsigned failures; /* consecutive failed fetches */
	time_t last_seen;  /* the latest trustworthy time crlwatch saw (clock jumps) */
};

/* "OK", "REFRESH DUE", ...; never NULL. */
const char *cw_state_name(enum cw_state s);

/* Reads path into st (zeroed first). 0, -MGW_ENOENT (no file yet), -MGW_EIO. */
int cw_status_read(const char *path, struct cw_status *st);
/* Writes st to path atomically, mode 0644. 0 or a negative code. */
int cw_status_write(const char *path, const struct cw_status *st);

#endif
