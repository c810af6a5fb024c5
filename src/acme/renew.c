/*
 * SPEC: renew. Which certificates on the token are due, and renewing one:
 * a new key pair of the same type, subject and SANs takes over the label
 * (the old key, its public key and certificates are relabelled as retired
 * and kept), or the same key with --reuse-key.
 */
#include "internal.h"

#include "hsmcert/certstore.h"

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

static bool renewable_leaf(const hc_stored_cert *c)
{
	return c->cert && c->category != HC_CERT_CATEGORY_AUTHORITY && X509_check_ca(c->cert) == 0;
}

/* A newer certificate of the same key replaces the one an item holds. */
static bool newer(X509 *a, X509 *b)
{
	return ASN1_TIME_compare(X509_get0_notAfter(a), X509_get0_notAfter(b)) > 0;
}

static hc_rc plan_one_key(hc_session *s, const char *key_uri, hc_stored_cert *certs, size_t n,
			  long days, hc_renew_plan *out, hc_error *err)
{
	hc_renew_item *it = calloc(1, sizeof(*it));
	EVP_PKEY *pub = NULL;
	X509 *best = NULL;
	hc_rc rc;

	if (!it)
		return hc_fail(err, HC_IO, "out of memory");
	out->items = it;
	out->count = 1; /* cleared with the plan whatever fails below */
	if ((rc = hc_key_select_private(s, key_uri, &it->key, err)) != HC_OK ||
	    (rc = hc_key_public(s, &it->key, &pub, err)) != HC_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (renewable_leaf(&certs[i]) &&
		    hc_public_keys_equal(pub, X509_get0_pubkey(certs[i].cert)) &&
		    (!best || newer(certs[i].cert, best)))
			best = certs[i].cert;
	EVP_PKEY_free(pub);
	if (!best)
		return hc_fail(err, HC_CHECK,
			       "key '%s' has no certificate on the token to renew; enroll it first",
			       it->key.label ? it->key.label : "");
	return item_fill(it, best, days, out->now, err);
}

static bool skipped_by_all(const hc_key_info *key)
{
	return key->label && (strcmp(key->label, HC_ACME_ACCOUNT_LABEL) == 0 ||
			      strstr(key->label, HC_RETIRED_MARK));
}

static hc_rc plan_all(hc_session *s, hc_stored_cert *certs, size_t n, long days, hc_renew_plan *out,
		      hc_error *err)
{
	hc_rc rc = HC_OK;

	if (n && !(out->items = calloc(n, sizeof(*out->items))))
		return hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; i < n && rc == HC_OK; i++) {
		hc_key_info key = {0};
		hc_renew_item *it = NULL;
		bool found = false;
		if (!renewable_leaf(&certs[i]))
			continue;
		if ((rc = hc_certstore_find_key(s, certs[i].cert, &key, &found, err)) != HC_OK)
			break;
		if (!found || skipped_by_all(&key)) {
			hc_key_info_clear(&key);
			continue;
		}
		for (size_t j = 0; j < out->count && !it; j++)
			if (out->items[j].key.handle == key.handle)
				it = &out->items[j];
		if (it) {
			hc_key_info_clear(&key);
			if (newer(certs[i].cert, it->cert))
				rc = item_fill(it, certs[i].cert, days, out->now, err);
			continue;
		}
		it = &out->items[out->count++];
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

/* Relabel a key's certificates (not CA ones) to `label`, undoably. */
static hc_rc relabel_certs(hc_session *s, const hc_key_info *key, const char *label,
			   hc_rollback *undo, hc_error *err)
{
	CK_OBJECT_CLASS cert_class = CKO_CERTIFICATE;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cert_class, sizeof(cert_class)},
			       {CKA_ID, key->id, key->id_len}};
	CK_OBJECT_HANDLE *certs = NULL;
	size_t n = 0;
	hc_rc rc;

	if (!key->id_len)
		return HC_OK;
	if ((rc = hc_objects_find(s, tmpl, 2, &certs, &n, err)) != HC_OK)
		return rc;
	for (size_t i = 0; i < n && rc == HC_OK; i++) {
		hc_stored_cert c = {0};
		if ((rc = hc_certstore_read(s, certs[i], &c, err)) == HC_OK &&
		    c.category != HC_CERT_CATEGORY_AUTHORITY &&
		    (!c.label || strcmp(c.label, label) != 0))
			rc = hc_rollback_relabel(undo, certs[i], CKO_CERTIFICATE,
						 c.label ? c.label : "", label, key->id,
						 key->id_len, err);
		hc_stored_cert_clear(&c);
	}
	free(certs);
	return rc;
}

