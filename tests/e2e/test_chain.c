/*
 * chain end to end on the test PKI of scripts/testpki.sh (a CA mid root
 * migration). Every chain we write is checked with `openssl verify`, and
 * failures we report are checked against what openssl says too.
 */
#include "support.h"

#include "hsmcert/chain.h"
#include "hsmcert/x509.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The shared PKI, built once beside the binary under test and reused while
 * the script is unchanged ($PKI in commands). Tests only read it.
 */
static void setup_pki(void)
{
	ts_setup_empty();
	ts_use_testpki();
}

TestSuite(chain, .init = setup_pki, .fini = ts_teardown);

/* The first candidate with this verdict, or NULL. */
static json_t *candidate(json_t *doc, const char *verdict)
{
	json_t *cands = json_object_get(doc, "candidates"), *c;
	size_t i;

	json_array_foreach(cands, i, c) if (strcmp(json_string_value(json_object_get(c, "verdict")),
						   verdict) == 0) return c;
	return NULL;
}

static const char *path_field(json_t *doc, size_t i, const char *field)
{
	return json_string_value(
		json_object_get(json_array_get(json_object_get(doc, "path"), i), field));
}

/* `openssl verify` of a leaf with our chain file as the untrusted certificates. */
static void assert_openssl_verifies(const char *root, const char *chain, const char *leaf,
				    bool want_ok)
{
	struct ts_result r;

	ts_run(&r, "openssl verify -CAfile \"$PKI/%s\" -untrusted %s %s", root, chain, leaf);
	if (want_ok)
		cr_assert(r.status == 0 && strstr(r.out, ": OK"), "openssl verify with %s: %s%s",
			  root, r.out, r.err);
	else
		cr_assert(r.status != 0, "openssl verify with %s accepted: %s", root, r.out);
	ts_result_free(&r);
}

/* Subjects and issuers of the certificates in a PEM file, as openssl lists them. */
static char *openssl_list(const char *file)
{
	return ts_sh("openssl crl2pkcs7 -nocrl -certfile %s | openssl pkcs7 -print_certs -noout",
		     file);
}

