/* Revocation: CRLs and ARLs of the issuers on the path (SPEC: chain, RFC 5280 6.3). */
#include "internal.h"

#include "hsmcert/x509.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Is a CRL still current at `at`? (A CRL without nextUpdate never is.) */
bool chain_revocation_crl_current(X509_CRL *crl, time_t at)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	return next && X509_cmp_time(next, &at) >= 0 &&
	       X509_cmp_time(X509_CRL_get0_lastUpdate(crl), &at) <= 0;
}

static void note_crl_skipped(struct chain_build *b, const char *origin, const char *reason)
{
	hc_chain_result *r = b->res;
	for (size_t i = 0; i < r->crl_skipped_count; i++)
		if (strcmp(r->crl_skipped[i].origin, origin) == 0)
			return;
	if (chain_pool_add_skipped(&r->crl_skipped, &r->crl_skipped_count, &b->capcrl_skipped,
				   origin, reason, b->err) != HC_OK)
		b->fatal = HC_IO;
}

static long crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	long v = n ? ASN1_INTEGER_get(n) : -1;
	ASN1_INTEGER_free(n);
	return v;
}

/*
 * Is pool CRL i one of `issuer`'s, signed by its key? A CRL of the same name
 * under another key is not this issuer's (no complaint); a bad signature is
 * noted when `note`.
 */
static bool crl_of_issuer(struct chain_build *b, size_t i, X509 *issuer, bool note)
{
	X509_CRL *crl = b->pool->crls[i].crl;
	EVP_PKEY *key = X509_get0_pubkey(issuer);
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(issuer);
	AUTHORITY_KEYID *akid;
	bool other_key;

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0)
		return false;
	akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	other_key = akid && akid->keyid && skid && ASN1_OCTET_STRING_cmp(akid->keyid, skid) != 0;
	AUTHORITY_KEYID_free(akid);
	if (other_key)
		return false;
	/* RFC 5280 4.2.1.3: a CRL's signer asserts cRLSign when it has a keyUsage. */
	if ((X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(issuer) & KU_CRL_SIGN)) {
		if (note)
			note_crl_skipped(b, b->pool->crls[i].origin,
					 "its issuer's keyUsage lacks cRLSign");
		return false;
	}
	if (!key || X509_CRL_verify(crl, key) != 1) {
		ERR_clear_error();
		if (note)
			note_crl_skipped(b, b->pool->crls[i].origin,
					 "the signature does not verify with its issuer's key");
		return false;
	}
	return true;
}

