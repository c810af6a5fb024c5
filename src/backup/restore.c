/*
 * SPEC: restore. A .hsmb is checked as a whole (tag) before anything is
 * created; a PKCS#12 key is wrapped on the host under a fresh session AES key
 * and unwrapped by the token (never C_CreateObject of a plaintext private
 * key). Then certificates beside the key, a test signature, and only then
 * (--force) the removal of the key it replaces. Any failure removes what
 * this run created.
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
#include <stdlib.h>
#include <string.h>

#include "backup_internal.h"

#define ADD(tmpl, n, t, p, l) ((tmpl)[(n)++] = (CK_ATTRIBUTE){(t), (void *)(p), (l)})

/* One key on its way into the token. */
typedef struct pending {
	CK_KEY_TYPE key_type;
	char *label;
	unsigned char *id;
	size_t id_len;
	bool extractable, private_, sign, decrypt, unwrap, derive, always_authenticate;
	EVP_PKEY *pub;
	X509 *cert;
	STACK_OF(X509) *chain;
	unsigned char *blob; /* the wrapped PKCS#8 */
	size_t blob_len;
	CK_OBJECT_HANDLE *conflicts; /* objects of the same label or id (replaced with --force) */
	size_t conflict_count;
} pending;

typedef struct restore_ctx {
	hc_session *s;
	const hc_restore_params *p;
	hc_restore_result *out;
	hc_error *err;
	hc_wrap_choice wrap;	    /* what the token's key wrap mechanisms are */
	CK_OBJECT_HANDLE unwrapper; /* session AES key: the KEK or the PKCS#12 transport key */
	CK_MECHANISM unwrap_mech;   /* RFC 5649 as this token names it, or CBC_PAD (PKCS#12) */
	unsigned char iv[16];	    /* CKM_AES_CBC_PAD's IV */
	pending *keys;
	size_t count;
	hc_rollback created; /* everything this run made, undone on a failure */
} restore_ctx;

static void pending_clear(pending *k)
{
	free(k->label);
	free(k->id);
	EVP_PKEY_free(k->pub);
	X509_free(k->cert);
	sk_X509_pop_free(k->chain, X509_free);
	free(k->blob);
	free(k->conflicts);
	memset(k, 0, sizeof(*k));
}

/* Every object this run creates is remembered with the names its URI is made of. */
static hc_rc remember(restore_ctx *c, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls, const char *label,
		      const unsigned char *id, size_t id_len)
{
	return hc_rollback_created(&c->created, h, cls, label, id, id_len, c->err);
}

/* ---- public keys and ids --------------------------------------------- */

/* CKA_ID convention: SHA-1 of the modulus or of the uncompressed EC point. */
static hc_rc default_id(EVP_PKEY *pub, unsigned char **id, size_t *len, hc_error *err)
{
	unsigned char raw[1024];
	size_t raw_len = 0;
	BIGNUM *n = NULL;

	if (EVP_PKEY_is_a(pub, "RSA")) {
		if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
		    BN_num_bytes(n) > (int)sizeof(raw)) {
			BN_free(n);
			return hc_fail_ssl(err, HC_USAGE, "reading the RSA modulus");
		}
		raw_len = (size_t)BN_bn2bin(n, raw);
		BN_free(n);
	} else if (!EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, raw,
						    sizeof(raw), &raw_len)) {
		return hc_fail_ssl(err, HC_USAGE, "reading the EC point");
	}
	*id = malloc(SHA_DIGEST_LENGTH);
	if (!*id)
		return hc_fail(err, HC_IO, "out of memory");
	SHA1(raw, raw_len, *id);
	*len = SHA_DIGEST_LENGTH;
	return HC_OK;
}