/* Relabel a key's public halves (same id) to `label`, undoably. */
static hc_rc relabel_publics(hc_session *s, const hc_key_info *key, const char *label,
			     hc_rollback *undo, hc_error *err)
{
	CK_OBJECT_HANDLE *pubs = NULL;
	size_t n = 0;
	hc_rc rc;

	if (!key->id_len)
		return HC_OK;
	if ((rc = hc_key_find(s, CKO_PUBLIC_KEY, NULL, key->id, key->id_len, &pubs, &n, err)) !=
	    HC_OK)
		return rc;
	for (size_t i = 0; i < n && rc == HC_OK; i++) {
		hc_key_info pub = {0};
		if ((rc = hc_key_describe(s, pubs[i], &pub, err)) == HC_OK &&
		    (!pub.label || strcmp(pub.label, label) != 0))
			rc = hc_rollback_relabel(undo, pubs[i], CKO_PUBLIC_KEY,
						 pub.label ? pub.label : "", label, key->id,
						 key->id_len, err);
		hc_key_info_clear(&pub);
	}
	free(pubs);
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
	if ((rc = relabel_publics(s, key, retired, undo, err)) != HC_OK)
		return rc;
	return relabel_certs(s, key, retired, undo, err);
}

/*
 * The new key (LABEL.renewing) takes `label`: its certificates, its public
 * half, and the private key last, so that until the very end a re-run finds
 * the hand-over unfinished by the private key's temporary label.
 */
static hc_rc take_label(hc_session *s, const hc_key_info *key, const char *label, hc_rollback *undo,
			hc_error *err)
{
	hc_rc rc;

	if ((rc = relabel_certs(s, key, label, undo, err)) != HC_OK ||
	    (rc = relabel_publics(s, key, label, undo, err)) != HC_OK)
		return rc;
	return hc_rollback_relabel(undo, key->handle, CKO_PRIVATE_KEY, key->label, label, key->id,
				   key->id_len, err);
}

#define RENEWING ".renewing"

/* `label` is LABEL.retired-*. */
static bool retired_of(const char *label, const char *base)
{
	size_t n = strlen(base), m = strlen(HC_RETIRED_MARK);

	return strncmp(label, base, n) == 0 && strncmp(label + n, HC_RETIRED_MARK, m) == 0 &&
	       label[n + m];
}

/*
 * The key that was being retired for `label`: a private key still labelled
 * `label` with another id than the new key's (its retired label still to
 * make), or one already relabelled LABEL.retired-* whose public half or
 * certificates still carry `label` (the same retired label for them).
 */
static hc_rc find_old_key(hc_session *s, const char *label, const hc_key_info *new_key,
			  hc_key_info *old, char **retired, bool *found, hc_error *err)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE};
	hc_rc rc = HC_OK;

	*found = false;
	for (size_t c = 0; c < 3 && rc == HC_OK && !*found; c++) {
		CK_OBJECT_CLASS cls = classes[c];
		CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
				       {CKA_LABEL, (void *)label, strlen(label)}};
		CK_OBJECT_HANDLE *objs = NULL;
		size_t n = 0;
		if ((rc = hc_objects_find(s, tmpl, 2, &objs, &n, err)) != HC_OK)
			break;
		for (size_t i = 0; i < n && rc == HC_OK && !*found; i++) {
			hc_stored_cert cert = {0};
			hc_key_info key = {0};
			const unsigned char *id;
			size_t id_len;
			CK_OBJECT_HANDLE *privs = NULL;
			size_t np = 0;
			if (cls == CKO_CERTIFICATE) {
				rc = hc_certstore_read(s, objs[i], &cert, err);
				id = cert.id, id_len = cert.id_len;
			} else {
				rc = hc_key_describe(s, objs[i], &key, err);
				id = key.id, id_len = key.id_len;
			}
			if (rc == HC_OK && id_len &&
			    !(id_len == new_key->id_len && memcmp(id, new_key->id, id_len) == 0))
				rc = hc_key_find(s, CKO_PRIVATE_KEY, NULL, id, id_len, &privs, &np,
						 err);
			for (size_t j = 0; j < np && rc == HC_OK && !*found; j++) {
				hc_key_info_clear(old);
				if ((rc = hc_key_describe(s, privs[j], old, err)) != HC_OK ||
				    !old->label)
					continue;
				if (strcmp(old->label, label) == 0) {
					*found = true;
					if (!(*retired = retired_label(label)))
						rc = hc_fail(err, HC_IO, "out of memory");
				} else if (retired_of(old->label, label)) {
					*found = true;
					if (!(*retired = strdup(old->label)))
						rc = hc_fail(err, HC_IO, "out of memory");
				}
			}
			free(privs);
			hc_stored_cert_clear(&cert);
			hc_key_info_clear(&key);
		}
		free(objs);
	}
	if (!*found)
		hc_key_info_clear(old);
	return rc;
}

