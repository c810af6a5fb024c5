#include "hsmcert/error.h"
#include "hsmcert/p11.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

void hc_error_clear(hc_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

hc_rc hc_failv(hc_error *err, hc_rc rc, const char *fmt, va_list ap)
{
	if (!err)
		return rc;
	hc_error_clear(err);
	err->rc = rc;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	return rc;
}

hc_rc hc_fail(hc_error *err, hc_rc rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hc_failv(err, rc, fmt, ap);
	va_end(ap);
	return rc;
}

hc_rc hc_fail_p11(hc_error *err, const char *function, unsigned long rv, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	if (!err)
		return HC_TOKEN;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	hc_fail(err, HC_TOKEN, "%s: %s failed: %s", what, function, hc_ckr_name(rv));
	snprintf(err->function, sizeof(err->function), "%s", function);
	err->ckr = rv;
	err->has_ckr = 1;
	return HC_TOKEN;
}

void hc_error_prefix(hc_error *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err->message)];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof(old));
	snprintf(err->message, sizeof(err->message), "%s: %s", prefix, old);
}

hc_rc hc_error_hint(hc_error *err, hc_hint hint, hc_rc rc)
{
	if (err)
		err->hint = hint;
	return rc;
}

hc_rc hc_error_input(hc_error *err, hc_input input, hc_rc rc)
{
	if (err)
		err->input = input;
	return rc;
}

hc_rc hc_fail_ssl(hc_error *err, hc_rc rc, const char *fmt, ...)
{
	char what[768], reason[256] = "";
	unsigned long e = ERR_peek_last_error();
	va_list ap;

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (reason[0])
		return hc_fail(err, rc, "%s (%s)", what, reason);
	return hc_fail(err, rc, "%s", what);
}
