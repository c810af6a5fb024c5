/*
 * The .hsmb container, strict parsing, the tag check and detection. Byte
 * layout in docs/backup-format.md; keep both in step (writing: hsmb_write.c).
 */
#include "hsmcert/backup.h"

#include "internal.h"

#include "hsmcert/array.h"
#include "hsmcert/x509.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

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

static hc_rc take_u32(parse_ctx *c, const cursor *v, uint32_t *out, bool *seen, const char *what)
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
	size_t cap_cas = 0;
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
					return malformed(c, &v, "value is not 0 or 1", "attribute");
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
		case REC_CA_CERTIFICATE:
			if (e->ca_count >= MAX_CA)
				return malformed(c, &v, "too many CA certificates", NULL);
			if (!hc_array_grow(&e->ca_certificates, &cap_cas, e->ca_count,
					   sizeof(*e->ca_certificates)))
				return hc_fail(c->err, HC_IO, "out of memory");
			e->ca_certificates[e->ca_count] = (hc_blob){0};
			e->ca_count++;
			rc = take_blob(c, &v, &e->ca_certificates[e->ca_count - 1],
				       "CA certificate", false);
			if (rc != HC_OK)
				return rc;
			break;
		default: return malformed(c, &v, "unknown record in a key entry", NULL);
		}
	}
	if (!have_type || !e->label || !e->id.data || !have_attrs || !e->public_key.data ||
	    !have_mech || !e->wrapped_key.data)
		return malformed(c, cur, "a key entry misses a required record", NULL);
	return HC_OK;
}

/* What a header says, checked before anything else. */
static hc_rc parse_header(parse_ctx *c, const unsigned char *data, size_t len, hc_backup_file *out)
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

hc_rc hc_backup_parse(const unsigned char *data, size_t len, const char *name, hc_backup_file *out,
		      hc_error *err)
{
	parse_ctx c = {name, err};
	bool have_created = false, have_scrypt = false, have_hash = false, more;
	cursor cur, v;
	unsigned type = 0;
	size_t cap_entries = 0;
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
		case REC_CREATOR: rc = take_text(&c, &v, &out->creator, "creator"); break;
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
				       type == REC_RECIPIENT	 ? &out->recipient
				       : type == REC_WRAPPED_KEK ? &out->wrapped_kek
								 : &out->wrapped_mac_key,
				       "recipient record", false);
			break;
		case REC_KEY:
			if (out->entry_count >= MAX_KEYS) {
				rc = malformed(&c, &v, "too many keys", NULL);
				break;
			}
			if (!hc_array_grow(&out->entries, &cap_entries, out->entry_count,
					   sizeof(*out->entries))) {
				rc = hc_fail(err, HC_IO, "out of memory");
				break;
			}
			memset(&out->entries[out->entry_count], 0, sizeof(*out->entries));
			out->entry_count++;
			rc = parse_entry(&c, &v, &out->entries[out->entry_count - 1]);
			break;
		default: rc = malformed(&c, &v, "unknown record", NULL);
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
