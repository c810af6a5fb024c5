/*
 * audit end to end against SoftHSM2: verdicts and reasons, JSON attributes
 * cross-checked with pkcs11-tool, exit codes, probe evidence, and that the
 * token is left exactly as it was.
 */
#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(audit, .init = ts_setup_token, .fini = ts_teardown);

#define P11TOOL                                                                                    \
	"pkcs11-tool --module " TS_SOFTHSM " --token-label " TS_TOKEN " --login --pin " TS_PIN

static void sh_ok(const char *cmd)
{
	free(ts_sh("%s", cmd));
}

static json_t *audit_json(struct ts_result *r, const char *args, int want_status)
{
	json_t *doc;

	ts_run(r, "$HSMCERT audit --json %s", args);
	ts_assert_status(r, want_status);
	doc = ts_json(r);
	return doc;
}

static json_t *key_named(json_t *doc, const char *label)
{
	size_t i;
	json_t *k;

	json_array_foreach(json_object_get(doc, "keys"), i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "label")), label) == 0)
			return k;
	}
	cr_assert_fail("no key '%s' in the report", label);
	return NULL;
}

static bool has_reason(json_t *key, const char *reason)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(key, "reasons"), i, v)
	{
		if (strcmp(json_string_value(v), reason) == 0)
			return true;
	}
	return false;
}

static const char *attr_ckr(json_t *probe_reads, const char *attribute)
{
	size_t i;
	json_t *v;

	json_array_foreach(probe_reads, i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "attribute")), attribute) == 0)
			return json_string_value(json_object_get(v, "ckr"));
	}
	cr_assert_fail("no probe of %s", attribute);
	return NULL;
}

/* The imported key: made by OpenSSL, written to the token by pkcs11-tool. */
static void write_imported_key(const char *label)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER "
		 "-out %s.der 2>/dev/null && " P11TOOL
		 " --write-object %s.der --type privkey --label %s --id 77 >/dev/null 2>&1",
		 label, label, label);
	sh_ok(cmd);
}

static void keygen(const char *args)
{
	struct ts_result r;
	ts_run(&r, "$HSMCERT keygen %s", args);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

/* Everything pkcs11-tool says about the token's objects, to compare before and after. */
static char *token_listing(void)
{
	return ts_sh(P11TOOL " --list-objects 2>/dev/null");
}

/* The probe's wrap attempt with one mechanism (SPEC: every mechanism the token lists). */
static json_t *wrap_with(json_t *probe, const char *mech)
{
	json_t *w;
	size_t i;

	json_array_foreach(json_object_get(probe, "wraps"), i,
			   w) if (strcmp(json_string_value(json_object_get(w, "mechanism")),
					 mech) == 0) return w;
	cr_assert_fail("no wrap attempt with %s", mech);
	return NULL;
}

Test(audit, generated_non_exportable_key_passes)
{
	struct ts_result r;
	json_t *doc, *k, *attrs;

	keygen("--label web");
	doc = audit_json(&r, "", 0);
	k = key_named(doc, "web");
	attrs = json_object_get(k, "attributes");
	cr_assert_str_eq(json_string_value(json_object_get(k, "verdict")), "pass");
	cr_assert_eq(json_array_size(json_object_get(k, "reasons")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(k, "class")), "private_key");
	cr_assert_str_eq(json_string_value(json_object_get(k, "type")), "rsa:2048");
	cr_assert_eq(json_integer_value(json_object_get(k, "bits")), 2048);
	cr_assert_str_eq(json_string_value(json_object_get(attrs, "key_gen_mechanism")),
			 "CKM_RSA_PKCS_KEY_PAIR_GEN");
	cr_assert(strstr(json_string_value(json_object_get(k, "uri")), "object=web;type=private"));
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(doc, "summary"), "result")),
		"pass");
	cr_assert(json_is_true(json_object_get(json_object_get(doc, "audit"), "logged_in")));
	json_decref(doc);
	ts_result_free(&r);
}

