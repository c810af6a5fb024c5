/* Errors and exit codes shared by the library and the CLI (SPEC: Exit codes). */
#ifndef HSMCERT_ERROR_H
#define HSMCERT_ERROR_H

#include <stdarg.h>

/* One enum of outcomes; the CLI's exit status is the value itself. */
typedef enum hc_rc {
	HC_OK = 0,
	HC_CHECK = 1, /* a check failed, or refused to protect existing state */
	HC_USAGE = 2, /* usage error or malformed input */
	HC_TOKEN = 3, /* token or PKCS#11 error (a wrong PIN included) */
	HC_IO = 4,    /* file or network I/O */
} hc_rc;

/*
 * What went wrong, filled once by the function that saw it and printed once
 * by the CLI. `function`/`ckr` are set when a PKCS#11 call failed.
 */
typedef struct hc_error {
	hc_rc rc;
	char message[1024];
	char function[40];
	unsigned long ckr;
	int has_ckr;
} hc_error;

void hc_error_clear(hc_error *err);

/* Record a failure; returns rc so callers can `return hc_fail(...)`. */
hc_rc hc_fail(hc_error *err, hc_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
hc_rc hc_failv(hc_error *err, hc_rc rc, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * Record a failed PKCS#11 call: the message becomes
 * "<what>: <function> failed: <CKR_NAME>". rc is HC_TOKEN.
 */
hc_rc hc_fail_p11(hc_error *err, const char *function, unsigned long rv, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix context to an error already recorded ("reading cert.pem: ..."). */
void hc_error_prefix(hc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append the OpenSSL error queue's first reason to the message, then clear the queue. */
hc_rc hc_fail_ssl(hc_error *err, hc_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
