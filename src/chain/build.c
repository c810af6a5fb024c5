/* The path search: issuers by name, key identifier and signature (SPEC: chain). */
#include "internal.h"

#include "hsmcert/x509.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void set_failure(struct chain_build *b, char *message)
{
	if (!message) {
		b->fatal = hc_fail(b->err, HC_IO, "out of memory");
		return;
	}
	if (b->failure) {
		free(message);
		return;
	}
	b->failure = message;
}

bool chain_build_on_path(const struct chain_build *b, X509 *cert)
{
	for (size_t i = 0; i < b->depth; i++)
		if (X509_cmp(b->path[i], cert) == 0)
			return true;
	return false;
}

bool chain_build_valid_at(X509 *cert, time_t at, char *why, size_t n)
{
	char t[21];

	if (X509_cmp_time(X509_get0_notBefore(cert), &at) > 0) {
		hc_time_iso8601(hc_asn1_time_to_time(X509_get0_notBefore(cert)), t);
		snprintf(why, n, "not valid before %s", t);
		return false;
	}
	if (X509_cmp_time(X509_get0_notAfter(cert), &at) < 0) {
		hc_time_iso8601(hc_asn1_time_to_time(X509_get0_notAfter(cert)), t);
		snprintf(why, n, "expired on %s", t);
		return false;
	}
	return true;
}

bool chain_build_same_key(X509 *a, X509 *b)
{
	return EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)) == 1;
}

bool chain_build_self_issued(X509 *cert)
{
	return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0;
}

/*
 * Can `cand` issue `child` (at path index `index`)? Name, key identifier,
 * signature, validity, CA, keyCertSign and path length (RFC 5280 6.1.4).
 * On no, `why` says the first reason.
 */
bool chain_build_can_issue(const struct chain_build *b, size_t index, X509 *child, X509 *cand,
			   bool anchor, char *why, size_t n)
{
	const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(child);
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(cand);
	uint32_t flags = X509_get_extension_flags(cand);
	long pathlen = X509_get_pathlen(cand);
	long below = 0;
	EVP_PKEY *key = X509_get0_pubkey(cand);

	if (chain_build_on_path(b, cand)) {
		snprintf(why, n, "already on the path (a loop)");
		return false;
	}
	if (akid && skid && ASN1_OCTET_STRING_cmp(akid, skid) != 0) {
		snprintf(why, n,
			 "key identifier differs from the issued certificate's "
			 "authority key identifier");
		return false;
	}
	if (!key || X509_verify(child, key) != 1) {
		ERR_clear_error();
		snprintf(why, n, "the signature does not verify with its key");
		return false;
	}
	if (!chain_build_valid_at(cand, b->at, why, n))
		return false;
	/* Trust anchors are trusted as configured; v1 roots have no extensions. */
	if (!anchor && !((flags & EXFLAG_BCONS) && (flags & EXFLAG_CA))) {
		snprintf(why, n, "not a CA certificate (basicConstraints CA is not true)");
		return false;
	}
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(cand) & KU_KEY_CERT_SIGN)) {
		snprintf(why, n, "keyUsage lacks keyCertSign");
		return false;
	}
	for (size_t i = 1; i <= index && i < b->depth; i++)
		if (!chain_build_self_issued(b->path[i]))
			below++;
	if (pathlen >= 0 && below > pathlen) {
		snprintf(why, n,
			 "path length constraint %ld exceeded (%ld CA certificates below it)",
			 pathlen, below);
		return false;
	}
	return true;
}

static bool grow_candidates(struct chain_candidate **c, size_t *cap, size_t n)
{
	return hc_array_grow(c, cap, n, sizeof(**c));
}

/* Trust anchors first, then the pool (skipping copies of anchors). */
bool chain_build_collect(const struct chain_build *b, const X509_NAME *issuer,
			 struct chain_candidate **out, size_t *count)
{
	unsigned long hash = chain_pool_name_hash(issuer);
	struct chain_candidate *c = NULL;
	size_t n = 0, cap = 0;
	hc_chain_pool *pools[2] = {b->roots, b->pool};

	for (int k = 0; k < 2; k++) {
		hc_chain_pool *p = pools[k];
		CHAIN_POOL_FOR_EACH(p, hash, i)
		{
			X509 *cert;
			if (p->certs[i].subject_hash != hash || !(cert = chain_pool_cert(p, i)) ||
			    X509_NAME_cmp(X509_get_subject_name(cert), issuer) != 0)
				continue;
			if (k == 1 && chain_pool_contains_der(b->roots, hash, p->certs[i].der,
							      p->certs[i].der_len))
				continue;
			if (!grow_candidates(&c, &cap, n)) {
				free(c);
				return false;
			}
			c[n++] = (struct chain_candidate){cert, p->certs[i].origin, k == 0};
		}
	}
	*out = c;
	*count = n;
	return true;
}

