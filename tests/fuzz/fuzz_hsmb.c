/*
 * hsmcert backups (.hsmb): parse; verify the tag under a fixed
 * authentication key (the seeds are made with it, so verification is
 * reached); re-encode what parsed, which must parse and verify again.
 * HSMCERT_FUZZ_WRITE_SEEDS=DIR writes the seed files (both protection
 * modes) and exits: scripts/fuzz.sh uses it to refresh the corpus.
 */
#include "fuzz.h"

#include "hsmb_sample.h"

static void write_seed(const char *dir, hc_backup_mode mode)
{
	static const struct hsmb_sample_shape small = {.wrapped_key_len = 48,
						       .cert_len = 120,
						       .ca_lens = {100},
						       .ca_count = 1,
						       .scrypt_log2_n = 14};
	unsigned char *data;
	size_t len;
	hc_error err = {0};
	char path[512];
	FILE *out;

	FUZZ_ASSERT(hsmb_sample(mode, &small, &data, &len, &err) == HC_OK);
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
	hc_rc rc = hc_backup_parse(data, size, "fuzz", &parsed, &err);

	/* HC_IO: out of memory, with its message. */
	FUZZ_ASSERT(hsmb_answer_clear(data, size, rc, &err) || (rc == HC_IO && err.message[0]));
	if (rc != HC_OK)
		return 0;
	rc = hc_backup_verify(&parsed, data, hsmb_sample_mac_key, &err);
	FUZZ_ASSERT(rc == HC_OK || rc == HC_CHECK);
	/* What parsed encodes again, and that encoding parses and verifies. */
	if (hc_backup_encode(&parsed, hsmb_sample_mac_key, &encoded, &len, &err) == HC_OK) {
		FUZZ_ASSERT(hc_backup_parse(encoded, len, "re-encoded", &again, &err) == HC_OK);
		FUZZ_ASSERT(hc_backup_verify(&again, encoded, hsmb_sample_mac_key, &err) == HC_OK);
		FUZZ_ASSERT(again.entry_count == parsed.entry_count);
		hc_backup_file_clear(&again);
		free(encoded);
	}
	hc_backup_file_clear(&parsed);
	return 0;
}
