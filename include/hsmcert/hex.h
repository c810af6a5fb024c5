#ifndef HSMCERT_HEX_H
#define HSMCERT_HEX_H

#include <stddef.h>

#include "hsmcert/error.h"

/* Lowercase hex without separators; caller frees. NULL on allocation failure. */
char *hc_hex_encode(const unsigned char *data, size_t len);
/* "a1b2..." or "a1:b2:..." to bytes; `what` names the field in errors (HC_USAGE). */
hc_rc hc_hex_decode(const char *text, const char *what, unsigned char **out, size_t *len,
		    hc_error *err);

#endif
