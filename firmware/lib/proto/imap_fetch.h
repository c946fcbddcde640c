/*
 * imap_fetch.h - the FETCH items that need a message's MIME structure (RFC 3501 6.4.5,
 * 7.4.2): ENVELOPE, BODYSTRUCTURE, BODY, and BODY[section] with part numbers
 * (1, 1.2, 2.MIME, 3.HEADER, 3.TEXT, 3.HEADER.FIELDS (...)); and SEARCH over decoded
 * header and body text (RFC 2047 words, base64 and quoted-printable bodies).
 *
 * The session opens a message file; imap_mime_load() maps it read-only (no copy: a
 * 2 MiB attachment costs address space, not heap) and parses it with lib/mime. Renderers
 * write into a heap buffer the caller owns and streams as it streams a literal. Answers
 * follow dovecot where RFC 3501 leaves a choice (text parts get ("charset" "us-ascii")
 * when they name none; a part number that does not exist is an empty string; header
 * values are sent as they stand, not RFC 2047-decoded, as RFC 3501 7.4.2 says).
 */
#ifndef MGW_IMAP_FETCH_H
#define MGW_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mime/mime.h"
#include "proto/imap_parse.h"

/* The largest ENVELOPE/BODYSTRUCTURE answer for one message; a message whose answer
 * would be longer gets a short valid one instead (an empty ENVELOPE, the body as one
 * application/octet-stream part), so a client can still fetch it whole. */
#define IMAP_FETCH_RENDER_MAX (4 * 1024 * 1024)
/* Addresses (and group marks) of one ENVELOPE address list; the rest are left out, so
 * a message with a huge To: still gets an ENVELOPE (dovecot sends them all). */
#define IMAP_ENVELOPE_ADDRS_MAX 1000
/* Scratch per header (header values in ENVELOPE/BODYSTRUCTURE, HEADER.FIELDS of an
 * attached message, header SEARCH) is sized from at most this many header octets, so a
 * message with a huge header costs a bounded amount of memory: longer values are cut
 * (the top-level HEADER.FIELDS has the session's own limit, IMAP_HDR_MAX). */
#define IMAP_FETCH_VALUE_MAX (256 * 1024)

struct maildir_box;

/* One message's bytes and, once something needs it, its MIME structure: the map is
 * owned, buf is the map or borrowed (imap_mime_use), msg borrows buf. */
struct imap_mime {
	uint8_t *map;
	size_t maplen;
	const uint8_t *buf;
	size_t len;
	size_t idx; /* the message's index in the box it was loaded from */
	bool loaded, parsed;
	struct mime_msg msg;
};

/* Maps the message open on fd (not closed); 0 or -MGW_EIO/-MGW_ELIMIT. An empty file is
 * an empty message. The structure is parsed when first needed. */
int imap_mime_load(struct imap_mime *im, int fd);
void imap_mime_unload(struct imap_mime *im);
/* Uses buf[0..len) (borrowed, not a map) as the message: for tests and fuzzers. */
void imap_mime_use(struct imap_mime *im, const uint8_t *buf, size_t len);

/*
 * Message i of box, loaded into *imp (allocated on first use, owned by the caller, kept
 * loaded until another message is asked for or imap_mime_free()): one parse serves all
 * the items of one message. 0 or a -MGW_E* code of maildir_msg_open or imap_mime_load.
 */
int imap_mime_get(struct imap_mime **imp, struct maildir_box *box, size_t i);
void imap_mime_free(struct imap_mime **imp);

/*
 * " ENVELOPE (...)", " BODYSTRUCTURE (...)" or " BODY (...)" (what the kind says; sep is
 * "" or " " before the name) into a new buffer *out (owned by the caller, *outlen bytes,
 * no NUL). 0 or -MGW_ENOMEM.
 */
int imap_fetch_render(struct imap_mime *im, enum imap_fatt_kind kind, const char *sep,
		      uint8_t **out, size_t *outlen);

/*
 * BODY[section] with part numbers (f->nparts > 0): the range of the CRLF form to send,
 * [*start, *start + *len), or (HEADER.FIELDS) the bytes to send in *mem (owned by the
 * caller, *memlen bytes). A part that does not exist is an empty range. 0 or
 * -MGW_ENOMEM.
 */
int imap_fetch_section(struct imap_mime *im, const struct imap_cmd *c, const struct imap_fatt *f,
		       uint64_t *start, uint64_t *len, uint8_t **mem, size_t *memlen);

/* Whether the field name p[0..n) is one of f's HEADER.FIELDS (any case). */
bool imap_fetch_field_listed(const struct imap_cmd *c, const struct imap_fatt *f, const uint8_t *p,
			     size_t n);

/*
 * SEARCH text keys on a parsed message. text is the key's string (UTF-8, any case).
 * header: whether a field called name (any case) has a value containing text once
 * unfolded and RFC 2047-decoded. body: whether a leaf part's body, decoded from its
 * transfer encoding and charset to UTF-8, contains text; with_headers also looks at every
 * header (SEARCH TEXT). Matching folds case (mime_utf8_fold).
 */
bool imap_search_hdr(struct imap_mime *im, const char *name, const uint8_t *text, size_t n);
bool imap_search_text(struct imap_mime *im, const uint8_t *text, size_t n, bool with_headers);

#endif
