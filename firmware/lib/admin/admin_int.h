/*
 * admin_int.h - helpers shared by the admin operations (not a public API).
 */
#ifndef MGW_ADMIN_INT_H
#define MGW_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/admin.h"
#include "auth/passwd.h"

/* Parses "user@domain" (folded to lower case) into a; -MGW_EINVAL with msg. */
int admin_addr(const char *addr, struct passwd_addr *a, char *msg, size_t msgsz);

/* "etc/domains/<domain>" or "etc/domains/<domain>/<file>" into rel (domain validated). */
int admin_domain_rel(const char *domain, const char *file, char *rel, size_t relsz);

/* Reads a file of the domain ("passwd", "aliases"); a missing file reads as empty
 * (*text an empty heap string). Free with passwd_text_free(). */
int admin_domain_file(const struct layout *l, const char *domain, const char *file, size_t max,
		      char **text, size_t *len, char *msg, size_t msgsz);

/* True when text (a passwd-file) has a line for user. */
bool admin_text_has_user(const char *text, size_t len, const char *user);

/* Calls fn(arg, line, len, lineno) for each line of text (without LF). */
typedef int (*admin_line_fn)(void *arg, const char *line, size_t len, unsigned lineno);
int admin_lines(const char *text, size_t len, admin_line_fn fn, void *arg);

/* -MGW_ENOENT with "no domain x" in msg unless the domain exists. */
int admin_domain_need(const struct layout *l, const char *domain, char *msg, size_t msgsz);

/* admin_addr() and admin_domain_need(): an address of an existing local domain. */
int admin_addr_local(const struct layout *l, const char *addr, struct passwd_addr *a, char *msg,
		     size_t msgsz);

#endif
