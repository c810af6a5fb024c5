/*
 * A token's private key as an OpenSSL EVP_PKEY, through libp11: the only
 * place hsmcert uses libp11 (for TLS, where OpenSSL must sign through the
 * key). Everything else signs through C_Sign (sign.c): libp11 signs RSA-PSS
 * with raw RSA, which many HSMs forbid, and finalises the module it loaded.
 */
#include "internal.h"

#include <libp11.h>
#include <stdlib.h>
#include <string.h>

struct hc_evp_key {
	PKCS11_CTX *ctx;
	bool loaded;
	PKCS11_SLOT *slots;
	unsigned int nslots;
	EVP_PKEY *pkey;
};

static PKCS11_SLOT *find_slot(const hc_evp_key_params *p, struct hc_evp_key *tk)
{
	for (unsigned int i = 0; i < tk->nslots; i++) {
		PKCS11_TOKEN *t = tk->slots[i].token;
		if (t && t->initialized && t->serialnr && t->label &&
		    strcmp(t->serialnr, p->token_serial) == 0 &&
		    strcmp(t->label, p->token_label) == 0)
			return &tk->slots[i];
	}
	return NULL;
}

static PKCS11_KEY *find_key(const hc_evp_key_params *p, PKCS11_KEY *keys, unsigned int n)
{
	PKCS11_KEY *by_id = NULL;

	for (unsigned int i = 0; i < n; i++) {
		if (keys[i].id_len != p->key_id_len ||
		    (p->key_id_len && memcmp(keys[i].id, p->key_id, p->key_id_len) != 0))
			continue;
		if (!by_id)
			by_id = &keys[i];
		if (p->key_label && keys[i].label && strcmp(keys[i].label, p->key_label) == 0)
			return &keys[i];
	}
	return by_id;
}

static hc_rc open_key(const hc_evp_key_params *p, struct hc_evp_key *tk, hc_error *err)
{
	PKCS11_SLOT *slot;
	PKCS11_KEY *keys = NULL, *key;
	unsigned int nkeys = 0;

	tk->ctx = PKCS11_CTX_new();
	if (!tk->ctx)
		return hc_fail(err, HC_IO, "out of memory");
	if (PKCS11_CTX_load(tk->ctx, p->module_path) < 0)
		return hc_fail_ssl(err, HC_TOKEN, "libp11 cannot load the module %s",
		                   p->module_path);
	tk->loaded = true;
	if (PKCS11_enumerate_slots(tk->ctx, &tk->slots, &tk->nslots) < 0)
		return hc_fail_ssl(err, HC_TOKEN, "libp11 cannot list the slots of %s",
		                   p->module_path);
	slot = find_slot(p, tk);
	if (!slot)
		return hc_fail(err, HC_TOKEN, "libp11 does not see token '%s' (serial %s) in %s",
		               p->token_label, p->token_serial, p->module_path);
	if (slot->token->loginRequired && PKCS11_login(slot, 0, p->pin ? p->pin->data : NULL) < 0)
		return hc_fail_ssl(err, HC_TOKEN, "libp11 cannot log in to token '%s'",
		                   p->token_label);
	if (PKCS11_enumerate_keys(slot->token, &keys, &nkeys) < 0)
		return hc_fail_ssl(err, HC_TOKEN, "libp11 cannot list the keys of token '%s'",
		                   p->token_label);
	key = find_key(p, keys, nkeys);
	if (!key)
		return hc_fail(err, HC_TOKEN, "libp11 does not find the key '%s' on token '%s'",
		               p->key_label ? p->key_label : "", p->token_label);
	tk->pkey = PKCS11_get_private_key(key);
	if (!tk->pkey)
		return hc_fail_ssl(err, HC_TOKEN, "libp11 cannot use the key '%s'",
		                   p->key_label ? p->key_label : "");
	return HC_OK;
}

/* Key first, then slots, then the module: libp11 finalises the module on unload. */
void hc_evp_key_close(hc_evp_key *tk)
{
	if (!tk)
		return;
	EVP_PKEY_free(tk->pkey);
	if (tk->slots)
		PKCS11_release_all_slots(tk->ctx, tk->slots, tk->nslots);
	if (tk->loaded)
		PKCS11_CTX_unload(tk->ctx);
	if (tk->ctx)
		PKCS11_CTX_free(tk->ctx);
	free(tk);
}

hc_rc hc_evp_key_open(const hc_evp_key_params *params, hc_evp_key **out, hc_error *err)
{
	hc_evp_key *tk = calloc(1, sizeof(*tk));
	hc_rc rc;

	*out = NULL;
	if (!tk)
		return hc_fail(err, HC_IO, "out of memory");
	if ((rc = open_key(params, tk, err)) != HC_OK) {
		hc_evp_key_close(tk);
		return rc;
	}
	*out = tk;
	return HC_OK;
}

EVP_PKEY *hc_evp_key_pkey(const hc_evp_key *key)
{
	return key->pkey;
}