static int count(const char *haystack, const char *needle)
{
	int n = 0;
	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(chain, reissued_sub_ca_is_chosen_old_one_superseded)
{
	struct ts_result r;
	json_t *doc, *sup;
	char *serials;

	ts_run(&r,
	       "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates \"$PKI/downloads\" "
	       "--roots \"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert(json_is_true(json_object_get(doc, "verified")));
	cr_assert_str_eq(path_field(doc, 1, "serial"), "3003");
	cr_assert_str_eq(path_field(doc, 1, "not_before"), "2025-06-01T00:00:00Z");
	sup = candidate(doc, "superseded");
	cr_assert_not_null(sup, "%s", r.out);
	cr_assert_str_eq(json_string_value(json_object_get(sup, "serial")), "3002");
	cr_assert(strstr(json_string_value(json_object_get(sup, "reason")), "3003"));

	/* openssl sees the re-issued Sub CA (serial 0x3003) in the file, and not the old one. */
	serials = ts_sh("openssl crl2pkcs7 -nocrl -certfile chain.pem | openssl pkcs7 "
			"-print_certs -text -noout | grep -o '(0x[0-9a-f]*)'");
	cr_assert(strstr(serials, "(0x3003)") && !strstr(serials, "(0x3002)"), "%s", serials);
	assert_openssl_verifies("root3.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	free(serials);
	json_decref(doc);
	ts_result_free(&r);
}

Test(chain, cross_certificate_served_and_each_root_verifies)
{
	struct ts_result r;
	json_t *doc, *roots;
	char *list;

	ts_run(&r,
	       "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates \"$PKI/downloads\" "
	       "--roots \"$PKI/roots-both\" -o chain.pem");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	roots = json_object_get(doc, "roots");
	cr_assert_eq(json_array_size(roots), 2, "%s", r.out);
	cr_assert(strstr(json_string_value(json_object_get(json_array_get(roots, 1), "subject")),
			 "Test Global Root CA"));
	cr_assert(json_is_true(json_object_get(json_array_get(roots, 1), "trusted")));
	cr_assert_str_eq(path_field(doc, 3, "role"), "cross");
	cr_assert_not_null(candidate(doc, "cross"));

	list = openssl_list("chain.pem");
	cr_assert_eq(count(list, "subject="), 3, "%s", list);
	cr_assert(strstr(list, "issuer=C = HK, O = Test Trust Services, CN = Test Global Root CA"),
		  "%s", list);
	cr_assert(!strstr(list, "subject=C = HK, O = Test Trust Services"), "root served: %s",
		  list);
	/* Clients that trust only the old root verify, and so do those with Root CA 3. */
	assert_openssl_verifies("root1.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	assert_openssl_verifies("root3.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	free(list);
	json_decref(doc);
	ts_result_free(&r);
}

Test(chain, no_cross_leaves_it_out)
{
	struct ts_result r;
	json_t *doc;
	char *list;

	ts_run(&r, "$HSMCERT chain --json --no-cross --cert \"$PKI/leaf.crt\" "
		   "--intermediates \"$PKI/downloads\" --roots \"$PKI/roots-both\" -o chain.pem");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert_not_null(candidate(doc, "cross_left_out"), "%s", r.out);
	cr_assert_null(candidate(doc, "cross"));
	list = openssl_list("chain.pem");
	cr_assert_eq(count(list, "subject="), 2, "%s", list);
	assert_openssl_verifies("root3.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	assert_openssl_verifies("root1.crt", "chain.pem", "\"$PKI/leaf.crt\"", false);
	free(list);
	json_decref(doc);
	ts_result_free(&r);
}

Test(chain, old_root_only_goes_through_the_cross_certificate)
{
	struct ts_result r;
	json_t *doc;

	/* Root CA 3's self-signed certificate among the downloads is no way to the old root. */
	free(ts_sh("mkdir dl && cp \"$PKI\"/downloads/* \"$PKI/root3.crt\" dl/"));
	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates dl "
		   "--roots \"$PKI/roots-old\" -o chain.pem --include-root");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert(strstr(r.out, "self-signed, not among the roots"), "%s", r.out);
	cr_assert_eq(json_array_size(json_object_get(doc, "path")), 4, "%s", r.out);
	cr_assert(strstr(path_field(doc, 3, "subject"), "Test Global Root CA"));
	cr_assert_str_eq(path_field(doc, 3, "role"), "root");
	cr_assert(strstr(path_field(doc, 2, "issuer"), "Test Global Root CA"));
	/* --include-root: the file ends with the self-signed root. */
	{
		char *last = ts_sh("openssl crl2pkcs7 -nocrl -certfile chain.pem | openssl pkcs7 "
				   "-print_certs -noout | grep subject= | tail -1");
		cr_assert(strstr(last, "Test Global Root CA"), "%s", last);
		free(last);
	}
	assert_openssl_verifies("root1.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	json_decref(doc);
	ts_result_free(&r);
}

Test(chain, revoked_sub_ca_is_exit_1_with_serial_date_and_reason)
{
	struct ts_result r;
	json_t *doc, *rev;

	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/revoked-leaf.crt\" "
		   "--intermediates \"$PKI/downloads\" --roots \"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 1);
	cr_assert(!ts_exists("chain.pem"), "a chain was written for a revoked path");
	cr_assert(strstr(r.err, "revoked") && strstr(r.err, "3005") &&
			  strstr(r.err, "keyCompromise"),
		  "%s", r.err);
	doc = ts_json(&r);
	cr_assert(json_is_true(json_object_get(doc, "revoked")));
	cr_assert(json_is_false(json_object_get(doc, "verified")));
	rev = json_object_get(json_array_get(json_object_get(doc, "path"), 1), "revocation");
	cr_assert_str_eq(json_string_value(json_object_get(rev, "status")), "revoked");
	cr_assert_str_eq(json_string_value(json_object_get(rev, "serial")), "3005");
	cr_assert_str_eq(json_string_value(json_object_get(rev, "reason")), "keyCompromise");
	cr_assert_not_null(json_object_get(rev, "revoked_at"));
	json_decref(doc);
	ts_result_free(&r);

	/* openssl agrees that the ARL revokes that CA. */
	ts_run(&r,
	       "openssl verify -crl_check -CAfile \"$PKI/root3.crt\" -CRLfile \"$PKI/root3.arl\" "
	       "\"$PKI/revoked.crt\"");
	cr_assert(r.status != 0 && (strstr(r.out, "revoked") || strstr(r.err, "revoked")), "%s%s",
		  r.out, r.err);
	ts_result_free(&r);
}

Test(chain, clean_arl_older_than_the_revoking_one_does_not_hide_it)
{
	struct ts_result r;

	/* Both ARLs given: the newer (CRL number 2) decides. */
	ts_run(&r, "$HSMCERT chain --cert \"$PKI/revoked-leaf.crt\" --intermediates "
		   "\"$PKI/revoked.crt\" --crl \"$PKI/root3-clean.arl\" --crl \"$PKI/root3.arl\" "
		   "--roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "revoked"), "%s", r.err);
	ts_result_free(&r);

	/* The clean one alone: good, and the report names it. */
	ts_run(&r,
	       "$HSMCERT chain --cert \"$PKI/revoked-leaf.crt\" --intermediates "
	       "\"$PKI/revoked.crt\" --crl \"$PKI/root3-clean.arl\" --roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "not revoked per") && strstr(r.out, "root3-clean.arl"), "%s",
		  r.out);
	ts_result_free(&r);
}

Test(chain, expired_ca_is_rejected)
{
	struct ts_result r;
	json_t *doc, *rej;

	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/expired-leaf.crt\" "
		   "--intermediates \"$PKI/downloads\" --roots \"$PKI/roots-both\"");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "Test Expired Sub CA") && strstr(r.err, "expired on 2022-01-01"),
		  "%s", r.err);
	doc = ts_json(&r);
	rej = candidate(doc, "rejected");
	cr_assert_not_null(rej, "%s", r.out);
	cr_assert(strstr(json_string_value(json_object_get(rej, "reason")), "expired"));
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r, "openssl verify -CAfile \"$PKI/root3.crt\" -untrusted \"$PKI/expired.crt\" "
		   "\"$PKI/expired-leaf.crt\"");
	cr_assert(r.status != 0 && (strstr(r.out, "expired") || strstr(r.err, "expired")), "%s%s",
		  r.out, r.err);
	ts_result_free(&r);
}

Test(chain, p7b_output_is_readable_by_openssl)
{
	struct ts_result r;
	char *list;

	ts_run(&r, "$HSMCERT chain --cert \"$PKI/leaf.crt\" --intermediates \"$PKI/downloads\" "
		   "--roots \"$PKI/roots-both\" -o chain.p7b --format p7b");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Wrote 3 certificates to chain.p7b"), "%s", r.out);
	list = ts_sh("openssl pkcs7 -inform DER -in chain.p7b -print_certs -noout");
	cr_assert_eq(count(list, "subject="), 3, "%s", list);
	free(list);
	free(ts_sh("openssl pkcs7 -inform DER -in chain.p7b -print_certs -out chain.pem"));
	assert_openssl_verifies("root1.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	ts_result_free(&r);
}

Test(chain, existing_output_needs_force)
{
	struct ts_result r;
	char *before;

	ts_write("chain.pem", "keep me\n");
	ts_run(&r, "$HSMCERT chain --cert \"$PKI/leaf.crt\" --intermediates \"$PKI/downloads\" "
		   "--roots \"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 1);
	before = ts_read("chain.pem", NULL);
	cr_assert_str_eq(before, "keep me\n");
	free(before);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT chain --cert \"$PKI/leaf.crt\" --intermediates \"$PKI/downloads\" "
		   "--roots \"$PKI/roots-new\" -o chain.pem --force");
	ts_assert_status(&r, 0);
	assert_openssl_verifies("root3.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	ts_result_free(&r);
}

Test(chain, garbage_and_truncated_files_in_a_folder_are_skipped)
{
	struct ts_result r;
	json_t *doc, *skipped;

	free(ts_sh(
		"mkdir dl && cp \"$PKI\"/downloads/* dl/ && head -c 700 /dev/urandom >dl/garbage.crt "
		"&& openssl x509 -in \"$PKI/sub.crt\" -outform DER | head -c 300 >dl/truncated.der "
		"&& : >dl/empty.cer && printf -- '-----BEGIN CERTIFICATE-----\\nAAAA\\n"
		"-----END CERTIFICATE-----\\n' >dl/bad.pem && cp \"$PKI/leaf.key\" dl/"));
	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates dl "
		   "--roots \"$PKI/roots-both\" -o chain.pem");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	skipped = json_object_get(doc, "skipped_inputs");
	cr_assert_eq(json_array_size(skipped), 5, "%s", r.out);
	assert_openssl_verifies("root1.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	json_decref(doc);
	ts_result_free(&r);

	/* Named explicitly, a broken file is malformed input: exit 2, naming it. */
	ts_run(&r, "$HSMCERT chain --cert \"$PKI/leaf.crt\" --intermediates dl/truncated.der "
		   "--roots \"$PKI/roots-both\"");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "truncated.der"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT chain --cert dl/garbage.crt --roots \"$PKI/roots-both\"");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
}

Test(chain, malformed_candidate_is_skipped_when_it_is_needed)
{
	struct ts_result r;
	json_t *doc;

	/* The pool parses a certificate only when it is a candidate: then it is reported. */
	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates "
		   "\"$PKI/sub-badext.pem\" --intermediates \"$PKI/sub-old.crt\" "
		   "--roots \"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert_eq(json_array_size(json_object_get(doc, "skipped_inputs")), 1, "%s", r.out);
	cr_assert(strstr(r.out, "sub-badext.pem: a certificate that does not parse"), "%s", r.out);
	cr_assert_str_eq(path_field(doc, 1, "serial"), "3002");
	assert_openssl_verifies("root3.crt", "chain.pem", "\"$PKI/leaf.crt\"", true);
	json_decref(doc);
	ts_result_free(&r);
}

Test(chain, crl_with_bad_signature_or_stale_is_reported_and_skipped)
{
	struct ts_result r;
	json_t *doc, *crls, *rev;

	ts_run(&r,
	       "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates "
	       "\"$PKI/sub.crt\" --crl \"$PKI/root3-badsig.arl\" --crl \"$PKI/root3-stale.arl\" "
	       "--roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	crls = json_object_get(doc, "skipped_crls");
	cr_assert_eq(json_array_size(crls), 2, "%s", r.out);
	cr_assert(strstr(r.out, "signature does not verify"), "%s", r.out);
	cr_assert(strstr(r.out, "nextUpdate 2024-01-01"), "%s", r.out);
	rev = json_object_get(json_array_get(json_object_get(doc, "path"), 1), "revocation");
	cr_assert_str_eq(json_string_value(json_object_get(rev, "status")), "unknown");
	json_decref(doc);
	ts_result_free(&r);

	/* openssl refuses the damaged ARL too. */
	ts_run(&r, "openssl crl -in \"$PKI/root3-badsig.arl\" -CAfile \"$PKI/root3.crt\" -noout");
	cr_assert(strstr(r.err, "verify failure") || strstr(r.out, "verify failure"), "%s%s", r.out,
		  r.err);
	ts_result_free(&r);
}

/* The revoked Sub CA's revocation, as the JSON path reports it. */
static json_t *sub_revocation(json_t *doc)
{
	return json_object_get(json_array_get(json_object_get(doc, "path"), 1), "revocation");
}

Test(chain, stale_crl_listing_the_sub_ca_still_revokes_it)
{
	struct ts_result r;
	json_t *doc, *rev;

	/* root3-stale.arl (nextUpdate 2024-01-01) lists serial 3005, revoked at build time. */
	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/revoked-leaf.crt\" --intermediates "
		   "\"$PKI/revoked.crt\" --crl \"$PKI/root3-stale.arl\" --roots \"$PKI/roots-new\" "
		   "-o chain.pem");
	ts_assert_status(&r, 1);
	doc = ts_json(&r);
	cr_assert(json_is_false(json_object_get(doc, "verified")));
	cr_assert(json_is_true(json_object_get(doc, "revoked")));
	rev = sub_revocation(doc);
	cr_assert_str_eq(json_string_value(json_object_get(rev, "status")), "revoked", "%s", r.out);
	cr_assert_str_eq(json_string_value(json_object_get(rev, "serial")), "3005");
	cr_assert_str_eq(json_string_value(json_object_get(rev, "reason")), "keyCompromise");
	cr_assert(json_string_value(json_object_get(rev, "revoked_at")));
	cr_assert(strstr(json_string_value(json_object_get(rev, "crl")), "root3-stale.arl"));
	/* It decided the revocation: not listed among the CRLs not used. */
	cr_assert_eq(json_array_size(json_object_get(doc, "skipped_crls")), 0, "%s", r.out);
	cr_assert(strstr(r.err, "serial 3005 revoked on") && strstr(r.err, "keyCompromise") &&
			  strstr(r.err, "revocation is permanent"),
		  "%s", r.err);
	cr_assert(!ts_exists("chain.pem"));
	json_decref(doc);
	ts_result_free(&r);

	/* The text report says it too. */
	ts_run(&r,
	       "$HSMCERT chain --cert \"$PKI/revoked-leaf.crt\" --intermediates "
	       "\"$PKI/revoked.crt\" --crl \"$PKI/root3-stale.arl\" --roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "Chain NOT verified") && strstr(r.out, "REVOKED: serial 3005"),
		  "%s", r.out);
	ts_result_free(&r);

	/* openssl agrees the ARL's signature is good and lists it, stale or not. */
	ts_run(&r, "openssl verify -crl_check -CAfile \"$PKI/root3.crt\" -CRLfile "
		   "\"$PKI/root3-stale.arl\" \"$PKI/revoked.crt\"");
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.out, "certificate revoked") || strstr(r.err, "certificate revoked"),
		  "%s%s", r.out, r.err);
	ts_result_free(&r);

	/* Evaluated before the revocation date, the stale ARL proves nothing: unknown. */
	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/revoked-leaf.crt\" --intermediates "
		   "\"$PKI/revoked.crt\" --crl \"$PKI/root3-stale.arl\" --roots \"$PKI/roots-new\" "
		   "--at 2025-10-01");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert_str_eq(json_string_value(json_object_get(sub_revocation(doc), "status")),
			 "unknown");
	json_decref(doc);
	ts_result_free(&r);
}

