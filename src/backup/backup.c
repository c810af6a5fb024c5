/*
 * SPEC: backup. Keys leave the token only through C_WrapKey:
 * - .hsmb: under a key-encryption key (KEK) that is a session object,
 *   derived from a passphrase or generated in the token and wrapped with
 *   RSA-OAEP to a recipient; the host never unwraps the private key.
 * - PKCS#12: under a session AES key the host generated, unwrapped in
 *   OpenSSL only to build the PKCS#12, and wiped after.
 */
#include "hsmcert/backup.h"

#include "hsmcert/certstore.h"
#include "hsmcert/version.h"
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

#include "backup_internal.h"

#define ADD(tmpl, n, t, p, l) ((tmpl)[(n)++] = (CK_ATTRIBUTE){(t), (void *)(p), (l)})

/* ---- session keys shared with restore -------------------------------- */

static const CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;
static const CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
static const CK_KEY_TYPE aes_type = CKK_AES;

CK_ULONG hc_backup_session_template(CK_ATTRIBUTE *t, unsigned flags)
{
	CK_ULONG n = 0;

	ADD(t, n, CKA_CLASS, &secret_class, sizeof(secret_class));
	ADD(t, n, CKA_KEY_TYPE, &aes_type, sizeof(aes_type));
	/* A session object: gone when the session ends, even if we crash. */
	ADD(t, n, CKA_TOKEN, &ck_false, sizeof(CK_BBOOL));
	ADD(t, n, CKA_PRIVATE, &ck_true, sizeof(CK_BBOOL));
	ADD(t, n, CKA_SENSITIVE, flags & HC_SK_SENSITIVE ? &ck_true : &ck_false, sizeof(CK_BBOOL));
	ADD(t, n, CKA_EXTRACTABLE, flags & HC_SK_EXTRACTABLE ? &ck_true : &ck_false,
	    sizeof(CK_BBOOL));
	ADD(t, n, CKA_WRAP, flags & HC_SK_WRAP ? &ck_true : &ck_false, sizeof(CK_BBOOL));
	ADD(t, n, CKA_UNWRAP, flags & HC_SK_UNWRAP ? &ck_true : &ck_false, sizeof(CK_BBOOL));
	return n;
}

hc_rc hc_backup_session_aes(hc_session *s, const unsigned char value[32], unsigned flags,
			    CK_OBJECT_HANDLE *out, hc_error *err)
{
	CK_ATTRIBUTE t[HC_SK_TEMPLATE_MAX + 1];
	CK_ULONG n = hc_backup_session_template(t, flags);

	ADD(t, n, CKA_VALUE, value, 32);
	return hc_object_create(s, t, n, out, err);
}

hc_rc hc_backup_oaep_mechanism(CK_MECHANISM_TYPE hash, CK_RSA_PKCS_OAEP_PARAMS *params,
			       CK_MECHANISM *mech)
{
	*params = (CK_RSA_PKCS_OAEP_PARAMS){
		hash, hash == CKM_SHA256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED,
		NULL, 0};
	*mech = (CK_MECHANISM){CKM_RSA_PKCS_OAEP, params, sizeof(*params)};
	return HC_OK;
}

/* Move OpenSSL's DER into a malloc'd blob (the file's buffers are plain malloc). */
static hc_rc blob_take(unsigned char *der, int len, hc_blob *out, const char *what,
		       hc_error *err)
{
	hc_rc rc = HC_OK;

	if (len <= 0)
		return hc_fail_ssl(err, HC_IO, "encoding %s", what);
	out->data = malloc((size_t)len);
	if (out->data) {
		memcpy(out->data, der, (size_t)len);
		out->len = (size_t)len;
	} else {
		rc = hc_fail(err, HC_IO, "out of memory");
	}
	OPENSSL_free(der);
	return rc;
}

static hc_rc blob_from_der(X509 *cert, hc_blob *out, hc_error *err)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);

	return blob_take(der, len, out, "a certificate", err);
}

static hc_rc blob_from_pubkey(EVP_PKEY *pub, hc_blob *out, hc_error *err)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pub, &der);

	return blob_take(der, len, out, "a public key", err);
}

/* ---- protection: KEK and authentication key -------------------------- */

typedef struct protection {
	CK_OBJECT_HANDLE kek;
	unsigned char mac_key[32];
} protection;

