/*
 * The .hsmb format (src/backup/backup_file.c, docs/backup-format.md) in
 * process: encode then parse gives the same file; every truncation and a
 * change of any byte are refused (by the parser with the offset, or by the
 * tag); the tag needs the right key. No token, no scrypt.
 */
#include "support.h"

#include "hsmcert/backup.h"

#include <stdlib.h>
#include <string.h>

TestSuite(backup_file);

static unsigned char spki[] = {0x30, 0x03, 0x02, 0x01, 0x05};
static unsigned char wrapped[40] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static unsigned char cert[] = {0x30, 0x02, 0x05, 0x00};
static unsigned char ca1[] = {0x30, 0x02, 0x05, 0x01};
static unsigned char id[] = {0xde, 0xad, 0xbe, 0xef};
static const unsigned char mac_key[32] = {42};

/* A passphrase-mode file with one key (label, id, flags, certificate and one CA). */
static void sample(hc_backup_file *f, hc_backup_entry *e, hc_backup_flag flags[2], hc_blob *cas)
{
	memset(f, 0, sizeof(*f));
	memset(e, 0, sizeof(*e));
	flags[0] = (hc_backup_flag){CKA_EXTRACTABLE, true};
	flags[1] = (hc_backup_flag){CKA_SIGN, true};
	cas[0] = (hc_blob){ca1, sizeof(ca1)};
	e->key_type = CKK_RSA;
	e->label = "web";
	e->id = (hc_blob){id, sizeof(id)};
	e->flags = flags;
	e->flag_count = 2;
	e->public_key = (hc_blob){spki, sizeof(spki)};
	e->wrap_mechanism = CKM_AES_KEY_WRAP_PAD;
	e->wrapped_key = (hc_blob){wrapped, sizeof(wrapped)};
	e->certificate = (hc_blob){cert, sizeof(cert)};
	e->ca_certificates = cas;
	e->ca_count = 1;
	f->version = 1;
	f->mode = HC_BACKUP_PASSPHRASE;
	f->creator = "hsmcert test";
	f->created = 1764700000;
	f->scrypt_log2_n = 15;
	f->scrypt_r = 8;
	f->scrypt_p = 1;
	memset(f->salt, 0x11, sizeof(f->salt));
	memset(f->check, 0x22, sizeof(f->check));
	f->entries = e;
	f->entry_count = 1;
}

static unsigned char *encoded(size_t *len)
{
	hc_backup_file f;
	hc_backup_entry e;
	hc_backup_flag flags[2];
	hc_blob cas[1];
	unsigned char *data = NULL;
	hc_error err = {0};

	sample(&f, &e, flags, cas);
	cr_assert_eq(hc_backup_encode(&f, mac_key, &data, len, &err), HC_OK, "%s", err.message);
	return data;
}

/* What a reader decides about `data`: parse, then check the tag. */
static hc_rc accept(const unsigned char *data, size_t len, hc_error *err)
{
	hc_backup_file f = {0};
	hc_rc rc = hc_backup_parse(data, len, "x.hsmb", &f, err);

	if (rc == HC_OK)
		rc = hc_backup_verify(&f, data, mac_key, err);
	hc_backup_file_clear(&f);
	return rc;
}

static bool blob_eq(const hc_blob *b, const void *data, size_t len)
{
	return b->len == len && memcmp(b->data, data, len) == 0;
}

Test(backup_file, round_trip_keeps_every_field)
{
	size_t len;
	unsigned char *data = encoded(&len);
	hc_backup_file f = {0};
	hc_error err = {0};
	const hc_backup_entry *e;

	cr_assert_eq(hc_backup_parse(data, len, "x.hsmb", &f, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_backup_verify(&f, data, mac_key, &err), HC_OK, "%s", err.message);
	cr_assert_eq(f.mode, HC_BACKUP_PASSPHRASE);
	cr_assert_str_eq(f.creator, "hsmcert test");
	cr_assert_eq(f.created, 1764700000);
	cr_assert_eq(f.scrypt_log2_n, 15);
	cr_assert_eq(f.scrypt_r, 8);
	cr_assert_eq(f.salt[0], 0x11);
	cr_assert_eq(f.check[0], 0x22);
	cr_assert_eq(f.entry_count, 1);
	e = &f.entries[0];
	cr_assert_eq(e->key_type, CKK_RSA);
	cr_assert_str_eq(e->label, "web");
	cr_assert(blob_eq(&e->id, id, sizeof(id)));
	cr_assert_eq(e->flag_count, 2);
	cr_assert(e->flags[0].type == CKA_EXTRACTABLE && e->flags[0].value);
	cr_assert(blob_eq(&e->public_key, spki, sizeof(spki)));
	cr_assert_eq(e->wrap_mechanism, CKM_AES_KEY_WRAP_PAD);
	cr_assert(blob_eq(&e->wrapped_key, wrapped, sizeof(wrapped)));
	cr_assert(blob_eq(&e->certificate, cert, sizeof(cert)));
	cr_assert_eq(e->ca_count, 1);
	cr_assert(blob_eq(&e->ca_certificates[0], ca1, sizeof(ca1)));
	cr_assert_eq(f.tagged_len + HC_BACKUP_TAG_LEN, len);
	hc_backup_file_clear(&f);
	free(data);
}

Test(backup_file, every_truncation_is_refused_with_a_reason)
{
	size_t len;
	unsigned char *data = encoded(&len);

	for (size_t cut = 0; cut < len; cut++) {
		hc_error err = {0};
		/* A copy of exactly `cut` bytes, so ASan sees any read past the end. */
		unsigned char *part = malloc(cut ? cut : 1);

		memcpy(part, data, cut);
		cr_assert_neq(accept(part, cut, &err), HC_OK,
			      "a file cut to %zu of %zu bytes was accepted", cut, len);
		cr_assert(err.message[0], "cut %zu: no message", cut);
		free(part);
	}
	free(data);
}

Test(backup_file, any_changed_byte_is_detected)
{
	size_t len;
	unsigned char *data = encoded(&len);

	for (size_t i = 0; i < len; i++) {
		hc_error err = {0};

		data[i] ^= 0x01;
		cr_assert_neq(accept(data, len, &err), HC_OK,
			      "byte %zu changed and the file was accepted", i);
		data[i] ^= 0x01;
	}
	free(data);
}

Test(backup_file, wrong_key_and_trailing_bytes)
{
	size_t len;
	unsigned char *data = encoded(&len), *longer;
	unsigned char other[32] = {43};
	hc_backup_file f = {0};
	hc_error err = {0};

	cr_assert_eq(hc_backup_parse(data, len, "x.hsmb", &f, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_backup_verify(&f, data, other, &err), HC_CHECK);
	hc_backup_file_clear(&f);

	longer = malloc(len + 1);
	memcpy(longer, data, len);
	longer[len] = 0;
	cr_assert_neq(accept(longer, len + 1, &err), HC_OK, "a byte appended was accepted");
	free(longer);
	free(data);
}

Test(backup_file, not_a_backup_names_the_file)
{
	static const unsigned char junk[] = "-----BEGIN CERTIFICATE-----\n";
	hc_backup_file f = {0};
	hc_error err = {0};

	cr_assert_eq(hc_backup_parse(junk, sizeof(junk) - 1, "cert.pem", &f, &err), HC_USAGE);
	cr_assert(strstr(err.message, "cert.pem"), "%s", err.message);
	hc_backup_file_clear(&f);
}
