/*
 * gcm.c - AES-GCM (NIST SP 800-38D) for mbedTLS as MBEDTLS_GCM_ALT: the streaming API
 * of mbedtls/gcm.h over whole-block operations of one of three paths (gcm_int.h), and
 * the portable path.
 *
 * This file keeps the partial blocks: associated data and text arrive in any chunk sizes,
 * and the result is the same as in one piece. Errors and limits are mbedTLS's own
 * (library/gcm.c): IV of 1 to 2^61 - 1 bytes, associated data below 2^61 bytes, text at
 * most 2^36 - 32 bytes, tags of 4 to 16 bytes, output not overlapping the input from
 * above. Associated data after text is refused (mbedTLS would silently hash it wrong).
 *
 * Constant time: the accelerated paths use no table and no branch on key or data. The
 * portable path uses mbedTLS's AES (its hardware code where it has one, else its tables,
 * as stock mbedTLS) and Shoup's 4-bit GHASH tables indexed by the data being hashed, as
 * stock mbedTLS's GHASH; its reduction step is computed, not looked up. The tag check of
 * mbedtls_gcm_auth_decrypt is mbedtls_ct_memcmp.
 */
#include <stdlib.h>
#include <string.h>

#include "mbedtls/constant_time.h"
#include "mbedtls/platform_util.h"

#include "gcm_int.h"

static const struct gcm_ops *gcm_ops_for(enum gcm_impl impl)
{
	switch (impl) {
#if defined(__x86_64__)
	case GCM_IMPL_X86:
		return &gcm_ops_x86;
#endif
#if defined(__aarch64__)
	case GCM_IMPL_ARM64:
		return &gcm_ops_arm64;
#endif
	default:
		return &gcm_ops_portable;
	}
}

static const struct gcm_ops *gcm_ops_of(const mbedtls_gcm_context *ctx)
{
	return gcm_ops_for((enum gcm_impl)ctx->impl);
}

/* ---- choosing the path ---------------------------------------------------------- */

/* 0: not decided yet; else 1 + enum gcm_impl. Decided once per process (cpuid, the
 * auxiliary vector and the environment do not change); racing first callers compute the
 * same value. gcm_alt_force_portable overrides it. */
static int gcm_best_impl;
static int gcm_forced_portable;

static enum gcm_impl gcm_detect(void)
{
	const char *env = getenv("MAILGW_GCM_PORTABLE");

	if (env && strcmp(env, "1") == 0)
		return GCM_IMPL_PORTABLE;
#if defined(__x86_64__)
	if (gcm_x86_supported())
		return GCM_IMPL_X86;
#endif
#if defined(__aarch64__)
	if (gcm_arm64_supported())
		return GCM_IMPL_ARM64;
#endif
	return GCM_IMPL_PORTABLE;
}

static enum gcm_impl gcm_choose(void)
{
	int best;

	if (__atomic_load_n(&gcm_forced_portable, __ATOMIC_RELAXED))
		return GCM_IMPL_PORTABLE;
	best = __atomic_load_n(&gcm_best_impl, __ATOMIC_RELAXED);
	if (best == 0) {
		best = 1 + (int)gcm_detect();
		__atomic_store_n(&gcm_best_impl, best, __ATOMIC_RELAXED);
	}
	return (enum gcm_impl)(best - 1);
}

void gcm_alt_force_portable(bool on)
{
	__atomic_store_n(&gcm_forced_portable, on ? 1 : 0, __ATOMIC_RELAXED);
}

const char *gcm_alt_impl_name(const mbedtls_gcm_context *ctx)
{
	if (ctx && ctx->impl != GCM_IMPL_NONE)
		return gcm_ops_of(ctx)->name;
	return gcm_ops_for(gcm_choose())->name;
}

/* ---- key expansion for the accelerated paths ------------------------------------ */

