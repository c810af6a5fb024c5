/*
 * The .hsmb container, writing: records and the whole-file tag. Byte layout
 * in docs/backup-format.md; keep both in step (reading: hsmb_read.c).
 */
#include "hsmcert/backup.h"

#include "internal.h"

#include "hsmcert/array.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	if (n > SIZE_MAX - b->len || !hc_array_reserve(&b->data, &b->cap, b->len + n, 1)) {
		b->failed = true;
		return;
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
