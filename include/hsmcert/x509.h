/*
 * X.509 inputs and descriptions shared by show, chain, import, list, check,
 * backup and audit. Formats are detected by content (SPEC: Global
 * behaviour): PEM (any number of blocks: certificates, CRLs, requests,
 * PKCS#7), DER certificate / CRL / request / PKCS#7, PKCS#12.
 */
#ifndef HSMCERT_X509_H
#define HSMCERT_X509_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <time.h>

#include "hsmcert/error.h"
#include "hsmcert/p11.h"

/* Largest file we parse: far above any certificate bundle, below memory trouble. */
#define HC_X509_MAX_FILE (16u << 20)

typedef enum hc_x509_format {
	HC_FMT_UNKNOWN = 0,
	HC_FMT_PEM,
	HC_FMT_DER_CERT,
	HC_FMT_DER_CRL,
	HC_FMT_DER_CSR,
	HC_FMT_PKCS7,
	HC_FMT_PKCS12,
} hc_x509_format;

/* Everything one file held. Stacks are never NULL after a successful load. */
typedef struct hc_x509_bundle {
	hc_x509_format format;
	STACK_OF(X509) *certs;
	STACK_OF(X509_CRL) *crls;
	X509_REQ *csr;	     /* the first request, if any */
	EVP_PKEY *pkey;	     /* PKCS#12 only */
	char *friendly_name; /* PKCS#12 only, UTF-8 */
	bool legacy_pkcs12;  /* PKCS#12 needed OpenSSL's legacy provider (3DES/RC2) */
} hc_x509_bundle;

/*
 * Load a file; `what` names it in errors ("--cert", "intermediate"). A
 * PKCS#12 needs `passphrase` (NULL: HC_USAGE saying so). Malformed input is
 * HC_USAGE naming the file and the reason; unreadable files HC_IO.
 */
hc_rc hc_x509_load_file(const char *path, const hc_secret *passphrase, hc_x509_bundle *out,
			hc_error *err);
hc_rc hc_x509_load_mem(const unsigned char *data, size_t len, const char *name,
		       const hc_secret *passphrase, hc_x509_bundle *out, hc_error *err);
void hc_x509_bundle_clear(hc_x509_bundle *bundle);

/*
 * Certificate inputs that may be PKCS#12 (SPEC: Global behaviour, "Input
 * formats are detected by content"): the passphrase is asked for only when
 * a PKCS#12 is actually met, so PEM, DER and PKCS#7 inputs never prompt.
 * The library never resolves secrets itself: the caller's callback does
 * (the CLI: --passphrase-source, HSMCERT_PASSPHRASE, a no-echo prompt).
 */
/*
 * Give the passphrase for the PKCS#12 input `name`. The secret stays the
 * callback's (valid until its owner is cleared); a callback asked twice may
 * answer from memory, so one prompt serves every PKCS#12 of a command.
 */
typedef hc_rc (*hc_passphrase_fn)(void *ctx, const char *name, const hc_secret **out,
				  hc_error *err);

typedef struct hc_passphrase_ask {
	hc_passphrase_fn fn;
	void *ctx;
} hc_passphrase_ask;

/*
 * hc_x509_load_mem / _file, asking `ask` (may be NULL: a PKCS#12 is then
 * HC_USAGE saying a passphrase is needed) for the passphrase only when the
 * data is PKCS#12. A wrong passphrase is HC_CHECK (SPEC: exit 1). On any
 * failure `out` is empty, but out->format is HC_FMT_PKCS12 when the data was
 * PKCS#12: callers that skip unusable files in a folder do not skip those
 * (a missing or wrong passphrase is the user's to fix, not a stray file).
 */
hc_rc hc_x509_load_mem_ask(const unsigned char *data, size_t len, const char *name,
			   const hc_passphrase_ask *ask, hc_x509_bundle *out, hc_error *err);
hc_rc hc_x509_load_file_ask(const char *path, const hc_passphrase_ask *ask, hc_x509_bundle *out,
			    hc_error *err);

/* True when the data looks like PKCS#12 (to ask for a passphrase before loading). */
bool hc_x509_is_pkcs12(const unsigned char *data, size_t len);

/* ---- descriptions (src/x509/describe.c) ----------------------------- */

/* "C=HK, ST=Hong Kong, O=..., CN=..." in UTF-8, in the name's own order. Caller frees. */
char *hc_x509_name_text(const X509_NAME *name);

/* Lowercase hex digests of the DER encoding. */
void hc_x509_thumbprints(X509 *cert, char sha1[41], char sha256[65]);

/* A subjectAltName entry, with the U-label form of IDN host names beside the A-label. */
typedef struct hc_san {
	char *type;   /* "DNS", "IP", "email", "URI", "other" */
	char *value;  /* as encoded (A-labels) */
	char *ulabel; /* DNS with xn-- labels: the Unicode form, else NULL */
} hc_san;

/* "rsa:2048", "ec:P-256", "ed25519"... and size in bits. */
void hc_pkey_describe(const EVP_PKEY *pkey, char *type, size_t len, unsigned *bits);

typedef struct hc_cert_info {
	char *subject, *issuer;
	char *serial; /* lowercase hex */
	time_t not_before, not_after;
	char sha1[41], sha256[65];
	char key_type[32];
	unsigned key_bits;
	char *signature_algorithm; /* "sha256WithRSAEncryption" */
	hc_san *sans;
	size_t san_count;
	bool is_ca;	  /* basicConstraints CA:TRUE */
	long path_len;	  /* -1 when absent */
	bool self_signed; /* subject == issuer and the signature verifies with its own key */
} hc_cert_info;

hc_rc hc_cert_describe(X509 *cert, hc_cert_info *out, hc_error *err);
void hc_cert_info_clear(hc_cert_info *info);
/* SANs of any extension stack (certificates and requests alike). */
hc_rc hc_sans_from_extensions(const STACK_OF(X509_EXTENSION) *exts, hc_san **sans, size_t *count,
			      hc_error *err);
void hc_sans_free(hc_san *sans, size_t count);

/* An INTEGER (serial, CRL number) as lowercase hex, as serials are shown; NULL if out of memory. */
char *hc_x509_integer_hex(const ASN1_INTEGER *i);

/* Days from `now` to `t`, rounded down (negative once past). */
long hc_days_until(time_t t, time_t now);
/* ASN1_TIME to time_t (UTC). */
time_t hc_asn1_time_to_time(const ASN1_TIME *t);
/* "2026-11-21T20:35:59Z" */
void hc_time_iso8601(time_t t, char out[21]);

#endif
