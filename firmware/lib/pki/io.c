/*
 * io.c - what every pki file needs: reasons, random numbers, files of the CA directory,
 * its lock, times and hex spellings (see pki_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "mbedtls/error.h"
#include "mbedtls/sha256.h"
#include "pki/pki_int.h"

int pki_why(char *why, size_t whysz, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whysz > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whysz, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *pki_tls_err(int ret, char *buf, size_t sz)
{
	char e[128];

	mbedtls_strerror(ret, e, sizeof(e));
	snprintf(buf, sz, "%s (mbedTLS -0x%04x)", e, (unsigned)-ret);
	return buf;
}

int pki_rng_init(struct pki_rng *r)
{
	static const char pers[] = "mailgw-pki";

	mbedtls_entropy_init(&r->entropy);
	mbedtls_ctr_drbg_init(&r->drbg);
	if (mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
				  (const unsigned char *)pers, sizeof(pers) - 1) != 0)
		return -MGW_ETLS;
	return 0;
}

void pki_rng_free(struct pki_rng *r)
{
	mbedtls_ctr_drbg_free(&r->drbg);
	mbedtls_entropy_free(&r->entropy);
}

int pki_path(char out[PKI_PATH_MAX], const char *dir, const char *name)
{
	int n = dir ? snprintf(out, PKI_PATH_MAX, "%s/%s", dir, name)
		    : snprintf(out, PKI_PATH_MAX, "%s", name);

	return (n < 0 || n >= PKI_PATH_MAX) ? -MGW_ELIMIT : 0;
}

int pki_read(const char *dir, const char *name, char **data, size_t *len, char *why, size_t whysz)
{
	char path[PKI_PATH_MAX];
	struct stat sb;
	char *p = NULL;
	size_t got = 0;
	int fd, rc;

	*data = NULL;
	*len = 0;
	if (pki_path(path, dir, name) < 0)
		return pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return pki_why(why, whysz, errno == ENOENT ? -MGW_ENOENT : -MGW_EIO, "%s: %s", path,
			       errno == ELOOP ? "is a symbolic link" : strerror(errno));
	rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a regular file", path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		goto out;
	rc = pki_why(why, whysz, -MGW_ELIMIT, "%s: larger than %d bytes", path, PKI_FILE_MAX);
	if (sb.st_size > (strcmp(name, PKI_F_INDEX) == 0 ? PKI_DB_MAX : PKI_FILE_MAX))
		goto out;
	rc = pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", path);
	p = malloc((size_t)sb.st_size + 1);
	if (p == NULL)
		goto out;
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, p + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = pki_why(why, whysz, -MGW_EIO, "%s: read: %s", path,
				     n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	p[got] = '\0';
	*data = p;
	*len = got;
	p = NULL;
	rc = 0;
out:
	free(p);
	close(fd);
	return rc;
}

int pki_write(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
	      char *why, size_t whysz)
{
	char path[PKI_PATH_MAX];
	int rc;

	if (pki_path(path, dir, name) < 0)
		return pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", name);
	errno = 0;
	rc = file_write_atomic(path, data, len, mode);
	if (rc < 0)
		return pki_why(why, whysz, rc, "%s: cannot write: %s", path,
			       rc == -MGW_ENOSPC ? "no space left on device"
			       : errno		 ? strerror(errno)
						 : mgw_strerror(rc));
	return 0;
}

int pki_dir_check(const char *dir, mode_t mode, bool create, char *why, size_t whysz)
{
	struct stat sb;

	if (lstat(dir, &sb) < 0) {
		if (errno != ENOENT || !create)
			return pki_why(why, whysz, errno == ENOENT ? -MGW_ENOENT : -MGW_EIO,
				       "%s: %s", dir, strerror(errno));
		if (file_mkdirs(dir, mode) < 0 || lstat(dir, &sb) < 0)
			return pki_why(why, whysz, -MGW_EIO, "%s: cannot create: %s", dir,
				       strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode))
		return pki_why(why, whysz, -MGW_EINVAL, "%s: not a directory%s", dir,
			       S_ISLNK(sb.st_mode) ? " (a symbolic link)" : "");
	if (sb.st_uid != geteuid())
		return pki_why(why, whysz, -MGW_EPERM, "%s: owned by uid %u, not by us", dir,
			       (unsigned)sb.st_uid);
	if ((sb.st_mode & 07777) != mode && chmod(dir, mode) < 0)
		return pki_why(why, whysz, -MGW_EIO, "%s: chmod: %s", dir, strerror(errno));
	return 0;
}

int pki_lock(const char *dir, char *why, size_t whysz)
{
	char path[PKI_PATH_MAX];
	int fd;

	if (pki_path(path, dir, PKI_F_LOCK) < 0)
		return pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return pki_why(why, whysz, -MGW_EIO, "%s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return pki_why(why, whysz, -MGW_EIO, "%s: lock: %s", path, strerror(errno));
		}
	}
	return fd;
}

void pki_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

void pki_time_validity(time_t t, char out[16])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 16, "%Y%m%d%H%M%S", &tm) == 0)
		out[0] = '\0';
}

bool pki_time_index(time_t t, char out[16])
{
	struct tm tm;
	int y;

	gmtime_r(&t, &tm);
	y = tm.tm_year + 1900;
	/* UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5); openssl ca's
	 * index.txt spells times the same way */
	if (strftime(out, 16, "%Y%m%d%H%M%SZ", &tm) != 15) {
		out[0] = '\0';
		return false;
	}
	if (y < 2050)
		memmove(out, out + 2, 14);
	return y < 2050;
}

