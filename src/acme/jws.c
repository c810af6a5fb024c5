/*
 * JWS for ACME (RFC 8555 6.2; RFC 7515, 7517, 7518, 7638): base64url, the
 * account key's JWK and thumbprint, flattened JWS signed in the token, and
 * the HS256 External Account Binding.
 */
#include "hsmcert/acme.h"

#include "hsmcert/sign.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *hc_b64url_encode(const unsigned char *data, size_t len)
{
	char *out = malloc(len / 3 * 4 + 5), *p = out;
	size_t i = 0;

	if (!out)
		return NULL;
	for (; i + 3 <= len; i += 3) {
		unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
		*p++ = b64url_alphabet[v >> 6 & 63];
		*p++ = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)data[i] << 16;
		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
		*p++ = b64url_alphabet[v >> 6 & 63];
	}
	*p = '\0';
	return out;
}

static int b64url_value(char c)
{
	const char *p = c ? strchr(b64url_alphabet, c) : NULL;
	return p ? (int)(p - b64url_alphabet) : -1;
}

hc_rc hc_b64url_decode(const char *text, unsigned char **out, size_t *len, hc_error *err)
{
	size_t n = strlen(text), o = 0;
	unsigned acc = 0;
	int bits = 0;
	unsigned char *buf;

	*out = NULL;
	*len = 0;
	if (n % 4 == 1)
		return hc_fail(err, HC_USAGE, "not base64url: %zu characters cannot be whole bytes",
			       n);
	if (!(buf = malloc(n / 4 * 3 + 3)))
		return hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value(text[i]);
		if (v < 0) {
			free(buf);
			return hc_fail(err, HC_USAGE,
				       "not base64url: character %zu is not in the URL-safe "
				       "alphabet (A-Z a-z 0-9 - _, no padding)",
				       i + 1);
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) { /* leftover bits must be zero (RFC 4648 3.5: canonical) */
		free(buf);
		return hc_fail(err, HC_USAGE, "not base64url: non-zero trailing bits");
	}
	*out = buf;
	*len = o;
	return HC_OK;
}

/* A big number parameter of a key as unsigned big-endian, base64url'd, `pad` bytes wide. */
static hc_rc bn_param_b64(const EVP_PKEY *pub, const char *name, size_t pad, char **out,
			  hc_error *err)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;
	int n;

	if (!EVP_PKEY_get_bn_param(pub, name, &bn))
		return hc_fail_ssl(err, HC_USAGE, "reading the key's %s", name);
	n = BN_num_bytes(bn);
	if (pad < (size_t)n)
		pad = (size_t)n;
	if (!(buf = malloc(pad ? pad : 1)) || BN_bn2binpad(bn, buf, (int)pad) < 0) {
		free(buf);
		BN_free(bn);
		return hc_fail(err, HC_IO, "out of memory");
	}
	*out = hc_b64url_encode(buf, pad);
	free(buf);
	BN_free(bn);
	return *out ? HC_OK : hc_fail(err, HC_IO, "out of memory");
}

hc_rc hc_acme_jwk(const EVP_PKEY *pub, json_t **out, hc_error *err)
{
	char *a = NULL, *b = NULL, curve[32] = "";
	const char *crv;
	size_t width;
	hc_rc rc;

	*out = NULL;
	if (EVP_PKEY_is_a(pub, "RSA")) {
		if ((rc = bn_param_b64(pub, OSSL_PKEY_PARAM_RSA_N, 0, &a, err)) != HC_OK ||
		    (rc = bn_param_b64(pub, OSSL_PKEY_PARAM_RSA_E, 0, &b, err)) != HC_OK)
			goto out;
		*out = json_pack("{s:s, s:s, s:s}", "e", b, "kty", "RSA", "n", a);
	} else if (EVP_PKEY_is_a(pub, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, curve,
						    sizeof(curve), NULL)) {
			rc = hc_fail_ssl(err, HC_USAGE, "reading the EC key's curve");
			goto out;
		}
		if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0)
			crv = "P-256", width = 32;
		else if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0)
			crv = "P-384", width = 48;
		else {
			rc = hc_fail(err, HC_USAGE,
				     "an ACME account key on curve %s cannot sign JWS: use P-256 "
				     "or P-384",
				     curve);
			goto out;
		}
		if ((rc = bn_param_b64(pub, OSSL_PKEY_PARAM_EC_PUB_X, width, &a, err)) != HC_OK ||
		    (rc = bn_param_b64(pub, OSSL_PKEY_PARAM_EC_PUB_Y, width, &b, err)) != HC_OK)
			goto out;
		*out = json_pack("{s:s, s:s, s:s, s:s}", "crv", crv, "kty", "EC", "x", a, "y", b);
	} else {
		rc = hc_fail(err, HC_USAGE, "an ACME account key must be RSA or EC");
		goto out;
	}
	rc = *out ? HC_OK : hc_fail(err, HC_IO, "out of memory");
