/*
 * Describing what was loaded, the way a person checks it (SPEC: show):
 * certificates (hsmcert/x509.h), requests, CRLs and extensions
 * (hsmcert/show.h). Names, thumbprints, keys, SANs with U-labels, times.
 */
#include "hsmcert/show.h"
#include "hsmcert/x509.h"

#include "hsmcert/hex.h"
#include "hsmcert/subject.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- certificates ---------------------------------------------------- */

char *hc_x509_name_text(const X509_NAME *name)
{
	/* One line, the name's own order, UTF-8 kept as UTF-8, RFC 4514 escapes. */
	unsigned long flags = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS |
			      ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL |
			      ASN1_STRFLGS_UTF8_CONVERT | ASN1_STRFLGS_DUMP_UNKNOWN |
			      ASN1_STRFLGS_DUMP_DER;
	BIO *bio = BIO_new(BIO_s_mem());
	char *text = NULL, *p;
	long n;

	if (!bio)
		return NULL;
	if (X509_NAME_print_ex(bio, name, 0, flags) >= 0 && (n = BIO_get_mem_data(bio, &p)) >= 0)
		text = strndup(p, (size_t)n);
	BIO_free(bio);
	return text;
}

void hc_x509_thumbprints(X509 *cert, char sha1[41], char sha256[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *hex;

	sha1[0] = sha256[0] = '\0';
	if (X509_digest(cert, EVP_sha1(), md, &n) && (hex = hc_hex_encode(md, n))) {
		snprintf(sha1, 41, "%s", hex);
		free(hex);
	}
	if (X509_digest(cert, EVP_sha256(), md, &n) && (hex = hc_hex_encode(md, n))) {
		snprintf(sha256, 65, "%s", hex);
		free(hex);
	}
}

void hc_pkey_describe(const EVP_PKEY *pkey, char *type, size_t len, unsigned *bits)
{
	int id = pkey ? EVP_PKEY_get_base_id(pkey) : NID_undef;
	char group[64] = "";
	const char *nist;

	*bits = pkey ? (unsigned)EVP_PKEY_get_bits(pkey) : 0;
	switch (id) {
	case EVP_PKEY_RSA: snprintf(type, len, "rsa:%u", *bits); break;
	case EVP_PKEY_RSA_PSS: snprintf(type, len, "rsa-pss:%u", *bits); break;
	case EVP_PKEY_EC:
		EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), NULL);
		nist = EC_curve_nid2nist(OBJ_sn2nid(group));
		snprintf(type, len, "ec:%s", nist ? nist : group);
		break;
	case EVP_PKEY_ED25519: snprintf(type, len, "ed25519"); break;
	case EVP_PKEY_ED448: snprintf(type, len, "ed448"); break;
	default: snprintf(type, len, "%s", id != NID_undef ? OBJ_nid2sn(id) : "unknown");
	}
}

static hc_rc san_set(hc_san *s, const char *type, const char *value, size_t n, hc_error *err)
{
	s->type = strdup(type);
	s->value = strndup(value, n);
	if (!s->type || !s->value)
		return hc_fail(err, HC_IO, "out of memory");
	if (strcmp(type, "DNS") == 0)
		s->ulabel = hc_hostname_to_unicode(s->value);
	return HC_OK;
}

hc_rc hc_sans_from_extensions(const STACK_OF(X509_EXTENSION) *exts, hc_san **sans, size_t *count,
			      hc_error *err)
{
	GENERAL_NAMES *names = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	hc_san *list = NULL;
	size_t n = 0;
	hc_rc rc = HC_OK;

	*sans = NULL;
	*count = 0;
	if (!names)
		return HC_OK;
	list = calloc((size_t)sk_GENERAL_NAME_num(names) + 1, sizeof(*list));
	if (!list) {
		GENERAL_NAMES_free(names);
		return hc_fail(err, HC_IO, "out of memory");
	}
	for (int i = 0; rc == HC_OK && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const ASN1_STRING *s;
		char ip[INET6_ADDRSTRLEN] = "";
		switch (g->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			s = g->d.ia5;
			rc = san_set(&list[n++],
				     g->type == GEN_DNS	    ? "DNS"
				     : g->type == GEN_EMAIL ? "email"
							    : "URI",
				     (const char *)ASN1_STRING_get0_data(s),
				     (size_t)ASN1_STRING_length(s), err);
			break;
		case GEN_IPADD:
			s = g->d.ip;
			if (ASN1_STRING_length(s) == 4)
				inet_ntop(AF_INET, ASN1_STRING_get0_data(s), ip, sizeof(ip));
			else if (ASN1_STRING_length(s) == 16)
				inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), ip, sizeof(ip));
			rc = san_set(&list[n++], "IP", ip[0] ? ip : "(malformed)",
				     strlen(ip[0] ? ip : "(malformed)"), err);
			break;
		default: rc = san_set(&list[n++], "other", "", 0, err);
		}
	}
	GENERAL_NAMES_free(names);
	if (rc != HC_OK) {
		hc_sans_free(list, n);
		return rc;
	}
	*sans = list;
	*count = n;
	return HC_OK;
}

