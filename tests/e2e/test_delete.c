/* delete end to end against SoftHSM2, cross-checked with pkcs11-tool. */
#include "certtest.h"

TestSuite(delete, .init = ts_setup_token, .fini = ts_teardown);

/* Keys "web" (with its certificate and the Sub CA) and "mail" (pending). */
static void web_and_mail(void)
{
	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_keygen("mail", "ec:P-256");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	free(ts_sh("$HSMCERT import --cert web.crt --chain pki/sub.crt >/dev/null"));
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
}

/* pkcs11-tool's count of objects labelled `label`. */
static int labelled(const char *label)
{
	char *out = ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s "
			  "--list-objects 2>/dev/null | grep -c 'label:      %s$' || true",
			  TS_SOFTHSM, TS_PIN, label);
	int n = atoi(out);
	free(out);
	return n;
}

Test(delete, key_takes_its_certificate_and_public_key)
{
	json_t *doc, *list;
	struct ts_result r;

	web_and_mail();
	doc = ct_run_json(0, "delete 'pkcs11:object=web;type=private' --yes");
	list = json_object_get(doc, "destroyed");
	cr_assert_eq(json_integer_value(json_object_get(doc, "count")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "class")),
			 "private_key");
	for (size_t i = 1; i < 3; i++)
		cr_assert(json_is_true(json_object_get(json_array_get(list, i), "companion")));
	json_decref(doc);
	cr_assert_eq(labelled("web"), 0);
	cr_assert_eq(labelled("mail"), 2);
	cr_assert_eq(labelled("Test Sub CA"), 1);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 3);

	ts_run(&r, "$HSMCERT delete 'pkcs11:object=mail' --yes");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Destroyed 2 objects on token 'test'"), "%s", r.out);
	cr_assert(strstr(r.out, "ec:P-256 private key"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 1);
}

Test(delete, key_only_keeps_certificate_and_public_key)
{
	json_t *doc;

	web_and_mail();
	doc = ct_run_json(0, "delete 'pkcs11:object=web;type=private' --yes --key-only");
	cr_assert_eq(json_integer_value(json_object_get(doc, "count")), 1);
	json_decref(doc);
	cr_assert_eq(labelled("web"), 2);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 5);
}

Test(delete, certificate_alone)
{
	web_and_mail();
	json_decref(ct_run_json(0, "delete 'pkcs11:object=Test%20Sub%20CA;type=cert' --yes"));
	json_decref(ct_run_json(0, "delete 'pkcs11:object=web;type=cert' --yes"));
	cr_assert_eq(labelled("web"), 2);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
}

Test(delete, several_matches_need_all_matching)
{
	struct ts_result r;
	json_t *doc;

	web_and_mail();
	ts_run(&r, "$HSMCERT delete 'pkcs11:type=private' --yes");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "--all-matching"), "%s", r.err);
	cr_assert(strstr(r.err, "object=web"), "%s", r.err);
	cr_assert(strstr(r.err, "object=mail"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);

	/* A key with its public key and certificate is one thing, not three. */
	json_decref(ct_run_json(0, "delete 'pkcs11:object=web' --yes"));
	cr_assert_eq(ts_count_objects(TS_TOKEN), 3);

	doc = ct_run_json(0, "delete 'pkcs11:type=public' --yes --all-matching");
	cr_assert_eq(json_integer_value(json_object_get(doc, "count")), 1);
	json_decref(doc);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

Test(delete, never_without_yes_when_there_is_no_terminal)
{
	struct ts_result r;

	web_and_mail();
	ts_run(&r, "$HSMCERT delete 'pkcs11:object=web;type=private'");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "no terminal"), "%s", r.err);
	cr_assert(strstr(r.err, "--yes"), "%s", r.err);
	/* It still says what would have gone. */
	cr_assert(strstr(r.err, "rsa:2048 private key"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT delete --json 'pkcs11:object=web;type=private'");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.out, "\"exit_code\": 2"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
}

Test(delete, asks_on_a_terminal)
{
	struct ts_result r;

	web_and_mail();
	/* script(1) gives the command a terminal; "n" keeps everything, "y" destroys. */
	ts_run(&r, "printf 'n\\n' | script -qec \"$HSMCERT delete 'pkcs11:object=mail'\" "
		   "/dev/null");
	cr_assert(strstr(r.out, "[y/N]"), "%s", r.out);
	cr_assert(strstr(r.out, "nothing was destroyed"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
	ts_run(&r, "printf 'y\\n' | script -qec \"$HSMCERT delete 'pkcs11:object=mail'\" "
		   "/dev/null");
	cr_assert(strstr(r.out, "Destroyed 2 objects"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
}

Test(delete, bad_uris)
{
	static const struct {
		const char *uri;
		int status;
		const char *says;
	} bad[] = {
		{"pkcs11:token=test", 2, "names no object"},
		{"pkcs11:object=nothing", 2, "no object on token 'test' matches"},
		{"web", 2, "not a PKCS#11 URI"},
		{"pkcs11:object=%zz", 2, "bad PKCS#11 URI"},
	};
	struct ts_result r;

	web_and_mail();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ts_run(&r, "$HSMCERT delete '%s' --yes --all-matching", bad[i].uri);
		ts_assert_status(&r, bad[i].status);
		cr_assert(strstr(r.err, bad[i].says), "%s: %s", bad[i].uri, r.err);
		ts_result_free(&r);
	}
	ts_run(&r, "$HSMCERT delete --yes");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
}

Test(delete, token_refusal_leaves_the_key_whole)
{
	struct ts_result r;

	web_and_mail();
	/* The private key goes first: when the token refuses it, nothing else went. */
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_DestroyObject $HSMCERT --module \"$HSMCERT_FAULTMOD\" "
		   "delete 'pkcs11:object=web;type=private' --yes");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_DestroyObject failed: CKR_DEVICE_ERROR"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);

	/* A failure after the key went says what was destroyed. */
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_DestroyObject@2 $HSMCERT --module \"$HSMCERT_FAULTMOD\" "
		   "delete 'pkcs11:object=web;type=private' --yes");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "Destroyed before the failure"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 5);
}
