/*
 * mailgw-passwd - manage the users of a domain (dovecot passwd-file, auth/passwd.h).
 *
 *   mailgw-passwd [-r ROUNDS] hash                       password on stdin -> hash on stdout
 *   mailgw-passwd [-r ROUNDS] set DATA_DIR USER@DOMAIN   password on stdin -> user's hash set
 *   mailgw-passwd [-p] check DATA_DIR USER@DOMAIN        password on stdin -> exit 0 / 1
 *   mailgw-passwd import DATA_DIR DOMAIN PASSWD SHADOW   the reference article's file pair
 *
 * The password is the first line of stdin (its LF, or CR LF, removed); on a terminal it
 * is asked for without echo. Exit status: 0 success, 1 refused (wrong password, nothing
 * to import), 2 usage or I/O error. Messages go to stderr; only `hash` writes to stdout.
 *
 * import joins passwd(5) and shadow(5) lines by user name and keeps the users present in
 * both whose shadow hash is SHA-crypt ($5$ or $6$, so usable as it is); every other line
 * is reported as "file:line: user 'x': why" and skipped. The domain's passwd-file is then
 * replaced as a whole.
 *
 * Every file and directory is written through admin/layout.h: atomically, with the owner,
 * group and mode of README's /data layout (etc/, etc/domains/, the domain directory and
 * passwd readable by the daemon's group, root-owned), never following a symlink. The
 * daemon's user is -u USER, else the `user` key of DATA_DIR/etc/mailgw.conf, else the
 * build's default (Kconfig DAEMON_USER). DATA_DIR is created (0755) when missing.
 */
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "auth/passwd.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "tls/hash.h"

#define PW_EXIT_OK 0
#define PW_EXIT_REFUSED 1
#define PW_EXIT_ERROR 2
#define PW_USERS_MAX 10000 /* users in one imported domain */
#define PW_SHADOW_FIELDS 9 /* shadow(5) */
#define PW_PASSWD_FIELDS 7 /* passwd(5) */
#define PW_DAY_SEC 86400

static unsigned pw_rounds;
static unsigned pw_flags;
static const char *pw_user; /* -u */

static void pw_usage(void)
{
	fprintf(stderr,
		"usage: mailgw-passwd [-r ROUNDS] hash\n"
		"       mailgw-passwd [-r ROUNDS] [-u DAEMON_USER] set DATA_DIR USER@DOMAIN\n"
		"       mailgw-passwd [-p] check DATA_DIR USER@DOMAIN\n"
		"       mailgw-passwd [-u DAEMON_USER] import DATA_DIR DOMAIN PASSWD_FILE "
		"SHADOW_FILE\n"
		"The password is read from standard input.\n");
}

/* Reads the password: the first line of stdin, without echo on a terminal. */
static int pw_read(const char *prompt, char *out, size_t outsz, size_t *len)
{
	struct termios old, noecho;
	bool tty = isatty(STDIN_FILENO);
	size_t n = 0;
	int c, rc = 0;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
		} else {
			tty = false;
		}
	}
	while ((c = getchar()) != EOF && c != '\n') {
		if (n + 1 >= outsz) {
			rc = -MGW_ELIMIT;
			continue;
		}
		out[n++] = (char)c;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	*len = n;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (rc < 0)
		fprintf(stderr, "mailgw-passwd: password longer than %u bytes\n",
			PASSWD_PASSWORD_MAX);
	return rc;
}

/* A new password: non-empty; asked twice on a terminal. */
static int pw_read_new(char *pw, size_t pwsz, size_t *len)
{
	char again[PASSWD_PASSWORD_MAX + 1];
	size_t alen;
	int rc;

	rc = pw_read("New password: ", pw, pwsz, len);
	if (rc < 0)
		return rc;
	if (*len == 0) {
		fprintf(stderr, "mailgw-passwd: empty password refused\n");
		return -MGW_EINVAL;
	}
	if (!isatty(STDIN_FILENO))
		return 0;
	rc = pw_read("Again: ", again, sizeof(again), &alen);
	if (rc == 0 && (alen != *len || memcmp(again, pw, alen) != 0)) {
		fprintf(stderr, "mailgw-passwd: the passwords differ\n");
		rc = -MGW_EINVAL;
	}
	hash_wipe(again, sizeof(again));
	return rc;
}

static int pw_addr(const char *s, struct passwd_addr *a)
{
	if (passwd_addr_parse(s, strlen(s), a) != MGW_PARSE_OK) {
		fprintf(stderr, "mailgw-passwd: '%s' is not a valid user@domain\n", s);
		return -MGW_EINVAL;
	}
	return 0;
}