void hc_sans_free(hc_san *sans, size_t count)
{
	for (size_t i = 0; sans && i < count; i++) {
		free(sans[i].type);
		free(sans[i].value);
		free(sans[i].ulabel);
	}
	free(sans);
}

time_t hc_asn1_time_to_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return (time_t)-1;
	return timegm(&tm);
}

long hc_days_until(time_t t, time_t now)
{
	double d = difftime(t, now) / 86400.0;
	long days = (long)d;
	return (d < 0 && (double)days != d) ? days - 1 : days;
}

void hc_time_iso8601(time_t t, char out[21])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 21, "unknown");
}

hc_rc hc_cert_describe(X509 *cert, hc_cert_info *out, hc_error *err)
{
	BASIC_CONSTRAINTS *bc;
	int nid;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->subject = hc_x509_name_text(X509_get_subject_name(cert));
	out->issuer = hc_x509_name_text(X509_get_issuer_name(cert));
	out->serial = hc_x509_integer_hex(X509_get0_serialNumber(cert));
	out->not_before = hc_asn1_time_to_time(X509_get0_notBefore(cert));
	out->not_after = hc_asn1_time_to_time(X509_get0_notAfter(cert));
	hc_x509_thumbprints(cert, out->sha1, out->sha256);
	hc_pkey_describe(X509_get0_pubkey(cert), out->key_type, sizeof(out->key_type),
			 &out->key_bits);
	nid = X509_get_signature_nid(cert);
	out->signature_algorithm = strdup(nid != NID_undef ? OBJ_nid2ln(nid) : "unknown");
	bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
	out->is_ca = bc && bc->ca;
	out->path_len = bc && bc->pathlen ? ASN1_INTEGER_get(bc->pathlen) : -1;
	BASIC_CONSTRAINTS_free(bc);
	out->self_signed = X509_self_signed(cert, 1) == 1;
	ERR_clear_error();
	if (!out->subject || !out->issuer || !out->serial || !out->signature_algorithm) {
		hc_cert_info_clear(out);
		return hc_fail(err, HC_IO, "out of memory");
	}
	rc = hc_sans_from_extensions(X509_get0_extensions(cert), &out->sans, &out->san_count, err);
	if (rc != HC_OK)
		hc_cert_info_clear(out);
	return rc;
}

void hc_cert_info_clear(hc_cert_info *info)
{
	if (!info)
		return;
	free(info->subject);
	free(info->issuer);
	free(info->serial);
	free(info->signature_algorithm);
	hc_sans_free(info->sans, info->san_count);
	memset(info, 0, sizeof(*info));
}

/* ---- requests, CRLs, extensions ---------------------------------------- */

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

hc_rc hc_extensions_describe(const STACK_OF(X509_EXTENSION) *exts, hc_ext_info **out, size_t *count,
			     hc_error *err)
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

/* Lowercase hex of an INTEGER, as thumbprints and serials are shown: the one serial-to-hex. */
char *hc_x509_integer_hex(const ASN1_INTEGER *i)
{
	BIGNUM *bn = i ? ASN1_INTEGER_to_BN(i, NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL, *out = NULL;

	if (hex) {
		for (char *p = hex; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		out = strdup(hex);
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return out;
}

/* RFC 5280 5.3.1 CRLReason, by code. */
static const char *const crl_reasons[] = {
	"unspecified",	 "keyCompromise",	 "cACompromise",    "affiliationChanged",
	"superseded",	 "cessationOfOperation", "certificateHold", "(unused)",
	"removeFromCRL", "privilegeWithdrawn",	 "aACompromise",
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
