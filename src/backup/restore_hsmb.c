/*
 * SPEC: restore of a .hsmb: opened with the passphrase or the recipient key
 * on this token, checked as a whole (tag) before anything is created.
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

static bool flag(const hc_backup_entry *e, CK_ATTRIBUTE_TYPE t, bool dflt)
{
	for (size_t i = 0; i < e->flag_count; i++)
		if (e->flags[i].type == t)
			return e->flags[i].value;
	return dflt;
}

static hc_rc certificate_from(const hc_blob *b, X509 **out, const char *name, hc_error *err)
{
	const unsigned char *p = b->data;

	*out = d2i_X509(NULL, &p, (long)b->len);
	if (!*out || p != b->data + b->len) {
		X509_free(*out);
		*out = NULL;
		return hc_fail_ssl(err, HC_USAGE,
				   "%s: a certificate in the backup is not valid DER", name);
	}
	return HC_OK;
}

/* A verified entry becomes a pending key; anything unusable is refused here. */
static hc_rc pending_from_entry(restore_ctx *c, const hc_backup_entry *e, pending *k)
{
	const char *name = c->p->name;
	const unsigned char *p = e->public_key.data;
	hc_rc rc;

	if (e->key_type != CKK_RSA && e->key_type != CKK_EC)
		return hc_fail(c->err, HC_USAGE, "%s: key '%s' is of type %s: not supported", name,
			       e->label, hc_ckk_name(e->key_type));
	if (e->wrap_mechanism != CKM_AES_KEY_WRAP_PAD)
		return hc_fail(c->err, HC_USAGE, "%s: key '%s' is wrapped with %s: not supported",
			       name, e->label, hc_ckm_name(e->wrap_mechanism));
	k->pub = d2i_PUBKEY(NULL, &p, (long)e->public_key.len);
	if (!k->pub || p != e->public_key.data + e->public_key.len ||
	    !EVP_PKEY_is_a(k->pub, e->key_type == CKK_RSA ? "RSA" : "EC"))
		return hc_fail_ssl(c->err, HC_USAGE,
				   "%s: key '%s': the recorded public key is "
				   "not a valid %s key",
				   name, e->label, hc_ckk_name(e->key_type));
	k->key_type = e->key_type;
	k->label = strdup(c->p->label && c->count == 1 ? c->p->label : e->label);
	k->id = malloc(e->id.len ? e->id.len : 1);
	k->blob = malloc(e->wrapped_key.len);
	k->chain = sk_X509_new_null();
	if (!k->label || !k->id || !k->blob || !k->chain)
		return hc_fail(c->err, HC_IO, "out of memory");
	memcpy(k->id, e->id.data, e->id.len);
	k->id_len = e->id.len;
	memcpy(k->blob, e->wrapped_key.data, e->wrapped_key.len);
	k->blob_len = e->wrapped_key.len;
	k->extractable = c->p->exportable >= 0 ? c->p->exportable : flag(e, CKA_EXTRACTABLE, false);
	k->private_ = flag(e, CKA_PRIVATE, true);
	k->sign = flag(e, CKA_SIGN, true);
	k->decrypt = flag(e, CKA_DECRYPT, false);
	k->unwrap = flag(e, CKA_UNWRAP, false);
	k->derive = flag(e, CKA_DERIVE, false);
	restore_set_usages(k, c->p->usages);
	k->always_authenticate = flag(e, CKA_ALWAYS_AUTHENTICATE, false);
	if (e->certificate.len) {
		if ((rc = certificate_from(&e->certificate, &k->cert, name, c->err)) != HC_OK)
			return rc;
		if (!hc_public_keys_equal(X509_get0_pubkey(k->cert), k->pub))
			return hc_fail(c->err, HC_USAGE,
				       "%s: key '%s': the certificate in the "
				       "backup is not the key's",
				       name, e->label);
	}
	for (size_t i = 0; i < e->ca_count; i++) {
		X509 *ca;
		if ((rc = certificate_from(&e->ca_certificates[i], &ca, name, c->err)) != HC_OK)
			return rc;
		if (!sk_X509_push(k->chain, ca)) {
			X509_free(ca);
			return hc_fail(c->err, HC_IO, "out of memory");
		}
	}
	return HC_OK;
}

