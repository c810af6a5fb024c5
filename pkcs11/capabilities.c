/* SPEC: tokens --capabilities — probes with session objects, nothing left behind. */
#include "hsmcert/capabilities.h"

#include "internal.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_LABEL "hsmcert-capability-probe"

/* P-256 and P-384 as DER OIDs, as CKA_EC_PARAMS carries them. */
static const unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

typedef struct probe {
	hc_session *s;
	hc_capabilities *out;
	hc_mechanism *mechs;
	size_t nmechs;
	CK_OBJECT_HANDLE rsa_pub, rsa_priv, ec_pub, ec_priv;
	hc_wrap_choice wrap;
} probe;

const char *hc_cap_state_name(hc_cap_state state)
{
	return state == HC_CAP_YES ? "yes" : state == HC_CAP_NO ? "no" : "unknown";
}

static void add(probe *p, const char *id, const char *what, hc_cap_state state, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));
static void add(probe *p, const char *id, const char *what, hc_cap_state state, const char *fmt,
		...)
{
	hc_capability *c;
	va_list ap;

	if (p->out->count >= HC_CAP_MAX)
		return;
	c = &p->out->items[p->out->count++];
	c->id = id;
	c->what = what;
	c->state = state;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

static const hc_mechanism *find(const probe *p, CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < p->nmechs; i++)
		if (p->mechs[i].type == type)
			return &p->mechs[i];
	return NULL;
}

static void destroy(probe *p, CK_OBJECT_HANDLE *h)
{
	if (*h == CK_INVALID_HANDLE)
		return;
	if (p->s->fn->C_DestroyObject(p->s->handle, *h) != CKR_OK)
		p->out->left_behind++;
	*h = CK_INVALID_HANDLE;
}

/* ---- key generation ---------------------------------------------------- */

static void keygen(probe *p, const char *id, const char *what, CK_KEY_TYPE kt, CK_ULONG bits,
		   const unsigned char *params, size_t params_len, bool generate,
		   CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM_TYPE m = kt == CKK_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN;
	const hc_mechanism *mi = find(p, m);
	hc_keypair_spec spec = {.key_type = kt,
				.rsa_bits = bits,
				.ec_params = params,
				.ec_params_len = params_len,
				.label = PROBE_LABEL,
				.session = true};
	hc_keypair_notes notes;
	hc_error err = {0};

	if (!mi || !(mi->info.flags & CKF_GENERATE_KEY_PAIR)) {
		add(p, id, what, HC_CAP_NO, "%s is not in the mechanism list",
		    kt == CKK_RSA ? "CKM_RSA_PKCS_KEY_PAIR_GEN" : "CKM_EC_KEY_PAIR_GEN");
		return;
	}
	if (kt == CKK_RSA && mi->info.ulMaxKeySize &&
	    (bits < mi->info.ulMinKeySize || bits > mi->info.ulMaxKeySize)) {
		add(p, id, what, HC_CAP_NO, "the token generates RSA keys of %lu to %lu bits",
		    mi->info.ulMinKeySize, mi->info.ulMaxKeySize);
		return;
	}
	if (!generate) {
		add(p, id, what, HC_CAP_YES, "mechanism listed for this size (not generated)");
		return;
	}
	if (hc_keypair_generate(p->s, &spec, pub, priv, &notes, &err) != HC_OK) {
		add(p, id, what, HC_CAP_UNKNOWN,
		    "listed; a session-object key pair was refused (%s), so no key was made to "
		    "prove it (keygen makes token objects and negotiates the template)",
		    err.has_ckr ? hc_ckr_name(err.ckr) : err.message);
		return;
	}
	{
		char added[160] = "";
		for (size_t i = 0; i < notes.added_count; i++)
			snprintf(added + strlen(added), sizeof(added) - strlen(added), "%s%s",
				 i ? ", " : "; the token adds ", hc_cka_name(notes.added[i]));
		add(p, id, what, HC_CAP_YES, "generated (session objects) with the %s template%s",
		    notes.minimal_template ? "smaller" : "least-privilege", added);
	}
}

/* ---- signatures for CSRs ----------------------------------------------- */

static CK_RV try_sign(probe *p, CK_MECHANISM *mech, CK_OBJECT_HANDLE key, CK_ULONG len)
{
	static const unsigned char data[64] = {0x30, 0x31, 0x30, 0x0d};
	const hc_mechanism *mi = find(p, mech->mechanism);
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	hc_error err = {0};
	CK_RV rv;

	if (!mi || !(mi->info.flags & CKF_SIGN))
		return CKR_MECHANISM_INVALID;
	if (key == CK_INVALID_HANDLE)
		return CKR_KEY_HANDLE_INVALID;
	rv = hc_sign(p->s, key, mech, data, len, &sig, &sig_len, &err) == HC_OK
		     ? CKR_OK
		     : (err.has_ckr ? err.ckr : CKR_GENERAL_ERROR);
	free(sig);
	return rv;
}