/* The public key object beside the restored private key. */
static hc_rc create_public(restore_ctx *c, const pending *k, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = k->key_type;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char nb[1024], eb[16], point[256], *params = NULL, *point_der = NULL;
	size_t point_len = 0;
	BIGNUM *n = NULL, *e = NULL;
	ASN1_OCTET_STRING *os = NULL;
	CK_ATTRIBUTE t[12];
	CK_ULONG count = 0;
	int params_len = 0, point_der_len = 0;
	hc_rc rc;

	ADD(t, count, CKA_CLASS, &cls, sizeof(cls));
	ADD(t, count, CKA_KEY_TYPE, &kt, sizeof(kt));
	ADD(t, count, CKA_TOKEN, &yes, sizeof(yes));
	ADD(t, count, CKA_PRIVATE, &no, sizeof(no));
	ADD(t, count, CKA_VERIFY, &yes, sizeof(yes));
	ADD(t, count, CKA_LABEL, k->label, strlen(k->label));
	ADD(t, count, CKA_ID, k->id, k->id_len);
	if (kt == CKK_RSA) {
		if (!EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
		    !EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_E, &e) ||
		    BN_num_bytes(n) > (int)sizeof(nb) || BN_num_bytes(e) > (int)sizeof(eb)) {
			rc = hc_fail_ssl(c->err, HC_USAGE, "reading the RSA public key");
			goto out;
		}
		ADD(t, count, CKA_MODULUS, nb, (CK_ULONG)BN_bn2bin(n, nb));
		ADD(t, count, CKA_PUBLIC_EXPONENT, eb, (CK_ULONG)BN_bn2bin(e, eb));
	} else {
		char group[64];
		ASN1_OBJECT *oid;
		if (!EVP_PKEY_get_utf8_string_param(k->pub, OSSL_PKEY_PARAM_GROUP_NAME, group,
						    sizeof(group), NULL) ||
		    !(oid = OBJ_nid2obj(OBJ_sn2nid(group))) ||
		    (params_len = i2d_ASN1_OBJECT(oid, &params)) <= 0 ||
		    !EVP_PKEY_get_octet_string_param(k->pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						     point, sizeof(point), &point_len) ||
		    !(os = ASN1_OCTET_STRING_new()) ||
		    !ASN1_OCTET_STRING_set(os, point, (int)point_len) ||
		    (point_der_len = i2d_ASN1_OCTET_STRING(os, &point_der)) <= 0) {
			rc = hc_fail_ssl(c->err, HC_USAGE, "reading the EC public key");
			goto out;
		}
		ADD(t, count, CKA_EC_PARAMS, params, (CK_ULONG)params_len);
		/* CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40). */
		ADD(t, count, CKA_EC_POINT, point_der, (CK_ULONG)point_der_len);
	}
	if ((rc = hc_object_create(c->s, t, count, out, c->err)) == HC_OK)
		rc = remember(c, *out, CKO_PUBLIC_KEY, k->label, k->id, k->id_len);
	else
		hc_error_prefix(c->err, "creating the public key of '%s'", k->label);
out:
	BN_free(n);
	BN_free(e);
	ASN1_OCTET_STRING_free(os);
	OPENSSL_free(params);
	OPENSSL_free(point_der);
	return rc;
}

/* C_UnwrapKey of the private key: sensitive, extractable only as decided. */
static hc_rc unwrap_private(restore_ctx *c, const pending *k, CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM kw = c->unwrap_mech;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = k->key_type;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[14];
	CK_ULONG count = 0;
	hc_rc rc;

	ADD(t, count, CKA_CLASS, &cls, sizeof(cls));
	ADD(t, count, CKA_KEY_TYPE, &kt, sizeof(kt));
	ADD(t, count, CKA_TOKEN, &yes, sizeof(yes));
	ADD(t, count, CKA_PRIVATE, k->private_ ? &yes : &no, sizeof(CK_BBOOL));
	ADD(t, count, CKA_SENSITIVE, &yes, sizeof(yes));
	ADD(t, count, CKA_EXTRACTABLE, k->extractable ? &yes : &no, sizeof(CK_BBOOL));
	ADD(t, count, CKA_SIGN, k->sign ? &yes : &no, sizeof(CK_BBOOL));
	ADD(t, count, CKA_LABEL, k->label, strlen(k->label));
	ADD(t, count, CKA_ID, k->id, k->id_len);
	/* Other usages only when recorded: least privilege for everything else. */
	if (k->decrypt)
		ADD(t, count, CKA_DECRYPT, &yes, sizeof(yes));
	if (k->unwrap)
		ADD(t, count, CKA_UNWRAP, &yes, sizeof(yes));
	if (k->derive)
		ADD(t, count, CKA_DERIVE, &yes, sizeof(yes));
	if (k->always_authenticate)
		ADD(t, count, CKA_ALWAYS_AUTHENTICATE, &yes, sizeof(yes));
	rc = hc_key_unwrap(c->s, &kw, c->unwrapper, k->blob, k->blob_len, t, count, out, c->err);
	if (rc != HC_OK) {
		/* The tag verified, so this is the token's refusal, not a damaged file. */
		hc_error_prefix(c->err, "unwrapping '%s' into the token", k->label);
		return rc;
	}
	return remember(c, *out, CKO_PRIVATE_KEY, k->label, k->id, k->id_len);
}

