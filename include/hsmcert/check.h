/*
 * SPEC: check. Is a key on the token ready to serve TLS? Its certificate is
 * there, the key signs inside the token and the certificate verifies that
 * signature, the chain verifies to a trusted root, the certificate is in
 * date; with --tls, a real handshake proves the deployment.
 */
#ifndef HSMCERT_CHECK_H
#define HSMCERT_CHECK_H

#include "hsmcert/chain.h"
#include "hsmcert/list.h"
#include "hsmcert/tls.h"

typedef struct hc_check_params {
	const char *key_uri;	  /* the private key */
	const char *chain_path;	  /* CA certificates to serve (any input format, PKCS#12
				     included); NULL: the token's own */
	const char *const *roots; /* trust anchors (files or folders); none: the system's */
	size_t root_count;
	int warn_days;
	time_t now;
	const hc_passphrase_ask *passphrase; /* for PKCS#12 chain or roots; NULL: refused */
	/* appended to "no issuer for ...": what the caller's user can do (hc_chain_options) */
	const char *missing_issuer_hint;
	/* the same when the certificate names its issuer's URL (AIA caIssuers) */
	const char *missing_issuer_aia_hint;
} hc_check_params;

typedef enum hc_check_outcome {
	HC_CHECK_PASS,
	HC_CHECK_WARN, /* worth saying, not a failure (expiring soon) */
	HC_CHECK_FAIL,
	HC_CHECK_SKIPPED, /* an earlier failure made it meaningless */
} hc_check_outcome;

/* "pass", "warn", "fail", "skipped". */
const char *hc_check_outcome_name(hc_check_outcome outcome);

/* One named check: "certificate", "key_matches", "validity", "chain", "tls". */
typedef struct hc_check_item {
	const char *name;
	hc_check_outcome outcome;
	char *detail;
} hc_check_item;

#define HC_CHECK_MAX_ITEMS 8

/* What a TLS client saw of a running server (check --connect). */
typedef struct hc_connect_result {
	bool handshake;	       /* the handshake finished */
	bool verified;	       /* the served chain verified to the roots, for the server name */
	bool leaf_matches;     /* the served leaf's public key is the token key's */
	bool same_certificate; /* ... and it is the very certificate on the token */
	char protocol[16];
	char cipher[64];
	char signature[64]; /* the server's handshake signature: "ECDSA+SHA256" */
	long verify_code;
	char verify_error[128];
	char *leaf_subject;
	char leaf_sha256[65];
	size_t served_count; /* certificates the server sent, the leaf included */
} hc_connect_result;

typedef struct hc_check_result {
	hc_key_info key;
	X509 *cert; /* the key's certificate in use; NULL when it has none */
	hc_cert_info cert_info;
	char *cert_uri;
	size_t other_certs; /* further certificates of the key on the token */
	hc_cert_status status;
	long days_left;
	hc_chain_result chain; /* when the chain was checked */
	bool chain_checked;
	STACK_OF(X509) *served; /* what a server sends after the leaf */
	X509_STORE *trust;	/* the roots, for the TLS client */
	hc_tls_result tls;
	bool tls_checked;
	hc_connect_result connect;
	bool connect_checked;
	char *server_name;
	hc_check_item items[HC_CHECK_MAX_ITEMS];
	size_t item_count;
	bool failed; /* some item failed */
} hc_check_result;

/*
 * Run the checks on the token's key. HC_OK when all passed, HC_CHECK when
 * any failed (the items say which and why); other codes for errors that
 * stop the checking itself (no such key, a token error, unreadable roots).
 */
hc_rc hc_check_key(hc_session *session, const hc_check_params *params, hc_check_result *out,
		   hc_error *err);

typedef struct hc_check_tls_params {
	const char *module_path;
	const char *init_args; /* the module's C_Initialize pReserved, or NULL */
	const char *token_serial;
	const char *token_label;
	const hc_secret *pin;
	const char *server_name; /* NULL: the certificate's first DNS name */
	int timeout_ms;
} hc_check_tls_params;

/*
 * The "tls" check, after hc_check_key: a loopback handshake with the key
 * through libp11, serving result->served, verified against result->trust.
 * The caller's own sessions on the module must be closed first (tls.h says
 * why). HC_OK or HC_CHECK like hc_check_key; it adds to the same items.
 */
hc_rc hc_check_tls(hc_check_result *result, const hc_check_tls_params *params, hc_error *err);

/*
 * The "connect" check, after hc_check_key: a TLS client connects to a
 * running server at `address` (HOST:PORT, [V6]:PORT), sends `server_name`
 * (NULL: the certificate's), verifies the served chain against
 * result->trust and the name, and compares the served leaf's public key
 * with the token key's. HC_OK or HC_CHECK as the item says; HC_IO when the
 * server cannot be reached; HC_USAGE for a malformed address.
 */
hc_rc hc_check_connect(hc_check_result *result, const char *address, const char *server_name,
		       int timeout_ms, hc_error *err);

/*
 * The name a client would connect with: the certificate's first DNS name
 * ("*." as "www."), else its CN; NULL when it names no host. Caller frees.
 */
char *hc_check_server_name(X509 *cert, const hc_cert_info *info);

void hc_check_result_clear(hc_check_result *result);

#endif