/*
 * A renewal killed during the hand-over (issue 14.5) left the new key
 * LABEL.renewing with its certificate stored (only renew makes that label,
 * and stores the certificate before the hand-over starts), and the old key
 * partly or wholly retired. It is finished as an uninterrupted run ends:
 * the old key retired, the new one under the label, nothing ordered again.
 * A LABEL.renewing pair without a certificate was killed before the order
 * ended and is removed when the key is renewed again (remove_leftover).
 * `only`: the label of the key named, or NULL for every key.
 */
static hc_rc finish_interrupted(hc_session *s, const char *only, hc_error *err)
{
	CK_OBJECT_HANDLE *privs = NULL;
	char *tmp_label = NULL;
	size_t n = 0;
	hc_rc rc;

	if (only && asprintf(&tmp_label, "%s" RENEWING, only) < 0)
		return hc_fail(err, HC_IO, "out of memory");
	rc = hc_key_find(s, CKO_PRIVATE_KEY, tmp_label, NULL, 0, &privs, &n, err);
	for (size_t i = 0; i < n && rc == HC_OK; i++) {
		hc_key_info new_key = {0}, old = {0};
		hc_rollback undo = {.session = s};
		CK_OBJECT_CLASS cert_class = CKO_CERTIFICATE;
		CK_OBJECT_HANDLE *certs = NULL;
		char *label = NULL, *retired = NULL;
		size_t len, ncerts = 0;
		bool found = false;
		if ((rc = hc_key_describe(s, privs[i], &new_key, err)) != HC_OK)
			break;
		len = new_key.label ? strlen(new_key.label) : 0;
		if (new_key.id_len && len > strlen(RENEWING) &&
		    strcmp(new_key.label + len - strlen(RENEWING), RENEWING) == 0) {
			CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cert_class, sizeof(cert_class)},
					       {CKA_ID, new_key.id, new_key.id_len}};
			rc = hc_objects_find(s, tmpl, 2, &certs, &ncerts, err);
		}
		if (rc == HC_OK && ncerts &&
		    !(label = strndup(new_key.label, len - strlen(RENEWING))))
			rc = hc_fail(err, HC_IO, "out of memory");
		if (rc == HC_OK && label)
			rc = find_old_key(s, label, &new_key, &old, &retired, &found, err);
		if (rc == HC_OK && found)
			rc = retire_key(s, &old, retired, &undo, err);
		if (rc == HC_OK && label)
			rc = take_label(s, &new_key, label, &undo, err);
		if (rc != HC_OK) {
			hc_rollback_run(&undo, err);
			hc_error_prefix(
				err, "finishing the hand-over of '%s' an interrupted renewal left",
				label ? label : "");
		}
		hc_rollback_clear(&undo);
		free(certs);
		free(label);
		free(retired);
		hc_key_info_clear(&new_key);
		hc_key_info_clear(&old);
	}
	free(privs);
	free(tmp_label);
	return rc;
}

/* The label a key URI names (object=), or NULL. */
static char *uri_label(const char *key_uri)
{
	hc_uri *uri = NULL;
	hc_error ignored = {0};
	CK_ULONG count = 0;
	CK_ATTRIBUTE *tmpl;
	char *label = NULL;

	if (hc_uri_parse(key_uri, &uri, &ignored) != HC_OK)
		return NULL;
	tmpl = hc_uri_object_template(uri, &count);
	for (CK_ULONG i = 0; tmpl && i < count && !label; i++)
		if (tmpl[i].type == CKA_LABEL && tmpl[i].pValue)
			label = strndup(tmpl[i].pValue, tmpl[i].ulValueLen);
	hc_uri_free(uri);
	return label;
}

