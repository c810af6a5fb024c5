/*
 * SPEC: Reliability promises — text that comes from a token or a file
 * (labels, subjects, SANs, paths) is shown with control characters escaped,
 * so it cannot redraw a terminal, and JSON output stays valid UTF-8.
 */
#ifndef HSMCERT_TEXT_H
#define HSMCERT_TEXT_H

#include <stddef.h>

enum {
	/*
	 * Keep control characters (a JSON writer escapes them itself); only
	 * bytes that are not UTF-8 are replaced.
	 */
	HC_TEXT_KEEP_CONTROLS = 1 << 0,
	/* Keep line feeds (a message of several lines); every other control is escaped. */
	HC_TEXT_KEEP_NEWLINES = 1 << 1,
};

/*
 * The one sanitiser: a new NUL-terminated copy of `len` bytes of `s` where
 * C0 controls, DEL, C1 controls (U+0080..U+009F), bidirectional overrides
 * and isolates (U+202A..U+202E, U+2066..U+2069) become \xNN or \u{NNNN},
 * and a byte that is not part of valid UTF-8 becomes \xNN. Printable text,
 * UTF-8 included (Chinese organisation names), is kept as it is.
 * NULL only when out of memory.
 */
char *hc_text_safe(const char *s, size_t len, unsigned flags);

#endif
