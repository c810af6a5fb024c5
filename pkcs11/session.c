/* Sessions and login (SPEC: a wrong PIN is reported with the token's flags, never retried). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hc_rc hc_session_open(hc_module *mod, const hc_slot *slot, bool rw, hc_session **out, hc_error *err)
{
	hc_session *s = calloc(1, sizeof(*s));
	CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
	CK_RV rv;

	*out = NULL;
	if (!s)
		return hc_fail(err, HC_IO, "out of memory");
	s->mod = mod;
	s->fn = mod->fn;
	s->slot = *slot;
	rv = s->fn->C_OpenSession(slot->id, flags, NULL, NULL, &s->handle);
	if (rv != CKR_OK) {
		char label[33];
		HC_P11_STRING(slot->token.label, label);
		free(s);
		return hc_fail_p11(err, "C_OpenSession", rv, "opening a %s session on token '%s'",
				   rw ? "read-write" : "read-only", label);
	}
	*out = s;
	return HC_OK;
}

void hc_session_close(hc_session *session)
{
	if (!session)
		return;
	session->fn->C_CloseSession(session->handle);
	hc_secret_free(session->pin);
	free(session);
}

CK_SESSION_HANDLE hc_session_handle(const hc_session *session)
{
	return session->handle;
}

const hc_slot *hc_session_slot(const hc_session *session)
{
	return &session->slot;
}

hc_module *hc_session_module(const hc_session *session)
{
	return session->mod;
}

const char *hc_pin_flags_text(CK_FLAGS f, CK_USER_TYPE user)
{
	bool so = user == CKU_SO;

	if (f & (so ? CKF_SO_PIN_LOCKED : CKF_USER_PIN_LOCKED))
		return "PIN locked";
	if (f & (so ? CKF_SO_PIN_FINAL_TRY : CKF_USER_PIN_FINAL_TRY))
		return "final try: one more wrong PIN locks the token";
	if (f & (so ? CKF_SO_PIN_COUNT_LOW : CKF_USER_PIN_COUNT_LOW))
		return "tries left are low";
	return NULL;
}

hc_rc hc_session_login(hc_session *s, CK_USER_TYPE user, const hc_secret *pin, hc_error *err)
{
	const char *who = user == CKU_SO ? "SO" : "user";
	char label[33];
	CK_RV rv;

	HC_P11_STRING(s->slot.token.label, label);
	rv = s->fn->C_Login(s->handle, user, pin ? (CK_UTF8CHAR_PTR)pin->data : NULL,
			    pin ? pin->len : 0);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		s->logged_in = true;
		if (user == CKU_USER && pin && !s->pin)
			s->pin = hc_secret_new(pin->data, pin->len);
		return HC_OK;
	}

	hc_fail_p11(err, "C_Login", rv, "%s login to token '%s'", who, label);
	hc_p11_note_pin_state(s->fn, s->slot.id, user, rv, &s->slot.token, err);
	return HC_TOKEN;
}

void hc_p11_note_pin_state(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, CK_USER_TYPE user, CK_RV rv,
			   CK_TOKEN_INFO *token, hc_error *err)
{
	CK_TOKEN_INFO ti;
	const char *state;
	size_t used;

	if (rv != CKR_PIN_INCORRECT && rv != CKR_PIN_LOCKED && rv != CKR_PIN_LEN_RANGE)
		return;
	/* Read the flags the failure left, so the user knows how many tries remain. */
	if (fn->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return;
	if (token)
		*token = ti;
	state = hc_pin_flags_text(ti.flags, user);
	if (!state || !err)
		return;
	used = strlen(err->message);
	snprintf(err->message + used, sizeof(err->message) - used, " (%s)", state);
}

hc_rc hc_session_logout(hc_session *s, hc_error *err)
{
	CK_RV rv;

	if (!s->logged_in)
		return HC_OK;
	rv = s->fn->C_Logout(s->handle);
	s->logged_in = false;
	if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
		return hc_fail_p11(err, "C_Logout", rv, "logging out");
	return HC_OK;
}

hc_rc hc_session_init_pin(hc_session *s, const hc_secret *pin, hc_error *err)
{
	CK_RV rv = s->fn->C_InitPIN(s->handle, (CK_UTF8CHAR_PTR)pin->data, pin->len);

	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_InitPIN", rv, "setting the user PIN");
	return HC_OK;
}

bool hc_session_logged_in(const hc_session *s)
{
	return s->logged_in;
}