Test(audit, exportable_key_fails_naming_extractable)
{
	struct ts_result r;
	json_t *doc, *k;

	keygen("--label good");
	keygen("--label exp --exportable");
	doc = audit_json(&r, "", 1);
	k = key_named(doc, "exp");
	cr_assert_str_eq(json_string_value(json_object_get(k, "verdict")), "fail");
	cr_assert(has_reason(k, "extractable"), "%s", r.out);
	cr_assert(has_reason(k, "was once extractable"), "%s", r.out);
	cr_assert_not(has_reason(k, "imported: not local"));
	cr_assert_str_eq(json_string_value(json_object_get(key_named(doc, "good"), "verdict")),
			 "pass");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "summary"), "failed")),
		     1);
	json_decref(doc);
	ts_result_free(&r);

	/* The text report names it too, in the table and in the key's line. */
	ts_run(&r, "$HSMCERT audit");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "exp (private key): FAIL: extractable, was once extractable"), "%s",
		  r.out);
	cr_assert(strstr(r.out, "Result: FAIL: 1 of 2 keys violate"), "%s", r.out);
	ts_result_free(&r);
}

Test(audit, imported_key_fails_not_local)
{
	struct ts_result r;
	json_t *doc, *k, *attrs;

	write_imported_key("outside");
	doc = audit_json(&r, "", 1);
	k = key_named(doc, "outside");
	attrs = json_object_get(k, "attributes");
	cr_assert(has_reason(k, "imported: not local"), "%s", r.out);
	cr_assert(has_reason(k, "not always sensitive"), "%s", r.out);
	cr_assert(has_reason(k, "was once extractable"), "%s", r.out);
	cr_assert(json_is_false(json_object_get(attrs, "local")));
	/* Not generated here: no mechanism on record, reported as unknown (null). */
	cr_assert(json_is_null(json_object_get(attrs, "key_gen_mechanism")));
	json_decref(doc);
	ts_result_free(&r);
}

/* A field ("Access", "ID") of the private key labelled `label`, as pkcs11-tool lists it. */
static char *privkey_field(const char *label, const char *field)
{
	return ts_sh(P11TOOL " --list-objects --type privkey 2>/dev/null | awk -v want='%s' "
			     "-v field='%s:' '/^Private Key Object/ {label=\"\"} "
			     "$1 == \"label:\" {label=$2} "
			     "label == want && $1 == field {sub(/^ *[A-Za-z]+: */, \"\"); "
			     "printf \"%%s\", $0}'",
		     label, field);
}

/* Whether a comma-separated pkcs11-tool "Access:" line holds `word`. */
static bool access_has(const char *access, const char *word)
{
	char copy[256], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", access);
	for (char *w = strtok_r(copy, ",\n", &save); w; w = strtok_r(NULL, ",\n", &save)) {
		while (*w == ' ')
			w++;
		if (strcmp(w, word) == 0)
			return true;
	}
	return false;
}

Test(audit, json_attributes_match_pkcs11_tool)
{
	static const struct {
		const char *json, *access;
	} flags[] = {
		{"sensitive", "sensitive"},
		{"always_sensitive", "always sensitive"},
		{"extractable", "extractable"},
		{"never_extractable", "never extractable"},
		{"local", "local"},
	};
	static const char *labels[] = {"web", "exp", "ec", "outside"};
	struct ts_result r;
	json_t *doc;

	keygen("--label web");
	keygen("--label exp --exportable");
	keygen("--label ec --type ec:P-256");
	write_imported_key("outside");
	doc = audit_json(&r, "--policy none", 0);
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		json_t *k = key_named(doc, labels[i]);
		json_t *attrs = json_object_get(k, "attributes");
		char *access = privkey_field(labels[i], "Access");
		char *id = privkey_field(labels[i], "ID");
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			cr_assert_eq(json_is_true(json_object_get(attrs, flags[f].json)),
				     access_has(access, flags[f].access),
				     "%s: %s is %s in our report, pkcs11-tool says '%s'", labels[i],
				     flags[f].json,
				     json_is_true(json_object_get(attrs, flags[f].json)) ? "true"
											 : "false",
				     access);
		cr_assert_str_eq(json_string_value(json_object_get(k, "id")), id);
		free(access);
		free(id);
	}
	json_decref(doc);
	ts_result_free(&r);
}

