/* Certificates on a token: read, list, find by value, store, and find their key. */
#include "hsmcert/certstore.h"

#include "hsmcert/x509.h"

#include <openssl/core_names.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

const char *hc_cert_category_name(CK_ULONG category)
{
	switch (category) {
	case HC_CERT_CATEGORY_UNSPECIFIED: return "unspecified";
	case HC_CERT_CATEGORY_TOKEN_USER: return "token_user";
	case HC_CERT_CATEGORY_AUTHORITY: return "authority";
	case HC_CERT_CATEGORY_OTHER_ENTITY: return "other_entity";
	default: return "unknown";
	}
}

const char *hc_object_class_name(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PRIVATE_KEY: return "private_key";
	case CKO_PUBLIC_KEY: return "public_key";
	case CKO_SECRET_KEY: return "secret_key";
	case CKO_CERTIFICATE: return "certificate";
	case CKO_DATA: return "data";
	default: return "other";
	}
}

/* Move an attribute's value out of a fetched template. */
static unsigned char *take_value(CK_ATTRIBUTE *a, size_t *len)
{
	unsigned char *v = NULL;

	*len = 0;
	if (hc_attr_available(a)) {
		v = a->pValue;
		*len = a->ulValueLen;
		a->pValue = NULL;
	}
	return v;
}

static char *take_string(CK_ATTRIBUTE *a)
{
	size_t len;
	unsigned char *v = take_value(a, &len);
	char *s = calloc(1, len + 1);

	if (s && v)
		memcpy(s, v, len);
	free(v);
	return s;
}

enum { C_VALUE, C_LABEL, C_ID, C_CATEGORY, C_COUNT };

hc_rc hc_certstore_read(hc_session *session, CK_OBJECT_HANDLE object, hc_stored_cert *out,
			hc_error *err)
{
	CK_ATTRIBUTE a[C_COUNT] = {
		{CKA_VALUE, NULL, 0},
		{CKA_LABEL, NULL, 0},
		{CKA_ID, NULL, 0},
		{CKA_CERTIFICATE_CATEGORY, NULL, 0},
	};
	const unsigned char *p;
	CK_ULONG category;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	rc = hc_attrs_get(session, object, a, C_COUNT, err);
	if (rc != HC_OK)
		return rc;
	out->handle = object;
	if (hc_attr_available(&a[C_VALUE])) {
		p = a[C_VALUE].pValue;
		out->cert = d2i_X509(NULL, &p, (long)a[C_VALUE].ulValueLen);
	}
	out->category = hc_attr_ulong(&a[C_CATEGORY], &category) ? category
								 : CK_UNAVAILABLE_INFORMATION;
	out->label = take_string(&a[C_LABEL]);
	out->id = take_value(&a[C_ID], &out->id_len);
	hc_attrs_release(a, C_COUNT);
	out->uri = hc_uri_for_object(&hc_session_slot(session)->token, CKO_CERTIFICATE, out->label,
				     out->id, out->id_len);
	if (!out->label || !out->uri) {
		hc_stored_cert_clear(out);
		return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

void hc_stored_cert_clear(hc_stored_cert *cert)
{
	if (!cert)
		return;
	X509_free(cert->cert);
	free(cert->label);
	free(cert->id);
	free(cert->uri);
	memset(cert, 0, sizeof(*cert));
}

hc_rc hc_certstore_list(hc_session *session, hc_stored_cert **certs, size_t *count, hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE type = CKC_X_509;
	CK_ATTRIBUTE t[2] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_CERTIFICATE_TYPE, &type, sizeof(type)},
	};
	CK_OBJECT_HANDLE *handles = NULL;
	hc_stored_cert *list = NULL;
	size_t n = 0, done = 0;
	hc_rc rc;

	*certs = NULL;
	*count = 0;
	rc = hc_objects_find(session, t, 2, &handles, &n, err);
	if (rc != HC_OK)
		return rc;
	list = calloc(n ? n : 1, sizeof(*list));
	if (!list) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	for (; done < n; done++)
		if ((rc = hc_certstore_read(session, handles[done], &list[done], err)) != HC_OK)
			goto out;
	*certs = list;
	*count = n;
	list = NULL;
out:
	hc_stored_certs_free(list, done);
	free(handles);
	return rc;
}

