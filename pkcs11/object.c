/* Object search, attributes, creation and destruction. */
#include "internal.h"

#include "hsmcert/array.h"
#include "hsmcert/key_flags.h"

#include <stdlib.h>
#include <string.h>

/* No attribute value we read is larger (a certificate with a long chain is far less). */
#define HC_ATTR_MAX (16u << 20)

/*
 * Handles asked per C_FindObjects call: a token of thousands of objects
 * answers in one call (and the empty one that ends the search), which over
 * a remote token (p11-kit RPC) is one round trip each.
 */
#define HC_FIND_BATCH 4096

/* More handles than any token holds: a search that never ends is the token's fault. */
#define HC_FIND_LIMIT (1u << 22)

hc_rc hc_objects_find(hc_session *s, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		      CK_OBJECT_HANDLE **objects, size_t *found, hc_error *err)
{
	CK_OBJECT_HANDLE *list = NULL;
	size_t n = 0, cap = 0;
	hc_rc rc = HC_OK;
	CK_RV rv;

	*objects = NULL;
	*found = 0;
	rv = s->fn->C_FindObjectsInit(s->handle, (CK_ATTRIBUTE_PTR)tmpl, count);
	/*
	 * A search this session left open (its C_FindObjectsFinal failed, or the
	 * process was interrupted mid-search) would fail every later one: end it
	 * and start again, once.
	 */
	if (rv == CKR_OPERATION_ACTIVE) {
		s->fn->C_FindObjectsFinal(s->handle);
		rv = s->fn->C_FindObjectsInit(s->handle, (CK_ATTRIBUTE_PTR)tmpl, count);
	}
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_FindObjectsInit", rv, "searching objects");
	for (;;) {
		CK_ULONG got = 0;
		if (!hc_array_reserve(&list, &cap, n + HC_FIND_BATCH, sizeof(*list))) {
			rc = hc_fail(err, HC_IO, "out of memory");
			break;
		}
		rv = s->fn->C_FindObjects(s->handle, list + n, HC_FIND_BATCH, &got);
		if (rv != CKR_OK) {
			rc = hc_fail_p11(err, "C_FindObjects", rv, "searching objects");
			break;
		}
		/*
		 * Only an empty answer ends the search: a token may give fewer
		 * handles than asked while more remain (PKCS#11 2.40, 5.7).
		 */
		if (got == 0)
			break;
		if (got > HC_FIND_BATCH || n + got > HC_FIND_LIMIT) {
			rc = hc_fail_p11(err, "C_FindObjects", rv,
					 "searching objects: the token's answer cannot be "
					 "interpreted (%s)",
					 got > HC_FIND_BATCH ? "more handles than asked"
							     : "the search does not end");
			break;
		}
		n += got;
	}
	rv = s->fn->C_FindObjectsFinal(s->handle);
	if (rc == HC_OK && rv != CKR_OK)
		rc = hc_fail_p11(err, "C_FindObjectsFinal", rv, "searching objects");
	if (rc != HC_OK) {
		free(list);
		return rc;
	}
	*objects = list;
	*found = n;
	return HC_OK;
}

/* Attributes of fixed size: their buffers are exact, so "unavailable" is final. */
static CK_ULONG fixed_size(CK_ATTRIBUTE_TYPE t)
{
#define FLAG_CASE(field, cka, name, column) case cka:
	switch (t) {
		HC_KEY_FLAGS(FLAG_CASE)
	case CKA_TRUSTED:
	case CKA_SIGN:
	case CKA_VERIFY:
	case CKA_DECRYPT:
	case CKA_ENCRYPT:
	case CKA_WRAP:
	case CKA_UNWRAP:
	case CKA_DERIVE:
	case CKA_SIGN_RECOVER:
	case CKA_VERIFY_RECOVER: return sizeof(CK_BBOOL);
	case CKA_CLASS:
	case CKA_KEY_TYPE:
	case CKA_CERTIFICATE_TYPE:
	case CKA_KEY_GEN_MECHANISM:
	case CKA_MODULUS_BITS:
	case CKA_VALUE_LEN:
	case CKA_CERTIFICATE_CATEGORY: return sizeof(CK_ULONG);
	default: return 0;
	}
#undef FLAG_CASE
}

