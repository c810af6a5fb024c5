/*
 * The .hsmb container: encoding, strict parsing, the whole-file tag and the
 * passphrase KDF. Byte layout in docs/backup-format.md; keep both in step.
 */
#include "hsmcert/backup.h"

#include "hsmcert/x509.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* Record types (u16). Top level: */
enum {
	REC_CREATOR = 0x0001,
	REC_CREATED = 0x0002,
	REC_SCRYPT = 0x0010,
	REC_OAEP_HASH = 0x0020,
	REC_RECIPIENT = 0x0021,
	REC_WRAPPED_KEK = 0x0022,
	REC_WRAPPED_MAC_KEY = 0x0023,
	REC_KEY = 0x0100,
	/* inside REC_KEY: */
	REC_KEY_TYPE = 0x0101,
	REC_LABEL = 0x0102,
	REC_ID = 0x0103,
	REC_ATTRIBUTES = 0x0104,
	REC_PUBLIC_KEY = 0x0105,
	REC_WRAP_MECHANISM = 0x0106,
	REC_WRAPPED_KEY = 0x0107,
	REC_CERTIFICATE = 0x0108,
	REC_CA_CERTIFICATE = 0x0109,
};

#define SCRYPT_RECORD_LEN (1 + 4 + 4 + HC_BACKUP_SALT_LEN + HC_BACKUP_CHECK_LEN)
#define MAX_KEYS 4096
#define MAX_CA 64
#define MAX_FLAGS 64

/* ---- writing --------------------------------------------------------- */

typedef struct buf {
	unsigned char *data;
	size_t len, cap;
	bool failed;
} buf;

