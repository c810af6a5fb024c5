/* Key pair generation that keeps the security attributes the user asked for. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/*
 * The templates tried, most precise first (SPEC: templates are negotiated).
 * FULL: least privilege, every usage but the one asked said false, and
 * CKA_EXTRACTABLE as asked. NO_DENIALS: the usages not asked are left to the
 * token (tpm2-pkcs11 ties sign to decrypt and verify to encrypt and answers
 * a template that separates them with CKR_GENERAL_ERROR). MINIMAL: also no
 * CKA_EXTRACTABLE (some tokens reject it in a template); never used when an
 * exportable key was asked, since that would drop what the user asked for.
 */
enum attempt { FULL, NO_DENIALS, MINIMAL };

static CK_RV generate(hc_session *s, const hc_keypair_spec *spec, enum attempt level,
		      CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static CK_BYTE f4[] = {0x01, 0x00, 0x01};
	CK_ULONG bits = spec->rsa_bits;
	hc_template pt = {0}, kt = {0};
	CK_MECHANISM mech = {spec->key_type == CKK_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN
						       : CKM_EC_KEY_PAIR_GEN,
			     NULL, 0};
	size_t label_len = spec->label ? strlen(spec->label) : 0;

	/* A server key signs; a backup recipient's key only unwraps what is sent to it. */
	hc_template_add(&pt, CKA_TOKEN, spec->session ? &no : &yes, sizeof(CK_BBOOL));
	hc_template_add(&pt, spec->recipient ? CKA_WRAP : CKA_VERIFY, &yes, sizeof(yes));
	if (spec->key_type == CKK_RSA) {
		hc_template_add(&pt, CKA_MODULUS_BITS, &bits, sizeof(bits));
		hc_template_add(&pt, CKA_PUBLIC_EXPONENT, f4, sizeof(f4));
	} else {
		hc_template_add(&pt, CKA_EC_PARAMS, spec->ec_params, spec->ec_params_len);
	}
	hc_template_add(&kt, CKA_TOKEN, spec->session ? &no : &yes, sizeof(CK_BBOOL));
	hc_template_add(&kt, CKA_PRIVATE, &yes, sizeof(yes));
	hc_template_add(&kt, CKA_SENSITIVE, &yes, sizeof(yes));
	hc_template_add(&kt, spec->recipient ? CKA_UNWRAP : CKA_SIGN, &yes, sizeof(yes));
	if (level != MINIMAL)
		hc_template_add(&kt, CKA_EXTRACTABLE, spec->extractable ? &yes : &no,
				sizeof(CK_BBOOL));
	if (level == FULL) {
		hc_template_add(&pt, CKA_PRIVATE, &no, sizeof(no));
		hc_template_add(&pt, CKA_ENCRYPT, &no, sizeof(no));
		hc_template_add(&pt, spec->recipient ? CKA_VERIFY : CKA_WRAP, &no, sizeof(no));
		hc_template_add(&kt, CKA_DECRYPT, &no, sizeof(no));
		hc_template_add(&kt, spec->recipient ? CKA_SIGN : CKA_UNWRAP, &no, sizeof(no));
		hc_template_add(&kt, CKA_DERIVE, &no, sizeof(no));
		hc_template_add(&kt, CKA_SIGN_RECOVER, &no, sizeof(no));
		hc_template_add(&pt, CKA_VERIFY_RECOVER, &no, sizeof(no));
	}
	if (label_len) {
		hc_template_add(&pt, CKA_LABEL, spec->label, label_len);
		hc_template_add(&kt, CKA_LABEL, spec->label, label_len);
	}
	if (spec->id && spec->id_len) {
		hc_template_add(&pt, CKA_ID, spec->id, spec->id_len);
		hc_template_add(&kt, CKA_ID, spec->id, spec->id_len);
	}
	if (pt.overflow || kt.overflow)
		return CKR_HOST_MEMORY;
	return s->fn->C_GenerateKeyPair(s->handle, &mech, pt.attrs, pt.count, kt.attrs, kt.count,
					pub, priv);
}

