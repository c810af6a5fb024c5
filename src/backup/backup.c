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

#include "internal.h"

static hc_rc blob_take(unsigned char *der, int len, hc_blob *out, const char *what, hc_error *err)
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

hc_rc backup_blob_from_pubkey(EVP_PKEY *pub, hc_blob *out, hc_error *err)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pub, &der);

	return blob_take(der, len, out, "a public key", err);
}

/* ---- one key --------------------------------------------------------- */

static const CK_ATTRIBUTE_TYPE recorded_flags[] = {
	CKA_EXTRACTABLE, CKA_SENSITIVE, CKA_PRIVATE, CKA_SIGN,
	CKA_DECRYPT,	 CKA_UNWRAP,	CKA_DERIVE,  CKA_ALWAYS_AUTHENTICATE,
};
#define N_RECORDED (sizeof(recorded_flags) / sizeof(recorded_flags[0]))

static hc_rc record_flags(hc_session *s, CK_OBJECT_HANDLE key, hc_backup_entry *e, hc_error *err)
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

hc_rc hc_backup_key_certificates(hc_session *s, const hc_key_info *key, EVP_PKEY *pub, X509 **leaf,
				 STACK_OF(X509) **chain, hc_error *err)
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
	    (rc = backup_blob_from_pubkey(pub, &e->public_key, err)) != HC_OK)
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
static void format_not_extractable(char *out, size_t len, const char *label, CK_RV ckr)
{
	snprintf(out, len,
		 "%s: the key is not extractable (CKA_EXTRACTABLE=false%s%s); only the HSM "
		 "vendor's own key backup or cloning (between HSMs of the same make) can copy "
		 "it, or generate a new key and have its certificate re-issued",
		 label, ckr != CKR_OK ? ", C_WrapKey: " : "",
		 ckr != CKR_OK ? hc_ckr_name(ckr) : "");
}

void backup_not_extractable(hc_backup_item *item, CK_RV ckr)
{
	item->attribute = "CKA_EXTRACTABLE";
	item->ckr = ckr;
	format_not_extractable(item->reason, sizeof(item->reason), item->key.label, ckr);
}

hc_rc hc_backup_check_extractable(const hc_key_info *key, hc_error *err)
{
	char reason[sizeof(err->message)];

	if (key->extractable != 0)
		return HC_OK;
	format_not_extractable(reason, sizeof(reason), key->label, CKR_OK);
	return hc_fail(err, HC_CHECK, "%s", reason);
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
		backup_not_extractable(item, CKR_OK);
		return HC_OK;
	}
	rc = hc_key_wrap(s, &kw, kek, key, &blob->data, &blob->len, &local);
	if (rc == HC_OK) {
		*wrapped = true;
		return HC_OK;
	}
	if (local.has_ckr &&
	    (local.ckr == CKR_KEY_UNEXTRACTABLE || local.ckr == CKR_KEY_NOT_WRAPPABLE)) {
		backup_not_extractable(item, local.ckr);
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
			backup_not_extractable(&out->items[i], CKR_OK);
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
		bool wrapped = false;
		/* Keys the token will not let out were reported before the KEK was made. */
		if (out->items[i].key.extractable != 0 &&
		    (rc = wrap_one(s, wc.mechanism, pr.kek, &out->items[i], p->keys[i],
				   &e->wrapped_key, &wrapped, err)) != HC_OK)
			goto out;
		if (wrapped) {
			f->entry_count++;
			/* The format's name for RFC 5649, whichever mechanism gave it here. */
			e->wrap_mechanism = CKM_AES_KEY_WRAP_PAD;
			if ((rc = fill_entry(s, &out->items[i], p->keys[i], e, err)) != HC_OK)
				goto out;
			out->items[i].saved = true;
			out->saved++;
		}
		if (p->progress)
			p->progress(p->progress_ctx, i + 1, out->count, out->items[i].key.label);
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
