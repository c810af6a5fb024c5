/*
 * SPEC: backup --format pfx. The key leaves the token wrapped under a
 * session AES key the host generated, is unwrapped in OpenSSL only to build
 * the PKCS#12 (AES-256-CBC, PBKDF2-SHA256, SHA-256 MAC), and wiped after.
 */
#include "hsmcert/backup.h"

#include "hsmcert/certstore.h"
#include "hsmcert/x509.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- PKCS#12 --------------------------------------------------------- */

hc_rc hc_backup_key_to_host(hc_session *s, const hc_backup_item *item, CK_OBJECT_HANDLE key,
			    EVP_PKEY **out, hc_error *err)
{
	unsigned char iv[16];
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_HANDLE transport = CK_INVALID_HANDLE;
	hc_wrap_choice wc;
	unsigned char value[32], *blob = NULL, *plain = NULL;
	size_t blob_len = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const unsigned char *p;
	int n1 = 0, n2 = 0;
	hc_rc rc;

	*out = NULL;
	if ((rc = hc_wrap_negotiate(s, &wc, err)) != HC_OK)
		return rc;
	/*
	 * The key is unwrapped on the host anyway: RFC 5649 where the token has
	 * it, else AES-CBC with PKCS#7 padding (openCryptoki, NSS over CBC_PAD).
	 */
	if (wc.mechanism != CK_UNAVAILABLE_INFORMATION)
		kw.mechanism = wc.mechanism;
	else if (wc.cbc_pad_wrap)
		kw = (CK_MECHANISM){CKM_AES_CBC_PAD, iv, sizeof(iv)};
	else
		return hc_wrap_refusal(s, &wc, "a PKCS#12 export", err);
	/* A transport key the host knows: the only way a key reaches a PKCS#12. */
	if (RAND_priv_bytes(value, sizeof(value)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1)
		return hc_fail_ssl(err, HC_IO, "no random transport key");
	if ((rc = hc_backup_session_aes(s, value, HC_AES_WRAP | HC_AES_SENSITIVE, &transport,
					err)) != HC_OK ||
	    (rc = hc_key_wrap(s, &kw, transport, key, &blob, &blob_len, err)) != HC_OK)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	plain = OPENSSL_secure_malloc(blob_len + 16);
	if (!ctx || !plain ||
	    EVP_DecryptInit_ex(ctx,
			       kw.mechanism == CKM_AES_CBC_PAD ? EVP_aes_256_cbc()
							       : EVP_aes_256_wrap_pad(),
			       NULL, value, kw.mechanism == CKM_AES_CBC_PAD ? iv : NULL) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &n1, blob, (int)blob_len) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + n1, &n2) != 1) {
		rc = hc_fail_ssl(err, HC_TOKEN, "key '%s': the token's wrapped key does not unwrap",
				 item->key.label);
		goto out;
	}
	/* SoftHSM2 zero-pads the PKCS#8 before RFC 5649: trust the DER length. */
	p = plain;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, n1 + n2);
	if (!p8 || !(*out = EVP_PKCS82PKEY(p8))) {
		rc = hc_fail_ssl(err, HC_TOKEN, "key '%s': the unwrapped key is not PKCS#8",
				 item->key.label);
		goto out;
	}
	for (const unsigned char *z = p; z < plain + n1 + n2; z++) {
		if (*z != 0) {
			rc = hc_fail(err, HC_TOKEN, "key '%s': unexpected bytes after the PKCS#8",
				     item->key.label);
			EVP_PKEY_free(*out);
			*out = NULL;
			goto out;
		}
	}
out:
	OPENSSL_cleanse(value, sizeof(value));
	if (plain)
		OPENSSL_secure_clear_free(plain, blob_len + 16);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_CIPHER_CTX_free(ctx);
	free(blob);
	if (transport != CK_INVALID_HANDLE)
		hc_object_destroy(s, transport, NULL);
	return rc;
}

hc_rc backup_pfx(hc_session *s, const hc_backup_params *p, hc_backup_result *out, hc_error *err)
{
	hc_backup_item *item = &out->items[0];
	EVP_PKEY *pkey = NULL, *pub = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	int der_len;
	hc_rc rc;

	if (p->key_count != 1)
		return hc_error_hint(err, HC_HINT_NAME_KEY,
				     hc_fail(err, HC_USAGE, "a PKCS#12 file holds one key"));
	if (item->key.extractable == 0) {
		backup_not_extractable(item, CKR_OK);
		return HC_OK;
	}
	if ((rc = hc_key_public(s, &item->key, &pub, err)) != HC_OK ||
	    (rc = hc_backup_key_certificates(s, &item->key, pub, &leaf, &chain, err)) != HC_OK)
		goto out;
	rc = hc_backup_key_to_host(s, item, p->keys[0], &pkey, err);
	if (rc != HC_OK) {
		if (err->has_ckr &&
		    (err->ckr == CKR_KEY_UNEXTRACTABLE || err->ckr == CKR_KEY_NOT_WRAPPABLE)) {
			backup_not_extractable(item, err->ckr);
			hc_error_clear(err);
			rc = HC_OK;
		}
		goto out;
	}
	if (!hc_public_keys_equal(pkey, pub)) {
		rc = hc_fail(err, HC_TOKEN,
			     "key '%s': the exported key does not match its public "
			     "key",
			     item->key.label);
		goto out;
	}
	/* AES-256-CBC with PBKDF2-HMAC-SHA256 for key and certificates; MAC set below. */
	p12 = PKCS12_create_ex(p->passphrase->data, item->key.label, pkey, leaf, chain,
			       NID_aes_256_cbc, NID_aes_256_cbc, HC_PFX_ITERATIONS, -1, 0, NULL,
			       NULL);
	if (!p12 || !PKCS12_set_mac(p12, p->passphrase->data, -1, NULL, 0, HC_PFX_ITERATIONS,
				    EVP_sha256())) {
		rc = hc_fail_ssl(err, HC_IO, "building the PKCS#12");
		goto out;
	}
	if ((der_len = i2d_PKCS12(p12, &der)) <= 0 || !(out->data = malloc((size_t)der_len))) {
		rc = hc_fail_ssl(err, HC_IO, "encoding the PKCS#12");
		goto out;
	}
	memcpy(out->data, der, (size_t)der_len);
	out->len = (size_t)der_len;
	item->saved = true;
	out->saved = 1;
	if (leaf) {
		char sha1[41];
		hc_x509_thumbprints(leaf, sha1, item->cert_sha256);
		item->has_certificate = true;
		item->ca_count = (size_t)sk_X509_num(chain);
	}
out:
	if (der)
		OPENSSL_clear_free(der, (size_t)der_len);
	PKCS12_free(p12);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(pub);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
