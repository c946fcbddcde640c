/*
 * sess_harness.h - what the session fuzzers (fuzz_pop3_sess.c, fuzz_imap_sess.c) share:
 * a throwaway data directory with user joe@example.test ({PLAIN} password "pw") and two
 * messages (one stored with LF line ends), the real loop, conn, store and throttle, a
 * pass-through "TLS" transport with joe's certificate, and the run itself: the input is
 * what a client sends after the handshake, in one go; the client then goes away and the
 * session must end and free itself. Included once by each fuzzer (static functions).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/throttle.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "net/conn.h"
#include "proto/gate_login.h"
#include "store/maildir.h"

#define FUZZ_IN_MAX 16384
#define FUZZ_ROUNDS 64

static struct maildir_store fz_store;
static struct throttle fz_throttle;
static struct loop fz_loop;
static char fz_dir[64];
static bool fz_closed;

static const char fz_msg1[] = "From: a@example.org\r\nSubject: one\r\n\r\nbody\r\n.dot\r\n";
/* Stored with LF line ends, one CRLF, no final newline (a copied dovecot Maildir); MIME
 * parts for IMAP's BODYSTRUCTURE and part sections, an attached message last. */
static const char fz_msg2[] = "Subject: two\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
			      "Content-Type: text/plain\n\nline1\r\nline2\n..\n--b\n"
			      "Content-Type: message/rfc822\n\nSubject: in\n\nlast";

static void fz_path(char *out, size_t outsz, const char *rel)
{
	snprintf(out, outsz, "%s/%s", fz_dir, rel);
}

static void fz_put(const char *rel, const char *text, size_t len)
{
	char p[256];
	FILE *f;

	fz_path(p, sizeof(p), rel);
	f = fopen(p, "w");
	if (f == NULL || fwrite(text, 1, len, f) != len)
		abort();
	fclose(f);
}

static int fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void fz_exit(void)
{
	nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Removes the files of one directory (not below). */
static void fz_empty(const char *p)
{
	struct dirent *e;
	DIR *d = opendir(p);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char f[600];

		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", p, e->d_name);
		unlink(f);
	}
	closedir(d);
}

/* Empties new/ and cur/ of joe's Maildir and of its special-use folders (made at the
 * first login, then kept, so a run does not pay for making them), removes the other
 * folders (IMAP CREATE, RENAME), and delivers the two messages again. */