static int pw_cmd_hash(void)
{
	char pw[PASSWD_PASSWORD_MAX + 1], h[PASSWD_HASH_MAX + 1];
	size_t len;
	int rc;

	rc = pw_read_new(pw, sizeof(pw), &len);
	if (rc == 0)
		rc = passwd_hash_new(pw, len, pw_rounds, h, sizeof(h));
	hash_wipe(pw, sizeof(pw));
	if (rc < 0)
		return PW_EXIT_ERROR;
	printf("%s\n", h);
	return PW_EXIT_OK;
}

/* Opens data_dir's layout (creating data_dir when missing); messages on stderr. */
static int pw_layout_open(struct layout *l, const char *data_dir)
{
	char msg[LAYOUT_MSG_MAX];
	int rc;

	if (mkdir(data_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mailgw-passwd: %s: %s\n", data_dir, strerror(errno));
		return -MGW_EIO;
	}
	rc = layout_open(l, data_dir, pw_user, msg, sizeof(msg));
	if (rc < 0)
		fprintf(stderr, "mailgw-passwd: %s\n", msg);
	return rc;
}

static int pw_cmd_set(const char *data_dir, const char *addr)
{
	char pw[PASSWD_PASSWORD_MAX + 1], msg[LAYOUT_MSG_MAX];
	struct passwd_addr a;
	struct layout l;
	size_t len;
	int rc;

	if (pw_addr(addr, &a) < 0)
		return PW_EXIT_ERROR;
	rc = pw_read_new(pw, sizeof(pw), &len);
	if (rc == 0)
		rc = pw_layout_open(&l, data_dir);
	if (rc < 0) {
		hash_wipe(pw, sizeof(pw));
		return PW_EXIT_ERROR;
	}
	rc = admin_user_set(&l, addr, pw, len, pw_rounds, msg, sizeof(msg));
	hash_wipe(pw, sizeof(pw));
	layout_close(&l);
	if (rc < 0) {
		fprintf(stderr, "mailgw-passwd: cannot set the password of %s@%s: %s\n", a.user,
			a.domain, msg);
		return PW_EXIT_ERROR;
	}
	fprintf(stderr, "mailgw-passwd: password of %s@%s set\n", a.user, a.domain);
	return PW_EXIT_OK;
}

static int pw_cmd_check(const char *data_dir, const char *addr)
{
	char pw[PASSWD_PASSWORD_MAX + 1];
	struct passwd_addr a;
	size_t len;
	int rc;

	if (pw_addr(addr, &a) < 0)
		return PW_EXIT_ERROR;
	rc = pw_read("Password: ", pw, sizeof(pw), &len);
	if (rc == 0)
		rc = passwd_auth(data_dir, a.domain, a.user, pw, len, pw_flags);
	hash_wipe(pw, sizeof(pw));
	if (rc == -MGW_EAUTH) {
		fprintf(stderr, "mailgw-passwd: %s@%s: refused\n", a.user, a.domain);
		return PW_EXIT_REFUSED;
	}
	if (rc < 0) {
		fprintf(stderr, "mailgw-passwd: %s@%s: %s\n", a.user, a.domain, mgw_strerror(rc));
		return PW_EXIT_ERROR;
	}
	fprintf(stderr, "mailgw-passwd: %s@%s: ok\n", a.user, a.domain);
	return PW_EXIT_OK;
}

/* ---- import ---------------------------------------------------------------------------- */

/* One line of passwd(5) or shadow(5), split in place into at most max fields. */
struct pw_line {
	char *f[PW_SHADOW_FIELDS];
	size_t nf;
	unsigned lineno;
	bool used; /* shadow: matched by a passwd line */
};

struct pw_file {
	const char *path;
	char *text;
	size_t len;
	struct pw_line *l;
	size_t n;
};

static void pw_file_free(struct pw_file *f)
{
	if (f->text != NULL) {
		hash_wipe(f->text, f->len);
		free(f->text);
	}
	free(f->l);
	memset(f, 0, sizeof(*f));
}

/* Reads path and splits each non-empty, non-comment line at ':' into min..want fields;
 * other lines are reported (with shape, the expected form) and skipped. */
static int pw_file_load(struct pw_file *f, const char *path, size_t want, size_t min,
			const char *shape, bool *bad)
{
	char *p, *end, *nl;
	unsigned lineno = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	f->path = path;
	rc = file_read_all(path, PASSWD_FILE_MAX, &f->text, &f->len);
	if (rc < 0) {
		fprintf(stderr, "mailgw-passwd: %s: cannot read: %s\n", path, mgw_strerror(rc));
		return rc;
	}
	f->l = calloc(PW_USERS_MAX, sizeof(*f->l));
	if (f->l == NULL)
		return -MGW_ENOMEM;
	for (p = f->text, end = f->text + f->len; p < end; p = nl + 1) {
		struct pw_line *l;
		char *q;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		lineno++;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			fprintf(stderr, "%s:%u: NUL byte in line (skipped)\n", path, lineno);
			*bad = true;
			continue;
		}
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		if (f->n == PW_USERS_MAX) {
			fprintf(stderr, "%s:%u: more than %u users (rest skipped)\n", path, lineno,
				PW_USERS_MAX);
			*bad = true;
			break;
		}
		l = &f->l[f->n];
		memset(l, 0, sizeof(*l));
		l->lineno = lineno;
		for (q = p; l->nf < want;) {
			char *colon = strchr(q, ':');

			l->f[l->nf++] = q;
			if (colon == NULL)
				break;
			*colon = '\0';
			q = colon + 1;
			if (l->nf == want) {
				l->nf++; /* too many fields */
				break;
			}
		}
		if (l->nf < min || l->nf > want) {
			fprintf(stderr, "%s:%u: malformed line, expected %s (skipped)\n", path,
				lineno, shape);
			*bad = true;
			continue;
		}
		f->n++;
	}
	return 0;
}

