/*
 * imap_client.c - an IMAPS client (RFC 3501, RFC 8314 implicit TLS) presenting a client
 * certificate through mbedTLS's client side (tls_client.h): greeting, LOGIN, SELECT
 * INBOX, UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[]) with every literal checked against
 * what was sent, UID STORE of the fetched UIDs +FLAGS (\Deleted), EXPUNGE (one untagged
 * EXPUNGE per message), LOGOUT; it can hold a zero window (stall_ms) in UID FETCH. Responses are
 * read as a client reads them: lines, and literals ({n} at a line's end) by their announced length.
 * The connection, the gate's verdict and retries are gate_client.h's. Only INBOX commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "core/err.h"
#include "net/conn.h"
#include "gate_client.h"

#define IMAP_CLIENT_IN_MAX (CLIENT_MSG_MAX + 64 * 1024) /* one FETCH response, its literal */
#define IMAP_CLIENT_UIDS_MAX (2 * NETSIM_MSGS_MAX)

/* The commands, in order; each is tagged "A<step>". */
enum imap_cstep { IC_LOGIN, IC_SELECT, IC_FETCH, IC_STORE, IC_EXPUNGE, IC_LOGOUT };

struct imap_client {
	struct gate_client g; /* the connection, the verdict, retries */
	enum imap_cstep step;
	unsigned exists, expunged, nuids;
	uint32_t uids[IMAP_CLIENT_UIDS_MAX];
};

static void imap_client_send(struct imap_client *ic)
{
	char set[IMAP_CLIENT_UIDS_MAX * 11 + 1];
	size_t n = 0;

	/* An empty mailbox has nothing to fetch, flag or expunge. */
	if (ic->step == IC_FETCH && ic->exists == 0)
		ic->step = IC_LOGOUT;
	switch (ic->step) {
	case IC_LOGIN:
		conn_printf(ic->g.c, "A%u LOGIN \"%s\" \"%s\"\r\n", ic->step, ic->g.p.user,
			    ic->g.p.pass);
		break;
	case IC_SELECT:
		conn_printf(ic->g.c, "A%u SELECT INBOX\r\n", ic->step);
		break;
	case IC_FETCH:
		conn_printf(ic->g.c, "A%u UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])\r\n",
			    ic->step);
		gate_client_stall(&ic->g); /* zero window: the daemon must stop at its limits */
		break;
	case IC_STORE:
		for (unsigned i = 0; i < ic->nuids; i++)
			n += (size_t)snprintf(set + n, sizeof(set) - n, "%s%u", i ? "," : "",
					      ic->uids[i]);
		conn_printf(ic->g.c, "A%u UID STORE %s +FLAGS (\\Deleted)\r\n", ic->step, set);
		break;
	case IC_EXPUNGE:
		conn_printf(ic->g.c, "A%u EXPUNGE\r\n", ic->step);
		break;
	case IC_LOGOUT:
		conn_printf(ic->g.c, "A%u LOGOUT\r\n", ic->step);
		break;
	}
}

/* The length of the first complete response in p (its lines and literals), or 0. */
static size_t imap_client_response_len(const uint8_t *p, size_t len)
{
	size_t pos = 0;

	for (;;) {
		const uint8_t *nl = memchr(p + pos, '\n', len - pos);
		size_t end, lit = 0, mul = 1, k;

		if (nl == NULL)
			return 0;
		end = (size_t)(nl - p) + 1;
		/* "{n}\r\n" at the line's end announces n octets (RFC 3501 4.3). */
		k = end - 1;
		if (k >= 3 && p[k - 1] == '\r' && p[k - 2] == '}') {
			for (k -= 3; k > pos && p[k] >= '0' && p[k] <= '9'; k--) {
				lit += (size_t)(p[k] - '0') * mul;
				mul *= 10;
			}
			if (p[k] == '{' && mul > 1) {
				if (len - end < lit)
					return 0;
				pos = end + lit;
				continue;
			}
		}
		return end;
	}
}

static unsigned imap_client_num(const uint8_t *p, size_t len, const char *after)
{
	const uint8_t *q = memmem(p, len, after, strlen(after));

	return q ? (unsigned)strtoul((const char *)q + strlen(after), NULL, 10) : 0;
}

/* One FETCH response of UID FETCH: the literal must be a message that was sent, byte for
 * byte at its end (the daemon prepends its trace headers), of the announced size. */
static void imap_client_fetched(struct imap_client *ic, const uint8_t *p, size_t len)
{
	const uint8_t *nl = memchr(p, '\n', len), *lit, *b;
	size_t first = (size_t)(nl - p) + 1, n;
	unsigned uid = imap_client_num(p, first, "UID "),
		 size = imap_client_num(p, first, "RFC822.SIZE ");

	b = memmem(p, first, "BODY[] {", 8);
	if (uid == 0 || b == NULL)
		return gate_client_fail(&ic->g, "FETCH response without UID or BODY[]", "");
	n = strtoul((const char *)b + 8, NULL, 10);
	lit = p + first;
	if (first + n + 3 > len || memcmp(lit + n, ")\r\n", 3) != 0)
		return gate_client_fail(&ic->g, "FETCH response does not end after its literal",
					"");
	if (n != size)
		return gate_client_fail(&ic->g, "RFC822.SIZE is not the size of BODY[]", "");
	if (ic->nuids == IMAP_CLIENT_UIDS_MAX)
		return gate_client_fail(&ic->g, "more messages than were sent", "");
	ic->uids[ic->nuids++] = uid;
	for (unsigned i = 0; i < ic->g.p.nmsgs; i++) {
		struct client_msg *m = &ic->g.p.msgs[i];

		if (memmem(lit, n, m->id, strlen(m->id)) == NULL)
			continue;
		if (n < m->len || memcmp(lit + n - m->len, m->data, m->len) != 0)
			return gate_client_fail(&ic->g, "message not byte-exact: ", m->id);
		m->seen[CLIENT_BOX_IMAP]++;
		return;
	}
	gate_client_fail(&ic->g, "a message that was never sent arrived", "");
}

