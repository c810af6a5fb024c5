/* Key pair generation that keeps the security attributes the user asked for. */
#include "internal.h"

#include <string.h>

#define ADD(tmpl, n, t, p, l) ((tmpl)[(n)++] = (CK_ATTRIBUTE){(t), (void *)(p), (l)})

static CK_RV generate(hc_session *s, const hc_keypair_spec *spec, bool minimal,
		      CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static CK_BYTE f4[] = {0x01, 0x00, 0x01};
	CK_ULONG bits = spec->rsa_bits;
	CK_ATTRIBUTE pt[10], kt[12];
	CK_ULONG np = 0, nk = 0;
	CK_MECHANISM mech = {spec->key_type == CKK_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN
						       : CKM_EC_KEY_PAIR_GEN,
			     NULL, 0};
	size_t label_len = spec->label ? strlen(spec->label) : 0;

	/* A server key signs; a backup recipient's key only unwraps what is sent to it. */
	ADD(pt, np, CKA_TOKEN, &yes, sizeof(yes));
	ADD(pt, np, spec->recipient ? CKA_WRAP : CKA_VERIFY, &yes, sizeof(yes));
	if (spec->key_type == CKK_RSA) {
		ADD(pt, np, CKA_MODULUS_BITS, &bits, sizeof(bits));
		ADD(pt, np, CKA_PUBLIC_EXPONENT, f4, sizeof(f4));
	} else {
		ADD(pt, np, CKA_EC_PARAMS, spec->ec_params, spec->ec_params_len);
	}
	ADD(kt, nk, CKA_TOKEN, &yes, sizeof(yes));
	ADD(kt, nk, CKA_PRIVATE, &yes, sizeof(yes));
	ADD(kt, nk, CKA_SENSITIVE, &yes, sizeof(yes));
	ADD(kt, nk, spec->recipient ? CKA_UNWRAP : CKA_SIGN, &yes, sizeof(yes));
	if (!minimal) {
		/*
		 * A server key signs and does nothing else (least privilege). Tokens
		 * that reject any of these get the minimal template instead.
		 */
		ADD(pt, np, CKA_PRIVATE, &no, sizeof(no));
		ADD(pt, np, CKA_ENCRYPT, &no, sizeof(no));
		ADD(pt, np, spec->recipient ? CKA_VERIFY : CKA_WRAP, &no, sizeof(no));
		ADD(kt, nk, CKA_EXTRACTABLE, spec->extractable ? &yes : &no, sizeof(CK_BBOOL));
		ADD(kt, nk, CKA_DECRYPT, &no, sizeof(no));
		ADD(kt, nk, spec->recipient ? CKA_SIGN : CKA_UNWRAP, &no, sizeof(no));
	}
	if (label_len) {
		ADD(pt, np, CKA_LABEL, spec->label, label_len);
		ADD(kt, nk, CKA_LABEL, spec->label, label_len);
	}
	if (spec->id && spec->id_len) {
		ADD(pt, np, CKA_ID, spec->id, spec->id_len);
		ADD(kt, nk, CKA_ID, spec->id, spec->id_len);
	}
	return s->fn->C_GenerateKeyPair(s->handle, &mech, pt, np, kt, nk, pub, priv);
}

static bool template_refused(CK_RV rv)
{
	return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	       rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_READ_ONLY;
}

/* Make the token's key say what was asked: sensitive, and extractable only if asked. */
static hc_rc enforce(hc_session *s, const hc_keypair_spec *spec, CK_OBJECT_HANDLE priv,
		     hc_keypair_notes *notes, hc_error *err)
{
	CK_ATTRIBUTE a[2] = {{CKA_SENSITIVE, NULL, 0}, {CKA_EXTRACTABLE, NULL, 0}};
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	int sensitive, extractable;
	hc_rc rc;

	rc = hc_attrs_get(s, priv, a, 2, err);
	if (rc != HC_OK)
		return rc;
	sensitive = hc_attr_bool(&a[0]);
	extractable = hc_attr_bool(&a[1]);
	hc_attrs_release(a, 2);

	if (sensitive != 1) {
		CK_ATTRIBUTE set = {CKA_SENSITIVE, &yes, sizeof(yes)};
		if (hc_attrs_set(s, priv, &set, 1, err) != HC_OK)
			return hc_fail(err, HC_TOKEN,
				       "the token made the private key non-sensitive and refuses "
				       "CKA_SENSITIVE=true (%s): key removed",
				       err->has_ckr ? hc_ckr_name(err->ckr) : "unknown");
		notes->sensitive_set = true;
	}
	if (!spec->extractable && extractable != 0) {
		CK_ATTRIBUTE set = {CKA_EXTRACTABLE, &no, sizeof(no)};
		if (hc_attrs_set(s, priv, &set, 1, err) != HC_OK)
			return hc_fail(err, HC_TOKEN,
				       "the token made the private key extractable and refuses "
				       "CKA_EXTRACTABLE=false (%s): it cannot keep the key "
				       "non-exportable; key removed",
				       err->has_ckr ? hc_ckr_name(err->ckr) : "unknown");
		notes->extractable_cleared = true;
	}
	/* EXTRACTABLE cannot go false to true: a token that would not honour --exportable fails. */
	if (spec->extractable && extractable != 1)
		return hc_fail(err, HC_TOKEN,
			       "the token made the private key non-extractable although "
			       "an exportable key was asked; key removed");
	return HC_OK;
}

hc_rc hc_keypair_generate(hc_session *s, const hc_keypair_spec *spec, CK_OBJECT_HANDLE *pub,
			  CK_OBJECT_HANDLE *priv, hc_keypair_notes *notes, hc_error *err)
{
	const char *what = spec->key_type == CKK_RSA ? "RSA" : "EC";
	hc_keypair_notes local;
	hc_rc rc;
	CK_RV rv;

	if (!notes)
		notes = &local;
	memset(notes, 0, sizeof(*notes));
	*pub = *priv = CK_INVALID_HANDLE;

	rv = generate(s, spec, false, pub, priv);
	if (template_refused(rv)) {
		notes->minimal_template = true;
		notes->full_template_rv = rv;
		rv = generate(s, spec, true, pub, priv);
	}
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_GenerateKeyPair", rv, "generating %s key pair", what);

	rc = enforce(s, spec, *priv, notes, err);
	if (rc != HC_OK) {
		s->fn->C_DestroyObject(s->handle, *priv);
		s->fn->C_DestroyObject(s->handle, *pub);
		*pub = *priv = CK_INVALID_HANDLE;
	}
	return rc;
}