/*
 * A renewal by an earlier hsmcert (which renamed the private key first)
 * killed while the label was being handed over (the new private key already
 * labelled LABEL, its public half still LABEL.renewing) left a
 * key complete but for that label, and run again, renew finds its
 * certificate not due. The objects of LABEL.renewing with the key's own id
 * are its halves (only renew makes that label): the hand-over is finished.
 */
static hc_rc finish_handover(hc_session *s, const hc_key_info *key, hc_error *err)
{
	CK_ATTRIBUTE label = {CKA_LABEL, key->label, key->label ? strlen(key->label) : 0};
	CK_OBJECT_HANDLE *found = NULL;
	char *tmp_label = NULL;
	size_t n = 0;
	hc_rc rc;

	if (!key->label || !key->id_len)
		return HC_OK;
	if (asprintf(&tmp_label, "%s" RENEWING, key->label) < 0)
		return hc_fail(err, HC_IO, "out of memory");
	rc = hc_key_find(s, CK_UNAVAILABLE_INFORMATION, tmp_label, key->id, key->id_len, &found, &n,
			 err);
	for (size_t i = 0; rc == HC_OK && i < n; i++)
		rc = hc_attrs_set(s, found[i], &label, 1, err);
	if (rc != HC_OK)
		hc_error_prefix(err, "finishing the hand-over of '%s' an interrupted renewal left",
				key->label);
	free(found);
	free(tmp_label);
	return rc;
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
	if (key_uri)
		only = uri_label(key_uri);
	rc = !key_uri || only ? finish_interrupted(s, only, err) : HC_OK;
	free(only);
	if (rc != HC_OK || (rc = hc_certstore_list(s, &certs, &n, err)) != HC_OK)
		return rc;
	rc = key_uri ? plan_one_key(s, key_uri, certs, n, days, out, err)
		     : plan_all(s, certs, n, days, out, err);
	for (size_t i = 0; rc == HC_OK && i < out->count; i++)
		rc = finish_handover(s, &out->items[i].key, err);
	hc_stored_certs_free(certs, n);
	if (rc != HC_OK)
		hc_renew_plan_clear(out);
	return rc;
}

/* ---- renewing one ------------------------------------------------------- */

/* The request of a renewal: the old certificate's subject and SANs. */
static hc_rc plan_from_cert(const hc_renew_item *it, hc_csr_plan *plan, hc_error *err)
{
	const X509_NAME *name = X509_get_subject_name(it->cert);
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
	for (size_t i = 0; i < it->info.san_count && rc == HC_OK; i++) {
		const hc_san *s = &it->info.sans[i];
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
 * LABEL.renewing): the old key is retired and the new one takes the label.
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
 * A key pair labelled LABEL.renewing is what a renewal killed half-way (kill
 * -9, power loss) left behind: only renew makes that label. It goes, with its
 * certificates, so that running renew again completes the work.
 */
static hc_rc remove_leftover(hc_session *s, const char *label, hc_error *err)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE};
	hc_removal removal = {0};
	hc_rc rc = HC_OK;

	for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]) && rc == HC_OK; c++) {
		CK_OBJECT_CLASS cls = classes[c];
		CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
				       {CKA_LABEL, (void *)label, strlen(label)}};
		CK_OBJECT_HANDLE *found = NULL;
		size_t n = 0;
		if ((rc = hc_objects_find(s, tmpl, 2, &found, &n, err)) != HC_OK)
			break;
		for (size_t i = 0; i < n && rc == HC_OK; i++)
			rc = hc_removal_add(s, &removal, found[i], false, err);
		free(found);
	}
	if (rc == HC_OK && removal.count)
		rc = hc_removal_execute(s, &removal, err);
	if (rc != HC_OK)
		hc_error_prefix(err, "removing '%s', left by an interrupted renewal", label);
	hc_removal_clear(&removal);
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
	if ((rc = plan_from_cert(it, &plan, err)) != HC_OK)
		goto out;
	ep.plan = &plan;
	if (reuse_key) {
		ep.key_uri = it->key.uri;
		hooks.replace = true;
		hooks.supersedes = it->cert; /* it goes even if issued in the same second */
	} else {
		if (asprintf(&tmp_label, "%s" RENEWING, it->key.label) < 0)
			tmp_label = NULL;
		if (!tmp_label || !(over.retired = retired_label(it->key.label))) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		if ((rc = remove_leftover(a->session, tmp_label, err)) != HC_OK)
			goto out;
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
