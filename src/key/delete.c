/*
 * Removing objects (SPEC: delete, and import --replace): what a URI names,
 * a key's public key and certificates with it, destroyed in an order that
 * leaves nothing half-removed when the token refuses.
 */
#include "hsmcert/certstore.h"

#include "hsmcert/array.h"
#include "hsmcert/x509.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void doomed_clear(hc_doomed *d)
{
	free(d->label);
	free(d->id);
	free(d->uri);
	free(d->what);
}

void hc_removal_clear(hc_removal *removal)
{
	if (!removal)
		return;
	for (size_t i = 0; i < removal->count; i++)
		doomed_clear(&removal->objects[i]);
	free(removal->objects);
	memset(removal, 0, sizeof(*removal));
}

static hc_doomed *find_planned(hc_removal *removal, CK_OBJECT_HANDLE handle)
{
	for (size_t i = 0; i < removal->count; i++)
		if (removal->objects[i].handle == handle)
			return &removal->objects[i];
	return NULL;
}

static const char *class_noun(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PRIVATE_KEY: return "private key";
	case CKO_PUBLIC_KEY: return "public key";
	case CKO_SECRET_KEY: return "secret key";
	case CKO_CERTIFICATE: return "certificate";
	case CKO_DATA: return "data object";
	default: return "object";
	}
}

/* "rsa:2048 private key", "certificate CN=..., O=..." */
static char *describe(const hc_key_info *info, X509 *cert)
{
	char type[32], *what = NULL;

	if (info->cls == CKO_CERTIFICATE) {
		/* The serial and start date tell a re-issued Sub CA from the old one. */
		hc_cert_info ci = {0};
		hc_error ignored = {0};
		char from[21] = "";
		if (!cert || hc_cert_describe(cert, &ci, &ignored) != HC_OK)
			return strdup("certificate (unreadable)");
		hc_time_iso8601(ci.not_before, from);
		from[10] = '\0';
		if (asprintf(&what, "certificate %s (serial %s, from %s)", ci.subject, ci.serial,
			     from) < 0)
			what = NULL;
		hc_cert_info_clear(&ci);
		return what;
	}
	if (info->cls == CKO_PRIVATE_KEY || info->cls == CKO_PUBLIC_KEY ||
	    info->cls == CKO_SECRET_KEY) {
		hc_keytype_format(&info->type, type, sizeof(type));
		if (info->cls == CKO_SECRET_KEY && info->type.bits)
			snprintf(type + strlen(type), sizeof(type) - strlen(type), ":%u",
				 info->type.bits);
		if (asprintf(&what, "%s %s", type, class_noun(info->cls)) < 0)
			what = NULL;
		return what;
	}
	return strdup(class_noun(info->cls));
}

/* Destruction order: private keys, secret keys, public keys, certificates, the rest. */
static int destroy_rank(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PRIVATE_KEY: return 0;
	case CKO_SECRET_KEY: return 1;
	case CKO_PUBLIC_KEY: return 2;
	case CKO_CERTIFICATE: return 3;
	default: return 4;
	}
}

/* A key with its companions together, private key first; group ids only ever grow. */
static int doomed_order(const void *a, const void *b)
{
	const hc_doomed *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return destroy_rank(x->cls) - destroy_rank(y->cls);
}

static void finish_plan(hc_removal *removal)
{
	if (removal->count > 1)
		qsort(removal->objects, removal->count, sizeof(*removal->objects), doomed_order);
	removal->groups = 0;
	for (size_t i = 0; i < removal->count; i++)
		if (i == 0 || removal->objects[i].group != removal->objects[i - 1].group)
			removal->groups++;
}

/* A group id no object has yet. */
static size_t next_group(const hc_removal *removal)
{
	size_t next = 0;

	for (size_t i = 0; i < removal->count; i++)
		if (removal->objects[i].group >= next)
			next = removal->objects[i].group + 1;
	return next;
}

/* Describe one object and append it; `group` SIZE_MAX means a group of its own. */
static hc_rc plan_add(hc_session *session, hc_removal *removal, CK_OBJECT_HANDLE handle,
		      size_t group, bool companion, hc_error *err)
{
	hc_key_info info = {0};
	hc_stored_cert cert = {0};
	hc_doomed *d;
	hc_rc rc;

	if ((d = find_planned(removal, handle)) != NULL) {
		/* Named directly and also a key's companion: it belongs with the key. */
		if (group != SIZE_MAX)
			d->group = group;
		return HC_OK;
	}
	if ((rc = hc_key_describe(session, handle, &info, err)) != HC_OK)
		return rc;
	if (info.cls == CKO_CERTIFICATE &&
	    (rc = hc_certstore_read(session, handle, &cert, err)) != HC_OK)
		goto out;
	if (!hc_array_grow(&removal->objects, &removal->cap, removal->count,
			   sizeof(*removal->objects))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	d = &removal->objects[removal->count];
	*d = (hc_doomed){
		.handle = handle,
		.cls = info.cls,
		.label = info.label,
		.id = info.id,
		.id_len = info.id_len,
		.uri = info.uri,
		.what = describe(&info, cert.cert),
		.group = group != SIZE_MAX ? group : next_group(removal),
		.companion = companion,
		.destroyable = info.destroyable,
	};
	info.label = NULL;
	info.id = NULL;
	info.uri = NULL;
	removal->count++;
	if (!d->what)
		rc = hc_fail(err, HC_IO, "out of memory");
out:
	hc_stored_cert_clear(&cert);
	hc_key_info_clear(&info);
	return rc;
}

hc_rc hc_removal_add(hc_session *session, hc_removal *removal, CK_OBJECT_HANDLE object,
		     bool companion, hc_error *err)
{
	hc_rc rc = plan_add(session, removal, object, SIZE_MAX, companion, err);

	finish_plan(removal);
	return rc;
}

/* Public key objects of the private key: same CKA_ID and key type. */
static hc_rc add_public_keys(hc_session *session, hc_removal *removal, const hc_key_info *key,
			     size_t group, hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = key->type.ckk;
	CK_ATTRIBUTE t[3] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_ID, key->id, key->id_len},
	};
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_rc rc;

	if (!key->id || !key->id_len)
		return HC_OK;
	rc = hc_objects_find(session, t, 3, &found, &n, err);
	for (size_t i = 0; rc == HC_OK && i < n; i++)
		rc = plan_add(session, removal, found[i], group, true, err);
	free(found);
	return rc;
}