/* Chain the EV leaf with CRL `crl`: exit `want`, the Sub CA's revocation `field` is `value`. */
static void ev_sub_ca_revocation(const char *crl, int want, const char *field, const char *value)
{
	struct ts_result r;
	json_t *doc;

	ts_run(&r,
	       "$HSMCERT chain --json --cert \"$PKI/ev-leaf.crt\" --intermediates "
	       "\"$PKI/ev.crt\" --crl %s --roots \"$PKI/roots-new\"",
	       crl);
	ts_assert_status(&r, want);
	doc = ts_json(&r);
	cr_assert_str_eq(json_string_value(json_object_get(sub_revocation(doc), field)), value,
			 "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);
}

/*
 * certificateHold is not permanent: from a stale CRL it is not a revocation,
 * from a current one it is. Root CA 3's database is copied (the shared PKI is
 * read only) to put the EV Sub CA on hold.
 */
Test(chain, hold_counts_only_from_a_current_crl)
{
	free(ts_sh("cp -r \"$PKI/ca/root3\" r3 && export CA_DIR=\"$PWD/r3\" AIA=none CDP=none && "
		   "openssl ca -config \"$PKI/openssl.cnf\" -revoke \"$PKI/ev.crt\" -crl_reason "
		   "certificateHold -crl_hold holdInstructionReject 2>/dev/null && "
		   "openssl ca -config \"$PKI/openssl.cnf\" -gencrl -crlexts crl_ext "
		   "-crl_lastupdate 20231201000000Z -crl_nextupdate 20240101000000Z "
		   "-out held-stale.arl 2>/dev/null && "
		   "openssl ca -config \"$PKI/openssl.cnf\" -gencrl -crlexts crl_ext -out held.arl "
		   "2>/dev/null"));
	ev_sub_ca_revocation("held-stale.arl", 0, "status", "unknown");
	ev_sub_ca_revocation("held.arl", 1, "reason", "certificateHold");
}

Test(chain, at_time_and_usage_errors)
{
	struct ts_result r;

	ts_run(&r,
	       "$HSMCERT chain --cert \"$PKI/leaf.crt\" --roots \"$PKI/roots-new\" --at yesterday");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT chain --roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT chain --cert \"$PKI/leaf.crt\" --format der -o x");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	/* Evaluated at another time: before the leaf's notBefore, the leaf itself fails. */
	ts_run(&r, "$HSMCERT chain --cert \"$PKI/leaf.crt\" --intermediates \"$PKI/sub.crt\" "
		   "--roots \"$PKI/roots-new\" --at 2034-12-01");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT chain --cert \"$PKI/ev-leaf.crt\" --intermediates \"$PKI/ev.crt\" "
		   "--roots \"$PKI/roots-new\" --at 2024-01-01");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "ev.example.test itself: not valid before 2025-09-01"), "%s",
		  r.err);
	ts_result_free(&r);
}

