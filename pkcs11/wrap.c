/* Secret key generation and key wrapping (SPEC: backup, audit --probe). */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdlib.h>

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