/*
 * The answers real tokens give to a template they will not take. Some say
 * CKR_GENERAL_ERROR or CKR_FUNCTION_FAILED (tpm2-pkcs11), so those are tried
 * again too, after anything a failed call may have left was swept away.
 */
static bool template_refused(CK_RV rv)
{
	return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	       rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_READ_ONLY ||
	       rv == CKR_TEMPLATE_INCOMPLETE || rv == CKR_GENERAL_ERROR ||
	       rv == CKR_FUNCTION_FAILED;
}

/*
 * A failed C_GenerateKeyPair must leave nothing: destroy any key object that
 * carries the label (and id) asked for. keygen refuses an existing label or
 * id before it gets here, so whatever matches was made by the failed call.
 */
static void sweep(hc_session *s, const hc_keypair_spec *spec)
{
	CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
	hc_error ignored = {0};

	if (!spec->label || !*spec->label)
		return;
	for (size_t c = 0; c < 2; c++) {
		CK_ATTRIBUTE t[3] = {{CKA_CLASS, &classes[c], sizeof(classes[c])},
				     {CKA_LABEL, (void *)spec->label, strlen(spec->label)},
				     {CKA_ID, (void *)spec->id, spec->id_len}};
		CK_OBJECT_HANDLE *found = NULL;
		size_t n = 0;
		if (hc_objects_find(s, t, spec->id && spec->id_len ? 3 : 2, &found, &n, &ignored) !=
		    HC_OK)
			continue;
		for (size_t i = 0; i < n; i++)
			s->fn->C_DestroyObject(s->handle, found[i]);
		free(found);
	}
}

/* Usages the token set beyond those asked, read back from both keys. */
static void read_added_usages(hc_session *s, const hc_keypair_spec *spec, CK_OBJECT_HANDLE pub,
			      CK_OBJECT_HANDLE priv, hc_keypair_notes *notes)
{
	static const CK_ATTRIBUTE_TYPE priv_usages[] = {CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP,
							CKA_DERIVE, CKA_SIGN_RECOVER};
	static const CK_ATTRIBUTE_TYPE pub_usages[] = {CKA_VERIFY, CKA_ENCRYPT, CKA_WRAP,
						       CKA_VERIFY_RECOVER};
	CK_ATTRIBUTE_TYPE asked_priv = spec->recipient ? CKA_UNWRAP : CKA_SIGN;
	CK_ATTRIBUTE_TYPE asked_pub = spec->recipient ? CKA_WRAP : CKA_VERIFY;
	CK_ATTRIBUTE a[5];
	hc_error ignored = {0};

	for (size_t i = 0; i < 5; i++)
		a[i] = (CK_ATTRIBUTE){priv_usages[i], NULL, 0};
	if (hc_attrs_get(s, priv, a, 5, &ignored) == HC_OK) {
		for (size_t i = 0; i < 5; i++)
			if (a[i].type != asked_priv && hc_attr_bool(&a[i]) == 1 &&
			    notes->added_count < HC_KEYPAIR_MAX_ADDED)
				notes->added[notes->added_count++] = a[i].type;
		hc_attrs_release(a, 5);
	}
	for (size_t i = 0; i < 4; i++)
		a[i] = (CK_ATTRIBUTE){pub_usages[i], NULL, 0};
	if (pub != CK_INVALID_HANDLE && hc_attrs_get(s, pub, a, 4, &ignored) == HC_OK) {
		for (size_t i = 0; i < 4; i++)
			if (a[i].type != asked_pub && hc_attr_bool(&a[i]) == 1 &&
			    notes->added_count < HC_KEYPAIR_MAX_ADDED)
				notes->added[notes->added_count++] = a[i].type;
		hc_attrs_release(a, 4);
	}
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
				       "CKA_SENSITIVE=true (%s)",
				       err->has_ckr ? hc_ckr_name(err->ckr) : "unknown");
		notes->sensitive_set = true;
	}
	if (!spec->extractable && extractable != 0) {
		CK_ATTRIBUTE set = {CKA_EXTRACTABLE, &no, sizeof(no)};
		if (hc_attrs_set(s, priv, &set, 1, err) != HC_OK)
			return hc_fail(err, HC_TOKEN,
				       "the token made the private key extractable and refuses "
				       "CKA_EXTRACTABLE=false (%s): it cannot keep the key "
				       "non-exportable",
				       err->has_ckr ? hc_ckr_name(err->ckr) : "unknown");
		notes->extractable_cleared = true;
	}
	/* EXTRACTABLE cannot go false to true: a token that would not honour --exportable fails. */
	if (spec->extractable && extractable != 1)
		return hc_fail(err, HC_TOKEN,
			       "the token made the private key non-extractable although "
			       "an exportable key was asked");
	return HC_OK;
}

