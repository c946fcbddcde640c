/*
 * console.c - the console framework: registers the command tables with libcli, routes
 * output, reads confirmations and secrets, runs a line once or the interactive loop.
 *
 * libcli owns the line editing, `?` help, TAB completion, history and abbreviations;
 * its telnet negotiation is off (a serial line, not a socket) and the terminal is put in
 * raw mode here. Its own privilege levels, `enable` and `configure` are not used: the
 * console's login (login.c) is the one gate.
 */
#include "console.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libcli.h>

#include "core/err.h"

/* Families of two-word commands: the help of the first word. */
static const struct cons_family cons_families[] = {
    {"domain", "local domains: add, del, list", NULL},
    {"user", "users and their passwords: add, del, passwd, list", NULL},
    {"alias", "aliases: add, del, list", NULL},
    {"service", "the services mailgwd offers: pop3s|imaps on|off", NULL},
    {"service pop3s", "POP3 over TLS with client certificates (port 995)", NULL},
    {"service imaps", "IMAP over TLS with client certificates (port 993)", NULL},
    {"tls", "the TLS files mailgwd uses", NULL},
    {"ca", "the office CA: create, import, show", NULL},
    {"cert", "client certificates: issue, sign, list, show, revoke", NULL},
    {"crl", "the certificate revocation list: show, refresh, import", NULL},
    {"config", "all settings as one file: export, diff, import", NULL},
    {"usb", "the USB key: list, mount, umount (at /media/usb)", NULL},
    {"firmware", "firmware updates: status, update, confirm", NULL},
    {"net", "network settings: address, DNS, NTP", NULL},
    {"time", "the clock: show it, set it once", NULL},
    {NULL, NULL, NULL},
};

static const struct cons_cmd *const cons_tables[] = {
    cons_cmds_daemon, cons_cmds_domain,	  cons_cmds_user, cons_cmds_alias,
    cons_cmds_pki,    cons_cmds_config,	  cons_cmds_usb,  cons_cmds_system,
    cons_cmds_net,    cons_cmds_firmware, NULL,
};

/* What TAB completes, by argument name. */
const struct cons_completer cons_completers[] = {
    {"DOMAIN", cmd_domain_names},
    {"domain", cmd_domain_names},
    {"USER", cmd_user_names},
    {"WHICH", cmd_user_names},
    {"ALIAS", cmd_alias_names},
    {"SERIAL", cmd_pki_serials},
    {NULL, NULL},
};

/* Registered first words, to hang sub-commands under. */
#define CONS_PARENTS_MAX 96
static struct {
	char word[48];
	struct cli_command *cmd;
} cons_parents[CONS_PARENTS_MAX];
static size_t cons_nparents;

static struct termios cons_tty_saved;
static bool cons_tty_saved_ok;

static const struct cons_cmd *cons_find(const char *name)
{
	for (size_t t = 0; cons_tables[t] != NULL; t++)
		for (const struct cons_cmd *k = cons_tables[t]; k->words != NULL; k++)
			if (strcmp(k->words, name) == 0)
				return k;
	return NULL;
}

/* A CONS_ARG_REST argument takes the rest of the line: libcli gives it all of it but also
 * leaves its words after the first in argv. 0 when argv is exactly that tail. */
static int cons_rest(struct cons *c, const struct cons_cmd *k, char **argv, int argc)
{
	const struct cons_arg *rest = NULL;
	char buf[CONS_LINE_MAX];
	const char *first;
	size_t used;

	for (size_t i = 0; i < CONS_ARGS_MAX && k->args[i].name != NULL; i++)
		if (k->args[i].kind == CONS_ARG_REST)
			rest = &k->args[i];
	first = rest != NULL ? cons_arg(c, rest->name) : NULL;
	if (first == NULL)
		return -1;
	used = 0;
	buf[0] = '\0';
	for (int i = 0; i < argc && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, " %s", argv[i]);
	if (used >= sizeof(buf))
		return -1;
	/* libcli already took the whole rest of the line as the value */
	return strlen(first) > used && strcmp(first + strlen(first) - used, buf) == 0 ? 0 : -1;
}