/* The library entry point `check --tls` uses, without the CLI. */
Test(chain, library_builds_the_served_chain)
{
	hc_chain_pool *pool = NULL, *roots = NULL;
	hc_chain_result res = {0};
	hc_x509_bundle leaf = {0};
	hc_error err = {0};
	STACK_OF(X509) *served;
	char path[1024];
	const char *pki = getenv("PKI");

	snprintf(path, sizeof(path), "%s/leaf.crt", pki);
	cr_assert_eq(hc_x509_load_file(path, NULL, &leaf, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_chain_pool_new(&pool, &err), HC_OK);
	cr_assert_eq(hc_chain_pool_new(&roots, &err), HC_OK);
	snprintf(path, sizeof(path), "%s/downloads", pki);
	cr_assert_eq(hc_chain_pool_add_path(pool, path, &err), HC_OK, "%s", err.message);
	/* The same folder twice: one copy of each certificate. */
	cr_assert_eq(hc_chain_pool_add_path(pool, path, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_chain_pool_cert_count(pool), 6);
	snprintf(path, sizeof(path), "%s/roots-both", pki);
	cr_assert_eq(hc_chain_pool_add_path(roots, path, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_chain_build(sk_X509_value(leaf.certs, 0), pool, roots, NULL, &res, &err),
		     HC_OK, "%s", res.failure ? res.failure : err.message);
	cr_assert(res.verified);
	served = hc_chain_served(&res, false);
	cr_assert_eq(sk_X509_num(served), 3);
	sk_X509_pop_free(served, X509_free);
	hc_chain_result_clear(&res);
	hc_chain_pool_free(pool);
	hc_chain_pool_free(roots);
	hc_x509_bundle_clear(&leaf);
}

/* ---- --fetch against a loopback HTTP server ------------------------ */

static pid_t server_pid;

/*
 * Run `command` in the background (its pid in server_pid) and wait, bounded,
 * for the port file it writes once it listens.
 */
static void start_server(const char *command, const char *port_file)
{
	struct ts_result r;
	char *pid;

	free(ts_sh("%s >/dev/null 2>&1 </dev/null & echo $! >server.pid", command));
	pid = ts_read("server.pid", NULL);
	cr_assert_not_null(pid);
	server_pid = (pid_t)atoi(pid);
	free(pid);
	ts_run(&r, "for i in $(seq 200); do [ -s %s ] && exit 0; sleep 0.05; done; exit 1",
	       port_file);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

static void stop_server(void)
{
	if (server_pid > 0)
		kill(server_pid, SIGTERM);
	server_pid = 0;
	ts_teardown();
}

/* Start the server on a free port, then build a PKI whose URLs name that port. */
static void setup_fetch(void)
{
	struct ts_result r;

	setup_pki();
	free(ts_sh("mkdir -p pki/www"));
	start_server("\"$TESTPKI\" serve \"$TEST_DIR/pki/www\" \"$TEST_DIR/port\" 120", "port");
	ts_run(&r, "\"$TESTPKI\" build \"$TEST_DIR/pki\" $(cat port)");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	{
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/pki", ts_dir);
		setenv("PKI", dir, 1);
	}
}

TestSuite(chain_fetch, .init = setup_fetch, .fini = stop_server);

Test(chain_fetch, missing_intermediate_fetched_only_with_fetch)
{
	struct ts_result r;
	json_t *doc, *fetches;

	/* Offline (the default): exit 1 naming the missing link. */
	ts_run(&r, "$HSMCERT chain --cert pki/leaf.crt --roots pki/roots-new -o chain.pem");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "no issuer for") && strstr(r.err, "Test Sub CA 1"), "%s", r.err);
	cr_assert(!ts_exists("chain.pem"));
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT chain --json --fetch --cache cache --cert pki/leaf.crt "
		   "--roots pki/roots-new -o chain.pem");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	fetches = json_object_get(doc, "fetches");
	/* sub.der (the issuer), sub.crl (the leaf's CRL), root3.arl (the Sub CA's). */
	cr_assert_eq(json_array_size(fetches), 3, "%s", r.out);
	for (size_t i = 0; i < 3; i++)
		cr_assert(json_is_true(json_object_get(json_array_get(fetches, i), "ok")), "%s",
			  r.out);
	for (size_t i = 0; i < 2; i++)
		cr_assert_str_eq(
			json_string_value(json_object_get(
				json_object_get(json_array_get(json_object_get(doc, "path"), i),
						"revocation"),
				"status")),
			"good", "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);
	assert_openssl_verifies("root3.crt", "chain.pem", "pki/leaf.crt", true);

	/* From the cache, even with the server's files gone. */
	free(ts_sh("rm pki/www/sub.der pki/www/sub.crl pki/www/root3.arl"));
	ts_run(&r,
	       "$HSMCERT chain --fetch --cache cache --cert pki/leaf.crt --roots pki/roots-new");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "(cache)"), "%s", r.out);
	ts_result_free(&r);

	/* PKCS#7 from the AIA URL (the EV Sub CA). */
	ts_run(&r, "$HSMCERT chain --fetch --cert pki/ev-leaf.crt --roots pki/roots-new -o ev.pem");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	assert_openssl_verifies("root3.crt", "ev.pem", "pki/ev-leaf.crt", true);
}

