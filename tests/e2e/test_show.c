/*
 * show end to end: requests made on the token, the certificate the test CA
 * issues for them, CRLs, PKCS#7 and PKCS#12 files; every value compared
 * with what the openssl command reads from the same file.
 */
#include "support.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	ts_setup_token();
	ts_use_testpki();
}

TestSuite(show, .init = setup, .fini = ts_teardown);

static json_t *show_json(const char *file)
{
	struct ts_result r;
	json_t *doc;

	ts_run(&r, "$HSMCERT show --json \"%s\"", file);
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	ts_result_free(&r);
	return doc;
}

/* "SHA256 Fingerprint=AB:CD:..." from openssl, as lowercase hex without colons. */
static char *openssl_fingerprint(const char *file, const char *md)
{
	char *out = ts_sh("openssl x509 -in %s -noout -fingerprint -%s | cut -d= -f2", file, md);
	char *w = out;

	for (char *p = out; *p; p++)
		if (isxdigit((unsigned char)*p))
			*w++ = (char)tolower((unsigned char)*p);
	*w = '\0';
	return out;
}

static const char *str(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	cr_assert_not_null(v, "no string '%s'", key);
	return v;
}

/* The extension of that short name in a show document's list, or NULL. */
static json_t *extension(json_t *item, const char *name)
{
	json_t *exts = json_object_get(item, "extensions"), *e;
	size_t i;

	json_array_foreach(exts, i, e) if (strcmp(str(e, "name"), name) == 0) return e;
	return NULL;
}

Test(show, request_then_issued_certificate)
{
	struct ts_result r;
	json_t *doc, *req, *cert, *san;
	char *fp1, *fp256, *subject, *end;

	ts_run(&r, "$HSMCERT request --label web --subject 'C=HK,O=香港郵政署,CN=www.香港郵政.hk' "
		   "--san www.example.hk -o web.csr");
	ts_assert_status(&r, 0);
	ts_result_free(&r);

	doc = show_json("web.csr");
	cr_assert_str_eq(str(doc, "format"), "pem");
	cr_assert_eq(json_array_size(json_object_get(doc, "certificates")), 0);
	req = json_array_get(json_object_get(doc, "requests"), 0);
	cr_assert_str_eq(str(req, "subject"), "C=HK, O=香港郵政署, CN=www.xn--5bvv2rbn4a0hh.hk");
	cr_assert_str_eq(str(req, "key_type"), "rsa:2048");
	cr_assert_str_eq(str(req, "signature_algorithm"), "sha256WithRSAEncryption");
	cr_assert(json_is_true(json_object_get(req, "signature_verified")));
	san = json_array_get(json_object_get(req, "sans"), 0);
	cr_assert_str_eq(str(san, "value"), "www.xn--5bvv2rbn4a0hh.hk");
	cr_assert_str_eq(str(san, "ulabel"), "www.香港郵政.hk");
	cr_assert_not_null(extension(req, "subjectAltName"));
	json_decref(doc);

	ts_run(&r, "$HSMCERT show web.csr");
	ts_assert_status(&r, 0);
	cr_assert(
		strstr(r.out, "DNS:www.xn--5bvv2rbn4a0hh.hk (www.香港郵政.hk), DNS:www.example.hk"),
		"%s", r.out);
	cr_assert(strstr(r.out, "verifies with the request's own key"), "%s", r.out);
	ts_result_free(&r);

	/* The CA issues it; show must agree with openssl on everything. */
	ts_run(&r, "\"$TESTPKI\" sign \"$PKI\" web.csr web.crt");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	doc = show_json("web.crt");
	cert = json_array_get(json_object_get(doc, "certificates"), 0);
	fp1 = openssl_fingerprint("web.crt", "sha1");
	fp256 = openssl_fingerprint("web.crt", "sha256");
	cr_assert_str_eq(str(cert, "sha1"), fp1);
	cr_assert_str_eq(str(cert, "sha256"), fp256);
	subject = ts_sh("openssl x509 -in web.crt -noout -subject -nameopt "
			"utf8,sep_comma_plus_space | sed 's/^subject=//'");
	*strchr(subject, '\n') = '\0';
	cr_assert_str_eq(str(cert, "subject"), subject);
	end = ts_sh("date -u -d \"$(openssl x509 -in web.crt -noout -enddate | cut -d= -f2)\" "
		    "+%%Y-%%m-%%dT%%H:%%M:%%SZ");
	*strchr(end, '\n') = '\0';
	cr_assert_str_eq(str(cert, "not_after"), end);
	cr_assert_str_eq(str(cert, "key_type"), "rsa:2048");
	cr_assert(json_is_false(json_object_get(cert, "is_ca")));
	cr_assert(json_is_false(json_object_get(cert, "self_signed")));
	san = json_array_get(json_object_get(cert, "sans"), 0);
	cr_assert_str_eq(str(san, "ulabel"), "www.香港郵政.hk");
	cr_assert_not_null(extension(cert, "authorityInfoAccess"));
	cr_assert_not_null(extension(cert, "crlDistributionPoints"));
	free(fp1);
	free(fp256);
	free(subject);
	free(end);
	json_decref(doc);
}

