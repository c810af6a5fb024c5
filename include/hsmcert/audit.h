/*
 * Audit (SPEC: audit): evidence that keys cannot leave the token. Read-only:
 * every private and secret key with its security attributes, the certificate
 * it belongs to, the token's identity, a policy verdict per key, and with
 * probing the token's own answers to attempts to read or wrap each secret.
 */
#ifndef HSMCERT_AUDIT_H
#define HSMCERT_AUDIT_H

#include <time.h>

#include "hsmcert/inventory.h"

typedef enum hc_audit_policy {
	HC_POLICY_NON_EXPORTABLE = 0, /* sensitive, never extractable, generated on the token */
	HC_POLICY_NONE,		      /* inventory only: no verdicts */
	HC_POLICY_SIGN_ONLY,	      /* private keys neither decrypt, unwrap nor derive */
	HC_POLICY_NON_EXPORTABLE_SIGN_ONLY, /* both of the above */
} hc_audit_policy;

/*
 * "non-exportable", "sign-only", "non-exportable,sign-only" (either order) or
 * "none" to the enum; anything else is HC_USAGE.
 */
hc_rc hc_audit_policy_parse(const char *text, hc_audit_policy *out, hc_error *err);
const char *hc_audit_policy_name(hc_audit_policy policy);

/*
 * The most reasons one key can collect: one per policy attribute (six
 * non-exportable, three sign-only) and two from probing.
 */
#define HC_AUDIT_MAX_REASONS 12
/* Secret attributes probed per key: RSA's six CRT parts, or CKA_VALUE. */
#define HC_AUDIT_MAX_READS 6

typedef struct hc_audit_read {
	CK_ATTRIBUTE_TYPE type;
	CK_RV rv;      /* the token's answer to reading the value */
	bool readable; /* the value came back in the clear (and was wiped) */
} hc_audit_read;

/* One wrap attempt of a probed key, with a mechanism the token lists for wrapping. */
typedef struct hc_audit_wrap {
	CK_MECHANISM_TYPE mechanism;
	bool tried; /* false: no wrapping key of its type could be made (why: rv) */
	CK_RV rv;   /* C_WrapKey's answer, or the wrapping key's creation's */
	size_t wrapped_len;
} hc_audit_wrap;

#define HC_AUDIT_MAX_WRAPS 10

typedef struct hc_audit_probe {
	hc_audit_read reads[HC_AUDIT_MAX_READS];
	size_t read_count;
	hc_audit_wrap wraps[HC_AUDIT_MAX_WRAPS]; /* every wrap mechanism the token lists */
	size_t wrap_count;			 /* 0: the token lists none: not tried */
	bool secret_readable; /* a read or the wrap succeeded: the secret can leave */
} hc_audit_probe;

typedef struct hc_audit_key {
	const hc_key_info *key; /* in the report's inventory */
	const hc_inv_key *pair; /* private keys: their certificates; NULL for secret keys */
	bool pass;		/* meaningless under HC_POLICY_NONE */
	/* No rule failed, but an attribute the policy needs is not reported: verdict unknown. */
	bool unknown;
	const char *reasons[HC_AUDIT_MAX_REASONS]; /* static strings, see audit.c */
	size_t reason_count;
	hc_audit_probe *probe; /* with probing only, else NULL */
} hc_audit_key;

typedef struct hc_audit_options {
	hc_audit_policy policy;
	bool probe;
} hc_audit_options;

typedef struct hc_audit_report {
	hc_audit_options options;
	time_t time;
	bool logged_in; /* private objects were visible */
	const char *module_path;
	CK_INFO library;
	hc_slot slot;
	hc_inventory inventory;
	hc_audit_key *keys;	 /* private keys first, then secret keys, in token order */
	hc_audit_probe *probes_; /* storage behind the keys' probe results */
	size_t key_count;
	size_t violations; /* keys that fail the policy */
	size_t unknowns;   /* keys whose verdict is unknown (attributes not reported) */
	/* Probing: the session wrapping key's creation and destruction. */
	CK_MECHANISM_TYPE wrap_mechanism;
	CK_RV session_key_rv;	    /* C_GenerateKey's answer (CKR_OK when made) */
	bool session_key_destroyed; /* made and destroyed again (false if never made) */
} hc_audit_report;

/*
 * Audit the token behind `session` (logged in when private objects must be
 * seen; the report says whether it was). Reads and never modifies; probing
 * makes one session AES key, always destroyed before returning.
 */
hc_rc hc_audit_run(hc_session *session, const hc_audit_options *options, hc_audit_report *out,
		   hc_error *err);
void hc_audit_report_clear(hc_audit_report *report);

/*
 * The policy's verdict on the whole token: false with --policy none; true
 * when a key violates it or an object could not be read (it may be a key
 * whose attributes nobody can check).
 */
bool hc_audit_failed(const hc_audit_report *report);

/* "private_key" / "secret_key". */
const char *hc_audit_key_class(const hc_audit_key *key);

#endif