static uint32_t gcm_load32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void gcm_key_expand(mbedtls_gcm_context *ctx, const uint8_t *key, unsigned bits,
		    uint32_t (*sub_word)(uint32_t w))
{
	unsigned nk = bits / 32, nr = nk + 6, nw = 4 * (nr + 1);
	uint32_t w[60], t;
	uint8_t rcon = 1;

	/* Words hold the bytes of the key schedule little-endian: byte 0 lowest. */
	for (unsigned i = 0; i < nk; i++)
		w[i] = gcm_load32le(key + 4 * i);
	for (unsigned i = nk; i < nw; i++) {
		t = w[i - 1];
		if (i % nk == 0) {
			t = sub_word(t >> 8 | t << 24) ^ rcon;
			rcon = (uint8_t)(rcon << 1 ^ ((rcon >> 7) * 0x1b));
		} else if (nk > 6 && i % nk == 4) {
			t = sub_word(t);
		}
		w[i] = w[i - nk] ^ t;
	}
	for (unsigned i = 0; i < nw; i++)
		for (unsigned b = 0; b < 4; b++)
			ctx->rk[i / 4][4 * (i % 4) + b] = (uint8_t)(w[i] >> (8 * b));
	ctx->nr = (uint8_t)nr;
	mbedtls_platform_zeroize(w, sizeof(w));
}

/* ---- the portable path ---------------------------------------------------------- */

