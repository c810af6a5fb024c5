/*
 * SPEC: restore. A .hsmb is checked as a whole (tag) before anything is
 * created; a PKCS#12 key is wrapped on the host under a fresh session AES key
 * and unwrapped by the token (never C_CreateObject of a plaintext private
 * key). Then certificates beside the key, a test signature, and only then
 * (--force) the removal of the key it replaces. Any failure removes what
 * this run created.
 */
#include "hsmcert/backup.h"

#include "hsmcert/certstore.h"
#include "hsmcert/rollback.h"
#include "hsmcert/sign.h"
#include "hsmcert/x509.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void pending_clear(pending *k)
{
	free(k->label);
	free(k->id);
	EVP_PKEY_free(k->pub);
	X509_free(k->cert);
	sk_X509_pop_free(k->chain, X509_free);
	free(k->blob);
	free(k->conflicts);
	free(k->mark);
	memset(k, 0, sizeof(*k));
}

/* What the test signature is checked with: the certificate's key, else the recorded one. */
static EVP_PKEY *proof_key(const pending *k)
{
	return k->cert ? X509_get0_pubkey(k->cert) : k->pub;
}

/*
 * Interrupted runs (issue 14.5). Objects of the label whose id is the marked
 * one were left by a restore of this key that was killed before it finished:
 * never reported to anyone, they are removed, and made again.
 */
static hc_rc remove_interrupted(restore_ctx *c, pending *k)
{
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_rc rc;

	k->mark_len = sizeof(RESTORE_MARK) - 1 + k->id_len;
	if (!(k->mark = malloc(k->mark_len)))
		return hc_fail(c->err, HC_IO, "out of memory");
	memcpy(k->mark, RESTORE_MARK, sizeof(RESTORE_MARK) - 1);
	if (k->id_len)
		memcpy(k->mark + sizeof(RESTORE_MARK) - 1, k->id, k->id_len);
	rc = hc_key_find(c->s, CK_UNAVAILABLE_INFORMATION, k->label, k->mark, k->mark_len, &found,
			 &n, c->err);
	for (size_t i = 0; rc == HC_OK && i < n; i++)
		rc = hc_object_destroy(c->s, found[i], c->err);
	if (rc != HC_OK)
		hc_error_prefix(c->err, "removing the key '%s' an interrupted restore left",
				k->label);
	free(found);
	return rc;
}

/*
 * A usage as restore leaves it: one the backup records is there; one it does
 * not is off, or on because the token adds it whatever the template asks
 * (NSS softoken: decrypt and derive), as the first run accepted and reported
 * (added_usages).
 */
static bool usage_as_restored(int have, bool want)
{
	return want ? have == 1 : have == 0 || have == 1;
}

/*
 * The flags and usages this restore gives the private key, read back as the
 * token has them. An unwrapped key is not always sensitive (PKCS#11
 * C_UnwrapKey) nor local: that tells it from the key it was backed up from,
 * which NSS softoken reports as not local either.
 */
static bool as_restored(const pending *k, const hc_key_info *key)
{
	return key->type.ckk == k->key_type && key->sensitive == 1 &&
	       key->extractable == (int)k->extractable && key->private_ == (int)k->private_ &&
	       key->local != 1 && key->always_sensitive != 1 && key->sign == (int)k->sign &&
	       usage_as_restored(key->decrypt, k->decrypt) &&
	       usage_as_restored(key->unwrap, k->unwrap) &&
	       usage_as_restored(key->derive, k->derive);
}

/*
 * A key of the label and id that is exactly what this restore makes (unwrapped,
 * not generated; the same flags and usages; it signs for the recorded public
 * key) is the work of an earlier run, complete: adopted, not a conflict. A
 * re-run after a kill then reaches the uninterrupted end state without --force.
 */