/*
 * Certificates of the private key: those whose public key is the key's. When
 * the key's public half cannot be built, those with the key's CKA_ID.
 */
static hc_rc add_certificates(hc_session *session, hc_removal *removal, const hc_key_info *key,
			      const hc_stored_cert *certs, size_t ncerts, size_t group,
			      hc_error *err)
{
	EVP_PKEY *pub = NULL;
	hc_error ignored = {0};
	hc_rc rc = HC_OK;

	if (hc_key_public(session, key, &pub, &ignored) != HC_OK)
		pub = NULL;
	for (size_t i = 0; rc == HC_OK && i < ncerts; i++) {
		const hc_stored_cert *c = &certs[i];
		const EVP_PKEY *cert_key = c->cert ? X509_get0_pubkey(c->cert) : NULL;
		bool same_id = key->id_len && c->id_len == key->id_len &&
			       memcmp(c->id, key->id, key->id_len) == 0;
		bool mine = pub ? (cert_key && hc_public_keys_equal(pub, cert_key)) : same_id;

		if (mine)
			rc = plan_add(session, removal, c->handle, group, true, err);
	}
	EVP_PKEY_free(pub);
	return rc;
}

hc_rc hc_removal_plan(hc_session *session, const hc_uri *uri, bool key_only, hc_removal *out,
		      hc_error *err)
{
	CK_ULONG nattrs = 0;
	CK_ATTRIBUTE *tmpl = hc_uri_object_template(uri, &nattrs);
	CK_OBJECT_HANDLE *found = NULL;
	hc_stored_cert *certs = NULL;
	size_t n = 0, ncerts = 0, named;
	bool certs_read = false;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (nattrs == 0)
		return hc_fail(err, HC_USAGE,
			       "'%s' names no object (no object=, id= or type=): refusing to "
			       "destroy everything on the token",
			       hc_uri_text(uri));
	if ((rc = hc_objects_find(session, tmpl, nattrs, &found, &n, err)) != HC_OK)
		return rc;
	if (n == 0) {
		char label[33];
		HC_P11_STRING(hc_session_slot(session)->token.label, label);
		rc = hc_fail(err, HC_USAGE, "no object on token '%s' matches %s", label,
			     hc_uri_text(uri));
		goto out;
	}
	for (size_t i = 0; i < n && rc == HC_OK; i++)
		rc = plan_add(session, out, found[i], SIZE_MAX, false, err);
	named = out->count;

	/* A key's public key and certificates go with it (SPEC: delete). */
	for (size_t i = 0; i < named && rc == HC_OK && !key_only; i++) {
		hc_key_info key = {0};
		size_t group = out->objects[i].group;

		if (out->objects[i].cls != CKO_PRIVATE_KEY)
			continue;
		if (!certs_read) {
			if ((rc = hc_certstore_list(session, &certs, &ncerts, err)) != HC_OK)
				break;
			certs_read = true;
		}
		if ((rc = hc_key_describe(session, out->objects[i].handle, &key, err)) == HC_OK &&
		    (rc = add_public_keys(session, out, &key, group, err)) == HC_OK)
			rc = add_certificates(session, out, &key, certs, ncerts, group, err);
		hc_key_info_clear(&key);
	}
	finish_plan(out);
out:
	hc_stored_certs_free(certs, ncerts);
	free(found);
	if (rc != HC_OK)
		hc_removal_clear(out);
	return rc;
}

hc_rc hc_removal_execute(hc_session *session, hc_removal *removal, hc_error *err)
{
	for (size_t i = 0; i < removal->count; i++) {
		const hc_doomed *d = &removal->objects[i];
		if (d->destroyable == 0)
			return hc_fail(err, HC_CHECK,
				       "the %s '%s' is marked not destroyable (CKA_DESTROYABLE "
				       "false): nothing was destroyed",
				       d->what, d->label);
	}
	for (int rank = 0; rank <= 4; rank++) {
		for (size_t i = 0; i < removal->count; i++) {
			hc_doomed *d = &removal->objects[i];
			hc_rc rc;

			if (d->destroyed || destroy_rank(d->cls) != rank)
				continue;
			rc = hc_object_destroy(session, d->handle, err);
			if (rc != HC_OK) {
				hc_error_prefix(err, "%s '%s'", d->what, d->label);
				return rc;
			}
			d->destroyed = true;
		}
	}
	return HC_OK;
}
