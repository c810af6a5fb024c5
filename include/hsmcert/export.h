/*
 * Export (SPEC: export): a certificate stored on the token, with the CA
 * certificates the token holds that chain it, or a key's public key, out to
 * a file: what a server needs after a restore on a new machine.
 */
#ifndef HSMCERT_EXPORT_H
#define HSMCERT_EXPORT_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "hsmcert/certstore.h"
#include "hsmcert/p11.h"

typedef struct hc_export_params {
	const char *uri;   /* a certificate (type=cert), or a key: its newest certificate */
	bool chain;	   /* add the token's CA certificates that chain it, leaf first */
	bool include_root; /* with chain: the self-signed root too, when the token has it */
	bool pubkey;	   /* the key's public key instead of a certificate */
} hc_export_params;

typedef struct hc_export_result {
	X509 *cert;	       /* the certificate exported (or the key's, for a report) */
	char *cert_uri;	       /* its object URI */
	EVP_PKEY *pubkey;      /* with pubkey: the public key */
	char *key_uri;	       /* the private key the URI named, if it named one */
	STACK_OF(X509) *chain; /* CA certificates after the leaf, in order */
	char **chain_uris;     /* their object URIs */
	bool reached_root;     /* the chain ends at a self-signed certificate on the token */
	size_t other_certs;    /* with a key: its older certificates, left out */
} hc_export_result;

/*
 * Find what `uri` names on the open token and collect it. A URI naming a key
 * takes the key's certificate with the latest notBefore (matched by public
 * key, not by label); a key without one is HC_CHECK (unless pubkey). A URI
 * matching several certificates is HC_USAGE naming them; nothing: HC_USAGE.
 */
hc_rc hc_export_collect(hc_session *session, const hc_export_params *params, hc_export_result *out,
			hc_error *err);
void hc_export_result_clear(hc_export_result *result);

typedef enum hc_export_format { HC_EXPORT_PEM, HC_EXPORT_DER, HC_EXPORT_P7B } hc_export_format;

/*
 * Encode what was collected: the public key (PEM or DER SubjectPublicKeyInfo)
 * when pubkey, else the certificate then its chain: PEM blocks, one DER
 * certificate (the chain is the caller's to refuse), or a certs-only PKCS#7.
 * *data is malloc'd.
 */
hc_rc hc_export_encode(const hc_export_result *result, hc_export_format format, bool pubkey,
		       unsigned char **data, size_t *len, hc_error *err);

#endif