Test(audit, policy_none_is_inventory_only)
{
	struct ts_result r;
	json_t *doc, *k;

	keygen("--label exp --exportable");
	doc = audit_json(&r, "--policy none", 0);
	k = key_named(doc, "exp");
	cr_assert(json_is_null(json_object_get(k, "verdict")));
	cr_assert_null(json_object_get(k, "reasons"));
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(doc, "summary"), "result")),
		"inventory");
	json_decref(doc);
	ts_result_free(&r);
}

Test(audit, usage_errors_exit_2)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT audit --policy lax");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "sign-only") && strstr(r.err, "none"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT audit extra");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT audit --help");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "--probe"), "%s", r.out);
	ts_result_free(&r);
}

Test(audit, empty_token)
{
	struct ts_result r;
	json_t *doc, *summary;

	doc = audit_json(&r, "--probe", 0);
	summary = json_object_get(doc, "summary");
	cr_assert_eq(json_integer_value(json_object_get(summary, "keys")), 0);
	cr_assert_eq(json_array_size(json_object_get(doc, "keys")), 0);
	cr_assert_eq(json_array_size(json_object_get(doc, "orphan_certificates")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(summary, "result")), "pass");
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT audit");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "No private or secret keys on the token."), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

Test(audit, wrong_pin_exits_3)
{
	struct ts_result r;
	json_t *doc, *e;

	keygen("--label web");
	ts_run(&r, "HSMCERT_PIN=0000 $HSMCERT audit --json");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "CKR_PIN_INCORRECT"), "%s", r.err);
	doc = ts_json(&r);
	e = json_object_get(doc, "error");
	cr_assert_str_eq(json_string_value(json_object_get(e, "ckr")), "CKR_PIN_INCORRECT");
	cr_assert_eq(json_integer_value(json_object_get(e, "exit_code")), 3);
	json_decref(doc);
	ts_result_free(&r);

	/* No PIN and no terminal: a clear error, not a silent partial report. */
	ts_run(&r, "unset HSMCERT_PIN; $HSMCERT audit </dev/null");
	cr_assert_neq(r.status, 0);
	cr_assert_neq(r.status, 1);
	cr_assert(strstr(r.err, "PIN"), "%s", r.err);
	ts_result_free(&r);
}

Test(audit, token_identity_and_software_slot)
{
	struct ts_result r;
	json_t *doc, *token, *slot, *module, *audit;
	char *serial;

	doc = audit_json(&r, "", 0);
	token = json_object_get(doc, "token");
	slot = json_object_get(doc, "slot");
	module = json_object_get(doc, "module");
	audit = json_object_get(doc, "audit");
	serial = ts_sh("softhsm2-util --show-slots | awk '/Serial number:/ && $3 != \"\" "
		       "{s=$3} /Label: *test *$/ {printf \"%%s\", s}'");
	cr_assert_str_eq(json_string_value(json_object_get(token, "label")), "test");
	cr_assert_str_eq(json_string_value(json_object_get(token, "serial")), serial);
	cr_assert_str_eq(json_string_value(json_object_get(token, "model")), "SoftHSM v2");
	cr_assert_not_null(json_string_value(json_object_get(token, "firmware_version")));
	cr_assert(json_is_true(json_object_get(slot, "software_token")));
	cr_assert(json_is_false(json_object_get(slot, "hardware")));
	cr_assert_str_eq(json_string_value(json_object_get(module, "path")), TS_SOFTHSM);
	cr_assert_str_eq(json_string_value(json_object_get(audit, "policy")), "non-exportable");
	cr_assert_not_null(json_string_value(json_object_get(audit, "tool_version")));
	cr_assert_eq(strlen(json_string_value(json_object_get(audit, "time"))), 20);
	json_decref(doc);
	ts_result_free(&r);
	free(serial);

	ts_run(&r, "$HSMCERT audit");
	cr_assert(strstr(r.out, "SOFTWARE slot"), "%s", r.out);
	ts_result_free(&r);
}

