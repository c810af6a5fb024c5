/* Secret key generation and key wrapping (SPEC: backup, audit --probe). */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/*
 * NSS softoken's vendor attribute (CKA_NSS + 0x5A0DB00 in its pkcs11n.h):
 * the public value a private key is filed under in its key database.
 */
#define HC_CKA_NSS_DB 0xD5A0DB00UL

hc_rc hc_key_generate(hc_session *s, CK_MECHANISM *mech, CK_ATTRIBUTE *tmpl, CK_ULONG count,
		      CK_OBJECT_HANDLE *out, hc_error *err)
{
	CK_RV rv = s->fn->C_GenerateKey(s->handle, mech, tmpl, count, out);

	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_GenerateKey", rv, "generating a key with %s",
				   hc_ckm_name(mech->mechanism));
	return HC_OK;
}

hc_rc hc_key_wrap(hc_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE wrapping,
		  CK_OBJECT_HANDLE key, unsigned char **wrapped, size_t *wrapped_len, hc_error *err)
{
	CK_ULONG len = 0, allocated;
	unsigned char *buf = NULL;
	CK_RV rv;

	*wrapped = NULL;
	*wrapped_len = 0;
	/* Ask the length first, then wrap into a buffer of that size. */
	rv = s->fn->C_WrapKey(s->handle, mech, wrapping, key, NULL, &len);
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_WrapKey", rv, "wrapping with %s",
				   hc_ckm_name(mech->mechanism));
	/* NSS's CKM_AES_KEY_WRAP_KWP asks for less than it writes: leave room for padding. */
	allocated = len + 16;
	len = allocated;
	buf = malloc(allocated);
	if (!buf)
		return hc_fail(err, HC_IO, "out of memory");
	rv = s->fn->C_WrapKey(s->handle, mech, wrapping, key, buf, &len);
	if (rv != CKR_OK) {
		/* A failing call may have rewritten len (BUFFER_TOO_SMALL): wipe what we own. */
		OPENSSL_clear_free(buf, allocated);
		return hc_fail_p11(err, "C_WrapKey", rv, "wrapping with %s",
				   hc_ckm_name(mech->mechanism));
	}
	*wrapped = buf;
	*wrapped_len = len;
	return HC_OK;
}

hc_rc hc_key_unwrap(hc_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE unwrapping,
		    const unsigned char *wrapped, size_t wrapped_len, CK_ATTRIBUTE *tmpl,
		    CK_ULONG count, CK_OBJECT_HANDLE *out, hc_error *err)
{
	CK_RV rv = s->fn->C_UnwrapKey(s->handle, mech, unwrapping, (CK_BYTE_PTR)wrapped,
				      wrapped_len, tmpl, count, out);

	if (rv != CKR_OK) {
		*out = CK_INVALID_HANDLE;
		return hc_fail_p11(err, "C_UnwrapKey", rv, "unwrapping with %s",
				   hc_ckm_name(mech->mechanism));
	}
	return HC_OK;
}

hc_rc hc_key_unwrap_private(hc_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE unwrapping,
			    const unsigned char *wrapped, size_t wrapped_len, CK_ATTRIBUTE *tmpl,
			    CK_ULONG count, const unsigned char *public_value, size_t public_len,
			    CK_OBJECT_HANDLE *out, hc_error *err)
{
	CK_ATTRIBUTE *more;
	hc_rc rc = hc_key_unwrap(s, mech, unwrapping, wrapped, wrapped_len, tmpl, count, out, err);

	/*
	 * NSS softoken answers CKR_TEMPLATE_INCOMPLETE to every EC private key
	 * unwrapped without CKA_NSS_DB, even when the PKCS#8 carries the public
	 * point (measured on 3.87, token and session objects alike; its own
	 * PKCS#12 import passes the attribute). Asked only after that refusal, so
	 * only a token that gave it sees the vendor attribute; when the second
	 * answer is a refusal too, the first one is reported (a token that does
	 * not know CKA_NSS_DB would otherwise hide what it lacked, and restore's
	 * negotiation goes by that first CKR_).
	 */
	if (rc == HC_OK || !public_value || !public_len || !err->has_ckr ||
	    err->ckr != CKR_TEMPLATE_INCOMPLETE)
		return rc;
	more = calloc(count + 1, sizeof(*more));
	if (!more)
		return hc_fail(err, HC_IO, "out of memory");
	memcpy(more, tmpl, count * sizeof(*more));
	more[count] = (CK_ATTRIBUTE){HC_CKA_NSS_DB, (void *)public_value, public_len};
	if (hc_key_unwrap(s, mech, unwrapping, wrapped, wrapped_len, more, count + 1, out,
			  &(hc_error){0}) == HC_OK) {
		hc_error_clear(err);
		rc = HC_OK;
	}
	free(more);
	return rc;
}
