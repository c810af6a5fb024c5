/*
 * Content-detected X.509 inputs (see hsmcert/x509.h): PEM, DER, PKCS#7,
 * PKCS#12, with the passphrase asked for only when a PKCS#12 is met.
 */
#include "hsmcert/x509.h"

#include "hsmcert/file.h"
#include "hsmcert/hex.h"
#include "hsmcert/subject.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* ---- loading ------------------------------------------------------- */

static hc_rc bundle_init(hc_x509_bundle *b, hc_error *err)
{
	memset(b, 0, sizeof(*b));
	b->certs = sk_X509_new_null();
	b->crls = sk_X509_CRL_new_null();
	if (!b->certs || !b->crls) {
		hc_x509_bundle_clear(b);
		return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

void hc_x509_bundle_clear(hc_x509_bundle *b)
{
	if (!b)
		return;
	sk_X509_pop_free(b->certs, X509_free);
	sk_X509_CRL_pop_free(b->crls, X509_CRL_free);
	X509_REQ_free(b->csr);
	EVP_PKEY_free(b->pkey);
	free(b->friendly_name);
	memset(b, 0, sizeof(*b));
}

/* Move the certificates and CRLs of a signed PKCS#7 into the bundle. */
static hc_rc take_pkcs7(PKCS7 *p7, hc_x509_bundle *b, const char *name, hc_error *err)
{
	STACK_OF(X509) *certs;
	STACK_OF(X509_CRL) *crls;

	if (!PKCS7_type_is_signed(p7) || !p7->d.sign)
		return hc_fail(err, HC_USAGE,
			       "%s: PKCS#7 that is not a certificate bundle "
			       "(signedData)",
			       name);
	certs = p7->d.sign->cert;
	crls = p7->d.sign->crl;
	for (int i = 0; certs && i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);
		if (!X509_up_ref(c) || !sk_X509_push(b->certs, c))
			return hc_fail(err, HC_IO, "out of memory");
	}
	for (int i = 0; crls && i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *c = sk_X509_CRL_value(crls, i);
		if (!X509_CRL_up_ref(c) || !sk_X509_CRL_push(b->crls, c))
			return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

/* Decode one DER object of a known kind; it must use every byte. */
#define D2I_EXACT(type, fn, data, len, out)                                                        \
	do {                                                                                       \
		const unsigned char *p_ = (data);                                                  \
		(out) = fn(NULL, &p_, (long)(len));                                                \
		if ((out) && p_ != (data) + (len)) {                                               \
			type##_free(out);                                                          \
			(out) = NULL;                                                              \
		}                                                                                  \
	} while (0)

static hc_rc add_der(const unsigned char *der, long len, const char *pem_name, hc_x509_bundle *b,
		     const char *name, int index, hc_error *err)
{
	const char *what = pem_name;

	if (strcmp(pem_name, "CERTIFICATE") == 0 || strcmp(pem_name, "X509 CERTIFICATE") == 0) {
		X509 *c;
		D2I_EXACT(X509, d2i_X509, der, len, c);
		if (c && sk_X509_push(b->certs, c))
			return HC_OK;
		X509_free(c);
	} else if (strcmp(pem_name, "TRUSTED CERTIFICATE") == 0) {
		X509 *c;
		D2I_EXACT(X509, d2i_X509_AUX, der, len, c);
		if (c && sk_X509_push(b->certs, c))
			return HC_OK;
		X509_free(c);
	} else if (strcmp(pem_name, "X509 CRL") == 0) {
		X509_CRL *c;
		D2I_EXACT(X509_CRL, d2i_X509_CRL, der, len, c);
		if (c && sk_X509_CRL_push(b->crls, c))
			return HC_OK;
		X509_CRL_free(c);
	} else if (strcmp(pem_name, "CERTIFICATE REQUEST") == 0 ||
		   strcmp(pem_name, "NEW CERTIFICATE REQUEST") == 0) {
		X509_REQ *r;
		D2I_EXACT(X509_REQ, d2i_X509_REQ, der, len, r);
		if (r) {
			if (!b->csr)
				b->csr = r;
			else
				X509_REQ_free(r);
			return HC_OK;
		}
	} else if (strcmp(pem_name, "PKCS7") == 0 || strcmp(pem_name, "CMS") == 0) {
		PKCS7 *p7;
		hc_rc rc;
		D2I_EXACT(PKCS7, d2i_PKCS7, der, len, p7);
		if (p7) {
			rc = take_pkcs7(p7, b, name, err);
			PKCS7_free(p7);
			return rc;
		}
	} else {
		/* Keys and other blocks in a bundle are not ours to read: skip them. */
		return HC_OK;
	}
	ERR_clear_error();
	return hc_fail(err, HC_USAGE, "%s: PEM block %d (%s) is malformed", name, index, what);
}

static hc_rc load_pem(const unsigned char *data, size_t len, const char *name, hc_x509_bundle *b,
		      hc_error *err)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	hc_rc rc = HC_OK;
	int index = 0;

	if (!bio)
		return hc_fail(err, HC_IO, "out of memory");
	for (;;) {
		char *pem_name = NULL, *header = NULL;
		unsigned char *der = NULL;
		long der_len = 0;

		if (!PEM_read_bio(bio, &pem_name, &header, &der, &der_len)) {
			unsigned long e = ERR_peek_last_error();
			ERR_clear_error();
			/* End of input is "no start line"; anything else is a broken block. */
			if (ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
				rc = hc_fail(err, HC_USAGE,
					     "%s: PEM block %d is malformed (bad "
					     "base64 or missing END line)",
					     name, index + 1);
			break;
		}
		index++;
		rc = add_der(der, der_len, pem_name, b, name, index, err);
		OPENSSL_free(pem_name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		if (rc != HC_OK)
			break;
	}
	BIO_free(bio);
	return rc;
}

bool hc_x509_is_pkcs12(const unsigned char *data, size_t len)
{
	PKCS12 *p12;
	D2I_EXACT(PKCS12, d2i_PKCS12, data, len, p12);
	PKCS12_free(p12);
	ERR_clear_error();
	return p12 != NULL;
}

/* OpenSSL 3 keeps RC2 and 3DES-era algorithms in the legacy provider: load it on demand. */
static bool load_legacy_provider(void)
{
	static OSSL_PROVIDER *legacy, *deflt;

	if (legacy)
		return true;
	legacy = OSSL_PROVIDER_load(NULL, "legacy");
	if (legacy && !deflt)
		deflt = OSSL_PROVIDER_load(NULL, "default");
	return legacy != NULL;
}

static hc_rc load_pkcs12(PKCS12 *p12, const char *name, const hc_secret *pass, hc_x509_bundle *b,
			 hc_error *err)
{
	STACK_OF(X509) *ca = NULL;
	X509 *cert = NULL;
	const char *pw;
	hc_rc rc = HC_OK;
	int ok;

	if (!pass)
		return hc_fail(err, HC_USAGE, "%s is PKCS#12: a passphrase is needed", name);
	pw = pass->data;
	if (PKCS12_mac_present(p12) && !PKCS12_verify_mac(p12, pw, (int)pass->len)) {
		ERR_clear_error();
		return hc_fail(err, HC_CHECK,
			       "%s: wrong passphrase (the PKCS#12 MAC does not "
			       "verify)",
			       name);
	}
	ok = PKCS12_parse(p12, pw, &b->pkey, &cert, &ca);
	if (!ok && load_legacy_provider()) {
		ERR_clear_error();
		b->legacy_pkcs12 = true;
		ok = PKCS12_parse(p12, pw, &b->pkey, &cert, &ca);
	}
	if (!ok)
		return hc_fail_ssl(err, HC_USAGE, "%s: cannot decrypt the PKCS#12 contents", name);
	if (cert) {
		int n = 0;
		const unsigned char *alias = X509_alias_get0(cert, &n);
		if (alias && n > 0)
			b->friendly_name = strndup((const char *)alias, (size_t)n);
		if (!sk_X509_push(b->certs, cert)) {
			X509_free(cert);
			rc = hc_fail(err, HC_IO, "out of memory");
		}
	}
	while (rc == HC_OK && ca && sk_X509_num(ca) > 0) {
		X509 *c = sk_X509_shift(ca);
		if (!sk_X509_push(b->certs, c)) {
			X509_free(c);
			rc = hc_fail(err, HC_IO, "out of memory");
		}
	}
	sk_X509_pop_free(ca, X509_free);
	return rc;
}

static bool looks_like_pem(const unsigned char *data, size_t len)
{
	static const char tag[] = "-----BEGIN ";
	size_t n = sizeof(tag) - 1;

	for (size_t i = 0; i + n <= len; i++)
		if (data[i] == '-' && memcmp(data + i, tag, n) == 0)
			return true;
	return false;
}

hc_rc hc_x509_load_mem(const unsigned char *data, size_t len, const char *name,
		       const hc_secret *pass, hc_x509_bundle *out, hc_error *err)
{
	hc_rc rc = bundle_init(out, err);
	X509 *cert;
	X509_CRL *crl;
	X509_REQ *req;
	PKCS7 *p7;
	PKCS12 *p12;

	if (rc != HC_OK)
		return rc;
	if (len == 0) {
		rc = hc_fail(err, HC_USAGE, "%s is empty", name);
		goto out;
	}
	if (looks_like_pem(data, len)) {
		out->format = HC_FMT_PEM;
		rc = load_pem(data, len, name, out, err);
		if (rc == HC_OK && sk_X509_num(out->certs) == 0 &&
		    sk_X509_CRL_num(out->crls) == 0 && !out->csr)
			rc = hc_fail(err, HC_USAGE, "%s holds no certificate, CRL or request",
				     name);
		goto out;
	}
	D2I_EXACT(X509, d2i_X509, data, len, cert);
	if (cert) {
		out->format = HC_FMT_DER_CERT;
		if (!sk_X509_push(out->certs, cert)) {
			X509_free(cert);
			rc = hc_fail(err, HC_IO, "out of memory");
		}
		goto out;
	}
	D2I_EXACT(X509_CRL, d2i_X509_CRL, data, len, crl);
	if (crl) {
		out->format = HC_FMT_DER_CRL;
		if (!sk_X509_CRL_push(out->crls, crl)) {
			X509_CRL_free(crl);
			rc = hc_fail(err, HC_IO, "out of memory");
		}
		goto out;
	}
	D2I_EXACT(X509_REQ, d2i_X509_REQ, data, len, req);
	if (req) {
		out->format = HC_FMT_DER_CSR;
		out->csr = req;
		goto out;
	}
	D2I_EXACT(PKCS7, d2i_PKCS7, data, len, p7);
	if (p7) {
		out->format = HC_FMT_PKCS7;
		rc = take_pkcs7(p7, out, name, err);
		PKCS7_free(p7);
		goto out;
	}
	D2I_EXACT(PKCS12, d2i_PKCS12, data, len, p12);
	if (p12) {
		out->format = HC_FMT_PKCS12;
		rc = load_pkcs12(p12, name, pass, out, err);
		PKCS12_free(p12);
		goto out;
	}
	rc = hc_fail(err, HC_USAGE,
		     "%s is not a certificate, CRL, request, PKCS#7 or PKCS#12 file (PEM or DER), "
		     "or it is truncated",
		     name);
out:
	ERR_clear_error();
	if (rc != HC_OK)
		hc_x509_bundle_clear(out);
	return rc;
}

/* ---- PKCS#12 among certificate inputs: the passphrase when one is met ---- */

hc_rc hc_x509_load_mem_ask(const unsigned char *data, size_t len, const char *name,
			   const hc_passphrase_ask *ask, hc_x509_bundle *out, hc_error *err)
{
	const hc_secret *pass = NULL;
	bool pkcs12 = hc_x509_is_pkcs12(data, len);
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (pkcs12 && ask && ask->fn && (rc = ask->fn(ask->ctx, name, &pass, err)) != HC_OK)
		hc_error_prefix(err, "%s is PKCS#12", name);
	else
		rc = hc_x509_load_mem(data, len, name, pass, out, err);
	if (rc != HC_OK && pkcs12)
		out->format =
			HC_FMT_PKCS12; /* the bundle is empty; the caller may ask what it was */
	return rc;
}

hc_rc hc_x509_load_file_ask(const char *path, const hc_passphrase_ask *ask, hc_x509_bundle *out,
			    hc_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = hc_file_read(path, HC_X509_MAX_FILE, &data, &len, err)) != HC_OK)
		return rc;
	rc = hc_x509_load_mem_ask(data, len, path, ask, out, err);
	OPENSSL_cleanse(data, len); /* a PKCS#12 holds a private key */
	free(data);
	return rc;
}

/* A passphrase known in advance, handed to the on-demand loader. */
static hc_rc known_passphrase(void *ctx, const char *name, const hc_secret **out, hc_error *err)
{
	(void)name;
	(void)err;
	*out = ctx;
	return HC_OK;
}

hc_rc hc_x509_load_file(const char *path, const hc_secret *pass, hc_x509_bundle *out, hc_error *err)
{
	hc_passphrase_ask ask = {known_passphrase, (void *)pass};

	return hc_x509_load_file_ask(path, &ask, out, err);
}
