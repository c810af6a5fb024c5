#include "hsmcert/hex.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

char *hc_hex_encode(const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(len * 2 + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[data[i] >> 4];
		s[2 * i + 1] = digits[data[i] & 15];
	}
	s[len * 2] = '\0';
	return s;
}

hc_rc hc_hex_decode(const char *text, const char *what, unsigned char **out, size_t *len,
		    hc_error *err)
{
	char sep = strchr(text, ':') ? ':' : '\0';
	size_t cap = strlen(text) / 2 + 1, got = 0;
	unsigned char *buf;

	*out = NULL;
	*len = 0;
	if (!*text)
		return hc_fail(err, HC_USAGE, "%s is empty: give hex digits, e.g. 01a2", what);
	buf = malloc(cap);
	if (!buf)
		return hc_fail(err, HC_IO, "out of memory");
	if (!OPENSSL_hexstr2buf_ex(buf, cap, &got, text, sep) || got == 0) {
		free(buf);
		return hc_fail(err, HC_USAGE,
			       "%s '%s' is not hex: give pairs of hex digits, e.g. 01a2", what,
			       text);
	}
	*out = buf;
	*len = got;
	return HC_OK;
}
