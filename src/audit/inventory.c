/* A token's keys and certificates, paired by key (see inventory.h). */
#include "hsmcert/inventory.h"

#include "hsmcert/array.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* ---- public halves ----------------------------------------------------- */

/*
 * A key's public half in one canonical form, digested: RSA as modulus and
 * exponent without leading zeros, EC as curve and uncompressed point. Equal
 * digests mean the same public key, whichever object or certificate held it.
 */
typedef struct keyprint {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	size_t index;
} keyprint;

static const unsigned char *strip_zeros(const unsigned char *p, size_t *len)
{
	while (*len > 1 && *p == 0) {
		p++;
		(*len)--;
	}
	return p;
}

static bool print_rsa(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len,
		      unsigned char digest[SHA256_DIGEST_LENGTH])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char len_be[4];
	bool ok;

	n = strip_zeros(n, &n_len);
	e = strip_zeros(e, &e_len);
	len_be[0] = (unsigned char)(n_len >> 24);
	len_be[1] = (unsigned char)(n_len >> 16);
	len_be[2] = (unsigned char)(n_len >> 8);
	len_be[3] = (unsigned char)n_len;
	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, "rsa", 3) &&
	     EVP_DigestUpdate(md, len_be, 4) && EVP_DigestUpdate(md, n, n_len) &&
	     EVP_DigestUpdate(md, e, e_len) && EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
	return ok;
}

static bool print_ec(int curve_nid, const unsigned char *point, size_t len,
		     unsigned char digest[SHA256_DIGEST_LENGTH])
{
	unsigned char *uncompressed = NULL;
	EVP_MD_CTX *md = NULL;
	int nid = curve_nid;
	bool ok = false;

	if (curve_nid == NID_undef || len == 0)
		return false;
	/* A compressed point (rare on tokens and in certificates) is expanded first. */
	if (point[0] != 0x04) {
		EC_GROUP *group = EC_GROUP_new_by_curve_name(curve_nid);
		EC_POINT *pt = group ? EC_POINT_new(group) : NULL;
		size_t n = 0;
		if (pt && EC_POINT_oct2point(group, pt, point, len, NULL))
			n = EC_POINT_point2buf(group, pt, POINT_CONVERSION_UNCOMPRESSED,
					       &uncompressed, NULL);
		EC_POINT_free(pt);
		EC_GROUP_free(group);
		if (n == 0)
			goto out;
		point = uncompressed;
		len = n;
	}
	md = EVP_MD_CTX_new();
	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, "ec", 2) &&
	     EVP_DigestUpdate(md, &nid, sizeof(nid)) && EVP_DigestUpdate(md, point, len) &&
	     EVP_DigestFinal_ex(md, digest, NULL);
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(uncompressed);
	return ok;
}

/* The public half an object carries itself: RSA modulus and exponent, or an EC point. */
static bool print_material(const hc_key_info *k, unsigned char digest[SHA256_DIGEST_LENGTH])
{
	ASN1_OCTET_STRING *holder = NULL;
	const unsigned char *raw;
	size_t len;
	hc_error ignored;
	bool ok;

	if (k->type.ckk == CKK_RSA)
		return k->modulus && k->public_exponent &&
		       print_rsa(k->modulus, k->modulus_len, k->public_exponent,
				 k->public_exponent_len, digest);
	if (k->type.ckk != CKK_EC || !k->ec_point ||
	    hc_key_ec_point_raw(k, &raw, &len, &holder, &ignored) != HC_OK)
		return false;
	ok = print_ec(k->type.curve_nid, raw, len, digest);
	ASN1_OCTET_STRING_free(holder);
	return ok;
}

/* A private key's public half: its own (RSA), else its public key's (EC). */
static bool print_key(const hc_inventory *inv, const hc_inv_key *k,
		      unsigned char digest[SHA256_DIGEST_LENGTH])
{
	const hc_inv_print *pub = k->public_key != HC_INV_NONE ? &inv->public_prints_[k->public_key]
							       : NULL;
	const hc_inv_print *use = k->print_.known ? &k->print_ : pub && pub->known ? pub : NULL;

	if (use)
		memcpy(digest, use->digest, SHA256_DIGEST_LENGTH);
	return use != NULL;
}

