/* import end to end against SoftHSM2, cross-checked with pkcs11-tool, p11tool and openssl. */
#include "certtest.h"

TestSuite(import, .init = ts_setup_token, .fini = ts_teardown);

/* pkcs11-tool's "ID:" of the key pair's public key, lowercase hex. */
static char *key_id(const char *label)
{
	/* pkcs11-tool lists every public key whatever --label says: pick by label. */
	return ts_sh("pkcs11-tool --module %s --token-label test --list-objects --type pubkey "
		     "2>/dev/null | awk '/label:/{l=$2} /ID:/{if (l==\"%s\") print $2}' | "
		     "tr -d '\\n'",
		     TS_SOFTHSM, label);
}

/* The DER of the token's certificate labelled `label`, as openssl's SHA-256 fingerprint. */
static char *stored_fingerprint(const char *label)
{
	return ts_sh("pkcs11-tool --module %s --token-label test --read-object --type cert "
		     "--label '%s' 2>/dev/null | openssl x509 -inform DER -noout -fingerprint "
		     "-sha256 | sed 's/.*=//; s/://g' | tr A-F a-f | tr -d '\\n'",
		     TS_SOFTHSM, label);
}

static void import_for_type(const char *type)
{
	json_t *doc;
	char *id, *certs, *all, *want, *got;

	ct_pki();
	ct_keygen("web", type);
	ct_leaf("web", "web.crt", "now-1", "now+365");
	doc = ct_run_json(0, "import --cert web.crt");
	cr_assert(json_is_true(json_object_get(doc, "changed")));
	cr_assert(json_is_true(json_object_get(json_object_get(doc, "certificate"), "added")));
	cr_assert_str_eq(ct_str(doc, "certificate.label"), "web");
	cr_assert_str_eq(ct_str(doc, "certificate.category"), "token_user");
	cr_assert(strstr(ct_str(doc, "certificate.uri"), "type=cert"));

	/* pkcs11-tool: one certificate, labelled like the key, with the key's ID. */
	id = key_id("web");
	cr_assert_str_eq(ct_str(doc, "certificate.id"), id);
	cr_assert_str_eq(ct_str(doc, "key.id"), id);
	certs = ct_pkcs11_tool_certs();
	cr_assert_eq(ct_count(certs, "Certificate Object"), 1, "%s", certs);
	cr_assert(strstr(certs, "label:      web"), "%s", certs);
	cr_assert(strstr(certs, id), "%s", certs);
	cr_assert(strstr(certs, "CN=www.example.test"), "%s", certs);
	/* p11tool sees the certificate under the key's id, and no CA category. */
	all = ct_p11tool_all();
	cr_assert_eq(ct_count(all, "Type: X.509 Certificate"), 1, "%s", all);
	cr_assert_eq(ct_count(all, "CKA_CERTIFICATE_CATEGORY=CA"), 0, "%s", all);
	/* The stored value is the file's certificate, byte for byte. */
	want = ct_openssl_fingerprint("web.crt", "sha256");
	got = stored_fingerprint("web");
	cr_assert_str_eq(got, want);
	cr_assert_str_eq(ct_str(doc, "certificate.sha256"), want);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 3);
	free(id);
	free(certs);
	free(all);
	free(want);
	free(got);
	json_decref(doc);
}

Test(import, rsa_key)
{
	import_for_type("rsa:2048");
}

Test(import, ec_key)
{
	import_for_type("ec:P-256");
}

Test(import, text_output)
{
	struct ts_result r;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	ts_run(&r, "$HSMCERT import --cert web.crt");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Imported the certificate for key 'web' on token 'test'"), "%s",
		  r.out);
	cr_assert(strstr(r.out, "CN=www.example.test"), "%s", r.out);
	cr_assert(strstr(r.out, "type=cert"), "%s", r.out);
	ts_result_free(&r);
}

Test(import, same_certificate_twice_changes_nothing)
{
	struct ts_result r;
	json_t *doc;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	json_decref(ct_run_json(0, "import --cert web.crt --chain pki/sub.crt"));
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);

	doc = ct_run_json(0, "import --cert web.crt --chain pki/sub.crt");
	cr_assert(json_is_false(json_object_get(doc, "changed")));
	cr_assert(json_is_false(json_object_get(json_object_get(doc, "certificate"), "added")));
	cr_assert(json_is_false(json_object_get(
		json_array_get(json_object_get(doc, "ca_certificates"), 0), "added")));
	json_decref(doc);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);

	ts_run(&r, "$HSMCERT import --cert web.crt");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "nothing changed"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
}

