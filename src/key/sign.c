/*
 * Signatures made inside the token for X.509 structures (see sign.h).
 *
 * Why C_Sign through the token layer and not libp11's EVP_PKEY: libp11
 * 0.4.12 signs RSA-PSS with CKM_RSA_X_509 (raw RSA), which many HSMs
 * forbid; PKCS11_CTX_unload always calls C_Finalize and breaks every other
 * user of the module in the process (our own session included); and it
 * would load the module and log in a second time, which is most of a CSR's
 * cost (PITFALLS: start-up ~5 ms, login ~2 ms of ~8 ms). The session we
 * already hold signs with the token's own hash-and-sign mechanisms, so the
 * token sees exactly what it is asked to approve (the token layer picks the
 * mechanism: pkcs11/sign.c, hc_sign_data_raw). libp11 stays for TLS, where
 * OpenSSL needs an EVP_PKEY.
 */
#include "hsmcert/sign.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>
#include <strings.h>

hc_rc hc_sign_md_parse(const char *name, const EVP_MD **md, hc_error *err)
{
	static const struct {
		const char *a, *b;
		const EVP_MD *(*md)(void);
	} names[] = {
		{"sha256", "sha-256", EVP_sha256},
		{"sha384", "sha-384", EVP_sha384},
		{"sha512", "sha-512", EVP_sha512},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].a) == 0 || strcasecmp(name, names[i].b) == 0) {
			*md = names[i].md();
			return HC_OK;
		}
	}
	return hc_fail(err, HC_USAGE, "unknown digest '%s': use sha256, sha384 or sha512", name);
}

/* The token's r||s as the DER Ecdsa-Sig-Value X.509 carries. */
static hc_rc ecdsa_to_der(const unsigned char *rs, size_t len, unsigned char **out, size_t *out_len,
			  hc_error *err)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	hc_rc rc = HC_OK;
	int n;

	if (len == 0 || len % 2 != 0) {
		rc = hc_fail(err, HC_TOKEN, "the token's ECDSA signature has an odd length (%zu)",
			     len);
		goto out;
	}
	r = BN_bin2bn(rs, (int)(len / 2), NULL);
	s = BN_bin2bn(rs + len / 2, (int)(len / 2), NULL);
	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	r = s = NULL; /* owned by sig now */
	if ((n = i2d_ECDSA_SIG(sig, &der)) <= 0) {
		rc = hc_fail_ssl(err, HC_IO, "encoding the ECDSA signature");
		goto out;
	}
	*out = der;
	*out_len = (size_t)n;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

hc_rc hc_sign_data(hc_session *s, const hc_key_info *key, const EVP_MD *md, bool pss,
		   const unsigned char *data, size_t data_len, unsigned char **sig, size_t *sig_len,
		   hc_error *err)
{
	unsigned char *rs = NULL;
	size_t rs_len = 0;
	hc_rc rc;

	if ((rc = hc_sign_data_raw(s, key, md, pss, data, data_len, sig, sig_len, err)) != HC_OK ||
	    key->type.ckk != CKK_EC)
		return rc;
	rs = *sig;
	rs_len = *sig_len;
	*sig = NULL;
	*sig_len = 0;
	rc = ecdsa_to_der(rs, rs_len, sig, sig_len, err);
	OPENSSL_free(rs);
	return rc;
}

/* RSASSA-PSS-params (RFC 4055) with every field explicit, as CAs expect. */
static hc_rc pss_algor(const EVP_MD *md, X509_ALGOR *alg, hc_error *err)
{
	RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
	X509_ALGOR *mgf_hash = X509_ALGOR_new();
	ASN1_STRING *mgf_param = NULL, *params = NULL;
	hc_rc rc = HC_OK;

	if (!pss || !mgf_hash || !(pss->hashAlgorithm = X509_ALGOR_new()) ||
	    !(pss->maskGenAlgorithm = X509_ALGOR_new()) || !(pss->saltLength = ASN1_INTEGER_new()))
		goto fail;
	X509_ALGOR_set_md(pss->hashAlgorithm, md);
	X509_ALGOR_set_md(mgf_hash, md);
	if (!ASN1_item_pack(mgf_hash, ASN1_ITEM_rptr(X509_ALGOR), &mgf_param) ||
	    !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE,
			     mgf_param))
		goto fail;
	mgf_param = NULL;
	if (!ASN1_INTEGER_set(pss->saltLength, EVP_MD_get_size(md)) ||
	    !ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), &params) ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, params))
		goto fail;
	params = NULL;
	goto out;
fail:
	rc = hc_fail_ssl(err, HC_IO, "encoding the RSA-PSS parameters");
out:
	ASN1_STRING_free(mgf_param);
	ASN1_STRING_free(params);
	X509_ALGOR_free(mgf_hash);
	RSA_PSS_PARAMS_free(pss);
	return rc;
}

/* The signature algorithm's NID for PKCS#1 v1.5 and ECDSA. */
static int signature_nid(const hc_key_info *key, const EVP_MD *md)
{
	int nid = NID_undef;

	OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(md),
			       key->type.ckk == CKK_RSA ? NID_rsaEncryption
							: NID_X9_62_id_ecPublicKey);
	return nid;
}

