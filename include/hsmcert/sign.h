/*
 * Signatures made inside the token, in the form X.509 wants them (SPEC: csr,
 * check, restore). Callers hand over bytes to sign and get back a signature
 * ready for a BIT STRING (RSA as is, ECDSA as a DER Ecdsa-Sig-Value) and the
 * AlgorithmIdentifier that names it.
 */
#ifndef HSMCERT_SIGN_H
#define HSMCERT_SIGN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>

#include "hsmcert/key.h"

/* "sha256" | "sha384" | "sha512" (also "SHA-256" spellings); others HC_USAGE. */
hc_rc hc_sign_md_parse(const char *name, const EVP_MD **md, hc_error *err);

/*
 * Sign `data` (the whole message, not a digest) with the token's private key
 * `key` (from hc_key_describe). `md` NULL means SHA-256. `pss`: RSASSA-PSS
 * with MGF1 over the same digest and a salt as long as the digest; RSA only
 * (HC_USAGE for EC keys). *sig is OPENSSL_malloc'd.
 */
hc_rc hc_sign_data(hc_session *session, const hc_key_info *key, const EVP_MD *md, bool pss,
		   const unsigned char *data, size_t data_len, unsigned char **sig, size_t *sig_len,
		   hc_error *err);

/*
 * The same with the signature as the token returns it, for JWS (RFC 7518)
 * and for hc_sign_data: RSA as is, ECDSA as the fixed-width r||s rather than
 * DER. The token layer (pkcs11/sign.c) picks the mechanism: the token's
 * hash-and-sign one for `md`, else the digest made here and CKM_RSA_PKCS(_PSS)
 * or CKM_ECDSA.
 */
hc_rc hc_sign_data_raw(hc_session *session, const hc_key_info *key, const EVP_MD *md, bool pss,
		       const unsigned char *data, size_t data_len, unsigned char **sig,
		       size_t *sig_len, hc_error *err);

/*
 * Whether `key` can sign with `md` (NULL: SHA-256, set in *md) and `pss`:
 * a supported digest, an RSA or EC private key, PSS only with RSA. HC_USAGE
 * otherwise.
 */
hc_rc hc_sign_check(const hc_key_info *key, const EVP_MD **md, bool pss, hc_error *err);

/* The AlgorithmIdentifier of what hc_sign_data produces (PSS with explicit parameters). */
hc_rc hc_sign_algor(const hc_key_info *key, const EVP_MD *md, bool pss, X509_ALGOR **out,
		    hc_error *err);

/* "sha256WithRSAEncryption", "rsassaPss", "ecdsa-with-SHA384": a static string. */
const char *hc_sign_algorithm_name(const hc_key_info *key, const EVP_MD *md, bool pss);

/*
 * Sign a PKCS#10 request in the token: the to-be-signed encoding goes
 * through hc_sign_data and the request gets the signature and algorithm.
 * The request's public key must already be set; this does not verify.
 */
hc_rc hc_sign_req(hc_session *session, const hc_key_info *key, const EVP_MD *md, bool pss,
		  X509_REQ *req, hc_error *err);

/*
 * Proof of possession: the token signs a fresh random challenge with `key`
 * and `pub` (a certificate's or a backup's public key) must verify it.
 * A signature that does not verify is HC_CHECK ("does not match"); a token
 * failure is HC_TOKEN.
 */
hc_rc hc_key_prove(hc_session *session, const hc_key_info *key, EVP_PKEY *pub, hc_error *err);

#endif
