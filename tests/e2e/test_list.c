/* list end to end: statuses, thumbprints against openssl, many objects against pkcs11-tool. */
#include "certtest.h"

TestSuite(list, .init = ts_setup_token, .fini = ts_teardown);

/* The key object labelled `label` in a list document. */
static json_t *key_named(json_t *doc, const char *label)
{
	json_t *k = ct_find(json_object_get(doc, "keys"), "label", label);

	cr_assert_not_null(k, "no key '%s' in the list", label);
	return k;
}

static const char *status_of(json_t *doc, const char *label)
{
	return json_string_value(json_object_get(key_named(doc, label), "status"));
}

Test(list, statuses)
{
	json_t *doc, *counts, *orphans;

	ct_pki();
	ct_keygen("good", "rsa:2048");
	ct_keygen("soon", "ec:P-256");
	ct_keygen("old", "rsa:2048");
	ct_keygen("future", "ec:P-256");
	ct_keygen("waiting", "ec:P-256");
	ct_leaf("good", "good.crt", "now-1", "now+365");
	ct_leaf("soon", "soon.crt", "now-300", "now+10");
	ct_leaf("old", "old.crt", "2020-01-01", "2021-01-01");
	ct_leaf("future", "future.crt", "now+10", "now+400");
	for (const char *const *n = (const char *const[]){"good", "soon", "future", NULL}; *n; n++)
		free(ts_sh("$HSMCERT import --cert %s.crt --chain pki/sub.crt >/dev/null", *n));
	/* import refuses an expired certificate; one that expired on the token is the case. */
	ct_write_cert("old.crt", "old", "99");
	/* An orphan: a certificate whose key is not on this token. */
	free(ts_sh(CT_TESTPKI " selfleaf gone.crt gone.example.test"));
	ct_write_cert("gone.crt", "gone", "77");

	doc = ct_run_json(0, "list");
	cr_assert_str_eq(status_of(doc, "good"), "valid");
	cr_assert_str_eq(status_of(doc, "soon"), "expiring");
	cr_assert_str_eq(status_of(doc, "old"), "expired");
	cr_assert_str_eq(status_of(doc, "future"), "not_yet_valid");
	cr_assert_str_eq(status_of(doc, "waiting"), "pending");
	cr_assert(json_is_false(json_object_get(key_named(doc, "good"), "exportable")));
	cr_assert_eq(json_array_size(json_object_get(key_named(doc, "waiting"), "certificates")),
		     0);
	orphans = json_object_get(doc, "orphans");
	cr_assert_eq(json_array_size(orphans), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(orphans, 0), "status")),
			 "orphan");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(orphans, 0), "label")),
			 "gone");
	cr_assert_eq(json_array_size(json_object_get(doc, "authorities")), 1);
	counts = json_object_get(doc, "counts");
	cr_assert_eq(json_integer_value(json_object_get(counts, "valid")), 1);
	cr_assert_eq(json_integer_value(json_object_get(counts, "expiring")), 1);
	cr_assert_eq(json_integer_value(json_object_get(counts, "expired")), 1);
	cr_assert_eq(json_integer_value(json_object_get(counts, "pending")), 1);
	cr_assert_eq(json_integer_value(json_object_get(counts, "orphan")), 1);
	json_decref(doc);

	/* --warn-days moves the line: 10 days left is not "expiring" under 5. */
	doc = ct_run_json(0, "list --warn-days 5");
	cr_assert_str_eq(status_of(doc, "soon"), "valid");
	cr_assert_eq(json_integer_value(json_object_get(doc, "warn_days")), 5);
	json_decref(doc);
	doc = ct_run_json(0, "list --warn-days 400");
	cr_assert_str_eq(status_of(doc, "good"), "expiring");
	json_decref(doc);
}

/* p11tool, given the URI, finds exactly one object, of this type and labelled "web"... */
static void assert_names_one(const char *uri, const char *type)
{
	char *out;

	cr_assert(uri && strncmp(uri, "pkcs11:", 7) == 0, "%s", uri ? uri : "(null)");
	out = ts_sh("GNUTLS_PIN=%s p11tool --provider %s --login --list-all '%s' 2>/dev/null",
		    TS_PIN, TS_SOFTHSM, uri);
	cr_assert(strstr(out, type), "p11tool on %s:\n%s", uri, out);
	cr_assert_null(strstr(out, "Object 1:"), "more than one object for %s:\n%s", uri, out);
	free(out);
}

