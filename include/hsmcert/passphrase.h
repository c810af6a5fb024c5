/*
 * Certificate inputs that may be PKCS#12 (SPEC: Global behaviour, "Input
 * formats are detected by content"): the passphrase is asked for only when
 * a PKCS#12 is actually met, so PEM, DER and PKCS#7 inputs never prompt.
 * The library never resolves secrets itself: the caller's callback does
 * (the CLI: --passphrase-source, HSMCERT_PASSPHRASE, a no-echo prompt).
 */
#ifndef HSMCERT_PASSPHRASE_H
#define HSMCERT_PASSPHRASE_H

#include "hsmcert/error.h"
#include "hsmcert/p11.h"
#include "hsmcert/x509.h"

/*
 * Give the passphrase for the PKCS#12 input `name`. The secret stays the
 * callback's (valid until its owner is cleared); a callback asked twice may
 * answer from memory, so one prompt serves every PKCS#12 of a command.
 */
typedef hc_rc (*hc_passphrase_fn)(void *ctx, const char *name, const hc_secret **out,
				  hc_error *err);

typedef struct hc_passphrase_ask {
	hc_passphrase_fn fn;
	void *ctx;
} hc_passphrase_ask;

/*
 * hc_x509_load_mem / _file, asking `ask` (may be NULL: a PKCS#12 is then
 * HC_USAGE saying a passphrase is needed) for the passphrase only when the
 * data is PKCS#12. A wrong passphrase is HC_CHECK (SPEC: exit 1). On any
 * failure `out` is empty, but out->format is HC_FMT_PKCS12 when the data was
 * PKCS#12: callers that skip unusable files in a folder do not skip those
 * (a missing or wrong passphrase is the user's to fix, not a stray file).
 */
hc_rc hc_x509_load_mem_ask(const unsigned char *data, size_t len, const char *name,
			   const hc_passphrase_ask *ask, hc_x509_bundle *out, hc_error *err);
hc_rc hc_x509_load_file_ask(const char *path, const hc_passphrase_ask *ask, hc_x509_bundle *out,
			    hc_error *err);

#endif
