/* PKCS#11 URIs (RFC 7512) through p11-kit; token selection is in select.c. */
#include "internal.h"

#include <p11-kit/uri.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hc_uri {
	P11KitUri *p;
	char *text;
};

/* The URI as we may show it: a pin-value= is a PIN and never reaches a message. */
static char *redacted(const char *text)
{
	const char *p = strstr(text, "pin-value=");
	char *out;

	if (!p)
		return strdup(text);
	out = malloc(strlen(text) + 8);
	if (!out)
		return NULL;
	p += strlen("pin-value=");
	memcpy(out, text, (size_t)(p - text));
	strcpy(out + (p - text), "(hidden)");
	p += strcspn(p, ";&");
	strcat(out, p);
	return out;
}

hc_rc hc_uri_parse(const char *text, hc_uri **out, hc_error *err)
{
	hc_uri *uri;
	int r;

	*out = NULL;
	uri = calloc(1, sizeof(*uri));
	if (!uri || !(uri->p = p11_kit_uri_new()) || !(uri->text = redacted(text ? text : ""))) {
		hc_uri_free(uri);
		return hc_fail(err, HC_IO, "out of memory");
	}
	if (!text || strncmp(text, "pkcs11:", 7) != 0) {
		hc_fail(err, HC_USAGE, "'%s' is not a PKCS#11 URI (it must start with pkcs11:)",
			uri->text);
		goto fail;
	}
	r = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, uri->p);
	if (r != P11_KIT_URI_OK) {
		hc_fail(err, HC_USAGE, "bad PKCS#11 URI '%s': %s", uri->text,
			p11_kit_uri_message(r));
		goto fail;
	}
	/*
	 * p11-kit drops attributes it cannot hold (a token= value longer than 32
	 * bytes, unknown path attributes) and the URI would then match more than
	 * the user named. Refuse instead of widening the selection.
	 */
	if (p11_kit_uri_any_unrecognized(uri->p)) {
		hc_fail(err, HC_USAGE,
			"bad PKCS#11 URI '%s': an attribute is unknown or too long "
			"(token, manufacturer and model hold 32 bytes, serial 16)",
			uri->text);
		goto fail;
	}
	if (p11_kit_uri_get_pin_value(uri->p) || strstr(text, "pin-value=")) {
		hc_error_hint(err, HC_HINT_PIN_SOURCE,
			      hc_fail(err, HC_USAGE,
				      "PKCS#11 URI '%s' carries pin-value: PINs are never given on "
				      "the command line",
				      uri->text));
		goto fail;
	}
	*out = uri;
	return HC_OK;
fail:
	hc_uri_free(uri);
	return HC_USAGE;
}

void hc_uri_free(hc_uri *uri)
{
	if (!uri)
		return;
	if (uri->p)
		p11_kit_uri_free(uri->p);
	free(uri->text);
	free(uri);
}

const char *hc_uri_text(const hc_uri *uri)
{
	return uri->text;
}

static bool any_set(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return true;
	return false;
}

bool hc_uri_names_token(const hc_uri *uri)
{
	P11KitUri *p = uri->p;
	CK_TOKEN_INFO *t = p11_kit_uri_get_token_info(p);
	CK_SLOT_INFO *s = p11_kit_uri_get_slot_info(p);
	CK_INFO *m = p11_kit_uri_get_module_info(p);

	return any_set(t->label, sizeof(t->label)) ||
	       any_set(t->manufacturerID, sizeof(t->manufacturerID)) ||
	       any_set(t->model, sizeof(t->model)) ||
	       any_set(t->serialNumber, sizeof(t->serialNumber)) ||
	       p11_kit_uri_get_slot_id(p) != (CK_SLOT_ID)-1 ||
	       any_set(s->slotDescription, sizeof(s->slotDescription)) ||
	       any_set(s->manufacturerID, sizeof(s->manufacturerID)) ||
	       any_set(m->libraryDescription, sizeof(m->libraryDescription)) ||
	       any_set(m->manufacturerID, sizeof(m->manufacturerID));
}

bool hc_uri_matches_slot(const hc_uri *uri, const hc_module *mod, const hc_slot *slot)
{
	P11KitUri *p = uri->p;
	CK_SLOT_ID want = p11_kit_uri_get_slot_id(p);

	if (want != (CK_SLOT_ID)-1 && want != slot->id)
		return false;
	if (!p11_kit_uri_match_module_info(p, (CK_INFO *)hc_module_info(mod)))
		return false;
	if (!p11_kit_uri_match_slot_info(p, (CK_SLOT_INFO *)&slot->info))
		return false;
	if (!slot->has_token)
		return !any_set(p11_kit_uri_get_token_info(p), sizeof(CK_TOKEN_INFO));
	return p11_kit_uri_match_token_info(p, (CK_TOKEN_INFO *)&slot->token) == 1;
}

const char *hc_uri_pin_source(const hc_uri *uri)
{
	return p11_kit_uri_get_pin_source(uri->p);
}

const char *hc_uri_module_path(const hc_uri *uri)
{
	return p11_kit_uri_get_module_path(uri->p);
}

CK_ATTRIBUTE *hc_uri_object_template(const hc_uri *uri, CK_ULONG *count)
{
	return p11_kit_uri_get_attributes(uri->p, count);
}

bool hc_uri_names_object(const hc_uri *uri)
{
	CK_ULONG n = 0;
	p11_kit_uri_get_attributes(uri->p, &n);
	return n > 0;
}

static char *format_uri(P11KitUri *p, P11KitUriType type)
{
	char *s = NULL;
	if (p11_kit_uri_format(p, type, &s) != P11_KIT_URI_OK)
		return NULL;
	return s;
}

char *hc_uri_for_token(const CK_TOKEN_INFO *token)
{
	P11KitUri *p = p11_kit_uri_new();
	char *s;

	if (!p)
		return NULL;
	memcpy(p11_kit_uri_get_token_info(p), token, sizeof(*token));
	s = format_uri(p, P11_KIT_URI_FOR_TOKEN);
	p11_kit_uri_free(p);
	return s;
}

char *hc_uri_for_object(const CK_TOKEN_INFO *token, CK_OBJECT_CLASS cls, const char *label,
			const unsigned char *id, size_t id_len)
{
	P11KitUri *p = p11_kit_uri_new();
	CK_ATTRIBUTE a;
	char *s;

	if (!p)
		return NULL;
	memcpy(p11_kit_uri_get_token_info(p), token, sizeof(*token));
	a = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
	p11_kit_uri_set_attribute(p, &a);
	if (label && *label) {
		a = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
		p11_kit_uri_set_attribute(p, &a);
	}
	if (id && id_len) {
		a = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
		p11_kit_uri_set_attribute(p, &a);
	}
	s = format_uri(p, P11_KIT_URI_FOR_OBJECT_ON_TOKEN);
	p11_kit_uri_free(p);
	return s;
}
