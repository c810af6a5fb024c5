/* Token layer internals shared by the files in pkcs11/; not part of the public API. */
#ifndef HSMCERT_P11_INTERNAL_H
#define HSMCERT_P11_INTERNAL_H

#include "hsmcert/p11.h"

struct hc_module {
	CK_FUNCTION_LIST *fn;
	char *path;
	CK_INFO info;
	bool via_p11kit; /* loaded by p11_kit_module_load: release through p11-kit */
	bool managed;	 /* ... and managed: initialised and finalised through p11-kit */
	void *dl;	 /* the p11-kit proxy, which p11-kit will not load itself */
	bool finalize;	 /* we initialised it, so we finalise it */
	char *library;	 /* the library a p11-kit module file names */
	char *init_args; /* its x-init-reserved: C_Initialize's pReserved */
};

struct hc_session {
	hc_module *mod;
	CK_FUNCTION_LIST *fn;
	CK_SESSION_HANDLE handle;
	hc_slot slot;
	bool logged_in;
	/* The user PIN, kept for keys with CKA_ALWAYS_AUTHENTICATE; wiped when closed. */
	hc_secret *pin;
};

/*
 * After a PIN was refused (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, CKR_PIN_LEN_RANGE):
 * read the token's flags again and append "(tries left are low)" and the like
 * to err's message, as the SPEC asks of every wrong PIN. `token` (may be NULL)
 * receives the fresh token info. Other return values are left alone.
 */
void hc_p11_note_pin_state(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, CK_USER_TYPE user, CK_RV rv,
			   CK_TOKEN_INFO *token, hc_error *err);

/*
 * A session secret key with a known value: a key-encryption key (wrap and
 * unwrap) when `kek`, else an extractable, non-sensitive secret to be wrapped.
 */
CK_RV hc_p11_session_secret(hc_session *s, CK_KEY_TYPE kt, const unsigned char *value, CK_ULONG len,
			    bool kek, CK_OBJECT_HANDLE *out);

#endif