static void buf_put(buf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		unsigned char *grown;
		while (cap < b->len + n)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown) {
			b->failed = true;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void buf_u8(buf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	buf_put(b, &c, 1);
}

static void buf_u16(buf *b, unsigned v)
{
	unsigned char c[2] = {(unsigned char)(v >> 8), (unsigned char)v};
	buf_put(b, c, 2);
}

static void buf_u32(buf *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	buf_put(b, c, 4);
}

static void buf_u64(buf *b, uint64_t v)
{
	buf_u32(b, (uint32_t)(v >> 32));
	buf_u32(b, (uint32_t)v);
}

static void rec(buf *b, unsigned type, const void *value, size_t len)
{
	buf_u16(b, type);
	buf_u32(b, (uint32_t)len);
	buf_put(b, value, len);
}

static void rec_u32(buf *b, unsigned type, uint32_t v)
{
	buf_u16(b, type);
	buf_u32(b, 4);
	buf_u32(b, v);
}

static void encode_entry(buf *b, const hc_backup_entry *e)
{
	buf inner = {0};

	rec_u32(&inner, REC_KEY_TYPE, (uint32_t)e->key_type);
	rec(&inner, REC_LABEL, e->label, strlen(e->label));
	rec(&inner, REC_ID, e->id.data, e->id.len);
	buf_u16(&inner, REC_ATTRIBUTES);
	buf_u32(&inner, (uint32_t)(e->flag_count * 5));
	for (size_t i = 0; i < e->flag_count; i++) {
		buf_u32(&inner, (uint32_t)e->flags[i].type);
		buf_u8(&inner, e->flags[i].value);
	}
	rec(&inner, REC_PUBLIC_KEY, e->public_key.data, e->public_key.len);
	rec_u32(&inner, REC_WRAP_MECHANISM, (uint32_t)e->wrap_mechanism);
	rec(&inner, REC_WRAPPED_KEY, e->wrapped_key.data, e->wrapped_key.len);
	if (e->certificate.len)
		rec(&inner, REC_CERTIFICATE, e->certificate.data, e->certificate.len);
	for (size_t i = 0; i < e->ca_count; i++)
		rec(&inner, REC_CA_CERTIFICATE, e->ca_certificates[i].data,
		    e->ca_certificates[i].len);
	if (inner.failed)
		b->failed = true;
	else
		rec(b, REC_KEY, inner.data, inner.len);
	free(inner.data);
}

hc_rc hc_backup_encode(const hc_backup_file *f, const unsigned char mac_key[32],
		       unsigned char **out, size_t *len, hc_error *err)
{
	buf b = {0};
	unsigned int tag_len = 0;
	size_t body_len;

	*out = NULL;
	*len = 0;
	buf_put(&b, HC_BACKUP_MAGIC, HC_BACKUP_MAGIC_LEN);
	buf_u16(&b, HC_BACKUP_VERSION);
	buf_u8(&b, f->mode);
	buf_u8(&b, 0);
	buf_u32(&b, 0); /* body length, filled in below */
	rec(&b, REC_CREATOR, f->creator, strlen(f->creator));
	buf_u16(&b, REC_CREATED);
	buf_u32(&b, 8);
	buf_u64(&b, f->created);
	if (f->mode == HC_BACKUP_PASSPHRASE) {
		buf_u16(&b, REC_SCRYPT);
		buf_u32(&b, SCRYPT_RECORD_LEN);
		buf_u8(&b, f->scrypt_log2_n);
		buf_u32(&b, f->scrypt_r);
		buf_u32(&b, f->scrypt_p);
		buf_put(&b, f->salt, HC_BACKUP_SALT_LEN);
		buf_put(&b, f->check, HC_BACKUP_CHECK_LEN);
	} else {
		rec_u32(&b, REC_OAEP_HASH, (uint32_t)f->oaep_hash);
		rec(&b, REC_RECIPIENT, f->recipient.data, f->recipient.len);
		rec(&b, REC_WRAPPED_KEK, f->wrapped_kek.data, f->wrapped_kek.len);
		rec(&b, REC_WRAPPED_MAC_KEY, f->wrapped_mac_key.data, f->wrapped_mac_key.len);
	}
	for (size_t i = 0; i < f->entry_count; i++)
		encode_entry(&b, &f->entries[i]);
	if (b.failed) {
		free(b.data);
		return hc_fail(err, HC_IO, "out of memory");
	}
	body_len = b.len - HC_BACKUP_HEADER_LEN;
	b.data[12] = (unsigned char)(body_len >> 24);
	b.data[13] = (unsigned char)(body_len >> 16);
	b.data[14] = (unsigned char)(body_len >> 8);
	b.data[15] = (unsigned char)body_len;
	{
		unsigned char tag[EVP_MAX_MD_SIZE];
		if (!HMAC(EVP_sha256(), mac_key, 32, b.data, b.len, tag, &tag_len) ||
		    tag_len != HC_BACKUP_TAG_LEN) {
			free(b.data);
			return hc_fail_ssl(err, HC_IO, "computing the backup's tag");
		}
		buf_put(&b, tag, HC_BACKUP_TAG_LEN);
	}
	if (b.failed) {
		free(b.data);
		return hc_fail(err, HC_IO, "out of memory");
	}
	*out = b.data;
	*len = b.len;
	return HC_OK;
}

/* ---- parsing --------------------------------------------------------- */

typedef struct cursor {
	const unsigned char *base; /* the file, for offsets in messages */
	const unsigned char *p, *end;
} cursor;

typedef struct parse_ctx {
	const char *name;
	hc_error *err;
} parse_ctx;

/*
 * "NAME: the backup was modified or damaged: [WHAT ]REASON (offset N)".
 * Once the magic matched, the file is a backup: whatever byte is wrong in it,
 * it is a tampered (or broken) backup, exit 1 like a tag that does not match,
 * never a different class of error depending on which byte was hit.
 */
static hc_rc malformed(parse_ctx *c, const cursor *at, const char *reason, const char *what)
{
	return hc_fail(c->err, HC_CHECK,
		       "%s: the backup was modified or damaged: %s%s%s (offset %zu)", c->name,
		       what ? what : "", what ? " " : "", reason, (size_t)(at->p - at->base));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The next record of a cursor; false at the end. */
static hc_rc next_record(parse_ctx *c, cursor *cur, unsigned *type, cursor *value, bool *more)
{
	uint32_t len;

	*more = cur->p < cur->end;
	if (!*more)
		return HC_OK;
	if (cur->end - cur->p < 6)
		return malformed(c, cur, "truncated record header", NULL);
	*type = (unsigned)cur->p[0] << 8 | cur->p[1];
	len = get_u32(cur->p + 2);
	if ((size_t)(cur->end - cur->p - 6) < len)
		return malformed(c, cur, "record longer than its container", NULL);
	value->base = cur->base;
	value->p = cur->p + 6;
	value->end = value->p + len;
	cur->p = value->end;
	return HC_OK;
}

static hc_rc take_blob(parse_ctx *c, const cursor *v, hc_blob *out, const char *what,
		       bool may_be_empty)
{
	size_t len = (size_t)(v->end - v->p);

	if (out->data || (out->len && !may_be_empty))
		return malformed(c, v, "appears twice", what);
	if (len == 0 && !may_be_empty)
		return malformed(c, v, "is empty", what);
	out->data = malloc(len ? len : 1);
	if (!out->data)
		return hc_fail(c->err, HC_IO, "out of memory");
	memcpy(out->data, v->p, len);
	out->len = len;
	return HC_OK;
}

static hc_rc take_u32(parse_ctx *c, const cursor *v, uint32_t *out, bool *seen,
		      const char *what)
{
	if (*seen)
		return malformed(c, v, "appears twice", what);
	if (v->end - v->p != 4)
		return malformed(c, v, "is not 4 bytes", what);
	*out = get_u32(v->p);
	*seen = true;
	return HC_OK;
}

static hc_rc take_text(parse_ctx *c, const cursor *v, char **out, const char *what)
{
	size_t len = (size_t)(v->end - v->p);

	if (*out)
		return malformed(c, v, "appears twice", what);
	if (memchr(v->p, '\0', len))
		return malformed(c, v, "holds a NUL byte", what);
	*out = malloc(len + 1);
	if (!*out)
		return hc_fail(c->err, HC_IO, "out of memory");
	memcpy(*out, v->p, len);
	(*out)[len] = '\0';
	return HC_OK;
}

static hc_rc parse_entry(parse_ctx *c, cursor *cur, hc_backup_entry *e)
{
	bool have_type = false, have_mech = false, have_attrs = false, more;
	uint32_t v32;
	unsigned type = 0;
	cursor v;
	hc_rc rc;

	for (;;) {
		if ((rc = next_record(c, cur, &type, &v, &more)) != HC_OK)
			return rc;
		if (!more)
			break;
		switch (type) {
		case REC_KEY_TYPE:
			if ((rc = take_u32(c, &v, &v32, &have_type, "key type")) != HC_OK)
				return rc;
			e->key_type = v32;
			break;
		case REC_LABEL:
			if ((rc = take_text(c, &v, &e->label, "label")) != HC_OK)
				return rc;
			break;
		case REC_ID:
			if ((rc = take_blob(c, &v, &e->id, "id", true)) != HC_OK)
				return rc;
			break;
		case REC_ATTRIBUTES: {
			size_t n = (size_t)(v.end - v.p);
			if (have_attrs)
				return malformed(c, &v, "appears twice", "attributes");
			if (n % 5 != 0 || n / 5 > MAX_FLAGS)
				return malformed(c, &v, "record has a bad length", "attributes");
			have_attrs = true;
			e->flag_count = n / 5;
			e->flags = calloc(e->flag_count ? e->flag_count : 1, sizeof(*e->flags));
			if (!e->flags)
				return hc_fail(c->err, HC_IO, "out of memory");
			for (size_t i = 0; i < e->flag_count; i++) {
				const unsigned char *p = v.p + 5 * i;
				if (p[4] > 1)
					return malformed(c, &v, "value is not 0 or 1",
							 "attribute");
				e->flags[i].type = get_u32(p);
				e->flags[i].value = p[4];
			}
			break;
		}
		case REC_PUBLIC_KEY:
			if ((rc = take_blob(c, &v, &e->public_key, "public key", false)) != HC_OK)
				return rc;
			break;
		case REC_WRAP_MECHANISM:
			if ((rc = take_u32(c, &v, &v32, &have_mech, "wrap mechanism")) != HC_OK)
				return rc;
			e->wrap_mechanism = v32;
			break;
		case REC_WRAPPED_KEY:
			if ((rc = take_blob(c, &v, &e->wrapped_key, "wrapped key", false)) != HC_OK)
				return rc;
			break;
		case REC_CERTIFICATE:
			if ((rc = take_blob(c, &v, &e->certificate, "certificate", false)) != HC_OK)
				return rc;
			break;
		case REC_CA_CERTIFICATE: {
			hc_blob *grown;
			if (e->ca_count >= MAX_CA)
				return malformed(c, &v, "too many CA certificates", NULL);
			grown = realloc(e->ca_certificates, (e->ca_count + 1) * sizeof(*grown));
			if (!grown)
				return hc_fail(c->err, HC_IO, "out of memory");
			e->ca_certificates = grown;
			grown[e->ca_count] = (hc_blob){0};
			e->ca_count++;
			rc = take_blob(c, &v, &grown[e->ca_count - 1], "CA certificate", false);
			if (rc != HC_OK)
				return rc;
			break;
		}
		default:
			return malformed(c, &v, "unknown record in a key entry", NULL);
		}
	}
	if (!have_type || !e->label || !e->id.data || !have_attrs || !e->public_key.data ||
	    !have_mech || !e->wrapped_key.data)
		return malformed(c, cur, "a key entry misses a required record", NULL);
	return HC_OK;
}

/* What a header says, checked before anything else. */
static hc_rc parse_header(parse_ctx *c, const unsigned char *data, size_t len,
			  hc_backup_file *out)
{
	cursor at = {data, data, data + len};
	uint32_t body_len;

	/* Not a backup at all is malformed input; everything after the magic is tampering. */
	if (len < HC_BACKUP_MAGIC_LEN || memcmp(data, HC_BACKUP_MAGIC, HC_BACKUP_MAGIC_LEN) != 0)
		return hc_fail(c->err, HC_USAGE, "%s is not an hsmcert backup (wrong magic)",
			       c->name);
	if (len < HC_BACKUP_HEADER_LEN + HC_BACKUP_TAG_LEN)
		return malformed(c, &at, "truncated", NULL);
	out->version = (unsigned)data[8] << 8 | data[9];
	if (out->version != HC_BACKUP_VERSION)
		return hc_fail(c->err, HC_CHECK,
			       "%s: the backup was modified or damaged, or made by a newer "
			       "hsmcert: format version %u is not supported (this hsmcert reads "
			       "version %d)",
			       c->name, out->version, HC_BACKUP_VERSION);
	if (data[10] != HC_BACKUP_PASSPHRASE && data[10] != HC_BACKUP_RECIPIENT)
		return malformed(c, &at, "unknown protection mode", NULL);
	out->mode = data[10];
	if (data[11] != 0)
		return malformed(c, &at, "reserved header byte is not zero", NULL);
	body_len = get_u32(data + 12);
	if ((size_t)body_len != len - HC_BACKUP_HEADER_LEN - HC_BACKUP_TAG_LEN)
		return malformed(c, &at,
				 "the file's length does not match its header (truncated or "
				 "extended)",
				 NULL);
	out->tagged_len = len - HC_BACKUP_TAG_LEN;
	memcpy(out->tag, data + out->tagged_len, HC_BACKUP_TAG_LEN);
	return HC_OK;
}

static hc_rc parse_scrypt(parse_ctx *c, const cursor *v, hc_backup_file *out)
{
	const unsigned char *p = v->p;

	if (v->end - v->p != SCRYPT_RECORD_LEN)
		return malformed(c, v, "scrypt record has a bad length", NULL);
	out->scrypt_log2_n = p[0];
	out->scrypt_r = get_u32(p + 1);
	out->scrypt_p = get_u32(p + 5);
	memcpy(out->salt, p + 9, HC_BACKUP_SALT_LEN);
	memcpy(out->check, p + 9 + HC_BACKUP_SALT_LEN, HC_BACKUP_CHECK_LEN);
	if (out->scrypt_log2_n < HC_BACKUP_SCRYPT_MIN_LOG2_N ||
	    out->scrypt_log2_n > HC_BACKUP_SCRYPT_MAX_LOG2_N || out->scrypt_r < 1 ||
	    out->scrypt_r > HC_BACKUP_SCRYPT_MAX_R || out->scrypt_p < 1 ||
	    out->scrypt_p > HC_BACKUP_SCRYPT_MAX_P ||
	    128ull * out->scrypt_r * (1ull << out->scrypt_log2_n) > HC_BACKUP_SCRYPT_MAX_MEM)
		return malformed(c, v, "scrypt parameters out of the accepted range", NULL);
	return HC_OK;
}

hc_rc hc_backup_parse(const unsigned char *data, size_t len, const char *name,
		      hc_backup_file *out, hc_error *err)
{
	parse_ctx c = {name, err};
	bool have_created = false, have_scrypt = false, have_hash = false, more;
	cursor cur, v;
	unsigned type = 0;
	uint32_t v32;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = parse_header(&c, data, len, out)) != HC_OK)
		goto fail;
	cur = (cursor){data, data + HC_BACKUP_HEADER_LEN, data + out->tagged_len};
	for (;;) {
		if ((rc = next_record(&c, &cur, &type, &v, &more)) != HC_OK)
			goto fail;
		if (!more)
			break;
		switch (type) {
		case REC_CREATOR:
			rc = take_text(&c, &v, &out->creator, "creator");
			break;
		case REC_CREATED:
			if (have_created || v.end - v.p != 8) {
				rc = malformed(&c, &v, "bad creation time record", NULL);
				break;
			}
			have_created = true;
			out->created = (uint64_t)get_u32(v.p) << 32 | get_u32(v.p + 4);
			break;
		case REC_SCRYPT:
			if (have_scrypt || out->mode != HC_BACKUP_PASSPHRASE) {
				rc = malformed(&c, &v, "unexpected scrypt record", NULL);
				break;
			}
			have_scrypt = true;
			rc = parse_scrypt(&c, &v, out);
			break;
		case REC_OAEP_HASH:
			if (out->mode != HC_BACKUP_RECIPIENT) {
				rc = malformed(&c, &v, "unexpected recipient record", NULL);
				break;
			}
			rc = take_u32(&c, &v, &v32, &have_hash, "OAEP hash");
			out->oaep_hash = v32;
			if (rc == HC_OK && v32 != CKM_SHA256 && v32 != CKM_SHA_1)
				rc = malformed(&c, &v, "unknown OAEP hash", NULL);
			break;
		case REC_RECIPIENT:
		case REC_WRAPPED_KEK:
		case REC_WRAPPED_MAC_KEY:
			if (out->mode != HC_BACKUP_RECIPIENT) {
				rc = malformed(&c, &v, "unexpected recipient record", NULL);
				break;
			}
			rc = take_blob(&c, &v,
				       type == REC_RECIPIENT	     ? &out->recipient
				       : type == REC_WRAPPED_KEK ? &out->wrapped_kek
								 : &out->wrapped_mac_key,
				       "recipient record", false);
			break;
		case REC_KEY: {
			hc_backup_entry *grown;
			if (out->entry_count >= MAX_KEYS) {
				rc = malformed(&c, &v, "too many keys", NULL);
				break;
			}
			grown = realloc(out->entries, (out->entry_count + 1) * sizeof(*grown));
			if (!grown) {
				rc = hc_fail(err, HC_IO, "out of memory");
				break;
			}
			out->entries = grown;
			memset(&grown[out->entry_count], 0, sizeof(*grown));
			out->entry_count++;
			rc = parse_entry(&c, &v, &grown[out->entry_count - 1]);
			break;
		}
		default:
			rc = malformed(&c, &v, "unknown record", NULL);
		}
		if (rc != HC_OK)
			goto fail;
	}
	if (!out->creator || !have_created)
		rc = malformed(&c, &cur, "creator or creation time missing", NULL);
	else if (out->mode == HC_BACKUP_PASSPHRASE && !have_scrypt)
		rc = malformed(&c, &cur, "scrypt parameters missing", NULL);
	else if (out->mode == HC_BACKUP_RECIPIENT &&
		 (!have_hash || !out->recipient.data || !out->wrapped_kek.data ||
		  !out->wrapped_mac_key.data))
		rc = malformed(&c, &cur, "recipient parameters missing", NULL);
	else if (out->entry_count == 0)
		rc = malformed(&c, &cur, "no key in the file", NULL);
	if (rc == HC_OK)
		return HC_OK;
fail:
	hc_backup_file_clear(out);
	return rc;
}

