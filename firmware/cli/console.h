/*
 * console.h - the admin console `mailgw`: a command table on libcli.
 *
 * Each command family lives in its own file (cmd_<family>.c) and exports a table of
 * struct cons_cmd, terminated by an entry with words NULL. console.c registers every
 * table with libcli (sub-commands, `?` help, TAB completion of commands and of existing
 * names, unique-prefix abbreviations, history) and runs a command either from the
 * interactive loop or once from argv (scripted mode).
 *
 * A command's run function returns CONS_OK, CONS_REFUSED (bad input, a change mailgwd
 * refused, a cancelled confirmation) or CONS_ERROR (something failed: I/O, mailgwd not
 * reachable); in scripted mode that is the exit status. It prints with cons_out() (data,
 * on stdout in scripted mode) and cons_err() (reasons, "mailgw: ..." on stderr in scripted
 * mode). Arguments are read by name with cons_arg().
 *
 * Secrets (passwords) are read with cons_read_secret(): never echoed, never in argv or in
 * the history; the caller wipes its buffer.
 */
#ifndef MGW_CONSOLE_H
#define MGW_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct cli_def;

enum cons_status {
	CONS_OK = 0,
	CONS_REFUSED = 1,
	CONS_ERROR = 2,
};

#define CONS_ARGS_MAX 4
#define CONS_LINE_MAX 512
#define CONS_SECRET_MAX 256
#define CONS_IDLE_TIMEOUT 900 /* seconds without a key before an interactive session ends */

/* The console's state; one per process. All strings are borrowed from main(). */
struct cons {
	struct cli_def *cli;
	const char *prog;      /* "mailgw" */
	const char *data_dir;  /* the data directory (-d, MAILGW_DATA_DIR, the configuration) */
	const char *conf_path; /* mailgwd's configuration (-c, MAILGW_CONFIG) */
	const char *sock_path; /* mailgwd's control socket (-s, MAILGW_SOCKET, [control]) */
	const char *hostname;  /* the prompt */
	int in_fd, out_fd;     /* the terminal (interactive) or stdin/stdout */
	bool interactive;      /* in the libcli loop on a terminal */
	bool assume_yes;       /* -y: confirmations are answered yes (scripts) */
	bool dry_run;	       /* fuzzing: parse and dispatch, never run a command */
	bool in_cmd;	       /* a run function is executing (scripted output routing) */
	int status;	       /* enum cons_status of the last command */
	const char *ran;       /* dry run: the full name of the command dispatched */
	bool quit;	       /* `quit` or `exit` ran: a script ends here, successfully */
};

/* One argument of a command. The name says what TAB completes for it: DOMAIN (local
 * domains), USER (user@domain), ALIAS, SERIAL (certificates), LOGIN (a user, as for a
 * certificate); any other name completes nothing. */
enum cons_arg_kind {
	CONS_ARG = 0,	/* a required word */
	CONS_ARG_FLAG,	/* an optional keyword (present or not) */
	CONS_ARG_VALUE, /* an optional "keyword VALUE" pair */
	CONS_ARG_REST,	/* a required argument taking the rest of the line */
};

struct cons_arg {
	const char *name;
	enum cons_arg_kind kind;
	const char *help;
};

struct cons_cmd {
	const char *words; /* "domain add": the family, then the sub-command */
	const char *help;  /* one line, shown by `?` and help */
	int (*run)(struct cons *c);
	struct cons_arg args[CONS_ARGS_MAX];
};

/* A family: its first word and the help shown for it. */
struct cons_family {
	const char *word;
	const char *help;
	const struct cons_cmd *cmds;
};

/* Lists the existing names for a command argument (TAB completion): calls add(arg, name,
 * NULL) for each. */
typedef int (*cons_add_fn)(void *arg, const char *name, const char *value);
struct cons_completer {
	const char *argname;
	void (*list)(struct cons *c, cons_add_fn add, void *arg);
};
extern const struct cons_completer cons_completers[];

/* ---- console.c ------------------------------------------------------------------------ */

/* Creates the libcli instance and registers every family. 0 or -1. */
int cons_init(struct cons *c);
void cons_done(struct cons *c);

/* Runs argv (argc words) as one command line (scripted mode); returns the exit status. */
int cons_run_argv(struct cons *c, int argc, char **argv);

/* Runs one command line; returns enum cons_status (libcli's own refusals: CONS_REFUSED). */
int cons_run_line(struct cons *c, const char *line);

/* The interactive loop on c->in_fd (a terminal in raw mode) until quit or EOF. */
int cons_loop(struct cons *c);

/* The value of argument name of the running command, or NULL when not given (or, for a
 * CONS_ARG_FLAG, "name" itself when present). */
const char *cons_arg(struct cons *c, const char *name);

