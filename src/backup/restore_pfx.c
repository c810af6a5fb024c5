/*
 * SPEC: restore of a PKCS#12: the key is wrapped on the host under a fresh
 * session AES key and unwrapped by the token (never C_CreateObject of a
 * plaintext private key).
 */
#include "hsmcert/backup.h"

#include "hsmcert/certstore.h"
#include "hsmcert/rollback.h"
#include "hsmcert/sign.h"
#include "hsmcert/x509.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * The key as PKCS#8, wrapped on the host under `kek` as `mech` will unwrap it
 * (RFC 5649, or AES-CBC-PAD with its IV); the clear copy wiped.
 */
static hc_rc wrap_on_host(EVP_PKEY *pkey, const unsigned char kek[32], const CK_MECHANISM *mech,
			  pending *k, hc_error *err)
{
	bool cbc = mech->mechanism == CKM_AES_CBC_PAD;
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pkey);
	unsigned char *der = NULL;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int der_len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1, n1 = 0, n2 = 0;
	hc_rc rc = HC_OK;

	if (der_len <= 0 || !ctx) {
		rc = hc_fail_ssl(err, HC_USAGE, "encoding the PKCS#12 key as PKCS#8");
		goto out;
	}
	k->blob = malloc((size_t)der_len + 16);
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (!k->blob ||
	    EVP_EncryptInit_ex(ctx, cbc ? EVP_aes_256_cbc() : EVP_aes_256_wrap_pad(), NULL, kek,
			       cbc ? mech->pParameter : NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, k->blob, &n1, der, der_len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, k->blob + n1, &n2) != 1) {
		rc = hc_fail_ssl(err, HC_IO, "wrapping the key for the token");
		goto out;
	}
	k->blob_len = (size_t)(n1 + n2);
out:
	if (der)
		OPENSSL_clear_free(der, (size_t)der_len);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

hc_rc restore_pfx(restore_ctx *c)
{
	hc_x509_bundle bundle = {0};
	unsigned char kek[32];
	pending *k;
	hc_rc rc;

	if (!c->p->passphrase)
		return hc_fail(c->err, HC_USAGE, "%s is a PKCS#12 file: its passphrase is needed",
			       c->p->name);
	rc = hc_x509_load_mem(c->p->data, c->p->len, c->p->name, c->p->passphrase, &bundle, c->err);
	if (rc != HC_OK)
		return rc;
	c->out->legacy_pkcs12 = bundle.legacy_pkcs12;
	if (bundle.format != HC_FMT_PKCS12 || !bundle.pkey) {
		rc = hc_fail(c->err, HC_USAGE, "%s holds no private key", c->p->name);
		goto out;
	}
	c->keys = calloc(1, sizeof(*c->keys));
	if (!c->keys) {
		rc = hc_fail(c->err, HC_IO, "out of memory");
		goto out;
	}
	c->count = 1;
	k = &c->keys[0];
	if (EVP_PKEY_is_a(bundle.pkey, "RSA"))
		k->key_type = CKK_RSA;
	else if (EVP_PKEY_is_a(bundle.pkey, "EC"))
		k->key_type = CKK_EC;
	else {
		rc = hc_fail(c->err, HC_USAGE,
			     "%s: the key is %s: only RSA and EC keys are "
			     "supported",
			     c->p->name, EVP_PKEY_get0_type_name(bundle.pkey));
		goto out;
	}
	if (!c->p->label && (!bundle.friendly_name || !*bundle.friendly_name)) {
		rc = hc_error_hint(
			c->err, HC_HINT_NAME_LABEL,
			hc_fail(c->err, HC_USAGE, "%s has no friendly name", c->p->name));
		goto out;
	}
	k->label = strdup(c->p->label ? c->p->label : bundle.friendly_name);
	k->chain = sk_X509_new_null();
	if (!k->label || !k->chain) {
		rc = hc_fail(c->err, HC_IO, "out of memory");
		goto out;
	}
	/* The public half from the private key itself; the certificate is the one matching. */
	if (!EVP_PKEY_up_ref(bundle.pkey)) {
		rc = hc_fail_ssl(c->err, HC_IO, "out of memory");
		goto out;
	}
	k->pub = bundle.pkey;
	for (int i = 0; i < sk_X509_num(bundle.certs); i++) {
		X509 *x = sk_X509_value(bundle.certs, i);
		if (!k->cert && hc_public_keys_equal(X509_get0_pubkey(x), bundle.pkey))
			k->cert = x;
		else if (!sk_X509_push(k->chain, x))
			x = NULL;
		if (x)
			X509_up_ref(x);
	}
	k->extractable = c->p->exportable == 1;
	k->private_ = true;
	k->sign = true; /* a PKCS#12 records no usages: sign only */
	restore_set_usages(k, c->p->usages);
	if ((rc = restore_objects_default_id(bundle.pkey, &k->id, &k->id_len, c->err)) != HC_OK)
		goto out;
	/* The key enters the token only wrapped, under a key the token and host share briefly. */
	if (RAND_priv_bytes(kek, sizeof(kek)) != 1) {
		rc = hc_fail_ssl(c->err, HC_IO, "no random transport key");
		goto out;
	}
	if (c->unwrap_mech.mechanism == CK_UNAVAILABLE_INFORMATION) {
		if (!c->wrap.cbc_pad_unwrap) {
			rc = hc_wrap_refusal(c->s, &c->wrap, "restoring a PKCS#12 key", c->err);
			goto out;
		}
		/* Unwrapped from the host's encryption anyway: AES-CBC-PAD does as well. */
		if (RAND_bytes(c->iv, sizeof(c->iv)) != 1) {
			rc = hc_fail_ssl(c->err, HC_IO, "no random IV");
			goto out;
		}
		c->unwrap_mech = (CK_MECHANISM){CKM_AES_CBC_PAD, c->iv, sizeof(c->iv)};
	}
	if ((rc = wrap_on_host(bundle.pkey, kek, &c->unwrap_mech, k, c->err)) == HC_OK)
		rc = hc_backup_session_aes(c->s, kek, HC_AES_UNWRAP | HC_AES_SENSITIVE,
					   &c->unwrapper, c->err);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (rc != HC_OK)
		goto out;
	rc = restore_keys(c);
out:
	hc_x509_bundle_clear(&bundle);
	return rc;
}