Test(audit, certificate_subject_and_not_after)
{
	struct ts_result r;
	json_t *doc, *certs, *c;
	char *not_after;

	keygen("--label web --id 0102");
	/* Stored under another id: the report still finds it by the key. */
	ts_store_cert("web", "ab", "web-cert", "www.example.hk", 90);
	ts_store_cert(NULL, "cd", "stray", "stray.example.hk", 90);
	not_after = ts_sh("openssl x509 -inform DER -in web-cert.crt.der -noout -enddate | "
			  "cut -d= -f2 | xargs -I{} date -u -d {} +%%Y-%%m-%%dT%%H:%%M:%%SZ | "
			  "tr -d '\\n'");
	doc = audit_json(&r, "", 0);
	certs = json_object_get(key_named(doc, "web"), "certificates");
	cr_assert_eq(json_array_size(certs), 1, "%s", r.out);
	c = json_array_get(certs, 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "subject")), "CN=www.example.hk");
	cr_assert_str_eq(json_string_value(json_object_get(c, "not_after")), not_after);
	cr_assert_str_eq(json_string_value(json_object_get(c, "paired_by")), "key");
	cr_assert_eq(json_array_size(json_object_get(doc, "orphan_certificates")), 1);
	cr_assert_str_eq(
		json_string_value(json_object_get(
			json_array_get(json_object_get(doc, "orphan_certificates"), 0), "subject")),
		"CN=stray.example.hk");
	json_decref(doc);
	ts_result_free(&r);
	free(not_after);
}

Test(audit, probe_records_the_tokens_answers)
{
	struct ts_result r;
	json_t *doc, *k, *probe, *wrap;
	char *before, *after;

	keygen("--label good");
	keygen("--label exp --exportable");
	before = token_listing();
	doc = audit_json(&r, "--probe", 1);

	k = key_named(doc, "good");
	probe = json_object_get(k, "probe");
	wrap = wrap_with(probe, "CKM_AES_KEY_WRAP_PAD");
	cr_assert_str_eq(attr_ckr(json_object_get(probe, "reads"), "CKA_PRIVATE_EXPONENT"),
			 "CKR_ATTRIBUTE_SENSITIVE");
	cr_assert_str_eq(attr_ckr(json_object_get(probe, "reads"), "CKA_PRIME_1"),
			 "CKR_ATTRIBUTE_SENSITIVE");
	cr_assert_str_eq(json_string_value(json_object_get(wrap, "ckr")), "CKR_KEY_UNEXTRACTABLE");
	cr_assert_str_eq(json_string_value(json_object_get(wrap, "mechanism")),
			 "CKM_AES_KEY_WRAP_PAD");
	cr_assert(json_is_false(json_object_get(probe, "secret_readable")));
	cr_assert_str_eq(json_string_value(json_object_get(k, "verdict")), "pass");

	k = key_named(doc, "exp");
	probe = json_object_get(k, "probe");
	wrap = wrap_with(probe, "CKM_AES_KEY_WRAP_PAD");
	cr_assert_str_eq(json_string_value(json_object_get(wrap, "ckr")), "CKR_OK");
	cr_assert_gt(json_integer_value(json_object_get(wrap, "wrapped_bytes")), 1000);
	cr_assert(json_is_true(json_object_get(probe, "secret_readable")));
	cr_assert(has_reason(k, "probe: wrapped off the token"), "%s", r.out);

	probe = json_object_get(doc, "probe");
	cr_assert_str_eq(json_string_value(json_object_get(probe, "session_key")), "CKR_OK");
	cr_assert(json_is_true(json_object_get(probe, "session_key_destroyed")));
	json_decref(doc);
	ts_result_free(&r);

	/* Read-only: the token lists exactly as before, and no session key stayed behind. */
	after = token_listing();
	cr_assert_str_eq(before, after);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
	free(before);
	free(after);

	ts_run(&r, "$HSMCERT audit --probe");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "C_WrapKey CKM_AES_KEY_WRAP_PAD: CKR_KEY_UNEXTRACTABLE"), "%s",
		  r.out);
	cr_assert(strstr(r.out, "THE SECRET CAN LEAVE THE TOKEN"), "%s", r.out);
	cr_assert(strstr(r.out,
			 "Probe session wrapping keys (AES-256, DES3 where listed): destroyed"),
		  "%s", r.out);
	ts_result_free(&r);
}

