/*
 * fuzz_smtp_sess.c - libFuzzer target: a whole SMTP session over a socketpair.
 *
 * The input is what a client sends, in one go (pipelining included); the real conn,
 * event loop, session, recipient resolution and Maildir store run behind it, with a
 * throwaway data directory holding one domain and user. Checks, beyond the sanitizers:
 * every reply line the server writes is "DDD[ -]..." and ends in CRLF, and the session
 * ends cleanly when the client goes away. Delivered files are removed after each run.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "core/err.h"
#include "core/loop.h"
#include "net/conn.h"
#include "proto/smtp_sess.h"
#include "store/maildir.h"

#define FUZZ_IN_MAX 32768
#define FUZZ_ROUNDS 64

static struct mgw_cfg fz_cfg;
static struct maildir_store fz_store;
static struct loop fz_loop;
static char fz_dir[64];
static bool fz_closed;

static void fz_put(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", fz_dir, rel);
	f = fopen(p, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static void fz_mkdir(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", fz_dir, rel);
	mkdir(p, 0700);
}

static int fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* libFuzzer ends with exit(): the data directory goes with it. */
static void fz_exit(void)
{
	nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static int fz_init(void)
{
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz_smtp_sess.XXXXXX");
	if (mkdtemp(fz_dir) == NULL)
		abort();
	fz_mkdir("etc");
	fz_mkdir("etc/domains");
	fz_mkdir("etc/domains/example.com");
	fz_put("etc/domains/example.com/passwd", "alice:{PLAIN}x::::::\nbob:{PLAIN}y::::::\n");
	fz_put("etc/domains/example.com/aliases", "team: alice, bob\n");
	cfg_defaults(&fz_cfg);
	snprintf(fz_cfg.data_dir, sizeof(fz_cfg.data_dir), "%s", fz_dir);
	snprintf(fz_cfg.hostname, sizeof(fz_cfg.hostname), "fuzz.example");
	snprintf(fz_cfg.smtp_postmaster, sizeof(fz_cfg.smtp_postmaster), "alice@example.com");
	fz_cfg.smtp_greeting_delay = 0;
	fz_cfg.smtp_max_message_size = 16384;
	fz_cfg.smtp_min_free_space = 0;
	fz_cfg.smtp_max_bad_commands = 50;
	log_set_level(LOG_LVL_ERR);
	if (maildir_store_init(&fz_store, fz_dir, "fuzz.example", 0) < 0 || loop_init(&fz_loop) < 0)
		abort();
	atexit(fz_exit);
	return 0;
}

static void fz_on_close(void *arg)
{
	(void)arg;
	fz_closed = true;
}

/* Removes what the run delivered, so the data directory does not grow. */
static void fz_clean(const char *sub)
{
	char p[512];
	DIR *d;
	struct dirent *e;

	snprintf(p, sizeof(p), "%s/%s", fz_dir, sub);
	d = opendir(p);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char f[800];

		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", p, e->d_name);
		unlink(f);
	}
	closedir(d);
}

/* Every reply line: three digits, ' ' or '-', text, CRLF. */
static void fz_check_replies(const uint8_t *out, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (out[i] != '\n')
			continue;
		if (i - start < 5 || out[i - 1] != '\r' || out[start] < '2' || out[start] > '5' ||
		    (out[start + 3] != ' ' && out[start + 3] != '-'))
			abort();
		start = i + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	static uint8_t out[1 << 20];
	struct smtp_sess_params p;
	struct conn *c;
	size_t sent = 0, got = 0;
	int sv[2];

	if (!inited)
		inited = fz_init() == 0;
	if (size > FUZZ_IN_MAX)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (conn_new(&fz_loop, sv[0], NULL, 0, SMTP_IN_MAX, SMTP_OUT_MAX, &c) < 0)
		abort();
	memset(&p, 0, sizeof(p));
	p.cfg = &fz_cfg;
	p.store = &fz_store;
	p.on_close = fz_on_close;
	fz_closed = false;
	smtp_sess_start(c, &p);
	for (int round = 0; round < FUZZ_ROUNDS && !fz_closed; round++) {
		ssize_t n;

		if (sent < size) {
			n = write(sv[1], data + sent, size - sent);
			if (n > 0)
				sent += (size_t)n;
		}
		loop_run_once(&fz_loop, 0);
		while ((n = read(sv[1], out + got, sizeof(out) - got)) > 0)
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
	fz_check_replies(out, got);
	fz_clean("mail/example.com/alice/Maildir/new");
	fz_clean("mail/example.com/bob/Maildir/new");
	return 0;
}
