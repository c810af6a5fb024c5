/*
 * State shared by the files of src/chain/ (SPEC: chain; the API is
 * hsmcert/chain.h):
 *   pool.c        the certificate and CRL pools (indexing, loading files)
 *   build.c       the path search and hc_chain_build
 *   fetch.c       downloads (AIA caIssuers, CRL distribution points): a
 *                 source of issuer candidates and CRLs the search asks
 *   revocation.c  CRLs/ARLs against the path, and OpenSSL's verifier
 *   cross.c       cross certificates for the path's root
 *   report.c      the result: candidates, roots, names, the served chain
 */
#ifndef HSMCERT_CHAIN_INTERNAL_H
#define HSMCERT_CHAIN_INTERNAL_H

#include "hsmcert/array.h"
#include "hsmcert/chain.h"
#include "hsmcert/x509.h"

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* ---- pool.c -------------------------------------------------------- */

/*
 * Certificates live in one array and are chained into hash buckets by the
 * hash of their canonical subject, so finding the issuers of a certificate
 * costs one bucket walk. Certificates from PEM bundles and DER files are
 * kept as DER and indexed by their subject alone; the full parse (which in
 * OpenSSL 3 decodes the public key through the provider framework, about
 * 40 times the cost of the subject) happens only for the few that become
 * candidates. A pool of thousands costs less than parsing it once.
 */
struct pool_cert {
	X509 *cert; /* NULL until parsed */
	unsigned char *der;
	long der_len;
	char *origin;
	unsigned long subject_hash;
	long next;   /* next entry in the same bucket, -1 at the end */
	bool broken; /* the full parse failed: never a candidate */
};

struct pool_crl {
	X509_CRL *crl;
	char *origin;
};

struct hc_chain_pool {
	struct pool_cert *certs;
	size_t ncerts, capcerts;
	long *buckets; /* first entry of each bucket, -1 when empty */
	size_t nbuckets;
	struct pool_crl *crls;
	size_t ncrls, capcrls;
	hc_chain_skipped *skipped;
	size_t nskipped, capskipped;
	const hc_passphrase_ask *ask; /* for PKCS#12 files */
};

#define CHAIN_POOL_FOR_EACH(p, hash, i)                                                            \
	for (long i = (p)->buckets[(hash) & ((p)->nbuckets - 1)]; i >= 0; i = (p)->certs[i].next)

unsigned long chain_pool_name_hash(const X509_NAME *name);
bool chain_pool_contains_der(const hc_chain_pool *p, unsigned long hash, const unsigned char *der,
			     long len);
bool chain_pool_contains(const hc_chain_pool *p, X509 *cert);
/* The certificate of entry i, parsed on first use; NULL when it does not parse. */
X509 *chain_pool_cert(hc_chain_pool *p, long i);
/* Everything a loaded bundle holds goes into the pool; a bad certificate is skipped. */
hc_rc chain_pool_add_bundle(hc_chain_pool *p, hc_x509_bundle *b, const char *origin, size_t *added,
			    hc_error *err);
hc_rc chain_pool_add_skipped(hc_chain_skipped **list, size_t *count, size_t *cap,
			     const char *origin, const char *reason, hc_error *err);

/* ---- build.c: the search ------------------------------------------- */

#define CHAIN_MAX_DEPTH 12

/* A certificate that could issue the path's last one. */
struct chain_candidate {
	X509 *cert;
	const char *origin;
	bool anchor; /* from the trust store */
};

struct chain_dead_end {
	X509 *cert;
	char *reason;
};

/* The revocation state of one path entry, as revocation.c found it. */
struct chain_rev {
	hc_revocation state;
	const char *crl_origin;
	X509_CRL *crl; /* the CRL that decided (the pool's), NULL when none */
	char *note, *serial, *reason;
	char *detail; /* what was checked against what, or why nothing could be */
	time_t when;
};

struct chain_build {
	hc_chain_pool *pool;
	hc_chain_pool *roots;
	const hc_chain_options *opt;
	time_t at;
	hc_chain_result *res;
	hc_error *err;
	hc_rc fatal;   /* an error outside the chain's content stops the search */
	char *failure; /* the first failing link met (the deepest on the best branch) */
	bool stop;     /* a revoked certificate stops it too */

	X509 *path[CHAIN_MAX_DEPTH];
	const char *origin[CHAIN_MAX_DEPTH];
	size_t depth;  /* entries in path */
	bool anchored; /* path ends at a trust anchor */
	struct chain_rev rev[CHAIN_MAX_DEPTH];

