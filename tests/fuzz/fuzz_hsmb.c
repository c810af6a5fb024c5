/*
 * hsmcert backups (.hsmb): parse; verify the tag under a fixed
 * authentication key (the seeds are made with it, so verification is
 * reached); re-encode what parsed, which must parse and verify again.
 * HSMCERT_FUZZ_WRITE_SEEDS=DIR writes the seed files (both protection
 * modes) and exits: scripts/fuzz.sh uses it to refresh the corpus.
 */
#include "fuzz.h"

#include "hsmcert/backup.h"

static const unsigned char mac_key[32] = {1, 2, 3};

static void write_seed(const char *dir, hc_backup_mode mode)
{
	static unsigned char spki[91], wrapped[256], cert[120], ca[100], id[20];
	hc_backup_flag flags[2] = {{CKA_EXTRACTABLE, true}, {CKA_SIGN, true}};
	hc_blob cas[1] = {{ca, sizeof(ca)}};
	hc_backup_entry e = {.key_type = CKK_EC,
			     .label = "web",
			     .id = {id, sizeof(id)},
			     .flags = flags,
			     .flag_count = 2,
			     .public_key = {spki, sizeof(spki)},
			     .wrap_mechanism = CKM_AES_KEY_WRAP_PAD,
			     .wrapped_key = {wrapped, 48},
			     .certificate = {cert, sizeof(cert)},
			     .ca_certificates = cas,
			     .ca_count = 1};
	hc_backup_file f = {.version = HC_BACKUP_VERSION,
			    .mode = mode,
			    .creator = "fuzz",
			    .created = 1763700000,
			    .scrypt_log2_n = 14,
			    .scrypt_r = 8,
			    .scrypt_p = 1,
			    .oaep_hash = CKM_SHA_1,
			    .recipient = {spki, sizeof(spki)},
			    .wrapped_kek = {wrapped, 256},
			    .wrapped_mac_key = {wrapped, 40},
			    .entries = &e,
			    .entry_count = 1};
	unsigned char *data;
	size_t len;
	hc_error err = {0};
	char path[512];
	FILE *out;

	for (size_t i = 0; i < sizeof(wrapped); i++)
		wrapped[i] = (unsigned char)(i * 7);
	FUZZ_ASSERT(hc_backup_encode(&f, mac_key, &data, &len, &err) == HC_OK);
	snprintf(path, sizeof(path), "%s/%s.hsmb", dir,
		 mode == HC_BACKUP_PASSPHRASE ? "passphrase" : "recipient");
	out = fopen(path, "wb");
	FUZZ_ASSERT(out && fwrite(data, 1, len, out) == len && fclose(out) == 0);
	free(data);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("HSMCERT_FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir) {
		write_seed(dir, HC_BACKUP_PASSPHRASE);
		write_seed(dir, HC_BACKUP_RECIPIENT);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hc_backup_file parsed, again;
	hc_error err = {0};
	unsigned char *encoded = NULL;
	size_t len = 0;
	bool magic = size >= HC_BACKUP_MAGIC_LEN &&
		     memcmp(data, HC_BACKUP_MAGIC, HC_BACKUP_MAGIC_LEN) == 0;
	hc_rc rc = hc_backup_parse(data, size, "fuzz", &parsed, &err);

	/* Not a backup (no magic): 2; a backup with any other damage: 1 (SPEC). */
	FUZZ_ASSERT(rc == HC_OK || rc == (magic ? HC_CHECK : HC_USAGE) || rc == HC_IO);
	FUZZ_ASSERT(rc == HC_OK || err.message[0]);
	if (rc != HC_OK)
		return 0;
	rc = hc_backup_verify(&parsed, data, mac_key, &err);
	FUZZ_ASSERT(rc == HC_OK || rc == HC_CHECK);
	/* What parsed encodes again, and that encoding parses and verifies. */
	if (hc_backup_encode(&parsed, mac_key, &encoded, &len, &err) == HC_OK) {
		FUZZ_ASSERT(hc_backup_parse(encoded, len, "re-encoded", &again, &err) == HC_OK);
		FUZZ_ASSERT(hc_backup_verify(&again, encoded, mac_key, &err) == HC_OK);
		FUZZ_ASSERT(again.entry_count == parsed.entry_count);
		hc_backup_file_clear(&again);
		free(encoded);
	}
	hc_backup_file_clear(&parsed);
	return 0;
}