Test(chain_fetch, oversized_and_unreachable_downloads_are_refused)
{
	struct ts_result r;

	/* 2 MiB where an issuer certificate should be: over the 1 MiB limit. A failed download is
	 * I/O. */
	free(ts_sh("head -c 2097152 /dev/zero >pki/www/big.der"));
	ts_run(&r, "$HSMCERT chain --fetch --cert pki/big-leaf.crt --roots pki/roots-new");
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.out, "limit, refused"), "%s", r.out);
	ts_result_free(&r);

	/* A closed port: exit 4, and both the report and the error name the URL and why. */
	ts_run(&r, "$HSMCERT chain --json --fetch --cert pki/dead-leaf.crt --roots pki/roots-new");
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.out, "127.0.0.1:1/ev.der") && strstr(r.out, "\"ok\": false"), "%s",
		  r.out);
	cr_assert(strstr(r.out, "\"download_failed\": true"), "%s", r.out);
	cr_assert(strstr(r.err, "downloading it failed: http://127.0.0.1:1/ev.der"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT chain --fetch --cert pki/dead-leaf.crt --roots pki/roots-new");
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.out, "FAILED") && strstr(r.out, "Couldn't connect"), "%s", r.out);
	ts_result_free(&r);
	/* Without --fetch nothing was downloaded: the missing issuer is a verdict, exit 1. */
	ts_run(&r, "$HSMCERT chain --cert pki/dead-leaf.crt --roots pki/roots-new");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "--fetch downloads it"), "%s", r.err);
	ts_result_free(&r);
}

