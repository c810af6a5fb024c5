/* The result: candidates and why, roots, names, the served chain and its encoding. */
#include "internal.h"

#include "hsmcert/x509.h"

#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *hc_chain_role_name(hc_chain_role role)
{
	static const char *const names[] = {"target", "intermediate", "root", "cross"};
	return role <= HC_LINK_CROSS ? names[role] : "?";
}

const char *hc_chain_verdict_name(hc_chain_verdict v)
{
	static const char *const names[] = {"chosen",	      "superseded",  "cross",
					    "cross_left_out", "alternative", "rejected"};
	return v <= HC_CAND_REJECTED ? names[v] : "?";
}

const char *hc_revocation_name(hc_revocation r)
{
	static const char *const names[] = {"not_checked", "good", "revoked", "unknown"};
	return r <= HC_REV_UNKNOWN ? names[r] : "?";
}

/* RFC 5280 5.3.1 CRLReason values. */
const char *chain_report_crl_reason(long reason)
{
	static const char *const names[] = {
		"unspecified",	 "keyCompromise",	 "cACompromise",    "affiliationChanged",
		"superseded",	 "cessationOfOperation", "certificateHold", "(unused)",
		"removeFromCRL", "privilegeWithdrawn",	 "aACompromise",
	};
	return reason >= 0 && reason <= 10 ? names[reason] : "unknown";
}

char *chain_report_subject(X509 *cert)
{
	char *s = hc_x509_name_text(X509_get_subject_name(cert));
	return s ? s : strdup("?");
}

char *chain_report_serial(X509 *cert)
{
	char *hex = hc_x509_integer_hex(X509_get0_serialNumber(cert));
	return hex ? hex : strdup("?");
}

