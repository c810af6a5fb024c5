/* SPEC: keygen — a key pair generated inside the token, refused on duplicates. */
#include "hsmcert/keygen.h"

#include "hsmcert/hex.h"

#include <openssl/obj_mac.h>
#include <stdlib.h>
#include <string.h>

/* --if-missing: the existing key must be the kind asked for, or it is not "the same". */
static hc_rc adopt_existing(hc_session *s, const hc_keygen_params *p, CK_OBJECT_HANDLE priv,
			    hc_keygen_result *out, hc_error *err)
{
	char want[32], have[32];
	hc_rc rc = hc_key_describe(s, priv, &out->key, err);

	if (rc != HC_OK)
		return rc;
	hc_keytype_format(&p->type, want, sizeof(want));
	hc_keytype_format(&out->key.type, have, sizeof(have));
	if (strcmp(want, have) != 0)
		return hc_fail(err, HC_CHECK, "key '%s' exists but is %s, not %s: %s", p->label,
			       have, want, out->key.uri);
	out->public_uri = hc_uri_for_object(&hc_session_slot(s)->token, CKO_PUBLIC_KEY,
					    out->key.label, out->key.id, out->key.id_len);
	out->created = false;
	return HC_OK;
}

/* The label (and a given id) must be new on the token; returns the existing key if any. */
static hc_rc check_unused(hc_session *s, const hc_keygen_params *p, CK_OBJECT_HANDLE *existing,
			  hc_error *err)
{
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_rc rc;

	*existing = CK_INVALID_HANDLE;
	if (p->label) {
		rc = hc_key_find(s, CK_UNAVAILABLE_INFORMATION, p->label, p->id, p->id_len, &found,
				 &n, err);
		if (rc != HC_OK)
			return rc;
		free(found);
		if (n > 0 && p->if_missing) {
			rc = hc_key_find(s, CKO_PRIVATE_KEY, p->label, p->id, p->id_len, &found, &n,
					 err);
			if (rc == HC_OK && n == 1)
				*existing = found[0];
			free(found);
			if (rc != HC_OK)
				return rc;
			if (*existing != CK_INVALID_HANDLE)
				return HC_OK;
			return hc_fail(err, HC_CHECK,
				       "label '%s' is in use on the token, but not by exactly one "
				       "private key",
				       p->label);
		}
		rc = hc_key_find(s, CK_UNAVAILABLE_INFORMATION, p->label, NULL, 0, &found, &n, err);
		if (rc != HC_OK)
			return rc;
		free(found);
		if (n > 0)
			return hc_error_hint(err, HC_HINT_IF_MISSING,
					     hc_fail(err, HC_CHECK,
						     "label '%s' already exists on the token "
						     "(%zu object%s)",
						     p->label, n, n == 1 ? "" : "s"));
	}
	if (p->id) {
		rc = hc_key_find(s, CK_UNAVAILABLE_INFORMATION, NULL, p->id, p->id_len, &found, &n,
				 err);
		if (rc != HC_OK)
			return rc;
		free(found);
		if (n > 0) {
			char *hex = hc_hex_encode(p->id, p->id_len);
			rc = hc_fail(err, HC_CHECK, "id %s already exists on the token (%zu "
				     "object%s)", hex ? hex : "?", n, n == 1 ? "" : "s");
			free(hex);
			return rc;
		}
	}
	return HC_OK;
}

/* Give both halves the SHA-1 id of the public key, unless someone already has it. */
static hc_rc assign_derived_id(hc_session *s, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
			       hc_error *err)
{
	unsigned char id[20];
	hc_key_info info;
	CK_OBJECT_HANDLE *found = NULL;
	CK_ATTRIBUTE a = {CKA_ID, id, sizeof(id)};
	size_t n = 0;
	hc_rc rc;

	rc = hc_key_describe(s, pub, &info, err);
	if (rc != HC_OK)
		return rc;
	rc = hc_key_derive_id(&info, id, err);
	hc_key_info_clear(&info);
	if (rc != HC_OK)
		return rc;
	rc = hc_key_find(s, CK_UNAVAILABLE_INFORMATION, NULL, id, sizeof(id), &found, &n, err);
	if (rc != HC_OK)
		return rc;
	/*
	 * Tokens that set CKA_ID themselves (the same SHA-1 convention) return
	 * the new pair here: only other objects are a collision.
	 */
	for (size_t i = 0; i < n; i++) {
		if (found[i] != pub && found[i] != priv) {
			free(found);
			return hc_fail(err, HC_CHECK, "the new key's derived id is already in use");
		}
	}
	free(found);
	if ((rc = hc_attrs_set(s, pub, &a, 1, err)) != HC_OK ||
	    (rc = hc_attrs_set(s, priv, &a, 1, err)) != HC_OK)
		hc_error_prefix(err, "setting the key id");
	return rc;
}

hc_rc hc_keygen(hc_session *s, const hc_keygen_params *p, hc_keygen_result *out, hc_error *err)
{
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE, existing;
	hc_keypair_spec spec = {0};
	unsigned char *params = NULL;
	size_t params_len = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	rc = check_unused(s, p, &existing, err);
	if (rc != HC_OK)
		return rc;
	if (existing != CK_INVALID_HANDLE)
		return adopt_existing(s, p, existing, out, err);

	spec.key_type = p->type.ckk;
	spec.rsa_bits = p->type.bits;
	spec.label = p->label;
	spec.id = p->id;
	spec.id_len = p->id_len;
	spec.extractable = p->exportable;
	spec.recipient = p->recipient;
	if (p->recipient && p->type.ckk != CKK_RSA)
		return hc_error_hint(err, HC_HINT_RECIPIENT_TYPE,
				     hc_fail(err, HC_USAGE, "a backup recipient key is RSA (backups "
					     "are sent to it with RSA-OAEP)"));
	if (p->type.ckk == CKK_EC) {
		rc = hc_keytype_ec_params(&p->type, &params, &params_len, err);
		if (rc != HC_OK)
			return rc;
		spec.ec_params = params;
		spec.ec_params_len = params_len;
	}
	rc = hc_keypair_generate(s, &spec, &pub, &priv, &out->notes, err);
	OPENSSL_free(params);
	if (rc != HC_OK)
		return rc;

	if (!p->id)
		rc = assign_derived_id(s, pub, priv, err);
	if (rc == HC_OK)
		rc = hc_key_describe(s, priv, &out->key, err);
	if (rc == HC_OK) {
		out->public_uri = hc_uri_for_object(&hc_session_slot(s)->token, CKO_PUBLIC_KEY,
						    out->key.label, out->key.id, out->key.id_len);
		out->created = true;
		return HC_OK;
	}

	/* No half-made key pairs: whatever failed after generation removes both. */
	hc_object_destroy(s, priv, NULL);
	hc_object_destroy(s, pub, NULL);
	hc_keygen_result_clear(out);
	return rc;
}

void hc_keygen_result_clear(hc_keygen_result *r)
{
	hc_key_info_clear(&r->key);
	free(r->public_uri);
	r->public_uri = NULL;
}
