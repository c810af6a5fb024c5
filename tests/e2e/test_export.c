/*
 * export end to end on SoftHSM2: the certificate and chain come out as
 * p11tool --export and openssl see them; a key names its certificate by
 * public key; formats; refusals change nothing and leave no file.
 */
#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(export, .init = ts_setup_token, .fini = ts_teardown);

/*
 * Key "web" from hsmcert keygen; a root and a sub CA made by openssl; the
 * leaf for the token's public key and both CA certificates written to the
 * token by pkcs11-tool (independent of us).
 */
static void make_pki(void)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT keygen --label web");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	free(ts_sh(
		"openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -subj '/CN=Export Root' "
		"-days 30 -out root.crt -addext basicConstraints=critical,CA:TRUE "
		"-addext keyUsage=keyCertSign,cRLSign 2>/dev/null && "
		"openssl req -new -newkey rsa:2048 -nodes -keyout sub.key -subj '/CN=Export Sub' "
		"-out sub.csr 2>/dev/null && "
		"printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=keyCertSign,cRLSign\\n' >ca.ext && "
		"openssl x509 -req -in sub.csr -CA root.crt -CAkey root.key -CAcreateserial -days 30 "
		"-extfile ca.ext -out sub.crt 2>/dev/null && "
		"pkcs11-tool --module %s --token-label test --read-object --type pubkey --label web "
		"-o web.pub.der 2>/dev/null && "
		"openssl pkey -pubin -inform DER -in web.pub.der -out web.pub.pem && "
		"openssl req -new -key sub.key -subj /CN=www.example.hk -out web.csr && "
		"openssl x509 -req -in web.csr -CA sub.crt -CAkey sub.key -CAcreateserial -days 20 "
		"-force_pubkey web.pub.pem -out web.crt 2>/dev/null && "
		"for c in web sub root; do openssl x509 -in $c.crt -outform DER -out $c.der; done && "
		"pkcs11-tool --module %s --token-label test --login --pin %s --write-object web.der "
		"--type cert --id 01 --label webcert >/dev/null 2>&1 && "
		"pkcs11-tool --module %s --token-label test --login --pin %s --write-object sub.der "
		"--type cert --id 02 --label sub >/dev/null 2>&1 && "
		"pkcs11-tool --module %s --token-label test --login --pin %s --write-object root.der "
		"--type cert --id 03 --label root >/dev/null 2>&1",
		TS_SOFTHSM, TS_SOFTHSM, TS_PIN, TS_SOFTHSM, TS_PIN, TS_SOFTHSM, TS_PIN));
}

/* DER of a PEM certificate file, as text of hex, to compare certificates exactly. */
static char *der_hex(const char *pem)
{
	return ts_sh("openssl x509 -in %s -outform DER | od -An -tx1 | tr -d ' \\n'", pem);
}

Test(export, certificate_as_p11tool_exports_it)
{
	struct ts_result r;
	char *ours, *theirs;

	make_pki();
	ts_run(&r, "$HSMCERT export 'pkcs11:object=webcert;type=cert' -o ours.pem");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Exported certificate CN=www.example.hk to ours.pem"), "%s", r.out);
	ts_result_free(&r);
	free(ts_sh("p11tool --provider %s --export 'pkcs11:token=test;object=webcert;type=cert' "
		   "> theirs.pem 2>/dev/null",
		   TS_SOFTHSM));
	ours = der_hex("ours.pem");
	theirs = der_hex("theirs.pem");
	cr_assert_str_eq(ours, theirs);
	free(theirs);
	theirs = der_hex("web.crt");
	cr_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);
}

/* A key URI: its certificate by public key (the labels differ here), with the chain. */
Test(export, key_uri_with_chain_verifies_with_openssl)
{
	struct ts_result r;
	json_error_t jerr;
	json_t *doc;
	char *n;

	make_pki();
	ts_run(&r, "$HSMCERT --json export pkcs11:object=web --chain -o chain.pem");
	ts_assert_status(&r, 0);
	doc = json_loads(r.out, 0, &jerr);
	cr_assert_not_null(doc, "%s", r.out);
	cr_assert_eq(json_array_size(json_object_get(doc, "chain")), 1, "%s", r.out);
	cr_assert(json_is_true(json_object_get(doc, "chain_complete")), "%s", r.out);
	cr_assert(strstr(json_string_value(
				 json_object_get(json_object_get(doc, "certificate"), "uri")),
			 "object=webcert"),
		  "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);
	/* Leaf first, then the sub CA; the root stays out; openssl verifies the served chain. */
	n = ts_sh("grep -c 'BEGIN CERTIFICATE' chain.pem");
	cr_assert_eq(atoi(n), 2);
	free(n);
	n = ts_sh("openssl x509 -in chain.pem -noout -subject");
	cr_assert(strstr(n, "www.example.hk"), "%s", n);
	free(n);
	n = ts_sh("openssl verify -CAfile root.crt -untrusted chain.pem chain.pem");
	cr_assert(strstr(n, "chain.pem: OK"), "%s", n);
	free(n);

	ts_run(&r, "$HSMCERT export pkcs11:object=web --chain --include-root -o all.pem");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	n = ts_sh("grep -c 'BEGIN CERTIFICATE' all.pem");
	cr_assert_eq(atoi(n), 3);
	free(n);
}

Test(export, formats_and_public_key)
{
	struct ts_result r;
	char *a, *b;

	make_pki();
	ts_run(&r, "$HSMCERT export pkcs11:object=web --format der -o web.out.der");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	a = ts_sh("openssl x509 -inform DER -in web.out.der -noout -fingerprint -sha256");
	b = ts_sh("openssl x509 -in web.crt -noout -fingerprint -sha256");
	cr_assert_str_eq(a, b);
	free(a);
	free(b);

	ts_run(&r, "$HSMCERT export pkcs11:object=web --chain --format p7b -o web.p7b");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	a = ts_sh("openssl pkcs7 -inform DER -in web.p7b -print_certs -noout | grep -c subject");
	cr_assert_eq(atoi(a), 2, "%s", a);
	free(a);

	/* To standard output: the PEM there, the report on stderr. */
	ts_run(&r, "$HSMCERT export pkcs11:object=web --pubkey");
	ts_assert_status(&r, 0);
	b = ts_sh("openssl x509 -in web.crt -noout -pubkey");
	cr_assert_str_eq(r.out, b);
	cr_assert(strstr(r.err, "Exported the public key"), "%s", r.err);
	free(b);
	ts_result_free(&r);
}

Test(export, refusals_leave_no_file)
{
	struct ts_result r;

	make_pki();
	ts_run(&r, "$HSMCERT keygen --label lonely");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT export pkcs11:object=lonely -o x.pem");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "no certificate on the token belongs to key 'lonely'"), "%s",
		  r.err);
	ts_result_free(&r);
	cr_assert(!ts_exists("x.pem"));
	/* Its public key needs no certificate. */
	ts_run(&r, "$HSMCERT export pkcs11:object=lonely --pubkey -o lonely.pem");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT export 'pkcs11:object=nothing;type=cert' -o x.pem");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "no certificate on the token matches"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT export pkcs11:object=web --chain --format der -o x.pem");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	cr_assert(!ts_exists("x.pem"));
	ts_write("exists.pem", "keep me\n");
	ts_run(&r, "$HSMCERT export pkcs11:object=web -o exists.pem");
	ts_assert_status(&r, 1);
	ts_result_free(&r);
	{
		char *keep = ts_read("exists.pem", NULL);
		cr_assert_str_eq(keep, "keep me\n");
		free(keep);
	}
}
