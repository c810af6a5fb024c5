/* Key objects: type names, one-call descriptions, public halves, ids. */
#include "hsmcert/key.h"

#include "hsmcert/hex.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	CK_KEY_TYPE ckk;
	unsigned bits;
	int nid;
} known_types[] = {
	{"rsa:2048", CKK_RSA, 2048, NID_undef},	  {"rsa:3072", CKK_RSA, 3072, NID_undef},
	{"rsa:4096", CKK_RSA, 4096, NID_undef},	  {"ec:P-256", CKK_EC, 256, NID_X9_62_prime256v1},
	{"ec:P-384", CKK_EC, 384, NID_secp384r1},
};
#define N_TYPES (sizeof(known_types) / sizeof(known_types[0]))

/* Other names users bring for the same curves: OpenSSL's and SEC 2's, with or without "ec:". */
static const struct {
	const char *name;
	int nid;
} curve_aliases[] = {
	{"prime256v1", NID_X9_62_prime256v1},
	{"secp256r1", NID_X9_62_prime256v1},
	{"P-256", NID_X9_62_prime256v1},
	{"secp384r1", NID_secp384r1},
	{"P-384", NID_secp384r1},
};

hc_rc hc_keytype_parse(const char *text, hc_keytype *out, hc_error *err)
{
	const char *curve = strncasecmp(text, "ec:", 3) == 0 ? text + 3 : text;

	for (size_t i = 0; i < N_TYPES; i++) {
		if (strcasecmp(text, known_types[i].name) == 0) {
			*out = (hc_keytype){known_types[i].ckk, known_types[i].bits,
					    known_types[i].nid};
			return HC_OK;
		}
	}
	for (size_t i = 0; i < sizeof(curve_aliases) / sizeof(curve_aliases[0]); i++) {
		if (strcasecmp(curve, curve_aliases[i].name) == 0) {
			int nid = curve_aliases[i].nid;
			*out = (hc_keytype){CKK_EC, nid == NID_secp384r1 ? 384 : 256, nid};
			return HC_OK;
		}
	}
	return hc_fail(err, HC_USAGE,
		       "unknown key type '%s': use rsa:2048, rsa:3072, rsa:4096, ec:P-256 "
		       "(prime256v1, secp256r1) or ec:P-384 (secp384r1)",
		       text);
}

void hc_keytype_format(const hc_keytype *type, char *out, size_t len)
{
	if (type->ckk == CKK_RSA && type->bits)
		snprintf(out, len, "rsa:%u", type->bits);
	else if (type->ckk == CKK_EC && type->curve_nid != NID_undef)
		snprintf(out, len, "ec:%s",
			 EC_curve_nid2nist(type->curve_nid) ? EC_curve_nid2nist(type->curve_nid)
							    : OBJ_nid2sn(type->curve_nid));
	else if (type->ckk == CKK_AES && type->bits)
		snprintf(out, len, "aes:%u", type->bits);
	else if (type->ckk == CKK_RSA)
		snprintf(out, len, "rsa");
	else if (type->ckk == CKK_EC)
		snprintf(out, len, "ec");
	else
		snprintf(out, len, "%s", hc_ckk_name(type->ckk));
}

hc_rc hc_keytype_ec_params(const hc_keytype *type, unsigned char **der, size_t *len, hc_error *err)
{
	ASN1_OBJECT *oid = OBJ_nid2obj(type->curve_nid);
	unsigned char *buf = NULL;
	int n;

	if (!oid || (n = i2d_ASN1_OBJECT(oid, &buf)) <= 0)
		return hc_fail_ssl(err, HC_USAGE, "cannot encode the curve's OID");
	*der = buf;
	*len = (size_t)n;
	return HC_OK;
}

/* Curve from DER CKA_EC_PARAMS (a namedCurve OID). */
static int curve_from_params(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)len);
	int nid = oid ? OBJ_obj2nid(oid) : NID_undef;

	ASN1_OBJECT_free(oid);
	return nid;
}

/*
 * A curve's size. Building the group costs more than reading the key (an
 * audit of thousands of EC keys spent a tenth of its time here), so the
 * curves tokens hold are known by heart.
 */