	struct chain_dead_end *dead;
	size_t ndead, capdead;
	char **fetched; /* URLs already tried */
	size_t nfetched, capfetched;
	long long fetch_deadline_ms; /* CLOCK_MONOTONIC: every download ends by then */

	/* Entries allocated in res's lists (its counts are the entries used). */
	size_t caplinks, capcandidates, caproots, capcrl_skipped, capfetches;
};

bool chain_build_valid_at(X509 *cert, time_t at, char *why, size_t n);
bool chain_build_on_path(const struct chain_build *b, X509 *cert);
bool chain_build_same_key(X509 *a, X509 *b);
bool chain_build_self_issued(X509 *cert);
/*
 * Can `cand` issue `child` (at path index `index`)? Name, key identifier,
 * signature, validity, CA, keyCertSign and path length (RFC 5280 6.1.4).
 * On no, `why` says the first reason.
 */
bool chain_build_can_issue(const struct chain_build *b, size_t index, X509 *child, X509 *cand,
			   bool anchor, char *why, size_t n);
/* Trust anchors first, then the pool (skipping copies of anchors). */
bool chain_build_collect(const struct chain_build *b, const X509_NAME *issuer,
			 struct chain_candidate **out, size_t *count);
/* qsort order: anchors first, then the latest notBefore. */
int chain_build_candidate_order(const void *pa, const void *pb);
const char *chain_build_dead_end_reason(const struct chain_build *b, X509 *cert);
void chain_build_link_clear(hc_chain_link *l);

/* ---- fetch.c: downloads as a source -------------------------------- */

/* What the downloads for one certificate gave. */
struct chain_fetch_outcome {
	size_t added;	      /* certificates new to the pool */
	bool download_failed; /* a transfer failed (network, HTTP status, size limit) */
	char failure[384];    /* the first such failure: URL and why */
};

/*
 * The issuers named by `cert`'s AIA caIssuers URLs, added to the pool.
 * True when the pool gained a certificate (new candidates to try).
 */
bool chain_fetch_issuers(struct chain_build *b, X509 *cert, struct chain_fetch_outcome *got);
/* The CRLs named by `cert`'s CRL distribution points, added to the pool. */
void chain_fetch_crls(struct chain_build *b, X509 *cert);
/* CLOCK_MONOTONIC in milliseconds: the clock of fetch_deadline_ms. */
long long chain_fetch_now_ms(void);

/* ---- revocation.c -------------------------------------------------- */

/* Is a CRL still current at `at`? (A CRL without nextUpdate never is.) */
bool chain_revocation_crl_current(X509_CRL *crl, time_t at);
/*
 * RFC 5280 6.3, reduced to what a server's chain needs: the certificate at
 * path index `index` (the leaf included) against a current CRL/ARL of its
 * issuer, signed by its key, that covers it (scope: ARLs, partitions, delta
 * CRLs); b->rev[index] says what was found and against what. False: revoked.
 */
bool chain_revocation_check(struct chain_build *b, size_t index, X509 *issuer);
void chain_revocation_clear(struct chain_rev *rev);
/* Copy a path entry's revocation state into a result link. */
void chain_revocation_to_link(const struct chain_rev *rev, hc_chain_link *l);
/*
 * The verified path (b->path, b->depth) through OpenSSL's X509_verify_cert
 * with the CRLs that decided each entry; the result's openssl_* fields say
 * what it answered. HC_OK unless out of memory.
 */
hc_rc chain_revocation_openssl(struct chain_build *b);

/* ---- cross.c ------------------------------------------------------- */

/* Cross certificates found for the path's root, with what became of them. */
struct chain_cross {
	X509 *cert;
	const char *origin;
	hc_chain_verdict verdict;
	char reason[320];
};

/* The root(s) reached and the cross certificates served beside the path. */
hc_rc chain_cross_finish(struct chain_build *b, struct chain_cross **xout, size_t *nxout);

/* ---- report.c ------------------------------------------------------ */

/* printf into a new string; NULL when out of memory. */
char *chain_report_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *chain_report_subject(X509 *cert);
/* Lowercase hex ("?" when it cannot be had). */
char *chain_report_serial(X509 *cert);
const char *chain_report_crl_reason(long reason);
hc_rc chain_report_add_root(struct chain_build *b, X509 *cert, const char *subject, const char *via,
			    bool trusted);
/* Every candidate for every link: chosen, superseded, cross, alternative, rejected. */
hc_rc chain_report_candidates(struct chain_build *b, struct chain_cross *x, size_t nx);

#endif