hc_rc hc_backup_verify(const hc_backup_file *f, const unsigned char *data,
		       const unsigned char mac_key[32], hc_error *err)
{
	unsigned char tag[EVP_MAX_MD_SIZE];
	unsigned int tag_len = 0;

	if (!HMAC(EVP_sha256(), mac_key, 32, data, f->tagged_len, tag, &tag_len) ||
	    tag_len != HC_BACKUP_TAG_LEN)
		return hc_fail_ssl(err, HC_IO, "computing the backup's tag");
	if (CRYPTO_memcmp(tag, f->tag, HC_BACKUP_TAG_LEN) != 0)
		return hc_fail(err, HC_CHECK,
			       "the backup was modified or damaged: its authentication tag does "
			       "not match; nothing was restored");
	return HC_OK;
}

void hc_backup_entry_clear(hc_backup_entry *e)
{
	free(e->label);
	free(e->id.data);
	free(e->flags);
	free(e->public_key.data);
	free(e->wrapped_key.data);
	free(e->certificate.data);
	for (size_t i = 0; i < e->ca_count; i++)
		free(e->ca_certificates[i].data);
	free(e->ca_certificates);
	memset(e, 0, sizeof(*e));
}

void hc_backup_file_clear(hc_backup_file *f)
{
	free(f->creator);
	free(f->recipient.data);
	free(f->wrapped_kek.data);
	free(f->wrapped_mac_key.data);
	for (size_t i = 0; i < f->entry_count; i++)
		hc_backup_entry_clear(&f->entries[i]);
	free(f->entries);
	memset(f, 0, sizeof(*f));
}