/* Anchors first, then the latest notBefore: a re-issued CA beats the one it replaces. */
int chain_build_candidate_order(const void *pa, const void *pb)
{
	const struct chain_candidate *a = pa, *b = pb;
	int byte;

	bool a_ss = X509_get_extension_flags(a->cert) & EXFLAG_SS;
	bool b_ss = X509_get_extension_flags(b->cert) & EXFLAG_SS;

	if (a->anchor != b->anchor)
		return a->anchor ? -1 : 1;
	/* A self-signed certificate that is not a trust anchor leads nowhere: last. */
	if (!a->anchor && a_ss != b_ss)
		return a_ss ? 1 : -1;
	byte = ASN1_TIME_compare(X509_get0_notBefore(b->cert), X509_get0_notBefore(a->cert));
	if (byte)
		return byte;
	return X509_cmp(a->cert, b->cert);
}

const char *chain_build_dead_end_reason(const struct chain_build *b, X509 *cert)
{
	for (size_t i = 0; i < b->ndead; i++)
		if (X509_cmp(b->dead[i].cert, cert) == 0)
			return b->dead[i].reason;
	return NULL;
}

static void note_dead_end(struct chain_build *b, X509 *cert, const char *reason)
{
	if (chain_build_dead_end_reason(b, cert) ||
	    !hc_array_grow(&b->dead, &b->capdead, b->ndead, sizeof(*b->dead)))
		return;
	if ((b->dead[b->ndead].reason = strdup(reason)))
		b->dead[b->ndead++].cert = cert;
}

void chain_build_link_clear(hc_chain_link *l)
{
	X509_free(l->cert);
	free(l->origin);
	free(l->why);
	free(l->crl_origin);
	free(l->revocation_note);
	free(l->revoked_serial);
	free(l->revoked_reason);
	free(l->revocation_detail);
	free(l->crl_number);
	memset(l, 0, sizeof(*l));
}

/* Copy the path as it stands into the result (a success, or the failing branch). */
static void keep_path(struct chain_build *b)
{
	hc_chain_result *r = b->res;

	for (size_t i = 0; i < r->link_count; i++)
		chain_build_link_clear(&r->links[i]);
	free(r->links);
	r->link_count = 0;
	if (!(r->links = calloc(b->depth + 4, sizeof(*r->links)))) {
		b->caplinks = 0;
		b->fatal = hc_fail(b->err, HC_IO, "out of memory");
		return;
	}
	b->caplinks = b->depth + 4;
	for (size_t i = 0; i < b->depth; i++) {
		hc_chain_link *l = &r->links[i];
		X509_up_ref(b->path[i]);
		l->cert = b->path[i];
		l->origin = strdup(b->origin[i]);
		l->role = i == 0			       ? HC_LINK_TARGET
			  : (b->anchored && i == b->depth - 1) ? HC_LINK_ROOT
							       : HC_LINK_INTERMEDIATE;
		chain_revocation_to_link(&b->rev[i], l);
		if (!l->revocation_detail)
			l->revocation_detail = strdup(
				l->role == HC_LINK_ROOT || (b->anchored && b->depth == 1)
					? "a trust anchor, trusted as configured"
					: "no issuer was found for it");
		r->link_count++;
	}
}

/* Whether the certificate names its issuer's http(s) URL (AIA caIssuers). */
static bool has_ca_issuers_url(X509 *cert)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
	bool found = false;

	for (int i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia) && !found; i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		found = OBJ_obj2nid(ad->method) == NID_ad_ca_issuers &&
			ad->location->type == GEN_URI;
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	return found;
}

/* The caller's advice for a missing issuer: the download hint only when there is a URL. */
static const char *missing_hint(struct chain_build *b, X509 *child)
{
	if (b->opt->fetch)
		return "";
	if (b->opt->missing_issuer_aia_hint && has_ca_issuers_url(child))
		return b->opt->missing_issuer_aia_hint;
	return b->opt->missing_issuer_hint ? b->opt->missing_issuer_hint : "";
}

