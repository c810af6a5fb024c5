/* SPEC: export — a certificate, its chain from the token, or a public key, out of the token. */
#include "hsmcert/export.h"

#include "hsmcert/chain.h"
#include "hsmcert/x509.h"

#include <openssl/pem.h>

#include <stdlib.h>
#include <string.h>

/* The stored certificates among `found` (handles a URI search returned). */
static size_t certs_among(const hc_stored_cert *certs, size_t ncerts, const CK_OBJECT_HANDLE *found,
			  size_t nfound, size_t *first)
{
	size_t n = 0;

	for (size_t i = 0; i < ncerts; i++)
		for (size_t j = 0; j < nfound; j++)
			if (certs[i].handle == found[j] && certs[i].cert) {
				if (n++ == 0)
					*first = i;
				break;
			}
	return n;
}

static hc_rc take_leaf(hc_export_result *out, const hc_stored_cert *c, hc_error *err)
{
	if (!X509_up_ref(c->cert) || !(out->cert_uri = strdup(c->uri ? c->uri : "")))
		return hc_fail(err, HC_IO, "out of memory");
	out->cert = c->cert;
	return HC_OK;
}

/* The certificate the URI names as a certificate object: exactly one. */
static hc_rc leaf_by_uri(hc_session *s, const hc_uri *uri, const hc_stored_cert *certs,
			 size_t ncerts, hc_export_result *out, hc_error *err)
{
	CK_ULONG nattrs = 0;
	CK_ATTRIBUTE *tmpl = hc_uri_object_template(uri, &nattrs);
	CK_OBJECT_HANDLE *found = NULL;
	size_t nfound = 0, first = 0, n;
	hc_rc rc;

	if ((rc = hc_objects_find(s, tmpl, nattrs, &found, &nfound, err)) != HC_OK)
		return rc;
	n = certs_among(certs, ncerts, found, nfound, &first);
	free(found);
	if (n == 0)
		return hc_fail(err, HC_USAGE, "no certificate on the token matches %s",
			       hc_uri_text(uri));
	if (n > 1)
		return hc_fail(err, HC_USAGE,
			       "%zu certificates match %s: name one by its id (the first is %s)", n,
			       hc_uri_text(uri), certs[first].uri ? certs[first].uri : "?");
	return take_leaf(out, &certs[first], err);
}

/* The key's newest certificate: same public key, latest notBefore. */
static hc_rc leaf_of_key(const hc_key_info *key, EVP_PKEY *pub, const hc_stored_cert *certs,
			 size_t ncerts, hc_export_result *out, hc_error *err)
{
	const hc_stored_cert *best = NULL;
	size_t matches = 0;

	for (size_t i = 0; i < ncerts; i++) {
		if (!certs[i].cert || !hc_public_keys_equal(X509_get0_pubkey(certs[i].cert), pub))
			continue;
		matches++;
		if (!best || ASN1_TIME_compare(X509_get0_notBefore(certs[i].cert),
					       X509_get0_notBefore(best->cert)) > 0)
			best = &certs[i];
	}
	if (!best)
		return hc_fail(err, HC_CHECK,
			       "no certificate on the token belongs to key '%s' (%s)", key->label,
			       key->uri);
	out->other_certs = matches - 1;
	return take_leaf(out, best, err);
}

/* Is `issuer` the certificate that signed `child`? Name, then signature. */
static bool issued(X509 *issuer, X509 *child)
{
	EVP_PKEY *k = X509_get0_pubkey(issuer);

	return X509_NAME_cmp(X509_get_issuer_name(child), X509_get_subject_name(issuer)) == 0 &&
	       k && X509_verify(child, k) == 1;
}

static bool self_signed(X509 *x)
{
	return issued(x, x);
}

/*
 * Walk up from the leaf through the token's certificates: at each step the
 * issuer that verifies the child, the latest notBefore among several (a
 * re-issued Sub CA). Stops at a self-signed certificate (left out unless
 * include_root) or when the token holds no issuer.
 */
