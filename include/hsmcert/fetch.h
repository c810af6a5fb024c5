/*
 * HTTP for chain --fetch (SPEC: chain): AIA caIssuers and CRL distribution
 * points are plain http:// by design (RFC 5280 4.2.2.1, 4.2.1.13); what
 * comes back is verified by signature, not by transport. And requests to a
 * service over verified TLS (SPEC: enroll, renew: ACME). One libcurl, loaded
 * when first needed.
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

/* ---- requests to a service (ACME, RFC 8555) --------------------------- */

typedef struct hc_fetch_request_params {
	const char *url; /* https:// (http:// too with allow_http) */
	bool allow_http;
	bool method_head; /* HEAD instead of GET */
	const void *body; /* POST this body when not NULL */
	size_t body_len;
	const char *content_type;   /* with body */
	const char *ca_file;	    /* trust anchors for TLS; NULL: the system store */
	const char *const *headers; /* NULL-terminated names of response headers to keep */
	hc_fetch_limits limits;
} hc_fetch_request_params;

typedef struct hc_fetch_header {
	const char *name; /* one of the names asked for */
	char *value;
} hc_fetch_header;

typedef struct hc_fetch_response {
	long status;
	unsigned char *body; /* NUL-terminated (not counted in body_len) */
	size_t body_len;
	hc_fetch_header *headers; /* in arrival order; a header may repeat (Link) */
	size_t header_count;
} hc_fetch_response;

/*
 * One HTTP request, TLS verified (peer and host name) against ca_file or
 * the system store, no redirects followed. Any HTTP status is a success
 * here (the caller reads problem documents); transport failures, timeouts
 * and oversized answers are HC_IO naming the URL.
 */
hc_rc hc_fetch_request(const hc_fetch_request_params *req, hc_fetch_response *resp, hc_error *err);
/* The first header of that name (case-insensitive), or NULL. */
const char *hc_fetch_response_header(const hc_fetch_response *resp, const char *name);
void hc_fetch_response_headers_clear(hc_fetch_response *resp);
void hc_fetch_response_clear(hc_fetch_response *resp);

/* The file a URL is cached in under dir: the SHA-256 of the URL in hex. Caller frees. */
char *hc_fetch_cache_path(const char *dir, const char *url);

#endif