/*
 * A CSR signature the way src/key/sign.c makes it: the hash-and-sign
 * mechanism, else the raw one over a digest made on the host.
 */
static void signature(probe *p, const char *id, const char *what, CK_MECHANISM *mech,
		      CK_MECHANISM *raw, CK_ULONG raw_len, CK_OBJECT_HANDLE key)
{
	CK_RV rv = try_sign(p, mech, key, 32), rv_raw = CKR_MECHANISM_INVALID;

	if (rv == CKR_OK) {
		add(p, id, what, HC_CAP_YES, "%s signed with a probe key",
		    hc_ckm_name(mech->mechanism));
		return;
	}
	if (raw && (rv_raw = try_sign(p, raw, key, raw_len)) == CKR_OK) {
		add(p, id, what, HC_CAP_YES, "%s signed a digest made on the host (%s: %s)",
		    hc_ckm_name(raw->mechanism), hc_ckm_name(mech->mechanism),
		    rv == CKR_MECHANISM_INVALID ? "not listed" : hc_ckr_name(rv));
		return;
	}
	if (rv == CKR_KEY_HANDLE_INVALID || rv_raw == CKR_KEY_HANDLE_INVALID)
		add(p, id, what, HC_CAP_UNKNOWN, "%s listed; not tried (no session probe key)",
		    hc_ckm_name(rv == CKR_KEY_HANDLE_INVALID ? mech->mechanism : raw->mechanism));
	else
		add(p, id, what, HC_CAP_NO, "%s: %s%s%s%s", hc_ckm_name(mech->mechanism),
		    rv == CKR_MECHANISM_INVALID ? "not listed for signing" : hc_ckr_name(rv),
		    raw ? "; " : "", raw ? hc_ckm_name(raw->mechanism) : "",
		    raw ? (rv_raw == CKR_MECHANISM_INVALID ? ": not listed" : ": refused") : "");
}

/* ---- certificates ------------------------------------------------------ */

static X509 *throwaway_certificate(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	bool ok = k && x && n &&
		  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					     (const unsigned char *)PROBE_LABEL, -1, -1, 0) &&
		  X509_set_subject_name(x, n) && X509_set_issuer_name(x, n) &&
		  ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
		  X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
		  X509_gmtime_adj(X509_getm_notAfter(x), 3600) && X509_set_pubkey(x, k) &&
		  X509_sign(x, k, EVP_sha256());

	X509_NAME_free(n);
	EVP_PKEY_free(k);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void certificate(probe *p)
{
	static const CK_ATTRIBUTE_TYPE optional[] = {CKA_CERTIFICATE_CATEGORY};
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE type = CKC_X_509;
	CK_ULONG category = 1; /* token user */
	CK_BBOOL no = CK_FALSE;
	X509 *x = throwaway_certificate();
	unsigned char *der = NULL, *subject = NULL, *serial = NULL;
	int der_len = x ? i2d_X509(x, &der) : -1;
	int subject_len = x ? i2d_X509_NAME(X509_get_subject_name(x), &subject) : -1;
	int serial_len = x ? i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &serial) : -1;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	hc_error err = {0};
	bool dropped = false;

	if (der_len <= 0 || subject_len <= 0 || serial_len <= 0) {
		add(p, "certificate_import", "certificate import", HC_CAP_UNKNOWN,
		    "could not make a test certificate");
		goto out;
	}
	{
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &cls, sizeof(cls)},
			{CKA_CERTIFICATE_TYPE, &type, sizeof(type)},
			{CKA_TOKEN, &no, sizeof(no)},
			{CKA_CERTIFICATE_CATEGORY, &category, sizeof(category)},
			{CKA_VALUE, der, (CK_ULONG)der_len},
			{CKA_SUBJECT, subject, (CK_ULONG)subject_len},
			/* self-signed: the issuer is the subject (NSS needs issuer and serial) */
			{CKA_ISSUER, subject, (CK_ULONG)subject_len},
			{CKA_SERIAL_NUMBER, serial, (CK_ULONG)serial_len},
			{CKA_LABEL, PROBE_LABEL, sizeof(PROBE_LABEL) - 1},
			{CKA_ID, "\x01", 1},
		};
		if (hc_object_create_optional(p->s, t, sizeof(t) / sizeof(t[0]), optional, 1, &h,
					      &dropped, &err) == HC_OK)
			add(p, "certificate_import", "certificate import", HC_CAP_YES, "%s",
			    dropped ? "stored without CKA_CERTIFICATE_CATEGORY, which the token "
				      "rejects (CA certificates are not marked as authorities)"
				    : "X.509 certificate object accepted");
		else
			add(p, "certificate_import", "certificate import", HC_CAP_NO,
			    "C_CreateObject of a certificate: %s",
			    err.has_ckr ? hc_ckr_name(err.ckr) : err.message);
	}
	destroy(p, &h);