void hc_stored_certs_free(hc_stored_cert *certs, size_t count)
{
	if (!certs)
		return;
	for (size_t i = 0; i < count; i++)
		hc_stored_cert_clear(&certs[i]);
	free(certs);
}

/* The certificate's DER; caller frees with OPENSSL_free. */
static hc_rc cert_der(X509 *cert, unsigned char **der, size_t *len, hc_error *err)
{
	int n;

	*der = NULL;
	n = i2d_X509(cert, der);
	if (n <= 0)
		return hc_fail_ssl(err, HC_USAGE, "cannot encode the certificate");
	*len = (size_t)n;
	return HC_OK;
}

hc_rc hc_certstore_find(hc_session *session, X509 *cert, CK_OBJECT_HANDLE *out, hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_OBJECT_HANDLE *found = NULL;
	unsigned char *der = NULL;
	size_t der_len = 0, n = 0;
	hc_rc rc;

	*out = CK_INVALID_HANDLE;
	if ((rc = cert_der(cert, &der, &der_len, err)) != HC_OK)
		return rc;
	{
		CK_ATTRIBUTE t[2] = {
			{CKA_CLASS, &cls, sizeof(cls)},
			{CKA_VALUE, der, der_len},
		};
		rc = hc_objects_find(session, t, 2, &found, &n, err);
	}
	if (rc == HC_OK && n > 0)
		*out = found[0];
	free(found);
	OPENSSL_free(der);
	return rc;
}

/* DER of a name or of the serial number INTEGER, as the CKA_ attributes hold them. */
static hc_rc name_der(const X509_NAME *name, unsigned char **der, size_t *len, hc_error *err)
{
	int n;

	*der = NULL;
	n = i2d_X509_NAME(name, der);
	if (n <= 0)
		return hc_fail_ssl(err, HC_USAGE, "cannot encode the certificate's name");
	*len = (size_t)n;
	return HC_OK;
}

hc_rc hc_certstore_put(hc_session *session, X509 *cert, const char *label, const unsigned char *id,
		       size_t id_len, CK_ULONG category, CK_OBJECT_HANDLE *out, hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE type = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char *der = NULL, *subject = NULL, *issuer = NULL, *serial = NULL;
	size_t der_len = 0, subject_len = 0, issuer_len = 0;
	int serial_len;
	hc_rc rc;

	*out = CK_INVALID_HANDLE;
	if ((rc = cert_der(cert, &der, &der_len, err)) != HC_OK ||
	    (rc = name_der(X509_get_subject_name(cert), &subject, &subject_len, err)) != HC_OK ||
	    (rc = name_der(X509_get_issuer_name(cert), &issuer, &issuer_len, err)) != HC_OK)
		goto out;
	serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &serial);
	if (serial_len <= 0) {
		rc = hc_fail_ssl(err, HC_USAGE, "cannot encode the certificate's serial number");
		goto out;
	}
	{
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &cls, sizeof(cls)},
			{CKA_CERTIFICATE_TYPE, &type, sizeof(type)},
			{CKA_TOKEN, &yes, sizeof(yes)},
			{CKA_PRIVATE, &no, sizeof(no)},
			{CKA_MODIFIABLE, &yes, sizeof(yes)},
			{CKA_CERTIFICATE_CATEGORY, &category, sizeof(category)},
			{CKA_VALUE, der, der_len},
			{CKA_SUBJECT, subject, subject_len},
			{CKA_ISSUER, issuer, issuer_len},
			{CKA_SERIAL_NUMBER, serial, (CK_ULONG)serial_len},
			{CKA_LABEL, (void *)(label ? label : ""), label ? strlen(label) : 0},
			{CKA_ID, (void *)id, id ? id_len : 0},
		};
		static const CK_ATTRIBUTE_TYPE optional[] = {CKA_CERTIFICATE_CATEGORY};
		rc = hc_object_create_optional(session, t, sizeof(t) / sizeof(t[0]), optional, 1,
					       out, NULL, err);
		if (rc != HC_OK)
			hc_error_prefix(err, "storing the certificate '%s'", label ? label : "");
	}
out:
	OPENSSL_free(der);
	OPENSSL_free(subject);
	OPENSSL_free(issuer);
	OPENSSL_free(serial);
	return rc;
}

