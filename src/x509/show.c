/* SPEC: show — a whole file described first (hc_show_describe), printed after. */
#include "hsmcert/show.h"

#include <stdlib.h>
#include <string.h>

const char *hc_x509_format_name(hc_x509_format f)
{
	switch (f) {
	case HC_FMT_PEM: return "pem";
	case HC_FMT_DER_CERT: return "der_certificate";
	case HC_FMT_DER_CRL: return "der_crl";
	case HC_FMT_DER_CSR: return "der_request";
	case HC_FMT_PKCS7: return "pkcs7";
	case HC_FMT_PKCS12: return "pkcs12";
	default: return "unknown";
	}
}

static hc_rc describe_cert(X509 *x, hc_show_cert *out, hc_error *err)
{
	hc_rc rc = hc_cert_describe(x, &out->info, err);

	if (rc != HC_OK)
		return rc;
	return hc_extensions_describe(X509_get0_extensions(x), &out->extensions,
				      &out->extension_count, err);
}

hc_rc hc_show_describe(const hc_x509_bundle *b, hc_show_report *out, hc_error *err)
{
	int ncerts = sk_X509_num(b->certs), ncrls = sk_X509_CRL_num(b->crls);
	hc_rc rc = HC_OK;

	memset(out, 0, sizeof(*out));
	out->format = b->format;
	out->legacy_pkcs12 = b->legacy_pkcs12;
	out->certs = calloc(ncerts > 0 ? (size_t)ncerts : 1, sizeof(*out->certs));
	out->crls = calloc(ncrls > 0 ? (size_t)ncrls : 1, sizeof(*out->crls));
	if (!out->certs || !out->crls) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	for (int i = 0; rc == HC_OK && i < ncerts; i++, out->cert_count++)
		rc = describe_cert(sk_X509_value(b->certs, i), &out->certs[i], err);
	if (rc == HC_OK && b->csr) {
		if (!(out->request = calloc(1, sizeof(*out->request))))
			rc = hc_fail(err, HC_IO, "out of memory");
		else
			rc = hc_req_describe(b->csr, out->request, err);
	}
	for (int i = 0; rc == HC_OK && i < ncrls; i++, out->crl_count++)
		rc = hc_crl_describe(sk_X509_CRL_value(b->crls, i), &out->crls[i], err);
	if (rc == HC_OK && b->pkey) {
		out->has_private_key = true;
		hc_pkey_describe(b->pkey, out->key_type, sizeof(out->key_type), &out->key_bits);
		if (b->friendly_name && !(out->friendly_name = strdup(b->friendly_name)))
			rc = hc_fail(err, HC_IO, "out of memory");
	}
out:
	if (rc != HC_OK)
		hc_show_report_clear(out);
	return rc;
}

void hc_show_report_clear(hc_show_report *r)
{
	for (size_t i = 0; r->certs && i < r->cert_count; i++) {
		hc_cert_info_clear(&r->certs[i].info);
		hc_extensions_free(r->certs[i].extensions, r->certs[i].extension_count);
	}
	free(r->certs);
	if (r->request)
		hc_req_info_clear(r->request);
	free(r->request);
	for (size_t i = 0; r->crls && i < r->crl_count; i++)
		hc_crl_info_clear(&r->crls[i]);
	free(r->crls);
	free(r->friendly_name);
	memset(r, 0, sizeof(*r));
}
