/*
 * SPEC: renew. Which certificates on the token are due, and renewing one:
 * a new key pair of the same type, subject and SANs takes over the label
 * (the old key, its public key and certificates are relabelled as retired
 * and kept), or the same key with --reuse-key.
 */
#include "internal.h"

#include "hsmcert/certstore.h"
#include "hsmcert/hex.h"

#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400L
#define MAX_THRESHOLD (30 * DAY)

long acme_renew_threshold(long lifetime_s)
{
	return lifetime_s / 3 < MAX_THRESHOLD ? lifetime_s / 3 : MAX_THRESHOLD;
}

static void item_clear(hc_renew_item *it)
{
	hc_key_info_clear(&it->key);
	X509_free(it->cert);
	hc_cert_info_clear(&it->info);
	hc_enroll_result_clear(&it->result);
}

void hc_renew_plan_clear(hc_renew_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++)
		item_clear(&plan->items[i]);
	free(plan->items);
	memset(plan, 0, sizeof(*plan));
}

static hc_rc item_fill(hc_renew_item *it, X509 *cert, long days, time_t now, hc_error *err)
{
	hc_rc rc;

	X509_free(it->cert);
	hc_cert_info_clear(&it->info);
	if (!X509_up_ref(cert))
		return hc_fail(err, HC_IO, "out of memory");
	it->cert = cert;
	if ((rc = hc_cert_describe(cert, &it->info, err)) != HC_OK)
		return rc;
	it->lifetime_s = (long)(it->info.not_after - it->info.not_before);
	it->threshold_s = days >= 0 ? days * DAY : acme_renew_threshold(it->lifetime_s);
	it->left_s = (long)(it->info.not_after - now);
	it->due = it->left_s < it->threshold_s;
	return HC_OK;
}

/* A new item at the end of the plan, zeroed. */
static hc_renew_item *plan_add(hc_renew_plan *plan)
{
	hc_renew_item *items = realloc(plan->items, (plan->count + 1) * sizeof(*items));

	if (!items)
		return NULL;
	plan->items = items;
	memset(&items[plan->count], 0, sizeof(*items));
	return &items[plan->count++];
}

/* A newer certificate of the same key replaces the one an item holds. */
static bool newer(X509 *a, X509 *b)
{
	return ASN1_TIME_compare(X509_get0_notAfter(a), X509_get0_notAfter(b)) > 0;
}

static hc_rc plan_one_key(hc_session *s, const char *key_uri, hc_stored_cert *certs, size_t n,
			  long days, hc_renew_plan *out, hc_error *err)
{
	hc_renew_item *it = plan_add(out); /* cleared with the plan whatever fails below */
	EVP_PKEY *pub = NULL;
	X509 *best;
	hc_rc rc;

	if (!it)
		return hc_fail(err, HC_IO, "out of memory");
	if ((rc = hc_key_select_private(s, key_uri, &it->key, err)) != HC_OK)
		return rc;
	if (it->key.label && strstr(it->key.label, HC_RETIRED_MARK))
		return hc_fail(err, HC_USAGE,
			       "key '%s' was retired by a renewal, which gave its label to a new "
			       "key: name the key by the label it had",
			       it->key.label);
	if (it->key.label && strstr(it->key.label, HC_RENEWING_MARK))
		return hc_fail(err, HC_USAGE,
			       "key '%s' is the new key of a renewal that did not end: name the "
			       "key being renewed",
			       it->key.label);
	if ((rc = hc_key_public(s, &it->key, &pub, err)) != HC_OK)
		return rc;
	best = acme_newest_leaf(pub, certs, n);
	EVP_PKEY_free(pub);
	if (!best)
		return hc_fail(err, HC_CHECK,
			       "key '%s' has no certificate on the token to renew; enroll it first",
			       it->key.label ? it->key.label : "");
	return item_fill(it, best, days, out->now, err);
}

static char *label_base(const char *label);

/*
 * Not renewed by --all: the account key, retired keys, the new keys of
 * renewals that did not end, and a key whose interrupted renewal could not
 * be finished in this run (already in the plan, failed).
 */
static bool skipped_by_all(const hc_key_info *key, const hc_renew_plan *plan)
{
	if (!key->label)
		return false;
	if (strcmp(key->label, HC_ACME_ACCOUNT_LABEL) == 0 || strstr(key->label, HC_RETIRED_MARK) ||
	    strstr(key->label, HC_RENEWING_MARK))
		return true;
	for (size_t i = 0; i < plan->count; i++) {
		const hc_renew_item *it = &plan->items[i];
		char *base = it->resumed && it->key.label ? label_base(it->key.label) : NULL;
		bool same = base && strcmp(base, key->label) == 0;
		free(base);
		if (same)
			return true;
	}
	return false;
}