/*
 * A first guess for variable-size values, big enough for the usual case.
 * One byte more than a round size: the buffer's size is also the mark of an
 * attribute the token did not answer (see ask), and no value is likely to
 * fill it exactly.
 */
static CK_ULONG guess_size(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_VALUE: return 4097;
	case CKA_MODULUS: return 513;
	case CKA_PUBLIC_KEY_INFO: return 1025;
	default: return 257;
	}
}

/*
 * What a fixed-size buffer holds before the call: no CK_BBOOL a token writes
 * and no CK_ULONG it has a meaning for. Fixed sizes keep their exact buffer
 * (NSS converts its stored 4-byte numbers only into a buffer of exactly
 * sizeof(CK_ULONG)), so the fill, not the length, marks one unanswered.
 */
#define HC_UNWRITTEN 0xA5

static CK_ULONG buffer_size(CK_ATTRIBUTE_TYPE t)
{
	CK_ULONG size = fixed_size(t);

	return size ? size : guess_size(t);
}

/* Still as it was before the call: length `mark` and, for a fixed size, the fill. */
static bool unanswered(const CK_ATTRIBUTE *a, CK_ULONG mark)
{
	if (a->ulValueLen != mark)
		return false;
	if (!a->pValue || !fixed_size(a->type))
		return true;
	for (CK_ULONG i = 0; i < mark; i++)
		if (((const unsigned char *)a->pValue)[i] != HC_UNWRITTEN)
			return false;
	return true;
}

static void mark_unavailable(CK_ATTRIBUTE *a)
{
	free(a->pValue);
	a->pValue = NULL;
	a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
}

static bool rv_is_per_attribute(CK_RV rv)
{
	return rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
	       rv == CKR_BUFFER_TOO_SMALL;
}

/*
 * C_GetAttributeValue, keeping our buffers: some modules (tpm2-pkcs11) set
 * pValue to NULL for an attribute they do not have, and the buffer would be
 * lost; such an attribute is unavailable.
 */
static CK_RV get_values(hc_session *s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs, CK_ULONG count)
{
	void *mine[8], **kept = count <= 8 ? mine : calloc(count, sizeof(*kept));
	CK_RV rv;

	if (!kept)
		return CKR_HOST_MEMORY;
	for (CK_ULONG i = 0; i < count; i++)
		kept[i] = attrs[i].pValue;
	rv = s->fn->C_GetAttributeValue(s->handle, object, attrs, count);
	for (CK_ULONG i = 0; i < count; i++) {
		if (attrs[i].pValue != kept[i]) {
			free(kept[i]);
			attrs[i].pValue = NULL;
			attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
		}
	}
	if (kept != mine)
		free(kept);
	return rv;
}

/*
 * A fixed-size buffer still as it was after the token's answer was not
 * answered, whatever the CKR_ (some tokens say CKR_OK and leave one
 * unwritten): unknown, never the fill read as a value (0xA5 reads as
 * CK_TRUE).
 */
static void unanswered_fixed_unavailable(CK_ATTRIBUTE *attrs, CK_ULONG count, const CK_ULONG *mark)
{
	for (CK_ULONG i = 0; i < count; i++)
		if (fixed_size(attrs[i].type) && unanswered(&attrs[i], mark[i]))
			attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
}

/*
 * One C_GetAttributeValue for all of `attrs`, each set up so that an answer
 * changes it: ulValueLen a length no answer carries (`mark`: the buffer is
 * a byte longer than a value fills, or a size query's impossible size) or a
 * fixed-size buffer filled with HC_UNWRITTEN. PKCS#11 wants every attribute
 * answered even when one cannot be (CKR_ATTRIBUTE_SENSITIVE, _TYPE_INVALID,
 * BUFFER_TOO_SMALL), and a compliant token costs this one call; some tokens
 * stop at the first such attribute and leave the later ones as they were.
 * Those are asked again one at a time, on this object only. The answer is
 * the first call's, or CKR_BUFFER_TOO_SMALL when only the second round
 * found one too small.
 */