static hc_rc protect_passphrase(hc_session *s, const hc_secret *pass, hc_backup_file *f,
				protection *pr, hc_error *err)
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
	rc = hc_backup_session_aes(s, keys.kek, HC_SK_WRAP | HC_SK_SENSITIVE, &pr->kek, err);
	if (rc != HC_OK)
		hc_error_prefix(err, "importing the passphrase key into the token");
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc;
}

/* The recipient's RSA public key as a session object that may wrap. */
static hc_rc recipient_object(hc_session *s, EVP_PKEY *pub, CK_OBJECT_HANDLE *out,
			      hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char *nb = NULL, *eb = NULL;
	CK_ATTRIBUTE t[8];
	CK_ULONG count = 0;
	hc_rc rc;

	if (!EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_get_bits(pub) < 2048)
		return hc_fail(err, HC_USAGE, "--to: the recipient must be an RSA key of at least "
			       "2048 bits (RSA-OAEP)");
	if (!EVP_PKEY_get_bn_param(pub, "n", &n) || !EVP_PKEY_get_bn_param(pub, "e", &e) ||
	    !(nb = malloc((size_t)BN_num_bytes(n))) || !(eb = malloc((size_t)BN_num_bytes(e)))) {
		rc = hc_fail_ssl(err, HC_IO, "reading the recipient's public key");
		goto out;
	}
	BN_bn2bin(n, nb);
	BN_bn2bin(e, eb);
	ADD(t, count, CKA_CLASS, &cls, sizeof(cls));
	ADD(t, count, CKA_KEY_TYPE, &kt, sizeof(kt));
	ADD(t, count, CKA_TOKEN, &no, sizeof(no));
	ADD(t, count, CKA_WRAP, &yes, sizeof(yes));
	ADD(t, count, CKA_ENCRYPT, &yes, sizeof(yes));
	ADD(t, count, CKA_MODULUS, nb, (CK_ULONG)BN_num_bytes(n));
	ADD(t, count, CKA_PUBLIC_EXPONENT, eb, (CK_ULONG)BN_num_bytes(e));
	rc = hc_object_create(s, t, count, out, err);
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
	return e->has_ckr && (e->ckr == CKR_ARGUMENTS_BAD || e->ckr == CKR_MECHANISM_PARAM_INVALID ||
			      e->ckr == CKR_MECHANISM_INVALID);
}