static int cons_dispatch(struct cli_def *cli, const char *name, char **argv, int argc)
{
	struct cons *c = cli_get_context(cli);
	const struct cons_cmd *k = cons_find(name);

	if (k == NULL) {
		cons_err(c, "%s: no such command", name);
		c->status = CONS_REFUSED;
		return CLI_ERROR;
	}
	if (argc > 0 && cons_rest(c, k, argv, argc) == 0)
		argc = 0;
	if (argc > 0) {
		cons_err(c, "%s: unexpected argument '%s' (try '%s ?')", name, argv[0], name);
		c->status = CONS_REFUSED;
		return CLI_ERROR;
	}
	c->ran = k->words;
	if (c->dry_run) {
		c->status = CONS_OK;
		return CLI_OK;
	}
	c->in_cmd = true;
	c->status = k->run(c);
	c->in_cmd = false;
	return c->status == CONS_OK ? CLI_OK : CLI_ERROR;
}

/* ---- completion of existing names ----------------------------------------------------- */

struct cons_comp {
	const char *word;
	struct cli_comphelp *help;
};

static int cons_comp_add(void *arg, const char *name, const char *value)
{
	struct cons_comp *cc = arg;

	(void)value;
	if (cc->word == NULL || strncmp(name, cc->word, strlen(cc->word)) == 0)
		cli_add_comphelp_entry(cc->help, name);
	return 0;
}

static int cons_complete(struct cli_def *cli, const char *name, const char *word,
			 struct cli_comphelp *help)
{
	struct cons *c = cli_get_context(cli);
	struct cons_comp cc = {word, help};

	for (const struct cons_completer *k = cons_completers; k->argname != NULL; k++)
		if (strcmp(k->argname, name) == 0)
			k->list(c, cons_comp_add, &cc);
	return CLI_OK;
}

static bool cons_completes(const char *argname)
{
	for (const struct cons_completer *k = cons_completers; k->argname != NULL; k++)
		if (strcmp(k->argname, argname) == 0)
			return true;
	return false;
}

/* ---- registration ----------------------------------------------------------------------- */

static struct cli_command *cons_node_find(const char *prefix)
{
	for (size_t i = 0; i < cons_nparents; i++)
		if (strcmp(cons_parents[i].word, prefix) == 0)
			return cons_parents[i].cmd;
	return NULL;
}

static struct cli_command *cons_node_add(const char *prefix, struct cli_command *cmd)
{
	if (cmd == NULL || cons_nparents == CONS_PARENTS_MAX ||
	    strlen(prefix) >= sizeof(cons_parents[0].word))
		return NULL;
	snprintf(cons_parents[cons_nparents].word, sizeof(cons_parents[0].word), "%s", prefix);
	cons_parents[cons_nparents++].cmd = cmd;
	return cmd;
}

/* The node of the command tree for prefix ("tls", "tls server-cert"), registered without
 * a callback (a family) when it is not there yet, together with its own parents. */
static struct cli_command *cons_parent(struct cons *c, const char *prefix)
{
	char up[sizeof(cons_parents[0].word)];
	const char *sp = strrchr(prefix, ' '), *help = "";
	struct cli_command *parent = NULL, *node = cons_node_find(prefix);

	if (node != NULL || strlen(prefix) >= sizeof(up))
		return node;
	if (sp != NULL) {
		snprintf(up, sizeof(up), "%.*s", (int)(sp - prefix), prefix);
		parent = cons_parent(c, up);
		if (parent == NULL)
			return NULL;
	}
	for (const struct cons_family *f = cons_families; f->word != NULL; f++)
		if (strcmp(f->word, prefix) == 0)
			help = f->help;
	return cons_node_add(prefix,
			     cli_register_command(c->cli, parent, sp != NULL ? sp + 1 : prefix,
						  NULL, PRIVILEGE_UNPRIVILEGED, MODE_EXEC, help));
}

