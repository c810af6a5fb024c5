/* Cross certificates for the path's root (SPEC: chain). */
#include "internal.h"

#include "hsmcert/x509.h"

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A cross certificate for root R: R's subject and key, another issuer, a
 * usable CA now. One per issuer (the latest notBefore); the others are
 * superseded.
 */
static hc_rc find_crosses(struct chain_build *b, X509 *root, struct chain_cross **out,
			  size_t *count)
{
	struct chain_candidate *c = NULL;
	struct chain_cross *x = NULL;
	size_t n = 0, nx = 0;
	char why[256];

	*out = NULL;
	*count = 0;
	if (!chain_build_collect(b, X509_get_subject_name(root), &c, &n))
		return hc_fail(b->err, HC_IO, "out of memory");
	if (n > 1)
		qsort(c, n, sizeof(*c), chain_build_candidate_order);
	if (n && !(x = calloc(n, sizeof(*x)))) {
		free(c);
		return hc_fail(b->err, HC_IO, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		X509 *cert = c[i].cert;
		uint32_t flags = X509_get_extension_flags(cert);
		struct chain_cross *same_issuer = NULL;
		bool is_ca;

		if (c[i].anchor || X509_cmp(cert, root) == 0 || chain_build_self_issued(cert) ||
		    !chain_build_same_key(cert, root) || chain_build_on_path(b, cert))
			continue;
		for (size_t j = 0; j < nx; j++)
			if (x[j].verdict == HC_CAND_CROSS &&
			    X509_NAME_cmp(X509_get_issuer_name(x[j].cert),
					  X509_get_issuer_name(cert)) == 0)
				same_issuer = &x[j];
		x[nx].cert = cert;
		x[nx].origin = c[i].origin;
		is_ca = (flags & EXFLAG_BCONS) && (flags & EXFLAG_CA);
		if (!is_ca)
			snprintf(why, sizeof(why), "not a CA certificate");
		if (!is_ca || !chain_build_valid_at(cert, b->at, why, sizeof(why))) {
			x[nx].verdict = HC_CAND_REJECTED;
			snprintf(x[nx].reason, sizeof(x[nx].reason),
				 "cross certificate for the root: %s", why);
		} else if (same_issuer) {
			char *s = chain_report_serial(same_issuer->cert);
			x[nx].verdict = HC_CAND_SUPERSEDED;
			snprintf(x[nx].reason, sizeof(x[nx].reason),
				 "cross certificate superseded by serial %s (later notBefore)", s);
			free(s);
		} else {
			char *issuer = hc_x509_name_text(X509_get_issuer_name(cert));
			x[nx].verdict = b->opt->no_cross ? HC_CAND_CROSS_LEFT_OUT : HC_CAND_CROSS;
			snprintf(x[nx].reason, sizeof(x[nx].reason),
				 "cross certificate for the root, issued by %s: %s",
				 issuer ? issuer : "?",
				 b->opt->no_cross
					 ? "left out, as asked"
					 : "served, for clients that trust only that root");
			free(issuer);
		}
		nx++;
	}
	free(c);
	*out = x;
	*count = nx;
	return HC_OK;
}

/* The root a cross certificate leads to, from the trust store; with its revocation. */
static hc_rc cross_root(struct chain_build *b, struct chain_cross *x, hc_chain_link *link)
{
	struct chain_candidate *c = NULL;
	size_t n = 0;
	char why[256];
	char *issuer = hc_x509_name_text(X509_get_issuer_name(x->cert));
	hc_rc rc = HC_OK;
	bool found = false;

	if (!chain_build_collect(b, X509_get_issuer_name(x->cert), &c, &n)) {
		free(issuer);
		return hc_fail(b->err, HC_IO, "out of memory");
	}
	for (size_t i = 0; i < n && !found; i++) {
		if (!c[i].anchor ||
		    !chain_build_can_issue(b, b->depth, x->cert, c[i].cert, true, why, sizeof(why)))
			continue;
		found = true;
		if (b->depth >= CHAIN_MAX_DEPTH) {
			rc = chain_report_add_root(b, c[i].cert, issuer ? issuer : "?",
						   "cross certificate", true);
			break;
		}
		/* Its revocation against the other root's ARL, when there is one. */
		b->path[b->depth] = x->cert;
		b->origin[b->depth] = x->origin;
		b->depth++;
		chain_revocation_check(b, b->depth - 1, c[i].cert);
		chain_revocation_to_link(&b->rev[b->depth - 1], link);
		b->depth--;
		rc = chain_report_add_root(b, c[i].cert, issuer ? issuer : "?", "cross certificate",
					   true);
	}
	if (!found && !(link->revocation_detail = strdup(
				"its issuer is not among the roots: no CRL of it checked")))
		rc = hc_fail(b->err, HC_IO, "out of memory");
	if (!found && rc == HC_OK)
		rc = chain_report_add_root(b, NULL, issuer ? issuer : "?", "cross certificate",
					   false);
	free(c);
	free(issuer);
	return rc;
}

/* The root(s) reached and the cross certificates served beside the path. */
hc_rc chain_cross_finish(struct chain_build *b, struct chain_cross **xout, size_t *nxout)
{
	hc_chain_result *r = b->res;
	hc_chain_link *root = &r->links[r->link_count - 1];
	char *subject = chain_report_subject(root->cert);
	struct chain_cross *x = NULL;
	size_t nx = 0, served = 0;
	hc_rc rc;

	root->role = r->link_count == 1 ? HC_LINK_TARGET : HC_LINK_ROOT;
	rc = chain_report_add_root(b, root->cert, subject, "path", true);
	free(subject);
	if (rc == HC_OK)
		rc = find_crosses(b, root->cert, &x, &nx);
	for (size_t j = 0; j < nx && rc == HC_OK; j++)
		served += x[j].verdict == HC_CAND_CROSS || x[j].verdict == HC_CAND_CROSS_LEFT_OUT;
	if (rc == HC_OK && served &&
	    !hc_array_reserve(&r->links, &b->caplinks, r->link_count + served, sizeof(*r->links)))
		rc = hc_fail(b->err, HC_IO, "out of memory");
	b->depth = r->link_count;
	for (size_t j = 0; j < nx && rc == HC_OK; j++) {
		hc_chain_link link = {0};
		if (x[j].verdict != HC_CAND_CROSS && x[j].verdict != HC_CAND_CROSS_LEFT_OUT)
			continue;
		rc = cross_root(b, &x[j], &link);
		if (link.revocation == HC_REV_REVOKED && x[j].verdict == HC_CAND_CROSS) {
			x[j].verdict = HC_CAND_REJECTED;
			snprintf(x[j].reason, sizeof(x[j].reason), "cross certificate revoked: %s",
				 link.revocation_note ? link.revocation_note : "");
		}
		if (x[j].verdict != HC_CAND_CROSS) {
			chain_build_link_clear(&link);
			continue;
		}
		X509_up_ref(x[j].cert);
		link.cert = x[j].cert;
		link.origin = strdup(x[j].origin);
		link.role = HC_LINK_CROSS;
		link.why = strdup(x[j].reason);
		r->links[r->link_count++] = link;
	}
	*xout = x;
	*nxout = nx;
	return rc;
}
