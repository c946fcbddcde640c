/*
 * fuzz_pop3_sess.c - libFuzzer target: a whole POP3 session over a socketpair.
 *
 * The input is what a client sends after the TLS handshake, in one go (pipelining
 * included). Behind it run the real conn, event loop, session, passwd-file, throttle and
 * Maildir store, with a throwaway data directory holding user joe@example.test ({PLAIN}
 * password "pw", allowed here for speed) and two messages. TLS is replaced by a
 * pass-through transport and a fixed client certificate for joe (gate_env.peer), so
 * the fuzzer reaches TRANSACTION by sending "USER joe@example.test" / "PASS pw". Checks
 * beyond the sanitizers: the first line is a "+OK" greeting, every line the server
 * writes ends in CRLF, and the session ends and frees itself when the client goes away.
 */
#include "proto/pop3_sess.h"
#include "sess_harness.h"

static void fz_check(const uint8_t *out, size_t len)
{
	if (len > 0 && (len < 5 || memcmp(out, "+OK ", 4) != 0))
		abort();
	for (size_t i = 0; i < len; i++)
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[1 << 20];
	size_t got = 0;

	if (size > FUZZ_IN_MAX)
		return 0;
	fz_run(data, size, pop3_sess_start, POP3_IN_MAX, POP3_OUT_MAX, out, sizeof(out), &got);
	fz_check(out, got);
	return 0;
}
