/*
 * simos.c - the simulated entropy, clocks and pid of the netsim build (simos.h).
 *
 * The wrappers are bound only by the netsim link's --wrap flags; a build without
 * MGW_NETSIM refuses this file, so the deterministic entropy source cannot end up in a
 * product binary (whose links have no --wrap and never compile tests/).
 */
#if !defined(MGW_NETSIM) || !MGW_NETSIM
#error "simos.c replaces the system's entropy and clocks: it belongs to the netsim build only"
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef" /* mbedTLS's headers, as in lib/tls/tls_int.h */
#include <mbedtls/x509_crl.h>
#pragma GCC diagnostic pop
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "simos.h"

/* pki.py dates the CRL an hour back, and makes it last: a minute after that, every
 * certificate is valid, the CRL too, and the real clock is past it. */
#define SIMOS_EPOCH_AFTER_CRL_S (3600 + 60)

static struct {
	bool on;
	uint64_t state; /* the entropy stream (SplitMix64) */
	int64_t epoch_s;
	const uint64_t *vclock_ms;
} simos;

/* Declared here, not in simos.h: only the linker calls them (--wrap=NAME). */
int __real_mbedtls_platform_entropy_poll(void *data, unsigned char *out, size_t len, size_t *olen);
int __wrap_mbedtls_platform_entropy_poll(void *data, unsigned char *out, size_t len, size_t *olen);
ssize_t __real_getrandom(void *buf, size_t len, unsigned int flags);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags);
time_t __real_time(time_t *t);
time_t __wrap_time(time_t *t);
int __real_gettimeofday(struct timeval *tv, void *tz);
int __wrap_gettimeofday(struct timeval *tv, void *tz);
int __real_clock_gettime(clockid_t clk, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clk, struct timespec *ts);
pid_t __real_getpid(void);
pid_t __wrap_getpid(void);

void simos_start(uint64_t seed, int64_t epoch_s, const uint64_t *vclock_ms)
{
	simos.state = seed ^ 0x5851f42d4c957f2dull;
	simos.epoch_s = epoch_s;
	simos.vclock_ms = vclock_ms;
	simos.on = true;
}

void simos_stop(void)
{
	simos.on = false;
	simos.vclock_ms = NULL;
}

int simos_epoch_from_crl(const char *crl_pem, int64_t *epoch_s)
{
	mbedtls_x509_crl crl;
	struct tm tm;
	int rc = -MGW_ECONFIG;

	mbedtls_x509_crl_init(&crl);
	if (mbedtls_x509_crl_parse_file(&crl, crl_pem) == 0) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = crl.this_update.year - 1900;
		tm.tm_mon = crl.this_update.mon - 1;
		tm.tm_mday = crl.this_update.day;
		tm.tm_hour = crl.this_update.hour;
		tm.tm_min = crl.this_update.min;
		tm.tm_sec = crl.this_update.sec;
		*epoch_s = (int64_t)timegm(&tm) + SIMOS_EPOCH_AFTER_CRL_S;
		rc = 0;
	}
	mbedtls_x509_crl_free(&crl);
	return rc;
}

static uint64_t simos_next(void)
{
	uint64_t z = (simos.state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void simos_fill(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		uint64_t r = simos_next();
		size_t n = len < sizeof(r) ? len : sizeof(r);

		memcpy(p, &r, n);
		p += n;
		len -= n;
	}
}

int __wrap_mbedtls_platform_entropy_poll(void *data, unsigned char *out, size_t len, size_t *olen)
{
	if (!simos.on)
		return __real_mbedtls_platform_entropy_poll(data, out, len, olen);
	simos_fill(out, len);
	*olen = len;
	return 0;
}

ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags)
{
	if (!simos.on)
		return __real_getrandom(buf, len, flags);
	simos_fill(buf, len);
	return (ssize_t)len;
}

/* Virtual milliseconds, or false when the real clock is in force. */
static bool simos_vms(uint64_t *ms)
{
	if (!simos.on || simos.vclock_ms == NULL)
		return false;
	*ms = *simos.vclock_ms;
	return true;
}

time_t __wrap_time(time_t *t)
{
	uint64_t ms;
	time_t now;

	if (!simos_vms(&ms))
		return __real_time(t);
	now = (time_t)(simos.epoch_s + (int64_t)(ms / 1000));
	if (t)
		*t = now;
	return now;
}

int __wrap_gettimeofday(struct timeval *tv, void *tz)
{
	uint64_t ms;

	if (!simos_vms(&ms))
		return __real_gettimeofday(tv, tz);
	tv->tv_sec = (time_t)(simos.epoch_s + (int64_t)(ms / 1000));
	tv->tv_usec = (suseconds_t)(ms % 1000 * 1000);
	return 0;
}

int __wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
	uint64_t ms;

	if (!simos_vms(&ms))
		return __real_clock_gettime(clk, ts);
	ts->tv_sec = (time_t)(ms / 1000);
	if (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE)
		ts->tv_sec += (time_t)simos.epoch_s;
	ts->tv_nsec = (long)(ms % 1000 * 1000000);
	return 0;
}

pid_t __wrap_getpid(void)
{
	return simos.on ? SIMOS_PID : __real_getpid();
}