Test(audit, probe_reads_a_secret_in_the_clear)
{
	struct ts_result r;
	json_t *doc, *k, *probe, *reads;

	/* pkcs11-tool makes a non-sensitive, extractable AES key: its value is readable. */
	sh_ok(P11TOOL " --keygen --key-type AES:32 --label open --id 42 --extractable "
		      ">/dev/null 2>&1");
	sh_ok(P11TOOL " --keygen --key-type AES:32 --label closed --id 43 --sensitive "
		      ">/dev/null 2>&1");
	doc = audit_json(&r, "--probe", 1);
	k = key_named(doc, "open");
	probe = json_object_get(k, "probe");
	reads = json_object_get(probe, "reads");
	cr_assert_str_eq(json_string_value(json_object_get(k, "class")), "secret_key");
	cr_assert_str_eq(json_string_value(json_object_get(k, "type")), "aes:256");
	cr_assert_str_eq(attr_ckr(reads, "CKA_VALUE"), "CKR_OK");
	cr_assert(json_is_true(json_object_get(json_array_get(reads, 0), "readable")));
	cr_assert(json_is_true(json_object_get(probe, "secret_readable")));
	cr_assert(has_reason(k, "probe: secret read in the clear"), "%s", r.out);
	cr_assert(has_reason(k, "not sensitive"), "%s", r.out);
	/* The value itself is never reported. */
	cr_assert_null(strstr(r.out, "\"value\""));

	k = key_named(doc, "closed");
	reads = json_object_get(json_object_get(k, "probe"), "reads");
	cr_assert_str_eq(attr_ckr(reads, "CKA_VALUE"), "CKR_ATTRIBUTE_SENSITIVE");
	json_decref(doc);
	ts_result_free(&r);
}

Test(audit, probe_without_a_session_key_still_reports)
{
	struct ts_result r;
	json_t *doc, *k, *probe;

	keygen("--label good");
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GenerateKey=0x70 $HSMCERT --module $HSMCERT_FAULTMOD "
		   "audit --json --probe");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	probe = json_object_get(doc, "probe");
	cr_assert_str_eq(json_string_value(json_object_get(probe, "session_key")),
			 "CKR_MECHANISM_INVALID");
	cr_assert(json_is_false(json_object_get(probe, "session_key_destroyed")));
	k = key_named(doc, "good");
	{
		/* Listed, but no wrapping key: every wrap "not tried", none succeeded. */
		json_t *wraps = json_object_get(json_object_get(k, "probe"), "wraps"), *w;
		size_t i;
		cr_assert(json_array_size(wraps) > 0);
		json_array_foreach(wraps, i, w)
			cr_assert(json_is_false(json_object_get(w, "tried")));
	}
	json_decref(doc);
	ts_result_free(&r);
}

Test(audit, token_failure_exits_3)
{
	struct ts_result r;

	keygen("--label good");
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GetAttributeValue $HSMCERT --module $HSMCERT_FAULTMOD "
		   "audit");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_GetAttributeValue failed: CKR_DEVICE_ERROR"), "%s", r.err);
	cr_assert_eq(strlen(r.out), 0, "%s", r.out);
	ts_result_free(&r);
}