out:
	OPENSSL_free(der);
	OPENSSL_free(subject);
	OPENSSL_free(serial);
	X509_free(x);
}

/* ---- wrapping ---------------------------------------------------------- */

static void wrapping(probe *p)
{
	bool rpc = hc_wrap_over_rpc(p->s);

	for (size_t i = 0; i < p->wrap.test_count; i++) {
		const hc_wrap_test *t = &p->wrap.tests[i];
		const char *id = t->mechanism == HC_CKM_AES_KEY_WRAP_KWP ? "wrap_aes_key_wrap_kwp"
									 : "wrap_aes_key_wrap_pad";
		const char *what = t->mechanism == HC_CKM_AES_KEY_WRAP_KWP
					   ? "wrap CKM_AES_KEY_WRAP_KWP"
					   : "wrap CKM_AES_KEY_WRAP_PAD";
		if (t->meaning == HC_WRAP_RFC5649)
			add(p, id, what, HC_CAP_YES,
			    "RFC 5649: known-answer test against OpenSSL "
			    "passed");
		else if (t->meaning == HC_WRAP_NOT_LISTED)
			add(p, id, what, HC_CAP_NO, "not in the mechanism list%s",
			    rpc ? " (p11-kit's RPC does not forward key wrap mechanisms)" : "");
		else if (t->meaning == HC_WRAP_REFUSED)
			add(p, id, what, HC_CAP_NO,
			    "listed, but the known-answer wrap was refused: %s",
			    hc_ckr_name(t->rv));
		else
			add(p, id, what, HC_CAP_NO,
			    "known-answer test: the output is %s, not RFC "
			    "5649 (hsmcert does not use it for RFC 5649 files)",
			    hc_wrap_meaning_name(t->meaning));
	}
	if (p->wrap.mechanism != CK_UNAVAILABLE_INFORMATION)
		add(p, "backup_hsmb", "backup to .hsmb", HC_CAP_YES,
		    "RFC 5649 with %s, for keys made with CKA_EXTRACTABLE=true",
		    hc_ckm_name(p->wrap.mechanism));
	else
		add(p, "backup_hsmb", "backup to .hsmb", HC_CAP_NO,
		    "no mechanism gives RFC 5649 here%s", rpc ? " (p11-kit RPC)" : "");
}

/*
 * Unwrap a key made on the host into a session private key, as restore does
 * (hc_key_unwrap_private: NSS softoken takes EC keys only with CKA_NSS_DB).
 */
static void unwrap(probe *p, const char *id, const char *what, bool cbc, bool ec)
{
	static const unsigned char kek_value[32] = {7, 7, 7, 7, 7};
	CK_MECHANISM_TYPE m = cbc ? CKM_AES_CBC_PAD : p->wrap.mechanism;
	unsigned char iv[16] = {0}, blob[4096], point[133];
	size_t point_len = 0;
	CK_MECHANISM mech = {m, cbc ? iv : NULL, cbc ? sizeof(iv) : 0};
	EVP_PKEY *k = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
	PKCS8_PRIV_KEY_INFO *p8 = k ? EVP_PKEY2PKCS8(k) : NULL;
	unsigned char *der = NULL;
	int der_len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1, n1 = 0, n2 = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, key = CK_INVALID_HANDLE;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = ec ? CKK_EC : CKK_RSA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_TOKEN, &no, sizeof(no)},
		{CKA_PRIVATE, &yes, sizeof(yes)},
		{CKA_SENSITIVE, &yes, sizeof(yes)},
		{CKA_EXTRACTABLE, &no, sizeof(no)},
		{CKA_SIGN, &yes, sizeof(yes)},
		{CKA_DECRYPT, &no, sizeof(no)},
		{CKA_LABEL, PROBE_LABEL, sizeof(PROBE_LABEL) - 1},
		{CKA_ID, "\x01", 1},
	};
	hc_error err = {0};
	CK_RV rv;

	if (der_len <= 0 || !ctx || der_len > 2048 ||
	    EVP_EncryptInit_ex(ctx, cbc ? EVP_aes_256_cbc() : EVP_aes_256_wrap_pad(), NULL,
			       kek_value, cbc ? iv : NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, blob, &n1, der, der_len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, blob + n1, &n2) != 1) {
		add(p, id, what, HC_CAP_UNKNOWN, "could not prepare a test key");
		goto out;
	}
	if (ec && !EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
						   sizeof(point), &point_len))
		point_len = 0;
	rv = hc_p11_session_secret(p->s, CKK_AES, kek_value, sizeof(kek_value), true, &kek);
	if (rv == CKR_OK &&
	    hc_key_unwrap_private(p->s, &mech, kek, blob, (size_t)(n1 + n2), t,
				  sizeof(t) / sizeof(t[0]), point, point_len, &key, &err) != HC_OK)
		rv = err.has_ckr ? err.ckr : CKR_GENERAL_ERROR;
	if (rv == CKR_OK)
		add(p, id, what, HC_CAP_YES, "an %s key wrapped on the host unwrapped with %s",
		    ec ? "EC" : "RSA", hc_ckm_name(m));
	else
		add(p, id, what, HC_CAP_NO, "C_UnwrapKey with %s: %s", hc_ckm_name(m),
		    hc_ckr_name(rv));