/* An existing object the restored key now uses is not one to replace. */
static void keep(pending *k, CK_OBJECT_HANDLE h)
{
	for (size_t i = 0; i < k->conflict_count; i++) {
		if (k->conflicts[i] == h) {
			k->conflicts[i] = k->conflicts[--k->conflict_count];
			return;
		}
	}
}

/* A certificate object's URI: from the names it was stored with, else as the token has it. */
static hc_rc certificate_uri(restore_ctx *c, CK_OBJECT_HANDLE h, const char *label,
			     const unsigned char *id, size_t id_len, char **uri)
{
	hc_stored_cert had = {0};
	hc_rc rc;

	if (label) {
		*uri = hc_uri_for_object(&hc_session_slot(c->s)->token, CKO_CERTIFICATE, label, id,
					 id_len);
		return *uri ? HC_OK : hc_fail(c->err, HC_IO, "out of memory");
	}
	if ((rc = hc_certstore_read(c->s, h, &had, c->err)) != HC_OK)
		return rc;
	*uri = had.uri;
	had.uri = NULL;
	hc_stored_cert_clear(&had);
	return HC_OK;
}

/* One certificate beside the key: the token's identical one, or stored (and remembered). */
static hc_rc store_certificate(restore_ctx *c, pending *k, X509 *cert, const char *label,
			       const unsigned char *id, size_t id_len, CK_ULONG category,
			       char **uri)
{
	CK_OBJECT_HANDLE h;
	hc_rc rc;

	if ((rc = hc_certstore_find(c->s, cert, &h, c->err)) != HC_OK)
		return rc;
	if (h != CK_INVALID_HANDLE) {
		keep(k, h); /* the token already has it */
		return certificate_uri(c, h, NULL, NULL, 0, uri);
	}
	if ((rc = hc_certstore_put(c->s, cert, label, id, id_len, category, &h, c->err)) != HC_OK ||
	    (rc = remember(c, h, CKO_CERTIFICATE, label, id, id_len)) != HC_OK)
		return rc;
	return certificate_uri(c, h, label, id, id_len, uri);
}

static hc_rc store_certificates(restore_ctx *c, pending *k, hc_restore_item *item)
{
	char sha1[41];
	hc_rc rc;

	if (!k->cert)
		return HC_OK;
	if ((rc = store_certificate(c, k, k->cert, k->label, k->id, k->id_len,
				    HC_CERT_CATEGORY_TOKEN_USER, &item->cert_uri)) != HC_OK)
		return rc;
	item->ca_uris = calloc((size_t)sk_X509_num(k->chain) + 1, sizeof(*item->ca_uris));
	if (!item->ca_uris)
		return hc_fail(c->err, HC_IO, "out of memory");
	for (int i = 0; i < sk_X509_num(k->chain); i++) {
		X509 *ca = sk_X509_value(k->chain, i);
		unsigned char *id = NULL;
		size_t id_len = 0;
		char *label = NULL;

		if ((rc = hc_cert_default_id(ca, &id, &id_len, c->err)) == HC_OK) {
			label = hc_cert_default_label(ca);
			rc = label ? store_certificate(c, k, ca, label, id, id_len,
						       HC_CERT_CATEGORY_AUTHORITY, &item->ca_uris[i])
				   : hc_fail(c->err, HC_IO, "out of memory");
		}
		free(label);
		free(id);
		if (rc != HC_OK)
			return rc;
		item->ca_count++;
	}
	hc_x509_thumbprints(k->cert, sha1, item->cert_sha256);
	item->has_certificate = true;
	item->cert_subject = hc_x509_name_text(X509_get_subject_name(k->cert));
	return item->cert_subject ? HC_OK : hc_fail(c->err, HC_IO, "out of memory");
}

