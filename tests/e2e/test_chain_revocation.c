/*
 * chain's revocation checks end to end (SPEC: chain, issue 13 point 1):
 * every certificate on the path, the leaf included, against a CRL of its
 * issuer that covers it; the path verified by OpenSSL's verifier too. What
 * we report is checked against `openssl verify -crl_check(_all)`. CRLs are
 * made by copying a CA's database from the shared test PKI (read only).
 */
#include "certtest.h"

#include "hsmcert/chain.h"
#include "hsmcert/x509.h"

#include <jansson.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void setup_pki(void)
{
	ts_setup_empty();
	ts_use_testpki();
}

TestSuite(chain_revocation, .init = setup_pki, .fini = ts_teardown);

static const char *path_field(json_t *doc, size_t i, const char *field)
{
	return json_string_value(
		json_object_get(json_array_get(json_object_get(doc, "path"), i), field));
}

/* The revocation block of path entry i. */
static json_t *link_revocation(json_t *doc, size_t i)
{
	return json_object_get(json_array_get(json_object_get(doc, "path"), i), "revocation");
}

static const char *rev_field(json_t *doc, size_t i, const char *field)
{
	const char *v = json_string_value(json_object_get(link_revocation(doc, i), field));
	return v ? v : "";
}

/*
 * Issue 13 point 1: a CRL in the downloads folder that revokes the leaf
 * (keyCompromise). The Sub CA's database is copied (the shared PKI is read
 * only) to revoke www.example.test and publish the CRL.
 */
Test(chain_revocation, revoked_leaf_is_exit_1_and_openssl_agrees)
{
	struct ts_result r;
	json_t *doc;

	free(ts_sh("cp -r \"$PKI/ca/sub\" s1 && cp -r \"$PKI/downloads\" dl && "
		   "export CA_DIR=\"$PWD/s1\" AIA=none CDP=none && "
		   "openssl ca -config \"$PKI/openssl.cnf\" -revoke \"$PKI/leaf.crt\" -crl_reason "
		   "keyCompromise 2>/dev/null && openssl ca -config \"$PKI/openssl.cnf\" -gencrl "
		   "-crlexts crl_ext -out dl/sub-revoking.crl 2>/dev/null"));
	cr_assert(ts_exists("dl/sub-revoking.crl"));

	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates dl "
		   "--roots \"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 1);
	cr_assert(!ts_exists("chain.pem"), "a chain was written for a revoked leaf");
	cr_assert(strstr(r.err, "www.example.test is revoked") && strstr(r.err, "keyCompromise"),
		  "%s", r.err);
	doc = ct_json(&r);
	cr_assert(json_is_true(json_object_get(doc, "revoked")), "%s", r.out);
	cr_assert(json_is_false(json_object_get(doc, "verified")));
	cr_assert_str_eq(path_field(doc, 0, "role"), "target");
	cr_assert_str_eq(rev_field(doc, 0, "status"), "revoked", "%s", r.out);
	cr_assert(json_is_true(json_object_get(link_revocation(doc, 0), "checked")));
	cr_assert_str_eq(rev_field(doc, 0, "reason"), "keyCompromise");
	cr_assert_str_eq(rev_field(doc, 0, "serial"), "5001");
	cr_assert(strstr(rev_field(doc, 0, "crl"), "sub-revoking.crl"), "%s", r.out);
	cr_assert_str_eq(rev_field(doc, 0, "crl_number"), "02"); /* sub.crl was 01 */
	json_decref(doc);
	ts_result_free(&r);

	/* The text report says the same. */
	ts_run(&r, "$HSMCERT chain --cert \"$PKI/leaf.crt\" --intermediates dl "
		   "--roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "Chain NOT verified") && strstr(r.out, "REVOKED: serial 5001"),
		  "%s", r.out);
	ts_result_free(&r);

	/* openssl: revoked, with -crl_check and -crl_check_all alike. */
	for (int all = 0; all < 2; all++) {
		ts_run(&r,
		       "openssl verify %s -CAfile \"$PKI/root3.crt\" -untrusted \"$PKI/sub.crt\" "
		       "-CRLfile dl/sub-revoking.crl -CRLfile \"$PKI/root3.arl\" \"$PKI/leaf.crt\"",
		       all ? "-crl_check_all" : "-crl_check");
		cr_assert(r.status != 0 && (strstr(r.out, "certificate revoked") ||
					    strstr(r.err, "certificate revoked")),
			  "%s%s", r.out, r.err);
		ts_result_free(&r);
	}
}

/*
 * With a clean CRL for the leaf and the ARL for the Sub CA, every
 * certificate below the root is checked, the report says against which CRL,
 * the trust anchor says why not, and OpenSSL's verifier (run by chain with
 * the same CRLs) agrees, as `openssl verify -crl_check_all` does.
 */