/* Failure text for a certificate none of whose candidate issuers worked. */
static char *describe_missing(struct chain_build *b, X509 *child, size_t n,
			      const char *first_origin, const char *first_reason,
			      const char *download_failure)
{
	char *who = chain_report_subject(child);
	char *issuer = hc_x509_name_text(X509_get_issuer_name(child));
	char *msg;

	if (n == 0 && download_failure)
		msg = chain_report_format(
			"no issuer for %s: %s is not among the intermediates or the roots, "
			"and downloading it failed: %s",
			who, issuer ? issuer : "?", download_failure);
	else if (n == 0)
		msg = chain_report_format(
			"no issuer for %s: %s is not among the intermediates or the roots%s", who,
			issuer ? issuer : "?", missing_hint(b, child));
	else if (download_failure)
		msg = chain_report_format(
			"no usable issuer for %s: %s (%s) %s; downloading another failed: %s", who,
			issuer ? issuer : "?", first_origin, first_reason, download_failure);
	else
		msg = chain_report_format("no usable issuer for %s: %s (%s) %s", who,
					  issuer ? issuer : "?", first_origin, first_reason);
	free(who);
	free(issuer);
	return msg;
}

static bool extend(struct chain_build *b);

/* What the candidates tried so far for one certificate came to. */
struct attempt {
	size_t n;		  /* candidates found by name */
	const char *first_origin; /* the first one refused, and why */
	char first_reason[256];
};

/*
 * Try, best first, each issuer of the path's last certificate that the
 * trust anchors and the pool hold; recurse on those that can issue it.
 */
static bool try_issuers(struct chain_build *b, struct attempt *a)
{
	X509 *child = b->path[b->depth - 1];
	size_t index = b->depth - 1;
	struct chain_candidate *c = NULL;
	char why[256];
	bool done = false;

	if (!chain_build_collect(b, X509_get_issuer_name(child), &c, &a->n)) {
		b->fatal = hc_fail(b->err, HC_IO, "out of memory");
		return false;
	}
	if (a->n > 1)
		qsort(c, a->n, sizeof(*c), chain_build_candidate_order);
	for (size_t i = 0; i < a->n && !done && !b->fatal && !b->stop; i++) {
		const char *dead = chain_build_dead_end_reason(b, c[i].cert);
		if (dead) {
			if (!a->first_reason[0]) {
				snprintf(a->first_reason, sizeof(a->first_reason), "%s", dead);
				a->first_origin = c[i].origin;
			}
			continue;
		}
		if (!chain_build_can_issue(b, index, child, c[i].cert, c[i].anchor, why,
					   sizeof(why))) {
			if (!a->first_reason[0]) {
				snprintf(a->first_reason, sizeof(a->first_reason), "%s", why);
				a->first_origin = c[i].origin;
			}
			continue;
		}
		b->path[b->depth] = c[i].cert;
		b->origin[b->depth] = c[i].origin;
		/* A branch given up may have checked another certificate at this depth. */
		chain_revocation_clear(&b->rev[b->depth]);
		b->depth++;
		if (!chain_revocation_check(b, index, c[i].cert)) {
			char *who = chain_report_subject(child);
			b->anchored = false;
			b->depth--;
			set_failure(b, chain_report_format("%s is revoked: %s", who,
							   b->rev[index].note));
			free(who);
			b->res->revoked = true;
			b->stop = true;
			keep_path(b);
			break;
		}
		if (c[i].anchor) {
			b->anchored = true;
			done = true;
			break;
		}
		if (X509_get_extension_flags(c[i].cert) & EXFLAG_SS) {
			char *who = chain_report_subject(c[i].cert);
			char *msg = chain_report_format(
				"%s (%s) is self-signed but not among the roots", who, c[i].origin);
			note_dead_end(b, c[i].cert, "self-signed, not among the roots");
			b->depth--;
			if (!b->failure)
				keep_path(b);
			set_failure(b, msg);
			free(who);
			continue;
		}
		if (extend(b)) {
			done = true;
			break;
		}
		b->depth--;
		note_dead_end(b, c[i].cert, "leads to no trusted root");
	}
	free(c);
	return done;
}

/*
 * Depth-first: extend the path from its last certificate until a trust
 * anchor. The files given are the first source of issuers; downloads
 * (--fetch, the AIA URL) the second, asked only when the first did not do.
 */
