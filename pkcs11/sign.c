/*
 * C_SignInit / C_Sign: signing inside the token, with the context-specific
 * login a CKA_ALWAYS_AUTHENTICATE key needs for each signature.
 */
#include "internal.h"

#include <stdlib.h>

hc_rc hc_sign(hc_session *s, CK_OBJECT_HANDLE key, CK_MECHANISM *mech, const unsigned char *data,
              size_t data_len, unsigned char **sig, size_t *sig_len, hc_error *err)
{
	return hc_sign_reauth(s, key, mech, false, data, data_len, sig, sig_len, err);
}

hc_rc hc_sign_reauth(hc_session *s, CK_OBJECT_HANDLE key, CK_MECHANISM *mech, bool reauth,
                     const unsigned char *data, size_t data_len, unsigned char **sig,
                     size_t *sig_len, hc_error *err)
{
	CK_ULONG len = 0;
	unsigned char *buf;
	CK_RV rv;

	*sig = NULL;
	*sig_len = 0;
	if (reauth && !s->pin)
		return hc_fail(err, HC_TOKEN,
		               "the key needs the user PIN for each signature "
		               "(CKA_ALWAYS_AUTHENTICATE) and this session has none");
	rv = s->fn->C_SignInit(s->handle, mech, key);
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_SignInit", rv, "signing with %s",
		                   hc_ckm_name(mech->mechanism));
	if (reauth) {
		/* PKCS#11 4.9: an always-authenticate key signs once per context-specific login. */
		rv = s->fn->C_Login(s->handle, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)s->pin->data,
		                    s->pin->len);
		if (rv != CKR_OK) {
			unsigned char scratch[1024];
			CK_ULONG n = sizeof(scratch);
			s->fn->C_Sign(s->handle, (CK_BYTE_PTR)data, data_len, scratch, &n);
			return hc_fail_p11(err, "C_Login", rv,
			                   "the PIN for this signature "
			                   "(CKA_ALWAYS_AUTHENTICATE)");
		}
	}
	/* Ask the length first; this call keeps the operation active per the spec. */
	rv = s->fn->C_Sign(s->handle, (CK_BYTE_PTR)data, data_len, NULL, &len);
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_Sign", rv, "signing with %s",
		                   hc_ckm_name(mech->mechanism));
	buf = malloc(len ? len : 1);
	if (!buf)
		return hc_fail(err, HC_IO, "out of memory");
	rv = s->fn->C_Sign(s->handle, (CK_BYTE_PTR)data, data_len, buf, &len);
	if (rv != CKR_OK) {
		free(buf);
		return hc_fail_p11(err, "C_Sign", rv, "signing with %s",
		                   hc_ckm_name(mech->mechanism));
	}
	*sig = buf;
	*sig_len = len;
	return HC_OK;
}
