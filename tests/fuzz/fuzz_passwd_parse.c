/* fuzz_passwd_parse.c - libFuzzer target: the login-name splitter (peer input: POP3 USER,
 * AUTH PLAIN, SMTP RCPT) and the passwd-file line parser on arbitrary bytes. Whatever
 * they accept must pass the path allow-list, and an accepted line must format and parse
 * back to the same entry. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/passwd.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_line(const char *line, size_t len)
{
	struct passwd_entry e, back;
	char out[PASSWD_LINE_MAX * 2];
	const char *why = NULL;
	int rc = passwd_line_parse(line, len, &e, &why);

	if (rc == MGW_PARSE_SYNTAX || rc == MGW_PARSE_TOO_LONG) {
		if (why == NULL)
			__builtin_trap();
		return;
	}
	if (rc == MGW_PARSE_NEED_MORE)
		return;
	if (rc != MGW_PARSE_OK || !passwd_user_valid(e.user) || e.hash[0] == '\0' ||
	    strchr(e.hash, ':') != NULL)
		__builtin_trap();
	if (passwd_entry_format(&e, out, sizeof(out)) < 0)
		__builtin_trap();
	if (passwd_line_parse(out, strlen(out), &back, &why) != MGW_PARSE_OK ||
	    strcmp(back.user, e.user) != 0 || strcmp(back.hash, e.hash) != 0 ||
	    strcmp(back.home, e.home) != 0 || back.uid != e.uid || back.gid != e.gid ||
	    back.has_uid != e.has_uid)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct passwd_addr a;
	size_t start = 0, i;
	int rc;

	rc = passwd_addr_parse(p, size, &a);
	if (rc == MGW_PARSE_OK) {
		if (!passwd_user_valid(a.user) || !passwd_domain_valid(a.domain) ||
		    strstr(a.user, "..") != NULL || strchr(a.domain, '/') != NULL)
			__builtin_trap();
	} else if (rc != MGW_PARSE_SYNTAX && rc != MGW_PARSE_TOO_LONG) {
		__builtin_trap();
	}
	for (i = 0; i <= size; i++) {
		if (i == size || p[i] == '\n') {
			fuzz_line(p + start, i - start);
			start = i + 1;
		}
	}
	return 0;
}
