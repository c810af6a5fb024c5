/* HTTP downloads for chain --fetch (see hsmcert/fetch.h). */
#include "hsmcert/fetch.h"

#include "hsmcert/array.h"
#include "hsmcert/file.h"
#include "hsmcert/hex.h"
#include "hsmcert/version.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * libcurl is loaded when a download is first needed, not linked: its
 * dependency tree (GnuTLS, Kerberos, LDAP, SSH, ...) is about 25 shared
 * libraries whose relocation cost every hsmcert run ~7M instructions, about
 * a fifth of a whole `hsmcert csr` (scripts/bench.d/csr.sh).
 */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	void (*easy_cleanup)(CURL *curl);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
} lib;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return;
	*(void **)&lib.global_init = dlsym(h, "curl_global_init");
	*(void **)&lib.easy_init = dlsym(h, "curl_easy_init");
	*(void **)&lib.easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&lib.easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&lib.easy_getinfo = dlsym(h, "curl_easy_getinfo");
	*(void **)&lib.easy_strerror = dlsym(h, "curl_easy_strerror");
	*(void **)&lib.easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&lib.slist_append = dlsym(h, "curl_slist_append");
	*(void **)&lib.slist_free_all = dlsym(h, "curl_slist_free_all");
	if (lib.global_init && lib.easy_init && lib.easy_setopt && lib.easy_perform &&
	    lib.easy_getinfo && lib.easy_strerror && lib.easy_cleanup && lib.slist_append &&
	    lib.slist_free_all)
		curl_init_rc = lib.global_init(CURL_GLOBAL_DEFAULT);
	/* The handle stays open: libcurl lives until the process ends. */
}

bool hc_fetch_url_allowed(const char *url)
{
	return url && strncasecmp(url, "http://", 7) == 0 && url[7] != '\0';
}

struct body {
	unsigned char *data;
	size_t len, cap, max;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct body *b = user;
	size_t n = size * nmemb;

	if (n > b->max - b->len) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (!hc_array_reserve(&b->data, &b->cap, b->len + n + 1, 1)) /* and a NUL */
		return 0;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	return n;
}

hc_rc hc_fetch_http(const char *url, const hc_fetch_limits *limits, unsigned char **data,
		    size_t *len, hc_error *err)
{
	struct body body = {.max = limits->max_bytes};
	char curl_err[CURL_ERROR_SIZE] = "";
	CURL *curl = NULL;
	CURLcode cc;
	long status = 0;
	hc_rc rc = HC_OK;

	*data = NULL;
	*len = 0;
	if (!hc_fetch_url_allowed(url))
		return hc_fail(err, HC_USAGE, "%s: only http:// URLs are fetched", url);
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK || !(curl = lib.easy_init()))
		return hc_fail(err, HC_IO, "%s: cannot load or initialise libcurl (libcurl.so.4)",
			       url);
	lib.easy_setopt(curl, CURLOPT_URL, url);
	lib.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
	lib.easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http");
	lib.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	lib.easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
	lib.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, limits->connect_timeout_ms);
	lib.easy_setopt(curl, CURLOPT_TIMEOUT_MS, limits->timeout_ms);
	lib.easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)limits->max_bytes);
	lib.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(curl, CURLOPT_USERAGENT, "hsmcert");
	lib.easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
	lib.easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	lib.easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);

	cc = lib.easy_perform(curl);
	if (body.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = hc_fail(err, HC_IO, "%s: larger than the %zu-byte limit, refused", url,
			     limits->max_bytes);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = hc_fail(err, HC_IO, "%s: %s", url,
			     curl_err[0] ? curl_err : lib.easy_strerror(cc));
		goto out;
	}
	lib.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		rc = hc_fail(err, HC_IO, "%s: HTTP status %ld", url, status);
		goto out;
	}
	if (body.len == 0) {
		rc = hc_fail(err, HC_IO, "%s: empty response", url);
		goto out;
	}
	*data = body.data;
	*len = body.len;
	body.data = NULL;
out:
	free(body.data);
	if (curl)
		lib.easy_cleanup(curl);
	return rc;
}

/* Response headers the caller asked for, in arrival order (the last response's only). */
struct headers {
	hc_fetch_response *resp;
	const char *const *wanted;
	bool failed;
};

