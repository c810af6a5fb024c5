/* Key objects on a token: types, descriptions, public keys, ids (SPEC: keygen, list, audit). */
#ifndef HSMCERT_KEY_H
#define HSMCERT_KEY_H

#include <openssl/evp.h>

#include "hsmcert/key_flags.h"
#include "hsmcert/p11.h"

/* A key type as the CLI names it: rsa:2048|rsa:3072|rsa:4096|ec:P-256|ec:P-384. */
typedef struct hc_keytype {
	CK_KEY_TYPE ckk; /* CKK_RSA or CKK_EC */
	unsigned bits;	 /* modulus size, or the curve's field size */
	int curve_nid;	 /* EC only */
} hc_keytype;

hc_rc hc_keytype_parse(const char *text, hc_keytype *out, hc_error *err);
/* "rsa:2048", "ec:P-256"; "unknown" otherwise. */
void hc_keytype_format(const hc_keytype *type, char *out, size_t len);
/* DER-encoded OID of the curve for CKA_EC_PARAMS; caller frees. */
hc_rc hc_keytype_ec_params(const hc_keytype *type, unsigned char **der, size_t *len, hc_error *err);

/*
 * Everything we report about a key object, read in one C_GetAttributeValue.
 * Booleans are tri-state: 1, 0, or -1 when the token does not say.
 */
typedef struct hc_key_info {
	CK_OBJECT_HANDLE handle;
	CK_OBJECT_CLASS cls;
	hc_keytype type; /* ckk CKK_RSA/CKK_EC, or other CKK_ with bits 0 */
	char *label;
	unsigned char *id;
	size_t id_len;
	char *uri; /* NULL in an inventory (see hc_key_info_from_attrs) */
#define HC_KEY_FLAG_FIELD(field, cka, name, column) int field;
	HC_KEY_FLAGS(HC_KEY_FLAG_FIELD) /* key_flags.h */
#undef HC_KEY_FLAG_FIELD
	/* Usages (SPEC audit): what the token lets the key do. */
#define HC_KEY_USAGE_FIELD(field, cka, name, secret_only) int field;
	HC_KEY_USAGES(HC_KEY_USAGE_FIELD)
#undef HC_KEY_USAGE_FIELD
	CK_ULONG key_gen_mechanism; /* CK_UNAVAILABLE_INFORMATION when unknown */
	/*
	 * Whether the token answered for CKA_KEY_GEN_MECHANISM at all: a token
	 * that reports CK_UNAVAILABLE_INFORMATION as its value says the key was
	 * not generated; one that does not know the attribute says nothing.
	 */
	bool key_gen_reported;
	/* Public parts when the object carries them (raw big-endian / DER). */
	unsigned char *modulus, *public_exponent, *ec_params, *ec_point;
	size_t modulus_len, public_exponent_len, ec_params_len, ec_point_len;
	CK_ULONG value_len; /* secret keys: CKA_VALUE_LEN, else 0 */
} hc_key_info;

hc_rc hc_key_describe(hc_session *session, CK_OBJECT_HANDLE object, hc_key_info *out,
		      hc_error *err);

/*
 * For callers that read a key's attributes together with others (the
 * inventory reads every object with one template): the attributes
 * hc_key_describe reads, first in a template and in this order; then
 * hc_key_info_from_attrs takes the values (and releases those attributes).
 * It leaves `uri` NULL: a caller holding thousands of keys formats each URI
 * when it prints the key (hc_inventory_uri), not for every key at once.
 */
#define HC_KEY_ATTR_COUNT 28
extern const CK_ATTRIBUTE_TYPE hc_key_attr_types[HC_KEY_ATTR_COUNT];
hc_rc hc_key_info_from_attrs(CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs, hc_key_info *out,
			     hc_error *err);
/*
 * The key flags by position in HC_KEY_FLAGS: their names, and the value of
 * flag `i` of a key (tri-state as in hc_key_info).
 */
typedef struct hc_key_flag {
	const char *name;   /* "sensitive" */
	const char *column; /* "SENS", or NULL */
	CK_ATTRIBUTE_TYPE type;
} hc_key_flag;
extern const hc_key_flag hc_key_flags[HC_KEY_FLAG_COUNT];
int hc_key_flag_value(const hc_key_info *key, size_t i);
/* The usages by position in HC_KEY_USAGES, likewise. */
typedef struct hc_key_usage {
	const char *name; /* "sign" */
	bool secret_only; /* reported for secret keys only */
	CK_ATTRIBUTE_TYPE type;
} hc_key_usage;
extern const hc_key_usage hc_key_usages[HC_KEY_USAGE_COUNT];
int hc_key_usage_value(const hc_key_info *key, size_t i);
/* hc_attr_applicable_fn for key templates: RSA parts on RSA keys, the EC point on public keys. */
bool hc_key_attr_applicable(const CK_ATTRIBUTE *attrs, CK_ULONG count, CK_ATTRIBUTE_TYPE type);
void hc_key_info_clear(hc_key_info *info);

/* The public key object that pairs with a private key (same CKA_ID and key type). */
hc_rc hc_key_find_public(hc_session *session, const hc_key_info *priv, CK_OBJECT_HANDLE *out,
			 hc_error *err);

/* The key's public half as an OpenSSL key; EC keys take the point from the public object. */
hc_rc hc_key_public(hc_session *session, const hc_key_info *key, EVP_PKEY **out, hc_error *err);

/*
 * The raw EC point of a key object: CKA_EC_POINT is a DER OCTET STRING, some
 * tokens give the bare point. *holder owns the bytes; free it with
 * ASN1_OCTET_STRING_free (it may be NULL).
 */
hc_rc hc_key_ec_point_raw(const hc_key_info *key, const unsigned char **raw, size_t *len,
			  ASN1_OCTET_STRING **holder, hc_error *err);

/*
 * The default CKA_ID (SPEC: keygen --id), the convention of other PKCS#11
 * tools: SHA-1 of the RSA modulus as a minimal big-endian integer (the
 * leading zero bytes some tokens pad CKA_MODULUS with are skipped), or of
 * the raw EC point (without CKA_EC_POINT's DER OCTET STRING wrapping).
 * keygen and restore both name keys with it.
 */
#define HC_KEY_ID_LEN 20
void hc_key_id_compute(CK_KEY_TYPE type, const unsigned char *modulus_or_point, size_t len,
		       unsigned char id[HC_KEY_ID_LEN]);
/* The same from a public key object's attributes. */
hc_rc hc_key_derive_id(const hc_key_info *pub, unsigned char id[HC_KEY_ID_LEN], hc_error *err);

/* Find keys (class CKO_PRIVATE_KEY/CKO_PUBLIC_KEY) matching label and/or id. */
hc_rc hc_key_find(hc_session *session, CK_OBJECT_CLASS cls, const char *label,
		  const unsigned char *id, size_t id_len, CK_OBJECT_HANDLE **out, size_t *count,
		  hc_error *err);

/*
 * The one private key a PKCS#11 URI names on the open token (its object=,
 * id= and type= attributes; a URI naming no object picks the token's only
 * private key). type=public or type=cert is HC_USAGE: signing needs the
 * private key. No private key is HC_TOKEN, saying so when only a public key
 * or certificate matches; several are HC_USAGE naming them.
 */
hc_rc hc_key_select_private(hc_session *session, const char *uri, hc_key_info *out, hc_error *err);

#endif
