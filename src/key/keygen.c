/* SPEC: keygen — a key pair generated inside the token, refused on duplicates. */
#include "hsmcert/keygen.h"

#include "hsmcert/hex.h"
#include "hsmcert/rollback.h"

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
	if (strcmp(want, have) != 0) {
		hc_fail(err, HC_CHECK, "key '%s' exists but is %s, not %s: %s", p->label, have,
			want, out->key.uri);
		hc_keygen_result_clear(out);
		return HC_CHECK;
	}
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
			rc = hc_fail(err, HC_CHECK,
				     "id %s already exists on the token (%zu "
				     "object%s)",
				     hex ? hex : "?", n, n == 1 ? "" : "s");
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
	unsigned char id[HC_KEY_ID_LEN];
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
	/* The private half first: a public key still pending names an unfinished pair. */
	if ((rc = hc_attrs_set(s, priv, &a, 1, err)) != HC_OK ||
	    (rc = hc_attrs_set(s, pub, &a, 1, err)) != HC_OK)
		hc_error_prefix(err, "setting the key id");
	return rc;
}

/*
 * A pair is generated with this CKA_ID when its id is derived from its
 * public key, and carries it only until the derived id is set: a pair that
 * still has it was left by a run killed in between (issue 14.5). It was
 * never reported to anyone, so the next run for the same label removes it
 * and starts again, reaching the end state of an uninterrupted run.
 */
static const unsigned char pending_id[] = "hsmcert:pending";
#define PENDING_ID_LEN (sizeof(pending_id) - 1)

/* The private half of a pending public key, if it already got its derived id. */
static hc_rc find_partner(hc_session *s, const char *label, CK_OBJECT_HANDLE pub,
			  CK_OBJECT_HANDLE **found, size_t *n, hc_error *err)
{
	unsigned char id[20];
	hc_key_info info;
	hc_rc rc;

	*found = NULL;
	*n = 0;
	if ((rc = hc_key_describe(s, pub, &info, err)) != HC_OK)
		return rc;
	rc = info.cls == CKO_PUBLIC_KEY ? hc_key_derive_id(&info, id, err) : HC_OK;
	if (rc == HC_OK && info.cls == CKO_PUBLIC_KEY)
		rc = hc_key_find(s, CKO_PRIVATE_KEY, label, id, sizeof(id), found, n, err);
	hc_key_info_clear(&info);
	return rc;
}

hc_rc hc_keygen_remove_interrupted(hc_session *s, const char *label, hc_error *err)
{
	CK_OBJECT_HANDLE *found = NULL, *partner = NULL;
	size_t n = 0, np = 0;
	hc_rc rc = hc_key_find(s, CK_UNAVAILABLE_INFORMATION, label, pending_id, PENDING_ID_LEN,
			       &found, &n, err);

	for (size_t i = 0; rc == HC_OK && i < n; i++) {
		if ((rc = find_partner(s, label, found[i], &partner, &np, err)) == HC_OK)
			for (size_t j = 0; rc == HC_OK && j < np; j++)
				rc = hc_object_destroy(s, partner[j], err);
		free(partner);
		partner = NULL;
		if (rc == HC_OK)
			rc = hc_object_destroy(s, found[i], err);
	}
	if (rc != HC_OK)
		hc_error_prefix(err, "removing the key pair '%s' an interrupted run left", label);
	free(found);
	return rc;
}

hc_rc hc_keygen(hc_session *s, const hc_keygen_params *p, hc_keygen_result *out, hc_error *err)
{
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE, existing;
	hc_rollback undo = {.session = s};
	hc_keypair_spec spec = {0};
	unsigned char *params = NULL;
	size_t params_len = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (p->label && !p->id && (rc = hc_keygen_remove_interrupted(s, p->label, err)) != HC_OK)
		return rc;
	rc = check_unused(s, p, &existing, err);
	if (rc != HC_OK)
		return rc;
	if (existing != CK_INVALID_HANDLE)
		return adopt_existing(s, p, existing, out, err);

	spec.key_type = p->type.ckk;
	spec.rsa_bits = p->type.bits;
	spec.label = p->label;
	spec.id = p->id ? p->id : pending_id;
	spec.id_len = p->id ? p->id_len : PENDING_ID_LEN;
	spec.extractable = p->exportable;
	spec.recipient = p->recipient;
	if (p->recipient && p->type.ckk != CKK_RSA)
		return hc_error_hint(err, HC_HINT_RECIPIENT_TYPE,
				     hc_fail(err, HC_USAGE,
					     "a backup recipient key is RSA (backups "
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
	if (priv == CK_INVALID_HANDLE)
		return rc;
	/*
	 * No half-made key pairs: whatever fails from here removes both halves,
	 * by the handles the token gave (a search now could fail too), and the
	 * message says whether that worked or what is left (issue 14.3).
	 */
	{
		hc_error log_err = {0};
		bool logged = hc_rollback_created(&undo, priv, CKO_PRIVATE_KEY, p->label, p->id,
						  p->id_len, &log_err) == HC_OK;
		/* A half the log cannot hold is destroyed at once (hc_rollback_created). */
		if (!logged)
			hc_object_destroy(s, pub, NULL);
		if (!logged || hc_rollback_created(&undo, pub, CKO_PUBLIC_KEY, p->label, p->id,
						   p->id_len, &log_err) != HC_OK) {
			if (rc == HC_OK)
				*err = log_err;
			rc = err->rc;
			goto fail;
		}
	}
	if (rc == HC_OK && !p->id)
		rc = assign_derived_id(s, pub, priv, err);
	if (rc == HC_OK)
		rc = hc_key_describe(s, priv, &out->key, err);
	if (rc == HC_OK) {
		out->public_handle = pub;
		out->public_uri = hc_uri_for_object(&hc_session_slot(s)->token, CKO_PUBLIC_KEY,
						    out->key.label, out->key.id, out->key.id_len);
		out->created = true;
		hc_rollback_clear(&undo);
		return HC_OK;
	}
fail:
	hc_rollback_run(&undo, err);
	hc_keygen_result_clear(out);
	return rc;
}

void hc_keygen_result_clear(hc_keygen_result *r)
{
	hc_key_info_clear(&r->key);
	free(r->public_uri);
	r->public_uri = NULL;
}

hc_rc hc_keygen_undoable(hc_session *s, const hc_keygen_params *params, hc_rollback *undo,
			 hc_keygen_result *out, hc_error *err)
{
	const hc_key_info *key = &out->key;
	hc_rc rc;

	if ((rc = hc_keygen(s, params, out, err)) != HC_OK || !out->created)
		return rc;
	/*
	 * Logged by the handles keygen got: a search now could fail, and a half
	 * it did not find would stay behind while the message said all was undone.
	 */
	rc = hc_rollback_created(undo, key->handle, CKO_PRIVATE_KEY, key->label, key->id,
				 key->id_len, err);
	/* Out of memory even for the log: the private key went at once; its public half too. */
	if (rc != HC_OK)
		hc_object_destroy(s, out->public_handle, NULL);
	else
		rc = hc_rollback_created(undo, out->public_handle, CKO_PUBLIC_KEY, key->label,
					 key->id, key->id_len, err);
	if (rc != HC_OK) {
		hc_rollback_run(undo, err);
		hc_keygen_result_clear(out);
	}
	return rc;
}
