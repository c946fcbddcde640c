/*
 * bundle.c - a user's certificate bundle on a USB key: LOCAL.p12, LOCAL.crt, LOCAL.key,
 * office-ca.pem, .fetchmailrc, curl-example.sh, README.txt, and server.pem when the
 * gateway's server certificate is not one the office CA issued.
 *
 * fetchmail and curl must verify the gateway (sslcertck, --cacert). When the office CA
 * issued the server certificate, office-ca.pem does it, as in the reference article.
 * A self-signed one (first boot) or one of another CA is not verified by office-ca.pem:
 * then the server certificate file itself goes along as server.pem and the examples
 * trust it (a self-signed certificate is its own trust anchor).
 *
 * A USB key fills up or is pulled out mid-write. So every file is first written under a
 * temporary name (created O_EXCL|O_NOFOLLOW relative to the directory fd), fsynced and
 * closed - the point where a full or vanished medium shows up - and only when all of them
 * are complete are they renamed into place and the directory fsynced. On any failure the
 * temporary files and the files this call already renamed are removed: the key holds all
 * of the bundle or none of it, never a truncated key or PKCS#12 file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "mbedtls/platform_util.h"
#include "pki/pki_int.h"

#define BUNDLE_FILES 8
#define BUNDLE_TEXT_MAX 4096
#define BUNDLE_LOCAL_MAX 64
#define BUNDLE_CERTDIR_MAX 256

int pki_passphrase(char pass[PKI_PASS_MAX])
{
	/* 31 symbols without 0/o, 1/l/i; 20 of them, about 99 bits */
	static const char alpha[] = "23456789abcdefghjkmnpqrstuvwxyz";
	const unsigned lim = 256 - 256 % (sizeof(alpha) - 1); /* no modulo bias */
	unsigned char r[64];
	struct pki_rng rng;
	size_t o = 0, got = 0;
	int rc = pki_rng_init(&rng);

	while (rc == 0 && got < 20) {
		if (mbedtls_ctr_drbg_random(&rng.drbg, r, sizeof(r)) != 0) {
			rc = -MGW_ETLS;
			break;
		}
		for (size_t i = 0; i < sizeof(r) && got < 20; i++) {
			if (r[i] >= lim)
				continue;
			if (got && got % 5 == 0)
				pass[o++] = '-';
			pass[o++] = alpha[r[i] % (sizeof(alpha) - 1)];
			got++;
		}
	}
	pki_rng_free(&rng);
	mbedtls_platform_zeroize(r, sizeof(r));
	pass[rc == 0 ? o : 0] = '\0';
	return rc;
}

struct bundle_file {
	char name[BUNDLE_LOCAL_MAX + 16];
	char tmp[BUNDLE_LOCAL_MAX + 64];
	const void *data;
	size_t len;
	mode_t mode;
	bool tmp_made, placed;
};

static int bundle_errno(int e)
{
	return (e == ENOSPC || e == EDQUOT || e == EFBIG) ? -MGW_ENOSPC : -MGW_EIO;
}

static int bundle_write_tmp(int dfd, const char *dir, struct bundle_file *f, char *why,
			    size_t whysz)
{
	int fd, rc, e;

	snprintf(f->tmp, sizeof(f->tmp), ".%.79s.tmp.%ld", f->name, (long)getpid());
	unlinkat(dfd, f->tmp, 0);
	fd = openat(dfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, f->mode);
	if (fd < 0) {
		e = errno;
		return pki_why(why, whysz, bundle_errno(e), "%s/%s: cannot create: %s", dir,
			       f->name, strerror(e));
	}
	f->tmp_made = true;
	rc = file_write_all(fd, f->data, f->len);
	e = errno;
	if (rc == 0 && fsync(fd) < 0) {
		e = errno;
		rc = bundle_errno(e);
	}
	if (close(fd) < 0 && rc == 0) {
		e = errno;
		rc = bundle_errno(e);
	}
	if (rc < 0)
		return pki_why(why, whysz, rc, "%s/%s: %s", dir, f->name,
			       rc == -MGW_ENOSPC ? "no space left on the device" : strerror(e));
	return 0;
}