hc_rc hc_cert_default_id(X509 *cert, unsigned char **id, size_t *len, hc_error *err)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
	X509_PUBKEY *pub = X509_get_X509_PUBKEY(cert);
	const unsigned char *bits = NULL;
	int bits_len = 0;

	*id = NULL;
	*len = 0;
	if (ski && ASN1_STRING_length(ski) > 0) {
		*len = (size_t)ASN1_STRING_length(ski);
		*id = malloc(*len);
		if (!*id)
			return hc_fail(err, HC_IO, "out of memory");
		memcpy(*id, ASN1_STRING_get0_data(ski), *len);
		return HC_OK;
	}
	if (!pub || !X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, pub) || bits_len <= 0)
		return hc_fail_ssl(err, HC_USAGE, "the certificate has no public key");
	*id = malloc(SHA_DIGEST_LENGTH);
	if (!*id)
		return hc_fail(err, HC_IO, "out of memory");
	SHA1(bits, (size_t)bits_len, *id);
	*len = SHA_DIGEST_LENGTH;
	return HC_OK;
}

char *hc_cert_default_label(X509 *cert)
{
	X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *label;
	int n;

	if (i < 0)
		return hc_x509_name_text(name);
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0)
		return hc_x509_name_text(name);
	label = strndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	return label;
}

/* ---- finding a certificate's key ------------------------------------ */

static bool is_rsa(const EVP_PKEY *k)
{
	return EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS");
}

bool hc_public_keys_equal(const EVP_PKEY *a, const EVP_PKEY *b)
{
	BIGNUM *an = NULL, *ae = NULL, *bn = NULL, *be = NULL;
	bool same;

	if (!is_rsa(a) || !is_rsa(b))
		return EVP_PKEY_eq(a, b) == 1;
	same = EVP_PKEY_get_bn_param(a, OSSL_PKEY_PARAM_RSA_N, &an) &&
	       EVP_PKEY_get_bn_param(a, OSSL_PKEY_PARAM_RSA_E, &ae) &&
	       EVP_PKEY_get_bn_param(b, OSSL_PKEY_PARAM_RSA_N, &bn) &&
	       EVP_PKEY_get_bn_param(b, OSSL_PKEY_PARAM_RSA_E, &be) && BN_cmp(an, bn) == 0 &&
	       BN_cmp(ae, be) == 0;
	BN_free(an);
	BN_free(ae);
	BN_free(bn);
	BN_free(be);
	return same;
}

/*
 * Is this key object the certificate's key? Describes the key and builds its
 * public half; keys whose public half cannot be built simply do not match.
 */
static hc_rc key_matches(hc_session *session, CK_OBJECT_HANDLE handle, const EVP_PKEY *want,
			 hc_key_info *key, bool *match, hc_error *err)
{
	EVP_PKEY *pub = NULL;
	hc_error ignored = {0};
	hc_rc rc;

	*match = false;
	rc = hc_key_describe(session, handle, key, err);
	if (rc != HC_OK)
		return rc;
	if (hc_key_public(session, key, &pub, &ignored) == HC_OK)
		*match = hc_public_keys_equal(pub, want);
	EVP_PKEY_free(pub);
	if (!*match)
		hc_key_info_clear(key);
	return HC_OK;
}

/* Check candidate handles in order; the first whose key matches fills `key`. */
static hc_rc first_matching(hc_session *session, const CK_OBJECT_HANDLE *handles, size_t n,
			    const EVP_PKEY *want, hc_key_info *key, bool *found, hc_error *err)
{
	for (size_t i = 0; i < n && !*found; i++) {
		hc_rc rc = key_matches(session, handles[i], want, key, found, err);
		if (rc != HC_OK)
			return rc;
	}
	return HC_OK;
}

/* Search with a template and check what it finds. */
static hc_rc search_and_match(hc_session *session, CK_ATTRIBUTE *t, CK_ULONG n,
			      const EVP_PKEY *want, hc_key_info *key, bool *found, hc_error *err)
{
	CK_OBJECT_HANDLE *handles = NULL;
	size_t count = 0;
	hc_rc rc = hc_objects_find(session, t, n, &handles, &count, err);

	if (rc == HC_OK)
		rc = first_matching(session, handles, count, want, key, found, err);
	free(handles);
	return rc;
}

