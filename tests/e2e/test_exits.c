/*
 * Exit codes where the class of an error must not depend on which byte or
 * which name was wrong (SPEC "Exit codes"): a tampered backup is 1 wherever
 * it was changed, a file that is no backup is 2; a URI or option that names
 * nothing on the token is the user's input (2), not a token error (3).
 * Every refusal leaves the token as it was (objects counted with pkcs11-tool).
 */
#include "support.h"

#include "hsmcert/backup.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define PASS "correct horse battery staple"

static void setup(void)
{
	ts_setup_token();
	setenv("HSMCERT_PASSPHRASE", PASS, 1);
	ts_add_token("second");
}

TestSuite(exits, .init = setup, .fini = ts_teardown);

/* An exportable EC key on token "test" and its passphrase backup; returns the file. */
static unsigned char *backup_file(size_t *len)
{
	free(ts_sh("$HSMCERT --token pkcs11:token=test keygen --label web --type ec:P-256 "
		   "--exportable >/dev/null && $HSMCERT --token pkcs11:token=test backup --key "
		   "pkcs11:object=web -o web.hsmb >/dev/null"));
	return (unsigned char *)ts_read("web.hsmb", len);
}

static void write_bytes(const char *name, const unsigned char *data, size_t len)
{
	FILE *f = fopen(name, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/* Write `data` with byte `at` XORed with `mask`. */
static void write_changed(const char *name, const unsigned char *data, size_t len, size_t at,
			  unsigned char mask)
{
	unsigned char *copy = malloc(len);
	memcpy(copy, data, len);
	copy[at] ^= mask;
	write_bytes(name, copy, len);
	free(copy);
}

/* restore into token "second": the exit status and, for 1, the "modified" wording. */
static void assert_restore_refused(const char *what, int want)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore x.hsmb");
	cr_assert_eq(r.status, want, "%s: exit %d, want %d\n%s", what, r.status, want, r.err);
	if (want == 1)
		cr_assert(strstr(r.err, "modified") || strstr(r.err, "wrong passphrase"), "%s: %s",
			  what, r.err);
	else
		cr_assert(strstr(r.err, "neither an hsmcert backup"), "%s: %s", what, r.err);
	ts_result_free(&r);
}

/* Where the records of the file stop being header and parameters: after the scrypt record. */
static size_t end_of_parameters(const unsigned char *data, size_t len)
{
	size_t at = HC_BACKUP_HEADER_LEN;

	while (at + 6 <= len) {
		unsigned type = (unsigned)data[at] << 8 | data[at + 1];
		size_t n = (size_t)data[at + 2] << 24 | (size_t)data[at + 3] << 16 |
			   (size_t)data[at + 4] << 8 | data[at + 5];
		at += 6 + n;
		if (type == 0x0010) /* the scrypt record */
			return at;
	}
	cr_assert_fail("no scrypt record");
	return 0;
}

Test(exits, tampered_backup_is_1_wherever_it_was_changed)
{
	size_t len, params_end, cli_runs = 0;
	unsigned char *data = backup_file(&len);
	const unsigned char masks[] = {0x01, 0x80, 0xff};

	params_end = end_of_parameters(data, len);

	/*
	 * In process, every byte of the file and three ways of changing it: only
	 * the magic makes it "not a backup" (2), anything else fails as damaged (1)
	 * or parses and is left to the tag (checked below through the CLI).
	 */
	for (size_t at = 0; at < len; at++)
		for (size_t m = 0; m < sizeof(masks); m++) {
			unsigned char *copy = malloc(len);
			hc_backup_file f;
			hc_error err = {0};
			hc_rc rc;
			memcpy(copy, data, len);
			copy[at] ^= masks[m];
			rc = hc_backup_parse(copy, len, "x.hsmb", &f, &err);
			if (rc == HC_OK)
				hc_backup_file_clear(&f);
			cr_assert(rc == HC_OK ||
					  rc == (at < HC_BACKUP_MAGIC_LEN ? HC_USAGE : HC_CHECK),
				  "offset %zu ^ %02x: rc %d: %s", at, masks[m], rc, err.message);
			if (rc == HC_CHECK)
				cr_assert(strstr(err.message, "modified or damaged"), "%s",
					  err.message);
			free(copy);
		}

	/*
	 * Through the CLI: every byte of the header and the parameter records the
	 * parser refuses (those refusals are cheap, no scrypt), each exit 1.
	 */
	for (size_t at = HC_BACKUP_MAGIC_LEN; at < params_end; at++) {
		hc_backup_file f;
		hc_error err = {0};
		unsigned char *copy = malloc(len);
		bool refused;
		memcpy(copy, data, len);
		copy[at] ^= 0x80;
		refused = hc_backup_parse(copy, len, "x.hsmb", &f, &err) != HC_OK;
		if (!refused)
			hc_backup_file_clear(&f);
		free(copy);
		if (!refused)
			continue;
		write_changed("x.hsmb", data, len, at, 0x80);
		assert_restore_refused("header byte", 1);
		cli_runs++;
	}
	cr_assert(cli_runs >= HC_BACKUP_HEADER_LEN - HC_BACKUP_MAGIC_LEN, "%zu", cli_runs);

	/* A few bytes the parser accepts: the creator, the salt, the key entry, the tag. */
	{
		const size_t body[] = {HC_BACKUP_HEADER_LEN + 8, params_end - 20, params_end + 30,
				       len - HC_BACKUP_TAG_LEN - 1, len - 1};
		for (size_t i = 0; i < sizeof(body) / sizeof(body[0]); i++) {
			write_changed("x.hsmb", data, len, body[i], 0x01);
			assert_restore_refused("body byte", 1);
		}
	}

	/* The magic changed: not a backup at all. */
	for (size_t at = 0; at < HC_BACKUP_MAGIC_LEN; at += 3) {
		write_changed("x.hsmb", data, len, at, 0x01);
		assert_restore_refused("magic byte", 2);
	}
	cr_assert_eq(ts_count_objects("second"), 0, "a refused restore left objects");
	free(data);
}

Test(exits, truncated_or_extended_backup_is_1)
{
	size_t len;
	unsigned char *data = backup_file(&len);
	unsigned char *longer = malloc(len + 100);
	const size_t cuts[] = {HC_BACKUP_MAGIC_LEN,	10,	11,
			       HC_BACKUP_HEADER_LEN,	40,	len / 2,
			       len - HC_BACKUP_TAG_LEN, len - 1};
	struct ts_result r;
	json_t *doc;

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		write_bytes("x.hsmb", data, cuts[i]);
		assert_restore_refused("truncated", 1);
	}
	memcpy(longer, data, len);
	memset(longer + len, 0, 100);
	write_bytes("x.hsmb", longer, len + 1);
	assert_restore_refused("one byte longer", 1);
	write_bytes("x.hsmb", longer, len + 100);
	assert_restore_refused("100 bytes longer", 1);

	/* Less than the magic, or something else entirely: not a backup (2). */
	write_bytes("x.hsmb", data, HC_BACKUP_MAGIC_LEN - 1);
	assert_restore_refused("part of the magic", 2);
	write_bytes("x.hsmb", (const unsigned char *)"no backup, just text\n", 21);
	assert_restore_refused("text", 2);

	/* --json: the error document says 1 too. */
	write_bytes("x.hsmb", data, len - 1);
	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore x.hsmb --json");
	ts_assert_status(&r, 1);
	doc = ts_json(&r);
	cr_assert_eq(
		json_integer_value(json_object_get(json_object_get(doc, "error"), "exit_code")), 1,
		"%s", r.out);
	json_decref(doc);
	ts_result_free(&r);

	cr_assert_eq(ts_count_objects("second"), 0, "a refused restore left objects");
	free(longer);
	free(data);
}

