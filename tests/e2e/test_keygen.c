/* keygen end to end against SoftHSM2, cross-checked with pkcs11-tool. */
#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(keygen, .init = ts_setup_token, .fini = ts_teardown);

/* pkcs11-tool's view of the private key labelled `label`: its "Access:" line. */
static char *pkcs11_tool_access(const char *label)
{
	return ts_sh("pkcs11-tool --module %s --token-label %s --login --pin %s --list-objects "
		     "--type privkey --label '%s' 2>/dev/null | grep 'Access:'",
		     TS_SOFTHSM, TS_TOKEN, TS_PIN, label);
}

static json_t *run_json(struct ts_result *r, const char *args)
{
	json_t *doc;

	ts_run(r, "$HSMCERT keygen --json %s", args);
	ts_assert_status(r, 0);
	doc = ts_json(r);
	return doc;
}

/*
 * The default CKA_ID as another tool computes it from the public key p11tool
 * exports: SHA-1 of the modulus (openssl prints it minimal), or of the EC
 * point (the last 1 + 2 * field bytes of the SubjectPublicKeyInfo).
 */
static char *independent_id(const char *token, const char *label, int ec_bits)
{
	char digest[256], *id;

	if (ec_bits)
		snprintf(digest, sizeof(digest),
			 "openssl pkey -pubin -outform DER | tail -c %d | sha1sum",
			 1 + 2 * ((ec_bits + 7) / 8));
	else
		snprintf(digest, sizeof(digest),
			 "openssl rsa -pubin -noout -modulus | sed 's/Modulus=//' | xxd -r -p | "
			 "sha1sum");
	id = ts_sh("GNUTLS_PIN=%s p11tool --provider %s --login --export-pubkey "
		   "'pkcs11:token=%s;object=%s;type=public' 2>/dev/null | %s | cut -c1-40",
		   TS_PIN, TS_SOFTHSM, token, label, digest);
	id[strcspn(id, "\n")] = '\0';
	cr_assert_eq(strlen(id), 40, "no public key '%s' for p11tool", label);
	return id;
}

static void check_type(const char *type, const char *want_type, int bits, int nth)
{
	struct ts_result r;
	char args[128], label[16];
	json_t *doc, *key, *attrs;
	char *access, *id;

	snprintf(label, sizeof(label), "k%d", nth);
	snprintf(args, sizeof(args), "--label %s --type %s", label, type);
	doc = run_json(&r, args);
	key = json_object_get(doc, "key");
	attrs = json_object_get(key, "attributes");
	cr_assert_str_eq(json_string_value(json_object_get(key, "type")), want_type);
	cr_assert_eq(json_integer_value(json_object_get(key, "bits")), bits);
	cr_assert(json_is_true(json_object_get(attrs, "sensitive")));
	cr_assert(json_is_false(json_object_get(attrs, "extractable")));
	cr_assert(json_is_true(json_object_get(attrs, "never_extractable")));
	cr_assert(json_is_true(json_object_get(attrs, "always_sensitive")));
	cr_assert(json_is_true(json_object_get(attrs, "local")));
	cr_assert(json_is_true(json_object_get(doc, "created")));
	cr_assert(strstr(json_string_value(json_object_get(key, "uri")), "type=private"));

	/* An independent client sees the same, and derives the same id. */
	access = pkcs11_tool_access(label);
	cr_assert(strstr(access, "sensitive, always sensitive, never extractable, local"), "%s",
		  access);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2 * nth);
	id = independent_id(TS_TOKEN, label, want_type[0] == 'e' ? bits : 0);
	cr_assert_str_eq(json_string_value(json_object_get(key, "id")), id, "%s", type);
	free(id);
	free(access);
	json_decref(doc);
	ts_result_free(&r);
}

Test(keygen, rsa2048_default_is_non_exportable)
{
	struct ts_result r;
	char *ids;

	ts_run(&r, "$HSMCERT --token pkcs11:token=test keygen --label web");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Generated rsa:2048 key pair 'web'"), "%s", r.out);
	cr_assert(strstr(r.out, "token=test;id=%"), "%s", r.out);
	ts_result_free(&r);

	/* The id is SHA-1 of the modulus, as pkcs11-tool and p11tool name keys. */
	ids = ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s --list-objects "
		    "--type pubkey 2>/dev/null | awk '/ID:/{print $2}'; "
		    "pkcs11-tool --module %s --token-label test --login --pin %s --read-object "
		    "--type pubkey --label web 2>/dev/null | openssl rsa -pubin -inform DER -noout "
		    "-modulus | sed 's/Modulus=//' | xxd -r -p | sha1sum | cut -c1-40",
		    TS_SOFTHSM, TS_PIN, TS_SOFTHSM, TS_PIN);
	{
		char a[64] = "", b[64] = "";
		cr_assert_eq(sscanf(ids, "%63s %63s", a, b), 2, "%s", ids);
		cr_assert_str_eq(a, b);
	}
	free(ids);
}

