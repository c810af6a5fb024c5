/*
 * SPEC: backup, restore. The native backup file (.hsmb, docs/backup-format.md)
 * and PKCS#12 export/import of token keys. Private keys leave and enter the
 * token only wrapped (C_WrapKey / C_UnwrapKey); the .hsmb private key is
 * never in the clear on the host.
 */
#ifndef HSMCERT_BACKUP_H
#define HSMCERT_BACKUP_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "hsmcert/key.h"

/* ---- the .hsmb container (no token needed) --------------------------- */

#define HC_BACKUP_MAGIC "\x89HSMB\r\n\x1a"
#define HC_BACKUP_MAGIC_LEN 8
#define HC_BACKUP_VERSION 1
#define HC_BACKUP_HEADER_LEN 16
#define HC_BACKUP_TAG_LEN 32
#define HC_BACKUP_SALT_LEN 32
#define HC_BACKUP_CHECK_LEN 16
#define HC_BACKUP_MAX_FILE (16u << 20)
/* The shortest passphrase a new backup (hsmb or pfx) accepts, in bytes. */
#define HC_BACKUP_MIN_PASSPHRASE 12

/* scrypt cost written by backup: N = 2^18, r = 8, p = 1 (256 MiB, see docs). */
#define HC_BACKUP_SCRYPT_LOG2_N 18
#define HC_BACKUP_SCRYPT_R 8
#define HC_BACKUP_SCRYPT_P 1
/* What restore accepts: bounds memory (<= 1 GiB) against hostile files. */
#define HC_BACKUP_SCRYPT_MIN_LOG2_N 14
#define HC_BACKUP_SCRYPT_MAX_LOG2_N 20
#define HC_BACKUP_SCRYPT_MAX_R 32
#define HC_BACKUP_SCRYPT_MAX_P 16
#define HC_BACKUP_SCRYPT_MAX_MEM (1100u << 20)

/* PKCS#12 export: PBKDF2-HMAC-SHA256 iterations (OWASP 2023) for keys, certs and MAC. */
#define HC_PFX_ITERATIONS 600000

typedef enum hc_backup_mode {
	HC_BACKUP_PASSPHRASE = 1, /* KEK from scrypt(passphrase) */
	HC_BACKUP_RECIPIENT = 2,  /* KEK generated in the token, RSA-OAEP to a recipient */
} hc_backup_mode;

typedef struct hc_blob {
	unsigned char *data;
	size_t len;
} hc_blob;

/* A boolean attribute as recorded (CKA_EXTRACTABLE, CKA_SIGN, ...). */
typedef struct hc_backup_flag {
	CK_ATTRIBUTE_TYPE type;
	bool value;
} hc_backup_flag;

/* One key in a backup. */
typedef struct hc_backup_entry {
	CK_KEY_TYPE key_type;
	char *label;
	hc_blob id;
	hc_backup_flag *flags;
	size_t flag_count;
	hc_blob public_key; /* SubjectPublicKeyInfo DER */
	CK_MECHANISM_TYPE wrap_mechanism;
	hc_blob wrapped_key; /* C_WrapKey output */
	hc_blob certificate; /* DER; len 0 when none */
	hc_blob *ca_certificates;
	size_t ca_count;
} hc_backup_entry;

typedef struct hc_backup_file {
	unsigned version;
	hc_backup_mode mode;
	char *creator;
	uint64_t created; /* Unix time */
	/* HC_BACKUP_PASSPHRASE */
	unsigned scrypt_log2_n;
	uint32_t scrypt_r, scrypt_p;
	unsigned char salt[HC_BACKUP_SALT_LEN];
	unsigned char check[HC_BACKUP_CHECK_LEN]; /* tells a wrong passphrase from tampering */
	/* HC_BACKUP_RECIPIENT */
	CK_MECHANISM_TYPE oaep_hash; /* CKM_SHA256 or CKM_SHA_1 (MGF1 with the same hash) */
	hc_blob recipient;	     /* the recipient's SubjectPublicKeyInfo DER */
	hc_blob wrapped_kek;	     /* RSA-OAEP of the AES-256 key-encryption key */
	hc_blob wrapped_mac_key;     /* AES-KW-PAD of the authentication key under the KEK */
	hc_backup_entry *entries;
	size_t entry_count;
	unsigned char tag[HC_BACKUP_TAG_LEN];
	size_t tagged_len; /* bytes the tag covers (all before it) */
} hc_backup_file;