int pki_time_index_parse(const char *s, time_t *t)
{
	struct tm tm;
	size_t n = strlen(s);
	const char *p = s;
	int y;

	memset(&tm, 0, sizeof(tm));
	if ((n != 13 && n != 15) || s[n - 1] != 'Z')
		return -MGW_EINVAL;
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -MGW_EINVAL;
#define PKI_D2(q) (((q)[0] - '0') * 10 + ((q)[1] - '0'))
	if (n == 13) {
		y = PKI_D2(p);
		y += y < 50 ? 2000 : 1900;
		p += 2;
	} else {
		y = PKI_D2(p) * 100 + PKI_D2(p + 2);
		p += 4;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = PKI_D2(p) - 1;
	tm.tm_mday = PKI_D2(p + 2);
	tm.tm_hour = PKI_D2(p + 4);
	tm.tm_min = PKI_D2(p + 6);
	tm.tm_sec = PKI_D2(p + 8);
#undef PKI_D2
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -MGW_EINVAL;
	*t = timegm(&tm);
	return 0;
}

time_t pki_time_x509(const mbedtls_x509_time *xt)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = xt->year - 1900;
	tm.tm_mon = xt->mon - 1;
	tm.tm_mday = xt->day;
	tm.tm_hour = xt->hour;
	tm.tm_min = xt->min;
	tm.tm_sec = xt->sec;
	return timegm(&tm);
}

void pki_hex(const unsigned char *p, size_t n, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 2 < outsz; i++) {
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 15];
	}
	out[o] = '\0';
}

int pki_serial_norm(const char *in, char out[PKI_SERIAL_MAX])
{
	size_t o = 0;

	for (const char *s = in; *s; s++) {
		char c = *s;

		if (c == ':')
			continue;
		if (c >= 'a' && c <= 'f')
			c = (char)(c - 'a' + 'A');
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return -MGW_EINVAL;
		if (o + 1 >= PKI_SERIAL_MAX)
			return -MGW_EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	if (o == 0)
		return -MGW_EINVAL;
	if (o % 2) { /* openssl writes whole bytes */
		if (o + 1 >= PKI_SERIAL_MAX)
			return -MGW_EINVAL;
		memmove(out + 1, out, o + 1);
		out[0] = '0';
	}
	return 0;
}

void pki_serial_of(const mbedtls_x509_buf *serial, char out[PKI_SERIAL_MAX])
{
	const unsigned char *p = serial->p;
	size_t n = serial->len;

	/* a leading 00 only keeps the INTEGER positive; openssl's index omits it */
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	pki_hex(p, n, out, PKI_SERIAL_MAX);
}

int pki_fp(const unsigned char *der, size_t len, char fp[PKI_FP_MAX])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char h[32];
	size_t o = 0;

	if (mbedtls_sha256(der, len, h, 0) != 0)
		return -MGW_ETLS;
	for (size_t i = 0; i < sizeof(h); i++) {
		if (i)
			fp[o++] = ':';
		fp[o++] = hex[h[i] >> 4];
		fp[o++] = hex[h[i] & 15];
	}
	fp[o] = '\0';
	return 0;
}