static const int cons_arg_flags[] = {
    [CONS_ARG] = CLI_CMD_ARGUMENT,
    [CONS_ARG_FLAG] = CLI_CMD_OPTIONAL_FLAG,
    [CONS_ARG_VALUE] = CLI_CMD_OPTIONAL_ARGUMENT,
    [CONS_ARG_REST] = CLI_CMD_ARGUMENT | CLI_CMD_REMAINDER_OF_LINE,
};

static int cons_register(struct cons *c, const struct cons_cmd *k)
{
	char up[sizeof(cons_parents[0].word)];
	const char *sp = strrchr(k->words, ' ');
	struct cli_command *parent = NULL, *cmd = cons_node_find(k->words);

	/* A command that is also a family (`time`, `time set`) is one node: the family made
	 * first gets the callback and help now. */
	if (cmd != NULL) {
		cmd->callback = cons_dispatch;
		free(cmd->help);
		cmd->help = strdup(k->help);
	} else {
		if (sp != NULL) {
			if ((size_t)(sp - k->words) >= sizeof(up))
				return -1;
			snprintf(up, sizeof(up), "%.*s", (int)(sp - k->words), k->words);
			parent = cons_parent(c, up);
			if (parent == NULL)
				return -1;
		}
		cmd = cons_node_add(
		    k->words, cli_register_command(c->cli, parent, sp != NULL ? sp + 1 : k->words,
						   cons_dispatch, PRIVILEGE_UNPRIVILEGED, MODE_EXEC,
						   k->help));
		if (cmd == NULL)
			return -1;
	}
	for (size_t i = 0; i < CONS_ARGS_MAX && k->args[i].name != NULL; i++) {
		const struct cons_arg *a = &k->args[i];

		if (cli_register_optarg(cmd, a->name, cons_arg_flags[a->kind],
					PRIVILEGE_UNPRIVILEGED, MODE_EXEC, a->help,
					cons_completes(a->name) ? cons_complete : NULL, NULL,
					NULL) == NULL)
			return -1;
	}
	return 0;
}

/* Scripted mode: a command's output goes to stdout, everything else libcli says (its
 * refusals) to stderr. Interactive mode prints on the terminal (no callback). */
static void cons_print_script(struct cli_def *cli, const char *line)
{
	struct cons *c = cli_get_context(cli);

	if (c->in_cmd)
		printf("%s\n", line);
	else if (line[0] != '\0')
		fprintf(stderr, "%s: %s\n", c->prog, line);
}

int cons_init(struct cons *c)
{
	cons_nparents = 0;
	c->cli = cli_init();
	if (c->cli == NULL)
		return -1;
	cli_set_context(c->cli, c);
	cli_telnet_protocol(c->cli, 0);
	cli_set_hostname(c->cli, c->hostname != NULL ? c->hostname : "mailgw");
	cli_set_promptchar(c->cli, "> ");
	cli_set_idle_timeout(c->cli, CONS_IDLE_TIMEOUT);
	/* libcli's privilege levels and configure mode are not part of this console. */
	cli_unregister_command(c->cli, "enable");
	cli_unregister_command(c->cli, "disable");
	cli_unregister_command(c->cli, "configure");
	cli_unregister_command(c->cli, "help");
	/* Nor are its output filters ("| include ..."): fuzzing found that a failed
	 * pipeline leaks their compiled regular expressions (libcli 1.10.7), and the
	 * console's output is short. */
	cli_unregister_all_filters(c->cli);
	for (size_t t = 0; cons_tables[t] != NULL; t++)
		for (const struct cons_cmd *k = cons_tables[t]; k->words != NULL; k++)
			if (cons_register(c, k) < 0) {
				fprintf(stderr, "%s: cannot register command '%s'\n", c->prog,
					k->words);
				cons_done(c);
				return -1;
			}
	if (!c->interactive)
		cli_print_callback(c->cli, cons_print_script);
	return 0;
}

void cons_done(struct cons *c)
{
	if (c->cli != NULL)
		cli_done(c->cli);
	c->cli = NULL;
}