static hc_rc plan_all(hc_session *s, hc_stored_cert *certs, size_t n, long days, hc_renew_plan *out,
		      hc_error *err)
{
	hc_rc rc = HC_OK;

	for (size_t i = 0; i < n && rc == HC_OK; i++) {
		hc_key_info key = {0};
		hc_renew_item *it = NULL;
		bool found = false;
		if (!acme_stored_leaf(&certs[i]))
			continue;
		if ((rc = hc_certstore_find_key(s, certs[i].cert, &key, &found, err)) != HC_OK)
			break;
		for (size_t j = 0; found && j < out->count && !it; j++)
			if (out->items[j].key.handle == key.handle)
				it = &out->items[j];
		if (!found || (!it && skipped_by_all(&key, out)) || (it && it->resumed)) {
			hc_key_info_clear(&key);
			continue;
		}
		if (it) {
			hc_key_info_clear(&key);
			if (newer(certs[i].cert, it->cert))
				rc = item_fill(it, certs[i].cert, days, out->now, err);
			continue;
		}
		if (!(it = plan_add(out))) {
			hc_key_info_clear(&key);
			return hc_fail(err, HC_IO, "out of memory");
		}
		it->key = key;
		rc = item_fill(it, certs[i].cert, days, out->now, err);
	}
	return rc;
}

/* LABEL.retired-YYYYMMDDTHHMMSSZ for now (2026-12-02T23:00:00Z -> 20261202T230000Z). */
static char *retired_label(const char *label)
{
	char stamp[21], *out = NULL;

	hc_time_iso8601(time(NULL), stamp);
	if (asprintf(&out, "%s%s%.4s%.2s%.2sT%.2s%.2s%.2sZ", label, HC_RETIRED_MARK, stamp,
		     stamp + 5, stamp + 8, stamp + 11, stamp + 14, stamp + 17) < 0)
		return NULL;
	return out;
}

/*
 * Relabel a key's objects of class `cls` (its id) to `label`, undoably: its
 * public halves, or its certificates but those marked as a CA's. One
 * C_GetAttributeValue each, for the label (and a certificate's category).
 */
static hc_rc relabel_objects(hc_session *s, CK_OBJECT_CLASS cls, const hc_key_info *key,
			     const char *label, hc_rollback *undo, hc_error *err)
{
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, key->id, key->id_len}};
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_rc rc;

	if (!key->id_len)
		return HC_OK;
	if ((rc = hc_objects_find(s, tmpl, 2, &found, &n, err)) != HC_OK)
		return rc;
	for (size_t i = 0; i < n && rc == HC_OK; i++) {
		CK_ATTRIBUTE a[] = {{CKA_LABEL, NULL, 0}, {CKA_CERTIFICATE_CATEGORY, NULL, 0}};
		CK_ULONG category = CK_UNAVAILABLE_INFORMATION;
		char *have = NULL;
		if ((rc = hc_attrs_get(s, found[i], a, cls == CKO_CERTIFICATE ? 2 : 1, err)) !=
		    HC_OK)
			break;
		if (hc_attr_available(&a[0]) && !(have = strndup(a[0].pValue, a[0].ulValueLen)))
			rc = hc_fail(err, HC_IO, "out of memory");
		hc_attr_ulong(&a[1], &category);
		hc_attrs_release(a, 2);
		if (rc == HC_OK && category != HC_CERT_CATEGORY_AUTHORITY &&
		    (!have || strcmp(have, label) != 0))
			rc = hc_rollback_relabel(undo, found[i], cls, have ? have : "", label,
						 key->id, key->id_len, err);
		free(have);
	}
	free(found);
	return rc;
}

/* Relabel the old key, its public half and its certificates to `retired`. */
static hc_rc retire_key(hc_session *s, const hc_key_info *key, const char *retired,
			hc_rollback *undo, hc_error *err)
{
	hc_rc rc;

	if (strcmp(key->label, retired) != 0 &&
	    (rc = hc_rollback_relabel(undo, key->handle, CKO_PRIVATE_KEY, key->label, retired,
				      key->id, key->id_len, err)) != HC_OK)
		return rc;
	if ((rc = relabel_objects(s, CKO_PUBLIC_KEY, key, retired, undo, err)) != HC_OK)
		return rc;
	return relabel_objects(s, CKO_CERTIFICATE, key, retired, undo, err);
}

/*
 * The new key (LABEL.renewing-TAG) takes `label`: its certificates, its public
 * half, and the private key last, so that until the very end a re-run finds
 * the hand-over unfinished by the private key's temporary label.
 */
static hc_rc take_label(hc_session *s, const hc_key_info *key, const char *label, hc_rollback *undo,
			hc_error *err)
{
	hc_rc rc;

	if ((rc = relabel_objects(s, CKO_CERTIFICATE, key, label, undo, err)) != HC_OK ||
	    (rc = relabel_objects(s, CKO_PUBLIC_KEY, key, label, undo, err)) != HC_OK)
		return rc;
	return hc_rollback_relabel(undo, key->handle, CKO_PRIVATE_KEY, key->label, label, key->id,
				   key->id_len, err);
}

