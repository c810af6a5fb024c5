/* Revocation: CRLs and ARLs of the issuers on the path (SPEC: chain, RFC 5280 6.3). */
#include "internal.h"

#include "hsmcert/x509.h"

#include <openssl/err.h>
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
	if (chain_pool_add_skipped(&r->crl_skipped, &r->crl_skipped_count, origin, reason,
	                           b->err) != HC_OK)
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
	if (!key || X509_CRL_verify(crl, key) != 1) {
		ERR_clear_error();
		if (note)
			note_crl_skipped(b, b->pool->crls[i].origin,
			                 "the signature does not verify with its issuer's key");
		return false;
	}
	return true;
}

/* The newest usable CRL of `issuer` in the pool; unusable ones are noted. */
static X509_CRL *best_crl(struct chain_build *b, X509 *issuer, const char **origin)
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
	for (size_t i = 0; i < b->pool->ncrls; i++) {
		X509_CRL *crl = b->pool->crls[i].crl;
		X509_REVOKED *e = NULL;
		long reason;

		if (!crl_of_issuer(b, i, issuer, false) ||
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

/*
 * RFC 5280 6.3, reduced to what a server's chain needs: the CA certificate
 * at path index `index` against a CRL/ARL of its issuer. False: revoked.
 */
bool chain_revocation_check(struct chain_build *b, size_t index, X509 *issuer)
{
	X509 *cert = b->path[index];
	const char *origin = NULL;
	X509_CRL *crl, *listed_by = NULL;
	X509_REVOKED *entry = NULL;
	bool stale = false;
	long reason;
	char t[21];

	free(b->rev[index].note);
	free(b->rev[index].serial);
	free(b->rev[index].reason);
	memset(&b->rev[index], 0, sizeof(b->rev[index]));
	if (!((X509_get_extension_flags(cert) & EXFLAG_CA) &&
	      (X509_get_extension_flags(cert) & EXFLAG_BCONS)))
		return true;
	crl = best_crl(b, issuer, &origin);
	if (!crl && b->opt->fetch) {
		chain_fetch_crls(b, cert);
		crl = best_crl(b, issuer, &origin);
	}
	if (crl && X509_CRL_get0_by_cert(crl, &entry, cert) == 1) {
		listed_by = crl;
	} else if ((listed_by = crl_listing_permanently(b, issuer, cert, &entry, &origin))) {
		stale = !chain_revocation_crl_current(listed_by, b->at);
		if (stale)
			unnote_crl_skipped(b, origin);
	}
	if (!listed_by) {
		b->rev[index].state = crl ? HC_REV_GOOD : HC_REV_UNKNOWN;
		b->rev[index].crl_origin = crl ? origin : NULL;
		return true;
	}
	b->rev[index].crl_origin = origin;
	b->rev[index].state = HC_REV_REVOKED;
	b->rev[index].when = hc_asn1_time_to_time(X509_REVOKED_get0_revocationDate(entry));
	reason = entry_reason(entry);
	b->rev[index].reason =
	    strdup(reason >= 0 ? chain_report_crl_reason(reason) : "unspecified");
	b->rev[index].serial = chain_report_serial(cert);
	hc_time_iso8601(b->rev[index].when, t);
	b->rev[index].note = chain_report_format(
	    "serial %s revoked on %s (%s) by %s%s", b->rev[index].serial, t,
	    b->rev[index].reason ? b->rev[index].reason : "?", origin,
	    stale ? " (a CRL that is not current: revocation is permanent)" : "");
	return false;
}
