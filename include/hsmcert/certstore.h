/*
 * Certificates on a token (SPEC: import, delete; reused by backup/restore):
 * storing an X509 as a CKO_CERTIFICATE, finding one already stored, finding
 * the private key a certificate belongs to (by comparing public keys, never
 * by label), and removing objects the way `delete` promises.
 */
#ifndef HSMCERT_CERTSTORE_H
#define HSMCERT_CERTSTORE_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "hsmcert/key.h"
#include "hsmcert/p11.h"

/* CKA_CERTIFICATE_CATEGORY values (PKCS#11 2.40 section 4.6.2). */
#define HC_CERT_CATEGORY_UNSPECIFIED 0UL
#define HC_CERT_CATEGORY_TOKEN_USER 1UL /* ours: a key on this token belongs to it */
#define HC_CERT_CATEGORY_AUTHORITY 2UL	/* a CA certificate */
#define HC_CERT_CATEGORY_OTHER_ENTITY 3UL

/* "token_user", "authority", "other_entity", "unspecified" (or "unknown"). */
const char *hc_cert_category_name(CK_ULONG category);

/* "private_key", "public_key", "secret_key", "certificate", "data", "other" (JSON names). */
const char *hc_object_class_name(CK_OBJECT_CLASS cls);

/* A certificate object as read from the token in one C_GetAttributeValue. */
typedef struct hc_stored_cert {
	CK_OBJECT_HANDLE handle;
	X509 *cert; /* NULL when CKA_VALUE is missing or not a certificate */
	char *label;
	unsigned char *id;
	size_t id_len;
	CK_ULONG category; /* CK_UNAVAILABLE_INFORMATION when the token does not say */
	char *uri;
} hc_stored_cert;

hc_rc hc_certstore_read(hc_session *session, CK_OBJECT_HANDLE object, hc_stored_cert *out,
			hc_error *err);
void hc_stored_cert_clear(hc_stored_cert *cert);

/* Every X.509 certificate object on the token: one search, one attribute fetch each. */
hc_rc hc_certstore_list(hc_session *session, hc_stored_cert **certs, size_t *count, hc_error *err);
void hc_stored_certs_free(hc_stored_cert *certs, size_t count);

/*
 * The certificate object whose CKA_VALUE is exactly this certificate's DER,
 * or CK_INVALID_HANDLE: importing the same certificate twice changes nothing.
 */
hc_rc hc_certstore_find(hc_session *session, X509 *cert, CK_OBJECT_HANDLE *out, hc_error *err);

/*
 * Store a certificate as a token object: CKC_X_509 with CKA_VALUE, SUBJECT,
 * ISSUER, SERIAL_NUMBER, ID, LABEL and CERTIFICATE_CATEGORY; public
 * (CKA_PRIVATE false) so it can be read without logging in.
 */
hc_rc hc_certstore_put(hc_session *session, X509 *cert, const char *label, const unsigned char *id,
		       size_t id_len, CK_ULONG category, CK_OBJECT_HANDLE *out, hc_error *err);

/*
 * CKA_ID for a CA certificate stored without a key: its subjectKeyIdentifier,
 * else SHA-1 of the subjectPublicKey bits (what the SKI usually is). Caller frees.
 */
hc_rc hc_cert_default_id(X509 *cert, unsigned char **id, size_t *len, hc_error *err);

/* A short label for a CA certificate: its CN, else the whole subject. Caller frees. */
char *hc_cert_default_label(X509 *cert);

/*
 * The private key on the token whose public key equals the certificate's,
 * compared as keys (RSA modulus and exponent, EC curve and point). *found is
 * false when there is none; `key` is filled when it is true.
 */
hc_rc hc_certstore_find_key(hc_session *session, X509 *cert, hc_key_info *key, bool *found,
			    hc_error *err);

/*
 * Same public key? RSA and RSA-PSS keys compare by modulus and exponent (a
 * token holds both as CKK_RSA); others with EVP_PKEY_eq.
 */
bool hc_public_keys_equal(const EVP_PKEY *a, const EVP_PKEY *b);

/* ---- removal (SPEC: delete; import --replace) ----------------------- */

/* One object that a removal destroys. */
typedef struct hc_doomed {
	CK_OBJECT_HANDLE handle;
	CK_OBJECT_CLASS cls;
	char *label;
	unsigned char *id;
	size_t id_len;
	char *uri;
	char *what;	 /* "rsa:2048 private key", "certificate CN=www.example.hk, ..." */
	size_t group;	 /* objects of one key share a group (the key's, or their own) */
	bool companion;	 /* destroyed because its key is, not because the URI named it */
	int destroyable; /* CKA_DESTROYABLE: 1, 0, -1 unknown */
	bool destroyed;	 /* set by hc_removal_execute */
} hc_doomed;

typedef struct hc_removal {
	hc_doomed *objects;
	size_t count;
	size_t cap;    /* entries allocated: the hc_removal_* functions keep it */
	size_t groups; /* distinct things named: a key with its companions counts once */
} hc_removal;

/*
 * What deleting `uri` destroys: every object the URI's class/label/id match,
 * and for each private key its public key and certificates (same CKA_ID, or a
 * certificate whose public key is the key's) unless key_only. A URI that
 * names no object attribute is refused (HC_USAGE): it would name everything.
 * Nothing matching is HC_CHECK.
 */
hc_rc hc_removal_plan(hc_session *session, const hc_uri *uri, bool key_only, hc_removal *out,
		      hc_error *err);

/* Add one object by handle (import --replace names them itself); already there: no-op. */
hc_rc hc_removal_add(hc_session *session, hc_removal *removal, CK_OBJECT_HANDLE object,
		     bool companion, hc_error *err);

/*
 * Destroy the planned objects: refused as a whole (HC_CHECK) when any is
 * marked not destroyable, so nothing is half-removed by a predictable
 * refusal; then private keys first, so a key the token will not destroy
 * leaves its certificate and public key in place.
 */
hc_rc hc_removal_execute(hc_session *session, hc_removal *removal, hc_error *err);
void hc_removal_clear(hc_removal *removal);

#endif