/* `label` is BASE.retired-*. */
static bool retired_of(const char *label, const char *base)
{
	size_t n = strlen(base), m = strlen(HC_RETIRED_MARK);

	return strncmp(label, base, n) == 0 && strncmp(label + n, HC_RETIRED_MARK, m) == 0 &&
	       label[n + m];
}

/* ---- a renewal killed during its hand-over ------------------------------ */

#define TAG_LEN 8 /* hex digits */

/*
 * What ties a new key to the key it replaces: the first 4 bytes of the
 * SHA-256 of the old key's CKA_ID, in lowercase hex. Short, so that the
 * temporary label stays within the label limits of real tokens.
 */
static bool renewing_tag(const unsigned char *id, size_t id_len, char tag[TAG_LEN + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *hex;

	if (!id_len || !SHA256(id, id_len, md) || !(hex = hc_hex_encode(md, TAG_LEN / 2)))
		return false;
	memcpy(tag, hex, TAG_LEN + 1);
	free(hex);
	return true;
}

/* LABEL.renewing-TAG: the new key of a renewal of `old` (NULL: no id, or out of memory). */
static char *renewing_label(const hc_key_info *old)
{
	char tag[TAG_LEN + 1], *out = NULL;

	if (!renewing_tag(old->id, old->id_len, tag) ||
	    asprintf(&out, "%s" HC_RENEWING_MARK "%s", old->label, tag) < 0)
		return NULL;
	return out;
}

/* Where the last `mark` in `label` starts, if something precedes and follows it. */
static const char *last_mark(const char *label, const char *mark)
{
	const char *found = NULL;

	for (const char *p = label; (p = strstr(p, mark)); p++)
		found = p;
	return found && found != label && found[strlen(mark)] ? found : NULL;
}

/* LABEL of LABEL.renewing-* or LABEL.retired-*, else the label itself; NULL on OOM. */
static char *label_base(const char *label)
{
	const char *mark = last_mark(label, HC_RENEWING_MARK);

	if (!mark)
		mark = last_mark(label, HC_RETIRED_MARK);
	return mark ? strndup(label, (size_t)(mark - label)) : strdup(label);
}

/* The private keys on the token, their labels and ids: read once. */
struct names {
	CK_OBJECT_HANDLE *handles;
	char **labels;
	CK_ATTRIBUTE *ids; /* CKA_ID values as hc_attrs_get gives them */
	size_t count;
};

static void names_clear(struct names *nm)
{
	for (size_t i = 0; i < nm->count; i++) {
		free(nm->labels ? nm->labels[i] : NULL);
		if (nm->ids)
			hc_attrs_release(&nm->ids[i], 1);
	}
	free(nm->handles);
	free(nm->labels);
	free(nm->ids);
	memset(nm, 0, sizeof(*nm));
}

static hc_rc names_read(hc_session *s, struct names *nm, hc_error *err)
{
	size_t n = 0;
	hc_rc rc = hc_key_find(s, CKO_PRIVATE_KEY, NULL, NULL, 0, &nm->handles, &n, err);

	if (rc != HC_OK)
		return rc;
	if (n && (!(nm->labels = calloc(n, sizeof(*nm->labels))) ||
		  !(nm->ids = calloc(n, sizeof(*nm->ids)))))
		return hc_fail(err, HC_IO, "out of memory");
	for (; nm->count < n && rc == HC_OK; nm->count++) {
		CK_ATTRIBUTE a[] = {{CKA_LABEL, NULL, 0}, {CKA_ID, NULL, 0}};
		if ((rc = hc_attrs_get(s, nm->handles[nm->count], a, 2, err)) != HC_OK)
			break;
		if (hc_attr_available(&a[0]) &&
		    !(nm->labels[nm->count] = a[0].pValue ? strndup(a[0].pValue, a[0].ulValueLen)
							  : strdup("")))
			rc = hc_fail(err, HC_IO, "out of memory");
		hc_attrs_release(&a[0], 1);
		nm->ids[nm->count] = a[1];
	}
	return rc;
}

/* `label` is exactly LABEL.renewing-TAG: *base (LABEL) and tag; else *base stays NULL. */
static hc_rc parse_renewing(const char *label, char **base, char tag[TAG_LEN + 1], hc_error *err)
{
	const char *mark = label ? last_mark(label, HC_RENEWING_MARK) : NULL;
	const char *t = mark ? mark + strlen(HC_RENEWING_MARK) : NULL;

	*base = NULL;
	if (!t || strlen(t) != TAG_LEN || strspn(t, "0123456789abcdef") != TAG_LEN)
		return HC_OK;
	memcpy(tag, t, TAG_LEN + 1);
	if (!(*base = strndup(label, (size_t)(mark - label))))
		return hc_fail(err, HC_IO, "out of memory");
	return HC_OK;
}

static hc_rc plan_from_cert(X509 *cert, const hc_cert_info *info, hc_csr_plan *plan, hc_error *err);

/* A LABEL.renewing-TAG private key found on the token, and what it was renewing. */
struct leftover {
	hc_key_info new_key;
	char *label;	 /* LABEL */
	hc_key_info old; /* the private key TAG names */
	X509 *old_cert;	 /* its newest certificate (borrowed from the stored list) */
	char *retired;	 /* the label the old key's objects end with */
};

static void leftover_clear(struct leftover *l)
{
	hc_key_info_clear(&l->new_key);
	hc_key_info_clear(&l->old);
	free(l->label);
	free(l->retired);
	memset(l, 0, sizeof(*l));
}

/*
 * The key the leftover `self` was renewing: the one private key labelled
 * LABEL or LABEL.retired-* whose id has the tag. No other private key may
 * hold LABEL. CK_INVALID_HANDLE when that is not so.
 */
static CK_OBJECT_HANDLE old_key_of(const struct names *nm, size_t self, const char *label,
				   const char *tag)
{
	CK_OBJECT_HANDLE old = CK_INVALID_HANDLE;
	size_t tagged = 0, holders = 0;

	for (size_t j = 0; j < nm->count; j++) {
		const char *l = nm->labels[j];
		char t[TAG_LEN + 1];
		bool holds = l && strcmp(l, label) == 0;
		if (j == self || !l)
			continue;
		holders += holds;
		if ((holds || retired_of(l, label)) && hc_attr_available(&nm->ids[j]) &&
		    renewing_tag(nm->ids[j].pValue, nm->ids[j].ulValueLen, t) &&
		    strcmp(t, tag) == 0) {
			tagged++;
			old = nm->handles[j];
			if (holds)
				holders--; /* the old key may hold it */
		}
	}
	return tagged == 1 && holders == 0 ? old : CK_INVALID_HANDLE;
}

static bool same_id(const hc_stored_cert *c, const hc_key_info *key)
{
	return c->id_len == key->id_len && memcmp(c->id, key->id, key->id_len) == 0;
}

/* An end-entity certificate is stored with `key`'s CKA_ID. */
static bool leaf_with_id(const hc_stored_cert *certs, size_t n, const hc_key_info *key)
{
	for (size_t i = 0; i < n; i++)
		if (acme_stored_leaf(&certs[i]) && same_id(&certs[i], key))
			return true;
	return false;
}

/* The stored certificate `cert` carries the CKA_ID `key` has. */
static bool stored_with_id(const hc_stored_cert *certs, size_t n, X509 *cert,
			   const hc_key_info *key)
{
	for (size_t i = 0; i < n; i++)
		if (certs[i].cert == cert)
			return same_id(&certs[i], key);
	return false;
}

/*
 * Whether a leftover is renew's own work to finish (*ours), its old key
 * found (old_key_of): the new key has a certificate stored with its id for
 * exactly the DNS names and addresses of the old key's newest certificate
 * (what the killed run ordered and checked). A pair without a certificate
 * was killed before its order ended: left for remove_leftover.
 */
static hc_rc leftover_is_ours(hc_session *s, const hc_stored_cert *certs, size_t n,
			      CK_OBJECT_HANDLE old, struct leftover *l, bool *ours, hc_error *err)
{
	EVP_PKEY *new_pub = NULL, *old_pub = NULL;
	hc_cert_info new_info = {0}, old_info = {0};
	hc_csr_plan plan = {0};
	CK_OBJECT_HANDLE *holders = NULL;
	bool taken = false;
	X509 *new_cert;
	size_t nh = 0;
	hc_rc rc;

	*ours = false;
	if (!leaf_with_id(certs, n, &l->new_key))
		return HC_OK;
	/* Asked again (old_key_of read the labels once): an earlier finish may hold LABEL now. */
	if ((rc = hc_key_find(s, CKO_PRIVATE_KEY, l->label, NULL, 0, &holders, &nh, err)) != HC_OK)
		return rc;
	for (size_t i = 0; i < nh; i++)
		if (holders[i] != old)
			taken = true;
	free(holders);
	if (taken)
		return HC_OK;
	if ((rc = hc_key_describe(s, old, &l->old, err)) != HC_OK ||
	    (rc = hc_key_public(s, &l->new_key, &new_pub, err)) != HC_OK ||
	    (rc = hc_key_public(s, &l->old, &old_pub, err)) != HC_OK)
		goto out;
	new_cert = acme_newest_leaf(new_pub, certs, n);
	l->old_cert = acme_newest_leaf(old_pub, certs, n);
	if (!new_cert || !l->old_cert || !stored_with_id(certs, n, new_cert, &l->new_key))
		goto out;
	if ((rc = hc_cert_describe(new_cert, &new_info, err)) != HC_OK ||
	    (rc = hc_cert_describe(l->old_cert, &old_info, err)) != HC_OK ||
	    (rc = plan_from_cert(l->old_cert, &old_info, &plan, err)) != HC_OK ||
	    !acme_same_names(&plan, &new_info))
		goto out;
	l->retired = strcmp(l->old.label, l->label) == 0 ? retired_label(l->label)
							 : strdup(l->old.label);
	if (!l->retired)
		rc = hc_fail(err, HC_IO, "out of memory");
	*ours = rc == HC_OK;
out:
	if (!*ours)
		l->old_cert = NULL;
	hc_csr_plan_clear(&plan);
	hc_cert_info_clear(&new_info);
	hc_cert_info_clear(&old_info);
	EVP_PKEY_free(new_pub);
	EVP_PKEY_free(old_pub);
	return rc;
}

/* As an uninterrupted run ends: the old key retired, the new one under LABEL. */
static hc_rc finish_leftover(hc_session *s, const struct leftover *l, hc_error *err)
{
	hc_rollback undo = {.session = s};
	hc_rc rc;

	if ((rc = retire_key(s, &l->old, l->retired, &undo, err)) == HC_OK)
		rc = take_label(s, &l->new_key, l->label, &undo, err);
	if (rc != HC_OK)
		hc_rollback_run(&undo, err);
	hc_rollback_clear(&undo);
	return rc;
}

/*
 * The plan's item for a leftover: finished (frc HC_OK; `key` the new key as
 * it is now, `cert` the old certificate) or not (`e`, said to be this key's
 * failure; after a finish, that the token holds the renewal).
 */
static hc_rc add_resumed(hc_session *s, hc_renew_plan *out, struct leftover *l, long days,
			 hc_rc frc, const hc_error *e, hc_error *err)
{
	hc_renew_item *it = plan_add(out);
	hc_error why = *e;
	bool read_back = false;

	if (!it)
		return hc_fail(err, HC_IO, "out of memory");
	it->resumed = true;
	if (frc != HC_OK) {
		hc_error_prefix(&why, "finishing the renewal of '%s' an interrupted run left",
				l->label);
		it->attempted = true;
		it->error = why;
	} else {
		it->result.retired_label = l->retired;
		l->retired = NULL;
		read_back = hc_key_describe(s, l->new_key.handle, &it->key, &why) == HC_OK;
		if (!read_back) {
			/* Read before the finish, only its label changed: still reported. */
			hc_key_info_clear(&it->key);
			free(l->new_key.label);
			free(l->new_key.uri);
			l->new_key.label = strdup(l->label);
			l->new_key.uri = hc_uri_for_object(&hc_session_slot(s)->token,
							   CKO_PRIVATE_KEY, l->label, l->new_key.id,
							   l->new_key.id_len);
			if (!l->new_key.label || !l->new_key.uri)
				return hc_fail(err, HC_IO, "out of memory");
		}
	}
	if (!read_back) { /* the key as read when found (relabelled above if finished) */
		it->key = l->new_key;
		memset(&l->new_key, 0, sizeof(l->new_key));
	}
	/* Without the old certificate if it cannot be read: still reported. */
	if (l->old_cert && item_fill(it, l->old_cert, days, out->now, &why) != HC_OK) {
		X509_free(it->cert);
		it->cert = NULL;
		hc_cert_info_clear(&it->info);
		it->left_s = it->lifetime_s = it->threshold_s = 0;
	}
	it->due = true; /* it was, when the killed run began */
	return HC_OK;
}

/*
 * A renewal killed during the hand-over (issue 14.5) left the new key
 * LABEL.renewing-TAG with its certificate stored (renew stores it before the
 * hand-over starts) and the old key partly or wholly retired. Each such
 * leftover that is renew's own (old_key_of, leftover_is_ours) is finished as
 * an uninterrupted run ends, and is a plan item: reported as renewed, its
 * hook run, nothing ordered again. One that fails to finish is a failed
 * item; the others go on. `only`: LABEL of the key named, or NULL for all.
 */
static hc_rc finish_interrupted(hc_session *s, const char *only, const hc_stored_cert *certs,
				size_t n, long days, hc_renew_plan *out, hc_error *err)
{
	struct names nm = {0};
	hc_rc rc = names_read(s, &nm, err);

	for (size_t i = 0; i < nm.count && rc == HC_OK; i++) {
		struct leftover l = {0};
		CK_OBJECT_HANDLE old;
		char tag[TAG_LEN + 1];
		hc_error e = {0};
		bool ours = false;
		hc_rc frc;
		if ((rc = parse_renewing(nm.labels[i], &l.label, tag, err)) != HC_OK || !l.label ||
		    (only && strcmp(l.label, only) != 0) ||
		    (old = old_key_of(&nm, i, l.label, tag)) == CK_INVALID_HANDLE) {
			leftover_clear(&l);
			continue;
		}
		frc = hc_key_describe(s, nm.handles[i], &l.new_key, &e);
		if (frc == HC_OK)
			frc = leftover_is_ours(s, certs, n, old, &l, &ours, &e);
		if (frc == HC_OK && ours)
			frc = finish_leftover(s, &l, &e);
		if (frc != HC_OK || ours)
			rc = add_resumed(s, out, &l, days, frc, &e, err);
		leftover_clear(&l);
	}
	names_clear(&nm);
	return rc;
}

/*
 * The LABEL whose interrupted renewal --key may finish: the URI's object=,
 * else the label of the key it selects; LABEL.renewing-* and
 * LABEL.retired-* count as LABEL.
 */
static hc_rc named_label(hc_session *s, const char *key_uri, char **out, hc_error *err)
{
	hc_error ignored = {0};
	hc_key_info key = {0};
	hc_uri *uri = NULL;
	CK_ULONG count = 0;
	CK_ATTRIBUTE *tmpl;
	char *label = NULL;
	hc_rc rc = HC_OK;

	*out = NULL;
	if (hc_uri_parse(key_uri, &uri, &ignored) == HC_OK) {
		tmpl = hc_uri_object_template(uri, &count);
		for (CK_ULONG i = 0; tmpl && i < count && !label && rc == HC_OK; i++)
			if (tmpl[i].type == CKA_LABEL && tmpl[i].pValue &&
			    !(label = strndup(tmpl[i].pValue, tmpl[i].ulValueLen)))
				rc = hc_fail(err, HC_IO, "out of memory");
		hc_uri_free(uri);
	}
	if (rc == HC_OK && !label) {
		if ((rc = hc_key_select_private(s, key_uri, &key, err)) == HC_OK && key.label &&
		    !(label = strdup(key.label)))
			rc = hc_fail(err, HC_IO, "out of memory");
		hc_key_info_clear(&key);
	}
	if (rc == HC_OK && label && !(*out = label_base(label)))
		rc = hc_fail(err, HC_IO, "out of memory");
	free(label);
	return rc;
}

/*
 * The plan failed (rc, err) after hand-overs may have been finished on the
 * token: those items stay, to be reported and their hooks run, with the
 * failure in plan->rc and plan->error; the others go.
 */
static void keep_resumed(hc_renew_plan *plan, hc_rc rc, const hc_error *err)
{
	size_t kept = 0;

	for (size_t i = 0; i < plan->count; i++) {
		if (plan->items[i].resumed)
			plan->items[kept++] = plan->items[i];
		else
			item_clear(&plan->items[i]);
	}
	plan->count = kept;
	if (!kept)
		hc_renew_plan_clear(plan);
	plan->rc = rc;
	plan->error = *err;
}

hc_rc hc_renew_plan_make(hc_session *s, const char *key_uri, long days, time_t now,
			 hc_renew_plan *out, hc_error *err)
{
	hc_stored_cert *certs = NULL;
	char *only = NULL;
	size_t n = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->now = now;
	if ((rc = hc_certstore_list(s, &certs, &n, err)) != HC_OK)
		return rc;
	if (key_uri && (rc = named_label(s, key_uri, &only, err)) == HC_OK && !only)
		rc = hc_fail(err, HC_USAGE, "the key to renew has no label to hand over");
	if (rc == HC_OK)
		rc = finish_interrupted(s, only, certs, n, days, out, err);
	/* --key: a hand-over finished (or failed) is that key's renewal. */
	if (rc == HC_OK && !key_uri)
		rc = plan_all(s, certs, n, days, out, err);
	else if (rc == HC_OK && out->count == 0)
		rc = plan_one_key(s, key_uri, certs, n, days, out, err);
	free(only);
	hc_stored_certs_free(certs, n);
	if (rc != HC_OK)
		keep_resumed(out, rc, err);
	return out->count ? HC_OK : rc;
}

/* ---- renewing one ------------------------------------------------------- */

/* The request of a renewal: the old certificate's subject and SANs. */
static hc_rc plan_from_cert(X509 *cert, const hc_cert_info *info, hc_csr_plan *plan, hc_error *err)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	hc_subject subject = {0};
	hc_altnames sans = {0};
	hc_csr_params params = {.subject = &subject, .sans = &sans};
	hc_rc rc = HC_OK;

	for (int i = 0; i < X509_NAME_entry_count(name) && rc == HC_OK; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		unsigned char *utf8 = NULL;
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		char oid[80];
		if (ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) < 0)
			rc = hc_fail_ssl(err, HC_USAGE, "the certificate's subject");
		else if (nid != NID_undef)
			rc = hc_subject_add(&subject, OBJ_nid2sn(nid), (char *)utf8, err);
		else if (OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1) > 0)
			rc = hc_subject_add(&subject, oid, (char *)utf8, err);
		OPENSSL_free(utf8);
	}
	for (size_t i = 0; i < info->san_count && rc == HC_OK; i++) {
		const hc_san *s = &info->sans[i];
		if (strcmp(s->type, "DNS") == 0)
			rc = hc_altnames_add_typed(&sans, HC_ALTNAME_DNS, s->value, "certificate",
						   err);
		else if (strcmp(s->type, "IP") == 0)
			rc = hc_altnames_add_typed(&sans, HC_ALTNAME_IP, s->value, "certificate",
						   err);
	}
	if (rc == HC_OK)
		rc = hc_csr_plan_make(&params, plan, err);
	hc_subject_clear(&subject);
	hc_altnames_clear(&sans);
	return rc;
}