void cons_out(struct cons *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cons_err(struct cons *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "label:" and a SHA-256 fingerprint ("AA:BB:...", 95 characters) on two indented lines
 * of 16 bytes each, so that the console stays within 80 columns. */
void cons_out_fp(struct cons *c, const char *label, const char *fp);

/* Reads one line into buf (NUL-terminated; CR/LF removed). On the terminal with prompt,
 * echoed when echo is true; in scripted mode from stdin without prompt. 0, or -1 on EOF,
 * Ctrl-C, Ctrl-D or an over-long line. */
int cons_read_line(struct cons *c, const char *prompt, bool echo, char *buf, size_t bufsz);

/* Reads a secret: on the terminal twice (prompt, then "again: "), without echo, until both
 * agree (3 tries); in scripted mode one line of stdin. Refuses an empty secret. 0 or -1
 * (the reason printed); buf is wiped on failure. */
int cons_read_secret(struct cons *c, const char *prompt, bool twice, char *buf, size_t bufsz);

/* Asks "question [y/N] "; true only for y/yes (always true with -y). */
bool cons_confirm(struct cons *c, const char *question);

/* Asks the admin to type word exactly (factory-reset); -y does not skip it in a terminal. */
bool cons_confirm_typed(struct cons *c, const char *what, const char *word);

/* Puts the terminal back to how it was (before a shell, at exit) and to raw mode again. */
void cons_tty_restore(struct cons *c);
int cons_tty_raw(struct cons *c);

/* ---- ctl.c: mailgwd's control socket ----------------------------------------------------- */

/*
 * Sends one command line to mailgwd and calls line(arg, text) for each data line of the
 * reply. CONS_OK when mailgwd answered OK; CONS_REFUSED with its reason in why when it
 * answered ERR; CONS_ERROR when it could not be reached or the reply broke off (why says so).
 */
int ctl_call(const char *sock_path, const char *cmd, void (*line)(void *arg, const char *text),
	     void *arg, char *why, size_t whysz);

/* Asks mailgwd to reload and reports: CONS_OK silently, otherwise the reason via
 * cons_err ("mailgwd refused the change: ..."). */
int ctl_reload(struct cons *c);

/* ---- login.c: the admin password of the console ----------------------------------------- */

/* The login on the serial console: the first time the admin sets the password (typed
 * twice), later it is asked (3 tries). CONS_OK when admitted. */
int login_run(struct cons *c);

/* ---- cmd_system.c ------------------------------------------------------------------------ */

/* Prints the last lines of the system log (logread; $MAILGW_LOGREAD in tests) that contain
 * grep (NULL: all). */
int cons_log_lines(struct cons *c, const char *grep, unsigned lines);

/* Runs argv[0] (an absolute path) with the terminal in its normal mode and Ctrl-C going
 * to it; stdout to out_fd when >= 0. Its exit status, or -1. */
int cons_run_prog(struct cons *c, char *const argv[], int out_fd);

/* Reboots the board (/sbin/reboot). */
int cons_reboot(struct cons *c);

/* ---- cmd_net.c --------------------------------------------------------------------------- */

/* The NTP servers of network.conf into out ("" when none); returns out. */
const char *net_ntp_servers(struct cons *c, char *out, size_t outsz);

/* ---- the families ------------------------------------------------------------------------ */

extern const struct cons_cmd cons_cmds_daemon[];
extern const struct cons_cmd cons_cmds_system[];
extern const struct cons_cmd cons_cmds_net[];
extern const struct cons_cmd cons_cmds_domain[];
extern const struct cons_cmd cons_cmds_user[];
extern const struct cons_cmd cons_cmds_alias[];
extern const struct cons_cmd cons_cmds_pki[];
extern const struct cons_cmd cons_cmds_config[];
extern const struct cons_cmd cons_cmds_usb[];
extern const struct cons_cmd cons_cmds_firmware[];

/* cmd_firmware.c: the firmware lines of `status` (version, update key, slots, the last
 * update's outcome). */
void fw_status(struct cons *c);

/* ---- data_migrate.c: /data's versioned migrations (admin/migrate.h) ----------------------- */

/* Runs the pending migrations, each reported on the console and in syslog; with reload,
 * asks mailgwd to reload after any ran. CONS_OK (also when /data is newer than this
 * firmware but declared usable by it), CONS_REFUSED (newer and not usable), CONS_ERROR. */
int data_migrate(struct cons *c, bool reload);
/* Says on the console that the pending migrations wait until slot confirms (if any). */
void data_migrate_wait(struct cons *c, char slot);
/* The "data format:" line of `firmware status`. */
void data_status(struct cons *c);

/* Existing names, for TAB completion (cmd_domain.c, cmd_user.c, cmd_alias.c). */
void cmd_domain_names(struct cons *c, cons_add_fn add, void *arg);
void cmd_user_names(struct cons *c, cons_add_fn add, void *arg);
void cmd_alias_names(struct cons *c, cons_add_fn add, void *arg);
void cmd_pki_serials(struct cons *c, cons_add_fn add, void *arg);

#endif
