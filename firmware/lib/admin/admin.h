/*
 * admin.h - the admin operations on the data directory, as a library: domains, users,
 * aliases, the postmaster list. Used by mailgw-passwd and the console (mailgw).
 *
 * Every operation takes an opened layout (admin/layout.h) and writes through it: atomic
 * replacement, owner/group/mode from the layout table, no symlink followed. Nothing here
 * talks to mailgwd: the caller reloads it afterwards if it wants the change applied at
 * once (passwd-files and aliases are read at every use anyway).
 *
 * Return values: 0, or a negative -MGW_E* code: -MGW_EINVAL (bad name, address, list),
 * -MGW_ENOENT (no such domain / user / alias), -MGW_EEXIST (already exists, or a domain
 * still holding users), -MGW_ECONFIG (a file to edit does not parse: its file:line in
 * msg), -MGW_EPERM, -MGW_ENOSPC, -MGW_EIO. Every function writes one line of text (no LF)
 * into msg (of msgsz bytes; LAYOUT_MSG_MAX is enough): the reason on failure, what was done
 * on success ("user joe@example.test added").
 *
 * Names follow auth/passwd.h (lower-case; addresses are folded to lower case here).
 * Stored mail is never removed by any operation here: deleting a user or a domain
 * leaves its Maildir under mail/ for the admin to archive.
 *
 * Passwords are given as buffers (never in argv); this module hashes them with SHA-crypt
 * (passwd_hash_new, rounds 0 = PASSWD_ROUNDS_DEFAULT) and wipes its copies. An empty
 * password is refused.
 */
#ifndef MGW_ADMIN_H
#define MGW_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/layout.h"
#include "auth/passwd.h"

/* Called once per listed item; a non-zero return stops the listing and is returned. */
typedef int (*admin_list_fn)(void *arg, const char *name, const char *value);

/* ---- domains (etc/domains/<domain>/ with its passwd-file) ---------------------------- */

/* Creates the domain: its directory and an empty passwd-file. -MGW_EEXIST when it exists. */
int admin_domain_add(const struct layout *l, const char *domain, char *msg, size_t msgsz);

/* Deletes the domain's directory (passwd-file, aliases). Refused with -MGW_EEXIST while
 * the domain has users unless force; mail stays. */
int admin_domain_del(const struct layout *l, const char *domain, bool force, char *msg,
		     size_t msgsz);

/* Calls fn(arg, domain, NULL) for each local domain, sorted. */
int admin_domain_list(const struct layout *l, admin_list_fn fn, void *arg, char *msg, size_t msgsz);

/* True when the domain exists (its passwd-file is there). */
bool admin_domain_exists(const struct layout *l, const char *domain);

/* ---- users (lines of etc/domains/<domain>/passwd) ------------------------------------ */

/* Adds user@domain with password (len bytes). The domain must exist (-MGW_ENOENT);
 * -MGW_EEXIST when the user exists. */
int admin_user_add(const struct layout *l, const char *addr, const char *password, size_t len,
		   unsigned rounds, char *msg, size_t msgsz);

/* Changes the password of an existing user (-MGW_ENOENT otherwise). */
int admin_user_passwd(const struct layout *l, const char *addr, const char *password, size_t len,
		      unsigned rounds, char *msg, size_t msgsz);

/* Adds or changes: the user is created when absent, and the domain too (what
 * `mailgw-passwd set` does). */
int admin_user_set(const struct layout *l, const char *addr, const char *password, size_t len,
		   unsigned rounds, char *msg, size_t msgsz);

/* Sets a ready hash ("{SHA512-CRYPT}$6$...") the same way as admin_user_set. */
int admin_user_set_hash(const struct layout *l, const char *addr, const char *hash, char *msg,
			size_t msgsz);

/* Removes the user's line from the passwd-file (-MGW_ENOENT when absent). Mail stays. */
int admin_user_del(const struct layout *l, const char *addr, char *msg, size_t msgsz);

/* Calls fn(arg, "user@domain", NULL) for each user of domain (all domains when domain is
 * NULL), in file order within a domain, domains sorted. */
int admin_user_list(const struct layout *l, const char *domain, admin_list_fn fn, void *arg,
		    char *msg, size_t msgsz);

/* Replaces domain's whole passwd-file with the n entries (mailgw-passwd import); the
 * domain is created when missing. -MGW_EINVAL if an entry would not parse back. */
int admin_domain_replace_users(const struct layout *l, const char *domain,
			       const struct passwd_entry *e, size_t n, char *msg, size_t msgsz);

/* True when addr is an existing user. */
bool admin_user_exists(const struct layout *l, const char *addr);

/* ---- aliases (etc/domains/<domain>/aliases, proto/smtp_rcpt.h's format) -------------- */

/*
 * Adds (or replaces) alias addr = "local@domain" with targets "t1, t2" (each `user` of the
 * same domain or `user@domain` of a local domain, proto/smtp_rcpt.h); every target must
 * be an existing user (-MGW_ENOENT names the first that is not). The domain must exist;
 * an alias may not shadow a user of the domain (-MGW_EEXIST).
 */
int admin_alias_add(const struct layout *l, const char *addr, const char *targets, char *msg,
		    size_t msgsz);

/* Removes an alias (-MGW_ENOENT when absent). */
int admin_alias_del(const struct layout *l, const char *addr, char *msg, size_t msgsz);

/* Calls fn(arg, "local@domain", "t1, t2") for each alias of domain (all when NULL). */
int admin_alias_list(const struct layout *l, const char *domain, admin_list_fn fn, void *arg,
		     char *msg, size_t msgsz);

/* ---- postmaster ([smtp] postmaster in etc/mailgw.conf) ------------------------------- */

/*
 * Sets `[smtp] postmaster` in mailgw.conf to list ("user@domain[, user@domain...]", at
 * most SMTP_ADMINS_MAX, each an existing user), editing the file atomically: the key's
 * line is replaced, or added to the [smtp] section, or a [smtp] section is appended;
 * every other line is kept as it is. The result must load (cfg_load) or nothing is
 * written (-MGW_ECONFIG with its file:line in msg). An empty list removes the key.
 */
int admin_postmaster_set(const struct layout *l, const char *list, char *msg, size_t msgsz);

/* The current list into out ("" when unset). */
int admin_postmaster_get(const struct layout *l, char *out, size_t outsz, char *msg, size_t msgsz);

#endif
