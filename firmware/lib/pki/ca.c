/*
 * ca.c - the office CA: create one, import one (also the reference article's CAcrl-bundle,
 * the CA certificate with its CRL appended), load it for signing, describe it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "mbedtls/asn1.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha1.h"
#include "pki/pki_int.h"

#define PKI_CA_NAME_MAX 200

int pki_ca_keyid(const mbedtls_x509_crt *crt, unsigned char *id, size_t *len)
{
	unsigned char *p = crt->pk_raw.p, *end = p + crt->pk_raw.len;
	mbedtls_asn1_bitstring bs;
	size_t l;

	if (crt->subject_key_id.len > 0 && crt->subject_key_id.len <= PKI_KEYID_MAX) {
		memcpy(id, crt->subject_key_id.p, crt->subject_key_id.len);
		*len = crt->subject_key_id.len;
		return 0;
	}
	/* RFC 5280 section 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING */
	if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
	    mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
		return -MGW_EINVAL;
	p += l;
	if (mbedtls_asn1_get_bitstring(&p, end, &bs) != 0 || mbedtls_sha1(bs.p, bs.len, id) != 0)
		return -MGW_EINVAL;
	*len = 20;
	return 0;
}

void pki_ca_free(struct pki_ca *ca)
{
	mbedtls_x509_crt_free(&ca->crt);
	mbedtls_pk_free(&ca->key);
}

/* Parses a private key (PEM NUL-terminated at buf[len], or DER). */
static int pki_key_parse(mbedtls_pk_context *key, const char *buf, size_t len, struct pki_rng *rng,
			 const char *name, char *why, size_t whysz)
{
	bool pem = strstr(buf, "-----BEGIN") != NULL;
	char e[160];
	int ret;

	ret = mbedtls_pk_parse_key(key, (const unsigned char *)buf, pem ? len + 1 : len, NULL, 0,
				   mbedtls_ctr_drbg_random, &rng->drbg);
	if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED)
		return pki_why(why, whysz, -MGW_EINVAL,
			       "%s: the key is encrypted; give it unencrypted (openssl pkey -in "
			       "KEY -out PLAIN)",
			       name);
	if (ret != 0)
		return pki_why(why, whysz, -MGW_EINVAL, "%s: not a private key: %s", name,
			       pki_tls_err(ret, e, sizeof(e)));
	return 0;
}

static int pki_key_matches(const mbedtls_x509_crt *crt, mbedtls_pk_context *key,
			   struct pki_rng *rng, const char *name, char *why, size_t whysz)
{
	if (mbedtls_pk_check_pair(&crt->pk, key, mbedtls_ctr_drbg_random, &rng->drbg) != 0)
		return pki_why(why, whysz, -MGW_EINVAL,
			       "%s: this key does not belong to the CA certificate", name);
	return 0;
}

int pki_ca_load(const char *dir, bool need_key, struct pki_ca *ca, char *why, size_t whysz)
{
	char path[PKI_PATH_MAX], *data = NULL, e[160];
	struct pki_rng rng;
	size_t len;
	int rc, ret;

	memset(ca, 0, sizeof(*ca));
	mbedtls_x509_crt_init(&ca->crt);
	mbedtls_pk_init(&ca->key);
	rc = pki_rng_init(&rng);
	if (rc < 0) {
		rc = pki_why(why, whysz, rc, "random number generator failed");
		goto out;
	}
	rc = pki_dir_check(dir, 0700, false, why, whysz);
	if (rc == -MGW_ENOENT)
		pki_why(why, whysz, rc, "%s: no CA here (ca create or ca import first)", dir);
	if (rc < 0)
		goto out;
	rc = pki_read(dir, PKI_F_CA_CRT, &data, &len, why, whysz);
	if (rc == -MGW_ENOENT)
		pki_why(why, whysz, rc, "%s/%s: no CA certificate (ca create or ca import first)",
			dir, PKI_F_CA_CRT);
	if (rc < 0)
		goto out;
	ret = mbedtls_x509_crt_parse(&ca->crt, (unsigned char *)data, len + 1);
	free(data);
	data = NULL;
	if (ret != 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s/%s: not a valid certificate: %s", dir,
			     PKI_F_CA_CRT, pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	if (pki_ca_keyid(&ca->crt, ca->keyid, &ca->keyid_len) < 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s/%s: cannot read its public key", dir,
			     PKI_F_CA_CRT);
		goto out;
	}
	rc = pki_read(dir, PKI_F_CA_KEY, &data, &len, why, whysz);
	if (rc == -MGW_ENOENT && !need_key) {
		rc = 0;
		goto out;
	}
	if (rc == -MGW_ENOENT)
		pki_why(why, whysz, rc,
			"%s/%s: the CA's key is not on the gateway (imported without it): it "
			"cannot sign",
			dir, PKI_F_CA_KEY);
	if (rc < 0)
		goto out;
	pki_path(path, dir, PKI_F_CA_KEY);
	rc = pki_key_parse(&ca->key, data, len, &rng, path, why, whysz);
	if (rc == 0)
		rc = pki_key_matches(&ca->crt, &ca->key, &rng, path, why, whysz);
	if (rc == 0)
		ca->has_key = true;
out:
	if (data) {
		mbedtls_platform_zeroize(data, len);
		free(data);
	}
	pki_rng_free(&rng);
	return rc;
}

