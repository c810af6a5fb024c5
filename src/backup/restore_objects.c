/*
 * SPEC: restore. The objects a restored key is made of: the private key
 * unwrapped inside the token, its public key, its certificate and chain,
 * each remembered so a failure removes what this run created.
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

/* Every object this run creates is remembered with the names its URI is made of. */
static hc_rc remember(restore_ctx *c, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls, const char *label,
		      const unsigned char *id, size_t id_len)
{
	return hc_rollback_created(&c->created, h, cls, label, id, id_len, c->err);
}

/* ---- public keys and ids --------------------------------------------- */

/* The default CKA_ID, as keygen gives it (hc_key_id_compute). */
hc_rc restore_objects_default_id(EVP_PKEY *pub, unsigned char **id, size_t *len, hc_error *err)
{
	unsigned char raw[1024];
	size_t raw_len = 0;
	BIGNUM *n = NULL;
	CK_KEY_TYPE type = CKK_EC;

	if (EVP_PKEY_is_a(pub, "RSA")) {
		type = CKK_RSA;
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
	*id = malloc(HC_KEY_ID_LEN);
	if (!*id)
		return hc_fail(err, HC_IO, "out of memory");
	hc_key_id_compute(type, raw, raw_len, *id);
	*len = HC_KEY_ID_LEN;
	return HC_OK;
}

/* The public key object beside the restored private key. */
hc_rc restore_objects_create_public(restore_ctx *c, const pending *k, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = k->key_type;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char nb[1024], eb[16], point[256], *params = NULL, *point_der = NULL;
	size_t point_len = 0;
	BIGNUM *n = NULL, *e = NULL;
	ASN1_OCTET_STRING *os = NULL;
	hc_template t = {0};
	int params_len = 0, point_der_len = 0;
	hc_rc rc;

	hc_template_add(&t, CKA_CLASS, &cls, sizeof(cls));
	hc_template_add(&t, CKA_KEY_TYPE, &kt, sizeof(kt));
	hc_template_add(&t, CKA_TOKEN, &yes, sizeof(yes));
	hc_template_add(&t, CKA_PRIVATE, &no, sizeof(no));
	hc_template_add(&t, CKA_VERIFY, &yes, sizeof(yes));
	hc_template_add(&t, CKA_LABEL, k->label, strlen(k->label));
	hc_template_add(&t, CKA_ID, k->mark, k->mark_len); /* the real one comes last */
	if (kt == CKK_RSA) {
		if (!EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
		    !EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_E, &e) ||
		    BN_num_bytes(n) > (int)sizeof(nb) || BN_num_bytes(e) > (int)sizeof(eb)) {
			rc = hc_fail_ssl(c->err, HC_USAGE, "reading the RSA public key");
			goto out;
		}
		hc_template_add(&t, CKA_MODULUS, nb, (CK_ULONG)BN_bn2bin(n, nb));
		hc_template_add(&t, CKA_PUBLIC_EXPONENT, eb, (CK_ULONG)BN_bn2bin(e, eb));
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
		hc_template_add(&t, CKA_EC_PARAMS, params, (CK_ULONG)params_len);
		/* CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40). */
		hc_template_add(&t, CKA_EC_POINT, point_der, (CK_ULONG)point_der_len);
	}
	if ((rc = hc_object_create(c->s, t.attrs, t.count, out, c->err)) == HC_OK)
		rc = remember(c, *out, CKO_PUBLIC_KEY, k->label, k->mark, k->mark_len);
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

/* C_UnwrapKey of the private key: sensitive, extractable only as decided, the id marked. */
hc_rc restore_objects_unwrap_private(restore_ctx *c, const pending *k, CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM kw = c->unwrap_mech;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = k->key_type;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	hc_template t = {0};
	CK_ULONG base;
	unsigned char point[256];
	size_t point_len = 0;
	hc_rc rc;

	/* An EC key's public point: what a token may file the private key under (NSS). */
	if (kt == CKK_EC &&
	    !EVP_PKEY_get_octet_string_param(k->pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					     sizeof(point), &point_len))
		point_len = 0;
	hc_template_add(&t, CKA_CLASS, &cls, sizeof(cls));
	hc_template_add(&t, CKA_KEY_TYPE, &kt, sizeof(kt));
	hc_template_add(&t, CKA_TOKEN, &yes, sizeof(yes));
	hc_template_add(&t, CKA_PRIVATE, k->private_ ? &yes : &no, sizeof(CK_BBOOL));
	hc_template_add(&t, CKA_SENSITIVE, &yes, sizeof(yes));
	hc_template_add(&t, CKA_EXTRACTABLE, k->extractable ? &yes : &no, sizeof(CK_BBOOL));
	hc_template_add(&t, CKA_LABEL, k->label, strlen(k->label));
	/* The marked id until the run completes (restore_keys gives the real one last). */
	hc_template_add(&t, CKA_ID, k->mark, k->mark_len);
	/*
	 * Exactly the recorded usages, the others false in so many words: a token
	 * fills what a template leaves out with its defaults (SoftHSM2: decrypt
	 * and unwrap true), and a key that only signed must only sign.
	 */
	if (k->always_authenticate)
		hc_template_add(&t, CKA_ALWAYS_AUTHENTICATE, &yes, sizeof(yes));
	base = t.count;
	hc_template_add(&t, CKA_SIGN, k->sign ? &yes : &no, sizeof(CK_BBOOL));
	hc_template_add(&t, CKA_DECRYPT, k->decrypt ? &yes : &no, sizeof(CK_BBOOL));
	hc_template_add(&t, CKA_UNWRAP, k->unwrap ? &yes : &no, sizeof(CK_BBOOL));
	hc_template_add(&t, CKA_DERIVE, k->derive ? &yes : &no, sizeof(CK_BBOOL));
	rc = hc_key_unwrap_private(c->s, &kw, c->unwrapper, k->blob, k->blob_len, t.attrs, t.count,
				   point, point_len, out, c->err);
	if (rc != HC_OK && c->err->has_ckr &&
	    (c->err->ckr == CKR_ATTRIBUTE_TYPE_INVALID ||
	     c->err->ckr == CKR_ATTRIBUTE_VALUE_INVALID ||
	     c->err->ckr == CKR_TEMPLATE_INCONSISTENT)) {
		/*
		 * A token that will not take a usage it lacks set to false (an RSA key's
		 * CKA_DERIVE, say): ask for the true ones only. added_usages
		 * reads the key back and refuses it if the token then added one.
		 */
		t.count = base;
		hc_template_add(&t, CKA_SIGN, &yes, sizeof(yes));
		if (k->decrypt)
			hc_template_add(&t, CKA_DECRYPT, &yes, sizeof(yes));
		if (k->unwrap)
			hc_template_add(&t, CKA_UNWRAP, &yes, sizeof(yes));
		if (k->derive)
			hc_template_add(&t, CKA_DERIVE, &yes, sizeof(yes));
		if (!k->sign)
			t.attrs[base] = (CK_ATTRIBUTE){CKA_SIGN, &no, sizeof(no)};
		hc_error_clear(c->err);
		rc = hc_key_unwrap_private(c->s, &kw, c->unwrapper, k->blob, k->blob_len, t.attrs,
					   t.count, point, point_len, out, c->err);
	}
	if (rc != HC_OK) {
		/* The tag verified, so this is the token's refusal, not a damaged file. */
		hc_error_prefix(c->err, "unwrapping '%s' into the token", k->label);
		return rc;
	}
	return remember(c, *out, CKO_PRIVATE_KEY, k->label, k->mark, k->mark_len);
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

/*
 * One certificate beside the key: the token's identical one, or stored (and
 * remembered) with `create_id`, which is the marked id for the key's own
 * certificate (*made: its handle, to get the real id last).
 */
static hc_rc store_certificate(restore_ctx *c, pending *k, X509 *cert, const char *label,
			       const unsigned char *id, size_t id_len,
			       const unsigned char *create_id, size_t create_id_len,
			       CK_ULONG category, char **uri, CK_OBJECT_HANDLE *made)
{
	CK_OBJECT_HANDLE h;
	hc_rc rc;

	*made = CK_INVALID_HANDLE;
	if ((rc = hc_certstore_find(c->s, cert, &h, c->err)) != HC_OK)
		return rc;
	if (h != CK_INVALID_HANDLE) {
		keep(k, h); /* the token already has it */
		return certificate_uri(c, h, NULL, NULL, 0, uri);
	}
	if ((rc = hc_certstore_put(c->s, cert, label, create_id, create_id_len, category, &h,
				   c->err)) != HC_OK ||
	    (rc = remember(c, h, CKO_CERTIFICATE, label, create_id, create_id_len)) != HC_OK)
		return rc;
	*made = h;
	return certificate_uri(c, h, label, id, id_len, uri);
}

hc_rc restore_objects_store_certificates(restore_ctx *c, pending *k, hc_restore_item *item)
{
	char sha1[41];
	hc_rc rc;

	if (!k->cert)
		return HC_OK;
	if ((rc = store_certificate(c, k, k->cert, k->label, k->id, k->id_len, k->mark, k->mark_len,
				    HC_CERT_CATEGORY_TOKEN_USER, &item->cert_uri, &k->cert_made)) !=
	    HC_OK)
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
			CK_OBJECT_HANDLE made;
			rc = label ? store_certificate(c, k, ca, label, id, id_len, id, id_len,
						       HC_CERT_CATEGORY_AUTHORITY,
						       &item->ca_uris[i], &made)
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