static hc_rc find_complete(restore_ctx *c, pending *k)
{
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_rc rc = hc_key_find(c->s, CKO_PRIVATE_KEY, k->label, k->id, k->id_len, &found, &n,
			       c->err);

	for (size_t i = 0; rc == HC_OK && i < n && !k->adopted; i++) {
		hc_key_info key;
		if ((rc = hc_key_describe(c->s, found[i], &key, c->err)) != HC_OK)
			break;
		if (as_restored(k, &key)) {
			rc = hc_key_prove(c->s, &key, proof_key(k), c->err);
			if (rc == HC_OK) {
				k->adopted = true;
				k->priv = found[i];
			} else if (rc == HC_CHECK) {
				hc_error_clear(c->err); /* another key: a conflict */
				rc = HC_OK;
			}
		}
		hc_key_info_clear(&key);
	}
	free(found);
	return rc;
}

/* The token's public key of the label and id with the recorded value, reused if there. */
static hc_rc find_public(restore_ctx *c, pending *k)
{
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_rc rc = hc_key_find(c->s, CKO_PUBLIC_KEY, k->label, k->id, k->id_len, &found, &n,
			       c->err);

	for (size_t i = 0; rc == HC_OK && i < n && k->pub_had == CK_INVALID_HANDLE; i++) {
		EVP_PKEY *have = NULL;
		hc_key_info key;
		if ((rc = hc_key_describe(c->s, found[i], &key, c->err)) != HC_OK)
			break;
		if (hc_key_public(c->s, &key, &have, c->err) != HC_OK)
			hc_error_clear(c->err); /* unreadable: not the same, a conflict */
		else if (EVP_PKEY_eq(have, k->pub) == 1)
			k->pub_had = found[i];
		EVP_PKEY_free(have);
		hc_key_info_clear(&key);
	}
	free(found);
	return rc;
}

/* Objects already using the label or id, but those restore would make identically. */
static hc_rc find_conflicts(restore_ctx *c, pending *k)
{
	CK_OBJECT_HANDLE *by_label = NULL, *by_id = NULL, same_cert = CK_INVALID_HANDLE;
	size_t nl = 0, ni = 0, count = 0;
	hc_rc rc;

	k->priv = k->pub_had = k->pub_made = k->cert_made = CK_INVALID_HANDLE;
	if ((rc = remove_interrupted(c, k)) != HC_OK || (rc = find_complete(c, k)) != HC_OK ||
	    (rc = find_public(c, k)) != HC_OK ||
	    (k->cert && (rc = hc_certstore_find(c->s, k->cert, &same_cert, c->err)) != HC_OK) ||
	    (rc = hc_key_find(c->s, CK_UNAVAILABLE_INFORMATION, k->label, NULL, 0, &by_label, &nl,
			      c->err)) != HC_OK ||
	    (rc = hc_key_find(c->s, CK_UNAVAILABLE_INFORMATION, NULL, k->id, k->id_len, &by_id, &ni,
			      c->err)) != HC_OK)
		goto out;
	k->conflicts = calloc(nl + ni + 1, sizeof(*k->conflicts));
	if (!k->conflicts) {
		rc = hc_fail(c->err, HC_IO, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nl + ni; i++) {
		CK_OBJECT_HANDLE h = i < nl ? by_label[i] : by_id[i - nl];
		bool seen = (k->adopted && h == k->priv) || h == k->pub_had || h == same_cert;
		for (size_t j = 0; j < k->conflict_count; j++)
			seen = seen || k->conflicts[j] == h;
		if (!seen) {
			k->conflicts[k->conflict_count++] = h;
			count += i < nl ? 1 : 0;
		}
	}
	if (k->conflict_count && !c->p->force) {
		size_t shown = count ? count : k->conflict_count;
		rc = hc_error_hint(
			c->err, HC_HINT_FORCE_RESTORE,
			hc_fail(c->err, HC_CHECK,
				"the token already holds %s '%s' (%zu object%s): nothing "
				"restored",
				count ? "label" : "the id of key", k->label, shown,
				shown == 1 ? "" : "s"));
	}
out:
	free(by_label);
	free(by_id);
	return rc;
}

void restore_set_usages(pending *k, unsigned usages)
{
	if (!usages)
		return;
	k->sign = usages & HC_USAGE_SIGN;
	k->decrypt = usages & HC_USAGE_DECRYPT;
	k->unwrap = usages & HC_USAGE_UNWRAP;
	k->derive = usages & HC_USAGE_DERIVE;
}

hc_rc hc_usage_parse(const char *text, unsigned *out, hc_error *err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {{"sign", HC_USAGE_SIGN},
		     {"decrypt", HC_USAGE_DECRYPT},
		     {"unwrap", HC_USAGE_UNWRAP},
		     {"derive", HC_USAGE_DERIVE}};
	const char *p = text;

	*out = 0;
	while (*p) {
		size_t n = strcspn(p, ","), i;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && strncmp(p, names[i].name, n) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return hc_fail(err, HC_USAGE,
				       "usage '%.*s' in '%s': use sign, decrypt, unwrap or derive, "
				       "separated by commas",
				       (int)n, p, text);
		*out |= names[i].bit;
		p += n;
		if (*p == ',' && *++p == '\0')
			break;
	}
	if (!*out)
		return hc_fail(err, HC_USAGE, "usage '%s' names no usage", text);
	return HC_OK;
}

/*
 * The token may still have added a usage (a template is a request): read back
 * and named in the result, as keygen names what a token adds.
 */
static void added_usages(const pending *k, const hc_key_info *key, hc_restore_item *item)
{
	static const struct {
		size_t key_off, want_off;
		const char *name;
	} u[] = {
		{offsetof(hc_key_info, decrypt), offsetof(pending, decrypt), "decrypt"},
		{offsetof(hc_key_info, unwrap), offsetof(pending, unwrap), "unwrap"},
		{offsetof(hc_key_info, derive), offsetof(pending, derive), "derive"},
	};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		int have = *(const int *)((const char *)key + u[i].key_off);
		bool want = *(const bool *)((const char *)k + u[i].want_off);
		size_t used = strlen(item->usages_added);
		if (have == 1 && !want)
			snprintf(item->usages_added + used, sizeof(item->usages_added) - used,
				 "%s%s", used ? "," : "", u[i].name);
	}
}

