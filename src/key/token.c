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

/*
 * Destroy every object a read-write session without login sees on a token
 * that C_InitToken has just reset, and count again. NSS softoken resets its
 * key database only: certificates and public keys stay behind. Returns the
 * number left (-1 when it cannot be counted); *why gets the first refusal.
 */
static long destroy_leftovers(hc_module *mod, const hc_slot *slot, long *destroyed, hc_error *why)
{
	hc_session *s = NULL;
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;

	*destroyed = 0;
	if (hc_session_open(mod, slot, true, &s, why) != HC_OK)
		return -1;
	if (hc_objects_find(s, NULL, 0, &found, &n, why) == HC_OK) {
		for (size_t i = 0; i < n; i++) {
			hc_error e = {0};
			if (hc_object_destroy(s, found[i], &e) == HC_OK)
				(*destroyed)++;
			else if (!why->message[0])
				*why = e;
		}
	}
	free(found);
	hc_session_close(s);
	return count_public_objects(mod, slot);
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
	hc_secret *no_pin = NULL;
	const hc_secret *so_pin = p->so_pin;
	char label_now[33];
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (!slot->has_token)
		return hc_fail(err, HC_TOKEN, "slot %lu has no token", slot->id);
	if (slot->token.flags & CKF_WRITE_PROTECTED)
		return hc_fail(err, HC_TOKEN, "the token in slot %lu is write-protected", slot->id);
	if (!hc_token_has_so_pin(slot)) {
		/* NSS softoken: an empty SO PIN at C_InitToken and at the SO's login. */
		out->so_pin_unused = true;
		if (!(no_pin = hc_secret_new("", 0)))
			return hc_fail(err, HC_IO, "out of memory");
		so_pin = no_pin;
	}
	if ((rc = hc_token_check_pin_lengths(&slot->token, out->so_pin_unused ? NULL : so_pin,
					     p->user_pin, err)) != HC_OK)
		goto done;

	if (slot->token.flags & CKF_TOKEN_INITIALIZED) {
		char label[33];
		long n = count_public_objects(mod, slot);
		/* Private objects cannot be seen without the user's login: unknown then. */
		bool private_unknown = slot->token.flags & CKF_USER_PIN_INITIALIZED;
		HC_P11_STRING(slot->token.label, label);
		out->reinitialised = true;
		out->objects_destroyed = private_unknown ? -1 : n;
		if (!p->force && n > 0) {
			rc = hc_error_hint(
				err, HC_HINT_FORCE_ERASE,
				hc_fail(err, HC_CHECK,
					"token '%s' holds %ld public object%s%s; "
					"re-initialising destroys them",
					label, n, n == 1 ? "" : "s",
					private_unknown ? " and perhaps private ones" : ""));
			goto done;
		}
		if (!p->force && (n < 0 || private_unknown)) {
			rc = hc_error_hint(err, HC_HINT_FORCE_ERASE,
					   hc_fail(err, HC_CHECK,
						   "token '%s' is initialised; its private objects "
						   "cannot be counted without logging in, and it "
						   "may hold keys",
						   label));
			goto done;
		}
	}

	rc = hc_token_initialize(mod, slot->id, so_pin, p->label, err);
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
		goto done;
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
	 * public keys remain. They are destroyed here, and counted again, so that
	 * "its previous contents are gone" is true; if they stay, the error says so.
	 */
	if (out->reinitialised) {
		long left = count_public_objects(mod, &slots_after), destroyed = 0;
		hc_error why = {0};
		if (left > 0) {
			left = destroy_leftovers(mod, &slots_after, &destroyed, &why);
			out->leftovers_destroyed = destroyed;
			if (left != 0) {
				char count[48] = "an unknown number (they could not be counted)";
				if (left > 0)
					snprintf(count, sizeof(count), "%ld", left);
				rc = hc_fail(err, HC_TOKEN,
					     "C_InitToken succeeded but left public objects "
					     "(certificates, public keys) on token '%s'; %ld were "
					     "destroyed after it and %s remain%s%s. Its private "
					     "keys are gone; remove the rest with 'hsmcert delete'",
					     p->label, destroyed, count, why.message[0] ? ": " : "",
					     why.message);
				goto out;
			}
		}
	}
	if ((rc = hc_session_open(mod, &slots_after, true, &s, err)) != HC_OK)
		goto out;
	rc = hc_session_login(s, CKU_SO, so_pin, err);
	if (rc == HC_OK)
		rc = hc_session_init_pin(s, p->user_pin, err);
	hc_session_logout(s, NULL);
	hc_session_close(s);
	if (rc != HC_OK)
		goto out;
	/* The PIN is set: a failure to re-read the token's flags is not a half-made token. */
	out->half_initialised = false;
	if ((rc = hc_slot_refresh(mod, &slots_after, err)) != HC_OK)
		goto done;
	out->slot = slots_after;
	/* NSS softoken keeps the label its configuration gives (tokenDescription). */
	HC_P11_STRING(slots_after.token.label, label_now);
	out->label_kept = strcmp(label_now, p->label) != 0;
	rc = HC_OK;
	goto done;
out:
	/* Re-read so the caller names the token as it is now (a new label and serial). */
	if (hc_slot_refresh(mod, &slots_after, NULL) == HC_OK)
		out->slot = slots_after;
	else if (!out->slot.has_token)
		out->slot = *slot;
done:
	hc_secret_free(no_pin);
	return rc;
}
