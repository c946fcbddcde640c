/*
 * state.c - crlwatch's state file (state.h).
 */
#include "cw/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"

static const char *const cw_state_names[CW_STATE_MAX] = {
    "OK", "REFRESH DUE", "WARNING", "CRITICAL", "EXPIRED", "NO CRL",
};

const char *cw_state_name(enum cw_state s)
{
	return (unsigned)s < CW_STATE_MAX ? cw_state_names[s] : "?";
}

int cw_status_read(const char *path, struct cw_status *st)
{
	char *data = NULL, *save = NULL;
	size_t len;

	int rc;

	memset(st, 0, sizeof(*st));
	rc = file_read_all(path, CW_STATUS_MAX, &data, &len);
	if (rc < 0)
		return rc;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, ' ');
		long long n;

		if (v == NULL)
			continue;
		*v++ = '\0';
		n = strtoll(v, NULL, 10);
		if (strcmp(line, "state") == 0 && n >= 0 && n < CW_STATE_MAX)
			st->state = (enum cw_state)n;
		else if (strcmp(line, "mailed") == 0 && n >= 0 && n < CW_STATE_MAX)
			st->mailed = (enum cw_state)n;
		else if (strcmp(line, "state_since") == 0)
			st->state_since = (time_t)n;
		else if (strcmp(line, "last_announce") == 0)
			st->last_announce = (time_t)n;
		else if (strcmp(line, "last_refresh") == 0)
			st->last_refresh = (time_t)n;
		else if (strcmp(line, "last_source") == 0)
			snprintf(st->last_source, sizeof(st->last_source), "%s", v);
		else if (strcmp(line, "next_attempt") == 0)
			st->next_attempt = (time_t)n;
		else if (strcmp(line, "last_error") == 0)
			snprintf(st->last_error, sizeof(st->last_error), "%s", v);
		else if (strcmp(line, "last_error_at") == 0)
			st->last_error_at = (time_t)n;
		else if (strcmp(line, "etag") == 0)
			snprintf(st->etag, sizeof(st->etag), "%s", v);
		else if (strcmp(line, "last_modified") == 0)
			snprintf(st->last_modified, sizeof(st->last_modified), "%s", v);
		else if (strcmp(line, "failures") == 0 && n >= 0 && n < 1000)
			st->failures = (unsigned)n;
		else if (strcmp(line, "last_seen") == 0)
			st->last_seen = (time_t)n;
	}
	free(data);
	return 0;
}

int cw_status_write(const char *path, const struct cw_status *st)
{
	char buf[CW_STATUS_MAX], src[CW_SOURCE_MAX], err[CW_WHY_MAX], etag[sizeof(st->etag)];
	char lm[sizeof(st->last_modified)];
	int n;

	/* one value per line: no control character may end a line early */
	log_safe(src, sizeof(src), st->last_source, strlen(st->last_source));
	log_safe(err, sizeof(err), st->last_error, strlen(st->last_error));
	log_safe(etag, sizeof(etag), st->etag, strlen(st->etag));
	log_safe(lm, sizeof(lm), st->last_modified, strlen(st->last_modified));
	n = snprintf(
	    buf, sizeof(buf),
	    "state %d\nmailed %d\nstate_since %lld\nlast_announce %lld\nlast_refresh %lld\n"
	    "last_source %s\nnext_attempt %lld\nlast_error %s\nlast_error_at %lld\n"
	    "etag %s\nlast_modified %s\nfailures %u\nlast_seen %lld\n",
	    (int)st->state, (int)st->mailed, (long long)st->state_since,
	    (long long)st->last_announce, (long long)st->last_refresh, src,
	    (long long)st->next_attempt, err, (long long)st->last_error_at, etag, lm, st->failures,
	    (long long)st->last_seen);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -MGW_ELIMIT;
	return file_write_atomic(path, buf, (size_t)n, 0644);
}