static int bundle_commit(const char *dir, struct bundle_file *f, size_t n, char *why, size_t whysz)
{
	int dfd, rc = 0, e;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		e = errno;
		return pki_why(why, whysz, e == ENOENT ? -MGW_ENOENT : -MGW_EIO, "%s: %s", dir,
			       strerror(e));
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = bundle_write_tmp(dfd, dir, &f[i], why, whysz);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (renameat(dfd, f[i].tmp, dfd, f[i].name) < 0) {
			e = errno;
			rc = pki_why(why, whysz, bundle_errno(e), "%s/%s: rename: %s", dir,
				     f[i].name, strerror(e));
			break;
		}
		f[i].tmp_made = false;
		f[i].placed = true;
	}
	if (rc == 0 && fsync(dfd) < 0) {
		e = errno;
		rc = pki_why(why, whysz, -MGW_EIO, "%s: fsync: %s", dir, strerror(e));
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			if (f[i].tmp_made)
				unlinkat(dfd, f[i].tmp, 0);
			if (f[i].placed)
				unlinkat(dfd, f[i].name, 0);
		}
		(void)fsync(dfd);
	}
	close(dfd);
	return rc;
}

static void bundle_date(time_t t, char out[16])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		out[0] = '\0';
}

/* The server certificate's fingerprint; *srv_pem its file when the office CA (ca_pem) did
 * not issue it (else NULL). */
static int bundle_server(const char *path, const char *ca_pem, size_t ca_len, char fp[PKI_FP_MAX],
			 char **srv_pem, size_t *srv_len, char *why, size_t whysz)
{
	mbedtls_x509_crt srv, ca;
	uint32_t flags = 0;
	char *data = NULL;
	size_t len;
	int rc;

	*srv_pem = NULL;
	mbedtls_x509_crt_init(&srv);
	mbedtls_x509_crt_init(&ca);
	rc = pki_read(NULL, path, &data, &len, why, whysz);
	if (rc < 0)
		goto out;
	if (mbedtls_x509_crt_parse(&srv, (unsigned char *)data, len + 1) != 0 ||
	    mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, ca_len + 1) != 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a readable certificate", path);
		goto out;
	}
	pki_fp(srv.raw.p, srv.raw.len, fp);
	/* issued by the office CA? (dates aside: an expired one is the admin's other problem) */
	if (mbedtls_x509_crt_verify(&srv, &ca, NULL, NULL, &flags, NULL, NULL) == 0 ||
	    (flags & ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
				 MBEDTLS_X509_BADCERT_CN_MISMATCH)) == 0)
		goto out;
	*srv_pem = data;
	*srv_len = len;
	data = NULL;
out:
	free(data);
	mbedtls_x509_crt_free(&srv);
	mbedtls_x509_crt_free(&ca);
	return rc;
}