Test(chain_fetch, server_down_is_exit_4_but_a_bad_download_is_a_verdict)
{
	struct ts_result r;

	/* A downloaded issuer that is expired: the download worked, the chain fails: 1. */
	ts_run(&r, "$HSMCERT chain --fetch --cert pki/expired-leaf.crt --roots pki/roots-new");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "expired"), "%s", r.err);
	ts_result_free(&r);

	/* The server stops: its port now refuses connections. */
	kill(server_pid, SIGTERM);
	ts_run(&r, "for i in $(seq 200); do python3 -c 'import socket, sys; "
		   "socket.create_connection((\"127.0.0.1\", int(sys.argv[1])), 1)' $(cat port) "
		   "2>/dev/null || exit 0; sleep 0.05; done; exit 1");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	server_pid = 0;
	ts_run(&r, "$HSMCERT chain --json --fetch --cert pki/leaf.crt --roots pki/roots-new");
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.out, "\"download_failed\": true") && strstr(r.out, "/sub.der"), "%s",
		  r.out);
	ts_result_free(&r);

	/* The issuer given, only its CRL download fails: verified, revocation unknown. */
	ts_run(&r, "$HSMCERT chain --fetch --cert pki/leaf.crt --intermediates pki/sub.crt "
		   "--roots pki/roots-new");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "unknown: no usable CRL/ARL") && strstr(r.out, "FAILED"), "%s",
		  r.out);
	ts_result_free(&r);
}