/*
 * An expired certificate is refused (exit 1, nothing stored); one that is
 * already on the token (it expired there) still imports as "no change".
 */
Test(import, expired_certificate_is_refused)
{
	struct ts_result r;
	json_t *doc;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "old.crt", "2020-01-01", "2021-01-01");
	ts_run(&r, "$HSMCERT import --cert old.crt --chain pki/sub.crt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "old.crt expired at 2021-01-01T"), "%s", r.err);
	cr_assert(strstr(r.err, "not stored"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);

	/* Put there by another tool, it is already stored: nothing to refuse, nothing changes. */
	ct_write_cert("old.crt", "web", "01");
	cr_assert_eq(ts_count_objects(TS_TOKEN), 3);
	doc = ct_run_json(0, "import --cert old.crt");
	cr_assert(json_is_false(json_object_get(doc, "changed")));
	json_decref(doc);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 3);
}

Test(import, no_matching_key_is_refused_and_stores_nothing)
{
	struct ts_result r;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	/* A certificate named like the key but for another key: matched by key, not name. */
	free(ts_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -subj /CN=web "
		   "-days 30 -out other.crt 2>/dev/null"));
	ts_run(&r, "$HSMCERT import --cert other.crt --chain pki/sub.crt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "no private key on this token matches the certificate"), "%s",
		  r.err);
	cr_assert(strstr(r.err, "nothing was stored"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);

	ts_run(&r, "$HSMCERT import --json --cert other.crt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "\"exit_code\": 1"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

Test(import, matched_by_key_not_label)
{
	json_t *doc;

	ct_pki();
	ct_keygen("alpha", "rsa:2048");
	ct_keygen("beta", "ec:P-256");
	ct_keygen("gamma", "rsa:2048");
	ct_leaf("gamma", "gamma.crt", "now-1", "now+365");
	doc = ct_run_json(0, "import --cert gamma.crt");
	cr_assert_str_eq(ct_str(doc, "key.label"), "gamma");
	cr_assert_str_eq(ct_str(doc, "certificate.label"), "gamma");
	json_decref(doc);
}

Test(import, chain_and_formats)
{
	json_t *doc, *cas;
	char *all;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	/* The CA's PKCS#7 bundle in DER: leaf and Sub CA; the root as a PEM chain file. */
	free(ts_sh("openssl crl2pkcs7 -nocrl -certfile web.crt -certfile pki/sub.crt -outform DER "
		   "-out web.p7b"));
	doc = ct_run_json(0, "import --cert web.p7b --chain pki/root.crt");
	cas = json_object_get(doc, "ca_certificates");
	cr_assert_eq(json_array_size(cas), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *ca = json_array_get(cas, i);
		cr_assert_str_eq(json_string_value(json_object_get(ca, "category")), "authority");
		cr_assert(json_is_true(json_object_get(ca, "added")));
	}
	json_decref(doc);
	all = ct_p11tool_all();
	cr_assert_eq(ct_count(all, "Type: X.509 Certificate"), 3, "%s", all);
	cr_assert_eq(ct_count(all, "CKA_CERTIFICATE_CATEGORY=CA"), 2, "%s", all);
	cr_assert(strstr(all, "Label: Test Sub CA"), "%s", all);
	cr_assert(strstr(all, "Label: Test Root"), "%s", all);
	free(all);

	/* DER certificate input works too (same certificate: nothing added). */
	free(ts_sh("openssl x509 -in web.crt -outform DER -out web.der"));
	doc = ct_run_json(0, "import --cert web.der");
	cr_assert(json_is_false(json_object_get(doc, "changed")));
	json_decref(doc);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 5);
}

Test(import, replace_removes_older_certificate_and_old_sub_ca)
{
	json_t *doc, *removed;
	char *certs, *fp_new;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	/* Last year's certificate with the Sub CA as first issued. */
	free(ts_sh(CT_TESTPKI " reissue pki sub sub-old 2021-01-01 2039-01-01"));
	ct_leaf("web", "old.crt", "now-300", "now+60");
	json_decref(ct_run_json(0, "import --cert old.crt --chain pki/sub-old.crt"));
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);

	/* This year's: --replace removes the old certificate and the superseded Sub CA. */
	ct_leaf("web", "new.crt", "now-1", "now+365");
	doc = ct_run_json(0, "import --cert new.crt --chain pki/sub.crt --replace");
	removed = json_object_get(doc, "removed");
	cr_assert_eq(json_array_size(removed), 2, "%s", json_dumps(doc, 0));
	json_decref(doc);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
	certs = ct_pkcs11_tool_certs();
	cr_assert_eq(ct_count(certs, "Certificate Object"), 2, "%s", certs);
	free(certs);
	fp_new = ct_openssl_fingerprint("new.crt", "sha256");
	doc = ct_run_json(0, "import --cert new.crt --chain pki/sub.crt");
	cr_assert(json_is_false(json_object_get(doc, "changed")));
	cr_assert_str_eq(ct_str(doc, "certificate.sha256"), fp_new);
	json_decref(doc);
	free(fp_new);
}

