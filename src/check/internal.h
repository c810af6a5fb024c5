/* Shared by src/check/: the checks' items. */
#ifndef HSMCERT_CHECK_INTERNAL_H
#define HSMCERT_CHECK_INTERNAL_H

#include "hsmcert/check.h"

/* Record a named check's outcome and its detail (a failure marks the result failed). */
void check_add_item(hc_check_result *r, const char *name, hc_check_outcome outcome, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

#endif
