/*
 * HTTP downloads for chain --fetch (SPEC: chain): AIA caIssuers and CRL
 * distribution points are plain http:// by design (RFC 5280 4.2.2.1,
 * 4.2.1.13); what comes back is verified by signature, not by transport.
 */
#ifndef HSMCERT_FETCH_H
#define HSMCERT_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "hsmcert/error.h"

typedef struct hc_fetch_limits {
	long connect_timeout_ms;
	long timeout_ms;  /* the whole transfer */
	size_t max_bytes; /* larger bodies are refused, not truncated */
} hc_fetch_limits;

/* True for a URL we fetch: http:// only (no https, ldap, file). */
bool hc_fetch_url_allowed(const char *url);

/*
 * GET an http:// URL: redirects followed only to http:// (at most 3), HTTP
 * status 200 required. Network failures, timeouts and oversized bodies are
 * HC_IO naming the URL. Caller frees *data.
 */
hc_rc hc_fetch_http(const char *url, const hc_fetch_limits *limits, unsigned char **data,
		    size_t *len, hc_error *err);

/* The file a URL is cached in under dir: the SHA-256 of the URL in hex. Caller frees. */
char *hc_fetch_cache_path(const char *dir, const char *url);

#endif
