/*
 * The ACME building blocks (src/acme/jws.c, parse.c): base64url against RFC
 * 4648's vectors, the JWK thumbprint against RFC 7638's example, the EAB
 * MAC against openssl's HMAC, JWS signed in the token (ES256 as r||s, RS256)
 * verified by OpenSSL, and the response parsers on good and bad answers.
 */
#include "support.h"

#include "hsmcert/acme.h"
#include "hsmcert/key.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

TestSuite(acme_jws, .init = ts_setup_token, .fini = ts_teardown);

static char *b64(const char *s)
{
	return hc_b64url_encode((const unsigned char *)s, strlen(s));
}

Test(acme_jws, base64url_rfc4648_vectors)
{
	static const char *const v[][2] = {{"", ""},
					   {"f", "Zg"},
					   {"fo", "Zm8"},
					   {"foo", "Zm9v"},
					   {"foob", "Zm9vYg"},
					   {"fooba", "Zm9vYmE"},
					   {"foobar", "Zm9vYmFy"},
					   {"\xfb\xff", "-_8"}};
	hc_error err = {0};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = b64(v[i][0]);
		unsigned char *d = NULL;
		size_t len = 0;
		cr_assert_str_eq(e, v[i][1]);
		cr_assert_eq(hc_b64url_decode(v[i][1], &d, &len, &err), HC_OK);
		cr_assert_eq(len, strlen(v[i][0]));
		cr_assert(memcmp(d, v[i][0], len) == 0);
		free(e);
		free(d);
	}
	/* Padding, the other alphabet, whitespace, impossible lengths, stray bits. */
	for (const char *const *bad =
		     (const char *const[]){"Zg==", "+/8", "Zm 9v", "Z", "Zh", NULL};
	     *bad; bad++) {
		unsigned char *d = NULL;
		size_t len = 0;
		cr_assert_eq(hc_b64url_decode(*bad, &d, &len, &err), HC_USAGE, "%s", *bad);
		cr_assert_null(d);
	}
}