static unsigned curve_bits(int nid)
{
	static const struct {
		int nid;
		unsigned bits;
	} common[] = {
		{NID_X9_62_prime256v1, 256}, {NID_secp384r1, 384},	 {NID_secp521r1, 521},
		{NID_secp256k1, 256},	     {NID_brainpoolP256r1, 256}, {NID_brainpoolP384r1, 384},
		{NID_brainpoolP512r1, 512},
	};
	EC_GROUP *g;
	unsigned bits;

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (common[i].nid == nid)
			return common[i].bits;
	g = nid != NID_undef ? EC_GROUP_new_by_curve_name(nid) : NULL;
	bits = g ? (unsigned)EC_GROUP_get_degree(g) : 0;

	EC_GROUP_free(g);
	return bits;
}

static unsigned char *take(CK_ATTRIBUTE *a, size_t *len)
{
	unsigned char *v;

	*len = 0;
	if (!hc_attr_available(a))
		return NULL;
	/* The first buffer was a guess: keep only what the value needs. */
	v = realloc(a->pValue, a->ulValueLen ? a->ulValueLen : 1);
	if (!v)
		v = a->pValue;
	*len = a->ulValueLen;
	a->pValue = NULL;
	return v;
}

/* The template hc_key_describe reads: the identity, the key flags, then the public parts. */
#define A_FLAG_INDEX(field, cka, name, column) A_FLAG_##field,
#define A_USAGE_INDEX(field, cka, name, secret_only) A_USAGE_##field,
enum {
	A_CLASS,
	A_KEY_TYPE,
	A_LABEL,
	A_ID,
	HC_KEY_FLAGS(A_FLAG_INDEX) A_KEY_GEN_MECHANISM,
	A_MODULUS,
	A_PUBLIC_EXPONENT,
	A_EC_PARAMS,
	A_EC_POINT,
	A_VALUE_LEN,
	HC_KEY_USAGES(A_USAGE_INDEX) A_COUNT
};
#define A_FIRST_FLAG A_FLAG_token
#define A_FIRST_USAGE A_USAGE_sign
#undef A_FLAG_INDEX
#undef A_USAGE_INDEX

#define FLAG_TYPE(field, cka, name, column) cka,
#define USAGE_TYPE(field, cka, name, secret_only) cka,
const CK_ATTRIBUTE_TYPE hc_key_attr_types[HC_KEY_ATTR_COUNT] = {CKA_CLASS,
								CKA_KEY_TYPE,
								CKA_LABEL,
								CKA_ID,
								HC_KEY_FLAGS(FLAG_TYPE)
									CKA_KEY_GEN_MECHANISM,
								CKA_MODULUS,
								CKA_PUBLIC_EXPONENT,
								CKA_EC_PARAMS,
								CKA_EC_POINT,
								CKA_VALUE_LEN,
								HC_KEY_USAGES(USAGE_TYPE)};
#undef FLAG_TYPE
#undef USAGE_TYPE
_Static_assert(A_COUNT == HC_KEY_ATTR_COUNT, "hc_key_attr_types and A_* differ");

#define FLAG_ENTRY(field, cka, name, column) {name, column, cka},
const hc_key_flag hc_key_flags[HC_KEY_FLAG_COUNT] = {HC_KEY_FLAGS(FLAG_ENTRY)};
#undef FLAG_ENTRY

#define USAGE_ENTRY(field, cka, name, secret_only) {name, secret_only, cka},
const hc_key_usage hc_key_usages[HC_KEY_USAGE_COUNT] = {HC_KEY_USAGES(USAGE_ENTRY)};
#undef USAGE_ENTRY

/*
 * Flags and usages are both runs of int fields of hc_key_info read from runs
 * of CK_BBOOL attributes: one table of field offsets each, one reader.
 */
