/*
 * SPEC: backup. What protects a .hsmb: the session AES keys that wrap and
 * unwrap (shared with restore), and the key-encryption key with the
 * authentication key, from a passphrase or for a recipient's RSA key.
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

/* ---- session keys shared with restore -------------------------------- */

hc_rc hc_backup_session_aes(hc_session *s, const unsigned char value[32], unsigned flags,
			    CK_OBJECT_HANDLE *out, hc_error *err)
{
	hc_template t = {0};

	hc_template_session_aes(&t, flags | HC_AES_PRIVATE);
	hc_template_add(&t, CKA_VALUE, value, 32);
	return hc_object_create(s, t.attrs, t.count, out, err);
}

hc_rc hc_backup_oaep_mechanism(CK_MECHANISM_TYPE hash, CK_RSA_PKCS_OAEP_PARAMS *params,
			       CK_MECHANISM *mech)
{
	*params = (CK_RSA_PKCS_OAEP_PARAMS){hash,
					    hash == CKM_SHA256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1,
					    CKZ_DATA_SPECIFIED, NULL, 0};
	*mech = (CK_MECHANISM){CKM_RSA_PKCS_OAEP, params, sizeof(*params)};
	return HC_OK;
}

/* ---- protection: KEK and authentication key -------------------------- */

hc_rc protect_passphrase(hc_session *s, const hc_secret *pass, hc_backup_file *f, protection *pr,
			 hc_error *err)
{
	hc_backup_keys keys;
	hc_rc rc;

	f->scrypt_log2_n = HC_BACKUP_SCRYPT_LOG2_N;
	f->scrypt_r = HC_BACKUP_SCRYPT_R;
	f->scrypt_p = HC_BACKUP_SCRYPT_P;
	if (RAND_bytes(f->salt, sizeof(f->salt)) != 1)
		return hc_fail_ssl(err, HC_IO, "no random salt");
	if ((rc = hc_backup_derive(f, pass, &keys, err)) != HC_OK)
		return rc;
	memcpy(f->check, keys.check, sizeof(f->check));
	memcpy(pr->mac_key, keys.mac_key, 32);
	rc = hc_backup_session_aes(s, keys.kek, HC_AES_WRAP | HC_AES_SENSITIVE, &pr->kek, err);
	if (rc != HC_OK)
		hc_error_prefix(err, "importing the passphrase key into the token");
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc;
}

/* The recipient's RSA public key as a session object that may wrap. */
static hc_rc recipient_object(hc_session *s, EVP_PKEY *pub, CK_OBJECT_HANDLE *out, hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char *nb = NULL, *eb = NULL;
	hc_template t = {0};
	hc_rc rc;

	if (!EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_get_bits(pub) < 2048)
		return hc_error_input(err, HC_INPUT_RECIPIENT,
				      hc_fail(err, HC_USAGE,
					      "the recipient must be an RSA key of "
					      "at least 2048 bits (RSA-OAEP)"));
	if (!EVP_PKEY_get_bn_param(pub, "n", &n) || !EVP_PKEY_get_bn_param(pub, "e", &e) ||
	    !(nb = malloc((size_t)BN_num_bytes(n))) || !(eb = malloc((size_t)BN_num_bytes(e)))) {
		rc = hc_fail_ssl(err, HC_IO, "reading the recipient's public key");
		goto out;
	}
	BN_bn2bin(n, nb);
	BN_bn2bin(e, eb);
	hc_template_add(&t, CKA_CLASS, &cls, sizeof(cls));
	hc_template_add(&t, CKA_KEY_TYPE, &kt, sizeof(kt));
	hc_template_add(&t, CKA_TOKEN, &no, sizeof(no));
	hc_template_add(&t, CKA_WRAP, &yes, sizeof(yes));
	hc_template_add(&t, CKA_ENCRYPT, &yes, sizeof(yes));
	hc_template_add(&t, CKA_MODULUS, nb, (CK_ULONG)BN_num_bytes(n));
	hc_template_add(&t, CKA_PUBLIC_EXPONENT, eb, (CK_ULONG)BN_num_bytes(e));
	rc = hc_object_create(s, t.attrs, t.count, out, err);
	if (rc != HC_OK)
		hc_error_prefix(err, "importing the recipient's public key");
out:
	free(nb);
	free(eb);
	BN_free(n);
	BN_free(e);
	return rc;
}