out:
	destroy(p, &key);
	destroy(p, &kek);
	if (der)
		OPENSSL_clear_free(der, (size_t)der_len);
	OPENSSL_cleanse(blob, sizeof(blob));
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(k);
	EVP_CIPHER_CTX_free(ctx);
}

static void pkcs12(probe *p)
{
	bool rfc = p->wrap.mechanism != CK_UNAVAILABLE_INFORMATION;
	const char *via = rfc ? hc_ckm_name(p->wrap.mechanism) : "CKM_AES_CBC_PAD";
	bool ec = find(p, CKM_EC_KEY_PAIR_GEN) != NULL;
	hc_keypair_spec spec = {.key_type = ec ? CKK_EC : CKK_RSA,
				.rsa_bits = 2048,
				.ec_params = p256,
				.ec_params_len = sizeof(p256),
				.label = PROBE_LABEL,
				.extractable = true,
				.session = true};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
	static const unsigned char kek_value[32] = {9, 9, 9};
	unsigned char iv[16] = {0}, *blob = NULL;
	size_t blob_len = 0;
	CK_MECHANISM mech = {rfc ? p->wrap.mechanism : CKM_AES_CBC_PAD, rfc ? NULL : iv,
			     rfc ? 0 : sizeof(iv)};
	hc_error err = {0};

	if (!rfc && !p->wrap.cbc_pad_wrap) {
		add(p, "pkcs12_export", "PKCS#12 export", HC_CAP_NO,
		    "neither RFC 5649 nor CKM_AES_CBC_PAD can wrap a key here");
	} else if (hc_keypair_generate(p->s, &spec, &pub, &priv, NULL, &err) != HC_OK) {
		add(p, "pkcs12_export", "PKCS#12 export", HC_CAP_NO,
		    "the token makes no sensitive key that is extractable (%s)",
		    err.has_ckr ? hc_ckr_name(err.ckr) : err.message);
	} else {
		CK_RV rv = hc_p11_session_secret(p->s, CKK_AES, kek_value, 32, true, &kek);
		if (rv == CKR_OK &&
		    hc_key_wrap(p->s, &mech, kek, priv, &blob, &blob_len, &err) == HC_OK)
			add(p, "pkcs12_export", "PKCS#12 export", HC_CAP_YES,
			    "an extractable key wraps with %s (unwrapped on the host)", via);
		else
			add(p, "pkcs12_export", "PKCS#12 export", HC_CAP_NO,
			    "C_WrapKey with %s: %s", via, hc_ckr_name(rv != CKR_OK ? rv : err.ckr));
		if (blob)
			OPENSSL_clear_free(blob, blob_len);
	}
	destroy(p, &kek);
	destroy(p, &priv);
	destroy(p, &pub);
	if (rfc || p->wrap.cbc_pad_unwrap)
		unwrap(p, "pkcs12_import", "PKCS#12 import", !rfc, false);
	else
		add(p, "pkcs12_import", "PKCS#12 import", HC_CAP_NO,
		    "neither RFC 5649 nor CKM_AES_CBC_PAD can unwrap a key here");
}

