/*
 * C_SignInit / C_Sign: signing inside the token, with the context-specific
 * login a CKA_ALWAYS_AUTHENTICATE key needs for each signature; and which
 * mechanism signs a message with a key and a digest (hc_sign_data_raw, see
 * hsmcert/sign.h): the token's hash-and-sign mechanism, else the digest made
 * here and the token's raw one.
 */
#include "internal.h"

#include "hsmcert/sign.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

hc_rc hc_sign(hc_session *s, CK_OBJECT_HANDLE key, CK_MECHANISM *mech, const unsigned char *data,
	      size_t data_len, unsigned char **sig, size_t *sig_len, hc_error *err)
{
	return hc_sign_reauth(s, key, mech, false, data, data_len, sig, sig_len, err);
}

hc_rc hc_sign_reauth(hc_session *s, CK_OBJECT_HANDLE key, CK_MECHANISM *mech, bool reauth,
		     const unsigned char *data, size_t data_len, unsigned char **sig,
		     size_t *sig_len, hc_error *err)
{
	CK_ULONG len = 0;
	unsigned char *buf;
	CK_RV rv;

	*sig = NULL;
	*sig_len = 0;
	if (reauth && !s->pin)
		return hc_fail(err, HC_TOKEN,
			       "the key needs the user PIN for each signature "
			       "(CKA_ALWAYS_AUTHENTICATE) and this session has none");
	rv = s->fn->C_SignInit(s->handle, mech, key);
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_SignInit", rv, "signing with %s",
				   hc_ckm_name(mech->mechanism));
	if (reauth) {
		/* PKCS#11 4.9: an always-authenticate key signs once per context-specific login. */
		rv = s->fn->C_Login(s->handle, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)s->pin->data,
				    s->pin->len);
		if (rv != CKR_OK) {
			unsigned char scratch[1024];
			CK_ULONG n = sizeof(scratch);
			s->fn->C_Sign(s->handle, (CK_BYTE_PTR)data, data_len, scratch, &n);
			return hc_fail_p11(err, "C_Login", rv,
					   "the PIN for this signature "
					   "(CKA_ALWAYS_AUTHENTICATE)");
		}
	}
	/* Ask the length first; this call keeps the operation active per the spec. */
	rv = s->fn->C_Sign(s->handle, (CK_BYTE_PTR)data, data_len, NULL, &len);
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_Sign", rv, "signing with %s",
				   hc_ckm_name(mech->mechanism));
	buf = malloc(len ? len : 1);
	if (!buf)
		return hc_fail(err, HC_IO, "out of memory");
	rv = s->fn->C_Sign(s->handle, (CK_BYTE_PTR)data, data_len, buf, &len);
	if (rv != CKR_OK) {
		free(buf);
		return hc_fail_p11(err, "C_Sign", rv, "signing with %s",
				   hc_ckm_name(mech->mechanism));
	}
	*sig = buf;
	*sig_len = len;
	return HC_OK;
}

/* ---- a message signed with a described key ---------------------------- */

/* One row per digest: the token's mechanisms and parameters for it. */
struct digest_mechs {
	int md_nid;
	CK_MECHANISM_TYPE rsa_pkcs, rsa_pss, hash;
	CK_RSA_PKCS_MGF_TYPE mgf;
};

static const struct digest_mechs digests[] = {
	{NID_sha256, CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256},
	{NID_sha384, CKM_SHA384_RSA_PKCS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384},
	{NID_sha512, CKM_SHA512_RSA_PKCS, CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512},
};

static const struct digest_mechs *digest_find(const EVP_MD *md)
{
	for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
		if (EVP_MD_get_type(md) == digests[i].md_nid)
			return &digests[i];
	return NULL;
}

/* The parts of a request every signature checks the same way. */
static hc_rc check_request(const hc_key_info *key, const EVP_MD **md, bool pss,
			   const struct digest_mechs **dm, hc_error *err)
{
	if (!*md)
		*md = EVP_sha256();
	*dm = digest_find(*md);
	if (!*dm)
		return hc_fail(err, HC_USAGE,
			       "digest %s is not supported for signing: use "
			       "sha256, sha384 or sha512",
			       EVP_MD_get0_name(*md));
	if (key->type.ckk != CKK_RSA && key->type.ckk != CKK_EC)
		return hc_fail(err, HC_USAGE,
			       "key '%s' is of type %s: only RSA and EC keys can "
			       "sign here",
			       key->label ? key->label : "", hc_ckk_name(key->type.ckk));
	if (pss && key->type.ckk != CKK_RSA)
		return hc_fail(err, HC_USAGE, "RSA-PSS needs an RSA key; key '%s' is EC",
			       key->label ? key->label : "");
	if (key->cls != CKO_PRIVATE_KEY)
		return hc_fail(err, HC_USAGE,
			       "object '%s' is not a private key: only a private "
			       "key can sign",
			       key->label ? key->label : "");
	return HC_OK;
}

static hc_rc digest(const EVP_MD *md, const unsigned char *data, size_t len,
		    unsigned char out[EVP_MAX_MD_SIZE], unsigned *out_len, hc_error *err)
{
	if (!EVP_Digest(data, len, out, out_len, md, NULL))
		return hc_fail_ssl(err, HC_IO, "hashing the data to sign");
	return HC_OK;
}