/* Recipient mode: the token's private key whose modulus is the recipient's. */
static hc_rc find_recipient(restore_ctx *c, const hc_backup_file *f, CK_OBJECT_HANDLE *out)
{
	const unsigned char *p = f->recipient.data;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)f->recipient.len);
	unsigned char nb[1024];
	char fp[65];
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	BIGNUM *mod = NULL;
	hc_rc rc;

	*out = CK_INVALID_HANDLE;
	hc_backup_fingerprint(&f->recipient, fp);
	if (!pub || !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &mod) ||
	    BN_num_bytes(mod) > (int)sizeof(nb)) {
		rc = hc_fail_ssl(c->err, HC_USAGE, "%s: the recipient key is not an RSA key",
				 c->p->name);
		goto out;
	}
	{
		CK_ATTRIBUTE t[3] = {{CKA_CLASS, &cls, sizeof(cls)},
				     {CKA_KEY_TYPE, &kt, sizeof(kt)},
				     {CKA_MODULUS, nb, (CK_ULONG)BN_bn2bin(mod, nb)}};
		if ((rc = hc_objects_find(c->s, t, 3, &found, &n, c->err)) != HC_OK)
			goto out;
		/* Tokens that hide a private key's modulus: by its public key's id. */
		if (n == 0) {
			cls = CKO_PUBLIC_KEY;
			free(found);
			if ((rc = hc_objects_find(c->s, t, 3, &found, &n, c->err)) != HC_OK)
				goto out;
			if (n > 0) {
				hc_key_info pubinfo;
				if ((rc = hc_key_describe(c->s, found[0], &pubinfo, c->err)) !=
				    HC_OK)
					goto out;
				free(found);
				found = NULL;
				n = 0;
				if (pubinfo.id && pubinfo.id_len)
					rc = hc_key_find(c->s, CKO_PRIVATE_KEY, NULL, pubinfo.id,
							 pubinfo.id_len, &found, &n, c->err);
				hc_key_info_clear(&pubinfo);
				if (rc != HC_OK)
					goto out;
			}
		}
	}
	if (n == 0) {
		rc = hc_fail(c->err, HC_CHECK,
			     "%s is addressed to another token: this token holds no private key "
			     "for the recipient public key (SHA-256 %s); nothing restored",
			     c->p->name, fp);
		goto out;
	}
	*out = found[0];
	{
		hc_key_info info;
		if (hc_key_describe(c->s, found[0], &info, NULL) == HC_OK) {
			snprintf(c->out->recipient_uri, sizeof(c->out->recipient_uri), "%s",
				 info.uri);
			hc_key_info_clear(&info);
		}
	}
out:
	free(found);
	BN_free(mod);
	EVP_PKEY_free(pub);
	return rc;
}

/*
 * Did an unwrap fail on the data (the file's fault: modified, or for another
 * key) rather than on the token? CKR_GENERAL_ERROR counts as the data's:
 * SoftHSM2 answers it for a blob that does not unwrap. Anything else (the
 * device, the session, memory, the mechanism) is the token's failure, and
 * the file is not to be blamed for it (issue 14.6).
 */
static bool unwrap_data_fault(const hc_error *e)
{
	if (!e->has_ckr)
		return false;
	switch (e->ckr) {
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_WRAPPED_KEY_INVALID:
	case CKR_WRAPPED_KEY_LEN_RANGE:
	case CKR_DATA_INVALID:
	case CKR_DATA_LEN_RANGE:
	case CKR_GENERAL_ERROR: return true;
	default: return false;
	}
}

/* The token failed while opening the backup: its error, exit 3, the file not judged. */
static hc_rc unwrap_token_fault(restore_ctx *c, const hc_error *e, const char *what)
{
	*c->err = *e;
	hc_error_prefix(c->err,
			"%s: the token failed while unwrapping %s (the backup file was "
			"not judged; nothing restored)",
			c->p->name, what);
	return c->err->rc ? c->err->rc : HC_TOKEN;
}