/*
 * A URI or option that names nothing on the token is the user's input: 2, the
 * name in the message, no function or CKR_ code (nothing failed in PKCS#11);
 * for a token or slot, the message lists the ones that exist.
 */
Test(exits, a_name_that_matches_nothing_is_2)
{
	static const struct {
		const char *args, *says, *also;
	} bad[] = {
		{"csr --key pkcs11:object=nope --cn www.x.hk", "pkcs11:object=nope", NULL},
		{"check --key pkcs11:object=nope", "pkcs11:object=nope", NULL},
		{"backup --key pkcs11:object=nope -o x.hsmb", "pkcs11:object=nope", NULL},
		{"delete pkcs11:object=nope --yes", "pkcs11:object=nope", "'test'"},
		{"list --token pkcs11:token=nope", "pkcs11:token=nope", "'second'"},
		{"keygen --token pkcs11:token=nope --label k", "pkcs11:token=nope", "'second'"},
		{"init-token --slot 999 --label x", "--slot 999", "('second')"},
		{"init-token --token pkcs11:token=nope --label x", "pkcs11:token=nope", "('test')"},
	};
	int before;

	/* Two tokens here: the environment picks "test", an option overrides it. */
	setenv("HSMCERT_TOKEN", "pkcs11:token=test", 1);
	free(ts_sh("$HSMCERT --token pkcs11:token=test keygen --label web --type ec:P-256 "
		   ">/dev/null"));
	before = ts_count_objects("test");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ts_result r;
		json_t *doc, *e;

		ts_run(&r, "$HSMCERT %s", bad[i].args);
		ts_assert_status(&r, 2);
		cr_assert(strstr(r.err, bad[i].says), "%s: %s", bad[i].args, r.err);
		cr_assert(!bad[i].also || strstr(r.err, bad[i].also), "%s: %s", bad[i].args, r.err);
		ts_result_free(&r);

		ts_run(&r, "$HSMCERT %s --json", bad[i].args);
		ts_assert_status(&r, 2);
		doc = ts_json(&r);
		e = json_object_get(doc, "error");
		cr_assert_eq(json_integer_value(json_object_get(e, "exit_code")), 2, "%s", r.out);
		cr_assert_null(json_object_get(e, "ckr"), "%s", r.out);
		json_decref(doc);
		ts_result_free(&r);
	}
	cr_assert_eq(ts_count_objects("test"), before);
	cr_assert_eq(ts_count_objects("second"), 0);
	cr_assert(!ts_exists("x.hsmb"));
}
