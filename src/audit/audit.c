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
	{offsetof(hc_key_info, local), 1, "imported: not local", "local unknown"},
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

static void apply_sign_only(hc_audit_key *k)
{
	if (k->key->cls != CKO_PRIVATE_KEY)
		return;
	for (size_t i = 0; i < sizeof(sign_only_rules) / sizeof(sign_only_rules[0]); i++) {
		int v = *(const int *)((const char *)k->key + sign_only_rules[i].offset);
		if (v < 0)
			add_reason(k, sign_only_rules[i].unknown);
		else if (v)
			add_reason(k, sign_only_rules[i].fails);
	}
}

static void apply_policy(hc_audit_key *k, hc_audit_policy policy)
{
	if (policy == HC_POLICY_SIGN_ONLY || policy == HC_POLICY_NON_EXPORTABLE_SIGN_ONLY)
		apply_sign_only(k);
	if (policy == HC_POLICY_SIGN_ONLY)
		goto verdict;
	for (size_t i = 0; i < N_RULES; i++) {
		int v = *(const int *)((const char *)k->key + policy_rules[i].offset);
		if (v < 0)
			add_reason(k, policy_rules[i].unknown);
		else if (v != policy_rules[i].want)
			add_reason(k, policy_rules[i].fails);
	}
	/* Generated here means local with the mechanism that made it on record. */
	if (k->key->local == 1 && k->key->key_gen_mechanism == CK_UNAVAILABLE_INFORMATION)
		add_reason(k, "no key generation mechanism");
	if (k->probe && k->probe->wrap_tried && k->probe->wrap_rv == CKR_OK)
		add_reason(k, "probe: wrapped off the token");
	for (size_t i = 0; k->probe && i < k->probe->read_count; i++) {
		if (k->probe->reads[i].readable) {
			add_reason(k, "probe: secret read in the clear");
			break;
		}
	}
verdict:
	k->pass = k->reason_count == 0;
}

/* ---- probing ------------------------------------------------------------ */

/* The attributes that hold the secret itself. */
static size_t secret_attributes(const hc_key_info *key, CK_ATTRIBUTE_TYPE *out)
{
	static const CK_ATTRIBUTE_TYPE rsa[] = {CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2,
						 CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT};
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
	size = a.ulValueLen ? a.ulValueLen : 1;
	if (!(a.pValue = malloc(size))) {
		r->rv = CKR_HOST_MEMORY;
		return;
	}
	r->rv = hc_attrs_probe(session, key->handle, &a, 1);
	r->readable = r->rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION;
	OPENSSL_clear_free(a.pValue, size);
}

static void probe_key(hc_session *session, CK_OBJECT_HANDLE wrapping, hc_audit_key *k)
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
	if (wrapping != CK_INVALID_HANDLE) {
		CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
		unsigned char *blob = NULL;
		hc_error err = {0};
		p->wrap_tried = true;
		p->wrap_rv = hc_key_wrap(session, &mech, wrapping, k->key->handle, &blob,
					 &p->wrapped_len, &err) == HC_OK
				     ? CKR_OK
				     : (err.has_ckr ? err.ckr : CKR_HOST_MEMORY);
		OPENSSL_clear_free(blob, p->wrapped_len);
		p->secret_readable |= p->wrap_rv == CKR_OK;
	}
}

/*
 * Probe every key under one fresh AES-256 session key (never a token object,
 * never extractable). It is destroyed before this returns; closing the
 * session would destroy it too.
 */
static void probe_all(hc_session *session, hc_audit_report *r)
{
	CK_ULONG len = 32;
	hc_template tmpl = {0};
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_OBJECT_HANDLE wrapping = CK_INVALID_HANDLE;
	hc_error err = {0};

	/* Not CKA_PRIVATE: an audit may run without logging in. */
	hc_template_session_aes(&tmpl, HC_AES_WRAP | HC_AES_SENSITIVE);
	hc_template_add(&tmpl, CKA_VALUE_LEN, &len, sizeof(len));
	r->wrap_mechanism = CKM_AES_KEY_WRAP_PAD;
	if (hc_key_generate(session, &gen, tmpl.attrs, tmpl.count, &wrapping, &err) == HC_OK)
		r->session_key_rv = CKR_OK;
	else
		r->session_key_rv = err.has_ckr ? err.ckr : CKR_GENERAL_ERROR;
	for (size_t i = 0; i < r->key_count; i++)
		probe_key(session, wrapping, &r->keys[i]);
	if (wrapping != CK_INVALID_HANDLE)
		r->session_key_destroyed = hc_object_destroy(session, wrapping, &err) == HC_OK;
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
			out->violations += !out->keys[i].pass;
		}
	}
	return HC_OK;
fail:
	hc_audit_report_clear(out);
	return rc;
}

bool hc_audit_failed(const hc_audit_report *report)
{
	return report->options.policy != HC_POLICY_NONE &&
	       (report->violations || report->inventory.unreadable_count);
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
