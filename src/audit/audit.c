/* SPEC: audit — the policy, the probe, and the report they fill. */
#include "hsmcert/audit.h"

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

hc_rc hc_audit_policy_parse(const char *text, hc_audit_policy *out, hc_error *err)
{
	if (strcmp(text, "non-exportable") == 0)
		*out = HC_POLICY_NON_EXPORTABLE;
	else if (strcmp(text, "none") == 0)
		*out = HC_POLICY_NONE;
	else if (strcmp(text, "sign-only") == 0)
		*out = HC_POLICY_SIGN_ONLY;
	else if (strcmp(text, "non-exportable,sign-only") == 0 ||
		 strcmp(text, "sign-only,non-exportable") == 0)
		*out = HC_POLICY_NON_EXPORTABLE_SIGN_ONLY;
	else
		return hc_error_input(err, HC_INPUT_POLICY,
				      hc_fail(err, HC_USAGE,
					      "'%s': use non-exportable, sign-only, "
					      "non-exportable,sign-only or none",
					      text));
	return HC_OK;
}

const char *hc_audit_policy_name(hc_audit_policy policy)
{
	switch (policy) {
	case HC_POLICY_NONE: return "none";
	case HC_POLICY_SIGN_ONLY: return "sign-only";
	case HC_POLICY_NON_EXPORTABLE_SIGN_ONLY: return "non-exportable,sign-only";
	default: return "non-exportable";
	}
}

const char *hc_audit_key_class(const hc_audit_key *key)
{
	return key->key->cls == CKO_SECRET_KEY ? "secret_key" : "private_key";
}

/* ---- the non-exportable policy ------------------------------------------ */

/*
 * A key passes when every one of these holds. The wording is what auditors
 * read in the report (and what docs/json.md lists), so keep it stable.
 */
static const struct {
	size_t offset; /* an int tri-state in hc_key_info */
	int want;
	const char *fails, *unknown;
} policy_rules[] = {
	{offsetof(hc_key_info, sensitive), 1, "not sensitive", "sensitive unknown"},
	{offsetof(hc_key_info, extractable), 0, "extractable", "extractable unknown"},
	{offsetof(hc_key_info, always_sensitive), 1, "not always sensitive",
	 "always_sensitive unknown"},
	{offsetof(hc_key_info, never_extractable), 1, "was once extractable",
	 "never_extractable unknown"},
	{offsetof(hc_key_info, local), 1, NULL, "local unknown"},
};
#define N_RULES (sizeof(policy_rules) / sizeof(policy_rules[0]))

static void add_reason(hc_audit_key *k, const char *reason)
{
	if (k->reason_count < HC_AUDIT_MAX_REASONS)
		k->reasons[k->reason_count++] = reason;
}

/*
 * sign-only (SPEC audit): a TLS server key signs and does nothing else. Private
 * keys only: a secret key (a wrapping key) has other jobs by nature.
 */
static const struct {
	size_t offset;
	const char *fails, *unknown;
} sign_only_rules[] = {
	{offsetof(hc_key_info, decrypt), "can decrypt", "decrypt unknown"},
	{offsetof(hc_key_info, unwrap), "can unwrap", "unwrap unknown"},
	{offsetof(hc_key_info, derive), "can derive", "derive unknown"},
};

static void apply_sign_only(hc_audit_key *k, size_t *unknown)
{
	if (k->key->cls != CKO_PRIVATE_KEY)
		return;
	for (size_t i = 0; i < sizeof(sign_only_rules) / sizeof(sign_only_rules[0]); i++) {
		int v = *(const int *)((const char *)k->key + sign_only_rules[i].offset);
		if (v < 0) {
			add_reason(k, sign_only_rules[i].unknown);
			(*unknown)++;
		} else if (v) {
			add_reason(k, sign_only_rules[i].fails);
		}
	}
}

/*
 * "Imported" is said only when the token says so: not local AND no key
 * generation mechanism on record. NSS reports CKA_LOCAL false for keys it
 * generated and does not know CKA_KEY_GEN_MECHANISM: such a key fails the
 * policy (the token does not vouch for it), but is not called imported.
 */
