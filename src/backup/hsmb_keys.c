/*
 * The .hsmb keys: scrypt from the passphrase, HKDF-SHA256 to one key per
 * purpose (docs/backup-format.md), the recipient key's fingerprint.
 */
#include "hsmcert/backup.h"

#include "internal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

/* ---- keys ------------------------------------------------------------ */

static hc_rc hkdf(const unsigned char *ikm, size_t ikm_len, const char *info, unsigned char *out,
		  size_t out_len, hc_error *err)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	hc_rc rc = HC_OK;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
						      strlen(info));
	params[3] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_KDF_derive(ctx, out, out_len, params) <= 0)
		rc = hc_fail_ssl(err, HC_IO, "HKDF-SHA256 failed");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

hc_rc hc_backup_mac_key(const unsigned char *secret, size_t len, unsigned char mac_key[32],
			hc_error *err)
{
	return hkdf(secret, len, "hsmcert backup v1 authentication key", mac_key, 32, err);
}

hc_rc hc_backup_derive(const hc_backup_file *f, const hc_secret *passphrase, hc_backup_keys *out,
		       hc_error *err)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = (uint64_t)1 << f->scrypt_log2_n, maxmem = HC_BACKUP_SCRYPT_MAX_MEM;
	uint32_t r = f->scrypt_r, p = f->scrypt_p;
	unsigned char ikm[32];
	OSSL_PARAM params[7];
	hc_rc rc = HC_OK;

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, passphrase->data,
						      passphrase->len);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)f->salt,
						      HC_BACKUP_SALT_LEN);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	params[6] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_KDF_derive(ctx, ikm, sizeof(ikm), params) <= 0) {
		rc = hc_fail_ssl(err, HC_IO, "scrypt (N=2^%u, r=%u, p=%u) failed", f->scrypt_log2_n,
				 r, p);
		goto out;
	}
	/* Separate keys by purpose, so no key serves two (HKDF, RFC 5869). */
	if ((rc = hkdf(ikm, sizeof(ikm), "hsmcert backup v1 key-encryption key", out->kek, 32,
		       err)) != HC_OK ||
	    (rc = hc_backup_mac_key(ikm, sizeof(ikm), out->mac_key, err)) != HC_OK ||
	    (rc = hkdf(ikm, sizeof(ikm), "hsmcert backup v1 passphrase check", out->check,
		       HC_BACKUP_CHECK_LEN, err)) != HC_OK)
		goto out;
out:
	OPENSSL_cleanse(ikm, sizeof(ikm));
	if (rc != HC_OK)
		OPENSSL_cleanse(out, sizeof(*out));
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

void hc_backup_fingerprint(const hc_blob *spki, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(spki->data, spki->len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}
