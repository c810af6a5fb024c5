/* SPEC: tokens — modules, slots and tokens, read completely before they are shown. */
#include "hsmcert/token.h"

#include <stdlib.h>
#include <string.h>

void hc_token_identity_make(const CK_TOKEN_INFO *t, hc_token_identity *out)
{
	HC_P11_STRING(t->label, out->label);
	HC_P11_STRING(t->manufacturerID, out->manufacturer);
	HC_P11_STRING(t->model, out->model);
	HC_P11_STRING(t->serialNumber, out->serial);
	out->uri = hc_uri_for_token(t);
}

void hc_token_identity_clear(hc_token_identity *id)
{
	free(id->uri);
	memset(id, 0, sizeof(*id));
}

bool hc_mech_in_group(const hc_mechanism *mech, hc_mech_group group)
{
	static const CK_FLAGS flags[HC_MECH_GROUPS] = {
		[HC_MECH_KEY_GENERATION] = CKF_GENERATE_KEY_PAIR | CKF_GENERATE,
		[HC_MECH_SIGNING] = CKF_SIGN,
		[HC_MECH_WRAPPING] = CKF_WRAP | CKF_UNWRAP,
	};

	return group < HC_MECH_GROUPS && (mech->info.flags & flags[group]) != 0;
}

static const char *pin_state(CK_FLAGS f, CK_USER_TYPE user)
{
	const char *s;

	if (!(f & CKF_TOKEN_INITIALIZED))
		return "not set";
	s = hc_pin_flags_text(f, user);
	if (s)
		return s;
	if (user == CKU_USER && !(f & CKF_USER_PIN_INITIALIZED))
		return "not set";
	if (user == CKU_USER && (f & CKF_USER_PIN_TO_BE_CHANGED))
		return "must be changed";
	return "ok";
}

static hc_rc entry_read(hc_module *mod, const hc_slot *slot, bool mechanisms, hc_token_entry *e,
			hc_error *err)
{
	hc_rc rc;

	e->slot = *slot;
	HC_P11_STRING(slot->info.slotDescription, e->description);
	HC_P11_STRING(slot->info.manufacturerID, e->slot_manufacturer);
	if (!slot->has_token)
		return HC_OK;
	hc_token_identity_make(&slot->token, &e->id);
	e->user_pin = pin_state(slot->token.flags, CKU_USER);
	e->so_pin = pin_state(slot->token.flags, CKU_SO);
	if (!mechanisms)
		return HC_OK;
	rc = hc_slot_mechanisms(mod, slot->id, &e->mechanisms, &e->mechanism_count, err);
	e->has_mechanisms = rc == HC_OK;
	return rc;
}

hc_rc hc_token_list_read(hc_module *mod, const hc_uri *filter, bool mechanisms, hc_token_list *out,
			 hc_error *err)
{
	const CK_INFO *info = hc_module_info(mod);
	hc_slot *slots = NULL;
	size_t n = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->filtered = filter != NULL;
	out->module_path = strdup(hc_module_path(mod));
	if (!out->module_path)
		return hc_fail(err, HC_IO, "out of memory");
	HC_P11_STRING(info->libraryDescription, out->module_description);
	HC_P11_STRING(info->manufacturerID, out->module_manufacturer);
	out->module_version = info->libraryVersion;
	out->cryptoki_version = info->cryptokiVersion;
	rc = hc_module_registered(mod, &out->registered, &out->registered_count, err);
	if (rc == HC_OK) {
		/* Every slot (empty ones too), or those the filter names. */
		hc_token_query q = {.uri = filter, .state = HC_TOKEN_ANY_SLOT};
		rc = hc_token_find(mod, &q, &slots, &n, err);
	}
	if (rc == HC_OK && n && !(out->entries = calloc(n, sizeof(*out->entries))))
		rc = hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; rc == HC_OK && i < n; i++) {
		rc = entry_read(mod, &slots[i], mechanisms, &out->entries[out->count], err);
		out->count++; /* cleared with the others, even half read */
	}
	free(slots);
	if (rc != HC_OK)
		hc_token_list_clear(out);
	return rc;
}

void hc_token_list_clear(hc_token_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		hc_token_identity_clear(&list->entries[i].id);
		free(list->entries[i].mechanisms);
	}
	free(list->entries);
	free(list->module_path);
	hc_registered_modules_free(list->registered, list->registered_count);
	memset(list, 0, sizeof(*list));
}
