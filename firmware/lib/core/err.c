/* err.c - texts for the -MGW_E* codes. */
#include "core/err.h"

#include <stddef.h>

static const char *const mgw_err_text[MGW_ERR_MAX] = {
	[0] = "success",
	[MGW_EINVAL] = "invalid argument or input",
	[MGW_ENOMEM] = "out of memory",
	[MGW_EIO] = "I/O error",
	[MGW_ELIMIT] = "limit reached",
	[MGW_ENOENT] = "not found",
	[MGW_EEXIST] = "already exists",
	[MGW_EPERM] = "not permitted",
	[MGW_EAGAIN] = "try again",
	[MGW_EWANTREAD] = "transport wants to read",
	[MGW_EWANTWRITE] = "transport wants to write",
	[MGW_ECLOSED] = "connection closed",
	[MGW_ETLS] = "TLS error",
	[MGW_EAUTH] = "authentication failed",
	[MGW_ENOSPC] = "no space",
	[MGW_ECONFIG] = "configuration error",
};

const char *mgw_strerror(int rc)
{
	int code = rc < 0 ? -rc : rc;

	if (code >= MGW_ERR_MAX || mgw_err_text[code] == NULL)
		return "unknown error";
	return mgw_err_text[code];
}
