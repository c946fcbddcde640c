/*
 * fuzz_imap_sess.c - libFuzzer target: a whole IMAP session over a socketpair
 * (sess_harness.h: real conn, loop, session, passwd-file, throttle and Maildir store;
 * TLS replaced by a pass-through transport and joe's certificate). "a LOGIN
 * joe@example.test pw" reaches the authenticated state, "b SELECT INBOX" the mailbox
 * with its two messages (one stored with LF). Checks beyond the sanitizers: the first
 * line is the "* OK" greeting, every line the server writes ends in CRLF (message
 * bodies included: they go out in CRLF form), every literal it announces is followed by
 * exactly that many octets, and the session ends and frees itself when the client goes
 * away.
 */
#include "proto/imap_sess.h"
#include "sess_harness.h"

/* Walks the output: lines, and "{n}" CRLF literals of n octets inside responses. */
static void fz_check(const uint8_t *out, size_t len)
{
	size_t p = 0;

	if (len > 0 && (len < 5 || memcmp(out, "* OK ", 5) != 0))
		abort();
	while (p < len) {
		const uint8_t *nl = memchr(out + p, '\n', len - p);
		size_t e, n = 0, k;

		if (nl == NULL)
			return; /* cut short by the end of the run */
		e = (size_t)(nl - out);
		if (e == p || out[e - 1] != '\r')
			abort();
		/* A literal: the line ends in "{digits}" CR LF. */
		k = e - 1;
		if (k > p && out[k - 1] == '}') {
			size_t d = k - 1, mul = 1;

			while (d > p && out[d - 1] >= '0' && out[d - 1] <= '9') {
				n += (size_t)(out[d - 1] - '0') * mul;
				mul *= 10;
				d--;
			}
			if (d > p && out[d - 1] == '{' && d < k - 1) {
				if (e + 1 + n > len)
					return;
				/* a partial (<origin.count>) may cut between CR and LF */
				for (size_t i = e + 2; i < e + 1 + n; i++)
					if (out[i] == '\n' && out[i - 1] != '\r')
						abort();
				p = e + 1 + n;
				continue;
			}
		}
		p = e + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[1 << 20];
	size_t got = 0;

	if (size > FUZZ_IN_MAX)
		return 0;
	fz_run(data, size, imap_sess_start, IMAP_IN_MAX, IMAP_OUT_MAX, out, sizeof(out), &got);
	fz_check(out, got);
	return 0;
}