Test(show, ca_certificate_text)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT show \"$PKI/root3.crt\"");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "1 certificate, 0 requests, 0 CRLs"), "%s", r.out);
	cr_assert(ts_text_has(r.out, "Self-signed", "yes"), "%s", r.out);
	cr_assert(ts_text_has(r.out, "CA", "yes"), "%s", r.out);
	cr_assert(strstr(r.out, "X509v3 Basic Constraints (critical)"), "%s", r.out);
	cr_assert(strstr(r.out, "SHA-256"), "%s", r.out);
	ts_result_free(&r);
}

Test(show, crl_with_revoked_entry)
{
	json_t *doc, *crl, *entry;
	char *serial;

	doc = show_json("$PKI/root3.arl");
	crl = json_array_get(json_object_get(doc, "crls"), 0);
	cr_assert_not_null(crl);
	cr_assert_eq(json_array_size(json_object_get(crl, "revoked")), 1);
	entry = json_array_get(json_object_get(crl, "revoked"), 0);
	/* openssl's view of the same entry. */
	serial = ts_sh("openssl crl -in \"$PKI/root3.arl\" -noout -text | awk '/Serial Number:/ "
		       "{print tolower($3)}'");
	*strchr(serial, '\n') = '\0';
	cr_assert_str_eq(str(entry, "serial"), serial);
	cr_assert_str_eq(str(entry, "serial"), "3005");
	cr_assert_str_eq(str(entry, "reason"), "keyCompromise");
	cr_assert_str_eq(str(crl, "crl_number"), "02");
	cr_assert_not_null(extension(crl, "authorityKeyIdentifier"));
	cr_assert(json_integer_value(json_object_get(crl, "days_left")) > 300);
	free(serial);
	json_decref(doc);
}

Test(show, pkcs7_bundle_and_pem_bundle)
{
	json_t *doc;
	char *count;

	doc = show_json("$PKI/downloads/sub.p7b");
	count = ts_sh("openssl pkcs7 -in \"$PKI/downloads/sub.p7b\" -print_certs | grep -c "
		      "'^subject='");
	cr_assert_eq(json_array_size(json_object_get(doc, "certificates")), (size_t)atoi(count));
	free(count);
	json_decref(doc);
	doc = show_json("$PKI/www/ev.p7c"); /* DER PKCS#7, as an AIA URL serves it */
	cr_assert_str_eq(str(doc, "format"), "pkcs7");
	cr_assert(json_array_size(json_object_get(doc, "certificates")) >= 1);
	json_decref(doc);

	/* A PEM file holding certificates, a request and a CRL at once. */
	free(ts_sh("$HSMCERT request --label b --cn b.example.hk -o b.csr && "
		   "openssl crl -in \"$PKI/root3.arl\" -inform DER -out arl.pem 2>/dev/null || "
		   "openssl crl -in \"$PKI/root3.arl\" -out arl.pem; "
		   "cat \"$PKI/root3.crt\" \"$PKI/sub.crt\" b.csr arl.pem > mix.pem"));
	doc = show_json("mix.pem");
	cr_assert_eq(json_array_size(json_object_get(doc, "certificates")), 2);
	cr_assert_eq(json_array_size(json_object_get(doc, "requests")), 1);
	cr_assert_eq(json_array_size(json_object_get(doc, "crls")), 1);
	json_decref(doc);
}

Test(show, pkcs12_needs_its_passphrase)
{
	struct ts_result r;
	json_t *doc, *key;

	free(ts_sh("openssl pkcs12 -export -in \"$PKI/leaf.crt\" -inkey \"$PKI/leaf.key\" -name "
		   "'web key' -passout pass:s3cret -out leaf.p12"));
	ts_run(&r, "HSMCERT_PASSPHRASE=s3cret $HSMCERT show --json leaf.p12");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	key = json_object_get(doc, "private_key");
	cr_assert_str_eq(str(key, "type"), "ec:P-256");
	cr_assert_str_eq(str(key, "friendly_name"), "web key");
	cr_assert_eq(json_array_size(json_object_get(doc, "certificates")), 1);
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT show leaf.p12");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "passphrase"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_PASSPHRASE=wrong $HSMCERT show leaf.p12");
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "leaf.p12"), "%s", r.err);
	ts_result_free(&r);
}

Test(show, bad_files)
{
	struct ts_result r;

	ts_write("junk.pem", "this is not a certificate\n");
	ts_run(&r, "$HSMCERT show junk.pem");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "junk.pem"), "%s", r.err);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT show missing.pem");
	ts_assert_status(&r, 4);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT show");
	ts_assert_status(&r, 2);
	ts_result_free(&r);

	/* A request whose signature was damaged: shown, and exit 1. */
	free(ts_sh(
		"$HSMCERT request --label t --cn t.example.hk --der -o t.der && "
		"size=$(stat -c %%s t.der) && printf '\\001' | dd of=t.der bs=1 seek=$((size-5)) "
		"conv=notrunc 2>/dev/null"));
	ts_run(&r, "$HSMCERT show t.der");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "DOES NOT VERIFY"), "%s", r.out);
	cr_assert(strstr(r.err, "do not submit it"), "%s", r.err);
	ts_result_free(&r);
}