Test(list, certificate_details_match_openssl)
{
	json_t *doc, *cert, *sans;
	char *sha1, *sha256, *serial, *not_after;
	struct ts_result r;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+100");
	free(ts_sh("$HSMCERT import --cert web.crt >/dev/null"));
	sha1 = ct_openssl_fingerprint("web.crt", "sha1");
	sha256 = ct_openssl_fingerprint("web.crt", "sha256");
	serial = ts_sh("openssl x509 -in web.crt -noout -serial | sed 's/.*=//' | "
		       "tr A-F a-f | tr -d '\\n'");
	not_after = ts_sh("date -u -d \"$(openssl x509 -in web.crt -noout -enddate | "
			  "sed 's/.*=//')\" +%%Y-%%m-%%dT%%H:%%M:%%SZ | tr -d '\\n'");

	doc = ct_run_json(0, "list");
	cert = json_array_get(json_object_get(key_named(doc, "web"), "certificates"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(cert, "sha1")), sha1);
	cr_assert_str_eq(json_string_value(json_object_get(cert, "sha256")), sha256);
	cr_assert_str_eq(json_string_value(json_object_get(cert, "serial")), serial);
	cr_assert_str_eq(json_string_value(json_object_get(cert, "not_after")), not_after);
	cr_assert_str_eq(json_string_value(json_object_get(cert, "subject")),
			 "CN=www.example.test");
	cr_assert_str_eq(json_string_value(json_object_get(cert, "issuer")),
			 "O=Test PKI, CN=Test Sub CA");
	cr_assert_str_eq(json_string_value(json_object_get(cert, "paired_by")), "key");
	cr_assert(json_integer_value(json_object_get(cert, "days_left")) >= 99);
	sans = json_object_get(cert, "sans");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sans, 0), "value")),
			 "www.example.test");
	/* Each URI the listing prints (made on output, not kept) names that object for p11tool. */
	assert_names_one(json_string_value(json_object_get(key_named(doc, "web"), "uri")),
			 "Type: Private key");
	assert_names_one(json_string_value(json_object_get(key_named(doc, "web"), "public_uri")),
			 "Type: Public key");
	assert_names_one(json_string_value(json_object_get(cert, "uri")),
			 "Type: X.509 Certificate");
	json_decref(doc);

	/* The text output says the same. */
	ts_run(&r, "$HSMCERT list");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, sha1), "%s", r.out);
	cr_assert(strstr(r.out, sha256), "%s", r.out);
	cr_assert(ts_text_has(r.out, "web", "rsa:2048, not exportable") && strstr(r.out, "[valid]"),
		  "%s", r.out);
	cr_assert(strstr(r.out, "DNS:www.example.test"), "%s", r.out);
	cr_assert(strstr(r.out, "days left"), "%s", r.out);
	ts_result_free(&r);
	free(sha1);
	free(sha256);
	free(serial);
	free(not_after);
}

Test(list, renewed_key_shows_both_certificates)
{
	json_t *doc, *certs;

	ct_pki();
	ct_keygen("web", "ec:P-256");
	ct_leaf("web", "old.crt", "2020-01-01", "2021-01-01");
	ct_leaf("web", "new.crt", "now-1", "now+365");
	/* The old one expired on the token (import refuses an expired certificate). */
	ct_write_cert("old.crt", "web", "99");
	free(ts_sh("$HSMCERT import --cert new.crt >/dev/null"));
	doc = ct_run_json(0, "list");
	certs = json_object_get(key_named(doc, "web"), "certificates");
	cr_assert_eq(json_array_size(certs), 2);
	/* Newest first, and the key is valid while its newest certificate is. */
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(certs, 0), "status")),
			 "valid");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(certs, 1), "status")),
			 "expired");
	cr_assert_str_eq(status_of(doc, "web"), "valid");
	json_decref(doc);
}

Test(list, exportable_key)
{
	json_t *doc;

	free(ts_sh("$HSMCERT keygen --label exp --exportable >/dev/null"));
	doc = ct_run_json(0, "list");
	cr_assert(json_is_true(json_object_get(key_named(doc, "exp"), "exportable")));
	json_decref(doc);
}

Test(list, empty_token_and_bad_options)
{
	struct ts_result r;
	json_t *doc = ct_run_json(0, "list");

	cr_assert_eq(json_array_size(json_object_get(doc, "keys")), 0);
	json_decref(doc);
	ts_run(&r, "$HSMCERT list");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "0 keys"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT list --warn-days soon");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT list extra");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
}