#define FIELD_OFFSET(field, ...) offsetof(hc_key_info, field),
static const size_t flag_fields[HC_KEY_FLAG_COUNT] = {HC_KEY_FLAGS(FIELD_OFFSET)};
static const size_t usage_fields[HC_KEY_USAGE_COUNT] = {HC_KEY_USAGES(FIELD_OFFSET)};
#undef FIELD_OFFSET
_Static_assert(A_KEY_GEN_MECHANISM - A_FIRST_FLAG == HC_KEY_FLAG_COUNT, "flags not contiguous");
_Static_assert(A_COUNT - A_FIRST_USAGE == HC_KEY_USAGE_COUNT, "usages not contiguous");

static int field_value(const hc_key_info *key, size_t offset)
{
	return *(const int *)((const char *)key + offset);
}

/* The attributes a[0..n) into the fields at `fields`. */
static void take_bools(hc_key_info *out, const size_t *fields, size_t n, const CK_ATTRIBUTE *a)
{
	for (size_t i = 0; i < n; i++)
		*(int *)((char *)out + fields[i]) = hc_attr_bool(&a[i]);
}

int hc_key_flag_value(const hc_key_info *key, size_t i)
{
	return i < HC_KEY_FLAG_COUNT ? field_value(key, flag_fields[i]) : -1;
}

int hc_key_usage_value(const hc_key_info *key, size_t i)
{
	return i < HC_KEY_USAGE_COUNT ? field_value(key, usage_fields[i]) : -1;
}

bool hc_key_attr_applicable(const CK_ATTRIBUTE *attrs, CK_ULONG count, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG cls, ckk;
	bool key;

	if (!hc_attr_ulong(hc_attr_find(attrs, count, CKA_CLASS), &cls))
		return true;
	key = cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY || cls == CKO_SECRET_KEY;
	if (!hc_attr_ulong(hc_attr_find(attrs, count, CKA_KEY_TYPE), &ckk))
		ckk = CK_UNAVAILABLE_INFORMATION;
	switch (type) {
	case CKA_MODULUS:
	case CKA_PUBLIC_EXPONENT:
		return (cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY) &&
		       (ckk == CKK_RSA || ckk == CK_UNAVAILABLE_INFORMATION);
	case CKA_EC_PARAMS:
		return (cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY) &&
		       (ckk == CKK_EC || ckk == CK_UNAVAILABLE_INFORMATION);
	case CKA_EC_POINT: /* on the public key; private keys have no point */
		return cls == CKO_PUBLIC_KEY &&
		       (ckk == CKK_EC || ckk == CK_UNAVAILABLE_INFORMATION);
	case CKA_VALUE: return !key || cls == CKO_SECRET_KEY;
	default: return true;
	}
}

