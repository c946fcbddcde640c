/*
 * mime.h - the MIME structure of one message (RFC 2045, 2046, 5322), for IMAP's
 * BODYSTRUCTURE, ENVELOPE, BODY[section] and SEARCH, and the text helpers they need:
 * header fields (RFC 5322 2.2), parameters (RFC 2045 5.1, RFC 2231 continuations and
 * charset'lang' values), encoded-words (RFC 2047) and transfer decodings, all to UTF-8.
 *
 * The parser is one pass over the stored bytes of a message (the caller maps or holds
 * them): it never allocates and never relies on a NUL. The bytes may have LF or CRLF line
 * ends, mixed (store/crlf.h); every offset it gives comes twice, in the stored bytes
 * ("raw", to read them) and in the CRLF form IMAP serves ("v", what BODY[1]<0.10>
 * counts). Results borrow the caller's bytes and live in the caller's struct mime_msg.
 *
 * Malformed MIME never fails: as dovecot does, a multipart whose boundary never comes has
 * no parts (the renderer shows an empty text/plain), the body of an unterminated part runs
 * to the end or to an outer boundary, a header without its blank line ends at the first
 * boundary or at the end, and past MIME_DEPTH_MAX or MIME_PARTS_MAX a multipart or
 * message/rfc822 is kept as one leaf part.
 */
#ifndef MGW_MIME_H
#define MGW_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parts of one message, the message itself included (dovecot's limit is 10000; a real
 * message has a few dozen). */
#define MIME_PARTS_MAX 500
/* Nesting of multiparts and message/rfc822 (dovecot: 100). */
#define MIME_DEPTH_MAX 32
/* A boundary (RFC 2046 5.1.1: 1 to 70 characters; longer ones seen in the wild are
 * accepted up to this). */
#define MIME_BOUNDARY_MAX 200
/* Parameters looked at in one Content-Type/-Disposition value (each ';' counts): the
 * rest is ignored, so a hostile value costs bounded work. */
#define MIME_PARAMS_MAX 64
/* One parameter value after RFC 2231 joining (a long file name fits many times). */
#define MIME_PARAM_MAX 1024

/* A stretch of the stored bytes. */
struct mime_span {
	uint32_t off, len;
};

enum mime_kind {
	MIME_LEAF = 0,	/* a body: text, image, application ... */
	MIME_MULTIPART, /* children are its parts */
	MIME_MESSAGE,	/* message/rfc822: one child, the message inside */
};

/*
 * One entity: the message, a part of a multipart, or the message inside a
 * message/rfc822 part. Parts are stored in document order (a parent before its
 * children). Header ranges include the blank line that ends the header; the body of a
 * part before a boundary ends before the line break that precedes the boundary line
 * (RFC 2046 5.1.1: that CRLF belongs to the boundary).
 */
struct mime_part {
	uint16_t parent;      /* index; the message (0) is its own parent */
	uint16_t first_child; /* index, 0 when none */
	uint16_t next;	      /* the next sibling, 0 when none */
	uint16_t nchildren;
	uint8_t kind;  /* enum mime_kind */
	uint8_t depth; /* 0 for the message */
	/* a Content-Type field with a type/subtype; without one the type is text/plain, or
	 * message/rfc822 when kind is MIME_MESSAGE (a part of a multipart/digest) */
	bool ctype_given;
	uint32_t hdr_off, body_off, end_off;	/* raw: header start, body start, body end */
	uint64_t vhdr_off, vbody_off, vend_off; /* the same in the CRLF form */
	uint32_t lines;				/* lines of the body in the CRLF form */
	struct mime_span type, subtype;		/* from Content-Type, or the default */
	struct mime_span ctype;			/* the Content-Type value (params), len 0 if none */
};

struct mime_msg {
	const uint8_t *buf; /* borrowed: the stored bytes */
	uint32_t len;
	uint16_t nparts;
	bool truncated; /* a limit made a multipart or message a leaf */
	struct mime_part parts[MIME_PARTS_MAX];
};

/*
 * Parses the message buf[0..len) into *m (its buf, len and parts). Never fails: the
 * result always has the message as part 0. len must be below 4 GiB (the store's limit is
 * far lower); longer input is parsed up to that.
 */
void mime_parse(struct mime_msg *m, const uint8_t *buf, size_t len);

/* Whether the bytes of s are the ASCII text lit, ignoring case. */
bool mime_span_eq(const struct mime_msg *m, struct mime_span s, const char *lit);

/*
 * Header fields of one header range [p, end): *name and *value (raw, possibly folded,
 * without the field's final line break, leading blanks of the value skipped) for the
 * field at *pos, which advances. false at the end of the header (blank line or end).
 * Lines without a colon are skipped, as dovecot does.
 */
bool mime_hdr_next(const uint8_t *buf, uint32_t *pos, uint32_t end, struct mime_span *name,
		   struct mime_span *value);