/* ---- --fetch as a whole is bounded (issue 14.9) --------------------- */

/*
 * A server that accepts every connection and never answers (a hostile or
 * stuck AIA host), on a free loopback port written to `slow.port`; it ends
 * by itself after two minutes should the teardown not run.
 */
static void setup_slow(void)
{
	ts_setup_empty();
	start_server("python3 -c 'import os, signal, socket\n"
		     "signal.alarm(120)\n"
		     "s = socket.socket()\n"
		     "s.bind((\"127.0.0.1\", 0))\n"
		     "s.listen(64)\n"
		     "open(\"slow.tmp\", \"w\").write(str(s.getsockname()[1]))\n"
		     "os.rename(\"slow.tmp\", \"slow.port\")\n"
		     "held = []\n"
		     "while True:\n"
		     "    held.append(s.accept())\n"
		     "'",
		     "slow.port");
}

TestSuite(chain_deadline, .init = setup_slow, .fini = stop_server);

/*
 * A leaf whose issuer is missing and whose AIA names four URLs on the server
 * that never answers: each URL alone may take 20 s (80 s in all), but
 * --fetch as a whole has --fetch-timeout. The command must end with exit 4
 * and the report must say the time was spent. No timing assertion: `timeout
 * 60` only stops a command that ignores the deadline, and exit 124 fails.
 */