Test(chain_revocation, every_certificate_is_checked_and_openssl_agrees)
{
	struct ts_result r;
	json_t *doc, *ossl;

	ts_run(&r,
	       "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates "
	       "\"$PKI/downloads\" --crl \"$PKI/sub.crl\" --roots \"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 0);
	doc = ct_json(&r);
	cr_assert_str_eq(rev_field(doc, 0, "status"), "good", "%s", r.out);
	cr_assert(strstr(rev_field(doc, 0, "crl"), "sub.crl"), "%s", r.out);
	cr_assert(strstr(rev_field(doc, 0, "detail"), "not revoked per"), "%s", r.out);
	cr_assert_not_null(
		json_string_value(json_object_get(link_revocation(doc, 0), "crl_next_update")));
	cr_assert_str_eq(rev_field(doc, 1, "status"), "good", "%s", r.out);
	cr_assert(strstr(rev_field(doc, 1, "crl"), "root3.arl"), "%s", r.out);
	cr_assert_str_eq(rev_field(doc, 1, "crl_number"), "02");
	cr_assert_str_eq(path_field(doc, 2, "role"), "root");
	cr_assert_str_eq(rev_field(doc, 2, "status"), "not_checked");
	cr_assert(json_is_false(json_object_get(link_revocation(doc, 2), "checked")));
	cr_assert(strstr(rev_field(doc, 2, "detail"), "trust anchor"), "%s", r.out);
	ossl = json_object_get(doc, "openssl_verify");
	cr_assert(json_is_true(json_object_get(ossl, "ok")), "%s", r.out);
	cr_assert(json_is_null(json_object_get(ossl, "error")));
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r, "openssl verify -crl_check_all -CAfile \"$PKI/root3.crt\" -untrusted chain.pem "
		   "-CRLfile \"$PKI/sub.crl\" -CRLfile \"$PKI/root3.arl\" \"$PKI/leaf.crt\"");
	cr_assert(r.status == 0 && strstr(r.out, ": OK"), "%s%s", r.out, r.err);
	ts_result_free(&r);

	/* Without the leaf's CRL: unknown (not a failure), and the report says why. */
	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates "
		   "\"$PKI/downloads\" --roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 0);
	doc = ct_json(&r);
	cr_assert_str_eq(rev_field(doc, 0, "status"), "unknown", "%s", r.out);
	cr_assert(strstr(rev_field(doc, 0, "detail"), "no usable CRL/ARL of its issuer"), "%s",
		  r.out);
	cr_assert(json_is_true(json_object_get(json_object_get(doc, "openssl_verify"), "ok")));
	json_decref(doc);
	ts_result_free(&r);
}

/*
 * An ARL (issuingDistributionPoint onlyContainsCACerts) of the Sub CA says
 * nothing about the leaf: revocation unknown, not good; openssl calls it a
 * different CRL scope.
 */