/* Recipient mode: unwrap the KEK with the recipient key, then recover the MAC key. */
static hc_rc open_recipient(restore_ctx *c, const hc_backup_file *f, unsigned char mac_key[32])
{
	CK_MECHANISM oaep, kw = c->unwrap_mech;
	CK_RSA_PKCS_OAEP_PARAMS op;
	CK_OBJECT_HANDLE recipient, mac_obj = CK_INVALID_HANDLE;
	CK_ATTRIBUTE value = {CKA_VALUE, NULL, 0};
	hc_template t = {0}, mac_t = {0};
	hc_error local = {0};
	hc_rc rc;

	if ((rc = find_recipient(c, f, &recipient)) != HC_OK)
		return rc;
	hc_backup_oaep_mechanism(f->oaep_hash, &op, &oaep);
	hc_template_session_aes(&t, HC_AES_PRIVATE | HC_AES_UNWRAP | HC_AES_SENSITIVE);
	if (hc_key_unwrap(c->s, &oaep, recipient, f->wrapped_kek.data, f->wrapped_kek.len, t.attrs,
			  t.count, &c->unwrapper, &local) != HC_OK) {
		if (local.has_ckr && local.ckr == CKR_KEY_FUNCTION_NOT_PERMITTED)
			return hc_fail(c->err, HC_CHECK,
				       "%s: the recipient key on this token may not unwrap "
				       "(CKA_UNWRAP is false); nothing restored",
				       c->p->name);
		if (!unwrap_data_fault(&local))
			return unwrap_token_fault(c, &local, "its key-encryption key");
		return hc_fail(c->err, HC_CHECK,
			       "%s: the recipient key cannot open this backup (%s: %s): the file "
			       "was modified or is for another key; nothing restored",
			       c->p->name, local.function, hc_ckr_name(local.ckr));
	}
	/* The MAC key comes out as a non-sensitive session key: it guards no secret. */
	hc_template_session_aes(&mac_t, HC_AES_PRIVATE | HC_AES_EXTRACTABLE);
	if (hc_key_unwrap(c->s, &kw, c->unwrapper, f->wrapped_mac_key.data, f->wrapped_mac_key.len,
			  mac_t.attrs, mac_t.count, &mac_obj, &local) != HC_OK) {
		if (!unwrap_data_fault(&local))
			return unwrap_token_fault(c, &local, "its authentication key");
		return hc_fail(
			c->err, HC_CHECK,
			"%s: the backup was modified or damaged: its authentication key does "
			"not unwrap (%s); nothing restored",
			c->p->name, hc_ckr_name(local.ckr));
	}
	rc = hc_attrs_get(c->s, mac_obj, &value, 1, c->err);
	if (rc == HC_OK && (!hc_attr_available(&value) || value.ulValueLen != 32))
		rc = hc_fail(c->err, HC_CHECK,
			     "%s: the backup's authentication key is not 32 bytes", c->p->name);
	if (rc == HC_OK)
		rc = hc_backup_mac_key(value.pValue, 32, mac_key, c->err);
	if (value.pValue)
		OPENSSL_cleanse(value.pValue, value.ulValueLen);
	hc_attrs_release(&value, 1);
	hc_object_destroy(c->s, mac_obj, NULL);
	return rc;
}

static hc_rc open_passphrase(restore_ctx *c, const hc_backup_file *f, unsigned char mac_key[32])
{
	hc_backup_keys keys;
	hc_rc rc;

	if (!c->p->passphrase)
		return hc_fail(c->err, HC_USAGE, "%s is protected by a passphrase", c->p->name);
	if ((rc = hc_backup_derive(f, c->p->passphrase, &keys, c->err)) != HC_OK)
		return rc;
	if (CRYPTO_memcmp(keys.check, f->check, sizeof(keys.check)) != 0) {
		rc = hc_fail(c->err, HC_CHECK,
			     "%s: wrong passphrase (or the file's passphrase "
			     "parameters were modified); nothing restored",
			     c->p->name);
		goto out;
	}
	memcpy(mac_key, keys.mac_key, 32);
	rc = hc_backup_session_aes(c->s, keys.kek, HC_AES_UNWRAP | HC_AES_SENSITIVE, &c->unwrapper,
				   c->err);
	if (rc != HC_OK)
		hc_error_prefix(c->err, "importing the passphrase key into the token");
out:
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc;
}

hc_rc restore_hsmb(restore_ctx *c)
{
	hc_backup_file f;
	unsigned char mac_key[32];
	hc_rc rc;

	if ((rc = hc_backup_parse(c->p->data, c->p->len, c->p->name, &f, c->err)) != HC_OK)
		return rc;
	rc = f.mode == HC_BACKUP_PASSPHRASE ? open_passphrase(c, &f, mac_key)
					    : open_recipient(c, &f, mac_key);
	if (rc == HC_OK && (rc = hc_backup_verify(&f, c->p->data, mac_key, c->err)) != HC_OK)
		hc_error_prefix(c->err, "%s", c->p->name);
	OPENSSL_cleanse(mac_key, sizeof(mac_key));
	if (rc != HC_OK)
		goto out;
	c->keys = calloc(f.entry_count, sizeof(*c->keys));
	if (!c->keys) {
		rc = hc_fail(c->err, HC_IO, "out of memory");
		goto out;
	}
	c->count = f.entry_count;
	if (c->p->label && c->count != 1) {
		rc = hc_error_input(
			c->err, HC_INPUT_LABEL,
			hc_fail(c->err, HC_USAGE, "%s holds %zu keys", c->p->name, c->count));
		goto out;
	}
	for (size_t i = 0; i < f.entry_count && rc == HC_OK; i++)
		rc = pending_from_entry(c, &f.entries[i], &c->keys[i]);
	if (rc == HC_OK)
		rc = restore_keys(c);
out:
	hc_backup_file_clear(&f);
	return rc;
}