/* p at a '(': the end of that comment (RFC 5322 3.2.2, nested, with quoted-pairs),
 * after its ')', or end when it is not closed. */
const uint8_t *mime_comment_end(const uint8_t *p, const uint8_t *end);

/* The first field called name (ASCII, any case) of part's header; false when none. */
bool mime_hdr_find(const struct mime_msg *m, const struct mime_part *part, const char *name,
		   struct mime_span *value);

/*
 * A small string builder over a caller buffer: writes past cap are dropped and
 * counted in over, so a renderer can check once at the end.
 */
struct mime_out {
	char *p;
	size_t len, cap;
	bool over;
};
void mime_out_put(struct mime_out *o, const void *p, size_t n);
void mime_out_c(struct mime_out *o, char c);

/* The value s of a header field unfolded (RFC 5322 2.2.3: CR and LF removed), as is. */
void mime_unfold(const uint8_t *buf, struct mime_span s, struct mime_out *o);

/*
 * RFC 2047 decoding of an unstructured header text (already unfolded) to UTF-8:
 * encoded-words in charsets UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15, Windows-1252 are
 * decoded (B and Q); whitespace between two adjacent encoded-words is dropped (RFC 2047
 * 6.2); an encoded-word in an unknown charset or malformed is left as it is; other bytes
 * are copied as they are.
 */
void mime_ew_decode(const uint8_t *p, size_t n, struct mime_out *o);

/*
 * A Content-Type/Content-Disposition value (raw, possibly folded): its first token (the
 * type/subtype or the disposition, blanks and comments around it dropped), then its
 * parameters one at a time. Parameters come as dovecot reports them in BODYSTRUCTURE:
 * names lower-cased, values unquoted, RFC 2231 continuations (name*0, name*1* ...)
 * joined in order into one parameter "name" or, when a section is extended, "name*"
 * whose value keeps its charset'lang'%XX form (mime_param_decode() turns that into
 * UTF-8). Malformed parameters are skipped, never fatal.
 */
struct mime_params {
	const uint8_t *start, *end; /* the parameter list (after the first token) */
	const uint8_t *p;	    /* next parameter */
	unsigned budget;	    /* parameters left to look at (MIME_PARAMS_MAX) */
	bool is_2231;		    /* the last one returned was continued or extended */
};
struct mime_span mime_value_first(const struct mime_msg *m, struct mime_span value,
				  struct mime_params *ps);
/* Whether a parameter was returned into name (NUL-terminated, lower case) and o. */
bool mime_params_next(struct mime_params *ps, char *name, size_t namesz, struct mime_out *o);
/* Finds parameter name (lower case, without '*'): its value decoded to UTF-8 in o. */
bool mime_param_get(const struct mime_msg *m, struct mime_span value, const char *name,
		    struct mime_out *o);
/* An RFC 2231 extended value charset'lang'%XX... to UTF-8. */
void mime_param_decode(const uint8_t *p, size_t n, struct mime_out *o);

/*
 * Content-Transfer-Encoding decoders that run over chunks (RFC 2045 6.7, 6.8), output
 * at most 2 octets longer than the input of one call (a broken "=X" held from the call
 * before). A decoder starts zeroed with its kind. A broken escape at the very end of
 * a quoted-printable body ("=4" and nothing after it) is dropped.
 */
enum mime_cte {
	MIME_CTE_IDENTITY = 0, /* 7bit, 8bit, binary and anything unknown */
	MIME_CTE_BASE64,
	MIME_CTE_QP,
};
struct mime_dec {
	uint8_t kind; /* enum mime_cte */
	uint8_t st, nq;
	uint32_t q;
};
enum mime_cte mime_cte_of(const struct mime_msg *m, const struct mime_part *part);
size_t mime_dec_run(struct mime_dec *d, const uint8_t *in, size_t n, uint8_t *out);

/*
 * A charset to UTF-8, byte by byte (single-byte charsets map each byte; UTF-8 and
 * unknown charsets copy). out needs 3 * n bytes.
 */
enum mime_cs {
	MIME_CS_UTF8 = 0, /* also US-ASCII */
	MIME_CS_LATIN1,
	MIME_CS_LATIN9,
	MIME_CS_CP1252,
	MIME_CS_UNKNOWN,
};
enum mime_cs mime_cs_of(const uint8_t *name, size_t n);
size_t mime_cs_utf8(enum mime_cs cs, const uint8_t *in, size_t n, uint8_t *out);

/*
 * Case folding for SEARCH (RFC 3501 6.4.4 "case-insensitive"): ASCII, Latin-1, Latin
 * Extended-A, Greek and Cyrillic capitals to small letters, in place, never changing a
 * length (only mappings whose UTF-8 forms are of equal length).
 */
void mime_utf8_fold(uint8_t *p, size_t n);

#endif