/* Objects already using the label or id: refused without --force. */
static hc_rc find_conflicts(restore_ctx *c, pending *k)
{
	CK_OBJECT_HANDLE *by_label = NULL, *by_id = NULL;
	size_t nl = 0, ni = 0;
	hc_rc rc;

	if ((rc = hc_key_find(c->s, CK_UNAVAILABLE_INFORMATION, k->label, NULL, 0, &by_label, &nl,
			      c->err)) != HC_OK ||
	    (rc = hc_key_find(c->s, CK_UNAVAILABLE_INFORMATION, NULL, k->id, k->id_len, &by_id, &ni,
			      c->err)) != HC_OK)
		goto out;
	if ((nl || ni) && !c->p->force) {
		rc = hc_fail(c->err, HC_CHECK,
			     "the token already holds %s '%s' (%zu object%s): nothing restored; "
			     "--force replaces it once the restored key is proved",
			     nl ? "label" : "the id of key", k->label, nl ? nl : ni,
			     (nl ? nl : ni) == 1 ? "" : "s");
		goto out;
	}
	k->conflicts = calloc(nl + ni + 1, sizeof(*k->conflicts));
	if (!k->conflicts) {
		rc = hc_fail(c->err, HC_IO, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nl + ni; i++) {
		CK_OBJECT_HANDLE h = i < nl ? by_label[i] : by_id[i - nl];
		bool seen = false;
		for (size_t j = 0; j < k->conflict_count; j++)
			seen = seen || k->conflicts[j] == h;
		if (!seen)
			k->conflicts[k->conflict_count++] = h;
	}
out:
	free(by_label);
	free(by_id);
	return rc;
}

/* Create, store, prove: everything for one key. */
static hc_rc restore_one(restore_ctx *c, pending *k, hc_restore_item *item)
{
	CK_OBJECT_HANDLE priv, pub;
	EVP_PKEY *proof_key;
	hc_rc rc;

	if ((rc = unwrap_private(c, k, &priv)) != HC_OK ||
	    (rc = create_public(c, k, &pub)) != HC_OK ||
	    (rc = store_certificates(c, k, item)) != HC_OK ||
	    (rc = hc_key_describe(c->s, priv, &item->key, c->err)) != HC_OK)
		return rc;
	item->public_uri = hc_uri_for_object(&hc_session_slot(c->s)->token, CKO_PUBLIC_KEY,
					     k->label, k->id, k->id_len);
	/* The proof: the token signs, the certificate's key (else the recorded one) verifies. */
	proof_key = k->cert ? X509_get0_pubkey(k->cert) : k->pub;
	return hc_key_prove(c->s, &item->key, proof_key, c->err);
}

static hc_rc restore_all(restore_ctx *c)
{
	hc_restore_result *out = c->out;
	hc_rc rc = HC_OK;

	for (size_t i = 0; i < c->count && rc == HC_OK; i++)
		rc = find_conflicts(c, &c->keys[i]);
	if (rc != HC_OK)
		return rc;
	out->items = calloc(c->count, sizeof(*out->items));
	if (!out->items)
		return hc_fail(c->err, HC_IO, "out of memory");
	for (size_t i = 0; i < c->count && rc == HC_OK; i++) {
		out->count++;
		rc = restore_one(c, &c->keys[i], &out->items[i]);
	}
	if (rc != HC_OK) {
		hc_rollback_run(&c->created, c->err);
		return rc;
	}
	/* Proved: now the replaced key may go. */
	for (size_t i = 0; i < c->count; i++) {
		for (size_t j = 0; j < c->keys[i].conflict_count; j++) {
			if (hc_object_destroy(c->s, c->keys[i].conflicts[j], c->err) != HC_OK) {
				hc_error_prefix(c->err, "the key was restored, but removing the one "
					       "it replaces failed");
				return c->err->rc;
			}
			out->items[i].replaced++;
		}
	}
	return HC_OK;
}

/* ---- .hsmb ----------------------------------------------------------- */

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
		return hc_fail_ssl(err, HC_USAGE, "%s: a certificate in the backup is not valid DER",
				   name);
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
		return hc_fail_ssl(c->err, HC_USAGE, "%s: key '%s': the recorded public key is "
				   "not a valid %s key", name, e->label, hc_ckk_name(e->key_type));
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
	k->extractable = c->p->exportable >= 0 ? c->p->exportable
					       : flag(e, CKA_EXTRACTABLE, false);
	k->private_ = flag(e, CKA_PRIVATE, true);
	k->sign = flag(e, CKA_SIGN, true);
	k->decrypt = flag(e, CKA_DECRYPT, false);
	k->unwrap = flag(e, CKA_UNWRAP, false);
	k->derive = flag(e, CKA_DERIVE, false);
	k->always_authenticate = flag(e, CKA_ALWAYS_AUTHENTICATE, false);
	if (e->certificate.len) {
		if ((rc = certificate_from(&e->certificate, &k->cert, name, c->err)) != HC_OK)
			return rc;
		if (!hc_public_keys_equal(X509_get0_pubkey(k->cert), k->pub))
			return hc_fail(c->err, HC_USAGE, "%s: key '%s': the certificate in the "
				       "backup is not the key's", name, e->label);
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
				if ((rc = hc_key_describe(c->s, found[0], &pubinfo, c->err)) != HC_OK)
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

/* Recipient mode: unwrap the KEK with the recipient key, then recover the MAC key. */
static hc_rc open_recipient(restore_ctx *c, const hc_backup_file *f, unsigned char mac_key[32])
{
	CK_MECHANISM oaep, kw = c->unwrap_mech;
	CK_RSA_PKCS_OAEP_PARAMS op;
	CK_OBJECT_HANDLE recipient, mac_obj = CK_INVALID_HANDLE;
	CK_ATTRIBUTE t[HC_SK_TEMPLATE_MAX], value = {CKA_VALUE, NULL, 0};
	CK_ULONG n = hc_backup_session_template(t, HC_SK_UNWRAP | HC_SK_SENSITIVE);
	hc_error local = {0};
	hc_rc rc;

	if ((rc = find_recipient(c, f, &recipient)) != HC_OK)
		return rc;
	hc_backup_oaep_mechanism(f->oaep_hash, &op, &oaep);
	if (hc_key_unwrap(c->s, &oaep, recipient, f->wrapped_kek.data, f->wrapped_kek.len, t, n,
			  &c->unwrapper, &local) != HC_OK) {
		if (local.has_ckr && local.ckr == CKR_KEY_FUNCTION_NOT_PERMITTED)
			return hc_fail(c->err, HC_CHECK,
				       "%s: the recipient key on this token may not unwrap "
				       "(CKA_UNWRAP is false); nothing restored",
				       c->p->name);
		return hc_fail(c->err, HC_CHECK,
			       "%s: the recipient key cannot open this backup (%s: %s): the file "
			       "was modified or is for another key; nothing restored",
			       c->p->name, local.function, hc_ckr_name(local.ckr));
	}
	/* The MAC key comes out as a non-sensitive session key: it guards no secret. */
	n = hc_backup_session_template(t, HC_SK_EXTRACTABLE);
	if (hc_key_unwrap(c->s, &kw, c->unwrapper, f->wrapped_mac_key.data, f->wrapped_mac_key.len,
			  t, n, &mac_obj, &local) != HC_OK)
		return hc_fail(c->err, HC_CHECK,
			       "%s: the backup was modified or damaged: its authentication key does "
			       "not unwrap (%s); nothing restored",
			       c->p->name, hc_ckr_name(local.ckr));
	rc = hc_attrs_get(c->s, mac_obj, &value, 1, c->err);
	if (rc == HC_OK && (!hc_attr_available(&value) || value.ulValueLen != 32))
		rc = hc_fail(c->err, HC_CHECK, "%s: the backup's authentication key is not 32 bytes",
			     c->p->name);
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
		rc = hc_fail(c->err, HC_CHECK, "%s: wrong passphrase (or the file's passphrase "
			     "parameters were modified); nothing restored", c->p->name);
		goto out;
	}
	memcpy(mac_key, keys.mac_key, 32);
	rc = hc_backup_session_aes(c->s, keys.kek, HC_SK_UNWRAP | HC_SK_SENSITIVE, &c->unwrapper,
				   c->err);
	if (rc != HC_OK)
		hc_error_prefix(c->err, "importing the passphrase key into the token");
out:
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc;
}

static hc_rc restore_hsmb(restore_ctx *c)
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
		rc = hc_fail(c->err, HC_USAGE, "--label: %s holds %zu keys", c->p->name, c->count);
		goto out;
	}
	for (size_t i = 0; i < f.entry_count && rc == HC_OK; i++)
		rc = pending_from_entry(c, &f.entries[i], &c->keys[i]);
	if (rc == HC_OK)
		rc = restore_all(c);
