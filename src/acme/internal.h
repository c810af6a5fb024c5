/* State shared by enroll.c and renew.c. */
#ifndef HSMCERT_ACME_INTERNAL_H
#define HSMCERT_ACME_INTERNAL_H

#include "hsmcert/certstore.h"
#include "hsmcert/enroll.h"
#include "hsmcert/rollback.h"

struct hc_acme_session {
	hc_session *session;
	const hc_acme_setup *setup;
	hc_key_info account_key;
	bool account_key_created;
	hc_acme_key jws_key;
	hc_acme_client *client;
	bool account_created;
	hc_acme_responder *responder;
	hc_acme_webroot *webroot;
	hc_acme_solver solver;
	hc_chain_pool *roots;
};

/* What renew adds to an enrolment: how to import, and a step just after it. */
struct enroll_hooks {
	bool replace;	  /* import --replace: older certificates of the key go */
	X509 *supersedes; /* with replace: and this one, whatever its dates */
	/* Undoable with `undo`; `imp` is updated to what it changed (labels). */
	hc_rc (*after_import)(void *ctx, hc_rollback *undo, hc_import_result *imp, hc_error *err);
	void *ctx;
};

/* renew's rule: due when less than a third of the lifetime is left, at most 30 days. */
long acme_renew_threshold(long lifetime_s);

/* The certificate names the DNS names and IP addresses asked for, and no others. */
bool acme_same_names(const hc_csr_plan *plan, const hc_cert_info *info);

/* A stored end-entity certificate (not marked or made as a CA one). */
bool acme_stored_leaf(const hc_stored_cert *c);

/* The newest end-entity certificate for `pub` among stored ones (CA ones never), or NULL. */
X509 *acme_newest_leaf(EVP_PKEY *pub, const hc_stored_cert *certs, size_t n);

/*
 * `leaf`'s chain from the token's CA certificates, verified against `roots`:
 * `bundle` gets the chain a server sends, `chain` the result. HC_CHECK when
 * it does not verify.
 */
hc_rc acme_token_chain(hc_chain_pool *roots, X509 *leaf, const hc_stored_cert *certs, size_t n,
		       hc_x509_bundle *bundle, hc_chain_result *chain, hc_error *err);

hc_rc acme_enroll_run(hc_acme_session *a, const hc_enroll_params *p,
		      const struct enroll_hooks *hooks, hc_enroll_result *out, hc_error *err);

#endif