hc_rc hc_key_describe(hc_session *session, CK_OBJECT_HANDLE object, hc_key_info *out, hc_error *err)
{
	CK_ATTRIBUTE a[A_COUNT];
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < A_COUNT; i++)
		a[i] = (CK_ATTRIBUTE){hc_key_attr_types[i], NULL, 0};
	rc = hc_attrs_get_applicable(session, object, a, A_COUNT, hc_key_attr_applicable, err);
	if (rc != HC_OK || (rc = hc_key_info_from_attrs(object, a, out, err)) != HC_OK)
		return rc;
	out->uri = hc_uri_for_object(&hc_session_slot(session)->token, out->cls, out->label,
				     out->id, out->id_len);
	if (!out->uri) {
		hc_key_info_clear(out);
		return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

hc_rc hc_key_info_from_attrs(CK_OBJECT_HANDLE object, CK_ATTRIBUTE *a, hc_key_info *out,
			     hc_error *err)
{
	CK_ULONG v;
	size_t label_len;
	char *label;

	memset(out, 0, sizeof(*out));
	out->handle = object;
	out->cls = hc_attr_ulong(&a[A_CLASS], &v) ? v : CK_UNAVAILABLE_INFORMATION;
	out->type.ckk = hc_attr_ulong(&a[A_KEY_TYPE], &v) ? v : CK_UNAVAILABLE_INFORMATION;
	take_bools(out, flag_fields, HC_KEY_FLAG_COUNT, &a[A_FIRST_FLAG]);
	take_bools(out, usage_fields, HC_KEY_USAGE_COUNT, &a[A_FIRST_USAGE]);
	out->key_gen_reported = hc_attr_available(&a[A_KEY_GEN_MECHANISM]);
	out->key_gen_mechanism = hc_attr_ulong(&a[A_KEY_GEN_MECHANISM], &v)
					 ? v
					 : CK_UNAVAILABLE_INFORMATION;
	out->value_len = hc_attr_ulong(&a[A_VALUE_LEN], &v) ? v : 0;

	label = (char *)take(&a[A_LABEL], &label_len);
	out->label = calloc(1, label_len + 1);
	if (out->label && label)
		memcpy(out->label, label, label_len);
	free(label);
	out->id = take(&a[A_ID], &out->id_len);
	out->modulus = take(&a[A_MODULUS], &out->modulus_len);
	out->public_exponent = take(&a[A_PUBLIC_EXPONENT], &out->public_exponent_len);
	out->ec_params = take(&a[A_EC_PARAMS], &out->ec_params_len);
	out->ec_point = take(&a[A_EC_POINT], &out->ec_point_len);
	hc_attrs_release(a, A_COUNT);

	if (out->type.ckk == CKK_RSA && out->modulus) {
		size_t n = out->modulus_len, i = 0;
		while (i < n && out->modulus[i] == 0)
			i++;
		out->type.bits = (unsigned)((n - i) * 8);
	} else if (out->type.ckk == CKK_EC && out->ec_params) {
		out->type.curve_nid = curve_from_params(out->ec_params, out->ec_params_len);
		out->type.bits = curve_bits(out->type.curve_nid);
	} else if (out->value_len) {
		out->type.bits = (unsigned)(out->value_len * 8);
	}
	if (!out->label) {
		hc_key_info_clear(out);
		return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

void hc_key_info_clear(hc_key_info *info)
{
	if (!info)
		return;
	free(info->label);
	free(info->id);
	free(info->uri);
	free(info->modulus);
	free(info->public_exponent);
	free(info->ec_params);
	free(info->ec_point);
	memset(info, 0, sizeof(*info));
}

hc_rc hc_key_find(hc_session *session, CK_OBJECT_CLASS cls, const char *label,
		  const unsigned char *id, size_t id_len, CK_OBJECT_HANDLE **out, size_t *count,
		  hc_error *err)
{
	hc_template t = {0};

	if (cls != CK_UNAVAILABLE_INFORMATION)
		hc_template_add(&t, CKA_CLASS, &cls, sizeof(cls));
	if (label)
		hc_template_add(&t, CKA_LABEL, label, strlen(label));
	if (id)
		hc_template_add(&t, CKA_ID, id, id_len);
	return hc_objects_find(session, t.attrs, t.count, out, count, err);
}

hc_rc hc_key_find_public(hc_session *session, const hc_key_info *priv, CK_OBJECT_HANDLE *out,
			 hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = priv->type.ckk;
	CK_ATTRIBUTE t[3] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_ID, priv->id, priv->id_len},
	};
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_rc rc;

	*out = CK_INVALID_HANDLE;
	if (!priv->id || !priv->id_len)
		return hc_fail(err, HC_TOKEN, "key '%s' has no CKA_ID to find its public key by",
			       priv->label);
	rc = hc_objects_find(session, t, 3, &found, &n, err);
	if (rc != HC_OK)
		return rc;
	if (n == 0)
		rc = hc_fail(err, HC_TOKEN, "no public key object with the id of key '%s'",
			     priv->label);
	else
		*out = found[0];
	free(found);
	return rc;
}

hc_rc hc_key_ec_point_raw(const hc_key_info *k, const unsigned char **raw, size_t *len,
			  ASN1_OCTET_STRING **holder, hc_error *err)
{
	const unsigned char *p = k->ec_point;

	*holder = d2i_ASN1_OCTET_STRING(NULL, &p, (long)k->ec_point_len);
	if (*holder && p == k->ec_point + k->ec_point_len) {
		*raw = ASN1_STRING_get0_data(*holder);
		*len = (size_t)ASN1_STRING_length(*holder);
		return HC_OK;
	}
	ASN1_OCTET_STRING_free(*holder);
	*holder = NULL;
	if (k->ec_point_len && k->ec_point[0] == 0x04) {
		*raw = k->ec_point;
		*len = k->ec_point_len;
		return HC_OK;
	}
	return hc_fail(err, HC_TOKEN, "key '%s': CKA_EC_POINT is neither DER nor a raw point",
		       k->label);
}

static hc_rc pkey_from_params(const char *alg, OSSL_PARAM_BLD *bld, EVP_PKEY **out, hc_error *err)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	hc_rc rc = HC_OK;

	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		rc = hc_fail_ssl(err, HC_TOKEN, "the token's %s public key is not valid", alg);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

hc_rc hc_key_public(hc_session *session, const hc_key_info *key, EVP_PKEY **out, hc_error *err)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	hc_key_info pub = {0};
	const hc_key_info *src = key;
	ASN1_OCTET_STRING *holder = NULL;
	BIGNUM *n = NULL, *e = NULL;
	hc_rc rc = HC_OK;

	*out = NULL;
	if (!bld)
		return hc_fail(err, HC_IO, "out of memory");
	if (key->type.ckk == CKK_RSA) {
		if (!key->modulus || !key->public_exponent) {
			CK_OBJECT_HANDLE h;
			if ((rc = hc_key_find_public(session, key, &h, err)) != HC_OK ||
			    (rc = hc_key_describe(session, h, &pub, err)) != HC_OK)
				goto out;
			src = &pub;
		}
		n = BN_bin2bn(src->modulus, (int)src->modulus_len, NULL);
		e = BN_bin2bn(src->public_exponent, (int)src->public_exponent_len, NULL);
		if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		rc = pkey_from_params("RSA", bld, out, err);
	} else if (key->type.ckk == CKK_EC) {
		const unsigned char *raw;
		size_t raw_len;
		const char *curve;
		if (!key->ec_point) {
			CK_OBJECT_HANDLE h;
			if ((rc = hc_key_find_public(session, key, &h, err)) != HC_OK ||
			    (rc = hc_key_describe(session, h, &pub, err)) != HC_OK)
				goto out;
			src = &pub;
		}
		if (!src->ec_point || src->type.curve_nid == NID_undef) {
			rc = hc_fail(err, HC_TOKEN, "key '%s': no EC point or unknown curve",
				     key->label);
			goto out;
		}
		if ((rc = hc_key_ec_point_raw(src, &raw, &raw_len, &holder, err)) != HC_OK)
			goto out;
		curve = OBJ_nid2sn(src->type.curve_nid);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, raw, raw_len)) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		rc = pkey_from_params("EC", bld, out, err);
	} else {
		rc = hc_fail(err, HC_USAGE,
			     "key '%s' is of type %s: only RSA and EC keys are "
			     "supported",
			     key->label, hc_ckk_name(key->type.ckk));
	}