static uint64_t gcm_load64be(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void gcm_store64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static int gcm_port_setkey(mbedtls_gcm_context *ctx, const uint8_t *key, unsigned bits)
{
	uint8_t h[16] = {0};
	uint64_t vh, vl;
	int rc;

	rc = mbedtls_aes_setkey_enc(&ctx->aes, key, bits);
	if (rc != 0)
		return rc;
	rc = mbedtls_aes_crypt_ecb(&ctx->aes, MBEDTLS_AES_ENCRYPT, h, h);
	if (rc != 0)
		return rc;
	/* hl/hh[n]: the nibble n (its bit 8 the lowest power of x) times H, as {high, low}
	 * big-endian halves: [8] = H, [4] = H x, [2] = H x^2, [1] = H x^3, sums by XOR. */
	vh = gcm_load64be(h);
	vl = gcm_load64be(h + 8);
	ctx->h.tab.hh[0] = ctx->h.tab.hl[0] = 0;
	ctx->h.tab.hh[8] = vh;
	ctx->h.tab.hl[8] = vl;
	for (int i = 4; i > 0; i >>= 1) {
		uint64_t carry = 0xe100000000000000ULL & -(vl & 1);

		vl = vh << 63 | vl >> 1;
		vh = vh >> 1 ^ carry;
		ctx->h.tab.hh[i] = vh;
		ctx->h.tab.hl[i] = vl;
	}
	for (int i = 2; i <= 8; i <<= 1)
		for (int j = 1; j < i; j++) {
			ctx->h.tab.hh[i + j] = ctx->h.tab.hh[i] ^ ctx->h.tab.hh[j];
			ctx->h.tab.hl[i + j] = ctx->h.tab.hl[i] ^ ctx->h.tab.hl[j];
		}
	mbedtls_platform_zeroize(h, sizeof(h));
	return 0;
}

static void gcm_port_block(const mbedtls_gcm_context *ctx, const uint8_t in[16], uint8_t out[16])
{
	/* Cannot fail on a keyed context: the key length was checked at setkey. */
	(void)mbedtls_aes_crypt_ecb((mbedtls_aes_context *)&ctx->aes, MBEDTLS_AES_ENCRYPT, in, out);
}

/* What the four bits r shifted out of x^124..x^127 by a multiplication with x^4 add back,
 * x^128 = x^7 + x^2 + x + 1 (0xe1 in GCM's bit order), as the high 16 bits of a high
 * half: computed with masks, not looked up in a table indexed by the data. */
static uint64_t gcm_port_fold4(unsigned r)
{
	unsigned v = (0xe100u & -(r >> 3 & 1)) ^ (0x7080u & -(r >> 2 & 1)) ^
		     (0x3840u & -(r >> 1 & 1)) ^ (0x1c20u & -(r & 1));

	return (uint64_t)v << 48;
}

/* x = x H, with x as {high, low} big-endian halves (Shoup's 4-bit method): Horner's rule
 * over the 32 nibbles from the highest powers of x (the low nibble of byte 15, the lowest
 * bits of the low half) down. */
static void gcm_port_mult(const mbedtls_gcm_context *ctx, uint64_t *xh, uint64_t *xl)
{
	uint64_t h = 0, l = 0, src = *xl;
	unsigned n, r;

	for (int i = 0; i < 32; i++) {
		if (i == 16)
			src = *xh;
		n = (unsigned)(src & 0xf);
		src >>= 4;
		if (i != 0) {
			/* times x^4 */
			r = (unsigned)(l & 0xf);
			l = h << 60 | l >> 4;
			h = h >> 4 ^ gcm_port_fold4(r);
		}
		h ^= ctx->h.tab.hh[n];
		l ^= ctx->h.tab.hl[n];
	}
	*xh = h;
	*xl = l;
}

static void gcm_port_ghash(mbedtls_gcm_context *ctx, const uint8_t *data, size_t n)
{
	/* ctx->x holds the byte-reversed block: high half = bytes 0..7 big-endian */
	uint64_t xh = ctx->x[1], xl = ctx->x[0];

	for (; n > 0; n--, data += 16) {
		xh ^= gcm_load64be(data);
		xl ^= gcm_load64be(data + 8);
		gcm_port_mult(ctx, &xh, &xl);
	}
	ctx->x[1] = xh;
	ctx->x[0] = xl;
}

static void gcm_inc32(mbedtls_gcm_context *ctx)
{
	gcm_ctr_set(ctx, gcm_ctr_get(ctx) + 1);
}

static void gcm_port_ctr(mbedtls_gcm_context *ctx, const uint8_t *in, uint8_t *out, size_t n)
{
	uint8_t ks[16], c[16];

	for (; n > 0; n--, in += 16, out += 16) {
		gcm_inc32(ctx);
		gcm_port_block(ctx, ctx->y, ks);
		for (int i = 0; i < 16; i++) {
			uint8_t o = in[i] ^ ks[i];

			c[i] = ctx->mode == MBEDTLS_GCM_ENCRYPT ? o : in[i];
			out[i] = o;
		}
		gcm_port_ghash(ctx, c, 1);
	}
	mbedtls_platform_zeroize(ks, sizeof(ks));
}

const struct gcm_ops gcm_ops_portable = {
    .name = "portable",
    .setkey = gcm_port_setkey,
    .block = gcm_port_block,
    .ghash = gcm_port_ghash,
    .ctr = gcm_port_ctr,
};

/* ---- the mbedtls_gcm_* API ------------------------------------------------------ */

void mbedtls_gcm_init(mbedtls_gcm_context *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	mbedtls_aes_init(&ctx->aes);
}

int mbedtls_gcm_setkey(mbedtls_gcm_context *ctx, mbedtls_cipher_id_t cipher,
		       const unsigned char *key, unsigned int keybits)
{
	const struct gcm_ops *ops;
	int rc = MBEDTLS_ERR_GCM_BAD_INPUT;

	if (cipher != MBEDTLS_CIPHER_ID_AES || (keybits != 128 && keybits != 192 && keybits != 256))
		return rc;
	mbedtls_gcm_free(ctx);
	mbedtls_gcm_init(ctx);
	ctx->impl = (uint8_t)gcm_choose();
	ops = gcm_ops_of(ctx);
	rc = ops->setkey(ctx, key, keybits);
	if (rc != 0) {
		mbedtls_gcm_free(ctx);
		mbedtls_gcm_init(ctx);
	}
	return rc;
}

/* Fold the pending partial block (zero-padded) into the GHASH. */
static void gcm_flush_part(mbedtls_gcm_context *ctx, size_t used)
{
	if (used == 0)
		return;
	memset(ctx->part + used, 0, 16 - used);
	gcm_ops_of(ctx)->ghash(ctx, ctx->part, 1);
}

int mbedtls_gcm_starts(mbedtls_gcm_context *ctx, int mode, const unsigned char *iv, size_t iv_len)
{
	const struct gcm_ops *ops;
	uint8_t lenblk[16] = {0};

	if (ctx->impl == GCM_IMPL_NONE)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	/* IV of 1 to 2^61 - 1 bytes (below 2^64 bits), as mbedTLS */
	if (iv_len == 0 || (uint64_t)iv_len >> 61 != 0)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	ops = gcm_ops_of(ctx);
	ctx->mode = (uint8_t)mode;
	ctx->len = 0;
	ctx->add_len = 0;
	ctx->x[0] = ctx->x[1] = 0;
	if (iv_len == 12) {
		memcpy(ctx->y, iv, 12);
		ctx->y[12] = ctx->y[13] = ctx->y[14] = 0;
		ctx->y[15] = 1;
	} else {
		/* J0 = GHASH(IV || 0 pad || 0^64 || [len(IV) in bits]_64) */
		size_t full = iv_len / 16;

		ops->ghash(ctx, iv, full);
		memcpy(ctx->part, iv + 16 * full, iv_len % 16);
		gcm_flush_part(ctx, iv_len % 16);
		gcm_store64be(lenblk + 8, (uint64_t)iv_len * 8);
		ops->ghash(ctx, lenblk, 1);
		gcm_store64be(ctx->y, ctx->x[1]);
		gcm_store64be(ctx->y + 8, ctx->x[0]);
		ctx->x[0] = ctx->x[1] = 0;
	}
	ops->block(ctx, ctx->y, ctx->ek0);
	return 0;
}

/*
 * Where the partial block stands: associated data is pending in ctx->part while
 * len == 0 and add_len % 16 != 0; text (ciphertext) is pending while len % 16 != 0.
 */
int mbedtls_gcm_update_ad(mbedtls_gcm_context *ctx, const unsigned char *add, size_t add_len)
{
	size_t off, use, full;
	uint64_t total;

	if (ctx->impl == GCM_IMPL_NONE || ctx->len != 0)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	total = ctx->add_len + (uint64_t)add_len;
	if (total < ctx->add_len || total >> 61 != 0)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	if (add_len == 0)
		return 0;
	off = ctx->add_len % 16;
	ctx->add_len = total;
	if (off != 0) {
		use = 16 - off < add_len ? 16 - off : add_len;
		memcpy(ctx->part + off, add, use);
		add += use;
		add_len -= use;
		if (off + use < 16)
			return 0;
		gcm_ops_of(ctx)->ghash(ctx, ctx->part, 1);
	}
	full = add_len / 16;
	gcm_ops_of(ctx)->ghash(ctx, add, full);
	memcpy(ctx->part, add + 16 * full, add_len % 16);
	return 0;
}

int mbedtls_gcm_update(mbedtls_gcm_context *ctx, const unsigned char *input, size_t input_length,
		       unsigned char *output, size_t output_size, size_t *output_length)
{
	const struct gcm_ops *ops;
	size_t off, use, full;

	if (output_size < input_length)
		return MBEDTLS_ERR_GCM_BUFFER_TOO_SMALL;
	*output_length = input_length;
	if (input_length == 0)
		return 0;
	if (ctx->impl == GCM_IMPL_NONE)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	if (output > input && (size_t)(output - input) < input_length)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	/* at most 2^39 - 256 bits of text */
	if (ctx->len + input_length < ctx->len || ctx->len + input_length > 0xFFFFFFFE0ULL)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	ops = gcm_ops_of(ctx);
	if (ctx->len == 0)
		gcm_flush_part(ctx, ctx->add_len % 16);

	off = ctx->len % 16;
	ctx->len += input_length;
	if (off != 0) {
		/* finish the partial block with the rest of its key stream */
		use = 16 - off < input_length ? 16 - off : input_length;
		for (size_t i = 0; i < use; i++) {
			uint8_t in = input[i];

			output[i] = in ^ ctx->ectr[off + i];
			ctx->part[off + i] = ctx->mode == MBEDTLS_GCM_ENCRYPT ? output[i] : in;
		}
		input += use;
		output += use;
		input_length -= use;
		if (off + use < 16)
			return 0;
		ops->ghash(ctx, ctx->part, 1);
	}
	full = input_length / 16;
	if (full > 0) {
		ops->ctr(ctx, input, output, full);
		input += 16 * full;
		output += 16 * full;
		input_length -= 16 * full;
	}
	if (input_length > 0) {
		gcm_inc32(ctx);
		ops->block(ctx, ctx->y, ctx->ectr);
		for (size_t i = 0; i < input_length; i++) {
			uint8_t in = input[i];

			output[i] = in ^ ctx->ectr[i];
			ctx->part[i] = ctx->mode == MBEDTLS_GCM_ENCRYPT ? output[i] : in;
		}
	}
	return 0;
}

int mbedtls_gcm_finish(mbedtls_gcm_context *ctx, unsigned char *output, size_t output_size,
		       size_t *output_length, unsigned char *tag, size_t tag_len)
{
	const struct gcm_ops *ops;
	uint8_t lenblk[16], s[16];

	/* text is never held back: update gives all of its output at once */
	(void)output;
	(void)output_size;
	*output_length = 0;
	if (ctx->impl == GCM_IMPL_NONE || tag_len > 16 || tag_len < 4)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	ops = gcm_ops_of(ctx);
	if (ctx->len == 0)
		gcm_flush_part(ctx, ctx->add_len % 16);
	else
		gcm_flush_part(ctx, ctx->len % 16);
	gcm_store64be(lenblk, ctx->add_len * 8);
	gcm_store64be(lenblk + 8, ctx->len * 8);
	ops->ghash(ctx, lenblk, 1);
	gcm_store64be(s, ctx->x[1]);
	gcm_store64be(s + 8, ctx->x[0]);
	for (size_t i = 0; i < tag_len; i++)
		tag[i] = s[i] ^ ctx->ek0[i];
	mbedtls_platform_zeroize(s, sizeof(s));
	mbedtls_platform_zeroize(ctx->ectr, sizeof(ctx->ectr));
	mbedtls_platform_zeroize(ctx->part, sizeof(ctx->part));
	return 0;
}

int mbedtls_gcm_crypt_and_tag(mbedtls_gcm_context *ctx, int mode, size_t length,
			      const unsigned char *iv, size_t iv_len, const unsigned char *add,
			      size_t add_len, const unsigned char *input, unsigned char *output,
			      size_t tag_len, unsigned char *tag)
{
	size_t olen;
	int rc;

	rc = mbedtls_gcm_starts(ctx, mode, iv, iv_len);
	if (rc == 0)
		rc = mbedtls_gcm_update_ad(ctx, add, add_len);
	if (rc == 0)
		rc = mbedtls_gcm_update(ctx, input, length, output, length, &olen);
	if (rc == 0)
		rc = mbedtls_gcm_finish(ctx, NULL, 0, &olen, tag, tag_len);
	return rc;
}

int mbedtls_gcm_auth_decrypt(mbedtls_gcm_context *ctx, size_t length, const unsigned char *iv,
			     size_t iv_len, const unsigned char *add, size_t add_len,
			     const unsigned char *tag, size_t tag_len, const unsigned char *input,
			     unsigned char *output)
{
	uint8_t check[16];
	int rc;

	rc = mbedtls_gcm_crypt_and_tag(ctx, MBEDTLS_GCM_DECRYPT, length, iv, iv_len, add, add_len,
				       input, output, tag_len, check);
	if (rc != 0)
		return rc;
	rc = mbedtls_ct_memcmp(tag, check, tag_len) == 0 ? 0 : MBEDTLS_ERR_GCM_AUTH_FAILED;
	mbedtls_platform_zeroize(check, sizeof(check));
	if (rc != 0)
		mbedtls_platform_zeroize(output, length);
	return rc;
}

void mbedtls_gcm_free(mbedtls_gcm_context *ctx)
{
	if (ctx == NULL)
		return;
	mbedtls_aes_free(&ctx->aes);
	mbedtls_platform_zeroize(ctx, sizeof(*ctx));
}
