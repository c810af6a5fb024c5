/*
 * Downloads for --fetch (RFC 5280 AIA caIssuers, CRL distribution points),
 * through --cache: a source of issuer candidates and CRLs the search asks
 * when the files given do not do.
 */
#include "internal.h"

#include "hsmcert/x509.h"

#include "hsmcert/fetch.h"
#include "hsmcert/file.h"

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long long chain_fetch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool already_fetched(struct chain_build *b, const char *url)
{
	for (size_t i = 0; i < b->nfetched; i++)
		if (strcmp(b->fetched[i], url) == 0)
			return true;
	if (hc_array_grow(&b->fetched, &b->capfetched, b->nfetched, sizeof(*b->fetched)) &&
	    (b->fetched[b->nfetched] = strdup(url)))
		b->nfetched++;
	return false;
}

static void log_fetch(struct chain_build *b, const char *url, const char *what, bool ok,
		      bool from_cache, const char *message)
{
	hc_chain_result *r = b->res;

	if (!hc_array_grow(&r->fetches, &b->capfetches, r->fetch_count, sizeof(*r->fetches))) {
		b->fatal = hc_fail(b->err, HC_IO, "out of memory");
		return;
	}
	r->fetches[r->fetch_count++] = (hc_chain_fetch_log){strdup(url), strdup(what), ok,
							    from_cache, strdup(message)};
}

/*
 * Download one URL (or take it from --cache) and add what it holds to the
 * pool. Failures are logged and skipped: the path then fails on its own terms,
 * and `got` remembers a failed transfer so the caller can say it was I/O.
 */
static void fetch_into_pool(struct chain_build *b, const char *url, bool crl,
			    struct chain_fetch_outcome *got)
{
	const hc_chain_options *o = b->opt;
	hc_fetch_limits lim = {
		o->connect_timeout_ms ? o->connect_timeout_ms : HC_CHAIN_FETCH_CONNECT_TIMEOUT_MS,
		o->timeout_ms ? o->timeout_ms : HC_CHAIN_FETCH_TIMEOUT_MS,
		crl ? (o->max_crl_download ? o->max_crl_download : HC_CHAIN_FETCH_MAX_CRL)
		    : (o->max_cert_download ? o->max_cert_download : HC_CHAIN_FETCH_MAX_CERT)};
	const char *what = crl ? "crl" : "issuer";
	unsigned char *data = NULL;
	size_t len = 0;
	char *cache = NULL, msg[512];
	bool from_cache = false;
	hc_x509_bundle bundle = {0};
	hc_error e = {0};

	if (already_fetched(b, url))
		return;
	if (!hc_fetch_url_allowed(url)) {
		log_fetch(b, url, what, false, false, "not an http:// URL: not fetched");
		return;
	}
	if (o->cache_dir && (cache = hc_fetch_cache_path(o->cache_dir, url)) &&
	    hc_file_read(cache, lim.max_bytes, &data, &len, &e) == HC_OK) {
		from_cache = true;
		/* A cached CRL past its nextUpdate is fetched again. */
		if (hc_x509_load_mem(data, len, url, NULL, &bundle, &e) != HC_OK ||
		    (crl && (sk_X509_CRL_num(bundle.crls) == 0 ||
			     !chain_revocation_crl_current(sk_X509_CRL_value(bundle.crls, 0),
							   time(NULL))))) {
			hc_x509_bundle_clear(&bundle);
			free(data);
			data = NULL;
			from_cache = false;
		}
	}
	if (!from_cache) {
		/* The whole of --fetch is bounded, not only each URL (issue 14.9). */
		long long left = b->fetch_deadline_ms - chain_fetch_now_ms();
		if (left <= 0) {
			hc_fail(&e, HC_IO,
				"%s: not fetched: the %ld seconds all downloads may take are spent",
				url,
				(o->total_timeout_ms ? o->total_timeout_ms
						     : HC_CHAIN_FETCH_TOTAL_TIMEOUT_MS) /
					1000);
		} else {
			if (lim.timeout_ms > left)
				lim.timeout_ms = (long)left;
			if (lim.connect_timeout_ms > left)
				lim.connect_timeout_ms = (long)left;
		}
		if (left <= 0 || hc_fetch_http(url, &lim, &data, &len, &e) != HC_OK) {
			log_fetch(b, url, what, false, false, e.message);
			if (got && !got->download_failed) {
				got->download_failed = true;
				snprintf(got->failure, sizeof(got->failure), "%s", e.message);
			}
			goto out;
		}
		if (hc_x509_load_mem(data, len, url, NULL, &bundle, &e) != HC_OK) {
			log_fetch(b, url, what, false, false, e.message);
			goto out;
		}
		if (cache && hc_file_write_atomic(cache, data, len, 0644, true, &e) != HC_OK) {
			b->fatal = e.rc;
			*b->err = e;
			hc_error_input(b->err, HC_INPUT_CACHE, e.rc);
			goto out;
		}
	}
	if (chain_pool_add_bundle(b->pool, &bundle, url, got ? &got->added : NULL, b->err) !=
	    HC_OK) {
		b->fatal = b->err->rc;
		goto out;
	}
	snprintf(msg, sizeof(msg), "%d certificate(s), %d CRL(s)", sk_X509_num(bundle.certs),
		 sk_X509_CRL_num(bundle.crls));
	log_fetch(b, url, what, true, from_cache, msg);
out:
	hc_x509_bundle_clear(&bundle);
	free(data);
	free(cache);
}

bool chain_fetch_issuers(struct chain_build *b, X509 *cert, struct chain_fetch_outcome *got)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
	size_t before = got->added;

	for (int i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia) && !b->fatal; i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		if (OBJ_obj2nid(ad->method) == NID_ad_ca_issuers && ad->location->type == GEN_URI)
			fetch_into_pool(b,
					(const char *)ASN1_STRING_get0_data(
						ad->location->d.uniformResourceIdentifier),
					false, got);
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	return got->added > before;
}

void chain_fetch_crls(struct chain_build *b, X509 *cert)
{
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);

	for (int i = 0; dps && i < sk_DIST_POINT_num(dps) && !b->fatal; i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		if (!dp->distpoint || dp->distpoint->type != 0)
			continue;
		for (int j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
			if (gn->type == GEN_URI)
				fetch_into_pool(b,
						(const char *)ASN1_STRING_get0_data(
							gn->d.uniformResourceIdentifier),
						true, NULL);
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
}