/* An RSA public key from base64url n and e. */
static EVP_PKEY *rsa_from_b64(const char *n64, const char *e64)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nl, el;
	hc_error err = {0};
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pkey = NULL;

	cr_assert_eq(hc_b64url_decode(n64, &n, &nl, &err), HC_OK);
	cr_assert_eq(hc_b64url_decode(e64, &e, &el, &err), HC_OK);
	bn = BN_bin2bn(n, (int)nl, NULL);
	be = BN_bin2bn(e, (int)el, NULL);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be);
	params = OSSL_PARAM_BLD_to_param(b);
	cr_assert_eq(EVP_PKEY_fromdata_init(ctx), 1);
	cr_assert_eq(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

Test(acme_jws, jwk_thumbprint_rfc7638_example)
{
	EVP_PKEY *pkey = rsa_from_b64(
		"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
		"tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5"
		"v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD0"
		"8qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU"
		"8awapJzKnqDKgw",
		"AQAB");
	char *tp = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_acme_thumbprint(pkey, &tp, &err), HC_OK, "%s", err.message);
	cr_assert_str_eq(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	free(tp);
	EVP_PKEY_free(pkey);
}

static json_t *decode_json(const char *b64url)
{
	unsigned char *d = NULL;
	size_t len = 0;
	hc_error err = {0};
	json_t *j;

	cr_assert_eq(hc_b64url_decode(b64url, &d, &len, &err), HC_OK, "%s", err.message);
	j = json_loadb((const char *)d, len, 0, NULL);
	cr_assert_not_null(j, "%.*s", (int)len, d);
	free(d);
	return j;
}

Test(acme_jws, eab_mac_matches_openssl)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	/* The CA's HMAC key as it hands it out (base64url) and as bytes in hex for openssl. */
	const char *hmac64 = "qCzbJIXTXmH4RHU6lEnHtQ4kkskbM_MHIl0_toF94O8";
	unsigned char *hmac = NULL;
	size_t hmac_len = 0;
	json_t *eab = NULL, *hdr, *payload, *jwk = NULL;
	hc_error err = {0};
	char *want, *hex;
	const char *p64, *pay64, *sig64;

	cr_assert_eq(hc_b64url_decode(hmac64, &hmac, &hmac_len, &err), HC_OK);
	cr_assert_eq(hc_acme_eab("kid-1", hmac, hmac_len, "https://ca.test/acme/new-account", pkey,
				 &eab, &err),
		     HC_OK, "%s", err.message);
	p64 = json_string_value(json_object_get(eab, "protected"));
	pay64 = json_string_value(json_object_get(eab, "payload"));
	sig64 = json_string_value(json_object_get(eab, "signature"));
	cr_assert(p64 && pay64 && sig64);

	/* RFC 8555 7.3.4: HS256, the CA's kid, the newAccount URL, no nonce; payload the JWK. */
	hdr = decode_json(p64);
	cr_assert_str_eq(json_string_value(json_object_get(hdr, "alg")), "HS256");
	cr_assert_str_eq(json_string_value(json_object_get(hdr, "kid")), "kid-1");
	cr_assert_str_eq(json_string_value(json_object_get(hdr, "url")),
			 "https://ca.test/acme/new-account");
	cr_assert_null(json_object_get(hdr, "nonce"));
	payload = decode_json(pay64);
	cr_assert_eq(hc_acme_jwk(pkey, &jwk, &err), HC_OK);
	cr_assert(json_equal(payload, jwk));

	/* The MAC, computed by the openssl CLI over "protected.payload". */
	hex = ts_sh("printf '%%s' '%s' | basenc --base64url -d | xxd -p -c 256 | tr -d '\\n'",
		    hmac64);
	want = ts_sh("printf '%%s.%%s' '%s' '%s' | openssl dgst -sha256 -mac HMAC -macopt "
		     "hexkey:%s -binary | basenc --base64url | tr -d '=\\n'",
		     p64, pay64, hex);
	cr_assert_str_eq(sig64, want);
	free(want);
	free(hex);
	free(hmac);
	json_decref(hdr);
	json_decref(payload);
	json_decref(jwk);
	json_decref(eab);
	EVP_PKEY_free(pkey);
}

/* ---- JWS signed in the token ------------------------------------------ */

struct open_token {
	hc_module *mod;
	hc_session *session;
	hc_key_info key;
};