/* Session objects in a read-only session (some tokens want read-write: tpm2-pkcs11). */
static void read_only_sessions(probe *p)
{
	static const unsigned char value[32] = {5};
	hc_session *ro = NULL;
	hc_error err = {0};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	if (hc_session_open(p->s->mod, &p->s->slot, false, &ro, &err) != HC_OK) {
		add(p, "session_objects_read_only", "session objects in read-only sessions",
		    HC_CAP_UNKNOWN, "no read-only session: %s",
		    err.has_ckr ? hc_ckr_name(err.ckr) : err.message);
		return;
	}
	rv = hc_p11_session_secret(ro, CKK_AES, value, sizeof(value), true, &h);
	if (rv == CKR_OK)
		add(p, "session_objects_read_only", "session objects in read-only sessions",
		    HC_CAP_YES, "a session AES key was made in a read-only session");
	else
		add(p, "session_objects_read_only", "session objects in read-only sessions",
		    HC_CAP_NO, "%s: hsmcert opens read-write sessions where it makes them",
		    hc_ckr_name(rv));
	/* Some tokens refuse C_DestroyObject in a read-only session: then through ours. */
	if (h != CK_INVALID_HANDLE && ro->fn->C_DestroyObject(ro->handle, h) != CKR_OK)
		destroy(p, &h);
	hc_session_close(ro);
}

hc_rc hc_capabilities_probe(hc_session *s, hc_capabilities *out, hc_error *err)
{
	static const unsigned char p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
	probe p = {.s = s,
		   .out = out,
		   .rsa_pub = CK_INVALID_HANDLE,
		   .rsa_priv = CK_INVALID_HANDLE,
		   .ec_pub = CK_INVALID_HANDLE,
		   .ec_priv = CK_INVALID_HANDLE};
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM v15 = {CKM_SHA256_RSA_PKCS, NULL, 0},
		     pssm = {CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss)},
		     ecdsa = {CKM_ECDSA, NULL, 0}, v15_raw = {CKM_RSA_PKCS, NULL, 0},
		     pss_raw = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss)};
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = hc_slot_mechanisms(s->mod, s->slot.id, &p.mechs, &p.nmechs, err)) != HC_OK)
		return rc;
	keygen(&p, "keygen_rsa_2048", "key generation rsa:2048", CKK_RSA, 2048, NULL, 0, true,
	       &p.rsa_pub, &p.rsa_priv);
	keygen(&p, "keygen_rsa_3072", "key generation rsa:3072", CKK_RSA, 3072, NULL, 0, false,
	       NULL, NULL);
	keygen(&p, "keygen_rsa_4096", "key generation rsa:4096", CKK_RSA, 4096, NULL, 0, false,
	       NULL, NULL);
	keygen(&p, "keygen_ec_p256", "key generation ec:P-256", CKK_EC, 0, p256, sizeof(p256), true,
	       &p.ec_pub, &p.ec_priv);
	keygen(&p, "keygen_ec_p384", "key generation ec:P-384", CKK_EC, 0, p384, sizeof(p384),
	       false, NULL, NULL);
	/* 51 bytes: a SHA-256 DigestInfo; 32: a SHA-256 digest. */
	signature(&p, "csr_rsa_pkcs1", "CSR signature RSA PKCS#1 v1.5", &v15, &v15_raw, 51,
		  p.rsa_priv);
	signature(&p, "csr_rsa_pss", "CSR signature RSA-PSS", &pssm, &pss_raw, 32, p.rsa_priv);
	signature(&p, "csr_ecdsa", "CSR signature ECDSA", &ecdsa, NULL, 0, p.ec_priv);
	destroy(&p, &p.rsa_priv);
	destroy(&p, &p.rsa_pub);
	destroy(&p, &p.ec_priv);
	destroy(&p, &p.ec_pub);
	certificate(&p);
	if ((rc = hc_wrap_negotiate(s, &p.wrap, err)) != HC_OK)
		goto out;
	wrapping(&p);
	if (p.wrap.mechanism != CK_UNAVAILABLE_INFORMATION) {
		unwrap(&p, "restore_unwrap", "private-key unwrap (restore)", false, false);
		if (find(&p, CKM_EC_KEY_PAIR_GEN))
			unwrap(&p, "restore_unwrap_ec", "EC private-key unwrap (restore)", false,
			       true);
	} else {
		add(&p, "restore_unwrap", "private-key unwrap (restore)", HC_CAP_NO,
		    "no RFC 5649 mechanism to unwrap a .hsmb key with");
	}
	pkcs12(&p);
	read_only_sessions(&p);
out:
	free(p.mechs);
	return rc;
}