static bool print_cert(X509 *x509, unsigned char digest[SHA256_DIGEST_LENGTH])
{
	EVP_PKEY *pkey = x509 ? X509_get0_pubkey(x509) : NULL;
	bool ok = false;

	if (!pkey)
		return false;
	if (EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_is_a(pkey, "RSA-PSS")) {
		BIGNUM *n = NULL, *e = NULL;
		unsigned char *buf = NULL;
		int n_len, e_len;
		if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) &&
		    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) &&
		    (buf = malloc((size_t)(BN_num_bytes(n) + BN_num_bytes(e)) + 2))) {
			n_len = BN_bn2bin(n, buf);
			e_len = BN_bn2bin(e, buf + n_len);
			ok = print_rsa(buf, (size_t)n_len, buf + n_len, (size_t)e_len, digest);
		}
		free(buf);
		BN_free(n);
		BN_free(e);
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		char curve[80];
		unsigned char point[256];
		size_t len = 0;
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve,
						   sizeof(curve), NULL) &&
		    EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point,
						    sizeof(point), &len))
			ok = print_ec(OBJ_sn2nid(curve), point, len, digest);
	}
	return ok;
}

static int compare_prints(const void *a, const void *b)
{
	const keyprint *x = a, *y = b;
	int c = memcmp(x->digest, y->digest, sizeof(x->digest));

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* ---- reading the objects --------------------------------------------- */

/*
 * Every object is read with one template: the key attributes hc_key_describe
 * reads, then these. Certificates need a second call for CKA_VALUE, which on
 * a key would be an attempt to read its secret.
 */
enum { U_CERT_TYPE = HC_KEY_ATTR_COUNT, U_CERT_CATEGORY, U_COUNT };

static char *attr_string(const CK_ATTRIBUTE *a)
{
	bool have = hc_attr_available(a);
	char *s = calloc(1, have ? a->ulValueLen + 1 : 1);

	if (s && have)
		memcpy(s, a->pValue, a->ulValueLen);
	return s;
}

static hc_rc describe_cert(hc_session *session, CK_OBJECT_HANDLE handle, CK_ATTRIBUTE *u,
			   hc_inv_cert *out, hc_error *err)
{
	CK_ATTRIBUTE value = {CKA_VALUE, NULL, 0};
	CK_ATTRIBUTE *id = (CK_ATTRIBUTE *)hc_attr_find(u, U_COUNT, CKA_ID);
	CK_ULONG v;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->handle = handle;
	out->key = HC_INV_NONE;
	out->cert_type = hc_attr_ulong(&u[U_CERT_TYPE], &v) ? v : CK_UNAVAILABLE_INFORMATION;
	out->category = hc_attr_ulong(&u[U_CERT_CATEGORY], &v) ? v : CK_UNAVAILABLE_INFORMATION;
	out->label = attr_string(hc_attr_find(u, U_COUNT, CKA_LABEL));
	if (hc_attr_available(id)) {
		out->id = id->pValue;
		out->id_len = id->ulValueLen;
		id->pValue = NULL;
	}
	if (!out->label)
		return hc_fail(err, HC_IO, "out of memory");
	if (out->cert_type != CKC_X_509 && out->cert_type != CK_UNAVAILABLE_INFORMATION)
		return HC_OK;
	if ((rc = hc_attrs_get(session, handle, &value, 1, err)) != HC_OK)
		return rc;
	if (hc_attr_available(&value)) {
		const unsigned char *p = value.pValue;
		out->x509 = d2i_X509(NULL, &p, (long)value.ulValueLen);
	}
	hc_attrs_release(&value, 1);
	out->authority = out->category == 2 /* CK_CERTIFICATE_CATEGORY_AUTHORITY */ ||
			 (out->x509 && X509_check_ca(out->x509) == 1);
	return HC_OK;
}

static void cert_clear(hc_inv_cert *c)
{
	free(c->label);
	free(c->id);
	X509_free(c->x509);
	memset(c, 0, sizeof(*c));
}

static void release_key_material(hc_key_info *k)
{
	free(k->modulus);
	free(k->public_exponent);
	free(k->ec_params);
	free(k->ec_point);
	k->modulus = k->public_exponent = k->ec_params = k->ec_point = NULL;
	k->modulus_len = k->public_exponent_len = k->ec_params_len = k->ec_point_len = 0;
}

/* Capacities of the inventory's growing arrays while it is read. */
struct caps {
	size_t keys, secret, public_, prints, certs, unreadable;
};

/*
 * The token would not describe this object. When the answer is about the
 * session or the token (it is gone, logged out, out of memory), reading
 * stops; an object deleted since the search is passed over; any other
 * answer is about this object, which is recorded and the reading goes on.
 */
static hc_rc object_unreadable(hc_inventory *inv, struct caps *caps, CK_OBJECT_HANDLE handle,
			       hc_rc rc, hc_error *err)
{
	if (!err->has_ckr)
		return rc;
	switch (err->ckr) {
	case CKR_OBJECT_HANDLE_INVALID: hc_error_clear(err); return HC_OK;
	case CKR_SESSION_CLOSED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_HOST_MEMORY:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_USER_NOT_LOGGED_IN:
	/* An answer that cannot be interpreted (issue 14.10) is the token's, not the object's. */
	case CKR_OK:
	case CKR_BUFFER_TOO_SMALL: return rc;
	default: break;
	}
	if (!hc_array_grow(&inv->unreadable, &caps->unreadable, inv->unreadable_count,
			   sizeof(*inv->unreadable)))
		return hc_fail(err, HC_IO, "out of memory");
	inv->unreadable[inv->unreadable_count++] = (hc_inv_unreadable){handle, err->ckr};
	hc_error_clear(err);
	return HC_OK;
}

/* Read one object and file it under its class; other classes are passed over. */
static hc_rc load_object(hc_session *session, CK_OBJECT_HANDLE handle, hc_inventory *inv,
			 struct caps *caps, hc_error *err)
{
	CK_ATTRIBUTE u[U_COUNT];
	CK_ULONG cls;
	hc_key_info *key = NULL;
	hc_rc rc = HC_OK;

	for (int i = 0; i < U_COUNT; i++)
		u[i] = (CK_ATTRIBUTE){i < HC_KEY_ATTR_COUNT ? hc_key_attr_types[i]
				      : i == U_CERT_TYPE    ? CKA_CERTIFICATE_TYPE
							    : CKA_CERTIFICATE_CATEGORY,
				      NULL, 0};
	rc = hc_attrs_get_applicable(session, handle, u, U_COUNT, hc_key_attr_applicable, err);
	if (rc != HC_OK)
		return object_unreadable(inv, caps, handle, rc, err);
	if (!hc_attr_ulong(&u[0], &cls))
		cls = CK_UNAVAILABLE_INFORMATION;
	switch (cls) {
	case CKO_PRIVATE_KEY:
		if (!hc_array_grow(&inv->keys, &caps->keys, inv->key_count, sizeof(*inv->keys)))
			goto oom;
		memset(&inv->keys[inv->key_count], 0, sizeof(*inv->keys));
		inv->keys[inv->key_count].public_key = HC_INV_NONE;
		key = &inv->keys[inv->key_count++].info;
		break;
	case CKO_SECRET_KEY:
		if (!hc_array_grow(&inv->secret_keys, &caps->secret, inv->secret_count,
				   sizeof(*inv->secret_keys)))
			goto oom;
		key = &inv->secret_keys[inv->secret_count++];
		break;
	case CKO_PUBLIC_KEY:
		if (!hc_array_grow(&inv->public_keys, &caps->public_, inv->public_count,
				   sizeof(*inv->public_keys)) ||
		    !hc_array_grow(&inv->public_prints_, &caps->prints, inv->public_count,
				   sizeof(*inv->public_prints_)))
			goto oom;
		key = &inv->public_keys[inv->public_count++];
		break;
	case CKO_CERTIFICATE:
		if (!hc_array_grow(&inv->certs, &caps->certs, inv->cert_count, sizeof(*inv->certs)))
			goto oom;
		rc = describe_cert(session, handle, u, &inv->certs[inv->cert_count++], err);
		break;
	default: break;
	}
	if (key)
		rc = hc_key_info_from_attrs(handle, u, key, err);
	hc_attrs_release(u, U_COUNT);
	/*
	 * Keys are paired by the digest of their public half; the material is
	 * not kept (a token with thousands of keys then costs little memory).
	 */
	if (rc == HC_OK && (cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY)) {
		hc_inv_print *print = cls == CKO_PUBLIC_KEY
					      ? &inv->public_prints_[inv->public_count - 1]
					      : &inv->keys[inv->key_count - 1].print_;
		print->known = print_material(key, print->digest);
		release_key_material(key);
	}
	return rc;
oom:
	hc_attrs_release(u, U_COUNT);
	return hc_fail(err, HC_IO, "out of memory");
}

/* ---- pairing by CKA_ID -------------------------------------------------- */

typedef struct idref {
	const unsigned char *id;
	size_t id_len;
	CK_KEY_TYPE ckk;
	size_t index;
} idref;

static int compare_ids(const idref *x, const idref *y, bool with_type)
{
	size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
	int c = n ? memcmp(x->id, y->id, n) : 0;

	if (c)
		return c;
	if (x->id_len != y->id_len)
		return x->id_len < y->id_len ? -1 : 1;
	if (with_type && x->ckk != y->ckk)
		return x->ckk < y->ckk ? -1 : 1;
	return 0;
}

static int sort_ids(const void *a, const void *b)
{
	const idref *x = a, *y = b;
	int c = compare_ids(x, y, true);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The first entry of a sorted idref table equal to `want`, or NULL. */
static const idref *first_id(const idref *table, size_t n, const idref *want, bool with_type)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (compare_ids(&table[mid], want, with_type) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && compare_ids(&table[lo], want, with_type) == 0 ? &table[lo] : NULL;
}

static idref *id_table(const hc_key_info *keys, size_t n, size_t stride)
{
	idref *t = calloc(n ? n : 1, sizeof(*t));

	if (!t)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const hc_key_info *k = (const hc_key_info *)((const char *)keys + i * stride);
		t[i] = (idref){k->id, k->id_len, k->type.ckk, i};
	}
	if (n > 1)
		qsort(t, n, sizeof(*t), sort_ids);
	return t;
}

/* Each private key's public key object: same CKA_ID and key type. */
static hc_rc pair_public_keys(hc_inventory *inv, hc_error *err)
{
	idref *pubs = id_table(inv->public_keys, inv->public_count, sizeof(hc_key_info));

	if (!pubs)
		return hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; i < inv->key_count; i++) {
		hc_inv_key *k = &inv->keys[i];
		idref want = {k->info.id, k->info.id_len, k->info.type.ckk, 0};
		const idref *hit = k->info.id_len ? first_id(pubs, inv->public_count, &want, true)
						  : NULL;
		k->public_key = hit ? hit->index : HC_INV_NONE;
	}
	free(pubs);
	return HC_OK;
}