static hc_rc collect_chain(const hc_stored_cert *certs, size_t ncerts, bool include_root,
			   hc_export_result *out, hc_error *err)
{
	X509 *child = out->cert;
	size_t steps = 0;

	if (!(out->chain = sk_X509_new_null()) ||
	    !(out->chain_uris = calloc(ncerts + 1, sizeof(*out->chain_uris))))
		return hc_fail(err, HC_IO, "out of memory");
	while (!self_signed(child) && steps++ < ncerts) {
		const hc_stored_cert *best = NULL;
		for (size_t i = 0; i < ncerts; i++) {
			if (!certs[i].cert || certs[i].cert == child ||
			    !issued(certs[i].cert, child))
				continue;
			if (!best || ASN1_TIME_compare(X509_get0_notBefore(certs[i].cert),
						       X509_get0_notBefore(best->cert)) > 0)
				best = &certs[i];
		}
		if (!best)
			return HC_OK;
		if (self_signed(best->cert)) {
			out->reached_root = true;
			if (!include_root)
				return HC_OK;
		}
		if (!X509_up_ref(best->cert))
			return hc_fail(err, HC_IO, "out of memory");
		if (!sk_X509_push(out->chain, best->cert)) {
			X509_free(best->cert);
			return hc_fail(err, HC_IO, "out of memory");
		}
		out->chain_uris[sk_X509_num(out->chain) - 1] = strdup(best->uri ? best->uri : "");
		child = best->cert;
	}
	if (self_signed(child))
		out->reached_root = true;
	return HC_OK;
}

/* The URI's CKA_CLASS, or CK_UNAVAILABLE_INFORMATION when it names none. */
static CK_OBJECT_CLASS uri_class(const hc_uri *uri)
{
	CK_ULONG nattrs = 0, cls;
	CK_ATTRIBUTE *tmpl = hc_uri_object_template(uri, &nattrs);

	return hc_attr_ulong(hc_attr_find(tmpl, nattrs, CKA_CLASS), &cls)
		       ? cls
		       : CK_UNAVAILABLE_INFORMATION;
}

hc_rc hc_export_collect(hc_session *s, const hc_export_params *p, hc_export_result *out,
			hc_error *err)
{
	hc_uri *uri = NULL;
	hc_stored_cert *certs = NULL;
	size_t ncerts = 0;
	hc_key_info key = {0};
	EVP_PKEY *pub = NULL;
	CK_OBJECT_CLASS cls;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = hc_uri_parse(p->uri, &uri, err)) != HC_OK)
		return rc;
	if (!hc_uri_names_object(uri)) {
		rc = hc_fail(err, HC_USAGE,
			     "%s names no object: add object= or id=", hc_uri_text(uri));
		goto out;
	}
	cls = uri_class(uri);
	if (cls == CKO_SECRET_KEY || cls == CKO_DATA) {
		rc = hc_fail(err, HC_USAGE, "%s names a %s: export takes a certificate or a key",
			     hc_uri_text(uri), hc_object_class_name(cls));
		goto out;
	}
	if ((rc = hc_certstore_list(s, &certs, &ncerts, err)) != HC_OK)
		goto out;

	if (cls == CKO_CERTIFICATE) {
		if ((rc = leaf_by_uri(s, uri, certs, ncerts, out, err)) != HC_OK)
			goto out;
	} else {
		/* A key (or no type= at all): its newest certificate, found by public key. */
		rc = hc_key_select_private(s, p->uri, &key, err);
		if (rc != HC_OK && cls == CK_UNAVAILABLE_INFORMATION) {
			/* No private key of that name: a certificate of that name will do. */
			hc_error ignored = {0};
			if (leaf_by_uri(s, uri, certs, ncerts, out, &ignored) == HC_OK)
				rc = HC_OK;
		} else if (rc == HC_OK) {
			if (!(out->key_uri = strdup(key.uri)))
				rc = hc_fail(err, HC_IO, "out of memory");
			else if ((rc = hc_key_public(s, &key, &pub, err)) == HC_OK &&
				 (rc = leaf_of_key(&key, pub, certs, ncerts, out, err)) != HC_OK &&
				 p->pubkey && rc == HC_CHECK) {
				hc_error_clear(err); /* the public key needs no certificate */
				rc = HC_OK;
			}
		}
		if (rc != HC_OK)
			goto out;
	}
	if (p->pubkey) {
		if (!pub && out->cert && (pub = X509_get_pubkey(out->cert)) == NULL) {
			rc = hc_fail_ssl(err, HC_USAGE,
					 "the certificate's public key is unreadable");
			goto out;
		}
		out->pubkey = pub;
		pub = NULL;
	}
	if (p->chain && out->cert)
		rc = collect_chain(certs, ncerts, p->include_root, out, err);
