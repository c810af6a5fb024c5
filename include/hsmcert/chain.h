/*
 * Chain assembly and verification (SPEC: chain): from a certificate and a
 * pool of downloaded CA certificates and CRLs, build the path to a trusted
 * root, choose among re-issued intermediates, add cross certificates, check
 * revocation, and say why each candidate was chosen or rejected. No
 * printing; `check --tls` calls hc_chain_build too.
 */
#ifndef HSMCERT_CHAIN_H
#define HSMCERT_CHAIN_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "hsmcert/error.h"
#include "hsmcert/x509.h"

/*
 * Certificates and CRLs indexed by subject (CRLs by issuer), each with the
 * place it came from (a file, a URL). Adding the same certificate twice
 * keeps one. Used both for the untrusted pool and for the trust anchors.
 */
typedef struct hc_chain_pool hc_chain_pool;

/* An input that was not usable and was skipped (a garbage file in a folder). */
typedef struct hc_chain_skipped {
	char *origin;
	char *reason;
} hc_chain_skipped;

hc_rc hc_chain_pool_new(hc_chain_pool **out, hc_error *err);
void hc_chain_pool_free(hc_chain_pool *pool);

/*
 * Add every certificate and CRL of a file, or of every file directly in a
 * directory (PEM, DER, PKCS#7, bundles; content-detected). A named file that
 * cannot be parsed is an error (HC_USAGE / HC_IO); in a directory, such
 * files are recorded as skipped and the rest is used.
 */
hc_rc hc_chain_pool_add_path(hc_chain_pool *pool, const char *path, hc_error *err);
/*
 * PKCS#12 files met by hc_chain_pool_add_path ask `ask` for their
 * passphrase (kept by pointer: it must outlive the pool's loading). Without
 * it a PKCS#12 is HC_USAGE saying a passphrase is needed. A PKCS#12 whose
 * passphrase is missing or wrong fails the load even inside a directory:
 * the user named it, it is not a stray download.
 */
void hc_chain_pool_ask_passphrase(hc_chain_pool *pool, const hc_passphrase_ask *ask);
/* The system trust store (OpenSSL's default certificate file, else directory). */
hc_rc hc_chain_pool_add_system_roots(hc_chain_pool *pool, hc_error *err);
/* Takes a reference of its own. */
hc_rc hc_chain_pool_add_cert(hc_chain_pool *pool, X509 *cert, const char *origin, hc_error *err);
hc_rc hc_chain_pool_add_crl(hc_chain_pool *pool, X509_CRL *crl, const char *origin, hc_error *err);
size_t hc_chain_pool_cert_count(const hc_chain_pool *pool);
size_t hc_chain_pool_crl_count(const hc_chain_pool *pool);
/* Inputs skipped so far; valid until the pool changes or is freed. */
const hc_chain_skipped *hc_chain_pool_skipped(const hc_chain_pool *pool, size_t *count);

/* Download limits for --fetch (RFC 5280 AIA caIssuers and CRL distribution points). */
#define HC_CHAIN_FETCH_CONNECT_TIMEOUT_MS 5000L
#define HC_CHAIN_FETCH_TIMEOUT_MS 20000L
#define HC_CHAIN_FETCH_TOTAL_TIMEOUT_MS 30000L /* --fetch as a whole, however many URLs */
#define HC_CHAIN_FETCH_MAX_CERT (1u << 20)     /* an issuer file: a certificate or a small PKCS#7 */
#define HC_CHAIN_FETCH_MAX_CRL (16u << 20)     /* CRLs of large CAs run to megabytes */

typedef struct hc_chain_options {
	time_t at;	       /* evaluate at this time; 0: now */
	bool no_cross;	       /* leave cross certificates for the root out of the served chain */
	bool fetch;	       /* download missing issuers and CRLs (http:// URLs only) */
	const char *cache_dir; /* with fetch: keep downloads here, reuse them next time */
	const char *target_origin; /* where the target came from, for the report */
	/*
	 * Appended to "no issuer for ..." when nothing was downloaded: what the
	 * caller's user can do, e.g. " (--fetch downloads it from the AIA URL)".
	 * NULL: nothing.
	 */
	const char *missing_issuer_hint;
	/*
	 * The same when the certificate names its issuer's URL (AIA caIssuers):
	 * replaces missing_issuer_hint then, so a hint about downloading is only
	 * given when there is something to download. NULL: missing_issuer_hint.
	 */
	const char *missing_issuer_aia_hint;
	/*
	 * The purpose OpenSSL's verifier checks the path for (X509_PURPOSE_*):
	 * `check` asks X509_PURPOSE_SSL_SERVER, as a TLS client does, so a
	 * certificate a client would refuse (no serverAuth) is not "verified".
	 * 0: none (chain takes any certificate, a CA included).
	 */
	int purpose;
	/* 0: the defaults above. */
	long connect_timeout_ms, timeout_ms;
	long total_timeout_ms; /* all downloads of one build together */
	size_t max_cert_download, max_crl_download;
} hc_chain_options;

typedef enum hc_chain_role {
	HC_LINK_TARGET,	      /* the certificate being chained (the leaf) */
	HC_LINK_INTERMEDIATE, /* an issuer on the path */
	HC_LINK_ROOT,	      /* the trust anchor the path ends at (not served by default) */
	HC_LINK_CROSS,	      /* a cross certificate for the root, served beside the path */
} hc_chain_role;