/*
 * An object the token will not describe (here the first object read answers
 * CKR_ATTRIBUTE_VALUE_INVALID once, as a half-written SoftHSM2 object did) is
 * reported by handle and fails the policy, and the rest is still audited.
 */
Test(audit, unreadable_object_is_reported_and_fails_the_policy)
{
	struct ts_result r;
	json_t *doc, *list;

	keygen("--label a");
	keygen("--label b");
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GetAttributeValue@1=0x13 HSMCERT_FAULT_ONCE=1 $HSMCERT "
		   "--module $HSMCERT_FAULTMOD audit --json");
	ts_assert_status(&r, 1);
	doc = ts_json(&r);
	ts_result_free(&r);
	list = json_object_get(doc, "unreadable_objects");
	cr_assert_eq(json_array_size(list), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "ckr")),
			 "CKR_ATTRIBUTE_VALUE_INVALID");
	cr_assert(json_is_integer(json_object_get(json_array_get(list, 0), "handle")));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "summary"),
							"unreadable_objects")),
		     1);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(doc, "summary"), "result")),
		"fail");
	/* Of four objects one was unreadable: at least one of the two keys is still audited. */
	cr_assert(json_array_size(json_object_get(doc, "keys")) >= 1);
	json_decref(doc);

	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GetAttributeValue@1=0x13 HSMCERT_FAULT_ONCE=1 $HSMCERT "
		   "--module $HSMCERT_FAULTMOD audit");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "could not describe (it may be a key): handle "), "%s", r.out);
	cr_assert(strstr(r.out, "Result: FAIL"), "%s", r.out);
	ts_result_free(&r);

	/* Inventory only: reported, no verdict. */
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GetAttributeValue@1=0x13 HSMCERT_FAULT_ONCE=1 $HSMCERT "
		   "--module $HSMCERT_FAULTMOD audit --policy none");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "CKR_ATTRIBUTE_VALUE_INVALID"), "%s", r.out);
	ts_result_free(&r);
}

/*
 * A token may give fewer handles per C_FindObjects than asked while more
 * remain (PKCS#11: only an empty answer ends a search). One handle a call
 * here: every key is still audited.
 */
Test(audit, token_giving_one_handle_per_find_call_is_read_whole)
{
	struct ts_result r;
	json_t *doc;
	char *calls;

	keygen("--label a --type ec:P-256");
	keygen("--label b --type ec:P-256");
	keygen("--label c --type ec:P-256");
	ts_run(&r, "HSMCERT_FAULT_FIND_MAX=1 HSMCERT_FAULT_TRACE=trace $HSMCERT --module "
		   "$HSMCERT_FAULTMOD audit --json");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	ts_result_free(&r);
	cr_assert_eq(json_integer_value(
			     json_object_get(json_object_get(doc, "summary"), "private_keys")),
		     3);
	key_named(doc, "a");
	key_named(doc, "b");
	key_named(doc, "c");
	json_decref(doc);
	/* Six objects, one a call, then the empty answer: the limit was in force. */
	calls = ts_sh("grep -c ' C_FindObjects$' trace");
	cr_assert(atoi(calls) >= 7, "%s", calls);
	free(calls);
}

/*
 * A token that stops at the first attribute it cannot give and leaves the
 * later ones untouched (not as PKCS#11 says) must still be read right: the
 * report is the one a compliant token gives, no flag read from a buffer
 * the token never wrote.
 */
