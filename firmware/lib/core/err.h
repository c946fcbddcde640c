/*
 * err.h - error and parser result codes shared by every module.
 *
 * Functions return 0 on success or a negative -MGW_E* code; predicates return bool.
 * Parsers return one of enum mgw_parse. Start a function with `rc = -MGW_EINVAL` (or
 * the error that fits) so that a forgotten assignment fails closed.
 */
#ifndef MGW_ERR_H
#define MGW_ERR_H

enum mgw_err {
	MGW_EINVAL = 1,  /* bad argument or malformed input */
	MGW_ENOMEM,      /* allocation failed or memory budget exhausted */
	MGW_EIO,         /* an I/O call failed; errno is logged where it happened */
	MGW_ELIMIT,      /* a named limit was reached */
	MGW_ENOENT,      /* no such thing (file, user, key) */
	MGW_EEXIST,      /* already exists / in use */
	MGW_EPERM,       /* not allowed */
	MGW_EAGAIN,      /* would block, try again when the fd is ready */
	MGW_EWANTREAD,   /* transport needs the fd readable before it can go on */
	MGW_EWANTWRITE,  /* transport needs the fd writable before it can go on */
	MGW_ECLOSED,     /* peer closed the connection */
	MGW_ETLS,        /* TLS failure (handshake, alert, certificate) */
	MGW_EAUTH,       /* authentication failed */
	MGW_ENOSPC,      /* storage full or below its reserve */
	MGW_ECONFIG,     /* configuration invalid */
	MGW_ERR_MAX
};

enum mgw_parse {
	MGW_PARSE_OK = 0,
	MGW_PARSE_NEED_MORE,
	MGW_PARSE_SYNTAX,
	MGW_PARSE_TOO_LONG,
	MGW_PARSE_LIMIT,
};

/* Human-readable text for a 0 / -MGW_E* code; never NULL, never owned by the caller. */
const char *mgw_strerror(int rc);

#define MGW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