static const char *not_local(const hc_key_info *key)
{
	if (key->key_gen_reported && key->key_gen_mechanism == CK_UNAVAILABLE_INFORMATION)
		return "imported: not local";
	return "not reported as generated on the token (local false)";
}

static void apply_policy(hc_audit_key *k, hc_audit_policy policy)
{
	size_t unknown = 0;

	if (policy == HC_POLICY_SIGN_ONLY || policy == HC_POLICY_NON_EXPORTABLE_SIGN_ONLY)
		apply_sign_only(k, &unknown);
	if (policy == HC_POLICY_SIGN_ONLY)
		goto verdict;
	for (size_t i = 0; i < N_RULES; i++) {
		int v = *(const int *)((const char *)k->key + policy_rules[i].offset);
		if (v < 0) {
			add_reason(k, policy_rules[i].unknown);
			unknown++;
		} else if (v != policy_rules[i].want) {
			add_reason(k, policy_rules[i].fails ? policy_rules[i].fails
							    : not_local(k->key));
		}
	}
	/* Generated here means local with the mechanism that made it on record. */
	if (k->key->local == 1 && !k->key->key_gen_reported) {
		add_reason(k, "key_gen_mechanism unknown");
		unknown++;
	} else if (k->key->local == 1 && k->key->key_gen_mechanism == CK_UNAVAILABLE_INFORMATION) {
		add_reason(k, "no key generation mechanism");
	}
	for (size_t i = 0; k->probe && i < k->probe->wrap_count; i++) {
		if (k->probe->wraps[i].tried && k->probe->wraps[i].rv == CKR_OK) {
			add_reason(k, "probe: wrapped off the token");
			break;
		}
	}
	for (size_t i = 0; k->probe && i < k->probe->read_count; i++) {
		if (k->probe->reads[i].readable) {
			add_reason(k, "probe: secret read in the clear");
			break;
		}
	}
verdict:
	k->pass = k->reason_count == 0;
	/* Only unreported attributes stand between the key and a pass: unknown, not fail. */
	k->unknown = !k->pass && k->reason_count == unknown;
}

/* ---- probing ------------------------------------------------------------ */

/* The attributes that hold the secret itself. */
static size_t secret_attributes(const hc_key_info *key, CK_ATTRIBUTE_TYPE *out)
{
	static const CK_ATTRIBUTE_TYPE rsa[] = {CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
						CKA_PRIME_2,	      CKA_EXPONENT_1,
						CKA_EXPONENT_2,	      CKA_COEFFICIENT};
	size_t n = 0;

	if (key->cls == CKO_PRIVATE_KEY && key->type.ckk == CKK_RSA)
		for (; n < sizeof(rsa) / sizeof(rsa[0]); n++)
			out[n] = rsa[n];
	else
		out[n++] = CKA_VALUE;
	return n;
}

