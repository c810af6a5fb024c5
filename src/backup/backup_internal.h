/* Shared by src/backup.c and src/restore.c; not part of the library's API. */
#ifndef HSMCERT_BACKUP_INTERNAL_H
#define HSMCERT_BACKUP_INTERNAL_H

#include <openssl/x509.h>

#include "hsmcert/backup.h"

/*
 * A session AES-256 key object holding `value`: hc_template_session_aes with
 * `flags` (HC_AES_*), and CKA_PRIVATE (backup and restore are logged in).
 */
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