Test(import, without_replace_the_old_certificate_stays)
{
	json_t *doc;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "old.crt", "now-300", "now+60");
	ct_leaf("web", "new.crt", "now-1", "now+365");
	json_decref(ct_run_json(0, "import --cert old.crt"));
	doc = ct_run_json(0, "import --cert new.crt");
	cr_assert_eq(json_array_size(json_object_get(doc, "removed")), 0);
	json_decref(doc);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
	/* --replace with an older certificate keeps the newer one. */
	doc = ct_run_json(0, "import --cert old.crt --replace");
	cr_assert_eq(json_array_size(json_object_get(doc, "removed")), 0);
	cr_assert_eq(json_integer_value(json_object_get(doc, "newer_certificates_kept")), 1);
	json_decref(doc);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
}

Test(import, label_renames_key_and_certificate)
{
	json_t *doc;
	char *labels;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_keygen("other", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	/* A label another key has is refused, and nothing is stored. */
	doc = ct_run_json(1, "import --cert web.crt --label other");
	json_decref(doc);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);

	doc = ct_run_json(0, "import --cert web.crt --label www2026");
	cr_assert_str_eq(ct_str(doc, "renamed_from"), "web");
	cr_assert_str_eq(ct_str(doc, "key.label"), "www2026");
	cr_assert_str_eq(ct_str(doc, "certificate.label"), "www2026");
	json_decref(doc);
	labels = ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s --list-objects "
		       "2>/dev/null | grep -c 'label:      www2026'",
		       TS_SOFTHSM, TS_PIN);
	cr_assert_eq(atoi(labels), 3, "%s", labels);
	free(labels);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 5);
}

Test(import, bad_input)
{
	static const struct {
		const char *args;
		int status;
	} bad[] = {
		{"", 2},
		{"--cert missing.pem", 4},
		{"--cert garbage.pem", 2},
		{"--cert web.crt --chain garbage.pem", 2},
		{"--cert web.crt --chain web.crt", 0}, /* the leaf in the chain file is skipped */
		{"--cert web.crt --label ''", 2},
		{"--cert web.crt extra", 2},
	};
	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	ts_write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n"
				"-----END CERTIFICATE-----\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ts_result r;
		ts_run(&r, "$HSMCERT import %s", bad[i].args);
		ts_assert_status(&r, bad[i].status);
		if (bad[i].status)
			cr_assert(strlen(r.err) > 0);
		ts_result_free(&r);
		cr_assert_eq(ts_count_objects(TS_TOKEN), bad[i].status ? 2 : 3, "%s", bad[i].args);
		if (bad[i].status == 0)
			free(ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s "
				   "--delete-object --type cert --label web >/dev/null 2>&1",
				   TS_SOFTHSM, TS_PIN));
	}
}

Test(import, non_ca_in_chain_is_refused)
{
	struct ts_result r;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_keygen("mail", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	ct_leaf("mail", "mail.crt", "now-1", "now+365");
	ts_run(&r, "$HSMCERT import --cert web.crt --chain mail.crt");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "is not a CA certificate"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 4);
}

Test(import, failure_while_storing_leaves_nothing)
{
	struct ts_result r;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	/* The leaf is stored, the Sub CA's C_CreateObject fails: the leaf goes again. */
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_CreateObject@2 $HSMCERT --module \"$HSMCERT_FAULTMOD\" "
		   "import --cert web.crt --chain pki/sub.crt");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_CreateObject failed: CKR_DEVICE_ERROR"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);

	/* A rename that fails after the certificate was stored: labels and objects restored. */
	ts_run(&r,
	       "HSMCERT_FAULT_FAIL=C_SetAttributeValue@2 HSMCERT_FAULT_ONCE=1 $HSMCERT --module "
	       "\"$HSMCERT_FAULTMOD\" import --cert web.crt --label renamed");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "what this run had changed on the token was undone"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
	{
		char *labels = ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s "
				     "--list-objects 2>/dev/null | grep -c 'label:      web'",
				     TS_SOFTHSM, TS_PIN);
		cr_assert_eq(atoi(labels), 2, "%s", labels);
		free(labels);
	}
}