static bool is_ca(X509 *cert)
{
	return (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
}

/* Does a distribution point name (fullName) share a name with the certificate's CRL DPs? */
static bool dp_name_matches(const DIST_POINT_NAME *idp_name, X509 *cert)
{
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
	bool match = false;

	for (int i = 0; dps && i < sk_DIST_POINT_num(dps) && !match; i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		if (!dp->distpoint) {
			match = true; /* a DP naming only a CRL issuer: no name to differ */
			continue;
		}
		if (dp->distpoint->type != 0)
			continue;
		for (int j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname) && !match;
		     j++)
			for (int k = 0; k < sk_GENERAL_NAME_num(idp_name->name.fullname) && !match;
			     k++)
				match = GENERAL_NAME_cmp(sk_GENERAL_NAME_value(
								 dp->distpoint->name.fullname, j),
							 sk_GENERAL_NAME_value(
								 idp_name->name.fullname, k)) == 0;
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return match;
}

/*
 * Is `cert` within the scope of `crl` (RFC 5280 5.2.4, 5.2.5, 6.3.3 b)? An
 * ARL (onlyContainsCACerts) says nothing about a server's certificate, a
 * partitioned CRL only about its partition; a delta CRL is not complete.
 * These are the rules OpenSSL's verifier applies too. On no, `why` says it.
 */
static bool crl_covers(X509_CRL *crl, X509 *cert, char *why, size_t n)
{
	ISSUING_DIST_POINT *idp;
	int crit = -1;
	bool ok = true;

	if (X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0) {
		snprintf(why, n, "a delta CRL (only complete CRLs are used)");
		return false;
	}
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
	if (!idp) {
		if (crit != -1) { /* present but not decodable */
			snprintf(why, n, "its issuingDistributionPoint does not parse");
			return false;
		}
		return true;
	}
	if (idp->onlyattr > 0) {
		snprintf(why, n, "covers attribute certificates only");
		ok = false;
	} else if (idp->onlyCA > 0 && !is_ca(cert)) {
		snprintf(why, n, "an ARL: covers CA certificates only");
		ok = false;
	} else if (idp->onlyuser > 0 && is_ca(cert)) {
		snprintf(why, n, "covers end-entity certificates only");
		ok = false;
	} else if (idp->indirectCRL > 0) {
		snprintf(why, n, "an indirect CRL (not supported)");
		ok = false;
	} else if (idp->onlysomereasons) {
		snprintf(why, n, "covers only some revocation reasons");
		ok = false;
	} else if (idp->distpoint && idp->distpoint->type != 0) {
		snprintf(why, n, "its distribution point is a relative name (not supported)");
		ok = false;
	} else if (idp->distpoint && !dp_name_matches(idp->distpoint, cert)) {
		snprintf(why, n, "its distribution point is not one the certificate names");
		ok = false;
	}
	ISSUING_DIST_POINT_free(idp);
	return ok;
}

/*
 * The newest usable CRL of `issuer` that covers `cert`; unusable ones are
 * noted in the result, ones that do not cover it in `none` (why there is no
 * CRL for this certificate).
 */
static X509_CRL *best_crl(struct chain_build *b, X509 *cert, X509 *issuer, const char **origin,
			  char *none, size_t n)
{
	X509_CRL *best = NULL;
	char t[21], why[128];

	for (size_t i = 0; i < b->pool->ncrls; i++) {
		X509_CRL *crl = b->pool->crls[i].crl;
		const char *from = b->pool->crls[i].origin;

		if (!crl_of_issuer(b, i, issuer, true))
			continue;
		if (!chain_revocation_crl_current(crl, b->at)) {
			const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
			if (X509_cmp_time(X509_CRL_get0_lastUpdate(crl), &b->at) > 0)
				snprintf(why, sizeof(why),
					 "not yet valid (thisUpdate in the future)");
			else if (!next)
				snprintf(why, sizeof(why), "no nextUpdate");
			else {
				hc_time_iso8601(hc_asn1_time_to_time(next), t);
				snprintf(why, sizeof(why), "stale: nextUpdate %s has passed", t);
			}
			note_crl_skipped(b, from, why);
			if (!none[0])
				snprintf(none, n, "%s: %s", from, why);
			continue;
		}
		if (!crl_covers(crl, cert, why, sizeof(why))) {
			if (!none[0])
				snprintf(none, n, "%s: %s", from, why);
			continue;
		}
		if (!best || crl_number(crl) > crl_number(best) ||
		    (crl_number(crl) == crl_number(best) &&
		     ASN1_TIME_compare(X509_CRL_get0_lastUpdate(crl),
				       X509_CRL_get0_lastUpdate(best)) > 0)) {
			best = crl;
			*origin = from;
		}
	}
	return best;
}

/* CRLReason of a CRL entry, -1 when it has none. */
static long entry_reason(X509_REVOKED *entry)
{
	ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
	long v = reason ? ASN1_ENUMERATED_get(reason) : -1;

	ASN1_ENUMERATED_free(reason);
	return v;
}

/*
 * Revocation is permanent (RFC 5280 3.3): a CRL of `issuer` whose signature
 * verifies but that is stale (or otherwise not current) still proves a
 * revocation it lists, when the revocation date is not after the time of
 * the check. certificateHold (6) is not permanent and removeFromCRL (8)
 * undoes a hold: neither counts from a CRL that is not current.
 */
static X509_CRL *crl_listing_permanently(struct chain_build *b, X509 *issuer, X509 *cert,
					 X509_REVOKED **entry, const char **origin)
{
	char why[128];

	for (size_t i = 0; i < b->pool->ncrls; i++) {
		X509_CRL *crl = b->pool->crls[i].crl;
		X509_REVOKED *e = NULL;
		long reason;

		if (!crl_of_issuer(b, i, issuer, false) ||
		    !crl_covers(crl, cert, why, sizeof(why)) ||
		    X509_CRL_get0_by_cert(crl, &e, cert) != 1)
			continue;
		reason = entry_reason(e);
		if (reason == 6 || reason == 8 ||
		    X509_cmp_time(X509_REVOKED_get0_revocationDate(e), &b->at) > 0)
			continue;
		*entry = e;
		*origin = b->pool->crls[i].origin;
		return crl;
	}
	return NULL;
}

/* Take a CRL off the "not used" list: it decided a revocation after all. */
static void unnote_crl_skipped(struct chain_build *b, const char *origin)
{
	hc_chain_result *r = b->res;

	for (size_t i = 0; i < r->crl_skipped_count; i++) {
		if (strcmp(r->crl_skipped[i].origin, origin) != 0)
			continue;
		free(r->crl_skipped[i].origin);
		free(r->crl_skipped[i].reason);
		memmove(&r->crl_skipped[i], &r->crl_skipped[i + 1],
			(r->crl_skipped_count - i - 1) * sizeof(*r->crl_skipped));
		r->crl_skipped_count--;
		return;
	}
}

/* A CRL's number as lowercase hex; NULL when it has none. */
static char *crl_number_hex(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	char *hex = hc_x509_integer_hex(n);

	ASN1_INTEGER_free(n);
	return hex;
}

/* "CRL number 2, next update 2036-...": what identifies the CRL that decided. */
static char *crl_identity(X509_CRL *crl)
{
	char *number = crl_number_hex(crl), *s;
	char next[21] = "none";

	if (X509_CRL_get0_nextUpdate(crl))
		hc_time_iso8601(hc_asn1_time_to_time(X509_CRL_get0_nextUpdate(crl)), next);
	s = chain_report_format("CRL number %s, next update %s", number ? number : "none", next);
	free(number);
	return s;
}

void chain_revocation_clear(struct chain_rev *rev)
{
	free(rev->note);
	free(rev->serial);
	free(rev->reason);
	free(rev->detail);
	memset(rev, 0, sizeof(*rev));
}

bool chain_revocation_check(struct chain_build *b, size_t index, X509 *issuer)
{
	X509 *cert = b->path[index];
	struct chain_rev *rev = &b->rev[index];
	const char *origin = NULL;
	X509_CRL *crl, *listed_by = NULL;
	X509_REVOKED *entry = NULL;
	bool stale = false;
	long reason;
	char t[21], none[256] = "";
	char *id, *who;

	chain_revocation_clear(rev);
	crl = best_crl(b, cert, issuer, &origin, none, sizeof(none));
	if (!crl && b->opt->fetch) {
		chain_fetch_crls(b, cert);
		none[0] = '\0';
		crl = best_crl(b, cert, issuer, &origin, none, sizeof(none));
	}
	if (crl && X509_CRL_get0_by_cert(crl, &entry, cert) == 1) {
		listed_by = crl;
	} else if ((listed_by = crl_listing_permanently(b, issuer, cert, &entry, &origin))) {
		stale = !chain_revocation_crl_current(listed_by, b->at);
		if (stale)
			unnote_crl_skipped(b, origin);
	}
	if (!listed_by && crl) {
		rev->state = HC_REV_GOOD;
		rev->crl_origin = origin;
		rev->crl = crl;
		id = crl_identity(crl);
		rev->detail = chain_report_format("not revoked per %s (%s)", origin, id ? id : "?");
		free(id);
		return true;
	}
	if (!listed_by) {
		who = hc_x509_name_text(X509_get_subject_name(issuer));
		rev->state = HC_REV_UNKNOWN;
		rev->detail = chain_report_format("no usable CRL/ARL of its issuer %s%s%s%s",
						  who ? who : "?", none[0] ? " (" : "", none,
						  none[0] ? ")" : "");
		free(who);
		return true;
	}
	rev->crl_origin = origin;
	rev->crl = listed_by;
	rev->state = HC_REV_REVOKED;
	rev->when = hc_asn1_time_to_time(X509_REVOKED_get0_revocationDate(entry));
	reason = entry_reason(entry);
	rev->reason = strdup(reason >= 0 ? chain_report_crl_reason(reason) : "unspecified");
	rev->serial = chain_report_serial(cert);
	hc_time_iso8601(rev->when, t);
	rev->note = chain_report_format(
		"serial %s revoked on %s (%s) by %s%s", rev->serial, t,
		rev->reason ? rev->reason : "?", origin,
		stale ? " (a CRL that is not current: revocation is permanent)" : "");
	id = crl_identity(listed_by);
	rev->detail = chain_report_format("listed by %s (%s)", origin, id ? id : "?");
	free(id);
	return false;
}

void chain_revocation_to_link(const struct chain_rev *rev, hc_chain_link *l)
{
	l->revocation = rev->state;
	l->crl_origin = rev->crl_origin ? strdup(rev->crl_origin) : NULL;
	l->revocation_note = rev->note ? strdup(rev->note) : NULL;
	l->revoked_serial = rev->serial ? strdup(rev->serial) : NULL;
	l->revoked_reason = rev->reason ? strdup(rev->reason) : NULL;
	l->revoked_at = rev->when;
	l->revocation_detail = rev->detail ? strdup(rev->detail) : NULL;
	if (rev->crl) {
		l->crl_number = crl_number_hex(rev->crl);
		l->crl_this_update = hc_asn1_time_to_time(X509_CRL_get0_lastUpdate(rev->crl));
		if (X509_CRL_get0_nextUpdate(rev->crl))
			l->crl_next_update = hc_asn1_time_to_time(
				X509_CRL_get0_nextUpdate(rev->crl));
	}
}

/* ---- OpenSSL's verifier ----------------------------------------------- */

/*
 * CRL checks are on for every certificate; a missing CRL is forgiven only
 * where the search found none either (revocation unknown, or the trust
 * anchor): everything else OpenSSL objects to stands.
 */
static int openssl_verify_cb(int ok, X509_STORE_CTX *ctx)
{
	const struct chain_build *b = X509_STORE_CTX_get_app_data(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);

	if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL && depth >= 0 &&
	    (size_t)depth < b->depth && b->rev[depth].state != HC_REV_GOOD &&
	    b->rev[depth].state != HC_REV_REVOKED)
		return 1;
	return ok;
}

