/* SPEC: import ("Complete Pending Request"). */
#ifndef HSMCERT_IMPORT_H
#define HSMCERT_IMPORT_H

#include "hsmcert/certstore.h"
#include "hsmcert/x509.h"

typedef struct hc_import_params {
	const char *cert_path;	/* PEM, DER, PKCS#7 from the CA, or PKCS#12 */
	const char *chain_path; /* optional: CA certificates to store as authority */
	const char *label;	/* optional: new label for the key and its certificates */
	bool replace;		/* remove older certificates of the key, superseded CAs */
	/*
	 * With replace: this certificate of the key goes too, whatever its dates
	 * (the one a renewal replaces may have been issued in the same second).
	 */
	X509 *supersedes;
	const hc_passphrase_ask *passphrase; /* for PKCS#12 inputs; NULL: they are refused */
} hc_import_params;

/* One certificate of the import and what happened to it. */
typedef struct hc_imported_cert {
	X509 *cert;
	hc_cert_info info;
	char *label;
	unsigned char *id;
	size_t id_len;
	char *uri;
	CK_ULONG category;
	bool added; /* false: an identical certificate was already on the token */
	CK_OBJECT_HANDLE handle;
} hc_imported_cert;

typedef struct hc_import_result {
	hc_key_info key;       /* the key the certificate belongs to (after any rename) */
	char *old_label;       /* the key's label before --label, when it changed */
	hc_imported_cert leaf; /* the certificate for the key */
	hc_imported_cert *cas; /* CA certificates from --chain or the --cert bundle */
	size_t ca_count;
	hc_removal removed;	 /* --replace: what was destroyed */
	size_t newer_certs_kept; /* --replace: certificates of the key newer than this one */
	bool changed;		 /* anything was stored, renamed or removed */
} hc_import_result;

/*
 * Find the token's private key whose public key is the certificate's (by
 * key, never by label) and store the certificate beside it with the key's
 * CKA_ID and CKA_LABEL. No key for it: HC_CHECK, nothing stored. An identical
 * certificate already stored: success, nothing added. A failure while storing
 * destroys what this call created and restores renamed labels.
 */
hc_rc hc_import(hc_session *session, const hc_import_params *params, hc_import_result *out,
		hc_error *err);
/*
 * The same for certificates already loaded (enroll: the ACME server's
 * chain); params->cert_path and chain_path only name them in messages.
 */
hc_rc hc_import_certs(hc_session *session, const hc_import_params *params, hc_x509_bundle *certs,
		      hc_x509_bundle *chain, hc_import_result *out, hc_error *err);
void hc_import_result_clear(hc_import_result *result);

#endif