/* printf into a new string; NULL when out of memory. */
char *chain_report_format(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static hc_rc add_candidate(struct chain_build *b, X509 *cert, const char *origin, X509 *issued,
			   hc_chain_verdict verdict, const char *reason)
{
	hc_chain_result *r = b->res;
	hc_chain_candidate *c;

	if (!hc_array_grow(&r->candidates, &b->capcandidates, r->candidate_count,
			   sizeof(*r->candidates)))
		return hc_fail(b->err, HC_IO, "out of memory");
	c = &r->candidates[r->candidate_count];
	c->cert = cert;
	X509_up_ref(cert);
	c->origin = strdup(origin);
	c->issued = chain_report_subject(issued);
	c->verdict = verdict;
	c->reason = strdup(reason);
	r->candidate_count++;
	if (!c->origin || !c->issued || !c->reason)
		return hc_fail(b->err, HC_IO, "out of memory");
	return HC_OK;
}

hc_rc chain_report_add_root(struct chain_build *b, X509 *cert, const char *subject, const char *via,
			    bool trusted)
{
	hc_chain_result *r = b->res;

	if (!hc_array_grow(&r->roots, &b->caproots, r->root_count, sizeof(*r->roots)))
		return hc_fail(b->err, HC_IO, "out of memory");
	if (cert)
		X509_up_ref(cert);
	r->roots[r->root_count++] = (hc_chain_root){cert, strdup(subject), strdup(via), trusted};
	return HC_OK;
}

static char *why_chosen(struct chain_build *b, size_t i, size_t superseded)
{
	hc_chain_link *l = &b->res->links[i];
	char t[21];
	char *child = chain_report_subject(b->res->links[i ? i - 1 : 0].cert);
	char *s;

	hc_time_iso8601(b->at, t);
	if (l->role == HC_LINK_TARGET)
		s = strdup("the certificate to chain");
	else if (l->role == HC_LINK_ROOT)
		s = chain_report_format(
			"trust anchor that issued %s (name, key identifier and signature match)",
			child);
	else
		s = chain_report_format(
			"issuer of %s: name, key identifier and signature match; a CA with "
			"keyCertSign, valid at %s%s",
			child, t,
			superseded ? "; the latest notBefore among certificates of this subject "
				     "and key"
				   : "");
	free(child);
	return s;
}

/* Every candidate for every link: chosen, superseded, cross, alternative, rejected. */
hc_rc chain_report_candidates(struct chain_build *b, struct chain_cross *x, size_t nx)
{
	hc_chain_result *r = b->res;
	char why[256];
	hc_rc rc = HC_OK;

	/* The search may have moved on from the kept path: evaluate against the kept one. */
	for (size_t i = 0; i < r->link_count && i < CHAIN_MAX_DEPTH; i++)
		b->path[i] = r->links[i].cert;
	for (size_t i = 0; i < r->link_count && rc == HC_OK; i++) {
		hc_chain_link *l = &r->links[i];
		bool has_next = i + 1 < r->link_count && r->links[i + 1].role != HC_LINK_CROSS;
		X509 *chosen = has_next ? r->links[i + 1].cert : NULL;
		struct chain_candidate *c = NULL;
		size_t n = 0, superseded = 0;

		if (l->role == HC_LINK_ROOT || l->role == HC_LINK_CROSS || (r->verified && !chosen))
			break;
		/* Evaluate as the path stood when this link's issuer was chosen. */
		b->depth = i + 1;
		if (!chain_build_collect(b, X509_get_issuer_name(l->cert), &c, &n))
			return hc_fail(b->err, HC_IO, "out of memory");
		if (n > 1)
			qsort(c, n, sizeof(*c), chain_build_candidate_order);
		for (size_t k = 0; k < n && rc == HC_OK; k++) {
			X509 *cert = c[k].cert;
			const char *dead = chain_build_dead_end_reason(b, cert);
			bool is_cross = false;
			char *s;

			for (size_t j = 0; j < nx; j++)
				is_cross |= X509_cmp(x[j].cert, cert) == 0;
			if (is_cross)
				continue; /* reported below */
			if (chosen && X509_cmp(cert, chosen) == 0) {
				rc = add_candidate(b, cert, c[k].origin, l->cert, HC_CAND_CHOSEN,
						   c[k].anchor ? "trust anchor"
							       : "issuer on the path");
			} else if (!chain_build_can_issue(b, i, l->cert, cert, c[k].anchor, why,
							  sizeof(why))) {
				rc = add_candidate(b, cert, c[k].origin, l->cert, HC_CAND_REJECTED,
						   why);
			} else if (chosen && !c[k].anchor && chain_build_same_key(cert, chosen) &&
				   X509_NAME_cmp(X509_get_issuer_name(cert),
						 X509_get_issuer_name(chosen)) == 0 &&
				   ASN1_TIME_compare(X509_get0_notBefore(cert),
						     X509_get0_notBefore(chosen)) <= 0) {
				char *serial = chain_report_serial(chosen);
				s = chain_report_format(
					"superseded by serial %s (same subject and key, later "
					"notBefore)",
					serial);
				superseded++;
				rc = add_candidate(b, cert, c[k].origin, l->cert,
						   HC_CAND_SUPERSEDED, s ? s : "superseded");
				free(serial);
				free(s);
			} else if (dead ||
				   (!c[k].anchor && (X509_get_extension_flags(cert) & EXFLAG_SS))) {
				rc = add_candidate(b, cert, c[k].origin, l->cert, HC_CAND_REJECTED,
						   dead ? dead
							: "self-signed, not among the roots");
			} else {
				rc = add_candidate(
					b, cert, c[k].origin, l->cert,
					chosen ? HC_CAND_ALTERNATIVE : HC_CAND_REJECTED,
					chosen ? "usable, but another candidate was preferred"
					: r->revoked
						? "its issuer, but the certificate it issued is revoked"
						: "usable, but the path above it failed");
			}
		}
		free(c);
		if (chosen && rc == HC_OK &&
		    !(r->links[i + 1].why = why_chosen(b, i + 1, superseded)))
			rc = hc_fail(b->err, HC_IO, "out of memory");
	}
	if (rc == HC_OK && r->link_count && !(r->links[0].why = why_chosen(b, 0, 0)))
		rc = hc_fail(b->err, HC_IO, "out of memory");
	for (size_t j = 0; j < nx && rc == HC_OK; j++)
		rc = add_candidate(b, x[j].cert, x[j].origin, r->links[r->link_count - 1].cert,
				   x[j].verdict, x[j].reason);
	return rc;
}

void hc_chain_result_clear(hc_chain_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->link_count; i++)
		chain_build_link_clear(&r->links[i]);
	for (size_t i = 0; i < r->candidate_count; i++) {
		X509_free(r->candidates[i].cert);
		free(r->candidates[i].origin);
		free(r->candidates[i].issued);
		free(r->candidates[i].reason);
	}
	for (size_t i = 0; i < r->root_count; i++) {
		X509_free(r->roots[i].cert);
		free(r->roots[i].subject);
		free(r->roots[i].via);
	}
	for (size_t i = 0; i < r->crl_skipped_count; i++) {
		free(r->crl_skipped[i].origin);
		free(r->crl_skipped[i].reason);
	}
	for (size_t i = 0; i < r->fetch_count; i++) {
		free(r->fetches[i].url);
		free(r->fetches[i].what);
		free(r->fetches[i].message);
	}
	free(r->links);
	free(r->candidates);
	free(r->roots);
	free(r->crl_skipped);
	free(r->fetches);
	free(r->failure);
	free(r->openssl_error);
	memset(r, 0, sizeof(*r));
}

