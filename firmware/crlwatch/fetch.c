/*
 * fetch.c - the network source: one HTTP/1.1 GET of the CRL over plain TCP or TLS
 * (tls/client.h), conditional (If-None-Match / If-Modified-Since from the last 200),
 * bounded (size cap, connect and total timeouts), and its schedule (poll period, earlier
 * as nextUpdate approaches, exponential backoff with jitter after failures).
 *
 * The HTTP client is ours (README "crlwatch" says why): one request per connection
 * ("Connection: close"), no redirects, no proxies, no cookies; the response is parsed by
 * proto/http_resp.c, which has its own fuzzer.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "crlwatch.h"
#include "pki/crlcheck.h"
#include "proto/http_resp.h"
#include "tls/client.h"

#define CW_HOST_MAX 256
#define CW_PATH_MAX 1024
#define CW_REQ_MAX 2048
#define CW_READ_CHUNK 16384
#define CW_BACKOFF_MIN_S 30
#define CW_RETRY_MIN_S 60

struct cw_url {
	bool https;
	char host[CW_HOST_MAX];
	char port[8];
	char path[CW_PATH_MAX];
};

/* http[s]://host[:port][/path]; host may be [v6]. No userinfo, no fragment. */
static int cw_url_parse(const char *url, struct cw_url *u, char *why, size_t whysz)
{
	const char *p, *hend, *pstart;
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "https://", 8) == 0) {
		u->https = true;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		goto bad;
	pstart = p + strcspn(p, "/?#");
	if (*pstart == '#' || memchr(p, '@', (size_t)(pstart - p)) != NULL)
		goto bad;
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(pstart - p));
		if (hend == NULL)
			goto bad;
		hl = (size_t)(hend - p - 1);
		if (hl == 0 || hl >= sizeof(u->host))
			goto bad;
		memcpy(u->host, p + 1, hl);
		hend++;
	} else {
		hend = p + strcspn(p, ":/?#");
		hl = (size_t)(hend - p);
		if (hl == 0 || hl >= sizeof(u->host))
			goto bad;
		memcpy(u->host, p, hl);
	}
	if (*hend == ':') {
		size_t pl = (size_t)(pstart - hend - 1);

		if (pl == 0 || pl >= sizeof(u->port) || strspn(hend + 1, "0123456789") < pl)
			goto bad;
		memcpy(u->port, hend + 1, pl);
	} else if (hend != pstart)
		goto bad;
	else
		snprintf(u->port, sizeof(u->port), "%s", u->https ? "443" : "80");
	if (strlen(pstart) >= sizeof(u->path) - 1 || strchr(pstart, '#'))
		goto bad;
	snprintf(u->path, sizeof(u->path), "%s%s", *pstart == '/' ? "" : "/", pstart);
	for (const char *q = u->path; *q; q++)
		if (*q <= 0x20 || *q >= 0x7f)
			goto bad;
	return 0;
bad:
	snprintf(why, whysz, "%s: not a usable http:// or https:// URL", url);
	return -MGW_EINVAL;
}