struct hand_over {
	hc_session *session;
	hc_renew_item *item;
	char *retired;
};

/*
 * After the new certificate is stored beside the new key (both still
 * LABEL.renewing-TAG): the old key is retired and the new one takes the label.
 * Undone if a later step fails; a kill in between is finished by the next
 * run (finish_interrupted).
 */
static hc_rc hand_over(void *ctx, hc_rollback *undo, hc_import_result *imp, hc_error *err)
{
	struct hand_over *h = ctx;
	const char *label = h->item->key.label;
	hc_key_info renamed = {0};
	hc_imported_cert *leaf = &imp->leaf;
	char *leaf_label = NULL, *leaf_uri = NULL;
	hc_rc rc;

	if ((rc = retire_key(h->session, &h->item->key, h->retired, undo, err)) != HC_OK ||
	    (rc = take_label(h->session, &imp->key, label, undo, err)) != HC_OK ||
	    (rc = hc_key_describe(h->session, imp->key.handle, &renamed, err)) != HC_OK)
		return rc;
	hc_key_info_clear(&imp->key);
	imp->key = renamed;
	leaf_label = strdup(label);
	leaf_uri = hc_uri_for_object(&hc_session_slot(h->session)->token, CKO_CERTIFICATE, label,
				     leaf->id, leaf->id_len);
	if (!leaf_label || !leaf_uri) {
		free(leaf_label);
		free(leaf_uri);
		return hc_fail(err, HC_IO, "out of memory");
	}
	free(leaf->label);
	free(leaf->uri);
	leaf->label = leaf_label;
	leaf->uri = leaf_uri;
	return HC_OK;
}