/* Serialise; the tag is computed with mac_key (32 bytes). *out is malloc'd. */
hc_rc hc_backup_encode(const hc_backup_file *file, const unsigned char mac_key[32],
		       unsigned char **out, size_t *len, hc_error *err);
/*
 * Parse the structure only (nothing is trusted until hc_backup_verify): any
 * malformed or truncated input is HC_USAGE naming the offset and the reason.
 */
hc_rc hc_backup_parse(const unsigned char *data, size_t len, const char *name, hc_backup_file *out,
		      hc_error *err);
/* Check the tag over the file's bytes; a mismatch is HC_CHECK. */
hc_rc hc_backup_verify(const hc_backup_file *file, const unsigned char *data,
		       const unsigned char mac_key[32], hc_error *err);
void hc_backup_file_clear(hc_backup_file *file);
void hc_backup_entry_clear(hc_backup_entry *entry);

/*
 * Passphrase mode: scrypt with the file's parameters, then HKDF-SHA256 into
 * the key-encryption key, the authentication key and the passphrase check.
 */
typedef struct hc_backup_keys {
	unsigned char kek[32];
	unsigned char mac_key[32];
	unsigned char check[HC_BACKUP_CHECK_LEN];
} hc_backup_keys;
hc_rc hc_backup_derive(const hc_backup_file *file, const hc_secret *passphrase, hc_backup_keys *out,
		       hc_error *err);
/* The authentication key from a secret (the recipient mode's random MAC key). */
hc_rc hc_backup_mac_key(const unsigned char *secret, size_t len, unsigned char mac_key[32],
			hc_error *err);

/* Lowercase hex SHA-256 of a SubjectPublicKeyInfo: how a recipient is named. */
void hc_backup_fingerprint(const hc_blob *spki, char out[65]);

/* What kind of file: 0 unknown, or "hsmb passphrase/recipient", or "pfx". */
typedef enum hc_backup_kind {
	HC_KIND_UNKNOWN = 0,
	HC_KIND_HSMB_PASSPHRASE,
	HC_KIND_HSMB_RECIPIENT,
	HC_KIND_PFX,
} hc_backup_kind;
hc_backup_kind hc_backup_detect(const unsigned char *data, size_t len);

/* ---- backup (SPEC: backup) ------------------------------------------ */

typedef enum hc_backup_format { HC_FORMAT_HSMB, HC_FORMAT_PFX } hc_backup_format;

typedef struct hc_backup_params {
	hc_backup_format format;
	const hc_secret *passphrase;  /* HSMB passphrase mode and PFX */
	EVP_PKEY *recipient;	      /* HSMB recipient mode: an RSA public key */
	const CK_OBJECT_HANDLE *keys; /* private keys to save */
	size_t key_count;
	/* Called after each key of an hsmb (saved or not), for a progress display. */
	void (*progress)(void *ctx, size_t done, size_t total, const char *label);
	void *progress_ctx;
} hc_backup_params;

typedef struct hc_backup_item {
	hc_key_info key;
	bool saved;
	char reason[256];      /* why not saved */
	const char *attribute; /* "CKA_EXTRACTABLE" when that is why, else NULL */
	CK_RV ckr;	       /* the token's answer when it refused, else CKR_OK */
	bool has_certificate;
	char cert_sha256[65];
	size_t ca_count;
} hc_backup_item;

typedef struct hc_backup_result {
	hc_backup_item *items;
	size_t count, saved;
	unsigned char *data; /* the file's bytes; NULL when nothing was saved */
	size_t len;
	hc_backup_file file; /* the protection parameters used (entries not kept) */
	char recipient_sha256[65];
} hc_backup_result;