Test(audit, token_stopping_at_the_first_invalid_attribute_reads_the_same)
{
	struct ts_result r;
	json_t *want, *got;

	keygen("--label r");
	keygen("--label e --type ec:P-256");
	keygen("--label x --type ec:P-384 --exportable");
	ts_run(&r, "$HSMCERT --module $HSMCERT_FAULTMOD audit --json");
	ts_assert_status(&r, 1);
	want = ts_json(&r);
	ts_result_free(&r);
	ts_run(&r,
	       "HSMCERT_FAULT_STOP_AT_INVALID=1 $HSMCERT --module $HSMCERT_FAULTMOD audit --json");
	ts_assert_status(&r, 1);
	got = ts_json(&r);
	ts_result_free(&r);
	cr_assert_eq(json_array_size(json_object_get(got, "keys")), 3);
	cr_assert(json_equal(json_object_get(got, "keys"), json_object_get(want, "keys")),
		  "the keys' report differs");
	cr_assert(json_equal(json_object_get(got, "summary"), json_object_get(want, "summary")));
	cr_assert_str_eq(json_string_value(json_object_get(key_named(got, "x"), "verdict")),
			 "fail");
	cr_assert_str_eq(json_string_value(json_object_get(key_named(got, "e"), "verdict")),
			 "pass");
	json_decref(want);
	json_decref(got);
}

/*
 * A token that answers CKR_OK but leaves one attribute unwritten: that
 * attribute is unknown in the report, never the buffer's fill read as true
 * (never extractable here, which would hide an exportable key's history).
 */
Test(audit, attribute_left_unwritten_under_ckr_ok_is_unknown)
{
	struct ts_result r;
	json_t *doc, *attrs;

	keygen("--label x --type ec:P-256 --exportable");
	ts_run(&r, "HSMCERT_FAULT_OK_UNWRITTEN=0x164 $HSMCERT --module $HSMCERT_FAULTMOD audit "
		   "--json");
	ts_assert_status(&r, 1);
	doc = ts_json(&r);
	attrs = json_object_get(key_named(doc, "x"), "attributes");
	cr_assert(json_is_null(json_object_get(attrs, "never_extractable")), "%s", r.out);
	cr_assert(json_is_true(json_object_get(attrs, "extractable")), "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);
}

Test(audit, labels_cannot_rewrite_the_text_report)
{
	struct ts_result r;

	/* A label with an escape sequence and a newline, as any token client could set. */
	keygen("--label \"$(printf 'evil\\033[2J\\nFAKE pass')\"");
	ts_run(&r, "$HSMCERT audit");
	ts_assert_status(&r, 0);
	cr_assert_null(strchr(r.out, '\033'), "%s", r.out);
	cr_assert(strstr(r.out, "evil\\x1B[2J\\x0AFAKE pass (private key): pass"), "%s", r.out);
	ts_result_free(&r);
}

Test(audit, key_unwrapped_by_restore_fails_even_non_exportable)
{
	struct ts_result r;
	json_t *doc, *k, *attrs;

	/* Back up an exportable key, restore it onto a second token as non-exportable. */
	keygen("--label moved --exportable");
	ts_add_token("target");
	setenv("HSMCERT_PASSPHRASE", "correct horse battery staple", 1);
	sh_ok("$HSMCERT --token pkcs11:token=test backup --key pkcs11:object=moved -o moved.hsmb");
	sh_ok("$HSMCERT --token pkcs11:token=target restore --no-exportable moved.hsmb");

	ts_run(&r, "$HSMCERT --token pkcs11:token=target audit --json");
	ts_assert_status(&r, 1);
	doc = ts_json(&r);
	k = key_named(doc, "moved");
	attrs = json_object_get(k, "attributes");
	/* Sensitive and not extractable now, but it came from outside the token. */
	cr_assert(json_is_true(json_object_get(attrs, "sensitive")), "%s", r.out);
	cr_assert(json_is_false(json_object_get(attrs, "extractable")), "%s", r.out);
	cr_assert(has_reason(k, "imported: not local"), "%s", r.out);
	cr_assert(has_reason(k, "was once extractable"), "%s", r.out);
	cr_assert_not(has_reason(k, "extractable"), "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);
}

/* Whether pkcs11-tool's "Usage:" line of a key names `word`. */
static bool usage_has(const char *usage, const char *word)
{
	return access_has(usage, word);
}

/* SPEC audit: usages in text and JSON, as pkcs11-tool -O reports them; --policy sign-only. */
Test(audit, usages_match_pkcs11_tool_and_sign_only_policy)
{
	static const char *usages[] = {"sign", "decrypt", "unwrap", "derive"};
	static const char *labels[] = {"web", "ec", "outside"};
	struct ts_result r;
	json_t *doc;

	keygen("--label web");
	keygen("--label ec --type ec:P-256");
	write_imported_key("outside");
	doc = audit_json(&r, "--policy none", 0);
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		json_t *u = json_object_get(key_named(doc, labels[i]), "usages");
		char *line = privkey_field(labels[i], "Usage");
		for (size_t f = 0; f < sizeof(usages) / sizeof(usages[0]); f++)
			cr_assert_eq(json_is_true(json_object_get(u, usages[f])),
				     usage_has(line, usages[f]),
				     "%s: %s differs; pkcs11-tool says '%s'", labels[i], usages[f],
				     line);
		cr_assert_null(json_object_get(u, "wrap"), "wrap is for secret keys only");
		free(line);
	}
	json_decref(doc);
	ts_result_free(&r);

	/* The imported key decrypts (pkcs11-tool's default): sign-only fails on it, by name. */
	{
		char *line = privkey_field("outside", "Usage");
		cr_assert(usage_has(line, "decrypt"), "%s", line);
		free(line);
	}
	doc = audit_json(&r, "--policy sign-only", 1);
	cr_assert_str_eq(json_string_value(json_object_get(key_named(doc, "web"), "verdict")),
			 "pass");
	cr_assert_str_eq(json_string_value(json_object_get(key_named(doc, "ec"), "verdict")),
			 "pass");
	cr_assert(has_reason(key_named(doc, "outside"), "can decrypt"), "%s", r.out);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(doc, "audit"), "policy")),
		"sign-only");
	json_decref(doc);
	ts_result_free(&r);

	/* Text: a USAGES column and a Usages line per key. */
	ts_run(&r, "$HSMCERT audit --policy non-exportable,sign-only");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "USAGES"), "%s", r.out);
	cr_assert(strstr(r.out, "Usages        sign\n"), "%s", r.out);
	cr_assert(strstr(r.out, "can decrypt"), "%s", r.out);
	ts_result_free(&r);
}

