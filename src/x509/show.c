/* SPEC: show — requests, CRLs and extensions described (see show.h). */
#include "hsmcert/show.h"

#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's text for an extension value, trailing newlines and spaces trimmed. */
static char *extension_text(X509_EXTENSION *ext)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data, *text = NULL;
	long n;

	if (!mem)
		return NULL;
	if (!X509V3_EXT_print(mem, ext, X509V3_EXT_DUMP_UNKNOWN, 0))
		ASN1_STRING_print(mem, X509_EXTENSION_get_data(ext));
	ERR_clear_error();
	n = BIO_get_mem_data(mem, &data);
	while (n > 0 && isspace((unsigned char)data[n - 1]))
		n--;
	text = strndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
	BIO_free(mem);
	return text;
}

hc_rc hc_extensions_describe(const STACK_OF(X509_EXTENSION) *exts, hc_ext_info **out,
			     size_t *count, hc_error *err)
{
	int n = exts ? sk_X509_EXTENSION_num(exts) : 0;
	hc_ext_info *list = calloc((size_t)n + 1, sizeof(*list));
	char oid[128];

	*out = NULL;
	*count = 0;
	if (!list)
		return hc_fail(err, HC_IO, "out of memory");
	for (int i = 0; i < n; i++) {
		X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
		const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
		int nid = OBJ_obj2nid(obj);
		OBJ_obj2txt(oid, sizeof(oid), obj, 1);
		list[i].oid = strdup(oid);
		list[i].name = strdup(nid != NID_undef ? OBJ_nid2sn(nid) : oid);
		list[i].long_name = strdup(nid != NID_undef ? OBJ_nid2ln(nid) : oid);
		list[i].critical = X509_EXTENSION_get_critical(ext) > 0;
		list[i].value = extension_text(ext);
		if (!list[i].oid || !list[i].name || !list[i].long_name || !list[i].value) {
			hc_extensions_free(list, (size_t)i + 1);
			return hc_fail(err, HC_IO, "out of memory");
		}
	}
	*out = list;
	*count = (size_t)n;
	return HC_OK;
}

void hc_extensions_free(hc_ext_info *exts, size_t count)
{
	for (size_t i = 0; exts && i < count; i++) {
		free(exts[i].name);
		free(exts[i].long_name);
		free(exts[i].oid);
		free(exts[i].value);
	}
	free(exts);
}

static char *algorithm_name(const X509_ALGOR *alg)
{
	const ASN1_OBJECT *obj;
	char oid[128];
	int nid;

	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	nid = OBJ_obj2nid(obj);
	if (nid != NID_undef)
		return strdup(OBJ_nid2ln(nid));
	OBJ_obj2txt(oid, sizeof(oid), obj, 1);
	return strdup(oid);
}

hc_rc hc_req_describe(X509_REQ *req, hc_req_info *out, hc_error *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	const X509_ALGOR *alg = NULL;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	X509_REQ_get0_signature(req, NULL, &alg);
	out->subject = hc_x509_name_text(X509_REQ_get_subject_name(req));
	out->signature_algorithm = alg ? algorithm_name(alg) : strdup("unknown");
	hc_pkey_describe(pub, out->key_type, sizeof(out->key_type), &out->key_bits);
	out->signature_verified = pub && X509_REQ_verify(req, pub) == 1;
	ERR_clear_error();
	if (!out->subject || !out->signature_algorithm)
		rc = hc_fail(err, HC_IO, "out of memory");
	else if ((rc = hc_sans_from_extensions(exts, &out->sans, &out->san_count, err)) == HC_OK)
		rc = hc_extensions_describe(exts, &out->extensions, &out->extension_count, err);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (rc != HC_OK)
		hc_req_info_clear(out);
	return rc;
}

void hc_req_info_clear(hc_req_info *info)
{
	free(info->subject);
	free(info->signature_algorithm);
	hc_sans_free(info->sans, info->san_count);
	hc_extensions_free(info->extensions, info->extension_count);
	memset(info, 0, sizeof(*info));
}

/* RFC 5280 5.3.1 CRLReason, by code. */
static const char *const crl_reasons[] = {
	"unspecified",	      "keyCompromise",	 "cACompromise",   "affiliationChanged",
	"superseded",	      "cessationOfOperation", "certificateHold", "(unused)",
	"removeFromCRL",      "privilegeWithdrawn",   "aACompromise",
};

static hc_rc describe_revoked(X509_CRL *crl, hc_crl_info *out, hc_error *err)
{
	STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(crl);
	int n = revoked ? sk_X509_REVOKED_num(revoked) : 0;

	out->revoked = calloc((size_t)n + 1, sizeof(*out->revoked));
	if (!out->revoked)
		return hc_fail(err, HC_IO, "out of memory");
	for (int i = 0; i < n; i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(revoked, i);
		ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
		hc_revoked_info *e = &out->revoked[out->revoked_count++];
		e->serial = hc_x509_integer_hex(X509_REVOKED_get0_serialNumber(r));
		e->date = hc_asn1_time_to_time(X509_REVOKED_get0_revocationDate(r));
		if (reason) {
			long code = ASN1_ENUMERATED_get(reason);
			e->reason = strdup(code >= 0 && code < (long)(sizeof(crl_reasons) /
								      sizeof(crl_reasons[0]))
						   ? crl_reasons[code]
						   : "unknown");
			ASN1_ENUMERATED_free(reason);
		}
		if (!e->serial || (reason && !e->reason))
			return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

hc_rc hc_crl_describe(X509_CRL *crl, hc_crl_info *out, hc_error *err)
{
	ASN1_INTEGER *number = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	const X509_ALGOR *alg = NULL;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	X509_CRL_get0_signature(crl, NULL, &alg);
	out->issuer = hc_x509_name_text(X509_CRL_get_issuer(crl));
	out->last_update = hc_asn1_time_to_time(X509_CRL_get0_lastUpdate(crl));
	out->next_update = X509_CRL_get0_nextUpdate(crl)
				   ? hc_asn1_time_to_time(X509_CRL_get0_nextUpdate(crl))
				   : (time_t)-1;
	out->crl_number = number ? hc_x509_integer_hex(number) : NULL;
	ASN1_INTEGER_free(number);
	out->signature_algorithm = alg ? algorithm_name(alg) : strdup("unknown");
	if (!out->issuer || !out->signature_algorithm)
		rc = hc_fail(err, HC_IO, "out of memory");
	else if ((rc = describe_revoked(crl, out, err)) == HC_OK)
		rc = hc_extensions_describe(X509_CRL_get0_extensions(crl), &out->extensions,
					    &out->extension_count, err);
	if (rc != HC_OK)
		hc_crl_info_clear(out);
	return rc;
}

void hc_crl_info_clear(hc_crl_info *info)
{
	for (size_t i = 0; info->revoked && i < info->revoked_count; i++) {
		free(info->revoked[i].serial);
		free(info->revoked[i].reason);
	}
	free(info->revoked);
	free(info->issuer);
	free(info->crl_number);
	free(info->signature_algorithm);
	hc_extensions_free(info->extensions, info->extension_count);
	memset(info, 0, sizeof(*info));
}

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