/* The first key with this public half, or HC_INV_NONE. */
static size_t find_print(const keyprint *prints, size_t n, const unsigned char *digest)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(prints[mid].digest, digest, SHA256_DIGEST_LENGTH) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && memcmp(prints[lo].digest, digest, SHA256_DIGEST_LENGTH) == 0
		       ? prints[lo].index
		       : HC_INV_NONE;
}

/* The first key with this CKA_ID that may pair by id, or HC_INV_NONE. */
static size_t find_by_id(const hc_inventory *inv, const idref *ids, const hc_inv_cert *c,
			 bool cert_has_half)
{
	idref want = {c->id, c->id_len, 0, 0};
	const idref *hit;

	if (!c->id_len || !(hit = first_id(ids, inv->key_count, &want, false)))
		return HC_INV_NONE;
	for (; hit < ids + inv->key_count && compare_ids(hit, &want, false) == 0; hit++) {
		/* Keys whose public half is known pair only by key. */
		if (!cert_has_half || !inv->keys[hit->index].has_public_half)
			return hit->index;
	}
	return HC_INV_NONE;
}

static hc_rc pair_certs(hc_inventory *inv, hc_error *err)
{
	keyprint *prints = calloc(inv->key_count ? inv->key_count : 1, sizeof(*prints));
	idref *ids = id_table(inv->keys ? &inv->keys[0].info : NULL, inv->key_count,
			      sizeof(hc_inv_key));
	size_t *next = calloc(inv->key_count + 1, sizeof(*next));
	size_t nprints = 0, orphans = 0;
	hc_rc rc = HC_OK;

	inv->pairs_ = calloc(inv->cert_count ? inv->cert_count : 1, sizeof(*inv->pairs_));
	inv->orphans = calloc(inv->cert_count ? inv->cert_count : 1, sizeof(*inv->orphans));
	if (!prints || !ids || !next || !inv->pairs_ || !inv->orphans) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < inv->key_count; i++) {
		hc_inv_key *k = &inv->keys[i];
		k->has_public_half = print_key(inv, k, prints[nprints].digest);
		if (k->has_public_half)
			prints[nprints++].index = i;
	}
	if (nprints > 1)
		qsort(prints, nprints, sizeof(*prints), compare_prints);

	for (size_t c = 0; c < inv->cert_count; c++) {
		hc_inv_cert *cert = &inv->certs[c];
		unsigned char digest[SHA256_DIGEST_LENGTH];
		bool has_half = print_cert(cert->x509, digest);
		size_t key = has_half ? find_print(prints, nprints, digest) : HC_INV_NONE;

		cert->match = key != HC_INV_NONE ? HC_INV_MATCH_KEY : HC_INV_MATCH_NONE;
		if (key == HC_INV_NONE &&
		    (key = find_by_id(inv, ids, cert, has_half)) != HC_INV_NONE)
			cert->match = HC_INV_MATCH_ID;
		cert->key = key;
		if (key != HC_INV_NONE)
			inv->keys[key].cert_count++;
		else if (!cert->authority)
			inv->orphans[orphans++] = c;
	}
	inv->orphan_count = orphans;

	/* Each key's certificates are one slice of pairs_, in token order. */
	for (size_t i = 0; i < inv->key_count; i++) {
		next[i + 1] = next[i] + inv->keys[i].cert_count;
		inv->keys[i].certs = inv->pairs_ + next[i];
	}
	for (size_t c = 0; c < inv->cert_count; c++)
		if (inv->certs[c].key != HC_INV_NONE)
			inv->pairs_[next[inv->certs[c].key]++] = c;
