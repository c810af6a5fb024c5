/* The one sanitiser for token and file text on a terminal or in JSON (see text.h). */
#include "hsmcert/text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (RFC 3629), or 0; *cp gets the code point. */
static size_t utf8_sequence(const unsigned char *s, size_t left, unsigned long *cp)
{
	size_t n;
	unsigned long c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2;
		c = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3;
		c = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	/* Overlong forms, surrogates and code points beyond U+10FFFF are not UTF-8. */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
	    (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

static bool redraws(unsigned long cp, unsigned flags)
{
	if (cp == '\n' && (flags & HC_TEXT_KEEP_NEWLINES))
		return false;
	if (flags & HC_TEXT_KEEP_CONTROLS)
		return false;
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

char *hc_text_safe(const char *s, size_t len, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	/* The longest escape, \u{NNNN}, is 8 bytes for a sequence of at least 1. */
	char *out = malloc(len * 8 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		unsigned long cp;
		size_t n = utf8_sequence(p + i, len - i, &cp);

		if (n == 0) {
			o += sprintf(o, "\\x%02X", p[i]);
			i++;
			continue;
		}
		if (redraws(cp, flags))
			o += cp < 0x100 ? sprintf(o, "\\x%02lX", cp) : sprintf(o, "\\u{%04lX}", cp);
		else {
			memcpy(o, p + i, n);
			o += n;
		}
		i += n;
	}
	*o = '\0';
	return out;
}