typedef enum hc_revocation {
	HC_REV_NOT_CHECKED, /* a trust anchor (trusted as configured), or not reached */
	HC_REV_GOOD,	    /* a valid CRL/ARL of its issuer does not list it */
	HC_REV_REVOKED,
	HC_REV_UNKNOWN, /* no usable CRL/ARL of its issuer */
} hc_revocation;

typedef struct hc_chain_link {
	X509 *cert; /* own reference */
	char *origin;
	hc_chain_role role;
	char *why; /* why this certificate is here */
	hc_revocation revocation;
	char *crl_origin;      /* the CRL that decided, if any */
	char *revocation_note; /* revoked: "serial 3005 revoked 2026-... (keyCompromise)" */
	char *revoked_serial;  /* lowercase hex */
	time_t revoked_at;
	char *revoked_reason; /* "keyCompromise", "unspecified"... */
	/*
	 * What was checked and against what, or why it could not be: "not
	 * revoked per FILE (CRL number 2, next update ...)", "listed by ...",
	 * "no usable CRL/ARL of its issuer ...; FILE: an ARL: covers CA
	 * certificates only", "a trust anchor, trusted as configured".
	 */
	char *revocation_detail;
	/* The CRL that decided (with crl_origin): its number (lowercase hex, NULL if none) and
	 * dates. */
	char *crl_number;
	time_t crl_this_update, crl_next_update; /* 0: none */
} hc_chain_link;

typedef enum hc_chain_verdict {
	HC_CAND_CHOSEN,
	HC_CAND_SUPERSEDED, /* same subject, key and issuer as the chosen one, earlier notBefore */
	HC_CAND_CROSS,	    /* a cross certificate for the root, served */
	HC_CAND_CROSS_LEFT_OUT, /* the same, left out by --no-cross */
	HC_CAND_ALTERNATIVE,	/* usable, but another candidate was chosen */
	HC_CAND_REJECTED,
} hc_chain_verdict;

/* A certificate considered as the issuer of `issued` (a subject name as text). */
typedef struct hc_chain_candidate {
	X509 *cert; /* own reference */
	char *origin;
	char *issued; /* subject of the certificate it would issue */
	hc_chain_verdict verdict;
	char *reason;
} hc_chain_candidate;

/* A root the served chain reaches: the path's own, and those of cross certificates. */
typedef struct hc_chain_root {
	X509 *cert; /* own reference; NULL when the issuer is not among the roots */
	char *subject;
	char *via;    /* "path" or "cross certificate" */
	bool trusted; /* in the trust store and its signature verified */
} hc_chain_root;

typedef struct hc_chain_fetch_log {
	char *url;
	char *what; /* "issuer" or "crl" */
	bool ok;
	bool from_cache;
	char *message; /* what it gave or why it failed */
} hc_chain_fetch_log;

typedef struct hc_chain_result {
	bool verified; /* a valid, unrevoked path to a trusted root */
	time_t at;
	hc_chain_link *links; /* target first, then issuers, the root last; crosses after it */
	size_t link_count;
	hc_chain_candidate *candidates;
	size_t candidate_count;
	hc_chain_root *roots;
	size_t root_count;
	hc_chain_skipped *crl_skipped; /* CRLs found but not usable (bad signature, stale) */
	size_t crl_skipped_count;
	hc_chain_fetch_log *fetches;
	size_t fetch_count;
	char *failure; /* the first missing or failing link, when not verified */
	bool revoked;  /* the failure is a revoked certificate */
	/*
	 * The failing link's issuer had to be downloaded and the download failed
	 * (network, HTTP status, size limit): an I/O error (exit 4), not a verdict
	 * on the files given. `failure` names the URL and why.
	 */
	bool download_failed;
	/*
	 * The path the search verified, given to OpenSSL's own verifier
	 * (X509_verify_cert) with the CRLs that decided each link, CRL checks on
	 * every certificate (a missing CRL is tolerated only where the report
	 * says revocation is unknown): `chain`, `check` and `check --tls` then
	 * cannot disagree. When OpenSSL refuses, the chain is not verified and
	 * `failure` says why.
	 */
	bool openssl_checked;
	bool openssl_ok;
	char *openssl_error;	 /* OpenSSL's words, NULL when it verified */
	int openssl_error_depth; /* path index of the certificate it refused, -1 when none */
} hc_chain_result;

/*
 * Build the path from `target` to a root in `roots` with issuers from
 * `pool` (downloads are added to the pool; both pools parse certificates
 * as they become candidates). HC_OK: verified; HC_CHECK: no
 * valid path or revoked, `result->failure` says which link; other codes:
 * errors outside the chain's content (out of memory, --cache unwritable).
 */
hc_rc hc_chain_build(X509 *target, hc_chain_pool *pool, hc_chain_pool *roots,
		     const hc_chain_options *opt, hc_chain_result *result, hc_error *err);
void hc_chain_result_clear(hc_chain_result *result);

/*
 * The chain a server sends: the target, its issuers up to (not including)
 * the root, cross certificates; the root too with include_root. New stack
 * of new references; NULL when out of memory.
 */
STACK_OF(X509) *hc_chain_served(const hc_chain_result *result, bool include_root);

/* PEM certificates or a DER PKCS#7 (certs-only) bundle of a stack. Caller frees. */
hc_rc hc_chain_encode(STACK_OF(X509) *certs, bool p7b, unsigned char **data, size_t *len,
		      hc_error *err);

const char *hc_chain_role_name(hc_chain_role role);
const char *hc_chain_verdict_name(hc_chain_verdict verdict);
const char *hc_revocation_name(hc_revocation rev);

#endif