out:
	if (rc != HC_OK)
		hc_export_result_clear(out);
	EVP_PKEY_free(pub);
	hc_key_info_clear(&key);
	hc_stored_certs_free(certs, ncerts);
	hc_uri_free(uri);
	return rc;
}

void hc_export_result_clear(hc_export_result *r)
{
	if (!r)
		return;
	X509_free(r->cert);
	free(r->cert_uri);
	EVP_PKEY_free(r->pubkey);
	free(r->key_uri);
	for (int i = 0; r->chain_uris && r->chain && i < sk_X509_num(r->chain); i++)
		free(r->chain_uris[i]);
	free(r->chain_uris);
	sk_X509_pop_free(r->chain, X509_free);
	memset(r, 0, sizeof(*r));
}

/* The bytes of the file: PEM or DER public key; DER certificate; PEM or PKCS#7 chain. */
/* OpenSSL's DER output into a malloc'd buffer, so every output is released with free(). */
static hc_rc own_der(unsigned char *der, int n, unsigned char **data, size_t *len, hc_error *err)
{
	if (n <= 0)
		return hc_fail_ssl(err, HC_IO, "encoding DER");
	*data = malloc((size_t)n);
	if (*data) {
		memcpy(*data, der, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(der);
	return *data ? HC_OK : hc_fail(err, HC_IO, "out of memory");
}

hc_rc hc_export_encode(const hc_export_result *r, hc_export_format fmt, bool pubkey,
		       unsigned char **data, size_t *len, hc_error *err)
{
	STACK_OF(X509) *all = NULL;
	hc_rc rc = HC_OK;
	int n;

	*data = NULL;
	*len = 0;
	if (pubkey) {
		unsigned char *der = NULL;
		BIO *bio;
		BUF_MEM *mem;
		if (fmt == HC_EXPORT_DER) {
			n = i2d_PUBKEY(r->pubkey, &der);
			return own_der(der, n, data, len, err);
		}
		bio = BIO_new(BIO_s_mem());
		if (!bio || !PEM_write_bio_PUBKEY(bio, r->pubkey)) {
			BIO_free(bio);
			return hc_fail_ssl(err, HC_IO, "encoding the public key");
		}
		BIO_get_mem_ptr(bio, &mem);
		if ((*data = malloc(mem->length ? mem->length : 1)) != NULL) {
			memcpy(*data, mem->data, mem->length);
			*len = mem->length;
		} else {
			rc = hc_fail(err, HC_IO, "out of memory");
		}
		BIO_free(bio);
		return rc;
	}
	if (fmt == HC_EXPORT_DER) {
		unsigned char *der = NULL;
		n = i2d_X509(r->cert, &der);
		return own_der(der, n, data, len, err);
	}
	if (!(all = sk_X509_new_null()) || !sk_X509_push(all, r->cert)) {
		sk_X509_free(all);
		return hc_fail(err, HC_IO, "out of memory");
	}
	for (int i = 0; r->chain && i < sk_X509_num(r->chain); i++)
		if (!sk_X509_push(all, sk_X509_value(r->chain, i))) {
			sk_X509_free(all);
			return hc_fail(err, HC_IO, "out of memory");
		}
	rc = hc_chain_encode(all, fmt == HC_EXPORT_P7B, data, len, err);
	sk_X509_free(all); /* the certificates belong to the result */
	return rc;
}
