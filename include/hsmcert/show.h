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
	char *name;	/* short name ("subjectAltName") or the dotted OID */
	char *long_name; /* "X509v3 Subject Alternative Name" */
	char *oid;	/* "2.5.29.17" */
	bool critical;
	char *value; /* as `openssl x509 -text` prints it; may hold newlines */
} hc_ext_info;

hc_rc hc_extensions_describe(const STACK_OF(X509_EXTENSION) *exts, hc_ext_info **out,
			     size_t *count, hc_error *err);
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

#endif