/* Hundreds of objects: every one listed, the same count pkcs11-tool sees. */
Test(list, hundreds_of_objects, .timeout = 300)
{
	enum { KEYS = 100, COPIES = 50, ORPHANS = 50 };
	json_t *doc, *keys, *k;
	int pending = 0;
	size_t i;

	ct_pki();
	free(ts_sh("for i in $(seq %d); do $HSMCERT keygen --label k$i --type ec:P-256 "
		   ">/dev/null || exit 1; done",
		   KEYS));
	ct_leaf("k7", "k7.crt", "now-1", "now+365");
	free(ts_sh("$HSMCERT import --cert k7.crt >/dev/null"));
	free(ts_sh(CT_TESTPKI " selfleaf gone.crt gone.example.test && openssl x509 -in gone.crt "
			      "-outform DER -out gone.der"));
	/* k7's certificate again under other ids (paired by key), and certificates of no key. */
	free(ts_sh("openssl x509 -in k7.crt -outform DER -out k7.der && for i in $(seq %d); do "
		   "pkcs11-tool --module %s --token-label test --login --pin %s --write-object "
		   "k7.der --type cert --label c$i --id $(printf 'ee%%04x' $i) >/dev/null 2>&1 && "
		   "pkcs11-tool --module %s --token-label test --login --pin %s --write-object "
		   "gone.der --type cert --label o$i --id $(printf 'ff%%04x' $i) >/dev/null 2>&1 "
		   "|| exit 1; done",
		   COPIES, TS_SOFTHSM, TS_PIN, TS_SOFTHSM, TS_PIN));
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2 * KEYS + 1 + COPIES + ORPHANS);

	doc = ct_run_json(0, "list");
	keys = json_object_get(doc, "keys");
	cr_assert_eq(json_array_size(keys), KEYS);
	json_array_foreach(keys, i, k)
		pending += strcmp(json_string_value(json_object_get(k, "status")), "pending") == 0;
	cr_assert_eq(pending, KEYS - 1);
	cr_assert_str_eq(status_of(doc, "k7"), "valid");
	cr_assert_eq(json_array_size(json_object_get(key_named(doc, "k7"), "certificates")),
		     COPIES + 1);
	cr_assert_eq(json_array_size(json_object_get(doc, "orphans")), ORPHANS);
	json_decref(doc);
}

/*
 * SPEC list --expiring DAYS: the certificates in service with fewer than DAYS
 * days left, expired included; exit 1 when any (for monitoring), 0 otherwise.
 * Each verdict agrees with openssl x509 -checkend.
 */
Test(list, expiring_for_monitoring)
{
	struct ts_result r;
	json_t *doc, *certs;
	char *check;

	ct_pki();
	ct_keygen("good", "rsa:2048");
	ct_keygen("soon", "ec:P-256");
	ct_keygen("old", "rsa:2048");
	ct_keygen("waiting", "ec:P-256");
	ct_leaf("good", "good.crt", "now-1", "now+365");
	ct_leaf("soon", "soon.crt", "now-300", "now+10");
	ct_leaf("old", "old.crt", "2020-01-01", "2021-01-01");
	for (const char *const *n = (const char *const[]){"good", "soon", NULL}; *n; n++)
		free(ts_sh("$HSMCERT import --cert %s.crt >/dev/null", *n));
	ct_write_cert("old.crt", "old", "99");

	doc = ct_run_json(1, "list --expiring 30");
	certs = json_object_get(doc, "certificates");
	cr_assert_eq(json_integer_value(json_object_get(doc, "count")), 2);
	cr_assert_eq(json_array_size(certs), 2);
	cr_assert_not_null(ct_find(certs, "label", "soon"));
	cr_assert_not_null(ct_find(certs, "label", "old"));
	cr_assert_null(ct_find(certs, "label", "good"));
	json_decref(doc);
	/* The same verdicts from openssl. */
	check = ts_sh("for c in good soon old; do openssl x509 -in $c.crt -noout -checkend %d "
		      ">/dev/null && echo \"$c ok\" || echo \"$c expiring\"; done",
		      30 * 86400);
	cr_assert_str_eq(check, "good ok\nsoon expiring\nold expiring\n");
	free(check);

	ts_run(&r, "$HSMCERT list --expiring 30");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "2 certificates with fewer than 30 days left"), "%s", r.out);
	cr_assert(strstr(r.out, "object=soon"), "%s", r.out);
	cr_assert_null(strstr(r.out, "object=good"), "%s", r.out);
	ts_result_free(&r);

	/* Only the expired one has fewer than 5 days; with 0 days, still the expired one. */
	doc = ct_run_json(1, "list --expiring 5");
	cr_assert_eq(json_integer_value(json_object_get(doc, "count")), 1);
	json_decref(doc);
	free(ts_sh("$HSMCERT delete --yes 'pkcs11:object=old' >/dev/null"));
	ts_run(&r, "$HSMCERT list --expiring 5");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "no certificate has fewer than 5 days left"), "%s", r.out);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT list --expiring soon");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
}
