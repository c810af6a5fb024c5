/*
 * Shared by the files of src/backup/; not part of the library's API.
 *   backup.c           the backup of keys: entries, wrapping, the .hsmb run
 *   backup_pfx.c       the PKCS#12 form of backup
 *   protect.c          session AES keys; the KEK from a passphrase or for a recipient
 *   hsmb_write.c       the .hsmb container: encoding and the tag
 *   hsmb_read.c        the .hsmb container: strict parsing, tag check, detection
 *   hsmb_keys.c        scrypt and HKDF: the keys of a .hsmb
 *   restore.c          hc_restore: conflicts, one key after the other, proof
 *   restore_objects.c  the token objects a restored key is made of
 *   restore_hsmb.c     opening a .hsmb (passphrase or recipient)
 *   restore_pfx.c      taking a key in from a PKCS#12
 */
#ifndef HSMCERT_BACKUP_INTERNAL_H
#define HSMCERT_BACKUP_INTERNAL_H

#include <openssl/x509.h>

#include "hsmcert/backup.h"
#include "hsmcert/rollback.h"

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
hc_rc hc_backup_key_to_host(hc_session *session, const hc_backup_item *item, CK_OBJECT_HANDLE key,
			    EVP_PKEY **out, hc_error *err);

/* ---- the .hsmb container (docs/backup-format.md) ---- */

/* Record types (u16). Top level: */
enum {
	REC_CREATOR = 0x0001,
	REC_CREATED = 0x0002,
	REC_SCRYPT = 0x0010,
	REC_OAEP_HASH = 0x0020,
	REC_RECIPIENT = 0x0021,
	REC_WRAPPED_KEK = 0x0022,
	REC_WRAPPED_MAC_KEY = 0x0023,
	REC_KEY = 0x0100,
	/* inside REC_KEY: */
	REC_KEY_TYPE = 0x0101,
	REC_LABEL = 0x0102,
	REC_ID = 0x0103,
	REC_ATTRIBUTES = 0x0104,
	REC_PUBLIC_KEY = 0x0105,
	REC_WRAP_MECHANISM = 0x0106,
	REC_WRAPPED_KEY = 0x0107,
	REC_CERTIFICATE = 0x0108,
	REC_CA_CERTIFICATE = 0x0109,
};

#define SCRYPT_RECORD_LEN (1 + 4 + 4 + HC_BACKUP_SALT_LEN + HC_BACKUP_CHECK_LEN)
#define MAX_KEYS 4096
#define MAX_CA 64
#define MAX_FLAGS 64

/* ---- backup ---- */

/* What protects a .hsmb being written: the KEK (a session object) and the tag's key. */
typedef struct protection {
	CK_OBJECT_HANDLE kek;
	unsigned char mac_key[32];
} protection;

/* The KEK and authentication key from a passphrase (scrypt, HKDF). */
hc_rc protect_passphrase(hc_session *s, const hc_secret *pass, hc_backup_file *f, protection *pr,
			 hc_error *err);
/*
 * A KEK generated in the token, wrapped with RSA-OAEP to the recipient; the
 * authentication key wrapped under it with `rfc5649` (hc_wrap_negotiate's choice).
 */
hc_rc protect_recipient(hc_session *s, EVP_PKEY *recipient, CK_MECHANISM_TYPE rfc5649,
			hc_backup_file *f, protection *pr, hc_error *err);
/* The public key as SubjectPublicKeyInfo DER, as the file records it. */
hc_rc backup_blob_from_pubkey(EVP_PKEY *pub, hc_blob *out, hc_error *err);
/* Record in the item that the token refuses to let the key out (ckr: its answer, or CKR_OK). */
void backup_not_extractable(hc_backup_item *item, CK_RV ckr);
hc_rc backup_pfx(hc_session *s, const hc_backup_params *p, hc_backup_result *out, hc_error *err);

/* ---- restore ---- */

/* One key on its way into the token. */
typedef struct pending {
	CK_KEY_TYPE key_type;
	char *label;
	unsigned char *id;
	size_t id_len;
	bool extractable, private_, sign, decrypt, unwrap, derive, always_authenticate;
	EVP_PKEY *pub;
	X509 *cert;
	STACK_OF(X509) *chain;
	unsigned char *blob; /* the wrapped PKCS#8 */
	size_t blob_len;
	CK_OBJECT_HANDLE *conflicts; /* objects of the same label or id (replaced with --force) */
	size_t conflict_count;
	/* The CKA_ID its objects carry until the run completes: RESTORE_MARK, then id. */
	unsigned char *mark;
	size_t mark_len;
	CK_OBJECT_HANDLE priv;	  /* the private key: unwrapped by this run, or adopted */
	CK_OBJECT_HANDLE pub_had; /* the token's identical public key, or CK_INVALID_HANDLE */
	/* What this run made with the marked id, or CK_INVALID_HANDLE: */
	CK_OBJECT_HANDLE pub_made, cert_made;
	bool adopted; /* the token already held this key as restore makes it */
} pending;

/*
 * The objects of a restored key (private key, public key, its certificate)
 * carry this and then the key's id as CKA_ID until every one of them is made
 * and the key proved; the real id comes last, the private key's after the
 * others' (issue 14.5). An object of the label with it was left by a restore
 * of that key killed part way.
 */
#define RESTORE_MARK "hsmcert:restoring:"

typedef struct restore_ctx {
	hc_session *s;
	const hc_restore_params *p;
	hc_restore_result *out;
	hc_error *err;
	hc_wrap_choice wrap;	    /* what the token's key wrap mechanisms are */
	CK_OBJECT_HANDLE unwrapper; /* session AES key: the KEK or the PKCS#12 transport key */
	CK_MECHANISM unwrap_mech;   /* RFC 5649 as this token names it, or CBC_PAD (PKCS#12) */
	unsigned char iv[16];	    /* CKM_AES_CBC_PAD's IV */
	pending *keys;
	size_t count;
	hc_rollback created; /* everything this run made, undone on a failure */
} restore_ctx;

/* Conflicts, then each pending key restored and proved; a failure undoes the run. */
hc_rc restore_keys(restore_ctx *c);
hc_rc restore_hsmb(restore_ctx *c);
hc_rc restore_pfx(restore_ctx *c);
/* Usages asked for (HC_USAGE_* bits) replace what the file records; 0: as recorded. */
void restore_set_usages(pending *k, unsigned usages);
/* CKA_ID convention: SHA-1 of the modulus or of the uncompressed EC point. */
hc_rc restore_objects_default_id(EVP_PKEY *pub, unsigned char **id, size_t *len, hc_error *err);
/* The public key object beside the restored private key, the id marked. */
hc_rc restore_objects_create_public(restore_ctx *c, const pending *k, CK_OBJECT_HANDLE *out);
/* C_UnwrapKey of the private key: sensitive, extractable only as decided, the id marked. */
hc_rc restore_objects_unwrap_private(restore_ctx *c, const pending *k, CK_OBJECT_HANDLE *out);
/* The certificate (the id marked) and chain beside the key (identical ones reused). */
hc_rc restore_objects_store_certificates(restore_ctx *c, pending *k, hc_restore_item *item);

#endif