/* Create (or adopt), store, prove: everything for one key but its final id. */
static hc_rc restore_one(restore_ctx *c, pending *k, hc_restore_item *item)
{
	CK_OBJECT_HANDLE pub = k->pub_had;
	hc_rc rc;

	/* Made in this order; the real ids are given the other way round (finish_one). */
	if ((!k->adopted && (rc = restore_objects_unwrap_private(c, k, &k->priv)) != HC_OK) ||
	    (pub == CK_INVALID_HANDLE &&
	     (rc = restore_objects_create_public(c, k, &k->pub_made)) != HC_OK) ||
	    (rc = restore_objects_store_certificates(c, k, item)) != HC_OK ||
	    (rc = hc_key_describe(c->s, k->priv, &item->key, c->err)) != HC_OK)
		return rc;
	added_usages(k, &item->key, item);
	item->already = k->adopted;
	item->public_uri = hc_uri_for_object(&hc_session_slot(c->s)->token, CKO_PUBLIC_KEY,
					     k->label, k->id, k->id_len);
	/* An adopted key was proved when it was found. */
	return k->adopted ? HC_OK : hc_key_prove(c->s, &item->key, proof_key(k), c->err);
}

/*
 * Last, the real ids, the private key's after the others': a re-run that
 * finds it still marked knows the key was not finished. What the result
 * reports is read back.
 */
static hc_rc finish_one(restore_ctx *c, pending *k, hc_restore_item *item)
{
	CK_OBJECT_HANDLE order[] = {k->cert_made, k->pub_made,
				    k->adopted ? CK_INVALID_HANDLE : k->priv};
	hc_rc rc;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (order[i] == CK_INVALID_HANDLE)
			continue;
		if ((rc = hc_rollback_set_id(&c->created, order[i], k->id, k->id_len, c->err)) !=
		    HC_OK) {
			hc_error_prefix(c->err, "giving the restored key '%s' its id", k->label);
			return rc;
		}
	}
	if (k->adopted)
		return HC_OK;
	hc_key_info_clear(&item->key);
	return hc_key_describe(c->s, k->priv, &item->key, c->err);
}