Test(chain_deadline, four_slow_aia_urls_end_within_the_fetch_deadline)
{
	struct ts_result r;
	json_t *doc, *fetches;
	size_t failed = 0, spent = 0;

	free(ts_sh(
		"P=$(cat slow.port) && "
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
		"-subj /CN=Slow-Issuer -keyout ca.key -out ca.crt "
		"-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign 2>/dev/null && "
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
		"-subj /CN=Other-Root -keyout other.key -out other.crt "
		"-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign 2>/dev/null && "
		"printf 'authorityInfoAccess = caIssuers;URI:http://127.0.0.1:%%s/a.der, "
		"caIssuers;URI:http://127.0.0.1:%%s/b.der, caIssuers;URI:http://127.0.0.1:%%s/c.der, "
		"caIssuers;URI:http://127.0.0.1:%%s/d.der\\n' $P $P $P $P >aia.ext && "
		"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		"-subj /CN=slow.example.test -keyout leaf.key 2>/dev/null | "
		"openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 20 "
		"-extfile aia.ext -out leaf.crt 2>/dev/null && "
		"openssl x509 -in leaf.crt -noout -ext authorityInfoAccess | grep -c d.der"));

	ts_run(&r, "timeout 60 $HSMCERT chain --json --fetch --fetch-timeout 2 --cert leaf.crt "
		   "--roots other.crt");
	cr_assert_neq(r.status, 124, "--fetch ran past its deadline: stopped by timeout 60");
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.err, "downloading it failed"), "%s", r.err);
	doc = ts_json(&r);
	fetches = json_object_get(doc, "fetches");
	cr_assert_eq(json_array_size(fetches), 4, "%s", r.out);
	for (size_t i = 0; i < 4; i++) {
		json_t *f = json_array_get(fetches, i);
		failed += json_is_false(json_object_get(f, "ok"));
		spent += strstr(json_string_value(json_object_get(f, "message")),
				"the 2 seconds all downloads may take are spent") != NULL;
	}
	cr_assert_eq(failed, 4, "%s", r.out);
	/* The first URL at least waited; the last ones were not even tried. */
	cr_assert_geq(spent, 1, "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);
}

/*
 * The certificates of the report have the shape every other command uses
 * (docs/json.md "Certificates"): the same fields and values as `show --json`
 * gives for the same file, `is_ca` and no chain-only `ca`.
 */
Test(chain, certificates_have_the_shared_shape)
{
	static const char *const fields[] = {
		"subject", "issuer",   "serial",   "not_before",	  "not_after", "sha1",
		"sha256",  "key_type", "key_bits", "signature_algorithm", "is_ca",     "sans"};
	struct ts_result r, s;
	json_t *doc, *shown;

	doc = ts_run_json(&r, 0,
			  "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates "
			  "\"$PKI/downloads\" --roots \"$PKI/roots-new\"");
	shown = ts_run_json(&s, 0, "$HSMCERT show --json \"$PKI/leaf.crt\"");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *a = json_object_get(ts_json_at(doc, "path/0"), fields[i]);
		json_t *b = json_object_get(ts_json_at(shown, "certificates/0"), fields[i]);
		cr_assert_not_null(a, "chain path/0 has no %s: %s", fields[i], r.out);
		cr_assert(json_equal(a, b), "%s differs: chain %s, show %s", fields[i], r.out,
			  s.out);
	}
	cr_assert(json_is_integer(ts_json_at(doc, "path/0/days_left")), "%s", r.out);
	cr_assert(json_is_false(ts_json_at(doc, "path/0/is_ca")), "%s", r.out);
	cr_assert(json_is_true(ts_json_at(doc, "path/1/is_ca")), "%s", r.out);
	cr_assert_null(ts_json_at(doc, "path/1/ca"), "%s", r.out);
	cr_assert(json_is_boolean(ts_json_at(doc, "candidates/0/is_ca")), "%s", r.out);
	json_decref(doc);
	json_decref(shown);
	ts_result_free(&r);
	ts_result_free(&s);
}