/* Objects of `type` (privkey, pubkey, cert) that pkcs11-tool finds labelled `label` (a regex). */
static int objects_labelled(const char *type, const char *label)
{
	char *out = ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s "
			  "--list-objects --type %s 2>/dev/null | grep -c '^ *label: *%s$' || true",
			  TS_SOFTHSM, TS_PIN, type, label);
	int n = atoi(out);

	free(out);
	return n;
}

/*
 * The rename fails at the public key, and putting the private key's label
 * back fails too: the message says which object carries which label, and
 * pkcs11-tool agrees; the stored certificate is gone again.
 */
Test(import, failed_label_rollback_says_which_object_has_which_label)
{
	struct ts_result r;

	ct_pki();
	ct_keygen("fq", "rsa:2048");
	ct_leaf("fq", "fq.crt", "now-1", "now+365");
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_SetAttributeValue@2 $HSMCERT --module "
		   "\"$HSMCERT_FAULTMOD\" import --cert fq.crt --label fqnew");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "renaming the public key 'fq' to 'fqnew': setting CKA_LABEL: "
				"C_SetAttributeValue failed: CKR_DEVICE_ERROR"),
		  "%s", r.err);
	cr_assert(strstr(r.err, "; and the rollback failed too (C_SetAttributeValue: "
				"CKR_DEVICE_ERROR); these keep the new label"),
		  "%s", r.err);
	cr_assert(strstr(r.err, "token=test;id="), "%s", r.err);
	cr_assert(strstr(r.err, ";object=fqnew;type=private (was 'fq')"), "%s", r.err);
	cr_assert_eq(ct_count(r.err, "pkcs11:"), 1, "%s", r.err);
	ts_result_free(&r);
	/* As said: the private key is 'fqnew', the public key still 'fq', no certificate. */
	cr_assert_eq(objects_labelled("privkey", "fqnew"), 1);
	cr_assert_eq(objects_labelled("pubkey", "fq"), 1);
	cr_assert_eq(objects_labelled("cert", ".*"), 0);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);

	/* Importing again with either label makes them agree. */
	ts_run(&r, "$HSMCERT import --cert fq.crt --label fq");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	cr_assert_eq(objects_labelled("privkey", "fq"), 1);
	cr_assert_eq(objects_labelled("pubkey", "fq"), 1);
	cr_assert_eq(objects_labelled("cert", "fq"), 1);
}

/*
 * The leaf cannot be stored (CA certificates go first, so that a leaf on the
 * token always has its chain there) and the Sub CA cannot be destroyed: the
 * Sub CA is named, by URI.
 */
Test(import, failed_destroy_in_rollback_names_the_certificate_left)
{
	struct ts_result r;
	json_t *doc;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_CreateObject@2,C_DestroyObject $HSMCERT --module "
		   "\"$HSMCERT_FAULTMOD\" --json import --cert web.crt --chain pki/sub.crt");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_CreateObject failed: CKR_DEVICE_ERROR"), "%s", r.err);
	cr_assert(strstr(r.err, "; and the rollback failed too (C_DestroyObject: "
				"CKR_DEVICE_ERROR); left on the token, remove with 'hsmcert "
				"delete URI': pkcs11:"),
		  "%s", r.err);
	cr_assert(strstr(r.err, "token=test;id="), "%s", r.err);
	cr_assert(strstr(r.err, ";object=Test%20Sub%20CA;type=cert"), "%s", r.err);
	cr_assert_eq(ct_count(r.err, "pkcs11:"), 1, "%s", r.err);
	doc = ct_json(&r);
	cr_assert_str_eq(ct_str(doc, "error.function"), "C_CreateObject");
	json_decref(doc);
	ts_result_free(&r);
	/* Key pair and the Sub CA, as named; no leaf. */
	cr_assert_eq(ts_count_objects(TS_TOKEN), 3);
	cr_assert_eq(objects_labelled("cert", "web"), 0);
}
