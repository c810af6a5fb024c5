/*
 * What the two .hsmb fuzzers share (tests/fuzz/fuzz_hsmb.c, coverage-guided;
 * tests/unit/test_fuzz.c, a bounded mutation loop): the backup they start
 * from, made in memory, and what counts as a clear answer of the parser.
 * Plain C and the library only: no criterion, no libFuzzer.
 */
#ifndef HSMCERT_FUZZ_HSMB_SAMPLE_H
#define HSMCERT_FUZZ_HSMB_SAMPLE_H

#include "hsmcert/backup.h"

#include <stdbool.h>
#include <string.h>

/* The authentication key the samples are made with, so verification is reached. */
static const unsigned char hsmb_sample_mac_key[32] = {1, 2, 3};

/* Sizes of the sample's parts (their contents are fixed patterns). */
struct hsmb_sample_shape {
	size_t wrapped_key_len; /* at most 1232, an RSA-2048 key wrapped with RFC 5649 */
	size_t cert_len;	/* at most 700 */
	size_t ca_lens[2];	/* each at most 650 */
	size_t ca_count;	/* at most 2 */
	unsigned scrypt_log2_n;
};

/* One EC key entry with its certificate and CA certificates, encoded (caller frees *data). */
static inline hc_rc hsmb_sample(hc_backup_mode mode, const struct hsmb_sample_shape *shape,
				unsigned char **data, size_t *len, hc_error *err)
{
	static unsigned char spki[91], wrapped[1232], cert[700], ca[650], id[20];
	hc_backup_flag flags[2] = {{CKA_EXTRACTABLE, true}, {CKA_SIGN, true}};
	hc_blob cas[2] = {{ca, shape->ca_lens[0]}, {ca, shape->ca_lens[1]}};
	hc_backup_entry e = {.key_type = CKK_EC,
			     .label = "web",
			     .id = {id, sizeof(id)},
			     .flags = flags,
			     .flag_count = 2,
			     .public_key = {spki, sizeof(spki)},
			     .wrap_mechanism = CKM_AES_KEY_WRAP_PAD,
			     .wrapped_key = {wrapped, shape->wrapped_key_len},
			     .certificate = {cert, shape->cert_len},
			     .ca_certificates = cas,
			     .ca_count = shape->ca_count};
	hc_backup_file f = {.version = HC_BACKUP_VERSION,
			    .mode = mode,
			    .creator = "fuzz",
			    .created = 1763700000,
			    .scrypt_log2_n = shape->scrypt_log2_n,
			    .scrypt_r = 8,
			    .scrypt_p = 1,
			    .oaep_hash = CKM_SHA_1,
			    .recipient = {spki, sizeof(spki)},
			    .wrapped_kek = {wrapped, 256},
			    .wrapped_mac_key = {wrapped, 40},
			    .entries = &e,
			    .entry_count = 1};

	for (size_t i = 0; i < sizeof(wrapped); i++)
		wrapped[i] = (unsigned char)(i * 7);
	return hc_backup_encode(&f, hsmb_sample_mac_key, data, len, err);
}

/*
 * hc_backup_parse's answer `rc` for `data` is a clear one: HC_OK, or a
 * message with exit 1 for a backup with any damage and exit 2 for what is
 * not a backup at all (its magic gone), as SPEC says.
 */
static inline bool hsmb_answer_clear(const unsigned char *data, size_t len, hc_rc rc,
				     const hc_error *err)
{
	bool magic = len >= HC_BACKUP_MAGIC_LEN &&
		     memcmp(data, HC_BACKUP_MAGIC, HC_BACKUP_MAGIC_LEN) == 0;

	return rc == HC_OK || (rc == (magic ? HC_CHECK : HC_USAGE) && err->message[0]);
}

#endif