int cons_run_line(struct cons *c, const char *line)
{
	int rc;

	c->ran = NULL;
	c->status = CONS_OK;
	rc = cli_run_command(c->cli, line);
	/* libcli's own `quit` / `exit` end the session: that is success, not a refusal */
	if (rc == CLI_QUIT) {
		c->quit = true;
		return CONS_OK;
	}
	if (c->ran != NULL)
		return c->status;
	if (c->status != CONS_OK)
		return c->status;
	return rc == CLI_OK ? CONS_OK : CONS_REFUSED;
}

int cons_run_argv(struct cons *c, int argc, char **argv)
{
	char line[CONS_LINE_MAX];
	size_t used = 0;

	for (int i = 0; i < argc; i++) {
		/* Each word is quoted so that libcli sees it as one word, whatever it holds. */
		char q = strchr(argv[i], '"') != NULL ? '\'' : '"';
		int n;

		if (strchr(argv[i], q) != NULL || strpbrk(argv[i], "\r\n") != NULL) {
			fprintf(stderr, "%s: argument %d: quotes of both kinds or a line break\n",
				c->prog, i + 1);
			return CONS_REFUSED;
		}
		n = snprintf(line + used, sizeof(line) - used, "%s%c%s%c", i > 0 ? " " : "", q,
			     argv[i], q);
		if (n < 0 || (size_t)n >= sizeof(line) - used) {
			fprintf(stderr, "%s: command too long\n", c->prog);
			return CONS_REFUSED;
		}
		used += (size_t)n;
	}
	return cons_run_line(c, line);
}

int cons_loop(struct cons *c)
{
	cli_set_banner(c->cli, "mailgw console: '?' or 'help' for the commands, TAB completes, "
			       "'quit' ends.");
	return cli_loop(c->cli, c->in_fd) == CLI_OK ? 0 : -1;
}

const char *cons_arg(struct cons *c, const char *name)
{
	return cli_get_optarg_value(c->cli, name, NULL);
}

static void cons_write(struct cons *c, const char *s);

__attribute__((format(printf, 3, 0))) static void cons_vprint(struct cons *c, bool err,
							      const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (c->interactive && c->cli->client == NULL) { /* before or after the libcli loop */
		cons_write(c, err ? "% " : "");
		cons_write(c, buf);
		cons_write(c, "\r\n");
		return;
	}
	if (!c->interactive) {
		if (err)
			fprintf(stderr, "%s: %s\n", c->prog, buf);
		else
			printf("%s\n", buf);
		return;
	}
	if (err)
		cli_error(c->cli, "%% %s", buf);
	else
		cli_print(c->cli, "%s", buf);
}

void cons_out(struct cons *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cons_vprint(c, false, fmt, ap);
	va_end(ap);
}

void cons_out_fp(struct cons *c, const char *label, const char *fp)
{
	size_t half = 16 * 3; /* "AA:" x 16 */

	cons_out(c, "%s:", label);
	if (strlen(fp) > half)
		cons_out(c, "  %.*s\n  %s", (int)(half - 1), fp, fp + half);
	else
		cons_out(c, "  %s", fp);
}

void cons_err(struct cons *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cons_vprint(c, true, fmt, ap);
	va_end(ap);
}

/* ---- the terminal ----------------------------------------------------------------------- */

int cons_tty_raw(struct cons *c)
{
	struct termios t;

	if (!isatty(c->in_fd))
		return 0;
	if (!cons_tty_saved_ok) {
		if (tcgetattr(c->in_fd, &cons_tty_saved) < 0)
			return -1;
		cons_tty_saved_ok = true;
	}
	t = cons_tty_saved;
	/* Keys arrive one by one and unchanged (CR stays CR, Ctrl-C is a key, not SIGINT);
	 * libcli echoes what it accepts itself and ends its lines with CR LF itself. */
	t.c_iflag &= ~(unsigned)(ICRNL | INLCR | IGNCR | IXON | ISTRIP | BRKINT);
	t.c_lflag &= ~(unsigned)(ICANON | ECHO | ECHONL | ISIG | IEXTEN);
	t.c_oflag &= ~(unsigned)OPOST;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	return tcsetattr(c->in_fd, TCSAFLUSH, &t);
}

void cons_tty_restore(struct cons *c)
{
	if (cons_tty_saved_ok)
		tcsetattr(c->in_fd, TCSAFLUSH, &cons_tty_saved);
}