static void fz_mailbox(void)
{
	static const char *const keep[] = {".Sent", ".Drafts", ".Trash", ".Junk", ".Archive"};
	static unsigned seq;
	char md[256], p[600], name[128];
	struct dirent *e;
	DIR *d;

	fz_path(md, sizeof(md), "mail/example.test/joe/Maildir");
	d = opendir(md);
	while (d != NULL && (e = readdir(d)) != NULL) {
		bool special = false;

		if (e->d_name[0] != '.' || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
			special = special || strcmp(e->d_name, keep[i]) == 0;
		snprintf(p, sizeof(p), "%s/%s", md, e->d_name);
		if (!special) {
			nftw(p, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
			continue;
		}
		snprintf(p, sizeof(p), "%s/%s/cur", md, e->d_name);
		fz_empty(p);
		snprintf(p, sizeof(p), "%s/%s/new", md, e->d_name);
		fz_empty(p);
	}
	if (d != NULL)
		closedir(d);
	snprintf(p, sizeof(p), "%s/new", md);
	fz_empty(p);
	snprintf(p, sizeof(p), "%s/cur", md);
	fz_empty(p);
	snprintf(name, sizeof(name), "mail/example.test/joe/Maildir/new/1.M1P1Q%u.fuzz,S=%zu",
		 ++seq, sizeof(fz_msg1) - 1);
	fz_put(name, fz_msg1, sizeof(fz_msg1) - 1);
	snprintf(name, sizeof(name), "mail/example.test/joe/Maildir/new/2.M1P1Q%u.fuzz,S=%zu",
		 ++seq, sizeof(fz_msg2) - 1);
	fz_put(name, fz_msg2, sizeof(fz_msg2) - 1);
}

static void fz_init(void)
{
	static const char pw[] = "joe:{PLAIN}pw::::::\n";
	char p[256];

	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz_sess.XXXXXX");
	if (mkdtemp(fz_dir) == NULL)
		abort();
	log_set_level(LOG_LVL_ERR);
	signal(SIGPIPE, SIG_IGN); /* as mailgwd does: a peer that went away is an EPIPE */
	fz_path(p, sizeof(p), "etc");
	mkdir(p, 0700);
	fz_path(p, sizeof(p), "etc/domains");
	mkdir(p, 0700);
	fz_path(p, sizeof(p), "etc/domains/example.test");
	mkdir(p, 0700);
	fz_put("etc/domains/example.test/passwd", pw, sizeof(pw) - 1);
	if (maildir_store_init(&fz_store, fz_dir, "fuzz.example", 0) < 0 ||
	    maildir_create(&fz_store, "example.test", "joe") < 0 || loop_init(&fz_loop) < 0)
		abort();
	atexit(fz_exit);
}

/* A pass-through "TLS" transport: the handshake is over at once. */
static ssize_t fz_read(void *ctx, void *buf, size_t len)
{
	ssize_t n = read(*(int *)ctx, buf, len);

	if (n < 0)
		return errno == EAGAIN ? -MGW_EWANTREAD : -MGW_ECLOSED;
	return n;
}

static ssize_t fz_write(void *ctx, const void *buf, size_t len)
{
	ssize_t n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN ? -MGW_EWANTWRITE : -MGW_ECLOSED;
	return n;
}

static int fz_handshake(void *ctx)
{
	(void)ctx;
	return 0;
}

static const struct transport_ops fz_tr = {
    .name = "fuzz",
    .read = fz_read,
    .write = fz_write,
    .handshake = fz_handshake,
};

/* joe's certificate. */
static bool fz_has_peer(const void *ctx)
{
	(void)ctx;
	return true;
}

static void fz_subject(const void *ctx, char *out, size_t outsz)
{
	(void)ctx;
	snprintf(out, outsz, "CN=joe@example.test");
}

static void fz_serial(const void *ctx, char *out, size_t outsz)
{
	(void)ctx;
	snprintf(out, outsz, "10:02");
}

static void fz_cert_id(const void *ctx, char *out, size_t outsz)
{
	(void)ctx;
	snprintf(out, outsz, "5e0f");
}

static int fz_identity(const void *ctx, enum tls_identity how, char *out, size_t outsz)
{
	(void)ctx;
	(void)how;
	snprintf(out, outsz, "joe@example.test");
	return 0;
}

static const struct gate_peer_ops fz_peer = {
    .has_peer = fz_has_peer,
    .subject = fz_subject,
    .serial = fz_serial,
    .cert_id = fz_cert_id,
    .identity = fz_identity,
};

static void fz_release(void *arg, void *ref)
{
	(void)arg;
	(void)ref;
	fz_closed = true;
}

/* Runs one session of start_sess over the input; the server's output in out (*got). */
static void fz_run(const uint8_t *data, size_t size,
		   int (*start_sess)(struct conn *c, const struct gate_env *env), size_t in_max,
		   size_t out_max, uint8_t *out, size_t outsz, size_t *gotp)
{
	static bool inited;
	struct gate_env env;
	struct conn *c;
	size_t sent = 0, got = 0;
	int sv[2];

	if (!inited) {
		fz_init();
		inited = true;
	}
	fz_mailbox();
	throttle_init(&fz_throttle, NULL); /* every run starts with a clean record */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (conn_new(&fz_loop, sv[0], NULL, 0, in_max, out_max, &c) < 0)
		abort();
	if (conn_start_tls(c, &fz_tr, &c->fd) < 0)
		abort();
	memset(&env, 0, sizeof(env));
	env.hostname = "fuzz.example";
	env.data_dir = fz_dir;
	env.identity = TLS_IDENTITY_EMAIL;
	env.passwd_flags = PASSWD_ALLOW_PLAIN;
	env.login_timeout_ms = 60000;
	env.idle_timeout_ms = 1800000;
	env.fail_close = 3;
	env.max_message_size = 1 << 20;
	env.quota_default = 1 << 20; /* IMAP APPEND, COPY: the quota check runs */
	env.store = &fz_store;
	env.throttle = &fz_throttle;
	env.peer = &fz_peer;
	env.release = fz_release;
	fz_closed = false;
	if (start_sess(c, &env) < 0)
		abort();
	for (int round = 0; round < FUZZ_ROUNDS && !fz_closed; round++) {
		ssize_t n;

		if (sent < size) {
			n = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
		}
		loop_run_once(&fz_loop, 0);
		while ((n = read(sv[1], out + got, outsz - got)) > 0)
			got += (size_t)n;
		if (sent == size && round > 4)
			break;
	}
	/* The client goes away; the session must end and free itself. */
	close(sv[1]);
	for (int round = 0; round < FUZZ_ROUNDS && !fz_closed; round++)
		loop_run_once(&fz_loop, 0);
	loop_run_once(&fz_loop, 0);
	if (!fz_closed)
		abort();
	*gotp = got;
}