/*
 * Whether a certificate goes with the keys `keys` labelled `label`: one
 * labelled so, one with a key's id, or one for a private key's public key.
 */
static hc_rc any_certificate(hc_session *s, const char *label, const CK_OBJECT_HANDLE *keys,
			     size_t n, bool *any, hc_error *err)
{
	hc_stored_cert *certs = NULL;
	size_t nc = 0;
	hc_rc rc = hc_certstore_list(s, &certs, &nc, err);

	*any = false;
	for (size_t i = 0; rc == HC_OK && i < nc && !*any; i++)
		*any = certs[i].label && strcmp(certs[i].label, label) == 0;
	for (size_t k = 0; rc == HC_OK && k < n && !*any; k++) {
		hc_key_info key = {0};
		hc_error ignored = {0};
		EVP_PKEY *pub = NULL;
		if ((rc = hc_key_describe(s, keys[k], &key, err)) != HC_OK)
			break;
		for (size_t i = 0; key.id_len && i < nc && !*any; i++)
			*any = same_id(&certs[i], &key);
		/* A public key that cannot be read matches no certificate by key. */
		if (!*any && key.cls == CKO_PRIVATE_KEY &&
		    hc_key_public(s, &key, &pub, &ignored) == HC_OK)
			*any = acme_newest_leaf(pub, certs, nc) != NULL;
		EVP_PKEY_free(pub);
		hc_key_info_clear(&key);
	}
	hc_stored_certs_free(certs, nc);
	return rc;
}