static bool oaep_param_refused(const hc_error *e)
{
	return e->has_ckr &&
	       (e->ckr == CKR_ARGUMENTS_BAD || e->ckr == CKR_MECHANISM_PARAM_INVALID ||
		e->ckr == CKR_MECHANISM_INVALID);
}

hc_rc protect_recipient(hc_session *s, EVP_PKEY *recipient, CK_MECHANISM_TYPE rfc5649,
			hc_backup_file *f, protection *pr, hc_error *err)
{
	static const CK_MECHANISM_TYPE hashes[] = {CKM_SHA256, CKM_SHA_1};
	CK_ULONG kek_len = 32;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0}, kw = {rfc5649, NULL, 0};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, mac_obj = CK_INVALID_HANDLE;
	unsigned char mac_secret[32];
	/* Extractable only so RSA-OAEP can carry it to the recipient. */
	hc_template t = {0};
	hc_rc rc;

	hc_template_session_aes(&t, HC_AES_PRIVATE | HC_AES_WRAP | HC_AES_EXTRACTABLE |
					    HC_AES_SENSITIVE);
	hc_template_add(&t, CKA_VALUE_LEN, &kek_len, sizeof(kek_len));
	if ((rc = hc_key_generate(s, &gen, t.attrs, t.count, &pr->kek, err)) != HC_OK) {
		hc_error_prefix(err, "generating the backup's key-encryption key");
		return rc;
	}
	if ((rc = backup_blob_from_pubkey(recipient, &f->recipient, err)) != HC_OK ||
	    (rc = recipient_object(s, recipient, &pub, err)) != HC_OK)
		goto out;

	/* SHA-256 first; SoftHSM2 (and older HSMs) only do OAEP with SHA-1. */
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		CK_RSA_PKCS_OAEP_PARAMS op;
		CK_MECHANISM oaep;
		hc_backup_oaep_mechanism(hashes[i], &op, &oaep);
		rc = hc_key_wrap(s, &oaep, pub, pr->kek, &f->wrapped_kek.data, &f->wrapped_kek.len,
				 err);
		f->oaep_hash = hashes[i];
		if (rc == HC_OK || !oaep_param_refused(err))
			break;
	}
	if (rc != HC_OK) {
		hc_error_prefix(err, "wrapping the key-encryption key to the recipient (RSA-OAEP)");
		goto out;
	}

	/*
	 * The authentication key: random, wrapped under the KEK, so only who can
	 * unwrap the KEK can recover it, and a forger who swaps in a KEK of their
	 * own can no longer unwrap the private key (docs/backup-format.md).
	 */
	if (RAND_priv_bytes(mac_secret, sizeof(mac_secret)) != 1) {
		rc = hc_fail_ssl(err, HC_IO, "no random authentication key");
		goto out;
	}
	if ((rc = hc_backup_session_aes(s, mac_secret, HC_AES_EXTRACTABLE, &mac_obj, err)) !=
		    HC_OK ||
	    (rc = hc_key_wrap(s, &kw, pr->kek, mac_obj, &f->wrapped_mac_key.data,
			      &f->wrapped_mac_key.len, err)) != HC_OK) {
		hc_error_prefix(err, "wrapping the authentication key");
		goto out;
	}
	rc = hc_backup_mac_key(mac_secret, sizeof(mac_secret), pr->mac_key, err);
out:
	OPENSSL_cleanse(mac_secret, sizeof(mac_secret));
	if (mac_obj != CK_INVALID_HANDLE)
		hc_object_destroy(s, mac_obj, NULL);
	if (pub != CK_INVALID_HANDLE)
		hc_object_destroy(s, pub, NULL);
	return rc;
}