/* ---- keys ------------------------------------------------------------ */

static hc_rc hkdf(const unsigned char *ikm, size_t ikm_len, const char *info,
		  unsigned char *out, size_t out_len, hc_error *err)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	hc_rc rc = HC_OK;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
						      strlen(info));
	params[3] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_KDF_derive(ctx, out, out_len, params) <= 0)
		rc = hc_fail_ssl(err, HC_IO, "HKDF-SHA256 failed");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

hc_rc hc_backup_mac_key(const unsigned char *secret, size_t len, unsigned char mac_key[32],
			hc_error *err)
{
	return hkdf(secret, len, "hsmcert backup v1 authentication key", mac_key, 32, err);
}

hc_rc hc_backup_derive(const hc_backup_file *f, const hc_secret *passphrase,
		       hc_backup_keys *out, hc_error *err)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = (uint64_t)1 << f->scrypt_log2_n, maxmem = HC_BACKUP_SCRYPT_MAX_MEM;
	uint32_t r = f->scrypt_r, p = f->scrypt_p;
	unsigned char ikm[32];
	OSSL_PARAM params[7];
	hc_rc rc = HC_OK;

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, passphrase->data,
						      passphrase->len);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)f->salt,
						      HC_BACKUP_SALT_LEN);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	params[6] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_KDF_derive(ctx, ikm, sizeof(ikm), params) <= 0) {
		rc = hc_fail_ssl(err, HC_IO, "scrypt (N=2^%u, r=%u, p=%u) failed",
				 f->scrypt_log2_n, r, p);
		goto out;
	}
	/* Separate keys by purpose, so no key serves two (HKDF, RFC 5869). */
	if ((rc = hkdf(ikm, sizeof(ikm), "hsmcert backup v1 key-encryption key", out->kek, 32,
		       err)) != HC_OK ||
	    (rc = hc_backup_mac_key(ikm, sizeof(ikm), out->mac_key, err)) != HC_OK ||
	    (rc = hkdf(ikm, sizeof(ikm), "hsmcert backup v1 passphrase check", out->check,
		       HC_BACKUP_CHECK_LEN, err)) != HC_OK)
		goto out;
out:
	OPENSSL_cleanse(ikm, sizeof(ikm));
	if (rc != HC_OK)
		OPENSSL_cleanse(out, sizeof(*out));
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

void hc_backup_fingerprint(const hc_blob *spki, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(spki->data, spki->len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

hc_backup_kind hc_backup_detect(const unsigned char *data, size_t len)
{
	/* The magic alone makes it a backup: a truncated one is then refused as damaged. */
	if (len >= HC_BACKUP_MAGIC_LEN && memcmp(data, HC_BACKUP_MAGIC, HC_BACKUP_MAGIC_LEN) == 0)
		return len > 10 && data[10] == HC_BACKUP_RECIPIENT ? HC_KIND_HSMB_RECIPIENT
								   : HC_KIND_HSMB_PASSPHRASE;
	if (hc_x509_is_pkcs12(data, len))
		return HC_KIND_PFX;
	return HC_KIND_UNKNOWN;
}