static hc_rc protect_recipient(hc_session *s, EVP_PKEY *recipient, CK_MECHANISM_TYPE rfc5649,
			       hc_backup_file *f, protection *pr, hc_error *err)
{
	static const CK_MECHANISM_TYPE hashes[] = {CKM_SHA256, CKM_SHA_1};
	CK_ULONG kek_len = 32;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0}, kw = {rfc5649, NULL, 0};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, mac_obj = CK_INVALID_HANDLE;
	unsigned char mac_secret[32];
	/* Extractable only so RSA-OAEP can carry it to the recipient. */
	CK_ATTRIBUTE t[HC_SK_TEMPLATE_MAX + 1];
	CK_ULONG n = hc_backup_session_template(t, HC_SK_WRAP | HC_SK_EXTRACTABLE |
							   HC_SK_SENSITIVE);
	hc_rc rc;

	ADD(t, n, CKA_VALUE_LEN, &kek_len, sizeof(kek_len));
	if ((rc = hc_key_generate(s, &gen, t, n, &pr->kek, err)) != HC_OK) {
		hc_error_prefix(err, "generating the backup's key-encryption key");
		return rc;
	}
	if ((rc = blob_from_pubkey(recipient, &f->recipient, err)) != HC_OK ||
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
	if ((rc = hc_backup_session_aes(s, mac_secret, HC_SK_EXTRACTABLE, &mac_obj, err)) !=
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

/* ---- one key --------------------------------------------------------- */

static const CK_ATTRIBUTE_TYPE recorded_flags[] = {
	CKA_EXTRACTABLE, CKA_SENSITIVE, CKA_PRIVATE, CKA_SIGN,
	CKA_DECRYPT,	 CKA_UNWRAP,	CKA_DERIVE,  CKA_ALWAYS_AUTHENTICATE,
};
#define N_RECORDED (sizeof(recorded_flags) / sizeof(recorded_flags[0]))

static hc_rc record_flags(hc_session *s, CK_OBJECT_HANDLE key, hc_backup_entry *e,
			  hc_error *err)
{
	CK_ATTRIBUTE a[N_RECORDED];
	hc_rc rc;

	for (size_t i = 0; i < N_RECORDED; i++)
		a[i] = (CK_ATTRIBUTE){recorded_flags[i], NULL, 0};
	if ((rc = hc_attrs_get(s, key, a, N_RECORDED, err)) != HC_OK)
		return rc;
	e->flags = calloc(N_RECORDED, sizeof(*e->flags));
	if (!e->flags) {
		hc_attrs_release(a, N_RECORDED);
		return hc_fail(err, HC_IO, "out of memory");
	}
	for (size_t i = 0; i < N_RECORDED; i++) {
		int v = hc_attr_bool(&a[i]);
		if (v >= 0)
			e->flags[e->flag_count++] = (hc_backup_flag){recorded_flags[i], v == 1};
	}
	hc_attrs_release(a, N_RECORDED);
	return HC_OK;
}

hc_rc hc_backup_key_certificates(hc_session *s, const hc_key_info *key, EVP_PKEY *pub,
				 X509 **leaf, STACK_OF(X509) **chain, hc_error *err)
{
	hc_stored_cert *certs = NULL;
	size_t count = 0, best = SIZE_MAX;
	X509 *at;
	hc_rc rc;

	*leaf = NULL;
	*chain = sk_X509_new_null();
	if (!*chain)
		return hc_fail(err, HC_IO, "out of memory");
	if ((rc = hc_certstore_list(s, &certs, &count, err)) != HC_OK)
		return rc;
	/* The key's certificate: its public key, never its label, decides. */
	for (size_t i = 0; i < count; i++) {
		EVP_PKEY *cp = certs[i].cert ? X509_get0_pubkey(certs[i].cert) : NULL;
		if (!cp || !hc_public_keys_equal(cp, pub))
			continue;
		/* Several (renewals): the one with the latest notAfter. */
		if (best == SIZE_MAX || ASN1_TIME_compare(X509_get0_notAfter(certs[i].cert),
							  X509_get0_notAfter(certs[best].cert)) > 0)
			best = i;
	}
	(void)key;
	if (best == SIZE_MAX)
		goto out;
	*leaf = X509_dup(certs[best].cert);
	/* Its issuers as far as the token holds them, by name and signature. */
	for (at = *leaf; at && sk_X509_num(*chain) < 16;) {
		X509 *next = NULL;
		if (X509_check_issued(at, at) == X509_V_OK)
			break;
		for (size_t i = 0; i < count && !next; i++) {
			X509 *c = certs[i].cert;
			if (c && i != best && X509_check_issued(c, at) == X509_V_OK &&
			    X509_cmp(c, at) != 0)
				next = c;
		}
		if (!next)
			break;
		X509_up_ref(next);
		sk_X509_push(*chain, next);
		at = next;
	}
out:
	hc_stored_certs_free(certs, count);
	if (!*leaf && rc == HC_OK)
		ERR_clear_error();
	return rc;
}

static hc_rc fill_entry(hc_session *s, hc_backup_item *item, CK_OBJECT_HANDLE key,
			hc_backup_entry *e, hc_error *err)
{
	EVP_PKEY *pub = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	hc_rc rc;

	e->key_type = item->key.type.ckk;
	e->label = strdup(item->key.label);
	e->id.data = malloc(item->key.id_len ? item->key.id_len : 1);
	if (!e->label || !e->id.data)
		return hc_fail(err, HC_IO, "out of memory");
	if (item->key.id_len)
		memcpy(e->id.data, item->key.id, item->key.id_len);
	e->id.len = item->key.id_len;
	if ((rc = record_flags(s, key, e, err)) != HC_OK ||
	    (rc = hc_key_public(s, &item->key, &pub, err)) != HC_OK ||
	    (rc = blob_from_pubkey(pub, &e->public_key, err)) != HC_OK)
		goto out;
	if ((rc = hc_backup_key_certificates(s, &item->key, pub, &leaf, &chain, err)) != HC_OK)
		goto out;
	if (leaf) {
		char sha1[41];
		if ((rc = blob_from_der(leaf, &e->certificate, err)) != HC_OK)
			goto out;
		hc_x509_thumbprints(leaf, sha1, item->cert_sha256);
		item->has_certificate = true;
		e->ca_certificates = calloc((size_t)sk_X509_num(chain) + 1, sizeof(hc_blob));
		if (!e->ca_certificates) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		for (int i = 0; i < sk_X509_num(chain); i++) {
			if ((rc = blob_from_der(sk_X509_value(chain, i), &e->ca_certificates[i],
						err)) != HC_OK)
				goto out;
			e->ca_count++;
		}
		item->ca_count = e->ca_count;
	}
out:
	EVP_PKEY_free(pub);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/*
 * The answer a key that may not leave gets. Not a failure of the run: the
 * caller reports it and sets the exit status.
 */
static void not_extractable(hc_backup_item *item, CK_RV ckr)
{
	item->attribute = "CKA_EXTRACTABLE";
	item->ckr = ckr;
	snprintf(item->reason, sizeof(item->reason),
		 "%s: the key is not extractable (CKA_EXTRACTABLE=false%s%s); only the HSM "
		 "vendor's own key backup or cloning (between HSMs of the same make) can copy "
		 "it, or generate a new key and have its certificate re-issued",
		 item->key.label, ckr != CKR_OK ? ", C_WrapKey: " : "",
		 ckr != CKR_OK ? hc_ckr_name(ckr) : "");
}

/* Wrap one key; *wrapped false when the token says it may not leave. */
static hc_rc wrap_one(hc_session *s, CK_MECHANISM_TYPE rfc5649, CK_OBJECT_HANDLE kek,
		      hc_backup_item *item, CK_OBJECT_HANDLE key, hc_blob *blob, bool *wrapped,
		      hc_error *err)
{
	CK_MECHANISM kw = {rfc5649, NULL, 0};
	hc_error local = {0};
	hc_rc rc;

	*wrapped = false;
	if (item->key.type.ckk != CKK_RSA && item->key.type.ckk != CKK_EC) {
		snprintf(item->reason, sizeof(item->reason),
			 "%s: key type %s is not supported (RSA and EC keys only)", item->key.label,
			 hc_ckk_name(item->key.type.ckk));
		return HC_OK;
	}
	if (item->key.extractable == 0) {
		not_extractable(item, CKR_OK);
		return HC_OK;
	}
	rc = hc_key_wrap(s, &kw, kek, key, &blob->data, &blob->len, &local);
	if (rc == HC_OK) {
		*wrapped = true;
		return HC_OK;
	}
	if (local.has_ckr &&
	    (local.ckr == CKR_KEY_UNEXTRACTABLE || local.ckr == CKR_KEY_NOT_WRAPPABLE)) {
		not_extractable(item, local.ckr);
		return HC_OK;
	}
	*err = local;
	hc_error_prefix(err, "key '%s'", item->key.label);
	return rc;
}

/* ---- .hsmb ----------------------------------------------------------- */

static hc_rc backup_hsmb(hc_session *s, const hc_backup_params *p, hc_backup_result *out,
			 hc_error *err)
{
	hc_backup_file *f = &out->file;
	protection pr = {CK_INVALID_HANDLE, {0}};
	hc_wrap_choice wc;
	size_t candidates = 0;
	hc_rc rc;

	/*
	 * Keys the token says may not leave are reported before anything is made
	 * on the token: no key-encryption key for a backup that cannot happen.
	 */
	for (size_t i = 0; i < out->count; i++) {
		if (out->items[i].key.extractable == 0)
			not_extractable(&out->items[i], CKR_OK);
		else
			candidates++;
	}
	if (!candidates)
		return HC_OK;
	if ((rc = hc_wrap_negotiate(s, &wc, err)) != HC_OK)
		return rc;
	if (wc.mechanism == CK_UNAVAILABLE_INFORMATION)
		return hc_wrap_refusal(s, &wc, "a .hsmb backup", err);

	f->version = HC_BACKUP_VERSION;
	f->mode = p->recipient ? HC_BACKUP_RECIPIENT : HC_BACKUP_PASSPHRASE;
	f->creator = strdup("hsmcert " HSMCERT_VERSION);
	f->created = (uint64_t)time(NULL);
	f->entries = calloc(p->key_count, sizeof(*f->entries));
	if (!f->creator || !f->entries)
		return hc_fail(err, HC_IO, "out of memory");
	rc = p->recipient ? protect_recipient(s, p->recipient, wc.mechanism, f, &pr, err)
			  : protect_passphrase(s, p->passphrase, f, &pr, err);
	if (rc != HC_OK)
		goto out;
	if (p->recipient)
		hc_backup_fingerprint(&f->recipient, out->recipient_sha256);
	for (size_t i = 0; i < out->count; i++) {
		hc_backup_entry *e = &f->entries[f->entry_count];
		bool wrapped;
		if (out->items[i].key.extractable == 0)
			continue;
		if ((rc = wrap_one(s, wc.mechanism, pr.kek, &out->items[i], p->keys[i],
				   &e->wrapped_key, &wrapped, err)) != HC_OK)
			goto out;
		if (!wrapped)
			continue;
		f->entry_count++;
		/* The format's name for RFC 5649, whichever mechanism gave it here. */
		e->wrap_mechanism = CKM_AES_KEY_WRAP_PAD;
		if ((rc = fill_entry(s, &out->items[i], p->keys[i], e, err)) != HC_OK)
			goto out;
		out->items[i].saved = true;
		out->saved++;
	}
	if (out->saved)
		rc = hc_backup_encode(f, pr.mac_key, &out->data, &out->len, err);
out:
	OPENSSL_cleanse(pr.mac_key, sizeof(pr.mac_key));
	if (pr.kek != CK_INVALID_HANDLE)
		hc_object_destroy(s, pr.kek, NULL);
	/* The report keeps the protection parameters, not the wrapped keys. */
	for (size_t i = 0; i < f->entry_count; i++)
		hc_backup_entry_clear(&f->entries[i]);
	free(f->entries);
	f->entries = NULL;
	f->entry_count = 0;
	return rc;
}

/* ---- PKCS#12 --------------------------------------------------------- */

hc_rc hc_backup_key_to_host(hc_session *s, const hc_backup_item *item, CK_OBJECT_HANDLE key,
			    EVP_PKEY **out, hc_error *err)
{
	unsigned char iv[16];
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_HANDLE transport = CK_INVALID_HANDLE;
	hc_wrap_choice wc;
	unsigned char value[32], *blob = NULL, *plain = NULL;
	size_t blob_len = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const unsigned char *p;
	int n1 = 0, n2 = 0;
	hc_rc rc;

	*out = NULL;
	if ((rc = hc_wrap_negotiate(s, &wc, err)) != HC_OK)
		return rc;
	/*
	 * The key is unwrapped on the host anyway: RFC 5649 where the token has
	 * it, else AES-CBC with PKCS#7 padding (openCryptoki, NSS over CBC_PAD).
	 */
	if (wc.mechanism != CK_UNAVAILABLE_INFORMATION)
		kw.mechanism = wc.mechanism;
	else if (wc.cbc_pad_wrap)
		kw = (CK_MECHANISM){CKM_AES_CBC_PAD, iv, sizeof(iv)};
	else
		return hc_wrap_refusal(s, &wc, "a PKCS#12 export", err);
	/* A transport key the host knows: the only way a key reaches a PKCS#12. */
	if (RAND_priv_bytes(value, sizeof(value)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1)
		return hc_fail_ssl(err, HC_IO, "no random transport key");
	if ((rc = hc_backup_session_aes(s, value, HC_SK_WRAP | HC_SK_SENSITIVE, &transport, err)) !=
		    HC_OK ||
	    (rc = hc_key_wrap(s, &kw, transport, key, &blob, &blob_len, err)) != HC_OK)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	plain = OPENSSL_secure_malloc(blob_len + 16);
	if (!ctx || !plain ||
	    EVP_DecryptInit_ex(ctx,
			       kw.mechanism == CKM_AES_CBC_PAD ? EVP_aes_256_cbc()
							       : EVP_aes_256_wrap_pad(),
			       NULL, value, kw.mechanism == CKM_AES_CBC_PAD ? iv : NULL) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &n1, blob, (int)blob_len) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + n1, &n2) != 1) {
		rc = hc_fail_ssl(err, HC_TOKEN, "key '%s': the token's wrapped key does not unwrap",
				 item->key.label);
		goto out;
	}
	/* SoftHSM2 zero-pads the PKCS#8 before RFC 5649: trust the DER length. */
	p = plain;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, n1 + n2);
	if (!p8 || !(*out = EVP_PKCS82PKEY(p8))) {
		rc = hc_fail_ssl(err, HC_TOKEN, "key '%s': the unwrapped key is not PKCS#8",
				 item->key.label);
		goto out;
	}
	for (const unsigned char *z = p; z < plain + n1 + n2; z++) {
		if (*z != 0) {
			rc = hc_fail(err, HC_TOKEN, "key '%s': unexpected bytes after the PKCS#8",
				     item->key.label);
			EVP_PKEY_free(*out);
			*out = NULL;
			goto out;
		}
	}
out:
	OPENSSL_cleanse(value, sizeof(value));
	if (plain)
		OPENSSL_secure_clear_free(plain, blob_len + 16);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_CIPHER_CTX_free(ctx);
	free(blob);
	if (transport != CK_INVALID_HANDLE)
		hc_object_destroy(s, transport, NULL);
	return rc;
}

static hc_rc backup_pfx(hc_session *s, const hc_backup_params *p, hc_backup_result *out,
			hc_error *err)
{
	hc_backup_item *item = &out->items[0];
	EVP_PKEY *pkey = NULL, *pub = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	int der_len;
	hc_rc rc;

	if (p->key_count != 1)
		return hc_fail(err, HC_USAGE, "a PKCS#12 file holds one key: name it with --key");
	if (item->key.extractable == 0) {
		not_extractable(item, CKR_OK);
		return HC_OK;
	}
	if ((rc = hc_key_public(s, &item->key, &pub, err)) != HC_OK ||
	    (rc = hc_backup_key_certificates(s, &item->key, pub, &leaf, &chain, err)) != HC_OK)
		goto out;
	rc = hc_backup_key_to_host(s, item, p->keys[0], &pkey, err);
	if (rc != HC_OK) {
		if (err->has_ckr &&
		    (err->ckr == CKR_KEY_UNEXTRACTABLE || err->ckr == CKR_KEY_NOT_WRAPPABLE)) {
			not_extractable(item, err->ckr);
			hc_error_clear(err);
			rc = HC_OK;
		}
		goto out;
	}
	if (!hc_public_keys_equal(pkey, pub)) {
		rc = hc_fail(err, HC_TOKEN, "key '%s': the exported key does not match its public "
			     "key", item->key.label);
		goto out;
	}
	/* AES-256-CBC with PBKDF2-HMAC-SHA256 for key and certificates; MAC set below. */
	p12 = PKCS12_create_ex(p->passphrase->data, item->key.label, pkey, leaf, chain,
			       NID_aes_256_cbc, NID_aes_256_cbc, HC_PFX_ITERATIONS, -1, 0, NULL,
			       NULL);
	if (!p12 || !PKCS12_set_mac(p12, p->passphrase->data, -1, NULL, 0, HC_PFX_ITERATIONS,
				    EVP_sha256())) {
		rc = hc_fail_ssl(err, HC_IO, "building the PKCS#12");
		goto out;
	}
	if ((der_len = i2d_PKCS12(p12, &der)) <= 0 || !(out->data = malloc((size_t)der_len))) {
		rc = hc_fail_ssl(err, HC_IO, "encoding the PKCS#12");
		goto out;
	}
	memcpy(out->data, der, (size_t)der_len);
	out->len = (size_t)der_len;
	item->saved = true;
	out->saved = 1;
	if (leaf) {
		char sha1[41];
		hc_x509_thumbprints(leaf, sha1, item->cert_sha256);
		item->has_certificate = true;
		item->ca_count = (size_t)sk_X509_num(chain);
	}
out:
	if (der)
		OPENSSL_clear_free(der, (size_t)der_len);
	PKCS12_free(p12);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(pub);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

hc_rc hc_backup_create(hc_session *s, const hc_backup_params *p, hc_backup_result *out,
		       hc_error *err)
{
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->items = calloc(p->key_count ? p->key_count : 1, sizeof(*out->items));
	if (!out->items)
		return hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; i < p->key_count; i++) {
		if ((rc = hc_key_describe(s, p->keys[i], &out->items[i].key, err)) != HC_OK)
			goto fail;
		out->count++;
	}
	rc = p->format == HC_FORMAT_PFX ? backup_pfx(s, p, out, err) : backup_hsmb(s, p, out, err);
	if (rc == HC_OK)
		return HC_OK;
fail:
	hc_backup_result_clear(out);
	return rc;
}

void hc_backup_result_clear(hc_backup_result *r)
{
	for (size_t i = 0; i < r->count; i++)
		hc_key_info_clear(&r->items[i].key);
	free(r->items);
	if (r->data) {
		OPENSSL_cleanse(r->data, r->len);
		free(r->data);
	}
	hc_backup_file_clear(&r->file);
	memset(r, 0, sizeof(*r));
}

hc_rc hc_backup_list_keys(hc_session *s, CK_OBJECT_HANDLE **keys, size_t *count, hc_error *err)
{
	return hc_key_find(s, CKO_PRIVATE_KEY, NULL, NULL, 0, keys, count, err);
}