static CK_RV ask(hc_session *s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs, CK_ULONG count,
		 const CK_ULONG *mark)
{
	CK_RV rv = get_values(s, object, attrs, count), one;

	if (rv == CKR_OK)
		unanswered_fixed_unavailable(attrs, count, mark);
	if (rv == CKR_OK || !rv_is_per_attribute(rv))
		return rv;
	for (CK_ULONG i = 0; i < count; i++) {
		if (!unanswered(&attrs[i], mark[i]))
			continue;
		one = get_values(s, object, &attrs[i], 1);
		if (!rv_is_per_attribute(one))
			return one;
		if (one == CKR_BUFFER_TOO_SMALL)
			rv = CKR_BUFFER_TOO_SMALL;
		/* Asked alone and still not answered: the token has nothing to say. */
		if (one != CKR_OK && unanswered(&attrs[i], mark[i]))
			attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
	}
	unanswered_fixed_unavailable(attrs, count, mark);
	return rv;
}

hc_rc hc_attrs_get(hc_session *s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs, CK_ULONG count,
		   hc_error *err)
{
	return hc_attrs_get_applicable(s, object, attrs, count, NULL, err);
}

/* A size query's mark: more than any value (HC_ATTR_MAX), not CK_UNAVAILABLE_INFORMATION. */
#define HC_SIZE_UNANSWERED (CK_UNAVAILABLE_INFORMATION - 1)

