/*
 * Token selection, in one place: which slots a query (a URI, a slot ID, the
 * token's state) names, and the one a command works on. Every command that
 * picks a token comes here: the token-using commands (hc_token_select),
 * init-token (--slot, --free, --token) and the `tokens --token` filter.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool state_matches(hc_token_state state, const hc_slot *slot)
{
	bool initialised = slot->has_token && (slot->token.flags & CKF_TOKEN_INITIALIZED);

	switch (state) {
	case HC_TOKEN_ANY_SLOT: return true;
	case HC_TOKEN_PRESENT: return slot->has_token;
	case HC_TOKEN_INITIALISED: return initialised;
	case HC_TOKEN_UNINITIALISED: return slot->has_token && !initialised;
	}
	return false;
}

bool hc_token_query_matches(const hc_token_query *q, const hc_module *mod, const hc_slot *slot)
{
	if (!state_matches(q->state, slot))
		return false;
	if (q->by_slot_id && slot->id != q->slot_id)
		return false;
	return !q->uri || hc_uri_matches_slot(q->uri, mod, slot);
}

hc_rc hc_token_find(hc_module *mod, const hc_token_query *q, hc_slot **out, size_t *count,
		    hc_error *err)
{
	hc_slot *slots = NULL;
	size_t n = 0, kept = 0;
	hc_rc rc;

	*out = NULL;
	*count = 0;
	if ((rc = hc_slots_list(mod, q->state != HC_TOKEN_ANY_SLOT, &slots, &n, err)) != HC_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (hc_token_query_matches(q, mod, &slots[i]))
			slots[kept++] = slots[i];
	*out = slots;
	*count = kept;
	return HC_OK;
}

/* Append "'label'" (or "ID 'label'") to a comma-separated list, keeping room for the rest. */
static void list_token(char *names, size_t cap, const hc_slot *slot, bool with_id)
{
	char label[33];
	size_t used = strlen(names);
	bool initialised = slot->token.flags & CKF_TOKEN_INITIALIZED;

	if (used >= cap - 60)
		return;
	HC_P11_STRING(slot->token.label, label);
	if (with_id)
		snprintf(names + used, cap - used, "%s%lu (%s%s%s)", used ? ", " : "", slot->id,
			 initialised ? "'" : "", initialised ? label : "not initialised",
			 initialised ? "'" : "");
	else
		snprintf(names + used, cap - used, "%s'%s'", used ? ", " : "", label);
}

/* What the query asked for, in words: "--slot" style names are the CLI's to add. */
static void describe_query(const hc_token_query *q, char *out, size_t n)
{
	if (q->by_slot_id)
		snprintf(out, n, "slot ID %lu", q->slot_id);
	else if (q->uri)
		snprintf(out, n, "%s", hc_uri_text(q->uri));
	else
		snprintf(out, n, "(no token named)");
}

hc_rc hc_token_pick(hc_module *mod, const hc_token_query *q, bool first, hc_slot *out,
		    hc_error *err)
{
	hc_slot *slots = NULL;
	size_t n = 0, matches = 0;
	/* For the messages: what is there, and what matched. */
	char present[512] = "", names[512] = "", asked[300];
	bool initialised_only = q->state == HC_TOKEN_INITIALISED;
	hc_rc rc;

	if ((rc = hc_slots_list(mod, true, &slots, &n, err)) != HC_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (!slots[i].has_token)
			continue;
		if (!initialised_only || (slots[i].token.flags & CKF_TOKEN_INITIALIZED))
			list_token(present, sizeof(present), &slots[i], !initialised_only);
		if (!hc_token_query_matches(q, mod, &slots[i]))
			continue;
		if (matches++ == 0)
			*out = slots[i];
		list_token(names, sizeof(names), &slots[i], false);
		if (first)
			break;
	}
	free(slots);
	if (matches == 1)
		return HC_OK;
	describe_query(q, asked, sizeof(asked));
	if (matches > 1)
		return hc_error_hint(
			err, HC_HINT_TOKEN_URI,
			hc_fail(err, HC_USAGE, "%zu tokens match %s: %s", matches, asked, names));
	/* A URI or slot ID that names no token is the user's input (2), not a token failure. */
	if (q->by_slot_id)
		return hc_fail(err, HC_USAGE,
			       "no slot with ID %lu holds a token; slots with a token: %s",
			       q->slot_id, present[0] ? present : "none");
	if (q->uri && initialised_only)
		return hc_fail(err, HC_USAGE, "no initialised token matches %s (module %s); %s%s",
			       asked, hc_module_path(mod),
			       present[0] ? "the tokens there: " : "it has no initialised token",
			       present);
	if (q->uri)
		return hc_fail(err, HC_USAGE,
			       "no token matches %s (module %s); slots with a token: %s", asked,
			       hc_module_path(mod), present[0] ? present : "none");
	if (q->state == HC_TOKEN_UNINITIALISED)
		return hc_fail(err, HC_TOKEN, "no slot with an uninitialised token (module %s)",
			       hc_module_path(mod));
	return hc_fail(err, HC_TOKEN,
		       "no initialised token found (module %s); create one with "
		       "'hsmcert init-token'",
		       hc_module_path(mod));
}

hc_rc hc_token_select(hc_module *mod, const hc_uri *uri, hc_slot *out, hc_error *err)
{
	hc_token_query q = {.uri = uri, .state = HC_TOKEN_INITIALISED};

	return hc_token_pick(mod, &q, false, out, err);
}