static bool extend(struct chain_build *b)
{
	X509 *child = b->path[b->depth - 1];
	struct attempt a = {0, "", ""};
	struct chain_fetch_outcome got = {0};
	bool done;

	if (b->depth >= CHAIN_MAX_DEPTH) {
		set_failure(b, chain_report_format("the path is longer than %d certificates",
						   CHAIN_MAX_DEPTH));
		keep_path(b);
		return false;
	}
	done = try_issuers(b, &a);
	if (!done && b->opt->fetch && !b->fatal && !b->stop && chain_fetch_issuers(b, child, &got))
		done = try_issuers(b, &a);
	if (!done && !b->fatal && !b->stop && !b->failure) {
		keep_path(b);
		set_failure(b, describe_missing(b, child, a.n, a.first_origin, a.first_reason,
						got.download_failed ? got.failure : NULL));
		/* The issuer's download was needed and failed: I/O, not a verdict on the files. */
		b->res->download_failed = got.download_failed;
	}
	return done;
}

/*
 * The search found a path but OpenSSL's verifier refuses it: the chain is not
 * verified, and the failure is OpenSSL's, naming the certificate it refused.
 */
static void openssl_refused(struct chain_build *b)
{
	hc_chain_result *r = b->res;
	int depth = r->openssl_error_depth;
	char *who = depth >= 0 && (size_t)depth < b->depth ? chain_report_subject(b->path[depth])
							   : NULL;

	free(b->failure);
	b->failure = NULL;
	set_failure(b, chain_report_format("OpenSSL's verifier refuses the path: %s%s%s",
					   r->openssl_error ? r->openssl_error : "?",
					   who ? " at " : "", who ? who : ""));
	free(who);
}

hc_rc hc_chain_build(X509 *target, hc_chain_pool *pool, hc_chain_pool *roots,
		     const hc_chain_options *opt, hc_chain_result *result, hc_error *err)
{
	static const hc_chain_options defaults = {0};
	struct chain_build b = {0};
	struct chain_cross *x = NULL;
	size_t nx = 0;
	char why[256];
	hc_rc rc = HC_OK;
	bool target_anchor, found = false;

	memset(result, 0, sizeof(*result));
	if (opt && opt->fetch && opt->cache_dir && mkdir(opt->cache_dir, 0755) != 0 &&
	    errno != EEXIST)
		return hc_error_input(
			err, HC_INPUT_CACHE,
			hc_fail(err, HC_IO, "%s: %s", opt->cache_dir, strerror(errno)));
	b.pool = pool;
	b.roots = roots;
	b.opt = opt ? opt : &defaults;
	b.at = b.opt->at ? b.opt->at : time(NULL);
	b.fetch_deadline_ms = chain_fetch_now_ms() + (b.opt->total_timeout_ms
							      ? b.opt->total_timeout_ms
							      : HC_CHAIN_FETCH_TOTAL_TIMEOUT_MS);
	b.res = result;
	b.err = err;
	result->at = b.at;
	b.path[0] = target;
	b.origin[0] = b.opt->target_origin ? b.opt->target_origin : "the certificate";
	b.depth = 1;

	/* An expired or not yet valid certificate makes no chain worth serving. */
	X509_check_purpose(target, -1, 0);
	target_anchor = chain_pool_contains(roots, target);
	if (!chain_build_valid_at(target, b.at, why, sizeof(why))) {
		char *who = chain_report_subject(target);
		keep_path(&b);
		set_failure(&b, chain_report_format("%s itself: %s", who, why));
		free(who);
	} else if (target_anchor) {
		b.anchored = found = true;
		keep_path(&b);
	} else if (extend(&b)) {
		/* Failures met on branches given up along the way do not count. */
		found = true;
		keep_path(&b);
	}
	if (b.fatal) {
		rc = b.fatal;
		goto out;
	}
	if (found && b.anchored) {
		result->download_failed = false; /* a branch given up along the way */
		if ((rc = chain_revocation_openssl(&b)) != HC_OK)
			goto out;
		result->verified = result->openssl_ok;
		if (!result->openssl_ok)
			openssl_refused(&b);
		else if ((rc = chain_cross_finish(&b, &x, &nx)) != HC_OK)
			goto out;
	}
	if ((rc = chain_report_candidates(&b, x, nx)) != HC_OK)
		goto out;
	if (!result->verified) {
		result->failure = b.failure ? b.failure : strdup("no path to a trusted root");
		b.failure = NULL;
	}
	rc = result->verified ? HC_OK : HC_CHECK;
out:
	free(b.failure);
	for (size_t i = 0; i < CHAIN_MAX_DEPTH; i++)
		chain_revocation_clear(&b.rev[i]);
	for (size_t i = 0; i < b.ndead; i++)
		free(b.dead[i].reason);
	for (size_t i = 0; i < b.nfetched; i++)
		free(b.fetched[i]);
	free(b.dead);
	free(b.fetched);
	free(x);
	return rc;
}