/* A SHA-crypt hash as crypt(3) writes it: "$5$"/"$6$", optional rounds, salt, result. */
static bool pw_shacrypt_shape(const char *h)
{
	static const char b64[] =
	    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	const char *last = strrchr(h, '$');
	size_t want;

	if (strncmp(h, "$6$", 3) == 0)
		want = 86;
	else if (strncmp(h, "$5$", 3) == 0)
		want = 43;
	else
		return false;
	return last != NULL && last > h + 3 && strlen(last + 1) == want &&
	       strspn(last + 1, b64) == want;
}

static const char *pw_shadow_refusal(const struct pw_line *s, long today)
{
	const char *h = s->f[1];

	if (h[0] == '!' || h[0] == '*')
		return "account locked or without password";
	if (h[0] == '\0')
		return "empty password field";
	if (strncmp(h, "$5$", 3) != 0 && strncmp(h, "$6$", 3) != 0)
		return "unsupported hash (only SHA-crypt $5$ and $6$ can be imported)";
	if (!pw_shacrypt_shape(h))
		return "malformed SHA-crypt hash";
	/* field 8: account expiration, days since 1970-01-01; empty means never */
	if (s->nf > 7 && s->f[7][0] != '\0') {
		char *end;
		long exp = strtol(s->f[7], &end, 10);

		if (*end != '\0')
			return "malformed expiration date";
		if (exp <= today)
			return "account expired";
	}
	return NULL;
}

