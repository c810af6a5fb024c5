/* SPEC: list. Statuses and descriptions on top of the inventory. */
#include "hsmcert/list.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
	[HC_STATUS_PENDING] = "pending",
	[HC_STATUS_VALID] = "valid",
	[HC_STATUS_EXPIRING] = "expiring",
	[HC_STATUS_EXPIRED] = "expired",
	[HC_STATUS_NOT_YET_VALID] = "not_yet_valid",
	[HC_STATUS_ORPHAN] = "orphan",
};

const char *hc_cert_status_name(hc_cert_status status)
{
	return status <= HC_STATUS_ORPHAN ? status_names[status] : "unknown";
}

hc_cert_status hc_cert_status_at(const hc_cert_info *info, time_t now, int warn_days)
{
	if (now >= info->not_after)
		return HC_STATUS_EXPIRED;
	if (now < info->not_before)
		return HC_STATUS_NOT_YET_VALID;
	if (hc_days_until(info->not_after, now) < warn_days)
		return HC_STATUS_EXPIRING;
	return HC_STATUS_VALID;
}

static void list_cert_clear(hc_list_cert *c)
{
	hc_cert_info_clear(&c->info);
}

static void list_certs_free(hc_list_cert *certs, size_t count)
{
	for (size_t i = 0; certs && i < count; i++)
		list_cert_clear(&certs[i]);
	free(certs);
}

void hc_listing_clear(hc_listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->key_count; i++)
		list_certs_free(l->keys[i].certs, l->keys[i].cert_count);
	free(l->keys);
	list_certs_free(l->orphans, l->orphan_count);
	list_certs_free(l->authorities, l->authority_count);
	hc_inventory_clear(&l->inventory);
	memset(l, 0, sizeof(*l));
}

/* A certificate object as listed; one that will not parse still shows with its label. */
static hc_rc describe(const hc_listing *l, const hc_inv_cert *object, hc_list_cert *out,
		      hc_error *err)
{
	memset(out, 0, sizeof(*out));
	out->object = object;
	out->status = HC_STATUS_EXPIRED;
	if (object->x509) {
		hc_error ignored = {0};
		if (hc_cert_describe(object->x509, &out->info, &ignored) == HC_OK)
			out->readable = true;
	}
	if (!out->readable) {
		out->info.subject = strdup("");
		out->info.issuer = strdup("");
		out->info.serial = strdup("");
		out->info.signature_algorithm = strdup("");
		if (!out->info.subject || !out->info.issuer || !out->info.serial ||
		    !out->info.signature_algorithm)
			return hc_fail(err, HC_IO, "out of memory");
		return HC_OK;
	}
	out->status = hc_cert_status_at(&out->info, l->now, l->warn_days);
	out->days_left = hc_days_until(out->info.not_after, l->now);
	return HC_OK;
}

/* Newest first: the certificate in use is usually the one issued last. */
static int newest_first(const void *a, const void *b)
{
	const hc_list_cert *x = a, *y = b;

	if (x->readable != y->readable)
		return x->readable ? -1 : 1;
	if (x->info.not_before != y->info.not_before)
		return x->info.not_before > y->info.not_before ? -1 : 1;
	return 0;
}

static hc_rc describe_key(hc_listing *l, size_t k, hc_error *err)
{
	const hc_inv_key *key = &l->inventory.keys[k];
	hc_list_key *out = &l->keys[k];
	hc_rc rc;

	out->key = key;
	out->public_key = key->public_key != HC_INV_NONE
				  ? &l->inventory.public_keys[key->public_key]
				  : NULL;
	out->status = HC_STATUS_PENDING;
	if (key->cert_count == 0)
		return HC_OK;
	out->certs = calloc(key->cert_count, sizeof(*out->certs));
	if (!out->certs)
		return hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; i < key->cert_count; i++) {
		out->cert_count = i + 1; /* counted first: a failed describe is still cleared */
		if ((rc = describe(l, &l->inventory.certs[key->certs[i]], &out->certs[i], err)))
			return rc;
	}
	qsort(out->certs, out->cert_count, sizeof(*out->certs), newest_first);
	/* A renewed key is valid while any of its certificates is, else as its newest. */
	out->status = out->certs[0].status;
	for (size_t i = 0; i < out->cert_count; i++) {
		hc_cert_status s = out->certs[i].status;
		if (out->certs[i].readable &&
		    (s == HC_STATUS_VALID ||
		     (s == HC_STATUS_EXPIRING && out->status != HC_STATUS_VALID)))
			out->status = s;
	}
	return HC_OK;
}

hc_rc hc_listing_load(hc_session *session, time_t now, int warn_days, hc_listing *out,
		      hc_error *err)
{
	hc_inventory *inv = &out->inventory;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->now = now;
	out->warn_days = warn_days;
	if ((rc = hc_inventory_load(session, inv, err)) != HC_OK)
		return rc;
	out->keys = calloc(inv->key_count ? inv->key_count : 1, sizeof(*out->keys));
	out->orphans = calloc(inv->orphan_count ? inv->orphan_count : 1, sizeof(*out->orphans));
	out->authorities = calloc(inv->cert_count ? inv->cert_count : 1, sizeof(*out->authorities));
	if (!out->keys || !out->orphans || !out->authorities) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto fail;
	}
	for (size_t k = 0; k < inv->key_count; k++) {
		out->key_count = k + 1;
		if ((rc = describe_key(out, k, err)) != HC_OK)
			goto fail;
		out->status_counts[out->keys[k].status]++;
	}
	for (size_t i = 0; i < inv->orphan_count; i++) {
		out->orphan_count = i + 1;
		if ((rc = describe(out, &inv->certs[inv->orphans[i]], &out->orphans[i], err)))
			goto fail;
		out->orphans[i].status = HC_STATUS_ORPHAN;
		out->status_counts[HC_STATUS_ORPHAN]++;
	}
	for (size_t i = 0; i < inv->cert_count; i++) {
		const hc_inv_cert *c = &inv->certs[i];
		if (!c->authority || c->key != HC_INV_NONE)
			continue;
		out->authority_count++;
		if ((rc = describe(out, c, &out->authorities[out->authority_count - 1], err)))
			goto fail;
	}
	return HC_OK;
fail:
	hc_listing_clear(out);
	return rc;
}