Test(chain_revocation, arl_does_not_vouch_for_a_leaf)
{
	struct ts_result r;
	json_t *doc;

	free(ts_sh(
		"cp -r \"$PKI/ca/sub\" s1 && cp \"$PKI/openssl.cnf\" arl.cnf && "
		"printf '[arl_ext]\\nauthorityKeyIdentifier = keyid:always\\n"
		"issuingDistributionPoint = critical, @idp\\n[idp]\\nonlyCA = TRUE\\n' >>arl.cnf "
		"&& CA_DIR=\"$PWD/s1\" AIA=none CDP=none openssl ca -config arl.cnf -gencrl "
		"-crlexts arl_ext -out sub-ca-only.arl 2>/dev/null"));
	ts_run(&r, "$HSMCERT chain --json --cert \"$PKI/leaf.crt\" --intermediates "
		   "\"$PKI/downloads\" --crl sub-ca-only.arl --roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 0);
	doc = ct_json(&r);
	cr_assert_str_eq(rev_field(doc, 0, "status"), "unknown", "%s", r.out);
	cr_assert(json_is_null(json_object_get(link_revocation(doc, 0), "crl")), "%s", r.out);
	cr_assert(strstr(rev_field(doc, 0, "detail"), "covers CA certificates only"), "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r,
	       "openssl verify -crl_check -CAfile \"$PKI/root3.crt\" -untrusted \"$PKI/sub.crt\" "
	       "-CRLfile sub-ca-only.arl \"$PKI/leaf.crt\"");
	cr_assert(r.status != 0 && (strstr(r.out, "different CRL scope") ||
				    strstr(r.err, "different CRL scope")),
		  "%s%s", r.out, r.err);
	ts_result_free(&r);
}

/*
 * The path search accepts a leaf that OpenSSL's verifier refuses (an unknown
 * critical extension): chain runs OpenSSL's verifier too, so it says not
 * verified, with OpenSSL's reason, as `check --tls` would.
 */
Test(chain_revocation, openssl_verifier_refusal_is_not_verified)
{
	struct ts_result r;
	json_t *doc, *ossl;

	free(ts_sh(
		"cp -r \"$PKI/ca/sub\" s1 && printf '[e]\\nbasicConstraints = critical,CA:FALSE\\n"
		"authorityKeyIdentifier = keyid:always\\nsubjectAltName = DNS:crit.example.test\\n"
		"1.3.6.1.4.1.55555.1 = critical,ASN1:NULL\\n' >crit.cnf && "
		"openssl req -new -key \"$PKI/leaf.key\" -subj '/C=HK/O=Test Web/CN=crit.example.test' "
		"-out crit.csr && openssl x509 -req -in crit.csr -CA \"$PKI/sub.crt\" -CAkey "
		"s1/ca.key -set_serial 0x7777 -days 365 -extfile crit.cnf -extensions e "
		"-out crit.crt 2>/dev/null"));
	cr_assert(ts_exists("crit.crt"));
	ts_run(&r, "$HSMCERT chain --json --cert crit.crt --intermediates \"$PKI/downloads\" "
		   "--roots \"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 1);
	cr_assert(!ts_exists("chain.pem"));
	cr_assert(
		strstr(r.err, "OpenSSL's verifier refuses the path: unhandled critical extension"),
		"%s", r.err);
	doc = ct_json(&r);
	cr_assert(json_is_false(json_object_get(doc, "verified")));
	cr_assert(json_is_false(json_object_get(doc, "revoked")));
	ossl = json_object_get(doc, "openssl_verify");
	cr_assert(json_is_false(json_object_get(ossl, "ok")), "%s", r.out);
	cr_assert_eq(json_integer_value(json_object_get(ossl, "depth")), 0);
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r,
	       "openssl verify -CAfile \"$PKI/root3.crt\" -untrusted \"$PKI/sub.crt\" crit.crt");
	cr_assert(r.status != 0 && (strstr(r.out, "unhandled critical extension") ||
				    strstr(r.err, "unhandled critical extension")),
		  "%s%s", r.out, r.err);
	ts_result_free(&r);
}

/* Build the chain of `cert` (a file) in process, with `purpose` (0: none). */
static hc_rc build_with_purpose(const char *cert, int purpose, hc_chain_result *res)
{
	hc_chain_pool *pool = NULL, *roots = NULL;
	hc_chain_options opt = {.purpose = purpose};
	hc_x509_bundle leaf = {0};
	hc_error err = {0};
	char path[1024];
	hc_rc rc;

	cr_assert_eq(hc_x509_load_file(cert, NULL, &leaf, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_chain_pool_new(&pool, &err), HC_OK);
	cr_assert_eq(hc_chain_pool_new(&roots, &err), HC_OK);
	snprintf(path, sizeof(path), "%s/downloads", getenv("PKI"));
	cr_assert_eq(hc_chain_pool_add_path(pool, path, &err), HC_OK, "%s", err.message);
	snprintf(path, sizeof(path), "%s/roots-new", getenv("PKI"));
	cr_assert_eq(hc_chain_pool_add_path(roots, path, &err), HC_OK, "%s", err.message);
	rc = hc_chain_build(sk_X509_value(leaf.certs, 0), pool, roots, &opt, res, &err);
	hc_chain_pool_free(pool);
	hc_chain_pool_free(roots);
	hc_x509_bundle_clear(&leaf);
	return rc;
}

/*
 * `check` asks OpenSSL's verifier for a TLS server's purpose, as its TLS
 * client does: a certificate for clients only (extendedKeyUsage clientAuth)
 * verifies as a chain but not for a server, as `openssl verify -purpose
 * sslserver` says.
 */
Test(chain_revocation, server_purpose_is_what_a_tls_client_asks)
{
	hc_chain_result res = {0};
	struct ts_result r;
	char cert[1024];

	free(ts_sh(
		"cp -r \"$PKI/ca/sub\" s1 && printf '[e]\\nbasicConstraints = critical,CA:FALSE\\n"
		"authorityKeyIdentifier = keyid:always\\nextendedKeyUsage = clientAuth\\n' "
		">client.cnf && openssl req -new -key \"$PKI/leaf.key\" -subj "
		"'/C=HK/O=Test Web/CN=client.example.test' -out client.csr && openssl x509 -req "
		"-in client.csr -CA \"$PKI/sub.crt\" -CAkey s1/ca.key -set_serial 0x7778 -days 365 "
		"-extfile client.cnf -extensions e -out client.crt 2>/dev/null"));
	snprintf(cert, sizeof(cert), "%s/client.crt", ts_dir);

	cr_assert_eq(build_with_purpose(cert, 0, &res), HC_OK, "%s", res.failure);
	cr_assert(res.verified && res.openssl_ok);
	hc_chain_result_clear(&res);

	cr_assert_eq(build_with_purpose(cert, X509_PURPOSE_SSL_SERVER, &res), HC_CHECK);
	cr_assert_not(res.verified);
	cr_assert(res.openssl_checked && !res.openssl_ok);
	cr_assert(strstr(res.failure, "unsuitable certificate purpose"), "%s", res.failure);
	hc_chain_result_clear(&res);

	ts_run(&r, "openssl verify -purpose sslserver -CAfile \"$PKI/root3.crt\" -untrusted "
		   "\"$PKI/sub.crt\" client.crt");
	cr_assert(r.status != 0 && (strstr(r.out, "unsuitable certificate purpose") ||
				    strstr(r.err, "unsuitable certificate purpose")),
		  "%s%s", r.out, r.err);
	ts_result_free(&r);
}