out:
	free(a);
	free(b);
	return rc;
}

/* Compact JSON with sorted keys: RFC 7638's canonical form for the members we emit. */
static char *json_canonical(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

hc_rc hc_acme_thumbprint(const EVP_PKEY *pub, char **out, hc_error *err)
{
	unsigned char md[32];
	unsigned mdlen = 0;
	json_t *jwk = NULL;
	char *text = NULL;
	hc_rc rc;

	*out = NULL;
	if ((rc = hc_acme_jwk(pub, &jwk, err)) != HC_OK)
		return rc;
	if (!(text = json_canonical(jwk)) ||
	    !EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) ||
	    !(*out = hc_b64url_encode(md, mdlen)))
		rc = hc_fail(err, HC_IO, "out of memory");
	free(text);
	json_decref(jwk);
	return rc;
}

/* base64url(protected) "." base64url(payload), signed, as the flattened JSON form. */
static hc_rc jws_finish(json_t *protected_hdr, const char *payload, hc_acme_sign_fn sign, void *ctx,
			char **out, hc_error *err)
{
	char *hdr = NULL, *hdr64 = NULL, *pay64 = NULL, *input = NULL, *sig64 = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	json_t *jws = NULL;
	hc_rc rc = HC_OK;

	*out = NULL;
	if (!(hdr = json_canonical(protected_hdr)) ||
	    !(hdr64 = hc_b64url_encode((const unsigned char *)hdr, strlen(hdr))) ||
	    !(pay64 = hc_b64url_encode((const unsigned char *)payload, strlen(payload))) ||
	    asprintf(&input, "%s.%s", hdr64, pay64) < 0) {
		input = NULL;
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if ((rc = sign(ctx, (const unsigned char *)input, strlen(input), &sig, &sig_len, err)) !=
	    HC_OK)
		goto out;
	if (!(sig64 = hc_b64url_encode(sig, sig_len)) ||
	    !(jws = json_pack("{s:s, s:s, s:s}", "protected", hdr64, "payload", pay64, "signature",
			      sig64)) ||
	    !(*out = json_canonical(jws)))
		rc = hc_fail(err, HC_IO, "out of memory");
out:
	json_decref(jws);
	OPENSSL_free(sig);
	free(hdr);
	free(hdr64);
	free(pay64);
	free(input);
	free(sig64);
	return rc;
}

hc_rc hc_acme_jws(const hc_acme_key *key, const char *kid, const char *nonce, const char *url,
		  const char *payload, char **out, hc_error *err)
{
	json_t *hdr = json_pack("{s:s, s:s}", "alg", key->alg, "url", url), *jwk = NULL;
	hc_rc rc;

	*out = NULL;
	if (!hdr)
		return hc_fail(err, HC_IO, "out of memory");
	if (nonce && json_object_set_new(hdr, "nonce", json_string(nonce)) != 0) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if (kid) {
		if (json_object_set_new(hdr, "kid", json_string(kid)) != 0) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
	} else {
		if ((rc = hc_acme_jwk(key->pub, &jwk, err)) != HC_OK)
			goto out;
		if (json_object_set_new(hdr, "jwk", jwk) != 0) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
	}
	rc = jws_finish(hdr, payload, key->sign, key->ctx, out, err);
out:
	json_decref(hdr);
	return rc;
}

struct hmac_ctx {
	const unsigned char *key;
	size_t len;
};

static hc_rc hmac_sign(void *ctx, const unsigned char *data, size_t len, unsigned char **sig,
		       size_t *sig_len, hc_error *err)
{
	const struct hmac_ctx *h = ctx;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (!HMAC(EVP_sha256(), h->key, (int)h->len, data, len, md, &mdlen))
		return hc_fail_ssl(err, HC_IO, "HMAC-SHA256 for the external account binding");
	if (!(*sig = OPENSSL_memdup(md, mdlen)))
		return hc_fail(err, HC_IO, "out of memory");
	*sig_len = mdlen;
	return HC_OK;
}

hc_rc hc_acme_eab(const char *kid, const unsigned char *hmac_key, size_t hmac_len, const char *url,
		  const EVP_PKEY *account_pub, json_t **out, hc_error *err)
{
	struct hmac_ctx h = {hmac_key, hmac_len};
	json_t *hdr = NULL, *jwk = NULL;
	char *payload = NULL, *jws = NULL;
	hc_rc rc;

	*out = NULL;
	if (hmac_len == 0)
		return hc_fail(err, HC_USAGE, "the external account binding's HMAC key is empty");
	if ((rc = hc_acme_jwk(account_pub, &jwk, err)) != HC_OK)
		return rc;
	if (!(payload = json_canonical(jwk)) ||
	    !(hdr = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url", url))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if ((rc = jws_finish(hdr, payload, hmac_sign, &h, &jws, err)) != HC_OK)
		goto out;
	if (!(*out = json_loads(jws, 0, NULL)))
		rc = hc_fail(err, HC_IO, "out of memory");
out:
	json_decref(jwk);
	json_decref(hdr);
	free(payload);
	free(jws);
	return rc;
}

/* ---- the account key on the token ------------------------------------- */

struct token_signer {
	hc_session *session;
	const hc_key_info *key;
	const EVP_MD *md;
};

static hc_rc token_jws_sign(void *ctx, const unsigned char *data, size_t len, unsigned char **sig,
			    size_t *sig_len, hc_error *err)
{
	const struct token_signer *t = ctx;
	return hc_sign_data_raw(t->session, t->key, t->md, false, data, len, sig, sig_len, err);
}

hc_rc hc_acme_key_from_token(hc_session *session, const hc_key_info *key, hc_acme_key *out,
			     hc_error *err)
{
	struct token_signer *t;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (key->type.ckk == CKK_RSA) {
		strcpy(out->alg, "RS256");
	} else if (key->type.ckk == CKK_EC && key->type.bits == 256) {
		strcpy(out->alg, "ES256");
	} else if (key->type.ckk == CKK_EC && key->type.bits == 384) {
		strcpy(out->alg, "ES384");
	} else {
		return hc_fail(err, HC_USAGE,
			       "key '%s' cannot be an ACME account key: use an RSA key or an EC "
			       "key on P-256 or P-384",
			       key->label ? key->label : "");
	}
	if (!(t = calloc(1, sizeof(*t))))
		return hc_fail(err, HC_IO, "out of memory");
	t->session = session;
	t->key = key;
	t->md = strcmp(out->alg, "ES384") == 0 ? EVP_sha384() : EVP_sha256();
	if ((rc = hc_key_public(session, key, &out->pub, err)) != HC_OK) {
		free(t);
		return rc;
	}
	out->sign = token_jws_sign;
	out->ctx = out->owned_ctx = t;
	return HC_OK;
}

void hc_acme_key_clear(hc_acme_key *key)
{
	EVP_PKEY_free(key->pub);
	free(key->owned_ctx);
	memset(key, 0, sizeof(*key));
}