static void pki_ca_fill(const mbedtls_x509_crt *crt, struct pki_ca_info *info)
{
	if (mbedtls_x509_dn_gets(info->subject, sizeof(info->subject), &crt->subject) < 0)
		info->subject[0] = '\0';
	pki_fp(crt->raw.p, crt->raw.len, info->fp);
	info->not_before = pki_time_x509(&crt->valid_from);
	info->not_after = pki_time_x509(&crt->valid_to);
}

int pki_ca_show_nth(const char *crt_path, unsigned index, struct pki_ca_info *info, char *why,
		    size_t whysz)
{
	mbedtls_x509_crt set;
	const mbedtls_x509_crt *crt = &set;
	char *data = NULL, e[160];
	size_t len;
	int rc, ret;

	memset(info, 0, sizeof(*info));
	mbedtls_x509_crt_init(&set);
	rc = pki_read(NULL, crt_path, &data, &len, why, whysz);
	if (rc < 0)
		goto out;
	ret = mbedtls_x509_crt_parse(&set, (const unsigned char *)data,
				     strstr(data, "-----BEGIN") ? len + 1 : len);
	if (ret != 0) {
		rc = pki_why(why, whysz, -MGW_EINVAL, "%s: not a valid certificate: %s", crt_path,
			     ret > 0 ? "a block does not parse" : pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	for (unsigned i = 0; i < index && crt != NULL; i++)
		crt = crt->next;
	if (crt == NULL || crt->raw.p == NULL) {
		rc = -MGW_ENOENT;
		goto out;
	}
	pki_ca_fill(crt, info);
	rc = 0;
out:
	free(data);
	mbedtls_x509_crt_free(&set);
	return rc;
}

int pki_ca_info(const char *dir, time_t now, struct pki_ca_info *info, char *why, size_t whysz)
{
	struct pki_ca ca;
	struct pki_crl_info ci;
	char crl[PKI_PATH_MAX], crt[PKI_PATH_MAX], ignored[PKI_WHY_MAX];
	int rc;

	memset(info, 0, sizeof(*info));
	rc = pki_ca_load(dir, false, &ca, why, whysz);
	if (rc == 0) {
		pki_ca_fill(&ca.crt, info);
		info->has_key = ca.has_key;
		pki_path(crl, dir, PKI_F_CRL);
		pki_path(crt, dir, PKI_F_CA_CRT);
		if (pki_crl_show(crl, crt, now, &ci, ignored, sizeof(ignored)) == 0) {
			info->has_crl = true;
			info->crl_next_update = ci.next_update;
		}
		pki_crl_info_free(&ci);
	}
	pki_ca_free(&ca);
	return rc;
}

/* A plain common name, or a DN in mbedTLS's syntax; printable ASCII only. */
static int pki_ca_name(const char *name, char *dn, size_t dnsz, char *why, size_t whysz)
{
	size_t n = strlen(name);

	if (n == 0 || n > PKI_CA_NAME_MAX)
		return pki_why(why, whysz, -MGW_EINVAL, "CA name: 1 to %d characters",
			       PKI_CA_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return pki_why(why, whysz, -MGW_EINVAL,
				       "CA name: printable ASCII characters only");
	if (strchr(name, '=') != NULL) {
		snprintf(dn, dnsz, "%s", name);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(" -._@'", c)))
			return pki_why(why, whysz, -MGW_EINVAL,
				       "CA name: letters, digits, space and -._@' only (or a DN "
				       "like CN=Office CA,O=Example)");
	}
	snprintf(dn, dnsz, "CN=%s", name);
	return 0;
}

static const char *const pki_ca_files[] = {PKI_F_CA_KEY, PKI_F_CA_CRT,	  PKI_F_CRL,  PKI_F_INDEX,
					   PKI_F_SERIAL, PKI_F_CRLNUMBER, PKI_F_CERTS};

/* Removes the files of a CA that failed half-way through its creation. */
static void pki_ca_clear(const char *dir)
{
	char path[PKI_PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (pki_path(path, dir, PKI_F_CERTS) == 0 && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
		rmdir(path);
	}
	for (size_t i = 0; i < MGW_ARRAY_LEN(pki_ca_files); i++)
		if (pki_path(path, dir, pki_ca_files[i]) == 0)
			unlink(path);
}

/* Moves the files of the CA being replaced from dir into dir/stash (renames in one file
 * system; undone by pki_ca_unstash). The old CA is kept, not destroyed: its key may still
 * be needed. 0, or an error with nothing moved. */
static int pki_ca_move(const char *from, const char *to, size_t upto, char *why, size_t whysz)
{
	char a[PKI_PATH_MAX], b[PKI_PATH_MAX];

	for (size_t i = 0; i < upto; i++) {
		if (pki_path(a, from, pki_ca_files[i]) < 0 || pki_path(b, to, pki_ca_files[i]) < 0)
			return pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", from);
		if (rename(a, b) < 0 && errno != ENOENT) {
			int e = errno;

			pki_ca_move(to, from, i, NULL, 0);
			return pki_why(why, whysz, -MGW_EIO, "%s: cannot move to %s: %s", a, to,
				       strerror(e));
		}
	}
	return 0;
}

static int pki_ca_stash(const char *dir, time_t now, char *stash, size_t sz, char *why,
			size_t whysz)
{
	char when[16];
	int rc;

	pki_time_validity(now, when);
	if (snprintf(stash, sz, "%s/replaced-%s", dir, when) >= (int)sz)
		return pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", dir);
	if (mkdir(stash, 0700) < 0)
		return pki_why(why, whysz, -MGW_EIO, "%s: %s", stash, strerror(errno));
	rc = pki_ca_move(dir, stash, MGW_ARRAY_LEN(pki_ca_files), why, whysz);
	if (rc < 0)
		rmdir(stash);
	return rc;
}

static void pki_ca_unstash(const char *dir, const char *stash)
{
	pki_ca_clear(dir);
	if (pki_ca_move(stash, dir, MGW_ARRAY_LEN(pki_ca_files), NULL, 0) == 0)
		rmdir(stash);
}

static int pki_ca_absent(const char *dir, unsigned flags, char *why, size_t whysz)
{
	char path[PKI_PATH_MAX];

	if (flags & PKI_F_REPLACE)
		return 0;
	if (pki_path(path, dir, PKI_F_CA_CRT) < 0)
		return pki_why(why, whysz, -MGW_ELIMIT, "%s: path too long", dir);
	if (access(path, F_OK) == 0)
		return pki_why(why, whysz, -MGW_EEXIST, "%s: a CA exists already", path);
	pki_path(path, dir, PKI_F_CA_KEY);
	if (access(path, F_OK) == 0)
		return pki_why(why, whysz, -MGW_EEXIST, "%s: a CA key exists already", path);
	return 0;
}

/* Writes ca.crt (and ca.key), the empty database and the CRL (given, or signed now). */
static int pki_ca_install(const char *dir, const char *crt_pem, size_t crt_len, const char *key_pem,
			  size_t key_len, const char *crl_pem, size_t crl_len, unsigned crl_days,
			  time_t now, struct pki_rng *rng, char *stash, size_t stashsz, char *why,
			  size_t whysz)
{
	char path[PKI_PATH_MAX];
	struct pki_ca ca;
	int rc = 0;

	stash[0] = '\0';
	/* pki_ca_absent() let us in: an existing CA is being replaced on purpose */
	if (pki_path(path, dir, PKI_F_CA_CRT) == 0 && access(path, F_OK) == 0)
		rc = pki_ca_stash(dir, now, stash, stashsz, why, whysz);
	pki_path(path, dir, PKI_F_CA_KEY);
	if (rc == 0 && stash[0] == '\0' && access(path, F_OK) == 0)
		rc = pki_ca_stash(dir, now, stash, stashsz, why, whysz);
	if (rc < 0) {
		stash[0] = '\0';
		return rc;
	}
	if (key_pem)
		rc = pki_write(dir, PKI_F_CA_KEY, key_pem, key_len, 0600, why, whysz);
	if (rc == 0)
		rc = pki_write(dir, PKI_F_CA_CRT, crt_pem, crt_len, 0600, why, whysz);
	if (rc == 0)
		rc = pki_db_create(dir, rng, why, whysz);
	if (rc == 0 && crl_pem)
		rc = pki_write(dir, PKI_F_CRL, crl_pem, crl_len, 0600, why, whysz);
	if (rc == 0 && crl_pem == NULL && key_pem) {
		rc = pki_ca_load(dir, true, &ca, why, whysz);
		if (rc == 0)
			rc = pki_crl_sign_locked(dir, &ca, crl_days, now, NULL, NULL, why, whysz);
		pki_ca_free(&ca);
	}
	if (rc < 0) {
		/* no half CA: the new files go, the replaced CA comes back */
		if (stash[0] != '\0')
			pki_ca_unstash(dir, stash);
		else
			pki_ca_clear(dir);
		stash[0] = '\0';
	}
	return rc;
}

int pki_ca_create(const char *dir, const char *name, unsigned crl_days, unsigned flags, time_t now,
		  struct pki_ca_info *info, char *why, size_t whysz)
{
	unsigned char serial[PKI_SERIAL_LEN], keyid[PKI_KEYID_MAX], *der = NULL;
	unsigned char keypem[PKI_DER_MAX];
	char dn[PKI_DN_MAX], *crt_pem = NULL, e[160], stash[PKI_PATH_MAX_INFO];
	size_t der_len = 0, crt_len = 0, keyid_len = 0;
	mbedtls_pk_context key;
	mbedtls_x509_crt crt;
	struct pki_rng rng;
	int lock = -1, rc, ret;

	mbedtls_pk_init(&key);
	mbedtls_x509_crt_init(&crt);
	rc = pki_rng_init(&rng);
	if (rc < 0) {
		rc = pki_why(why, whysz, rc, "random number generator failed");
		goto out;
	}
	rc = pki_ca_name(name, dn, sizeof(dn), why, whysz);
	if (rc == 0)
		rc = pki_dir_check(dir, 0700, true, why, whysz);
	if (rc < 0)
		goto out;
	lock = pki_lock(dir, why, whysz);
	if (lock < 0) {
		rc = lock;
		goto out;
	}
	rc = pki_ca_absent(dir, flags, why, whysz);
	if (rc < 0)
		goto out;
	rc = -MGW_ETLS;
	ret = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (ret == 0)
		ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
					  mbedtls_ctr_drbg_random, &rng.drbg);
	if (ret == 0)
		ret = pki_serial_new(&rng, serial);
	if (ret == 0)
		ret = mbedtls_pk_write_key_pem(&key, keypem, sizeof(keypem));
	if (ret != 0) {
		pki_why(why, whysz, rc, "CA key generation failed: %s",
			pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	{
		/* the key identifier mbedTLS writes as SKI is SHA-1 of the public key (method 1);
		 * computed the same way here for the self-signed AKI */
		struct pki_crt_spec s = {
		    .subject_key = &key,
		    .issuer_key = &key,
		    .subject = dn,
		    .issuer = dn,
		    .serial = serial,
		    .serial_len = sizeof(serial),
		    .from = now - 3600,
		    .to = now + (time_t)PKI_CA_DAYS * 86400,
		    .ca = true,
		};

		rc = pki_crt_make(&s, &rng, &der, &der_len, why, whysz);
		if (rc < 0)
			goto out;
	}
	ret = mbedtls_x509_crt_parse_der(&crt, der, der_len);
	if (ret != 0 || pki_ca_keyid(&crt, keyid, &keyid_len) < 0) {
		rc = pki_why(why, whysz, -MGW_ETLS, "CA certificate does not parse back");
		goto out;
	}
	rc = pki_pem("CERTIFICATE", der, der_len, &crt_pem, &crt_len);
	if (rc < 0) {
		pki_why(why, whysz, rc, "CA certificate: PEM encoding failed");
		goto out;
	}
	rc = pki_ca_install(dir, crt_pem, crt_len, (char *)keypem, strlen((char *)keypem), NULL, 0,
			    crl_days, now, &rng, stash, sizeof(stash), why, whysz);
	if (rc == 0 && info != NULL) {
		memset(info, 0, sizeof(*info));
		pki_ca_fill(&crt, info);
		info->has_key = true;
		info->has_crl = true;
		info->crl_next_update = now + (time_t)(crl_days ? crl_days : PKI_CRL_DAYS) * 86400;
		snprintf(info->replaced, sizeof(info->replaced), "%s", stash);
	}
out:
	mbedtls_platform_zeroize(keypem, sizeof(keypem));
	free(der);
	free(crt_pem);
	mbedtls_x509_crt_free(&crt);
	mbedtls_pk_free(&key);
	pki_rng_free(&rng);
	pki_unlock(lock);
	return rc;
}

/* What an import brings, checked. */
struct pki_ca_src {
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	bool has_key;
	char *crt_pem, *key_pem, *crl_pem;
	size_t crt_len, key_len, crl_len;
};

static void pki_ca_src_free(struct pki_ca_src *s)
{
	mbedtls_x509_crt_free(&s->crt);
	mbedtls_pk_free(&s->key);
	free(s->crt_pem);
	if (s->key_pem) {
		mbedtls_platform_zeroize(s->key_pem, s->key_len);
		free(s->key_pem);
	}
	free(s->crl_pem);
}

static int pki_ca_examine(const char *crt_path, const char *key_path, const char *crl_path,
			  struct pki_rng *rng, struct pki_ca_src *s, char *why, size_t whysz)
{
	mbedtls_x509_crl crl;
	char *data = NULL, *crldata = NULL, e[160];
	size_t len = 0, crllen;
	int rc, ret;

	memset(s, 0, sizeof(*s));
	mbedtls_x509_crt_init(&s->crt);
	mbedtls_pk_init(&s->key);
	mbedtls_x509_crl_init(&crl);
	rc = pki_read(NULL, crt_path, &data, &len, why, whysz);
	if (rc < 0)
		goto out;
	rc = -MGW_EINVAL;
	ret = mbedtls_x509_crt_parse(&s->crt, (unsigned char *)data,
				     strstr(data, "-----BEGIN") ? len + 1 : len);
	if (ret != 0) {
		pki_why(why, whysz, rc, "%s: not a valid certificate: %s", crt_path,
			ret > 0 ? "a block does not parse" : pki_tls_err(ret, e, sizeof(e)));
		goto out;
	}
	if (s->crt.next != NULL) {
		pki_why(why, whysz, rc, "%s: holds more than one certificate; give the CA's alone",
			crt_path);
		goto out;
	}
	if (!mbedtls_x509_crt_get_ca_istrue(&s->crt)) {
		pki_why(why, whysz, rc,
			"%s: not a CA certificate (basicConstraints CA:TRUE missing)", crt_path);
		goto out;
	}
	if (pki_pem("CERTIFICATE", s->crt.raw.p, s->crt.raw.len, &s->crt_pem, &s->crt_len) < 0) {
		pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", crt_path);
		goto out;
	}
	/* the reference article's CAcrl-bundle: the CA's CRL appended to its certificate */
	if (strstr(data, "-----BEGIN X509 CRL-----") != NULL) {
		if (crl_path != NULL) {
			pki_why(why, whysz, rc, "%s: holds a CRL already; give no second one",
				crt_path);
			goto out;
		}
		crldata = data;
		crllen = len;
		crl_path = crt_path;
		data = NULL;
	} else if (crl_path != NULL) {
		rc = pki_read(NULL, crl_path, &crldata, &crllen, why, whysz);
		if (rc < 0)
			goto out;
		rc = -MGW_EINVAL;
	}
	if (crldata != NULL) {
		ret = mbedtls_x509_crl_parse(&crl, (unsigned char *)crldata,
					     strstr(crldata, "-----BEGIN") ? crllen + 1 : crllen);
		if (ret != 0 || crl.next != NULL) {
			pki_why(why, whysz, rc, "%s: the CRL does not parse or is not alone",
				crl_path);
			goto out;
		}
		rc = pki_crl_check(&s->crt, (char *)crl.raw.p, crl.raw.len, crl_path, why, whysz);
		if (rc < 0)
			goto out;
		rc = -MGW_EINVAL;
		if (pki_pem("X509 CRL", crl.raw.p, crl.raw.len, &s->crl_pem, &s->crl_len) < 0) {
			pki_why(why, whysz, -MGW_ENOMEM, "%s: out of memory", crl_path);
			goto out;
		}
	}
	if (key_path != NULL) {
		unsigned char pem[PKI_DER_MAX * 2];

		free(data);
		data = NULL;
		rc = pki_read(NULL, key_path, &data, &len, why, whysz);
		if (rc == 0)
			rc = pki_key_parse(&s->key, data, len, rng, key_path, why, whysz);
		if (rc == 0)
			rc = pki_key_matches(&s->crt, &s->key, rng, key_path, why, whysz);
		if (rc < 0)
			goto out;
		rc = -MGW_EINVAL;
		if (mbedtls_pk_write_key_pem(&s->key, pem, sizeof(pem)) != 0 ||
		    (s->key_pem = strdup((char *)pem)) == NULL) {
			mbedtls_platform_zeroize(pem, sizeof(pem));
			pki_why(why, whysz, rc, "%s: cannot re-encode the key", key_path);
			goto out;
		}
		mbedtls_platform_zeroize(pem, sizeof(pem));
		s->key_len = strlen(s->key_pem);
		s->has_key = true;
	}
	rc = 0;
out:
	if (data) {
		mbedtls_platform_zeroize(data, len);
		free(data);
	}
	free(crldata);
	mbedtls_x509_crl_free(&crl);
	if (rc < 0)
		pki_ca_src_free(s);
	return rc;
}

static void pki_ca_src_info(const struct pki_ca_src *s, struct pki_ca_info *info)
{
	memset(info, 0, sizeof(*info));
	pki_ca_fill(&s->crt, info);
	info->has_key = s->has_key;
	info->has_crl = s->crl_pem != NULL;
	if (s->crl_pem != NULL) {
		mbedtls_x509_crl crl;

		mbedtls_x509_crl_init(&crl);
		if (mbedtls_x509_crl_parse(&crl, (unsigned char *)s->crl_pem, s->crl_len + 1) == 0)
			info->crl_next_update = pki_time_x509(&crl.next_update);
		mbedtls_x509_crl_free(&crl);
	}
}

int pki_ca_inspect(const char *crt_path, const char *key_path, time_t now, struct pki_ca_info *info,
		   char *why, size_t whysz)
{
	struct pki_ca_src s;
	struct pki_rng rng;
	int rc;

	(void)now;
	rc = pki_rng_init(&rng);
	if (rc < 0)
		rc = pki_why(why, whysz, rc, "random number generator failed");
	else
		rc = pki_ca_examine(crt_path, key_path, NULL, &rng, &s, why, whysz);
	if (rc == 0) {
		pki_ca_src_info(&s, info);
		pki_ca_src_free(&s);
	}
	pki_rng_free(&rng);
	return rc;
}

int pki_ca_import(const char *dir, const char *crt_path, const char *key_path, const char *crl_path,
		  unsigned crl_days, unsigned flags, time_t now, struct pki_ca_info *info,
		  char *why, size_t whysz)
{
	struct pki_ca_src s;
	struct pki_rng rng;
	char stash[PKI_PATH_MAX_INFO];
	bool have_src = false;
	int lock = -1, rc;

	rc = pki_rng_init(&rng);
	if (rc < 0) {
		rc = pki_why(why, whysz, rc, "random number generator failed");
		goto out;
	}
	rc = pki_ca_examine(crt_path, key_path, crl_path, &rng, &s, why, whysz);
	if (rc < 0)
		goto out;
	have_src = true;
	rc = pki_dir_check(dir, 0700, true, why, whysz);
	if (rc < 0)
		goto out;
	lock = pki_lock(dir, why, whysz);
	if (lock < 0) {
		rc = lock;
		goto out;
	}
	rc = pki_ca_absent(dir, flags, why, whysz);
	if (rc == 0)
		rc = pki_ca_install(dir, s.crt_pem, s.crt_len, s.key_pem, s.key_len, s.crl_pem,
				    s.crl_len, crl_days, now, &rng, stash, sizeof(stash), why,
				    whysz);
	if (rc == 0 && info != NULL) {
		char crl[PKI_PATH_MAX];

		pki_ca_src_info(&s, info);
		if (!info->has_crl && pki_path(crl, dir, PKI_F_CRL) == 0 &&
		    access(crl, F_OK) == 0) {
			info->has_crl = true;
			info->crl_next_update =
			    now + (time_t)(crl_days ? crl_days : PKI_CRL_DAYS) * 86400;
		}
		snprintf(info->replaced, sizeof(info->replaced), "%s", stash);
	}
out:
	if (have_src)
		pki_ca_src_free(&s);
	pki_rng_free(&rng);
	pki_unlock(lock);
	return rc;
}