out:
	hc_backup_file_clear(&f);
	return rc;
}

/* ---- PKCS#12 --------------------------------------------------------- */

/* The key as PKCS#8, wrapped on the host (RFC 5649) under `kek`; the clear copy wiped. */
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

static hc_rc restore_pfx(restore_ctx *c)
{
	hc_x509_bundle bundle = {0};
	unsigned char kek[32];
	pending *k;
	hc_rc rc;

	if (!c->p->passphrase)
		return hc_fail(c->err, HC_USAGE, "%s is a PKCS#12 file: its passphrase is needed",
			       c->p->name);
	rc = hc_x509_load_mem(c->p->data, c->p->len, c->p->name, c->p->passphrase, &bundle,
			      c->err);
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
		rc = hc_fail(c->err, HC_USAGE, "%s: the key is %s: only RSA and EC keys are "
			     "supported", c->p->name, EVP_PKEY_get0_type_name(bundle.pkey));
		goto out;
	}
	if (!c->p->label && (!bundle.friendly_name || !*bundle.friendly_name)) {
		rc = hc_fail(c->err, HC_USAGE, "%s has no friendly name: name the key with --label",
			     c->p->name);
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
	k->sign = true;
	if ((rc = default_id(bundle.pkey, &k->id, &k->id_len, c->err)) != HC_OK)
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
		rc = hc_backup_session_aes(c->s, kek, HC_SK_UNWRAP | HC_SK_SENSITIVE,
					   &c->unwrapper, c->err);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (rc != HC_OK)
		goto out;
	rc = restore_all(c);
out:
	hc_x509_bundle_clear(&bundle);
	return rc;
}