/* Every type --type accepts (as typed in any case), each with its id cross-checked. */
Test(keygen, every_type)
{
	static const struct {
		const char *arg, *type;
		int bits;
	} types[] = {
		{"rsa:2048", "rsa:2048", 2048}, {"rsa:3072", "rsa:3072", 3072},
		{"RSA:4096", "rsa:4096", 4096}, {"ec:P-256", "ec:P-256", 256},
		{"EC:p-384", "ec:P-384", 384},
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		check_type(types[i].arg, types[i].type, types[i].bits, (int)i + 1);
}

/*
 * A token that pads CKA_MODULUS to a fixed width (a leading zero byte) gets
 * the same default id as one that does not, and restore, which takes the
 * modulus from the file, agrees with keygen.
 */
Test(keygen, default_id_ignores_modulus_padding_and_restore_agrees)
{
	struct ts_result r;
	json_t *doc;
	char *want;
	const char *made;

	ts_add_token("second");
	doc = ts_run_json(&r, 0,
			  "HSMCERT_FAULT_PAD_MODULUS=1 $HSMCERT --module $HSMCERT_FAULTMOD "
			  "--token pkcs11:token=test keygen --json --label padded --exportable");
	/* The fault module really padded: keygen saw a 2048-bit key, not 2056. */
	cr_assert_eq(json_integer_value(ts_json_at(doc, "key/bits")), 2048, "%s", r.out);
	want = independent_id(TS_TOKEN, "padded", 0);
	made = ts_json_str(doc, "key/id");
	cr_assert_str_eq(made, want);
	ts_result_free(&r);

	ts_run(&r, "HSMCERT_PASSPHRASE=secret-passphrase $HSMCERT --token pkcs11:token=test backup "
		   "--key pkcs11:object=padded -o padded.pfx");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	json_decref(doc);
	doc = ts_run_json(
		&r, 0,
		"HSMCERT_PASSPHRASE=secret-passphrase HSMCERT_FAULT_PAD_MODULUS=1 $HSMCERT "
		"--module $HSMCERT_FAULTMOD --token pkcs11:token=second --json restore "
		"padded.pfx --label copy");
	cr_assert(strstr(r.out, want), "restore's id differs from keygen's %s: %s", want, r.out);
	free(want);
	json_decref(doc);
	ts_result_free(&r);
}

Test(keygen, exportable_stays_sensitive)
{
	struct ts_result r;
	json_t *doc = run_json(&r, "--label exp --exportable");
	json_t *attrs = json_object_get(json_object_get(doc, "key"), "attributes");
	char *access;

	cr_assert(json_is_true(json_object_get(attrs, "extractable")));
	cr_assert(json_is_true(json_object_get(attrs, "sensitive")));
	cr_assert(json_is_false(json_object_get(attrs, "never_extractable")));
	access = pkcs11_tool_access("exp");
	cr_assert(strstr(access, "sensitive") && strstr(access, "extractable") &&
			  !strstr(access, "never extractable"),
		  "%s", access);
	free(access);
	json_decref(doc);
	ts_result_free(&r);
}

Test(keygen, given_id)
{
	struct ts_result r;
	json_t *doc = run_json(&r, "--label k --id 0A:0b:0c");

	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "key"), "id")),
			 "0a0b0c");
	json_decref(doc);
	ts_result_free(&r);
}

Test(keygen, duplicate_label_refused_and_if_missing)
{
	struct ts_result r;
	json_t *doc;

	ts_run(&r, "$HSMCERT keygen --label web");
	ts_assert_status(&r, 0);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT keygen --label web");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "label 'web' already exists"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);

	doc = run_json(&r, "--label web --if-missing");
	cr_assert(json_is_false(json_object_get(doc, "created")));
	json_decref(doc);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);

	/* --if-missing with another type is not "the same key". */
	ts_run(&r, "$HSMCERT keygen --label web --if-missing --type ec:P-256");
	ts_assert_status(&r, 1);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

Test(keygen, duplicate_id_refused)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT keygen --label a --id 01");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT keygen --label b --id 01");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "id 01 already exists"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

Test(keygen, bad_input_is_usage_error_and_creates_nothing)
{
	static const char *bad[] = {
		"--label k --type rsa:1024", "--label k --type dsa", "--label k --id xyz",
		"--label k --id ''",	     "--type rsa:2048",	     "--label k extra",
		"--label k --bogus",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ts_result r;
		ts_run(&r, "$HSMCERT keygen %s", bad[i]);
		ts_assert_status(&r, 2);
		cr_assert(strlen(r.err) > 0);
		ts_result_free(&r);
	}
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

Test(keygen, wrong_pin_reports_ckr_and_does_not_lock)
{
	struct ts_result r;

	ts_run(&r, "HSMCERT_PIN=0000 $HSMCERT keygen --label k");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_Login failed: CKR_PIN_INCORRECT"), "%s", r.err);
	ts_result_free(&r);

	ts_run(&r, "HSMCERT_PIN=0000 $HSMCERT keygen --json --label k");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.out, "\"ckr\": \"CKR_PIN_INCORRECT\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"function\": \"C_Login\""), "%s", r.out);
	ts_result_free(&r);

	/* Not retried and not locked: the right PIN still works. */
	ts_run(&r, "$HSMCERT keygen --label k --pin-source env:PIN");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

