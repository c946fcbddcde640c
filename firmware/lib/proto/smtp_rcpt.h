/*
 * smtp_rcpt.h - which mailboxes an RCPT TO names: local domains, users, aliases.
 *
 * A domain is local when the directory <data_dir>/etc/domains/<domain>/ exists; its
 * users are those of its passwd-file (auth/passwd.h). A local part names, in this order:
 *   1. a user of the domain's passwd-file;
 *   2. an entry of the domain's aliases file <data_dir>/etc/domains/<domain>/aliases;
 *   3. "postmaster" or "abuse" (always present, RFC 5321 §4.5.1, RFC 2142 §2): the
 *      configured admin mailboxes.
 * Anything else is unknown; a domain that is not local is a relay attempt. There is no
 * other outcome: nothing here can lead to mail leaving the box.
 *
 * Aliases file: one alias per line, `local: target[, target...]`; '#' starts a comment
 * line; blank lines are ignored. A target is `user` (a user of the same domain) or
 * `user@domain` (a user of another local domain); targets are never aliases themselves
 * (no loops, no expansion chains) and never remote addresses. Local parts and targets
 * are folded to lower case. A malformed line is logged as "file:line: problem" and
 * skipped; an alias whose target is not an existing local user makes the RCPT fail
 * temporarily (451) and is logged the same way, so that a typo in the file delays mail
 * instead of bouncing it.
 *
 * Files are read synchronously at every RCPT (they are small; no cache to go stale).
 */
#ifndef MGW_SMTP_RCPT_H
#define MGW_SMTP_RCPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/passwd.h"
#include "proto/smtp_parse.h"
#include "store/maildir.h"

#define SMTP_ALIAS_LINE_MAX 1024       /* longer lines are malformed */
#define SMTP_ALIAS_FILE_MAX (1u << 20) /* a larger aliases file is refused */
#define SMTP_ALIAS_TARGETS_MAX 32      /* targets of one alias */
#define SMTP_ADMINS_MAX 8	       /* admin mailboxes (config) */

/* A mailbox: validated lower-case names. */
struct smtp_mbox {
	char domain[PASSWD_DOMAIN_MAX + 1];
	char user[PASSWD_USER_MAX + 1];
	uint64_t quota; /* bytes, 0: none (set by the session from smtp_rcpt_quota) */
};

/* The distinct mailboxes of one transaction. */
struct smtp_mbox_set {
	struct smtp_mbox mb[MAILDIR_RCPT_MAX];
	size_t n;
};

enum smtp_rcpt_res {
	SMTP_RCPT_OK = 0,  /* mailboxes added to the set */
	SMTP_RCPT_UNKNOWN, /* 550 5.1.1 */
	SMTP_RCPT_RELAY,   /* 550 5.7.1 */
	SMTP_RCPT_TEMP,	   /* 451 4.3.0: a broken alias or admin entry, an unreadable file */
	SMTP_RCPT_FULL,	   /* 452 4.5.3: the set would exceed its capacity */
	SMTP_RCPT_QUOTA,   /* 452 4.2.2: a mailbox is over its quota (set by the session) */
};

/*
 * Resolves a forward-path that passed smtp_path_forward_check(). admins is the
 * configured list "user@domain[, user@domain...]" (NUL-terminated). On SMTP_RCPT_OK the
 * mailboxes not yet in set are appended (max bounds set->n, at most MAILDIR_RCPT_MAX);
 * on any other result set is unchanged.
 */
enum smtp_rcpt_res smtp_rcpt_resolve(const char *data_dir, const char *admins,
				     const struct smtp_path *path, struct smtp_mbox_set *set,
				     size_t max);

/* 1 when <data_dir>/etc/domains/<domain>/ exists, 0 when it does not (or domain is not
 * a valid name), -MGW_EIO when that cannot be told (e.g. EACCES; logged with the path):
 * the caller answers a temporary error, never "relaying denied". */
int smtp_domain_local(const char *data_dir, const char *domain);

/*
 * Parses one aliases line (len bytes, no LF): MGW_PARSE_NEED_MORE for a blank or comment
 * line; MGW_PARSE_SYNTAX / MGW_PARSE_TOO_LONG with *why; MGW_PARSE_OK with the alias name
 * (lower case) in local and its distinct targets in targets[SMTP_ALIAS_TARGETS_MAX]
 * (a target without a domain gets home_domain). Syntax only: targets may not exist.
 */
int smtp_alias_line_parse(const char *line, size_t len, const char *home_domain, char *local,
			  size_t localsz, struct smtp_mbox *targets, size_t *ntargets,
			  const char **why);

/*
 * The quota of mailbox mb: the user's passwd-file rule (userdb_quota_rule, see
 * auth/passwd.h) if it has one, else dflt (the configured default). 0 means none.
 * 0, or -MGW_EIO when the passwd-file cannot be read.
 */
int smtp_rcpt_quota(const char *data_dir, uint64_t dflt, const struct smtp_mbox *mb,
		    uint64_t *limit);

/* True for the admins' role addresses: <postmaster> and postmaster@ / abuse@ any domain
 * (RFC 5321 section 4.5.1, RFC 2142 section 2). Their mail may use half of the reserve
 * of free space (maildir_store_space_check). */
bool smtp_path_is_admin(const struct smtp_path *path);

/*
 * Checks an aliases file as a whole: 0 when every line is well-formed; otherwise
 * -MGW_ECONFIG with "file:line: problem" in err (-MGW_ENOENT/-MGW_EIO when unreadable).
 * Targets are checked for syntax only.
 */
int smtp_alias_file_check(const char *path, char *err, size_t errsz);

/* Checks the syntax of an admin list (config); 0 or -MGW_EINVAL with the reason in why. */
int smtp_admins_check(const char *admins, char *why, size_t whysz);

#endif