/* RSA: the token can search private keys by CKA_MODULUS directly. */
static hc_rc find_rsa_by_modulus(hc_session *session, const EVP_PKEY *want, hc_key_info *key,
				 bool *found, hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	BIGNUM *n = NULL;
	unsigned char *modulus = NULL;
	int len;
	hc_rc rc = HC_OK;

	if (!EVP_PKEY_get_bn_param(want, OSSL_PKEY_PARAM_RSA_N, &n))
		return HC_OK;
	len = BN_num_bytes(n);
	modulus = malloc(len > 0 ? (size_t)len : 1);
	if (!modulus) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	BN_bn2bin(n, modulus);
	{
		CK_ATTRIBUTE t[3] = {
			{CKA_CLASS, &cls, sizeof(cls)},
			{CKA_KEY_TYPE, &kt, sizeof(kt)},
			{CKA_MODULUS, modulus, (CK_ULONG)len},
		};
		rc = search_and_match(session, t, 3, want, key, found, err);
	}
out:
	free(modulus);
	BN_free(n);
	return rc;
}

/*
 * EC: private keys rarely carry the point, so find the public key object by
 * CKA_EC_POINT (DER OCTET STRING, or the raw point some tokens store), then
 * the private keys with its CKA_ID; each is still compared as a key.
 */
static hc_rc find_ec_by_point(hc_session *session, const EVP_PKEY *want, hc_key_info *key,
			      bool *found, hc_error *err)
{
	CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	unsigned char point[256], *der = NULL;
	size_t point_len = 0;
	ASN1_OCTET_STRING *os = NULL;
	int der_len = 0;
	hc_rc rc = HC_OK;

	if (!EVP_PKEY_get_octet_string_param(want, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					     sizeof(point), &point_len))
		return HC_OK;
	os = ASN1_OCTET_STRING_new();
	if (!os || !ASN1_OCTET_STRING_set(os, point, (int)point_len) ||
	    (der_len = i2d_ASN1_OCTET_STRING(os, &der)) <= 0) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	for (int form = 0; form < 2 && !*found; form++) {
		CK_ATTRIBUTE t[3] = {
			{CKA_CLASS, &pub_cls, sizeof(pub_cls)},
			{CKA_KEY_TYPE, &kt, sizeof(kt)},
			{CKA_EC_POINT, form == 0 ? der : point,
			 form == 0 ? (CK_ULONG)der_len : (CK_ULONG)point_len},
		};
		CK_OBJECT_HANDLE *pubs = NULL;
		size_t npub = 0;

		if ((rc = hc_objects_find(session, t, 3, &pubs, &npub, err)) != HC_OK)
			goto out;
		for (size_t i = 0; i < npub && !*found && rc == HC_OK; i++) {
			CK_ATTRIBUTE idattr = {CKA_ID, NULL, 0};
			if ((rc = hc_attrs_get(session, pubs[i], &idattr, 1, err)) != HC_OK)
				break;
			if (hc_attr_available(&idattr) && idattr.ulValueLen > 0) {
				CK_ATTRIBUTE q[3] = {
					{CKA_CLASS, &priv_cls, sizeof(priv_cls)},
					{CKA_KEY_TYPE, &kt, sizeof(kt)},
					{CKA_ID, idattr.pValue, idattr.ulValueLen},
				};
				rc = search_and_match(session, q, 3, want, key, found, err);
			}
			hc_attrs_release(&idattr, 1);
		}
		free(pubs);
	}
out:
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(os);
	return rc;
}

hc_rc hc_certstore_find_key(hc_session *session, X509 *cert, hc_key_info *key, bool *found,
			    hc_error *err)
{
	const EVP_PKEY *want = X509_get0_pubkey(cert);
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt;
	hc_rc rc;

	*found = false;
	memset(key, 0, sizeof(*key));
	if (!want)
		return hc_fail_ssl(err, HC_USAGE, "the certificate's public key cannot be read");
	if (is_rsa(want)) {
		kt = CKK_RSA;
		rc = find_rsa_by_modulus(session, want, key, found, err);
	} else if (EVP_PKEY_is_a(want, "EC")) {
		kt = CKK_EC;
		rc = find_ec_by_point(session, want, key, found, err);
	} else {
		return HC_OK; /* the token layer only makes RSA and EC keys */
	}
	if (rc != HC_OK || *found)
		return rc;
	/* A token that cannot search by key value: compare every key of that type. */
	{
		CK_ATTRIBUTE t[2] = {
			{CKA_CLASS, &cls, sizeof(cls)},
			{CKA_KEY_TYPE, &kt, sizeof(kt)},
		};
		return search_and_match(session, t, 2, want, key, found, err);
	}
}