/* ---- output -------------------------------------------------------- */

STACK_OF(X509) *hc_chain_served(const hc_chain_result *r, bool include_root)
{
	STACK_OF(X509) *out = sk_X509_new_null();

	for (size_t i = 0; out && i < r->link_count; i++) {
		if (r->links[i].role == HC_LINK_ROOT && !include_root)
			continue;
		/* The root goes last, after the cross certificates. */
		if (r->links[i].role == HC_LINK_ROOT)
			continue;
		if (!X509_up_ref(r->links[i].cert) || !sk_X509_push(out, r->links[i].cert)) {
			sk_X509_pop_free(out, X509_free);
			return NULL;
		}
	}
	for (size_t i = 0; out && include_root && i < r->link_count; i++) {
		if (r->links[i].role != HC_LINK_ROOT)
			continue;
		if (!X509_up_ref(r->links[i].cert) || !sk_X509_push(out, r->links[i].cert)) {
			sk_X509_pop_free(out, X509_free);
			return NULL;
		}
	}
	return out;
}

hc_rc hc_chain_encode(STACK_OF(X509) *certs, bool p7b, unsigned char **data, size_t *len,
		      hc_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	PKCS7 *p7 = NULL;
	BUF_MEM *mem;
	hc_rc rc = HC_OK;

	*data = NULL;
	*len = 0;
	if (!bio)
		return hc_fail(err, HC_IO, "out of memory");
	if (p7b) {
		/* A certs-only SignedData, as `openssl crl2pkcs7 -nocrl` and Windows write. */
		if (!(p7 = PKCS7_new()) || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
		    !PKCS7_content_new(p7, NID_pkcs7_data)) {
			rc = hc_fail_ssl(err, HC_IO, "building the PKCS#7 bundle");
			goto out;
		}
		for (int i = 0; i < sk_X509_num(certs); i++)
			if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i))) {
				rc = hc_fail_ssl(err, HC_IO, "building the PKCS#7 bundle");
				goto out;
			}
		if (i2d_PKCS7_bio(bio, p7) != 1) {
			rc = hc_fail_ssl(err, HC_IO, "encoding the PKCS#7 bundle");
			goto out;
		}
	} else {
		for (int i = 0; i < sk_X509_num(certs); i++)
			if (!PEM_write_bio_X509(bio, sk_X509_value(certs, i))) {
				rc = hc_fail_ssl(err, HC_IO, "encoding PEM");
				goto out;
			}
	}
	BIO_get_mem_ptr(bio, &mem);
	if (!(*data = malloc(mem->length ? mem->length : 1))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	memcpy(*data, mem->data, mem->length);
	*len = mem->length;
out:
	PKCS7_free(p7);
	BIO_free(bio);
	return rc;
}