out:
	ASN1_OCTET_STRING_free(holder);
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	hc_key_info_clear(&pub);
	return rc;
}

void hc_key_id_compute(CK_KEY_TYPE type, const unsigned char *value, size_t len,
		       unsigned char id[HC_KEY_ID_LEN])
{
	if (type == CKK_RSA)
		while (len > 1 && value[0] == 0) {
			value++;
			len--;
		}
	SHA1(value, len, id);
}

hc_rc hc_key_derive_id(const hc_key_info *pub, unsigned char id[HC_KEY_ID_LEN], hc_error *err)
{
	if (pub->type.ckk == CKK_RSA && pub->modulus) {
		hc_key_id_compute(CKK_RSA, pub->modulus, pub->modulus_len, id);
		return HC_OK;
	}
	if (pub->type.ckk == CKK_EC && pub->ec_point) {
		ASN1_OCTET_STRING *holder = NULL;
		const unsigned char *raw;
		size_t len;
		hc_rc rc = hc_key_ec_point_raw(pub, &raw, &len, &holder, err);
		if (rc == HC_OK)
			hc_key_id_compute(CKK_EC, raw, len, id);
		ASN1_OCTET_STRING_free(holder);
		return rc;
	}
	return hc_fail(err, HC_TOKEN,
		       "cannot derive a key id: the public key has no modulus or "
		       "EC point");
}
