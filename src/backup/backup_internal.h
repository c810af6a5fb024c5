/* Shared by src/backup.c and src/restore.c; not part of the library's API. */
#ifndef HSMCERT_BACKUP_INTERNAL_H
#define HSMCERT_BACKUP_INTERNAL_H

#include <openssl/x509.h>

#include "hsmcert/backup.h"

/* Session AES keys (CKA_TOKEN false, CKA_PRIVATE true) for wrapping and unwrapping. */
enum {
	HC_SK_WRAP = 1 << 0,
	HC_SK_UNWRAP = 1 << 1,
	HC_SK_EXTRACTABLE = 1 << 2,
	HC_SK_SENSITIVE = 1 << 3,
	HC_SK_TEMPLATE_MAX = 8, /* attributes hc_backup_session_template writes */
};
/* Fill t (room for HC_SK_TEMPLATE_MAX and what the caller adds); returns the count. */
CK_ULONG hc_backup_session_template(CK_ATTRIBUTE *t, unsigned flags);
/* A session AES-256 key object holding `value`. */
hc_rc hc_backup_session_aes(hc_session *session, const unsigned char value[32], unsigned flags,
			    CK_OBJECT_HANDLE *out, hc_error *err);

/* CKM_RSA_PKCS_OAEP with `hash` (CKM_SHA256 or CKM_SHA_1), MGF1 of the same, no label. */
hc_rc hc_backup_oaep_mechanism(CK_MECHANISM_TYPE hash, CK_RSA_PKCS_OAEP_PARAMS *params,
			       CK_MECHANISM *mech);

/* The token's certificate for a public key (NULL if none) and its issuers on the token. */
hc_rc hc_backup_key_certificates(hc_session *session, const hc_key_info *key, EVP_PKEY *pub,
				 X509 **leaf, STACK_OF(X509) **chain, hc_error *err);

/* PKCS#12 export only: the key wrapped under a host-known AES key, unwrapped in OpenSSL. */
hc_rc hc_backup_key_to_host(hc_session *session, const hc_backup_item *item,
			    CK_OBJECT_HANDLE key, EVP_PKEY **out, hc_error *err);

#endif