/*
 * The private and public keys labelled LABEL.renewing-TAG (TAG: this key's)
 * with no certificate are what a renewal of this key killed before its
 * order ended left behind (kill -9, power loss): they go, so that running
 * renew again completes the work. Keys of that label with a certificate
 * are not renew's to remove (a leftover with its certificate is finished,
 * or not, by the plan): a renewal with a new key (`refuse`) is then refused
 * and nothing changes; --reuse-key makes no key of that label and leaves
 * them. Objects of other classes are never looked at.
 */
static hc_rc remove_leftover(hc_session *s, const char *label, bool refuse, hc_error *err)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
	CK_OBJECT_HANDLE *keys = NULL;
	hc_removal removal = {0};
	bool certified = false;
	size_t n = 0;
	hc_rc rc = HC_OK;

	for (size_t c = 0; c < 2 && rc == HC_OK; c++) {
		CK_OBJECT_HANDLE *found = NULL, *more;
		size_t nf = 0;
		if ((rc = hc_key_find(s, classes[c], label, NULL, 0, &found, &nf, err)) != HC_OK)
			break;
		if (nf && !(more = realloc(keys, (n + nf) * sizeof(*keys))))
			rc = hc_fail(err, HC_IO, "out of memory");
		else if (nf) {
			keys = more;
			memcpy(keys + n, found, nf * sizeof(*keys));
			n += nf;
		}
		free(found);
	}
	if (rc == HC_OK && n)
		rc = any_certificate(s, label, keys, n, &certified, err);
	if (rc == HC_OK && certified && !refuse)
		n = 0;
	else if (rc == HC_OK && certified)
		rc = hc_fail(err, HC_CHECK,
			     "label '%s' is the one a renewal gives its new key, and a key with a "
			     "certificate holds it; it was not left by a renewal: rename it "
			     "(nothing was changed)",
			     label);
	for (size_t i = 0; i < n && rc == HC_OK; i++)
		rc = hc_removal_add(s, &removal, keys[i], false, err);
	if (rc == HC_OK && removal.count && (rc = hc_removal_execute(s, &removal, err)) != HC_OK)
		hc_error_prefix(err, "removing '%s', left by an interrupted renewal", label);
	hc_removal_clear(&removal);
	free(keys);
	return rc;
}