/* PKCS#1 v1.5 DigestInfo for CKM_RSA_PKCS, built by OpenSSL rather than by constant prefixes. */
static hc_rc digest_info(const EVP_MD *md, const unsigned char *data, size_t len,
			 unsigned char **out, size_t *out_len, hc_error *err)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned hlen;
	X509_SIG *sig = X509_SIG_new();
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *os;
	unsigned char *der = NULL;
	hc_rc rc = HC_OK;
	int n;

	if (!sig) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if ((rc = digest(md, data, len, h, &hlen, err)) != HC_OK)
		goto out;
	X509_SIG_getm(sig, &alg, &os);
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL) ||
	    !ASN1_OCTET_STRING_set(os, h, (int)hlen) || (n = i2d_X509_SIG(sig, &der)) <= 0) {
		rc = hc_fail_ssl(err, HC_IO, "encoding the DigestInfo");
		goto out;
	}
	*out = der;
	*out_len = (size_t)n;
out:
	X509_SIG_free(sig);
	return rc;
}

/* C_SignInit said the mechanism is unknown: worth one try with the raw mechanism. */
static bool mechanism_unsupported(const hc_error *err)
{
	return err->has_ckr && strcmp(err->function, "C_SignInit") == 0 &&
	       err->ckr == CKR_MECHANISM_INVALID;
}

/* hc_sign's buffer is malloc'd; ours are OPENSSL_malloc'd so callers free one way. */
static hc_rc token_sign(hc_session *s, const hc_key_info *key, CK_MECHANISM *mech,
			const unsigned char *data, size_t len, unsigned char **sig, size_t *sig_len,
			hc_error *err)
{
	unsigned char *raw = NULL;
	size_t raw_len = 0;
	hc_rc rc = hc_sign_reauth(s, key->handle, mech, key->always_authenticate == 1, data, len,
				  &raw, &raw_len, err);

	if (rc != HC_OK)
		return rc;
	*sig = OPENSSL_memdup(raw, raw_len);
	*sig_len = raw_len;
	free(raw);
	return *sig ? HC_OK : hc_fail(err, HC_IO, "out of memory");
}

static hc_rc sign_rsa(hc_session *s, const hc_key_info *key, const EVP_MD *md,
		      const struct digest_mechs *dm, bool pss, const unsigned char *data,
		      size_t len, unsigned char **sig, size_t *sig_len, hc_error *err)
{
	CK_RSA_PKCS_PSS_PARAMS pss_params = {dm->hash, dm->mgf, (CK_ULONG)EVP_MD_get_size(md)};
	CK_MECHANISM mech = {pss ? dm->rsa_pss : dm->rsa_pkcs, NULL, 0};
	unsigned char *input = NULL, h[EVP_MAX_MD_SIZE];
	unsigned hlen = 0;
	size_t input_len = 0;
	hc_rc rc;

	if (pss) {
		mech.pParameter = &pss_params;
		mech.ulParameterLen = sizeof(pss_params);
	}
	rc = token_sign(s, key, &mech, data, len, sig, sig_len, err);
	if (rc == HC_OK || !mechanism_unsupported(err))
		return rc;

	/* Tokens without hash-and-sign mechanisms: hash here, the token pads and signs. */
	hc_error_clear(err);
	if (pss) {
		mech.mechanism = CKM_RSA_PKCS_PSS;
		if ((rc = digest(md, data, len, h, &hlen, err)) != HC_OK)
			return rc;
		rc = token_sign(s, key, &mech, h, hlen, sig, sig_len, err);
	} else {
		mech.mechanism = CKM_RSA_PKCS;
		if ((rc = digest_info(md, data, len, &input, &input_len, err)) != HC_OK)
			return rc;
		rc = token_sign(s, key, &mech, input, input_len, sig, sig_len, err);
		OPENSSL_free(input);
	}
	return rc;
}

/*
 * SoftHSM2 and many HSMs have no CKM_ECDSA_SHA256: hash here, sign the digest.
 * PKCS#11 returns r||s, each as long as the curve's order (what JWS carries).
 */
static hc_rc sign_ec(hc_session *s, const hc_key_info *key, const EVP_MD *md,
		     const unsigned char *data, size_t len, unsigned char **sig, size_t *sig_len,
		     hc_error *err)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	unsigned char h[EVP_MAX_MD_SIZE], *rs = NULL;
	unsigned hlen;
	size_t rs_len = 0;
	hc_rc rc;

	if ((rc = digest(md, data, len, h, &hlen, err)) != HC_OK)
		return rc;
	if ((rc = token_sign(s, key, &mech, h, hlen, &rs, &rs_len, err)) != HC_OK)
		return rc;
	if (key->type.bits && rs_len != 2 * ((key->type.bits + 7) / 8)) {
		OPENSSL_free(rs);
		return hc_fail(
			err, HC_TOKEN,
			"the token's ECDSA signature is %zu bytes, not r||s of a %u-bit curve",
			rs_len, key->type.bits);
	}
	*sig = rs;
	*sig_len = rs_len;
	return HC_OK;
}

hc_rc hc_sign_check(const hc_key_info *key, const EVP_MD **md, bool pss, hc_error *err)
{
	const struct digest_mechs *dm;

	return check_request(key, md, pss, &dm, err);
}

hc_rc hc_sign_data_raw(hc_session *s, const hc_key_info *key, const EVP_MD *md, bool pss,
		       const unsigned char *data, size_t data_len, unsigned char **sig,
		       size_t *sig_len, hc_error *err)
{
	const struct digest_mechs *dm;
	hc_rc rc;

	*sig = NULL;
	*sig_len = 0;
	if ((rc = check_request(key, &md, pss, &dm, err)) != HC_OK)
		return rc;
	if (key->type.ckk == CKK_RSA)
		return sign_rsa(s, key, md, dm, pss, data, data_len, sig, sig_len, err);
	return sign_ec(s, key, md, data, data_len, sig, sig_len, err);
}