hc_rc hc_restore(hc_session *s, const hc_restore_params *p, hc_restore_result *out,
		 hc_error *err)
{
	restore_ctx c = {.s = s, .p = p, .out = out, .err = err, .unwrapper = CK_INVALID_HANDLE,
			 .created = {.session = s}};
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->kind = hc_backup_detect(p->data, p->len);
	if (out->kind == HC_KIND_HSMB_PASSPHRASE || out->kind == HC_KIND_HSMB_RECIPIENT ||
	    out->kind == HC_KIND_PFX) {
		if ((rc = hc_wrap_negotiate(s, &c.wrap, err)) != HC_OK)
			return rc;
		c.unwrap_mech = (CK_MECHANISM){c.wrap.mechanism, NULL, 0};
	}
	switch (out->kind) {
	case HC_KIND_HSMB_PASSPHRASE:
	case HC_KIND_HSMB_RECIPIENT:
		if (c.wrap.mechanism == CK_UNAVAILABLE_INFORMATION) {
			rc = hc_wrap_refusal(s, &c.wrap, "restoring a .hsmb backup", err);
			break;
		}
		rc = restore_hsmb(&c);
		break;
	case HC_KIND_PFX:
		rc = restore_pfx(&c);
		break;
	default:
		rc = hc_fail(err, HC_USAGE, "%s is neither an hsmcert backup (.hsmb) nor a PKCS#12 "
			     "file", p->name);
	}
	if (c.unwrapper != CK_INVALID_HANDLE)
		hc_object_destroy(s, c.unwrapper, NULL);
	for (size_t i = 0; i < c.count; i++)
		pending_clear(&c.keys[i]);
	free(c.keys);
	hc_rollback_clear(&c.created);
	if (rc != HC_OK)
		hc_restore_result_clear(out);
	return rc;
}

void hc_restore_result_clear(hc_restore_result *r)
{
	for (size_t i = 0; i < r->count; i++) {
		hc_key_info_clear(&r->items[i].key);
		free(r->items[i].public_uri);
		free(r->items[i].cert_subject);
		free(r->items[i].cert_uri);
		for (size_t j = 0; j < r->items[i].ca_count; j++)
			free(r->items[i].ca_uris[j]);
		free(r->items[i].ca_uris);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}