/* Try to read one secret attribute; the value, if the token gives it, is wiped at once. */
static void probe_read(hc_session *session, const hc_key_info *key, hc_audit_read *r)
{
	CK_ATTRIBUTE a = {r->type, NULL, 0};
	size_t size;

	r->rv = hc_attrs_probe(session, key->handle, &a, 1);
	if (r->rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return;
	/* The token offered a value; a size no secret can have is not fetched (issue 14.10). */
	if (a.ulValueLen > (1u << 20)) {
		r->readable = true;
		return;
	}
	size = a.ulValueLen ? a.ulValueLen : 1;
	if (!(a.pValue = malloc(size))) {
		r->rv = CKR_HOST_MEMORY;
		return;
	}
	r->rv = hc_attrs_probe(session, key->handle, &a, 1);
	r->readable = r->rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION;
	OPENSSL_clear_free(a.pValue, size);
}

/* The symmetric wrap mechanisms a probe can try, with the key type each wraps under. */
static const struct {
	CK_MECHANISM_TYPE mech;
	CK_KEY_TYPE kek_type;
	CK_ULONG iv_len;
} wrap_kinds[] = {
	{HC_CKM_AES_KEY_WRAP_KWP, CKK_AES, 0},
	{CKM_AES_KEY_WRAP_PAD, CKK_AES, 0},
	{CKM_AES_KEY_WRAP, CKK_AES, 0},
	{CKM_AES_CBC_PAD, CKK_AES, 16},
	{CKM_AES_CBC, CKK_AES, 16},
	{CKM_AES_ECB, CKK_AES, 0},
	{CKM_DES3_CBC_PAD, CKK_DES3, 8},
	{CKM_DES3_CBC, CKK_DES3, 8},
	{CKM_DES3_ECB, CKK_DES3, 0},
};
#define N_WRAP_KINDS (sizeof(wrap_kinds) / sizeof(wrap_kinds[0]))

static void probe_key(hc_session *session, const CK_OBJECT_HANDLE *keks, const CK_RV *kek_rv,
		      const bool *listed, hc_audit_key *k)
{
	CK_ATTRIBUTE_TYPE types[HC_AUDIT_MAX_READS];
	size_t n = secret_attributes(k->key, types);
	hc_audit_probe *p = k->probe;

	for (size_t i = 0; i < n; i++) {
		p->reads[i].type = types[i];
		probe_read(session, k->key, &p->reads[i]);
		p->secret_readable |= p->reads[i].readable;
	}
	p->read_count = n;
	for (size_t m = 0; m < N_WRAP_KINDS && p->wrap_count < HC_AUDIT_MAX_WRAPS; m++) {
		unsigned char iv[16] = {0}, *blob = NULL;
		CK_MECHANISM mech = {wrap_kinds[m].mech, wrap_kinds[m].iv_len ? iv : NULL,
				     wrap_kinds[m].iv_len};
		hc_audit_wrap *w = &p->wraps[p->wrap_count];
		hc_error err = {0};
		size_t kek = wrap_kinds[m].kek_type == CKK_AES ? 0 : 1;

		if (!listed[m])
			continue;
		p->wrap_count++;
		w->mechanism = wrap_kinds[m].mech;
		if (keks[kek] == CK_INVALID_HANDLE) {
			w->rv = kek_rv[kek];
			continue;
		}
		w->tried = true;
		w->rv = hc_key_wrap(session, &mech, keks[kek], k->key->handle, &blob,
				    &w->wrapped_len, &err) == HC_OK
				? CKR_OK
				: (err.has_ckr ? err.ckr : CKR_HOST_MEMORY);
		OPENSSL_clear_free(blob, w->wrapped_len);
		p->secret_readable |= w->rv == CKR_OK;
	}
}

static CK_RV session_kek(hc_session *session, CK_KEY_TYPE kt, CK_OBJECT_HANDLE *out)
{
	static const CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	static const CK_KEY_TYPE des3 = CKK_DES3;
	CK_ULONG len = 32;
	hc_template t = {0};
	CK_MECHANISM gen = {kt == CKK_AES ? CKM_AES_KEY_GEN : CKM_DES3_KEY_GEN, NULL, 0};
	hc_error err = {0};

	/* Not CKA_PRIVATE: an audit may run without logging in. */
	if (kt == CKK_AES) {
		hc_template_session_aes(&t, HC_AES_WRAP | HC_AES_SENSITIVE);
		hc_template_add(&t, CKA_VALUE_LEN, &len, sizeof(len));
	} else {
		hc_template_add(&t, CKA_CLASS, &cls, sizeof(cls));
		hc_template_add(&t, CKA_KEY_TYPE, &des3, sizeof(des3));
		hc_template_bool(&t, CKA_TOKEN, false);
		hc_template_bool(&t, CKA_WRAP, true);
		hc_template_bool(&t, CKA_SENSITIVE, true);
		hc_template_bool(&t, CKA_EXTRACTABLE, false);
	}
	if (hc_key_generate(session, &gen, t.attrs, t.count, out, &err) == HC_OK)
		return CKR_OK;
	*out = CK_INVALID_HANDLE;
	return err.has_ckr ? err.ckr : CKR_GENERAL_ERROR;
}

/*
 * Probe every key with every symmetric wrap mechanism the token lists for
 * wrapping (NSS wraps with CKM_AES_CBC_PAD too), under fresh session keys
 * (never token objects, never extractable), destroyed before this returns.
 */
static void probe_all(hc_session *session, hc_audit_report *r)
{
	CK_OBJECT_HANDLE keks[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
	CK_RV kek_rv[2] = {CKR_MECHANISM_INVALID, CKR_MECHANISM_INVALID};
	bool listed[N_WRAP_KINDS] = {0}, need[2] = {0};
	hc_mechanism *mechs = NULL;
	size_t nmechs = 0;
	hc_error err = {0};

	if (hc_slot_mechanisms(hc_session_module(session), hc_session_slot(session)->id, &mechs,
			       &nmechs, &err) == HC_OK) {
		for (size_t i = 0; i < nmechs; i++)
			for (size_t m = 0; m < N_WRAP_KINDS; m++)
				if (mechs[i].type == wrap_kinds[m].mech &&
				    (mechs[i].info.flags & CKF_WRAP)) {
					listed[m] = true;
					need[wrap_kinds[m].kek_type == CKK_AES ? 0 : 1] = true;
				}
		free(mechs);
	}
	r->wrap_mechanism = CKM_AES_KEY_WRAP_PAD;
	r->session_key_rv = CKR_MECHANISM_INVALID;
	for (size_t i = 0; i < 2; i++)
		if (need[i])
			kek_rv[i] = session_kek(session, i == 0 ? CKK_AES : CKK_DES3, &keks[i]);
	if (need[0])
		r->session_key_rv = kek_rv[0];
	for (size_t i = 0; i < r->key_count; i++)
		probe_key(session, keks, kek_rv, listed, &r->keys[i]);
	r->session_key_destroyed = true;
	for (size_t i = 0; i < 2; i++)
		if (keks[i] != CK_INVALID_HANDLE)
			r->session_key_destroyed &= hc_object_destroy(session, keks[i], &err) ==
						    HC_OK;
	if (keks[0] == CK_INVALID_HANDLE && keks[1] == CK_INVALID_HANDLE)
		r->session_key_destroyed = false;
}

/* ---- the report --------------------------------------------------------- */

hc_rc hc_audit_run(hc_session *session, const hc_audit_options *options, hc_audit_report *out,
		   hc_error *err)
{
	hc_module *mod = hc_session_module(session);
	hc_inventory *inv = &out->inventory;
	size_t n = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->options = *options;
	out->time = time(NULL);
	out->logged_in = hc_session_logged_in(session);
	out->module_path = hc_module_path(mod);
	out->library = *hc_module_info(mod);
	out->slot = *hc_session_slot(session);

	if ((rc = hc_inventory_load(session, inv, err)) != HC_OK)
		goto fail;
	out->keys = calloc(inv->key_count + inv->secret_count + 1, sizeof(*out->keys));
	if (!out->keys) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < inv->key_count; i++, n++) {
		out->keys[n].key = &inv->keys[i].info;
		out->keys[n].pair = &inv->keys[i];
	}
	for (size_t i = 0; i < inv->secret_count; i++, n++)
		out->keys[n].key = &inv->secret_keys[i];
	out->key_count = n;

	if (options->probe) {
		if (!(out->probes_ = calloc(n + 1, sizeof(*out->probes_)))) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			out->keys[i].probe = &out->probes_[i];
		probe_all(session, out);
	}
	if (options->policy != HC_POLICY_NONE) {
		for (size_t i = 0; i < n; i++) {
			apply_policy(&out->keys[i], options->policy);
			out->violations += !out->keys[i].pass && !out->keys[i].unknown;
			out->unknowns += out->keys[i].unknown;
		}
	}
	return HC_OK;
fail:
	hc_audit_report_clear(out);
	return rc;
}

bool hc_audit_failed(const hc_audit_report *report)
{
	/* An unknown verdict is not a pass either: the policy cannot be shown to hold. */
	return report->options.policy != HC_POLICY_NONE &&
	       (report->violations || report->unknowns || report->inventory.unreadable_count);
}

void hc_audit_report_clear(hc_audit_report *report)
{
	if (!report)
		return;
	hc_inventory_clear(&report->inventory);
	free(report->keys);
	free(report->probes_);
	memset(report, 0, sizeof(*report));
}