int pki_bundle_write(const char *out_dir, const char *ca_dir, const struct pki_issued *is,
		     const struct pki_bundle_opts *o, char pass[PKI_PASS_MAX], char *why,
		     size_t whysz)
{
	struct bundle_file f[BUNDLE_FILES];
	char local[BUNDLE_LOCAL_MAX], certdir[BUNDLE_CERTDIR_MAX], srvfp[PKI_FP_MAX] = "unknown";
	char *ca_pem = NULL, *rc_txt = NULL, *curl_txt = NULL, *readme = NULL, until[16];
	char *srv_pem = NULL;
	const char *trust = "office-ca.pem";
	unsigned char *p12 = NULL;
	size_t ca_len = 0, p12_len = 0, srv_len = 0, n = 0, ll;
	unsigned pop3s = o->pop3s_port ? o->pop3s_port : 995;
	struct pki_ca_info ca;
	int rc;

	pass[0] = '\0';
	memset(f, 0, sizeof(f));
	ll = strcspn(is->login, "@");
	if (!pki_login_ok(is->login) || ll >= sizeof(local) || is->crt_pem == NULL)
		return pki_why(why, whysz, -MGW_EINVAL, "bundle: no valid certificate to write");
	memcpy(local, is->login, ll);
	local[ll] = '\0';
	if (o->host == NULL || o->host[0] == '\0' || strpbrk(o->host, " \t\r\n\"'\\$`;") != NULL)
		return pki_why(why, whysz, -MGW_EINVAL,
			       "bundle: the gateway's host name is not "
			       "valid");
	if (o->cert_dir != NULL && (strpbrk(o->cert_dir, " \t\r\n\"'\\$`;") != NULL ||
				    strlen(o->cert_dir) >= BUNDLE_CERTDIR_MAX))
		return pki_why(why, whysz, -MGW_EINVAL, "bundle: %s: not a usable folder name",
			       o->cert_dir);
	snprintf(certdir, sizeof(certdir), "%.255s", o->cert_dir ? o->cert_dir : "");
	if (o->cert_dir == NULL)
		snprintf(certdir, sizeof(certdir), "/home/%s/.certs", local);
	rc = pki_ca_info(ca_dir, time(NULL), &ca, why, whysz);
	if (rc == 0)
		rc = pki_read(ca_dir, PKI_F_CA_CRT, &ca_pem, &ca_len, why, whysz);
	if (rc < 0)
		goto out;
	if (o->server_crt != NULL) {
		rc = bundle_server(o->server_crt, ca_pem, ca_len, srvfp, &srv_pem, &srv_len, why,
				   whysz);
		if (rc < 0)
			goto out;
		if (srv_pem != NULL)
			trust = "server.pem";
	}
	if (is->key_pem != NULL) {
		rc = pki_passphrase(pass);
		if (rc < 0) {
			pki_why(why, whysz, rc, "random number generator failed");
			goto out;
		}
		rc = pki_p12_build(is->key_pem, is->crt_pem, ca_pem, is->login, pass, &p12,
				   &p12_len, why, whysz);
		if (rc < 0)
			goto out;
	}
	rc = -MGW_ENOMEM;
	rc_txt = malloc(BUNDLE_TEXT_MAX);
	curl_txt = malloc(BUNDLE_TEXT_MAX);
	readme = malloc(BUNDLE_TEXT_MAX);
	if (rc_txt == NULL || curl_txt == NULL || readme == NULL) {
		pki_why(why, whysz, rc, "bundle: out of memory");
		goto out;
	}
	/* the reference article's shape (README "A .fetchmailrc for a user") */
	snprintf(rc_txt, BUNDLE_TEXT_MAX,
		 "# .fetchmailrc for %s (written by the mail gateway's console).\n"
		 "# Copy it to your home folder and keep it private (chmod 600 ~/.fetchmailrc).\n"
		 "# fetchmail wants absolute paths: the files are expected in %s\n"
		 "# (put them elsewhere: change the three paths below).\n"
		 "# Reaching the gateway by an address, another name or a forwarded port:\n"
		 "# change poll and service and add  sslcommonname %s  after sslcertck.\n"
		 "# fetchmail asks for your password; for unattended runs add\n"
		 "#   password \"YOUR PASSWORD\"  after the user name below.\n"
		 "poll %s service %u protocol POP3\n"
		 "user \"%s\" is %s here\n"
		 "   ssl sslcertck sslcertfile %s/%s\n"
		 "   sslcert %s/%s.crt sslkey %s/%s.key\n"
		 "   keep\n",
		 is->login, certdir, o->host, o->host, pop3s, is->login, local, certdir, trust,
		 certdir, local, certdir, local);
	snprintf(curl_txt, BUNDLE_TEXT_MAX,
		 "#!/bin/sh\n"
		 "# Lists your mailbox on the gateway over POP3S with your certificate\n"
		 "# (curl asks for your password). Add /1 to the URL to fetch message 1.\n"
		 "cd \"$(dirname \"$0\")\" || exit 1\n"
		 "exec curl --cacert %s --cert %s.crt --key %s.key \\\n"
		 "    --user '%s' pop3s://%s:%u/\n",
		 trust, local, local, is->login, o->host, pop3s);
	bundle_date(is->not_after, until);
	n = (size_t)snprintf(
	    readme, BUNDLE_TEXT_MAX,
	    "Mail certificate for %s\n"
	    "\n"
	    "Serial %s, valid until %s, issued by %s.\n"
	    "\n"
	    "Files:\n"
	    "  %s.p12        your key and certificate with the office CA, for mail programs\n"
	    "                (Thunderbird, Outlook, Apple Mail, Android). Its passphrase was\n"
	    "                shown once on the gateway's console; it is not stored anywhere.\n"
	    "  %s.crt, %s.key  the same certificate and key as PEM (fetchmail, curl).\n"
	    "                Keep the key secret.\n"
	    "  office-ca.pem  the office CA: it signed the gateway's users' certificates.\n"
	    "  .fetchmailrc   ready for fetchmail; curl-example.sh: the same with curl.\n"
	    "%s"
	    "\n"
	    "The gateway's server certificate, SHA-256 fingerprint (compare it when your\n"
	    "mail program asks you to accept the server):\n"
	    "  %s\n"
	    "\n"
	    "Mail program settings (incoming mail):\n"
	    "  POP3: server %s, port %u, connection security SSL/TLS,\n"
	    "        user name %s, authentication normal password,\n"
	    "        client certificate: the one imported from %s.p12.\n",
	    is->login, is->serial, until, ca.subject, local, local, local,
	    srv_pem
		? "  server.pem     the gateway's own certificate: fetchmail and curl trust it\n"
		  "                 to know they talk to the gateway.\n"
		: "",
	    srvfp, o->host, pop3s, is->login, local);
	if (o->imaps_port && n < BUNDLE_TEXT_MAX)
		n += (size_t)snprintf(readme + n, BUNDLE_TEXT_MAX - n,
				      "  IMAP: server %s, port %u, SSL/TLS, the same user name "
				      "and certificate.\n",
				      o->host, o->imaps_port);
	if (n < BUNDLE_TEXT_MAX)
		n += (size_t)snprintf(
		    readme + n, BUNDLE_TEXT_MAX - n,
		    "\n"
		    "fetchmail: copy .fetchmailrc to your home folder (chmod 600) and %s.crt,\n"
		    "%s.key and %s to %s, or change the paths in it; %s.key is your\n"
		    "private key: keep it private too (chmod 600). Reaching\n"
		    "the gateway by an address, another name than %s or a forwarded port:\n"
		    "change \"poll\" and \"service\" and add  sslcommonname %s  after "
		    "\"sslcertck\"\n"
		    "(the name in the gateway's certificate). Without a mail server on your "
		    "machine,\n"
		    "add an mda (see man fetchmail) after \"keep\".\n"
		    "\n",
		    local, local, trust, certdir, local, o->host, o->host);
	if (n < BUNDLE_TEXT_MAX)
		snprintf(readme + n, BUNDLE_TEXT_MAX - n,
			 "The gateway accepts no mail program without this certificate, and only\n"
			 "for %s. Lost or stolen? Tell the admin: it is revoked at once.\n",
			 is->login);
	n = 0;
#define BUNDLE_ADD(nm, d, l, m)                                                                    \
	do {                                                                                       \
		snprintf(f[n].name, sizeof(f[n].name), "%s", nm);                                  \
		f[n].data = (d);                                                                   \
		f[n].len = (l);                                                                    \
		f[n].mode = (m);                                                                   \
		n++;                                                                               \
	} while (0)
	{
		char p12n[BUNDLE_LOCAL_MAX + 8], crtn[BUNDLE_LOCAL_MAX + 8],
		    keyn[BUNDLE_LOCAL_MAX + 8];

		snprintf(p12n, sizeof(p12n), "%s.p12", local);
		snprintf(crtn, sizeof(crtn), "%s.crt", local);
		snprintf(keyn, sizeof(keyn), "%s.key", local);
		if (p12 != NULL)
			BUNDLE_ADD(p12n, p12, p12_len, 0600);
		BUNDLE_ADD(crtn, is->crt_pem, is->crt_len, 0644);
		if (is->key_pem != NULL)
			BUNDLE_ADD(keyn, is->key_pem, is->key_len, 0600);
	}
	BUNDLE_ADD("office-ca.pem", ca_pem, ca_len, 0644);
	if (srv_pem != NULL)
		BUNDLE_ADD("server.pem", srv_pem, srv_len, 0644);
	BUNDLE_ADD(".fetchmailrc", rc_txt, strlen(rc_txt), 0600);
	BUNDLE_ADD("curl-example.sh", curl_txt, strlen(curl_txt), 0755);
	BUNDLE_ADD("README.txt", readme, strlen(readme), 0644);
#undef BUNDLE_ADD
	rc = bundle_commit(out_dir, f, n, why, whysz);
out:
	if (rc < 0)
		mbedtls_platform_zeroize(pass, PKI_PASS_MAX);
	if (rc < 0)
		pass[0] = '\0';
	if (p12) {
		mbedtls_platform_zeroize(p12, p12_len);
		free(p12);
	}
	free(ca_pem);
	free(srv_pem);
	free(rc_txt);
	free(curl_txt);
	free(readme);
	return rc;
}
