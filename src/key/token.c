/* SPEC: init-token — never wipe keys by accident. */
#include "hsmcert/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Count the public objects of an initialised token, without logging in:
 * the PIN we hold is the new one, and a wrong login would spend one of the
 * token's tries. -1 when the search fails.
 */
static long count_public_objects(hc_module *mod, const hc_slot *slot)
{
	hc_session *s = NULL;
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	long count = -1;

	if (hc_session_open(mod, slot, false, &s, NULL) != HC_OK)
		return -1;
	if (hc_objects_find(s, NULL, 0, &found, &n, NULL) == HC_OK)
		count = (long)n;
	free(found);
	hc_session_close(s);
	return count;
}

/* One PIN's length in the token's range; a maximum of 0 or unavailable is no maximum. */
static hc_rc check_pin_length(const CK_TOKEN_INFO *t, const hc_secret *pin, const char *name,
			      hc_error *err)
{
	CK_ULONG min = t->ulMinPinLen, max = t->ulMaxPinLen;
	bool has_max = max != 0 && max != CK_UNAVAILABLE_INFORMATION;

	if (!pin)
		return HC_OK;
	if (pin->len < min || (has_max && pin->len > max)) {
		char range[48];
		if (has_max)
			snprintf(range, sizeof(range), "%lu to %lu bytes", (unsigned long)min,
				 (unsigned long)max);
		else
			snprintf(range, sizeof(range), "at least %lu bytes", (unsigned long)min);
		return hc_fail(
			err, HC_USAGE,
			"the %s is %zu bytes; this token takes %s (ulMinPinLen/ulMaxPinLen): "
			"nothing was changed",
			name, pin->len, range);
	}
	return HC_OK;
}

hc_rc hc_token_check_pin_lengths(const CK_TOKEN_INFO *token, const hc_secret *so_pin,
				 const hc_secret *user_pin, hc_error *err)
{
	hc_rc rc = check_pin_length(token, so_pin, "SO PIN", err);

	return rc != HC_OK ? rc : check_pin_length(token, user_pin, "user PIN", err);
}

hc_rc hc_token_init(hc_module *mod, const hc_slot *slot, const hc_token_init_params *p,
		    hc_token_init_result *out, hc_error *err)
{
	hc_session *s = NULL;
	hc_slot slots_after;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (!slot->has_token)
		return hc_fail(err, HC_TOKEN, "slot %lu has no token", slot->id);
	if (slot->token.flags & CKF_WRITE_PROTECTED)
		return hc_fail(err, HC_TOKEN, "the token in slot %lu is write-protected", slot->id);
	if ((rc = hc_token_check_pin_lengths(&slot->token, p->so_pin, p->user_pin, err)) != HC_OK)
		return rc;

	if (slot->token.flags & CKF_TOKEN_INITIALIZED) {
		char label[33];
		long n = count_public_objects(mod, slot);
		/* Private objects cannot be seen without the user's login: unknown then. */
		bool private_unknown = slot->token.flags & CKF_USER_PIN_INITIALIZED;
		HC_P11_STRING(slot->token.label, label);
		out->reinitialised = true;
		out->objects_destroyed = private_unknown ? -1 : n;
		if (!p->force && n > 0)
			return hc_error_hint(
				err, HC_HINT_FORCE_ERASE,
				hc_fail(err, HC_CHECK,
					"token '%s' holds %ld public object%s%s; "
					"re-initialising destroys them",
					label, n, n == 1 ? "" : "s",
					private_unknown ? " and perhaps private ones" : ""));
		if (!p->force && (n < 0 || private_unknown))
			return hc_error_hint(
				err, HC_HINT_FORCE_ERASE,
				hc_fail(err, HC_CHECK,
					"token '%s' is initialised; its private objects "
					"cannot be counted without logging in, and it "
					"may hold keys",
					label));
	}

	rc = hc_token_initialize(mod, slot->id, p->so_pin, p->label, err);
	if (rc != HC_OK) {
		/* tpm2-pkcs11 answers CKR_ARGUMENTS_BAD ("Token already initialized"). */
		if (out->reinitialised && err->has_ckr &&
		    (err->ckr == CKR_ARGUMENTS_BAD || err->ckr == CKR_FUNCTION_NOT_SUPPORTED ||
		     err->ckr == CKR_FUNCTION_FAILED))
			snprintf(err->message + strlen(err->message),
				 sizeof(err->message) - strlen(err->message),
				 "; this token does not re-initialise through PKCS#11: nothing "
				 "was changed. Use its own tool (for tpm2-pkcs11: tpm2_ptool "
				 "rmtoken, then addtoken)");
		return rc;
	}

	/*
	 * From here on the token is erased: any failure leaves it initialised
	 * without a user PIN, and the caller must be able to say so.
	 */
	out->half_initialised = true;
	/* The user PIN is set by the SO in a read-write session on the new token. */
	slots_after = *slot;
	if ((rc = hc_slot_refresh(mod, &slots_after, err)) != HC_OK)
		goto out;
	out->slot = slots_after;
	/*
	 * SPEC: after a re-initialisation the token is checked to be empty. NSS
	 * softoken's C_InitToken resets its key database only: certificates and
	 * public keys remain, and saying "its contents are gone" would be false.
	 */
	if (out->reinitialised) {
		long left = count_public_objects(mod, &slots_after);
		if (left > 0) {
			rc = hc_fail(err, HC_TOKEN,
				     "C_InitToken succeeded but %ld public object%s (certificates, "
				     "public keys) remain on token '%s': this token does not "
				     "erase them on re-initialisation. Its private keys are gone; "
				     "remove the rest with 'hsmcert delete', and set the user PIN "
				     "with the token's own tool",
				     left, left == 1 ? "" : "s", p->label);
			goto out;
		}
	}
	if ((rc = hc_session_open(mod, &slots_after, true, &s, err)) != HC_OK)
		goto out;
	rc = hc_session_login(s, CKU_SO, p->so_pin, err);
	if (rc == HC_OK)
		rc = hc_session_init_pin(s, p->user_pin, err);
	hc_session_logout(s, NULL);
	hc_session_close(s);
	if (rc != HC_OK)
		goto out;
	/* The PIN is set: a failure to re-read the token's flags is not a half-made token. */
	out->half_initialised = false;
	if ((rc = hc_slot_refresh(mod, &slots_after, err)) != HC_OK)
		return rc;
	out->slot = slots_after;
	return HC_OK;
out:
	/* Re-read so the caller names the token as it is now (a new label and serial). */
	if (hc_slot_refresh(mod, &slots_after, NULL) == HC_OK)
		out->slot = slots_after;
	else if (!out->slot.has_token)
		out->slot = *slot;
	return rc;
}
