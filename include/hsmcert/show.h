/*
 * SPEC: show — descriptions of requests, CRLs and extensions the way a
 * person checks them before submitting or installing (certificates are
 * described by hc_cert_describe in x509.h).
 */
#ifndef HSMCERT_SHOW_H
#define HSMCERT_SHOW_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <time.h>

#include "hsmcert/x509.h"

/* One extension: its names, criticality and OpenSSL's rendering of the value. */
typedef struct hc_ext_info {
	char *name;	 /* short name ("subjectAltName") or the dotted OID */
	char *long_name; /* "X509v3 Subject Alternative Name" */
	char *oid;	 /* "2.5.29.17" */
	bool critical;
	char *value; /* as `openssl x509 -text` prints it; may hold newlines */
} hc_ext_info;

hc_rc hc_extensions_describe(const STACK_OF(X509_EXTENSION) *exts, hc_ext_info **out, size_t *count,
			     hc_error *err);
void hc_extensions_free(hc_ext_info *exts, size_t count);

/* A PKCS#10 request. */
typedef struct hc_req_info {
	char *subject;
	hc_san *sans;
	size_t san_count;
	char key_type[32];
	unsigned key_bits;
	char *signature_algorithm;
	bool signature_verified; /* with the public key the request carries */
	hc_ext_info *extensions;
	size_t extension_count;
} hc_req_info;

hc_rc hc_req_describe(X509_REQ *req, hc_req_info *out, hc_error *err);
void hc_req_info_clear(hc_req_info *info);

typedef struct hc_revoked_info {
	char *serial; /* lowercase hex */
	time_t date;
	char *reason; /* "keyCompromise", ... or NULL */
} hc_revoked_info;

/* A CRL (or ARL). Its signature needs the issuer, so it is not checked here. */
typedef struct hc_crl_info {
	char *issuer;
	time_t last_update, next_update; /* next_update (time_t)-1 when absent */
	char *crl_number;		 /* hex, or NULL */
	char *signature_algorithm;
	hc_revoked_info *revoked;
	size_t revoked_count;
	hc_ext_info *extensions;
	size_t extension_count;
} hc_crl_info;

hc_rc hc_crl_describe(X509_CRL *crl, hc_crl_info *out, hc_error *err);
void hc_crl_info_clear(hc_crl_info *info);

/* A certificate with its extensions, as show reports it. */
typedef struct hc_show_cert {
	hc_cert_info info;
	hc_ext_info *extensions;
	size_t extension_count;
} hc_show_cert;

/* SPEC: show FILE — everything one loaded file holds, described. */
typedef struct hc_show_report {
	hc_x509_format format;
	hc_show_cert *certs;
	size_t cert_count;
	hc_req_info *request; /* NULL when the file holds none */
	hc_crl_info *crls;
	size_t crl_count;
	bool has_private_key; /* PKCS#12 */
	char key_type[32];
	unsigned key_bits;
	char *friendly_name; /* PKCS#12 friendly name, or NULL */
	bool legacy_pkcs12;
} hc_show_report;

/*
 * Describe every object of `bundle` before anything is shown, so a failure
 * halfway leaves no partial report.
 */
hc_rc hc_show_describe(const hc_x509_bundle *bundle, hc_show_report *out, hc_error *err);
void hc_show_report_clear(hc_show_report *report);
/* "pem", "der_certificate", "der_crl", "der_request", "pkcs7", "pkcs12", "unknown" */
const char *hc_x509_format_name(hc_x509_format format);

#endif
