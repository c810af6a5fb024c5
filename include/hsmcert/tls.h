/*
 * SPEC: check --tls. A TLS handshake over loopback TCP inside this process:
 * the server side signs with the token key through libp11 and serves the
 * chain, the client side verifies it against the roots and the server name.
 * It proves that a web server configured with this key, certificate and
 * chain works, not only that the files are right.
 *
 * libp11 loads the module itself and finalises it (C_Finalize, and
 * C_CloseAllSessions when it releases its slots), which ends every other
 * session on that module in the process, p11-kit managed or not. Callers
 * close their own sessions on the module before calling hc_tls_check.
 */
#ifndef HSMCERT_TLS_H
#define HSMCERT_TLS_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "hsmcert/p11.h"

/* The whole check, from loading the module to the last byte echoed, is bounded by this. */
#define HC_TLS_TIMEOUT_MS 20000

typedef struct hc_tls_params {
	hc_evp_key_params key;	 /* the token key the server signs with (through libp11) */
	X509 *leaf;		 /* the certificate the server sends */
	STACK_OF(X509) *chain;	 /* the intermediates (and cross certificates) it sends */
	X509_STORE *roots;	 /* what the client trusts */
	const char *server_name; /* SNI and the name the client checks */
	int timeout_ms;		 /* 0: HC_TLS_TIMEOUT_MS */
} hc_tls_params;

typedef struct hc_tls_result {
	bool handshake;	     /* both sides finished the handshake */
	bool verified;	     /* the client verified the chain and the name */
	bool data_exchanged; /* application data went both ways */
	char protocol[16];   /* "TLSv1.3" */
	char cipher[64];     /* "TLS_AES_256_GCM_SHA384" */
	char signature[64];  /* the server's signature: "RSA-PSS+SHA256", "ECDSA+SHA256" */
	int port;	     /* the loopback port used */
	long verify_code;    /* X509_V_OK or the client's verification error */
	char verify_error[128];
	char **verified_chain; /* subjects, leaf first, as the client built it */
	size_t verified_count;
} hc_tls_result;

/*
 * Run the handshake. HC_OK: verified and data exchanged; HC_CHECK: the
 * handshake or verification failed (the message and result say why);
 * HC_TOKEN: libp11 could not reach the key; HC_IO: sockets.
 */
hc_rc hc_tls_check(const hc_tls_params *params, hc_tls_result *out, hc_error *err);
void hc_tls_result_clear(hc_tls_result *result);

#endif
