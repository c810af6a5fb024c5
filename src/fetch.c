/* HTTP downloads for chain --fetch (see hsmcert/fetch.h). */
#include "hsmcert/fetch.h"

#include "hsmcert/hex.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
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
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		unsigned char *grown;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(grown = realloc(b->data, cap)))
			return 0;
		b->data = grown;
		b->cap = cap;
	}
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
	if (curl_init_rc != CURLE_OK || !(curl = curl_easy_init()))
		return hc_fail(err, HC_IO, "%s: cannot initialise libcurl", url);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, limits->connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, limits->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)limits->max_bytes);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "hsmcert");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);

	cc = curl_easy_perform(curl);
	if (body.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = hc_fail(err, HC_IO, "%s: larger than the %zu-byte limit, refused", url,
			     limits->max_bytes);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = hc_fail(err, HC_IO, "%s: %s", url,
			     curl_err[0] ? curl_err : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
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
	curl_easy_cleanup(curl);
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
	if (asprintf(&path, "%s/%s", dir, hex) < 0)
		path = NULL;
	free(hex);
	return path;
}