/*
 * Wrap each key in the token and build the file in memory. A key that cannot
 * leave (non-extractable, CKR_KEY_UNEXTRACTABLE) is reported in its item, not
 * an error; the caller decides by result.saved and result.count.
 */
hc_rc hc_backup_create(hc_session *session, const hc_backup_params *params, hc_backup_result *out,
		       hc_error *err);
void hc_backup_result_clear(hc_backup_result *result);

/*
 * The recipient of a .hsmb (SPEC: backup --to): the public key object that
 * `uri` names on the recipient's token, opened by the caller (exactly one
 * public key must match), or a PEM/DER public key or certificate file.
 * HC_USAGE when the URI or the file names no usable key.
 */
hc_rc hc_backup_recipient_from_token(hc_session *session, const char *uri, EVP_PKEY **out,
				     hc_error *err);
hc_rc hc_backup_recipient_from_file(const char *path, EVP_PKEY **out, hc_error *err);

/* Every private key on the token (for --all). */
hc_rc hc_backup_list_keys(hc_session *session, CK_OBJECT_HANDLE **keys, size_t *count,
			  hc_error *err);

/*
 * HC_CHECK, with the reason backup gives, when the key says it is not
 * extractable: checked before a passphrase is asked for a key that cannot
 * leave. A key that does not say (unknown) is left to the wrap to decide.
 */
hc_rc hc_backup_check_extractable(const hc_key_info *key, hc_error *err);

/* ---- restore (SPEC: restore) ---------------------------------------- */

typedef struct hc_restore_params {
	const unsigned char *data;
	size_t len;
	const char *name;	     /* the file, for messages */
	const hc_secret *passphrase; /* HSMB passphrase mode, PFX */
	int exportable;		     /* -1 as recorded (PFX: no), 0 or 1 */
	bool force;		     /* replace keys with the same label or id */
	const char *label;	     /* override (a file with one key) */
	unsigned usages;	     /* HC_USAGE_* to set, or 0: as recorded (PFX: sign) */
} hc_restore_params;

/*
 * A restored private key's usages (SPEC restore): exactly these are true and
 * every other one is set false explicitly, whatever the token's defaults.
 */
enum {
	HC_USAGE_SIGN = 1 << 0,
	HC_USAGE_DECRYPT = 1 << 1,
	HC_USAGE_UNWRAP = 1 << 2,
	HC_USAGE_DERIVE = 1 << 3,
};
/* "sign,decrypt" (names: sign decrypt unwrap derive) to HC_USAGE_* bits; else HC_USAGE. */
hc_rc hc_usage_parse(const char *text, unsigned *out, hc_error *err);

typedef struct hc_restore_item {
	hc_key_info key;
	char *public_uri;
	bool has_certificate;
	char *cert_subject;
	char cert_sha256[65];
	size_t ca_count;
	char *cert_uri,
		**ca_uris; /* the certificate's URI; each of the ca_count CA certificates' */
	size_t replaced;   /* objects of an earlier key removed (--force) */
	/* The token already held the key as this restore makes it (an earlier run): adopted. */
	bool already;
	/*
	 * Usages the token set although the template said false ("decrypt,unwrap";
	 * empty when none): NSS softoken's RSA keys always decrypt. Reported, as
	 * keygen reports what a token adds (SPEC: templates are negotiated).
	 */
	char usages_added[32];
} hc_restore_item;

typedef struct hc_restore_result {
	hc_backup_kind kind;
	hc_restore_item *items;
	size_t count;
	bool legacy_pkcs12;
	char recipient_uri[1024]; /* recipient mode: the key that opened the file */
} hc_restore_result;

/*
 * Restore every key of the file into the token: checked as a whole before
 * anything is created; every created object is removed again on any failure.
 */
hc_rc hc_restore(hc_session *session, const hc_restore_params *params, hc_restore_result *out,
		 hc_error *err);
void hc_restore_result_clear(hc_restore_result *result);

#endif