/* The token lists the generation mechanism, for this size: else a refusal naming it. */
static hc_rc check_mechanism(hc_session *s, const hc_keypair_spec *spec, hc_error *err)
{
	CK_MECHANISM_TYPE m = spec->key_type == CKK_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN
							: CKM_EC_KEY_PAIR_GEN;
	CK_MECHANISM_INFO info;
	CK_RV rv = s->fn->C_GetMechanismInfo(s->slot.id, m, &info);

	if (rv == CKR_MECHANISM_INVALID)
		return hc_fail(err, HC_TOKEN,
			       "the token cannot generate %s keys (%s is not in its mechanism "
			       "list): choose another key type, e.g. %s; nothing was made",
			       spec->key_type == CKK_RSA ? "RSA" : "EC",
			       spec->key_type == CKK_RSA ? "CKM_RSA_PKCS_KEY_PAIR_GEN"
							 : "CKM_EC_KEY_PAIR_GEN",
			       spec->key_type == CKK_RSA ? "ec:P-256" : "rsa:2048");
	if (rv != CKR_OK)
		return HC_OK; /* the generation call will say what is wrong */
	if (!(info.flags & CKF_GENERATE_KEY_PAIR))
		return hc_fail(err, HC_TOKEN,
			       "the token lists %s but not for key pair generation; nothing was "
			       "made",
			       hc_ckm_name(m));
	if (spec->key_type == CKK_RSA && info.ulMaxKeySize &&
	    (spec->rsa_bits < info.ulMinKeySize || spec->rsa_bits > info.ulMaxKeySize))
		return hc_fail(err, HC_TOKEN,
			       "the token generates RSA keys of %lu to %lu bits, not %lu: choose a "
			       "size in that range; nothing was made",
			       info.ulMinKeySize, info.ulMaxKeySize, spec->rsa_bits);
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

	if ((rc = check_mechanism(s, spec, err)) != HC_OK)
		return rc;
	rv = generate(s, spec, FULL, pub, priv);
	for (enum attempt level = NO_DENIALS; template_refused(rv) && level <= MINIMAL; level++) {
		sweep(s, spec);
		if (!notes->minimal_template)
			notes->full_template_rv = rv;
		notes->minimal_template = true;
		if (level == MINIMAL && spec->extractable) {
			/*
			 * The template with CKA_EXTRACTABLE=true was refused twice: the
			 * token will not make a sensitive key that can leave it wrapped.
			 * Dropping the attribute would make a key that cannot be backed up.
			 */
			return hc_fail_p11(err, "C_GenerateKeyPair", rv,
					   "the token refuses to generate a sensitive %s key that "
					   "is extractable (CKA_EXTRACTABLE=true with "
					   "CKA_SENSITIVE=true); no key was made. Generate a "
					   "non-exportable key, or use a token that can back keys "
					   "up",
					   what);
		}
		rv = generate(s, spec, level, pub, priv);
	}
	if (rv != CKR_OK) {
		sweep(s, spec);
		return hc_fail_p11(err, "C_GenerateKeyPair", rv, "generating %s key pair", what);
	}

	/* On failure the handles stay set: the caller removes the pair and says how it went. */
	rc = enforce(s, spec, *priv, notes, err);
	if (rc == HC_OK)
		read_added_usages(s, spec, *pub, *priv, notes);
	return rc;
}
