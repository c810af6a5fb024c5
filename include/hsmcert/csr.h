/*
 * SPEC: csr and request — PKCS#10 requests signed inside the token.
 * Everything the user typed is checked first (hc_csr_plan_make, the
 * profile's rules), before the token signs anything or a key is generated.
 */
#ifndef HSMCERT_CSR_H
#define HSMCERT_CSR_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "hsmcert/key.h"
#include "hsmcert/keygen.h"
#include "hsmcert/subject.h"
#include "hsmcert/x509.h"

/* ---- profiles: a CA's published requirements ------------------------ */

typedef enum hc_profile {
	HC_PROFILE_NONE = 0,
	HC_PROFILE_HKPOST, /* RSA exactly 2048, SHA-256, C=HK */
	HC_PROFILE_CABF,   /* CA/Browser Forum baseline requirements */
} hc_profile;

hc_rc hc_profile_parse(const char *name, hc_profile *out, hc_error *err);
const char *hc_profile_name(hc_profile profile); /* "hkpost", "cabf", "none" */

/* The profile's key rules for a key of `type` (before keygen, or for --key). HC_USAGE. */
hc_rc hc_profile_check_key(hc_profile profile, const hc_keytype *type, hc_error *err);

/* ---- what is requested ------------------------------------------------ */

typedef struct hc_csr_params {
	const hc_subject *subject; /* may be NULL or without CN when SANs are given */
	const hc_altnames *sans;   /* from hc_altnames_add; may be NULL */
	const char *wildcard;	   /* --wildcard DOMAIN, with or without the "*." */
	hc_profile profile;
	const EVP_MD *md; /* NULL: SHA-256 */
	bool pss;	  /* RSA-PSS */
	/* More extensions for the request (a req config's req_extensions), no SAN. */
	const STACK_OF(X509_EXTENSION) *extensions;
	/* The key's type when already known (request): its profile rules are checked too. */
	const hc_keytype *key_type;
} hc_csr_params;

/* The request checked and ready to sign: the name in CA order, CN first among the SANs. */
typedef struct hc_csr_plan {
	X509_NAME *subject;
	char *common_name; /* normalised (A-labels), or NULL */
	hc_altnames sans;
	STACK_OF(X509_EXTENSION) *extensions; /* subjectAltName first */
	hc_profile profile;
	const EVP_MD *md;
	bool pss;
} hc_csr_plan;

/*
 * Check and normalise everything that does not need the token: CN and SANs
 * as host names (IDN to A-labels; a URL names the host to type), CN always
 * a SAN, --wildcard, the subject's fields, and the profile's rules on names
 * and digest. Every profile violation is named in one HC_USAGE message.
 */
hc_rc hc_csr_plan_make(const hc_csr_params *params, hc_csr_plan *out, hc_error *err);
/* The profile's rules on a plan's names and digest, and on `type` unless NULL. */
hc_rc hc_profile_check_plan(const hc_csr_plan *plan, const hc_keytype *type, hc_error *err);
void hc_csr_plan_clear(hc_csr_plan *plan);

/* ---- the signed request ---------------------------------------------- */

typedef struct hc_csr_result {
	X509_REQ *req; /* as built: its public key is encoded, not decoded (parse der to get it) */
	unsigned char *der;
	size_t der_len;
	char *pem;     /* NUL-terminated PEM "CERTIFICATE REQUEST" */
	char *subject; /* hc_x509_name_text of the request's subject */
	hc_san *sans;  /* as encoded, with U-labels beside A-labels */
	size_t san_count;
	char key_type[32]; /* "rsa:2048", "ec:P-256" */
	unsigned key_bits;
	const char *signature_algorithm; /* "sha256WithRSAEncryption", "rsassaPss", ... */
	bool verified;			 /* the signature verified with the request's own key */
} hc_csr_result;

/*
 * Build the request around the token key's public half, check the profile's
 * key rules, sign it inside the token and verify the signature with the
 * public key in the request. Nothing is written here.
 */
hc_rc hc_csr_sign(hc_session *session, const hc_key_info *key, const hc_csr_plan *plan,
		  hc_csr_result *out, hc_error *err);
void hc_csr_result_clear(hc_csr_result *result);

/* Where the request goes: a file (atomically, no overwrite unless force) or "-". */
typedef struct hc_csr_output {
	const char *path; /* NULL: nowhere (the caller prints it) */
	bool der;
	bool force;
} hc_csr_output;

hc_rc hc_csr_write(const hc_csr_result *result, const hc_csr_output *output, hc_error *err);

/*
 * SPEC: request — keygen and csr in one step. The profile's key rules are
 * checked before the key is generated; if signing, verifying or writing the
 * request fails, a key pair generated here is destroyed again, so nothing is
 * left on the token. With if_missing, an existing key is used and kept.
 */
hc_rc hc_request(hc_session *session, const hc_keygen_params *keygen, const hc_csr_plan *plan,
		 const hc_csr_output *output, hc_keygen_result *key_out, hc_csr_result *csr_out,
		 hc_error *err);

/* ---- OpenSSL req configuration files ------------------------------ */

/*
 * What an OpenSSL `req` config asks for ([req] distinguished_name,
 * req_extensions, prompt, default_md, default_bits): the subject (values, or
 * the *_default values when prompt is not "no"), the SANs of subjectAltName
 * (inline or @section, or an [alt_names] section), and the other request
 * extensions. Parsed with OpenSSL's NCONF, so existing configs work.
 */
typedef struct hc_req_config {
	hc_subject subject;
	hc_altnames sans;
	STACK_OF(X509_EXTENSION) *extensions; /* without subjectAltName */
	const EVP_MD *md;		      /* default_md, or NULL */
	unsigned default_bits;		      /* default_bits, or 0 */
} hc_req_config;

hc_rc hc_req_config_load(const char *path, hc_req_config *out, hc_error *err);
void hc_req_config_clear(hc_req_config *config);

#endif
