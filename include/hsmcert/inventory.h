/*
 * A token's inventory (SPEC: list, audit): every private, secret and public
 * key and every certificate, found by one batched search for all objects (a
 * search makes some tokens, SoftHSM2 among them, revisit every object, so one
 * search beats one per class) and each read with one C_GetAttributeValue
 * (certificates one more, for CKA_VALUE); private keys are then paired with
 * their certificates in memory, with sorted digests: no per-key searches.
 *
 * Pairing is by key: a certificate belongs to a private key when its public
 * key is the key's public half (RSA modulus and exponent, which the private
 * key object carries; for EC the point, which lives on the public key object
 * with the same CKA_ID). Only when a public half is unavailable on either side
 * does pairing fall back to equal CKA_IDs. Labels are never compared.
 */
#ifndef HSMCERT_INVENTORY_H
#define HSMCERT_INVENTORY_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "hsmcert/key.h"

/* "No such index" in the index fields below. */
#define HC_INV_NONE ((size_t)-1)

typedef enum hc_inv_match {
	HC_INV_MATCH_NONE = 0,
	HC_INV_MATCH_KEY, /* the certificate's public key is the key's public half */
	HC_INV_MATCH_ID,  /* equal CKA_ID: a public half was unavailable to compare */
} hc_inv_match;

typedef struct hc_inv_cert {
	CK_OBJECT_HANDLE handle;
	char *label; /* "" when the object has none */
	unsigned char *id;
	size_t id_len;
	CK_ULONG cert_type; /* CKA_CERTIFICATE_TYPE; CK_UNAVAILABLE_INFORMATION if unknown */
	CK_ULONG category;  /* CKA_CERTIFICATE_CATEGORY; CK_UNAVAILABLE_INFORMATION if unknown */
	X509 *x509;	    /* CKA_VALUE parsed; NULL when absent or not an X.509 certificate */
	/* CKA_CERTIFICATE_CATEGORY authority, or basicConstraints CA:TRUE: a chain certificate. */
	bool authority;
	size_t key; /* index into hc_inventory.keys, HC_INV_NONE when unpaired */
	hc_inv_match match;
} hc_inv_cert;

/* A key's public half in canonical form, digested (see inventory.c). */
typedef struct hc_inv_print {
	unsigned char digest[32];
	bool known;
} hc_inv_print;

/*
 * Key objects in the inventory keep no key material: modulus, exponent, EC
 * parameters and point are released once their digest is taken (type, bits
 * and curve stay). hc_key_describe a handle for the material.
 */
typedef struct hc_inv_key {
	hc_key_info info;     /* the private key */
	hc_inv_print print_;  /* its own public half, when the object carries it */
	size_t public_key;    /* index into hc_inventory.public_keys (same CKA_ID and type) */
	bool has_public_half; /* its public key was known, so certificates pair by key */
	const size_t *certs;  /* indices into hc_inventory.certs, in token order */
	size_t cert_count;
} hc_inv_key;

/* An object whose attributes the token would not give: it may be a key, so it is reported. */
typedef struct hc_inv_unreadable {
	CK_OBJECT_HANDLE handle;
	CK_RV rv; /* the token's answer to C_GetAttributeValue */
} hc_inv_unreadable;

typedef struct hc_inventory {
	hc_inv_key *keys; /* private keys */
	size_t key_count;
	hc_key_info *secret_keys;
	size_t secret_count;
	hc_key_info *public_keys;
	size_t public_count;
	hc_inv_cert *certs;
	size_t cert_count;
	/*
	 * Objects the token found but could not describe (a half-written object
	 * file, say): the rest of the inventory is still read.
	 */
	hc_inv_unreadable *unreadable;
	size_t unreadable_count;
	/* Certificates with no key on the token, authority certificates excepted. */
	size_t *orphans;
	size_t orphan_count;
	size_t *pairs_;		      /* storage behind the keys' certs lists */
	hc_inv_print *public_prints_; /* the public keys' public halves */
	CK_TOKEN_INFO token_;	      /* for hc_inventory_uri */
} hc_inventory;

/*
 * Read the whole inventory through `session`. Private objects are seen only
 * when the session is logged in. Other object classes (data objects, ...)
 * are passed over. Nothing on the token is changed.
 */
hc_rc hc_inventory_load(hc_session *session, hc_inventory *out, hc_error *err);
void hc_inventory_clear(hc_inventory *inv);

/*
 * An object's URI on the inventory's token, made when it is printed: the
 * inventory keeps none, so thousands of keys cost no URI memory. NULL only
 * when out of memory.
 */
char *hc_inventory_uri(const hc_inventory *inv, CK_OBJECT_CLASS cls, const char *label,
		       const unsigned char *id, size_t id_len);

/* "key", "id" or "none": how a certificate was paired, for reports. */
const char *hc_inv_match_name(hc_inv_match match);

#endif