hc_rc restore_keys(restore_ctx *c)
{
	hc_restore_result *out = c->out;
	hc_rc rc = HC_OK;

	for (size_t i = 0; i < c->count && rc == HC_OK; i++)
		rc = find_conflicts(c, &c->keys[i]);
	if (rc != HC_OK)
		return rc;
	out->items = calloc(c->count, sizeof(*out->items));
	if (!out->items)
		return hc_fail(c->err, HC_IO, "out of memory");
	for (size_t i = 0; i < c->count && rc == HC_OK; i++) {
		out->count++;
		rc = restore_one(c, &c->keys[i], &out->items[i]);
	}
	for (size_t i = 0; i < c->count && rc == HC_OK; i++)
		rc = finish_one(c, &c->keys[i], &out->items[i]);
	if (rc != HC_OK) {
		hc_rollback_run(&c->created, c->err);
		return rc;
	}
	/*
	 * Complete and proved: now the replaced key may go. Killed in between, a
	 * re-run adopts the restored key and removes the rest (issue 14.5).
	 */
	for (size_t i = 0; i < c->count; i++) {
		for (size_t j = 0; j < c->keys[i].conflict_count; j++) {
			if (hc_object_destroy(c->s, c->keys[i].conflicts[j], c->err) != HC_OK) {
				hc_error_prefix(c->err,
						"the key was restored, but removing the one "
						"it replaces failed");
				return c->err->rc;
			}
			out->items[i].replaced++;
		}
	}
	return HC_OK;
}

hc_rc hc_restore(hc_session *s, const hc_restore_params *p, hc_restore_result *out, hc_error *err)
{
	restore_ctx c = {.s = s,
			 .p = p,
			 .out = out,
			 .err = err,
			 .unwrapper = CK_INVALID_HANDLE,
			 .created = {.session = s}};
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->kind = hc_backup_detect(p->data, p->len);
	if (out->kind == HC_KIND_HSMB_PASSPHRASE || out->kind == HC_KIND_HSMB_RECIPIENT ||
	    out->kind == HC_KIND_PFX) {
		if ((rc = hc_wrap_negotiate(s, &c.wrap, err)) != HC_OK)
			return rc;
		c.unwrap_mech = (CK_MECHANISM){c.wrap.mechanism, NULL, 0};
	}
	switch (out->kind) {
	case HC_KIND_HSMB_PASSPHRASE:
	case HC_KIND_HSMB_RECIPIENT:
		if (c.wrap.mechanism == CK_UNAVAILABLE_INFORMATION) {
			rc = hc_wrap_refusal(s, &c.wrap, "restoring a .hsmb backup", err);
			break;
		}
		rc = restore_hsmb(&c);
		break;
	case HC_KIND_PFX: rc = restore_pfx(&c); break;
	default:
		rc = hc_fail(err, HC_USAGE,
			     "%s is neither an hsmcert backup (.hsmb) nor a PKCS#12 "
			     "file",
			     p->name);
	}
	if (c.unwrapper != CK_INVALID_HANDLE)
		hc_object_destroy(s, c.unwrapper, NULL);
	for (size_t i = 0; i < c.count; i++)
		pending_clear(&c.keys[i]);
	free(c.keys);
	hc_rollback_clear(&c.created);
	if (rc != HC_OK)
		hc_restore_result_clear(out);
	return rc;
}

void hc_restore_result_clear(hc_restore_result *r)
{
	for (size_t i = 0; i < r->count; i++) {
		hc_key_info_clear(&r->items[i].key);
		free(r->items[i].public_uri);
		free(r->items[i].cert_subject);
		free(r->items[i].cert_uri);
		for (size_t j = 0; j < r->items[i].ca_count; j++)
			free(r->items[i].ca_uris[j]);
		free(r->items[i].ca_uris);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}
