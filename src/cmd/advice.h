/*
 * Library errors as people read them: the library names the condition (a
 * hint) and the input concerned; this is the one place that turns them into
 * command-line flags (STYLE.md: the library never names a flag).
 */
#ifndef HSMCERT_CMD_ADVICE_H
#define HSMCERT_CMD_ADVICE_H

#include <stddef.h>

#include "hsmcert/error.h"

/* Room for any cli_error_text: the message, a flag and the longest advice. */
#define CLI_ERROR_TEXT_SIZE (sizeof(((hc_error *)0)->message) + 256)

/* "--flag: " for the input, the message, then the advice for the hint; returns buf. */
const char *cli_error_text(const hc_error *err, char *buf, size_t size);

#endif