static void imap_client_untagged(struct imap_client *ic, const uint8_t *p, size_t len)
{
	char line[80];

	snprintf(line, sizeof(line), "%.*s", (int)(len > 60 ? 60 : len - 2), p);
	if (!ic->g.greeted) {
		if (len < 4 || memcmp(p, "* OK", 4) != 0)
			return gate_client_fail(&ic->g, "greeting: ", line);
		ic->g.greeted = true;
		ic->step = IC_LOGIN;
		ic->exists = ic->expunged = ic->nuids = 0;
		imap_client_send(ic);
		return;
	}
	if (len >= 5 && memcmp(p, "* BYE", 5) == 0) {
		if (ic->step != IC_LOGOUT)
			gate_client_fail(&ic->g, "BYE: ", line);
		return;
	}
	if (len > 8 && p[2] >= '0' && p[2] <= '9') {
		const uint8_t *sp = memchr(p + 2, ' ', len - 2);
		size_t rest = sp ? len - (size_t)(sp + 1 - p) : 0;

		if (rest >= 6 && memcmp(sp + 1, "EXISTS", 6) == 0)
			ic->exists = (unsigned)strtoul((const char *)p + 2, NULL, 10);
		else if (rest >= 7 && memcmp(sp + 1, "EXPUNGE", 7) == 0)
			ic->expunged++;
		else if (rest >= 7 && memcmp(sp + 1, "FETCH (", 7) == 0 && ic->step == IC_FETCH)
			imap_client_fetched(ic, p, len);
	}
}

/* The tagged completion of the current command. */
static void imap_client_tagged(struct imap_client *ic, const uint8_t *p, size_t len)
{
	char tag[16], line[80];
	int tl = snprintf(tag, sizeof(tag), "A%u OK", ic->step);

	snprintf(line, sizeof(line), "%.*s", (int)(len > 60 ? 60 : len - 2), p);
	if (len < (size_t)tl || memcmp(p, tag, (size_t)tl) != 0)
		return gate_client_fail(&ic->g, "command failed: ", line);
	switch (ic->step) {
	case IC_FETCH:
		if (ic->nuids != ic->exists)
			return gate_client_fail(&ic->g, "UID FETCH 1:* missed messages: ", line);
		break;
	case IC_EXPUNGE:
		if (ic->expunged != ic->nuids)
			return gate_client_fail(&ic->g, "EXPUNGE did not report every message", "");
		break;
	case IC_LOGOUT:
		ic->g.state = CLIENT_DONE;
		conn_close(ic->g.c, "done");
		return;
	default:
		break;
	}
	ic->step++;
	imap_client_send(ic);
}

static void imap_client_input(struct imap_client *ic)
{
	struct buf *in = conn_in(ic->g.c);
	size_t n;

	while (ic->g.state == CLIENT_RUNNING &&
	       (n = imap_client_response_len(buf_data(in), buf_len(in))) > 0) {
		const uint8_t *p = buf_data(in);

		if (n < 3 || p[n - 2] != '\r')
			gate_client_fail(&ic->g, "response line without CRLF", "");
		else if (p[0] == '*' && p[1] == ' ')
			imap_client_untagged(ic, p, n);
		else
			imap_client_tagged(ic, p, n);
		buf_consume(in, n);
	}
	if (ic->g.state == CLIENT_RUNNING && buf_len(in) >= IMAP_CLIENT_IN_MAX)
		gate_client_fail(&ic->g, "response too long", "");
}

static void imap_client_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct imap_client *ic = arg;

	switch (ev) {
	case CONN_EV_DATA:
		imap_client_input(ic);
		if (ic->g.state == CLIENT_FAILED)
			conn_close(c, "protocol error");
		break;
	case CONN_EV_TIMEOUT:
		gate_client_timeout(&ic->g, c);
		break;
	case CONN_EV_CLOSED:
		gate_client_closed(&ic->g, c, ic->g.greeted && ic->step > IC_LOGIN);
		break;
	default:
		break;
	}
}

int imap_client_start(struct loop *loop, const struct client_params *p, struct imap_client **out)
{
	struct imap_client *ic = calloc(1, sizeof(*ic));

	if (ic == NULL)
		return -MGW_ENOMEM;
	gate_client_start(&ic->g, loop, p, 993, IMAP_CLIENT_IN_MAX, imap_client_event, ic);
	*out = ic;
	return 0;
}

enum client_state imap_client_state(const struct imap_client *ic)
{
	return ic->g.state;
}

const char *imap_client_error(const struct imap_client *ic)
{
	return ic->g.err;
}

bool imap_client_stalled(const struct imap_client *ic)
{
	return ic->g.stalled;
}

void imap_client_close(struct imap_client *ic)
{
	if (ic)
		gate_client_close(&ic->g);
}

void imap_client_free(struct imap_client *ic)
{
	if (ic == NULL)
		return;
	gate_client_free(&ic->g);
	free(ic);
}