hc_rc chain_revocation_openssl(struct chain_build *b)
{
	hc_chain_result *r = b->res;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	X509_VERIFY_PARAM *param;
	hc_rc rc = HC_OK;
	int ok, error;

	r->openssl_error_depth = -1;
	if (!store || !ctx || !untrusted || !crls) {
		rc = hc_fail(b->err, HC_IO, "out of memory");
		goto out;
	}
	/* Exactly the path: its anchor the only trusted certificate, its issuers the only others.
	 */
	if (!X509_STORE_add_cert(store, b->path[b->depth - 1])) {
		rc = hc_fail_ssl(b->err, HC_IO, "OpenSSL's verifier: adding the trust anchor");
		goto out;
	}
	for (size_t i = 1; i + 1 < b->depth; i++)
		if (!sk_X509_push(untrusted, b->path[i])) {
			rc = hc_fail(b->err, HC_IO, "out of memory");
			goto out;
		}
	for (size_t i = 0; i < b->depth; i++)
		if (b->rev[i].crl && !sk_X509_CRL_push(crls, b->rev[i].crl)) {
			rc = hc_fail(b->err, HC_IO, "out of memory");
			goto out;
		}
	if (!X509_STORE_CTX_init(ctx, store, b->path[0], untrusted)) {
		rc = hc_fail_ssl(b->err, HC_IO, "OpenSSL's verifier: starting");
		goto out;
	}
	X509_STORE_CTX_set0_crls(ctx, crls);
	X509_STORE_CTX_set_app_data(ctx, b);
	X509_STORE_CTX_set_verify_cb(ctx, openssl_verify_cb);
	if (b->opt->purpose && !X509_STORE_CTX_set_purpose(ctx, b->opt->purpose)) {
		rc = hc_fail_ssl(b->err, HC_IO, "OpenSSL's verifier: purpose %d", b->opt->purpose);
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, b->at);
	/* The anchor may be a Sub CA the user trusts directly (--roots names it). */
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL |
						   X509_V_FLAG_PARTIAL_CHAIN);
	ok = X509_verify_cert(ctx);
	error = X509_STORE_CTX_get_error(ctx);
	r->openssl_checked = true;
	r->openssl_ok = ok == 1;
	if (ok != 1) {
		r->openssl_error_depth = X509_STORE_CTX_get_error_depth(ctx);
		/* The search read the same CRLs; should OpenSSL still find a revocation, say so. */
		r->revoked = r->revoked || error == X509_V_ERR_CERT_REVOKED;
		r->openssl_error = strdup(error != X509_V_OK ? X509_verify_cert_error_string(error)
							     : "verification failed");
		if (!r->openssl_error)
			rc = hc_fail(b->err, HC_IO, "out of memory");
	}
	ERR_clear_error();
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_free(untrusted);
	sk_X509_CRL_free(crls);
	return rc;
}