hc_rc hc_sign_algor(const hc_key_info *key, const EVP_MD *md, bool pss, X509_ALGOR **out,
		    hc_error *err)
{
	X509_ALGOR *alg = NULL;
	hc_rc rc;
	int nid;

	*out = NULL;
	if ((rc = hc_sign_check(key, &md, pss, err)) != HC_OK)
		return rc;
	if (!(alg = X509_ALGOR_new()))
		return hc_fail(err, HC_IO, "out of memory");
	if (pss) {
		rc = pss_algor(md, alg, err);
	} else if ((nid = signature_nid(key, md)) == NID_undef) {
		rc = hc_fail(err, HC_USAGE, "no signature algorithm for %s with this key",
			     EVP_MD_get0_name(md));
	} else if (!X509_ALGOR_set0(alg, OBJ_nid2obj(nid),
				    /* RFC 4055: RSA carries NULL; RFC 5758: ECDSA no parameters */
				    key->type.ckk == CKK_RSA ? V_ASN1_NULL : V_ASN1_UNDEF, NULL)) {
		rc = hc_fail_ssl(err, HC_IO, "encoding the signature algorithm");
	}
	if (rc != HC_OK) {
		X509_ALGOR_free(alg);
		return rc;
	}
	*out = alg;
	return HC_OK;
}

const char *hc_sign_algorithm_name(const hc_key_info *key, const EVP_MD *md, bool pss)
{
	int nid;

	if (pss)
		return OBJ_nid2ln(NID_rsassaPss);
	nid = signature_nid(key, md ? md : EVP_sha256());
	return nid == NID_undef ? "unknown" : OBJ_nid2ln(nid);
}

hc_rc hc_sign_req(hc_session *s, const hc_key_info *key, const EVP_MD *md, bool pss, X509_REQ *req,
		  hc_error *err)
{
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *bits = NULL;
	unsigned char *tbs = NULL, *sig = NULL;
	size_t sig_len = 0;
	hc_rc rc;
	int tbs_len;

	if ((rc = hc_sign_algor(key, md, pss, &alg, err)) != HC_OK)
		return rc;
	/* i2d_re_*: re-encode, so the signature covers what is in the request now. */
	if ((tbs_len = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0) {
		rc = hc_fail_ssl(err, HC_IO, "encoding the request to sign");
		goto out;
	}
	if ((rc = hc_sign_data(s, key, md, pss, tbs, (size_t)tbs_len, &sig, &sig_len, err)))
		goto out;
	if (!(bits = ASN1_BIT_STRING_new()) || !ASN1_BIT_STRING_set(bits, sig, (int)sig_len)) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	/* A signature is whole bytes: no unused bits, whatever its last byte ends with. */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	if (!X509_REQ_set1_signature_algo(req, alg)) {
		rc = hc_fail_ssl(err, HC_IO, "setting the request's signature algorithm");
		goto out;
	}
	X509_REQ_set0_signature(req, bits);
	bits = NULL;
out:
	ASN1_BIT_STRING_free(bits);
	OPENSSL_free(sig);
	OPENSSL_free(tbs);
	X509_ALGOR_free(alg);
	return rc;
}

hc_rc hc_key_prove(hc_session *s, const hc_key_info *key, EVP_PKEY *pub, hc_error *err)
{
	unsigned char challenge[32], *sig = NULL;
	size_t sig_len = 0;
	EVP_MD_CTX *ctx = NULL;
	int want = key->type.ckk == CKK_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC;
	hc_rc rc;
	int ok;

	if (!EVP_PKEY_is_a(pub, want == EVP_PKEY_RSA ? "RSA" : "EC"))
		return hc_fail(err, HC_CHECK,
			       "key '%s' does not match: the token key is %s, the "
			       "public key is %s",
			       key->label ? key->label : "", hc_ckk_name(key->type.ckk),
			       EVP_PKEY_get0_type_name(pub));
	if (RAND_bytes(challenge, sizeof(challenge)) != 1)
		return hc_fail_ssl(err, HC_IO, "no random challenge");
	if ((rc = hc_sign_data(s, key, EVP_sha256(), false, challenge, sizeof(challenge), &sig,
			       &sig_len, err)) != HC_OK) {
		hc_error_prefix(err, "test signature with key '%s'", key->label ? key->label : "");
		return rc;
	}
	if (!(ctx = EVP_MD_CTX_new()) ||
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) != 1) {
		rc = hc_fail_ssl(err, HC_IO, "preparing to verify the test signature");
		goto out;
	}
	ok = EVP_DigestVerify(ctx, sig, sig_len, challenge, sizeof(challenge));
	ERR_clear_error();
	if (ok != 1)
		rc = hc_fail(err, HC_CHECK,
			     "key '%s' does not match the public key: its test "
			     "signature does not verify",
			     key->label ? key->label : "");
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(sig);
	return rc;
}
