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
 * The library names conditions, never command-line flags: what the user can
 * do about a failure is a hint, and which of the user's inputs it concerns is
 * an input; the CLI words both with its flags from one table (src/cmd/advice.c).
 */
typedef enum hc_hint {
	HC_HINT_NONE = 0,
	HC_HINT_FORCE_REPLACE,	/* an existing file or object is kept unless forced */
	HC_HINT_FORCE_ERASE,	/* a token that may hold objects is re-initialised only if forced */
	HC_HINT_FORCE_RESTORE,	/* a restore replaces same-named keys only if forced */
	HC_HINT_IF_MISSING,	/* an existing key of that label may be accepted as the result */
	HC_HINT_RECIPIENT_TYPE, /* a backup recipient key must be RSA of 2048 bits or more */
	HC_HINT_ROOTS,		/* trust anchors must be named */
	HC_HINT_SUBJECT_EXAMPLE, /* what a subject looks like */
	HC_HINT_HOST_NAME,	 /* the ways to give a request its host name */
	HC_HINT_NAME_KEY,	 /* one key must be named (PKCS#12 holds one) */
	HC_HINT_NAME_LABEL,	 /* a restored key needs a label */
	HC_HINT_SERVER_NAME,	 /* the TLS server name must be given */
	HC_HINT_DEPLOY_NAME,	 /* the name a deployed server serves must be given */
	HC_HINT_PIN_SOURCE,	 /* where a PIN may come from instead */
	HC_HINT_TOKEN_URI,	 /* several tokens match: name one */
	HC_HINT_AGREE_TOS,	 /* a new ACME account needs the CA's terms agreed to */
	HC_HINT_ACME_EAB,	 /* a new ACME account needs an external account binding */
	HC_HINT_HTTP_01,	 /* http-01 cannot be answered on this port: another way */
	HC_HINT_REUSE_KEY,	 /* the key can be renewed only by keeping it */
	HC_HINT_COUNT
} hc_hint;

typedef enum hc_input {
	HC_INPUT_NONE = 0,
	HC_INPUT_CHAIN,	    /* CA certificates given to import or check */
	HC_INPUT_ROOTS,	    /* trust anchors */
	HC_INPUT_CACHE,	    /* the download cache folder */
	HC_INPUT_CONFIG,    /* an OpenSSL req-style config file */
	HC_INPUT_SUBJECT,   /* a subject DN */
	HC_INPUT_LABEL,	    /* a label to give a key */
	HC_INPUT_POLICY,    /* an audit policy */
	HC_INPUT_RECIPIENT, /* a backup recipient */
	HC_INPUT_WILDCARD,  /* a wildcard domain */
	HC_INPUT_COUNT
} hc_input;

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
	hc_hint hint;	/* what the user can do, HC_HINT_NONE if nothing to add */
	hc_input input; /* the input the message is about, HC_INPUT_NONE if none */
} hc_error;

void hc_error_clear(hc_error *err);

/* Record a failure; returns rc so callers can `return hc_fail(...)`. */
hc_rc hc_fail(hc_error *err, hc_rc rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
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

/*
 * Add a hint or an input to an error already recorded; both return `rc`, so
 * `return hc_error_hint(err, HC_HINT_..., hc_fail(err, ...));` reads in one go.
 */
hc_rc hc_error_hint(hc_error *err, hc_hint hint, hc_rc rc);
hc_rc hc_error_input(hc_error *err, hc_input input, hc_rc rc);

/* Append the OpenSSL error queue's first reason to the message, then clear the queue. */
hc_rc hc_fail_ssl(hc_error *err, hc_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
