/* HTTP downloads for chain --fetch (see hsmcert/fetch.h). */
#include "hsmcert/fetch.h"

#include "hsmcert/array.h"
#include "hsmcert/file.h"
#include "hsmcert/hex.h"

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
	if (lib.global_init && lib.easy_init && lib.easy_setopt && lib.easy_perform &&
	    lib.easy_getinfo && lib.easy_strerror && lib.easy_cleanup)
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