static void cons_write(struct cons *c, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = write(c->out_fd, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

int cons_read_line(struct cons *c, const char *prompt, bool echo, char *buf, size_t bufsz)
{
	bool tty = isatty(c->in_fd) != 0;
	size_t len = 0;
	int rc = -1;

	if (bufsz == 0)
		return -1;
	if (tty) {
		if (!c->interactive && cons_tty_raw(c) < 0)
			return -1;
		cons_write(c, prompt);
	}
	for (;;) {
		unsigned char ch;
		ssize_t n = read(c->in_fd, &ch, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EOF or error: nothing half-read is used */
		if (ch == '\r' || ch == '\n') {
			rc = 0;
			break;
		}
		if (tty && (ch == 3 || ch == 4)) /* Ctrl-C, Ctrl-D: cancel */
			break;
		if (tty && (ch == 0x7f || ch == 8)) {
			if (len > 0) {
				len--;
				if (echo)
					cons_write(c, "\b \b");
			}
			continue;
		}
		if (tty && ch == 21) { /* Ctrl-U */
			while (echo && len > 0 && len--)
				cons_write(c, "\b \b");
			len = 0;
			continue;
		}
		if (ch < 0x20 && tty)
			continue;
		if (len + 1 >= bufsz) {
			len = bufsz; /* over-long: refused below */
			continue;
		}
		buf[len++] = (char)ch;
		if (echo && tty) {
			char e[2] = {(char)ch, '\0'};

			cons_write(c, e);
		}
	}
	if (tty) {
		cons_write(c, "\r\n");
		if (!c->interactive)
			cons_tty_restore(c);
	}
	if (len >= bufsz)
		rc = -1;
	if (rc < 0) {
		memset(buf, 0, bufsz);
		return -1;
	}
	buf[len] = '\0';
	return 0;
}

int cons_read_secret(struct cons *c, const char *prompt, bool twice, char *buf, size_t bufsz)
{
	char again[CONS_SECRET_MAX];
	bool tty = isatty(c->in_fd) != 0;

	for (int tries = 0; tries < 3; tries++) {
		if (cons_read_line(c, prompt, false, buf, bufsz) < 0) {
			cons_err(c, "cancelled");
			return -1;
		}
		if (buf[0] == '\0') {
			if (!tty) {
				cons_err(c, "an empty password is not allowed");
				return -1;
			}
			tries--; /* Enter alone: the prompt again, as at a login */
			continue;
		}
		if (!twice || !tty)
			return 0;
		if (cons_read_line(c, "again: ", false, again, sizeof(again)) < 0) {
			memset(buf, 0, bufsz);
			cons_err(c, "cancelled");
			return -1;
		}
		if (strcmp(buf, again) == 0) {
			memset(again, 0, sizeof(again));
			return 0;
		}
		memset(again, 0, sizeof(again));
		memset(buf, 0, bufsz);
		cons_err(c, "the two passwords differ; once more");
	}
	memset(buf, 0, bufsz);
	return -1;
}

bool cons_confirm(struct cons *c, const char *question)
{
	char prompt[CONS_LINE_MAX], answer[16];

	if (c->assume_yes)
		return true;
	snprintf(prompt, sizeof(prompt), "%s [y/N] ", question);
	if (!isatty(c->in_fd))
		cons_err(c, "%s (answer y on standard input, or use -y)", question);
	if (cons_read_line(c, prompt, true, answer, sizeof(answer)) < 0)
		return false;
	return strcmp(answer, "y") == 0 || strcmp(answer, "yes") == 0 || strcmp(answer, "Y") == 0;
}

bool cons_confirm_typed(struct cons *c, const char *what, const char *word)
{
	char prompt[CONS_LINE_MAX], answer[64];

	if (c->assume_yes && !isatty(c->in_fd))
		return true;
	snprintf(prompt, sizeof(prompt), "%s\r\nType '%s' to go on, anything else cancels: ", what,
		 word);
	if (cons_read_line(c, prompt, true, answer, sizeof(answer)) < 0)
		return false;
	return strcmp(answer, word) == 0;
}