out:
	free(prints);
	free(ids);
	free(next);
	return rc;
}

/* ---- the inventory ------------------------------------------------------ */

hc_rc hc_inventory_load(hc_session *session, hc_inventory *out, hc_error *err)
{
	CK_OBJECT_HANDLE *handles = NULL;
	struct caps caps = {0};
	size_t n = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->token_ = hc_session_slot(session)->token;
	/* One search for everything: each search costs the token a pass over all objects. */
	if ((rc = hc_objects_find(session, NULL, 0, &handles, &n, err)) != HC_OK)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if ((rc = load_object(session, handles[i], out, &caps, err)) != HC_OK)
			goto fail;
	if ((rc = pair_public_keys(out, err)) != HC_OK || (rc = pair_certs(out, err)) != HC_OK)
		goto fail;
	free(handles);
	return HC_OK;
fail:
	free(handles);
	hc_inventory_clear(out);
	return rc;
}

void hc_inventory_clear(hc_inventory *inv)
{
	if (!inv)
		return;
	for (size_t i = 0; i < inv->key_count; i++)
		hc_key_info_clear(&inv->keys[i].info);
	for (size_t i = 0; i < inv->secret_count; i++)
		hc_key_info_clear(&inv->secret_keys[i]);
	for (size_t i = 0; i < inv->public_count; i++)
		hc_key_info_clear(&inv->public_keys[i]);
	for (size_t i = 0; i < inv->cert_count; i++)
		cert_clear(&inv->certs[i]);
	free(inv->keys);
	free(inv->secret_keys);
	free(inv->public_keys);
	free(inv->public_prints_);
	free(inv->certs);
	free(inv->orphans);
	free(inv->unreadable);
	free(inv->pairs_);
	memset(inv, 0, sizeof(*inv));
}

char *hc_inventory_uri(const hc_inventory *inv, CK_OBJECT_CLASS cls, const char *label,
		       const unsigned char *id, size_t id_len)
{
	return hc_uri_for_object(&inv->token_, cls, label ? label : "", id, id_len);
}

const char *hc_inv_match_name(hc_inv_match match)
{
	switch (match) {
	case HC_INV_MATCH_KEY: return "key";
	case HC_INV_MATCH_ID: return "id";
	default: return "none";
	}
}