/* Connects to host:port (each address in turn) before deadline; the fd or negative. */
static int cw_connect(const struct cw_url *u, uint64_t deadline_ms, char *why, size_t whysz)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int fd = -1, err = ETIMEDOUT, gai;

	gai = getaddrinfo(u->host, u->port, &hints, &res);
	if (gai != 0) {
		snprintf(why, whysz, "%s: %s", u->host, gai_strerror(gai));
		return -MGW_EIO;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd p = {.events = POLLOUT};
		socklen_t el = sizeof(err);
		uint64_t now = tls_client_now_ms();

		if (now >= deadline_ms)
			break;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (errno == EINPROGRESS) {
			p.fd = fd;
			if (poll(&p, 1, (int)(deadline_ms - now)) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
				break;
			if (err == EINPROGRESS)
				err = ETIMEDOUT;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(why, whysz, "connect to %s port %s: %s", u->host, u->port,
			 err == ETIMEDOUT ? "timed out" : strerror(err));
	return fd < 0 ? -MGW_EIO : fd;
}

/* Plain or TLS I/O on one connection. */
struct cw_io {
	int fd;
	struct tls_client *tls;
};

static int cw_io_write(struct cw_io *io, const char *buf, size_t len, uint64_t deadline_ms)
{
	if (io->tls != NULL)
		return tls_client_write(io->tls, buf, len, deadline_ms);
	while (len > 0) {
		struct pollfd p = {.fd = io->fd, .events = POLLOUT};
		uint64_t now = tls_client_now_ms();
		ssize_t n;

		if (now >= deadline_ms || poll(&p, 1, (int)(deadline_ms - now)) <= 0)
			return -MGW_EAGAIN;
		n = send(io->fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -MGW_EIO;
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

static ssize_t cw_io_read(struct cw_io *io, uint8_t *buf, size_t len, uint64_t deadline_ms)
{
	if (io->tls != NULL)
		return tls_client_read(io->tls, buf, len, deadline_ms);
	for (;;) {
		struct pollfd p = {.fd = io->fd, .events = POLLIN};
		uint64_t now = tls_client_now_ms();
		ssize_t n;

		if (now >= deadline_ms || poll(&p, 1, (int)(deadline_ms - now)) <= 0)
			return -MGW_EAGAIN;
		n = recv(io->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -MGW_EIO;
	}
}

/* The trust anchor for HTTPS: [crlwatch] trust, else the office CA. */
static const char *cw_trust(const struct cw *cw)
{
	return cw->cfg.crlwatch_trust[0] ? cw->cfg.crlwatch_trust : cw->cfg.tls_ca;
}

int cw_fetch_url(struct cw *cw, unsigned i, char *url, size_t urlsz)
{
	char seen[CFG_STR_MAX];
	unsigned n = 0;

	if (cw->cfg.crlwatch_url[0]) {
		if (i > 0)
			return -MGW_ENOENT;
		snprintf(url, urlsz, "%s", cw->cfg.crlwatch_url);
		return 0;
	}
	/* the distribution points of the configured CAs, in their order, each URL once */
	for (unsigned k = 0; k < CW_URLS_MAX; k++) {
		int rc = pki_crt_crl_url(cw->cfg.tls_ca, k, url, urlsz);
		bool dup = false;

		if (rc == -MGW_EINVAL || rc == -MGW_EIO)
			break; /* no certificate k, or no file */
		if (rc < 0)
			continue;
		for (unsigned j = 0; j < k && !dup; j++)
			dup = pki_crt_crl_url(cw->cfg.tls_ca, j, seen, sizeof(seen)) == 0 &&
			      strcmp(seen, url) == 0;
		if (!dup && n++ == i)
			return 0;
	}
	url[0] = '\0';
	return -MGW_ENOENT;
}

/* What one GET brought back. */
struct cw_got {
	int rc; /* 0 or the failure (why) */
	unsigned status;
	char etag[HTTP_ETAG_MAX];
	char last_modified[HTTP_DATE_MAX];
	char why[CW_WHY_MAX];
	size_t len; /* body bytes (status 200) */
};

/* The network part: connect, TLS, request, response. body (max bytes) receives a 200's
 * body. Runs in the unprivileged child (cw_fetch). */
static void cw_get(const struct cw *cw, const char *url, bool cond, const char *trust,
		   size_t trust_len, uint8_t *body, struct cw_got *g)
{
	const char *etag = cond ? cw->st.etag : "", *lm = cond ? cw->st.last_modified : "";
	uint64_t t0 = tls_client_now_ms();
	uint64_t cdl = t0 + (uint64_t)cw->cfg.crlwatch_connect_timeout * 1000u;
	uint64_t dl = t0 + (uint64_t)cw->cfg.crlwatch_timeout * 1000u;
	size_t max = (size_t)cw->cfg.crlwatch_max_size;
	/* room for the head and a chunked body's framing */
	size_t cap = HTTP_HEAD_MAX + max + max / 8 + 1024, used = 0;
	struct cw_io io = {.fd = -1};
	struct http_resp r;
	struct cw_url u;
	char req[CW_REQ_MAX], hostport[CW_HOST_MAX + 16];
	const char *why_pfx = url;
	uint8_t *buf = NULL;
	bool eof = false, dflt;
	int rc, prc, n;

	rc = cw_url_parse(url, &u, g->why, sizeof(g->why));
	if (rc < 0)
		goto out;
	if (cdl > dl)
		cdl = dl;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = -MGW_ENOMEM;
		snprintf(g->why, sizeof(g->why), "%s: out of memory", url);
		goto out;
	}
	rc = io.fd = cw_connect(&u, cdl, g->why, sizeof(g->why));
	if (rc < 0)
		goto out;
	if (u.https) {
		rc = tls_client_open(&io.tls, io.fd, u.host, trust, trust_len, cw_trust(cw),
				     cw->cfg.crlwatch_tls_version ? TLS_CLIENT_TLS13
								  : TLS_CLIENT_TLS12,
				     dl, g->why, sizeof(g->why));
		if (rc < 0)
			goto out;
	}
	dflt = strcmp(u.port, u.https ? "443" : "80") == 0;
	snprintf(hostport, sizeof(hostport), "%s%s%s%s%s", strchr(u.host, ':') ? "[" : "", u.host,
		 strchr(u.host, ':') ? "]" : "", dflt ? "" : ":", dflt ? "" : u.port);
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mailgw-crlwatch\r\n"
		     "Accept: application/pkix-crl, application/x-pem-file, */*\r\n"
		     "Connection: close\r\n%s%s%s%s%s%s\r\n",
		     u.path, hostport, etag[0] ? "If-None-Match: " : "", etag,
		     etag[0] ? "\r\n" : "", lm[0] ? "If-Modified-Since: " : "", lm,
		     lm[0] ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		rc = -MGW_ELIMIT;
		snprintf(g->why, sizeof(g->why), "%s: request too long", why_pfx);
		goto out;
	}
	rc = cw_io_write(&io, req, (size_t)n, dl);
	if (rc < 0) {
		snprintf(g->why, sizeof(g->why), "%s: sending the request failed%s", why_pfx,
			 rc == -MGW_EAGAIN ? " (timed out)" : "");
		goto out;
	}
	for (;;) {
		if (!eof && used < cap) {
			ssize_t got =
			    cw_io_read(&io, buf + used,
				       cap - used > CW_READ_CHUNK ? CW_READ_CHUNK : cap - used, dl);

			if (got < 0) {
				rc = (int)got;
				snprintf(g->why, sizeof(g->why), "%s: %s after %zu bytes", why_pfx,
					 got == -MGW_EAGAIN ? "timed out" : "connection failed",
					 used);
				goto out;
			}
			eof = got == 0;
			used += (size_t)got;
		}
		prc = http_resp_parse(buf, used, eof || used == cap, max, body, max, &r);
		if (prc != MGW_PARSE_NEED_MORE)
			break;
	}
	if (prc != MGW_PARSE_OK) {
		rc = prc == MGW_PARSE_LIMIT ? -MGW_ELIMIT : -MGW_EINVAL;
		snprintf(g->why, sizeof(g->why), "%s: %s%s", why_pfx, http_resp_parse_name(prc),
			 prc == MGW_PARSE_LIMIT ? " ([crlwatch] max_size)" : "");
		goto out;
	}
	g->status = r.status;
	snprintf(g->etag, sizeof(g->etag), "%s", r.etag);
	snprintf(g->last_modified, sizeof(g->last_modified), "%s", r.last_modified);
	if (r.status == 200) {
		if (r.body != body)
			memcpy(body, r.body, r.body_len);
		g->len = r.body_len;
	}
	rc = 0;
out:
	g->rc = rc;
	tls_client_free(io.tls);
	if (io.fd >= 0)
		close(io.fd);
	free(buf);
}

/* The fetch job in the unprivileged child (cw_jail_run): res is struct cw_got, the
 * body is handed back. */
struct cw_get_job {
	const struct cw *cw;
	const char *url;
	bool cond;
	const char *trust;
	size_t trust_len;
};

static int cw_get_job(void *arg, void *res, char **data, size_t *len)
{
	const struct cw_get_job *a = arg;
	struct cw_got *g = res;
	uint8_t *body = malloc((size_t)a->cw->cfg.crlwatch_max_size);

	if (body == NULL) {
		g->rc = -MGW_ENOMEM;
		snprintf(g->why, sizeof(g->why), "%s: out of memory", a->url);
		return g->rc;
	}
	cw_get(a->cw, a->url, a->cond, a->trust, a->trust_len, body, g);
	*data = (char *)body;
	*len = g->rc == 0 ? g->len : 0;
	return g->rc;
}

/*
 * Runs cw_get in the unprivileged child (jail.c): the HTTP and TLS code that talks to the
 * network never runs as root. The child sends struct cw_got and the body; the parent
 * bounds what it reads (max_size) and offers the body to the one install path, whose
 * validation runs in a child of its own. *body is owned by the caller.
 */
static void cw_get_unprivileged(const struct cw *cw, const char *url, bool cond, char **body,
				struct cw_got *g)
{
	struct cw_jail j = {
	    .name = "fetch", .what = url, .keep_fd = -1, .timeout_s = cw->cfg.crlwatch_timeout + 5};
	struct cw_get_job a = {.cw = cw, .url = url, .cond = cond};
	char *trust = NULL, safe[CW_WHY_MAX];
	size_t len = 0;
	int job_rc;

	memset(g, 0, sizeof(*g));
	*body = NULL;
	/* the trust anchor may be root-only: read it before the privileges go */
	if (strncmp(url, "https://", 8) == 0 &&
	    file_read_all(cw_trust(cw), 1024 * 1024, &trust, &a.trust_len) < 0) {
		g->rc = -MGW_EIO;
		snprintf(g->why, sizeof(g->why), "%s: cannot read the trust anchor", cw_trust(cw));
		return;
	}
	a.trust = trust;
	if (cw_jail_run(&j, cw_get_job, &a, g, sizeof(*g), (size_t)cw->cfg.crlwatch_max_size, body,
			&len, &job_rc, g->why, sizeof(g->why)) < 0) {
		g->rc = -MGW_EIO;
		goto out;
	}
	g->why[sizeof(g->why) - 1] = '\0';
	/* the child's words reach the console and the log: no control characters */
	snprintf(safe, sizeof(safe), "%s", g->why);
	log_safe(g->why, sizeof(g->why), safe, strlen(safe));
	g->etag[sizeof(g->etag) - 1] = '\0';
	g->last_modified[sizeof(g->last_modified) - 1] = '\0';
	if (g->rc != job_rc || (g->rc == 0 && g->len != len)) {
		memset(g, 0, sizeof(*g));
		g->rc = -MGW_EIO;
		snprintf(g->why, sizeof(g->why), "%s: the fetch process answered nonsense", url);
	}
out:
	free(trust);
}

int cw_fetch(struct cw *cw, const char *url, bool cond, time_t now, char *why, size_t whysz)
{
	char *body = NULL;
	struct cw_got g;
	int rc;

	cw_get_unprivileged(cw, url, cond, &body, &g);
	rc = g.rc;
	if (rc < 0)
		snprintf(why, whysz, "%s", g.why);
	else if (g.status == 304) {
		log_info("%s: not modified (HTTP 304)", url);
	} else if (g.status != 200) {
		rc = -MGW_EIO;
		snprintf(why, whysz, "%s: HTTP %u", url, g.status);
	} else {
		rc = cw_offer(cw, body, g.len, url, now, why, whysz);
		if (rc >= 0 && cond) {
			/* remembered only for a CRL that passed: a bad one is fetched (and
			 * refused with its reason) again at the next attempt */
			snprintf(cw->st.etag, sizeof(cw->st.etag), "%s", g.etag);
			snprintf(cw->st.last_modified, sizeof(cw->st.last_modified), "%s",
				 g.last_modified);
		}
	}
	if (rc < 0 && cw->st.last_error_at != now) {
		snprintf(cw->st.last_error, sizeof(cw->st.last_error), "%s", why);
		cw->st.last_error_at = now;
	}
	free(body);
	return rc;
}

time_t cw_fetch_next(const struct cw *cw, bool failed, time_t now)
{
	time_t period = (time_t)cw->cfg.crlwatch_poll, left;
	uint32_t rnd = 0;

	if (cw->st.next_update != 0) {
		/* as nextUpdate approaches, look more often: a quarter of what is left */
		left = cw->st.next_update - now;
		if (left <= (time_t)cw->cfg.crlwatch_refresh_due) {
			time_t quarter = left / 4 > CW_RETRY_MIN_S ? left / 4 : CW_RETRY_MIN_S;

			if (quarter < period)
				period = quarter;
		}
	}
	if (failed && cw->st.failures > 0) {
		unsigned shift = cw->st.failures > 16 ? 16 : cw->st.failures - 1;
		time_t back = (time_t)CW_BACKOFF_MIN_S << shift;

		if (back < period)
			period = back;
	}
	/* jitter: +-25 %, so that many gateways do not hit the CA together */
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)now;
	period = period * 3 / 4 + (time_t)(rnd % (uint32_t)(period / 2 + 1));
	return now + (period > 1 ? period : 1);
}