Test(keygen, pin_sources)
{
	struct ts_result r;

	ts_write("pinfile", TS_PIN "\n");
	ts_run(&r, "unset HSMCERT_PIN; $HSMCERT keygen --label a --pin-source file:pinfile");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "unset HSMCERT_PIN; $HSMCERT keygen --label b --pin-source fd:3 3<pinfile");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "unset HSMCERT_PIN; $HSMCERT keygen --label c "
		   "--token \"pkcs11:token=test?pin-source=file:$TEST_DIR/pinfile\"");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* No source and no terminal: a clear error, nothing created. */
	ts_run(&r, "unset HSMCERT_PIN; $HSMCERT keygen --label d");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "no terminal"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
}

Test(keygen, token_selection)
{
	struct ts_result r;

	ts_add_token("second");
	/* Two tokens and no --token: refuse to guess. */
	ts_run(&r, "$HSMCERT keygen --label k");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "2 tokens match"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_TOKEN=pkcs11:token=second $HSMCERT keygen --label k");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("second"), 2);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
	/* A URI naming no token is the user's input (2), and the message lists the tokens. */
	ts_run(&r, "$HSMCERT keygen --token pkcs11:token=nosuch --label k");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "'second'") && strstr(r.err, "'test'"), "%s", r.err);
	cr_assert(strstr(r.err, "no initialised token matches"), "%s", r.err);
	ts_result_free(&r);
}

/* ---- failure paths through the fault-injecting module --------------------- */

Test(keygen, failure_after_generation_leaves_nothing)
{
	struct ts_result r;

	/* Setting the derived id fails: both halves must be destroyed. */
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_SetAttributeValue $HSMCERT --module $HSMCERT_FAULTMOD "
		   "keygen --label k");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_SetAttributeValue failed: CKR_DEVICE_ERROR"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

Test(keygen, refused_template_falls_back_keeping_security)
{
	struct ts_result r;
	char *access;

	ts_run(&r, "HSMCERT_FAULT_REJECT_ATTR=0x162 $HSMCERT --module $HSMCERT_FAULTMOD keygen "
		   "--label k");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.err, "refused the full key template (CKR_ATTRIBUTE_TYPE_INVALID)"), "%s",
		  r.err);
	ts_result_free(&r);
	access = pkcs11_tool_access("k");
	cr_assert(strstr(access, "sensitive, always sensitive, never extractable, local"), "%s",
		  access);
	free(access);
}

Test(keygen, token_defaulting_to_extractable_is_corrected)
{
	struct ts_result r;
	char *access;

	ts_run(&r, "HSMCERT_FAULT_REJECT_ATTR=0x162 HSMCERT_FAULT_EXTRACTABLE_DEFAULT=1 "
		   "$HSMCERT --module $HSMCERT_FAULTMOD keygen --label k");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.err, "CKA_EXTRACTABLE was set to false"), "%s", r.err);
	ts_result_free(&r);
	access = pkcs11_tool_access("k");
	cr_assert_null(strstr(access, "never extractable"), "%s", access);
	free(access);
	/* Extractable is off even so: the attribute reads false. */
	ts_run(&r, "$HSMCERT keygen --json --label k --if-missing");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "\"extractable\": false"), "%s", r.out);
	ts_result_free(&r);
}

Test(keygen, token_that_cannot_keep_key_non_exportable_fails_clean)
{
	struct ts_result r;

	ts_run(&r, "HSMCERT_FAULT_REJECT_ATTR=0x162 HSMCERT_FAULT_EXTRACTABLE_DEFAULT=1 "
		   "HSMCERT_FAULT_NO_SET_EXTRACTABLE=1 $HSMCERT --module $HSMCERT_FAULTMOD keygen "
		   "--label k");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "cannot keep the key non-exportable"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

Test(keygen, object_uri_and_token_must_agree)
{
	struct ts_result r;

	ts_add_token("prod");
	ts_run(&r, "$HSMCERT --token pkcs11:token=prod keygen --label web");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* HSMCERT_TOKEN says prod, the URI says test: refuse rather than act on prod. */
	ts_run(&r, "HSMCERT_TOKEN=pkcs11:token=prod $HSMCERT delete --yes "
		   "'pkcs11:token=test;object=web;type=private'");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "names another token"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("prod"), 2);
}