hc_rc hc_attrs_get_applicable(hc_session *s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
			      CK_ULONG count, hc_attr_applicable_fn applicable, hc_error *err)
{
	CK_ULONG *cap = calloc(count ? count : 1, sizeof(*cap));
	CK_ATTRIBUTE *retry = NULL;
	CK_ULONG *asked = NULL; /* the buffer sizes (and marks) of the last round */
	CK_ULONG nretry = 0;
	hc_rc rc = HC_OK;
	CK_RV rv;

	if (!cap)
		return hc_fail(err, HC_IO, "out of memory");
	for (CK_ULONG i = 0; i < count; i++) {
		cap[i] = buffer_size(attrs[i].type);
		attrs[i].pValue = malloc(cap[i]);
		attrs[i].ulValueLen = cap[i];
		if (!attrs[i].pValue) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		if (fixed_size(attrs[i].type))
			memset(attrs[i].pValue, HC_UNWRITTEN, cap[i]);
	}
	rv = ask(s, object, attrs, count, cap);
	if (!rv_is_per_attribute(rv)) {
		rc = hc_fail_p11(err, "C_GetAttributeValue", rv, "reading object attributes");
		goto out;
	}
	/*
	 * Lengths come from the token and are not trusted (issue 14.10): a value
	 * longer than its buffer after CKR_OK, or CKR_BUFFER_TOO_SMALL with no
	 * attribute marked, cannot be interpreted, and no value of the answer
	 * can be relied on.
	 */
	{
		bool marked = false, overlong = false;
		for (CK_ULONG i = 0; i < count; i++) {
			if (attrs[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
				marked = true;
			else if (attrs[i].ulValueLen > cap[i])
				marked = overlong = true;
		}
		if ((rv == CKR_OK && overlong) || (rv == CKR_BUFFER_TOO_SMALL && !marked)) {
			rc = hc_fail_p11(err, "C_GetAttributeValue", rv,
					 "reading object attributes: the token's answer cannot be "
					 "interpreted (%s)",
					 overlong ? "a length beyond its buffer"
						  : "no attribute marked as too small");
			goto out;
		}
	}
	if (rv == CKR_OK)
		goto out;

	/*
	 * Some value was unavailable. For a fixed-size attribute that is final; a
	 * variable one may only have outgrown its guess: ask its size, fetch again.
	 * When the token did not answer CKR_BUFFER_TOO_SMALL, attributes the object
	 * cannot have (by its class and type) are not asked again: one round trip
	 * per object in the usual case.
	 */
	retry = calloc(count, sizeof(*retry));
	asked = calloc(count, sizeof(*asked));
	if (!retry || !asked) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	for (CK_ULONG i = 0; i < count; i++) {
		if (attrs[i].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		    attrs[i].ulValueLen <= cap[i])
			continue;
		if (!fixed_size(attrs[i].type) && (rv == CKR_BUFFER_TOO_SMALL || !applicable ||
						   applicable(attrs, count, attrs[i].type))) {
			asked[nretry] = HC_SIZE_UNANSWERED;
			retry[nretry++] = (CK_ATTRIBUTE){attrs[i].type, NULL, HC_SIZE_UNANSWERED};
		}
	}
	for (CK_ULONG i = 0; i < count; i++)
		if (attrs[i].ulValueLen == CK_UNAVAILABLE_INFORMATION ||
		    attrs[i].ulValueLen > cap[i])
			mark_unavailable(&attrs[i]);
	if (nretry == 0)
		goto out;
	rv = ask(s, object, retry, nretry, asked);
	if (!rv_is_per_attribute(rv)) {
		rc = hc_fail_p11(err, "C_GetAttributeValue", rv, "reading object attributes");
		goto out;
	}
	{
		bool any = false;
		for (CK_ULONG j = 0; j < nretry; j++) {
			if (retry[j].ulValueLen == CK_UNAVAILABLE_INFORMATION ||
			    retry[j].ulValueLen == HC_SIZE_UNANSWERED) {
				retry[j].ulValueLen = CK_UNAVAILABLE_INFORMATION;
				asked[j] = 0;
				continue;
			}
			if (retry[j].ulValueLen > HC_ATTR_MAX) {
				rc = hc_fail_p11(err, "C_GetAttributeValue", CKR_OK,
						 "reading object attributes: the token reports %lu "
						 "bytes for %s, more than any value can hold",
						 (unsigned long)retry[j].ulValueLen,
						 hc_cka_name(retry[j].type));
				goto out;
			}
			/* A byte more than the size told: the mark of no answer. */
			asked[j] = retry[j].ulValueLen + 1;
			retry[j].pValue = malloc(asked[j]);
			if (!retry[j].pValue) {
				rc = hc_fail(err, HC_IO, "out of memory");
				goto out;
			}
			retry[j].ulValueLen = asked[j];
			any = true;
		}
		/* Nothing has a value after all: no third round trip. */
		if (!any)
			goto out;
	}
	{
		/* Only the attributes with a size are fetched, gathered at the front. */
		CK_ULONG n = 0;
		for (CK_ULONG j = 0; j < nretry; j++) {
			if (!retry[j].pValue)
				continue;
			CK_ATTRIBUTE a = retry[j];
			CK_ULONG m = asked[j];
			retry[j] = retry[n];
			asked[j] = asked[n];
			retry[n] = a;
			asked[n++] = m;
		}
		rv = ask(s, object, retry, n, asked);
		if (!rv_is_per_attribute(rv) || rv == CKR_BUFFER_TOO_SMALL) {
			rc = hc_fail_p11(err, "C_GetAttributeValue", rv,
					 "reading object attributes");
			goto out;
		}
		for (CK_ULONG j = 0; j < n; j++) {
			if (retry[j].pValue && retry[j].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
			    retry[j].ulValueLen >= asked[j]) {
				rc = hc_fail_p11(err, "C_GetAttributeValue", rv,
						 "reading object attributes: the token's answer "
						 "cannot be interpreted (%s longer than its size)",
						 hc_cka_name(retry[j].type));
				goto out;
			}
		}
	}
	for (CK_ULONG j = 0; j < nretry; j++) {
		for (CK_ULONG i = 0; i < count; i++) {
			if (attrs[i].type == retry[j].type && attrs[i].pValue == NULL) {
				attrs[i].pValue = retry[j].pValue;
				attrs[i].ulValueLen = retry[j].ulValueLen;
				retry[j].pValue = NULL;
				if (attrs[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
					mark_unavailable(&attrs[i]);
				break;
			}
		}
	}
out:
	if (retry) {
		for (CK_ULONG j = 0; j < nretry; j++)
			free(retry[j].pValue);
		free(retry);
	}
	free(asked);
	free(cap);
	if (rc != HC_OK)
		hc_attrs_release(attrs, count);
	return rc;
}

void hc_attrs_release(CK_ATTRIBUTE *attrs, CK_ULONG count)
{
	for (CK_ULONG i = 0; i < count; i++) {
		free(attrs[i].pValue);
		attrs[i].pValue = NULL;
		attrs[i].ulValueLen = 0;
	}
}

CK_RV hc_attrs_probe(hc_session *s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs, CK_ULONG count)
{
	return s->fn->C_GetAttributeValue(s->handle, object, attrs, count);
}

bool hc_attr_available(const CK_ATTRIBUTE *a)
{
	return a && a->pValue && a->ulValueLen != CK_UNAVAILABLE_INFORMATION;
}

int hc_attr_bool(const CK_ATTRIBUTE *a)
{
	if (!hc_attr_available(a) || a->ulValueLen != sizeof(CK_BBOOL))
		return -1;
	return *(CK_BBOOL *)a->pValue ? 1 : 0;
}

bool hc_attr_ulong(const CK_ATTRIBUTE *a, CK_ULONG *out)
{
	if (!hc_attr_available(a) || a->ulValueLen != sizeof(CK_ULONG))
		return false;
	memcpy(out, a->pValue, sizeof(CK_ULONG));
	return true;
}

const CK_ATTRIBUTE *hc_attr_find(const CK_ATTRIBUTE *attrs, CK_ULONG count, CK_ATTRIBUTE_TYPE t)
{
	for (CK_ULONG i = 0; i < count; i++)
		if (attrs[i].type == t)
			return &attrs[i];
	return NULL;
}

hc_rc hc_attrs_set(hc_session *s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs, CK_ULONG count,
		   hc_error *err)
{
	CK_RV rv = s->fn->C_SetAttributeValue(s->handle, object, attrs, count);

	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_SetAttributeValue", rv, "setting %s",
				   hc_cka_name(attrs[0].type));
	return HC_OK;
}

hc_rc hc_object_destroy(hc_session *s, CK_OBJECT_HANDLE object, hc_error *err)
{
	CK_RV rv = s->fn->C_DestroyObject(s->handle, object);

	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_DestroyObject", rv, "destroying object");
	return HC_OK;
}

hc_rc hc_object_create(hc_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out,
		       hc_error *err)
{
	CK_RV rv = s->fn->C_CreateObject(s->handle, tmpl, count, out);

	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_CreateObject", rv, "creating object");
	return HC_OK;
}

hc_rc hc_object_create_optional(hc_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG count,
				const CK_ATTRIBUTE_TYPE *optional, size_t optional_count,
				CK_OBJECT_HANDLE *out, bool *dropped, hc_error *err)
{
	CK_ATTRIBUTE *kept;
	CK_ULONG n = 0;
	CK_RV rv = s->fn->C_CreateObject(s->handle, tmpl, count, out);

	if (dropped)
		*dropped = false;
	if (rv == CKR_OK)
		return HC_OK;
	if (rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_VALUE_INVALID &&
	    rv != CKR_TEMPLATE_INCONSISTENT)
		return hc_fail_p11(err, "C_CreateObject", rv, "creating object");
	/* openCryptoki 3.8 knows no CKA_CERTIFICATE_CATEGORY: try again without the optional ones.
	 */
	if (!(kept = calloc(count ? count : 1, sizeof(*kept))))
		return hc_fail(err, HC_IO, "out of memory");
	for (CK_ULONG i = 0; i < count; i++) {
		bool opt = false;
		for (size_t j = 0; j < optional_count; j++)
			opt |= tmpl[i].type == optional[j];
		if (!opt)
			kept[n++] = tmpl[i];
	}
	if (n < count)
		rv = s->fn->C_CreateObject(s->handle, kept, n, out);
	free(kept);
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_CreateObject", rv, "creating object");
	if (dropped)
		*dropped = true;
	return HC_OK;
}
