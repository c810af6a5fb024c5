/* provision: many keys and requests, idempotent, parallel, all-or-nothing per entry. */
#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(provision, .init = ts_setup_token, .fini = ts_teardown);

static const char plan3[] =
	"{ \"defaults\": {\"o\": \"Example Ltd\", \"c\": \"HK\", \"profile\": \"cabf\"},\n"
	"  \"keys\": [\n"
	"    {\"label\": \"web01\", \"cn\": \"web01.example.hk\", \"sans\": [\"www.example.hk\"]},\n"
	"    {\"label\": \"web02\", \"cn\": \"web02.example.hk\", \"type\": \"ec:P-256\"},\n"
	"    {\"label\": \"mail\", \"subject\": \"CN=mail.example.hk,O=Example Ltd,C=HK\",\n"
	"     \"csr\": \"out/mail.csr\"}\n"
	"  ] }\n";

static void assert_request(const char *path, const char *cn, const char *key)
{
	char *text = ts_sh("openssl req -in %s -verify -noout -text 2>&1", path);

	cr_assert(strstr(text, "verify OK"), "%s: %s", path, text);
	cr_assert(strstr(text, cn), "%s: %s", path, text);
	cr_assert(strstr(text, key), "%s: %s", path, text);
	free(text);
}

Test(provision, creates_every_entry_then_is_idempotent)
{
	struct ts_result r;
	json_t *doc;

	ts_write("plan.json", plan3);
	ts_sh("mkdir out");
	ts_run(&r, "$HSMCERT provision plan.json -j 3");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "3 created"), "%s", r.out);
	/* SoftHSM2 loses objects made from several threads at once: one session, said so. */
	cr_assert(strstr(r.err, "--jobs 3 ignored: SoftHSM2"), "%s", r.err);
	/* Every key created is reported with its full URI. */
	cr_assert(strstr(r.out, "token=test;id="), "%s", r.out);
	cr_assert(strstr(r.out, ";object=web01;type=private\n"), "%s", r.out);
	cr_assert(strstr(r.out, ";object=web02;type=private\n"), "%s", r.out);
	cr_assert(strstr(r.out, ";object=mail;type=private\n"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
	assert_request("web01.csr", "CN = web01.example.hk", "Public-Key: (2048 bit)");
	assert_request("web02.csr", "CN = web02.example.hk", "NIST CURVE: P-256");
	assert_request("out/mail.csr", "CN = mail.example.hk", "Public-Key: (2048 bit)");
	free(ts_sh("openssl req -in web01.csr -noout -text | grep -q 'DNS:web01.example.hk, "
		   "DNS:www.example.hk'"));

	/* The request's key is the token's key (independent reader: pkcs11-tool). */
	free(ts_sh(
		"pkcs11-tool --module %s --token-label test --read-object --type pubkey "
		"--label web01 -o pub.der 2>/dev/null && openssl pkey -pubin -inform DER -in "
		"pub.der -outform PEM > a.pem && openssl req -in web01.csr -noout -pubkey > b.pem "
		"&& cmp a.pem b.pem",
		TS_SOFTHSM));

	/* Again: nothing is redone, nothing changes. */
	ts_run(&r, "$HSMCERT provision --json plan.json -j 2");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert_eq(
		json_integer_value(json_object_get(json_object_get(doc, "summary"), "existing")), 3,
		"%s", r.out);
	json_decref(doc);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);

	/* A lost request is made again for the existing key. */
	ts_sh("rm web02.csr");
	ts_run(&r, "$HSMCERT provision plan.json");
	ts_assert_status(&r, 0);
	cr_assert(ts_text_has(r.out, "requested", "web02"), "%s", r.out);
	cr_assert(strstr(r.out, "1 requested for existing keys, 2 already done"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
	assert_request("web02.csr", "CN = web02.example.hk", "NIST CURVE: P-256");
}

Test(provision, request_file_of_another_key_is_refused)
{
	struct ts_result r;

	ts_write("plan.json", "[{\"label\": \"a\", \"cn\": \"a.example.hk\"},"
			      " {\"label\": \"b\", \"cn\": \"b.example.hk\"}]");
	ts_run(&r, "$HSMCERT provision plan.json");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_sh("cp a.csr b.csr");
	ts_run(&r, "$HSMCERT provision plan.json");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "b.csr is a request for another key"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT provision plan.json --force");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	assert_request("b.csr", "CN = b.example.hk", "2048 bit");
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
}

Test(provision, bad_plans_are_refused_before_the_token_is_touched)
{
	static const char *bad[] = {
		"not json",
		"[]",
		"{\"keys\": [{\"cn\": \"x.example.hk\"}]}",
		"[{\"label\": \"a\", \"cn\": \"a.example.hk\"}, {\"label\": \"a\", \"cn\": "
		"\"b.example.hk\"}]",
		"[{\"label\": \"a\", \"type\": \"rsa:1024\", \"cn\": \"a.example.hk\"}]",
		"[{\"label\": \"a\", \"cn\": \"https://a.example.hk/\"}]",
		"[{\"label\": \"a\", \"cn\": \"a.example.hk\", \"colour\": \"blue\"}]",
		"[{\"label\": \"a\", \"cn\": \"a.example.hk\", \"sans\": \"a.example.hk\"}]",
		"[{\"label\": \"a\", \"cn\": \"a\", \"profile\": \"cabf\"}]",
		"{\"defaults\": {\"label\": \"x\"}, \"keys\": [{\"label\": \"a\", \"cn\": \"a.hk\"}]}",
		"[{\"label\": \"ok\", \"cn\": \"ok.example.hk\"}, {\"label\": \"bad\", \"c\": "
		"\"HKG\", \"cn\": \"bad.example.hk\"}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ts_result r;
		ts_write("plan.json", bad[i]);
		ts_run(&r, "$HSMCERT provision plan.json");
		cr_assert_eq(r.status, 2, "plan %zu: exit %d\n%s", i, r.status, r.err);
		cr_assert(strstr(r.err, "plan.json"), "plan %zu: %s", i, r.err);
		ts_result_free(&r);
	}
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
	cr_assert_not(ts_exists("ok.csr"));
}

Test(provision, a_failing_entry_leaves_nothing_and_others_complete)
{
	struct ts_result r;

	ts_write("plan.json", "[{\"label\": \"a\", \"cn\": \"a.example.hk\"},"
			      " {\"label\": \"b\", \"cn\": \"b.example.hk\"},"
			      " {\"label\": \"c\", \"cn\": \"c.example.hk\"}]");
	/* The second signature fails: its entry's fresh key pair must go again. */
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_Sign@2 HSMCERT_FAULT_ONCE=1 $HSMCERT --module "
		   "$HSMCERT_FAULTMOD provision plan.json");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.out, "2 created") && strstr(r.out, "1 failed"), "%s", r.out);
	cr_assert(strstr(r.err, "CKR_DEVICE_ERROR"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
	/* Running again completes the plan. */
	ts_run(&r, "$HSMCERT provision plan.json");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "1 created") && strstr(r.out, "2 already done"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
}

/*
 * SPEC provision: what can be checked before a key is generated is checked
 * first. A missing output folder, an unwritable one, or a token without the
 * key type: refused before any C_GenerateKeyPair (the fault module would fail
 * one with a CKR the message would then name), and the token is unchanged.
 */
Test(provision, checks_everything_before_the_first_keygen)
{
	struct ts_result r;

	ts_write("plan.json", plan3);
	/* out/ does not exist (the case): every entry would have wasted a key. */
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GenerateKeyPair=0x120 $HSMCERT --module $HSMCERT_FAULTMOD "
		   "provision plan.json");
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.err, "entry 'mail'") && strstr(r.err, "out/mail.csr"), "%s", r.err);
	cr_assert(strstr(r.err, "nothing was generated"), "%s", r.err);
	cr_assert_null(strstr(r.err, "C_GenerateKeyPair"), "a key generation was tried: %s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);

	/* --out-dir naming a file, not a folder. */
	ts_write("notadir", "x");
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GenerateKeyPair=0x120 $HSMCERT --module $HSMCERT_FAULTMOD "
		   "provision plan.json --out-dir notadir");
	ts_assert_status(&r, 4);
	cr_assert_null(strstr(r.err, "C_GenerateKeyPair"), "%s", r.err);
	ts_result_free(&r);

	/* A token without EC key generation: web02 (ec:P-256) cannot be completed. */
	free(ts_sh("mkdir out"));
	ts_run(&r, "HSMCERT_FAULT_HIDE_MECH=0x1040 HSMCERT_FAULT_FAIL=C_GenerateKeyPair=0x120 "
		   "$HSMCERT --module $HSMCERT_FAULTMOD provision plan.json");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "entry 'web02'") && strstr(r.err, "ec:P-256 keys") &&
			  strstr(r.err, "KEY_PAIR_GEN"),
		  "%s", r.err);
	cr_assert_null(strstr(r.err, "C_GenerateKeyPair"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
	/* pkcs11-tool, through the same module, agrees the mechanism is gone. */
	{
		char *m = ts_sh("HSMCERT_FAULT_HIDE_MECH=0x1040 pkcs11-tool --module "
				"$HSMCERT_FAULTMOD --token-label test -M 2>/dev/null | "
				"grep -c 'EC-KEY-PAIR-GEN' || true");
		cr_assert_eq(atoi(m), 0, "%s", m);
		free(m);
	}

	/* And with everything in place, the same plan runs. */
	ts_run(&r, "$HSMCERT provision plan.json");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
}