/*
 * A secret key's usages include wrap and encrypt, as pkcs11-tool -O lists them.
 * (pkcs11-tool 0.23 never reads CKA_SIGN of a secret key — a PKCS#11 spy log
 * shows only CKA_VERIFY asked — so sign is reported but not compared.)
 */
Test(audit, secret_key_usages_match_pkcs11_tool)
{
	static const char *usages[] = {"decrypt", "unwrap", "derive", "wrap", "encrypt"};
	struct ts_result r;
	json_t *doc, *k, *u;
	char *line;

	sh_ok(P11TOOL
	      " --keygen --key-type AES:32 --label kek --id 44 --sensitive >/dev/null 2>&1");
	line = ts_sh(P11TOOL " --list-objects --type secrkey 2>/dev/null | grep 'Usage:' | "
			     "sed 's/^ *Usage: *//'");
	doc = audit_json(&r, "--policy sign-only", 0);
	k = key_named(doc, "kek");
	u = json_object_get(k, "usages");
	for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++) {
		cr_assert(json_is_boolean(json_object_get(u, usages[i])), "%s missing: %s",
			  usages[i], r.out);
		cr_assert_eq(json_is_true(json_object_get(u, usages[i])),
			     usage_has(line, usages[i]), "%s differs; pkcs11-tool says '%s'",
			     usages[i], line);
	}
	cr_assert(usage_has(line, "wrap") && usage_has(line, "encrypt"), "%s", line);
	cr_assert(json_is_boolean(json_object_get(u, "sign")), "%s", r.out);
	/* sign-only judges TLS server keys, not wrapping keys. */
	cr_assert_str_eq(json_string_value(json_object_get(k, "verdict")), "pass");
	free(line);
	json_decref(doc);
	ts_result_free(&r);
}