static int pw_cmd_import(const char *data_dir, const char *domain, const char *passwd_path,
			 const char *shadow_path)
{
	struct pw_file pf, sf;
	struct passwd_entry *out = NULL;
	size_t nout = 0, i, j;
	long today = (long)(time(NULL) / PW_DAY_SEC);
	bool bad = false;
	int rc, ex = PW_EXIT_ERROR;

	if (!passwd_domain_valid(domain)) {
		fprintf(stderr, "mailgw-passwd: '%s' is not a valid domain name\n", domain);
		return PW_EXIT_ERROR;
	}
	rc = pw_file_load(&pf, passwd_path, PW_PASSWD_FIELDS, PW_PASSWD_FIELDS,
			  "name:password:uid:gid:gecos:home:shell", &bad);
	if (rc == 0)
		rc = pw_file_load(&sf, shadow_path, PW_SHADOW_FIELDS, 2,
				  "name:hash[:lastchg:min:max:warn:inactive:expire:]", &bad);
	else
		memset(&sf, 0, sizeof(sf));
	if (rc < 0)
		goto out;
	out = calloc(pf.n ? pf.n : 1, sizeof(*out));
	if (out == NULL)
		goto out;
	for (i = 0; i < pf.n; i++) {
		const struct pw_line *p = &pf.l[i];
		struct pw_line *s = NULL;
		const char *why;
		size_t k;

		if (!passwd_user_valid(p->f[0])) {
			fprintf(stderr,
				"%s:%u: user '%s': not a valid mailbox name (a-z 0-9 . _ - +)"
				" (skipped)\n",
				passwd_path, p->lineno, p->f[0]);
			continue;
		}
		for (k = 0; k < nout; k++)
			if (strcmp(out[k].user, p->f[0]) == 0)
				break;
		if (k < nout) {
			fprintf(stderr, "%s:%u: user '%s': appears twice (skipped)\n", passwd_path,
				p->lineno, p->f[0]);
			continue;
		}
		for (j = 0; j < sf.n; j++) {
			if (strcmp(sf.l[j].f[0], p->f[0]) == 0) {
				if (s == NULL)
					s = &sf.l[j];
				sf.l[j].used = true;
			}
		}
		if (s == NULL) {
			fprintf(stderr, "%s:%u: user '%s': no line in %s (skipped)\n", passwd_path,
				p->lineno, p->f[0], shadow_path);
			continue;
		}
		why = pw_shadow_refusal(s, today);
		if (why != NULL) {
			fprintf(stderr, "%s:%u: user '%s': %s (skipped)\n", shadow_path, s->lineno,
				p->f[0], why);
			continue;
		}
		snprintf(out[nout].user, sizeof(out[nout].user), "%s", p->f[0]);
		rc = snprintf(out[nout].hash, sizeof(out[nout].hash), "%s%s",
			      s->f[1][1] == '6' ? "{SHA512-CRYPT}" : "{SHA256-CRYPT}", s->f[1]);
		if (rc < 0 || (size_t)rc >= sizeof(out[nout].hash)) {
			fprintf(stderr, "%s:%u: user '%s': hash too long (skipped)\n", shadow_path,
				s->lineno, p->f[0]);
			continue;
		}
		nout++;
	}
	for (j = 0; j < sf.n; j++)
		if (!sf.l[j].used)
			fprintf(stderr, "%s:%u: user '%s': no line in %s (skipped)\n", shadow_path,
				sf.l[j].lineno, sf.l[j].f[0], passwd_path);
	if (nout == 0) {
		fprintf(stderr, "mailgw-passwd: nothing to import; %s left unchanged\n", domain);
		ex = PW_EXIT_REFUSED;
		goto out;
	}
	{
		char msg[LAYOUT_MSG_MAX];
		struct layout l;

		if (pw_layout_open(&l, data_dir) < 0)
			goto out;
		rc = admin_domain_replace_users(&l, domain, out, nout, msg, sizeof(msg));
		layout_close(&l);
		if (rc < 0) {
			fprintf(stderr, "mailgw-passwd: cannot write the passwd-file of %s: %s\n",
				domain, msg);
			goto out;
		}
	}
	fprintf(stderr, "mailgw-passwd: imported %zu user%s into %s\n", nout, nout == 1 ? "" : "s",
		domain);
	ex = PW_EXIT_OK;
out:
	if (out != NULL) {
		hash_wipe(out, (pf.n ? pf.n : 1) * sizeof(*out));
		free(out);
	}
	pw_file_free(&pf);
	pw_file_free(&sf);
	return ex;
}

int main(int argc, char **argv)
{
	char *end;
	int opt;

	log_open("mailgw-passwd", false, true);
	while ((opt = getopt(argc, argv, "+r:pu:h")) != -1) {
		switch (opt) {
		case 'u':
			pw_user = optarg;
			break;
		case 'r':
			errno = 0;
			pw_rounds = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end != '\0' || pw_rounds < 1000 || pw_rounds > 10000000) {
				fprintf(stderr, "mailgw-passwd: -r: 1000 to 10000000\n");
				return PW_EXIT_ERROR;
			}
			break;
		case 'p':
			pw_flags |= PASSWD_ALLOW_PLAIN;
			break;
		default:
			pw_usage();
			return opt == 'h' ? PW_EXIT_OK : PW_EXIT_ERROR;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 1 && strcmp(argv[0], "hash") == 0)
		return pw_cmd_hash();
	if (argc == 3 && strcmp(argv[0], "set") == 0)
		return pw_cmd_set(argv[1], argv[2]);
	if (argc == 3 && strcmp(argv[0], "check") == 0)
		return pw_cmd_check(argv[1], argv[2]);
	if (argc == 5 && strcmp(argv[0], "import") == 0)
		return pw_cmd_import(argv[1], argv[2], argv[3], argv[4]);
	pw_usage();
	return PW_EXIT_ERROR;
}