hc_rc hc_renew_one(hc_acme_session *a, hc_renew_item *it, bool reuse_key, hc_error *err)
{
	hc_csr_plan plan = {0};
	hc_keygen_params gen = {0};
	hc_enroll_params ep = {0};
	struct enroll_hooks hooks = {0};
	struct hand_over over = {.session = a->session, .item = it};
	char *tmp_label = NULL;
	hc_rc rc;

	it->attempted = true;
	if (!it->key.label || !*it->key.label) {
		rc = hc_fail(err, HC_USAGE, "the key to renew has no label to hand over");
		goto out;
	}
	if ((rc = plan_from_cert(it->cert, &it->info, &plan, err)) != HC_OK)
		goto out;
	ep.plan = &plan;
	/* What a renewal of this key killed before its order ended left goes first. */
	if (it->key.id_len &&
	    (!(tmp_label = renewing_label(&it->key)) ||
	     (rc = remove_leftover(a->session, tmp_label, !reuse_key, err)) != HC_OK)) {
		if (!tmp_label)
			rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if (reuse_key) {
		ep.key_uri = it->key.uri;
		hooks.replace = true;
		hooks.supersedes = it->cert; /* it goes even if issued in the same second */
	} else {
		if (!it->key.id_len) {
			rc = hc_error_hint(err, HC_HINT_REUSE_KEY,
					   hc_fail(err, HC_USAGE,
						   "key '%s' has no CKA_ID to tie a new key to "
						   "it: give it one",
						   it->key.label));
			goto out;
		}
		if (!(over.retired = retired_label(it->key.label))) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		gen.label = tmp_label;
		gen.type = it->key.type;
		gen.exportable = it->key.extractable ==
				 1; /* as the security officer chose before */
		ep.keygen = &gen;
		hooks.after_import = hand_over;
		hooks.ctx = &over;
	}
	if ((rc = acme_enroll_run(a, &ep, &hooks, &it->result, err)) != HC_OK)
		goto out;
	it->renewed = true;
	it->result.retired_label = over.retired;
	over.retired = NULL;
out:
	if (rc != HC_OK)
		it->error = *err;
	free(tmp_label);
	free(over.retired);
	hc_csr_plan_clear(&plan);
	return rc;
}

hc_rc hc_renew_resumed(hc_session *s, hc_chain_pool *roots, hc_renew_item *it, hc_error *err)
{
	hc_enroll_result *r = &it->result;
	hc_import_params imp = {.cert_path = "the renewed certificate on the token"};
	hc_stored_cert *certs = NULL;
	hc_x509_bundle bundle = {0};
	EVP_PKEY *pub = NULL;
	X509 *leaf;
	size_t n = 0;
	hc_rc rc;

	it->attempted = true;
	if ((rc = hc_key_public(s, &it->key, &pub, err)) != HC_OK ||
	    (rc = hc_certstore_list(s, &certs, &n, err)) != HC_OK)
		goto out;
	if (!(leaf = acme_newest_leaf(pub, certs, n))) {
		rc = hc_fail(err, HC_CHECK, "the renewed key '%s' has no certificate on the token",
			     it->key.label ? it->key.label : "");
		goto out;
	}
	if ((rc = hc_cert_describe(leaf, &r->cert, err)) != HC_OK)
		goto out;
	/*
	 * The killed run verified the chain before it stored the certificate;
	 * not verifying now (other trust anchors) is reported, not a failure:
	 * the renewal is done, and its hook must run.
	 */
	rc = acme_token_chain(roots, leaf, certs, n, &bundle, &r->chain, err);
	if (rc == HC_CHECK) {
		/* The certificate alone (acme_token_chain put it first): no CA is its chain. */
		while (sk_X509_num(bundle.certs) > 1)
			X509_free(sk_X509_pop(bundle.certs));
		rc = HC_OK;
	}
	if (rc != HC_OK ||
	    (rc = hc_import_certs(s, &imp, &bundle, NULL, &r->imported, err)) != HC_OK)
		goto out;
	hc_key_info_clear(&r->key);
	r->key = r->imported.key;
	memset(&r->imported.key, 0, sizeof(r->imported.key));
	r->key_created = true;
	it->renewed = true;
out:
	if (rc != HC_OK) {
		hc_error_prefix(err,
				"the renewal of '%s' is finished on the token, but reading it "
				"back failed",
				it->key.label ? it->key.label : "");
		it->error = *err;
	}
	hc_x509_bundle_clear(&bundle);
	hc_stored_certs_free(certs, n);
	EVP_PKEY_free(pub);
	return rc;
}