static void token_key(struct open_token *t, const char *type)
{
	hc_uri *uri = NULL;
	hc_slot slot;
	hc_secret *pin = hc_secret_new(TS_PIN, strlen(TS_PIN));
	hc_error err = {0};
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;

	free(ts_sh("$HSMCERT keygen --label acct --type %s >/dev/null", type));
	cr_assert_eq(hc_uri_parse("pkcs11:token=" TS_TOKEN, &uri, &err), HC_OK);
	cr_assert_eq(hc_module_open(TS_SOFTHSM, 0, &t->mod, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_token_select(t->mod, uri, &slot, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_session_open(t->mod, &slot, true, &t->session, &err), HC_OK);
	cr_assert_eq(hc_session_login(t->session, CKU_USER, pin, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_key_find(t->session, CKO_PRIVATE_KEY, "acct", NULL, 0, &found, &n, &err),
		     HC_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(hc_key_describe(t->session, found[0], &t->key, &err), HC_OK);
	free(found);
	hc_secret_free(pin);
	hc_uri_free(uri);
}

static void token_close(struct open_token *t)
{
	hc_key_info_clear(&t->key);
	hc_session_close(t->session);
	hc_module_close(t->mod);
}

/* Sign a JWS with the token key; verify it with OpenSSL from the JWK in its header. */
static void jws_in_token(const char *type, const char *want_alg, size_t want_sig_len)
{
	struct open_token t = {0};
	hc_acme_key key = {0};
	hc_error err = {0};
	char *jws = NULL, *input = NULL;
	json_t *doc, *hdr;
	unsigned char *sig = NULL, *der = NULL;
	size_t sig_len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int der_len = 0, ok;
	const char *p64, *pay64;

	token_key(&t, type);
	cr_assert_eq(hc_acme_key_from_token(t.session, &t.key, &key, &err), HC_OK, "%s",
		     err.message);
	cr_assert_str_eq(key.alg, want_alg);
	cr_assert_eq(hc_acme_jws(&key, NULL, "nonce-1", "https://ca.test/new-account",
				 "{\"onlyReturnExisting\":true}", &jws, &err),
		     HC_OK, "%s", err.message);
	doc = json_loads(jws, 0, NULL);
	cr_assert_not_null(doc);
	p64 = json_string_value(json_object_get(doc, "protected"));
	pay64 = json_string_value(json_object_get(doc, "payload"));
	hdr = decode_json(p64);
	cr_assert_str_eq(json_string_value(json_object_get(hdr, "alg")), want_alg);
	cr_assert_str_eq(json_string_value(json_object_get(hdr, "nonce")), "nonce-1");
	cr_assert_not_null(json_object_get(hdr, "jwk"));
	cr_assert_null(json_object_get(hdr, "kid"));
	cr_assert_eq(hc_b64url_decode(json_string_value(json_object_get(doc, "signature")), &sig,
				      &sig_len, &err),
		     HC_OK);
	if (want_sig_len)
		cr_assert_eq(sig_len, want_sig_len, "signature of %zu bytes", sig_len);
	if (strncmp(want_alg, "ES", 2) == 0) {
		/* JWS ECDSA is r||s (RFC 7518 3.4); OpenSSL verifies DER. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)sig_len / 2, NULL),
			       BN_bin2bn(sig + sig_len / 2, (int)sig_len / 2, NULL));
		der_len = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
	} else {
		der = OPENSSL_memdup(sig, sig_len);
		der_len = (int)sig_len;
	}
	cr_assert(asprintf(&input, "%s.%s", p64, pay64) > 0);
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key.pub) == 1 &&
	     EVP_DigestVerify(md, der, (size_t)der_len, (unsigned char *)input, strlen(input)) == 1;
	cr_assert(ok, "the token's JWS signature does not verify");
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	free(sig);
	free(input);
	free(jws);
	json_decref(hdr);
	json_decref(doc);
	hc_acme_key_clear(&key);
	token_close(&t);
}

Test(acme_jws, es256_jws_in_token_is_raw_r_s)
{
	jws_in_token("ec:P-256", "ES256", 64);
}

Test(acme_jws, rs256_jws_in_token)
{
	jws_in_token("rsa:2048", "RS256", 256);
}

/* ---- parsers ------------------------------------------------------------ */

#define PARSE(fn, text, out, err) fn(text, strlen(text), out, err)

Test(acme_jws, directory_parser)
{
	hc_acme_directory d = {0};
	hc_error err = {0};

	cr_assert_eq(PARSE(hc_acme_directory_parse,
			   "{\"newNonce\":\"https://a/n\",\"newAccount\":\"https://a/a\","
			   "\"newOrder\":\"https://a/o\",\"meta\":{\"termsOfService\":\"https://a/"
			   "tos\",\"externalAccountRequired\":true}}",
			   &d, &err),
		     HC_OK, "%s", err.message);
	cr_assert_str_eq(d.new_order, "https://a/o");
	cr_assert_str_eq(d.terms_of_service, "https://a/tos");
	cr_assert(d.eab_required);
	hc_acme_directory_clear(&d);

	static const char *const bad[][2] = {
		{"", "empty"},
		{"[]", "not a JSON object"},
		{"{\"newNonce\":\"https://a/n\"}", "no \"newAccount\""},
		{"{\"newNonce\":\"file:///etc/passwd\",\"newAccount\":\"https://a\",\"newOrder\":"
		 "\"https://a\"}",
		 "not an http(s) URL"},
		{"{\"newNonce\":\"https://a/\\u0007x\",\"newAccount\":\"https://a\",\"newOrder\":"
		 "\"https://a\"}",
		 "control character"},
		{"{\"newNonce\":\"https://a\",\"newNonce\":\"https://b\"}", "not JSON"},
		{"{\"newNonce\":\"https://a\",\"newAccount\":\"https://a\",\"newOrder\":"
		 "\"https://a\",\"meta\":7}",
		 "\"meta\" is not an object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hc_error_clear(&err);
		cr_assert_eq(PARSE(hc_acme_directory_parse, bad[i][0], &d, &err), HC_IO, "%s",
			     bad[i][0]);
		cr_assert(strstr(err.message, bad[i][1]), "%s: %s", bad[i][0], err.message);
	}
}

Test(acme_jws, problem_and_order_and_authz_parsers)
{
	hc_acme_problem p = {0};
	hc_acme_order o = {0};
	hc_acme_authz a = {0};
	hc_error err = {0};

	cr_assert_eq(
		PARSE(hc_acme_problem_parse,
		      "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":"
		      "\"no\",\"status\":400,\"subproblems\":[{\"type\":\"urn:ietf:params:acme:"
		      "error:caa\",\"detail\":\"CAA forbids\",\"identifier\":{\"type\":\"dns\","
		      "\"value\":\"x.test\"}},7]}",
		      &p, &err),
		HC_OK);
	cr_assert_str_eq(hc_acme_problem_short(&p), "rejectedIdentifier");
	cr_assert_eq(p.status, 400);
	cr_assert_str_eq(p.subproblems, "x.test: urn:ietf:params:acme:error:caa: CAA forbids");
	hc_acme_problem_clear(&p);
	cr_assert_eq(PARSE(hc_acme_problem_parse, "{\"detail\":\"no type\"}", &p, &err), HC_IO);

	cr_assert_eq(
		PARSE(hc_acme_order_parse,
		      "{\"status\":\"invalid\",\"finalize\":\"https://a/f\",\"authorizations\":"
		      "[\"https://a/1\",\"https://a/2\"],\"error\":{\"type\":\"t\"}}",
		      &o, &err),
		HC_OK, "%s", err.message);
	cr_assert_eq(o.authz_count, 2);
	cr_assert_str_eq(o.error.type, "t");
	hc_acme_order_clear(&o);
	cr_assert_eq(PARSE(hc_acme_order_parse,
			   "{\"status\":\"ready\",\"finalize\":\"https://a/f\",\"authorizations\":"
			   "[\"https://a/1\",3]}",
			   &o, &err),
		     HC_IO);
	cr_assert(strstr(err.message, "authorization 2"), "%s", err.message);

	cr_assert_eq(PARSE(hc_acme_authz_parse,
			   "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":"
			   "\"localhost\"},\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://"
			   "a/c\",\"token\":\"abc\",\"status\":\"pending\"}]}",
			   &a, &err),
		     HC_OK, "%s", err.message);
	cr_assert_eq(a.challenge_count, 1);
	cr_assert_str_eq(a.challenges[0].token, "abc");
	hc_acme_authz_clear(&a);
	cr_assert_eq(PARSE(hc_acme_authz_parse,
			   "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":"
			   "\"x\"},\"challenges\":[{\"type\":\"http-01\",\"status\":\"pending\"}]}",
			   &a, &err),
		     HC_IO);
}

Test(acme_jws, link_and_retry_after)
{
	char **urls = NULL;
	size_t n = 0;
	hc_error err = {0};

	cr_assert_eq(hc_acme_link_parse("<https://a/cert/1>;rel=\"alternate\", "
					"<https://a/dir>;rel=\"index\", <https://a/cert/2>; "
					"rel=\"up alternate\", <file:///x>;rel=alternate, <bad",
					"alternate", &urls, &n, &err),
		     HC_OK);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(urls[0], "https://a/cert/1");
	cr_assert_str_eq(urls[1], "https://a/cert/2");
	hc_acme_strings_free(urls, n);

	cr_assert_eq(hc_acme_retry_after("7", 0), 7);
	cr_assert_eq(hc_acme_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111767), 10);
	cr_assert_eq(hc_acme_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111787), 0);
	cr_assert_eq(hc_acme_retry_after("soon", 0), -1);
	cr_assert_eq(hc_acme_retry_after("-3", 0), -1);
	cr_assert_eq(hc_acme_retry_after(NULL, 0), -1);
}