static size_t header_write(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct headers *h = user;
	hc_fetch_response *r = h->resp;
	size_t n = size * nmemb, name_len, value_len;
	const char *colon = memchr(ptr, ':', n), *value;
	hc_fetch_header *grown;

	/* A status line starts a new response (after a 100 Continue): forget the earlier one. */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		hc_fetch_response_headers_clear(r);
		return n;
	}
	if (!colon)
		return n;
	name_len = (size_t)(colon - ptr);
	value = colon + 1;
	value_len = n - name_len - 1;
	while (value_len && (*value == ' ' || *value == '\t'))
		value++, value_len--;
	while (value_len && (value[value_len - 1] == '\r' || value[value_len - 1] == '\n' ||
			     value[value_len - 1] == ' '))
		value_len--;
	for (const char *const *w = h->wanted; w && *w; w++) {
		if (strlen(*w) != name_len || strncasecmp(*w, ptr, name_len) != 0)
			continue;
		if (r->header_count >= 64)
			return n; /* enough: a server flooding headers gets no more memory */
		if (!(grown = realloc(r->headers, (r->header_count + 1) * sizeof(*grown)))) {
			h->failed = true;
			return 0;
		}
		r->headers = grown;
		grown[r->header_count].name = *w;
		if (!(grown[r->header_count].value = strndup(value, value_len))) {
			h->failed = true;
			return 0;
		}
		r->header_count++;
		break;
	}
	return n;
}

void hc_fetch_response_headers_clear(hc_fetch_response *resp)
{
	for (size_t i = 0; i < resp->header_count; i++)
		free(resp->headers[i].value);
	free(resp->headers);
	resp->headers = NULL;
	resp->header_count = 0;
}

void hc_fetch_response_clear(hc_fetch_response *resp)
{
	hc_fetch_response_headers_clear(resp);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

const char *hc_fetch_response_header(const hc_fetch_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->header_count; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

hc_rc hc_fetch_request(const hc_fetch_request_params *req, hc_fetch_response *resp, hc_error *err)
{
	struct body body = {.max = req->limits.max_bytes};
	struct headers hdrs = {.resp = resp, .wanted = req->headers};
	struct curl_slist *sent = NULL;
	char curl_err[CURL_ERROR_SIZE] = "", *ctype = NULL;
	const char *proto;
	CURL *curl = NULL;
	CURLcode cc;
	hc_rc rc = HC_OK;

	memset(resp, 0, sizeof(*resp));
	if (strncasecmp(req->url, "https://", 8) == 0)
		proto = "https";
	else if (req->allow_http && strncasecmp(req->url, "http://", 7) == 0)
		proto = "http";
	else
		return hc_fail(err, HC_USAGE, "%s: only %s URLs are used here", req->url,
			       req->allow_http ? "http:// and https://" : "https://");
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK || !(curl = lib.easy_init()))
		return hc_fail(err, HC_IO, "%s: cannot load or initialise libcurl (libcurl.so.4)",
			       req->url);
	if (req->content_type) {
		if (asprintf(&ctype, "Content-Type: %s", req->content_type) < 0 ||
		    !(sent = lib.slist_append(sent, ctype))) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		lib.easy_setopt(curl, CURLOPT_HTTPHEADER, sent);
	}
	lib.easy_setopt(curl, CURLOPT_URL, req->url);
	lib.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, proto);
	lib.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	lib.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, req->limits.connect_timeout_ms);
	lib.easy_setopt(curl, CURLOPT_TIMEOUT_MS, req->limits.timeout_ms);
	lib.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(curl, CURLOPT_USERAGENT, "hsmcert/" HSMCERT_VERSION);
	lib.easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	lib.easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file)
		lib.easy_setopt(curl, CURLOPT_CAINFO, req->ca_file);
	if (req->method_head)
		lib.easy_setopt(curl, CURLOPT_NOBODY, 1L);
	if (req->body) {
		lib.easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
		lib.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	lib.easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
	lib.easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	lib.easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_write);
	lib.easy_setopt(curl, CURLOPT_HEADERDATA, &hdrs);
	lib.easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);

	cc = lib.easy_perform(curl);
	if (hdrs.failed) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if (body.too_big) {
		rc = hc_fail(err, HC_IO, "%s: answer larger than the %zu-byte limit, refused",
			     req->url, req->limits.max_bytes);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = hc_fail(err, HC_IO, "%s: %s", req->url,
			     curl_err[0] ? curl_err : lib.easy_strerror(cc));
		goto out;
	}
	lib.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (body.data)
		body.data[body.len] = '\0'; /* body_write kept a byte for it */
	resp->body = body.data;
	resp->body_len = body.len;
	body.data = NULL;
out:
	if (rc != HC_OK)
		hc_fetch_response_clear(resp);
	free(body.data);
	free(ctype);
	if (sent)
		lib.slist_free_all(sent);
	if (curl)
		lib.easy_cleanup(curl);
	return rc;
}

char *hc_fetch_cache_path(const char *dir, const char *url)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *hex, *path = NULL;

	if (!EVP_Digest(url, strlen(url), md, &mdlen, EVP_sha256(), NULL))
		return NULL;
	if (!(hex = hc_hex_encode(md, mdlen)))
		return NULL;
	path = hc_path_join(dir, hex);
	free(hex);
	return path;
}
