/*
 * SPEC: import. The certificate goes next to the key it was issued for,
 * found by comparing public keys; CA certificates are stored as authority
 * certificates; --replace removes what the new certificates supersede.
 */
#include "hsmcert/import.h"

#include "hsmcert/array.h"
#include "hsmcert/rollback.h"

#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct import_run {
	hc_session *session;
	const hc_import_params *params;
	hc_import_result *out;
	size_t capcas;	  /* out->cas entries allocated */
	hc_rollback undo; /* certificates stored and labels set: undone if a later step fails */
	hc_stored_cert *stored; /* certificates on the token before this import */
	size_t nstored;
};

static void imported_clear(hc_imported_cert *c)
{
	X509_free(c->cert);
	hc_cert_info_clear(&c->info);
	free(c->label);
	free(c->id);
	free(c->uri);
	memset(c, 0, sizeof(*c));
}

void hc_import_result_clear(hc_import_result *r)
{
	if (!r)
		return;
	hc_key_info_clear(&r->key);
	free(r->old_label);
	imported_clear(&r->leaf);
	for (size_t i = 0; i < r->ca_count; i++)
		imported_clear(&r->cas[i]);
	free(r->cas);
	hc_removal_clear(&r->removed);
	memset(r, 0, sizeof(*r));
}

static bool is_ca(X509 *cert)
{
	return X509_check_ca(cert) != 0;
}

/* Fill an imported_cert for `cert` (reference taken) with its description and target names. */
static hc_rc imported_init(hc_imported_cert *c, X509 *cert, const char *label,
			   const unsigned char *id, size_t id_len, CK_ULONG category, hc_error *err)
{
	hc_rc rc;

	memset(c, 0, sizeof(*c));
	if (!X509_up_ref(cert))
		return hc_fail(err, HC_IO, "out of memory");
	c->cert = cert;
	c->category = category;
	if ((rc = hc_cert_describe(cert, &c->info, err)) != HC_OK)
		return rc;
	c->label = label ? strdup(label) : hc_cert_default_label(cert);
	if (!c->label)
		return hc_fail(err, HC_IO, "out of memory");
	if (id) {
		c->id = malloc(id_len ? id_len : 1);
		if (!c->id)
			return hc_fail(err, HC_IO, "out of memory");
		memcpy(c->id, id, id_len);
		c->id_len = id_len;
		return HC_OK;
	}
	return hc_cert_default_id(cert, &c->id, &c->id_len, err);
}

/* Add a CA certificate unless the import already has it or it is the leaf. */
static hc_rc add_ca(struct import_run *run, X509 *cert, hc_error *err)
{
	hc_import_result *out = run->out;

	if (out->leaf.cert && X509_cmp(cert, out->leaf.cert) == 0)
		return HC_OK;
	for (size_t i = 0; i < out->ca_count; i++)
		if (X509_cmp(cert, out->cas[i].cert) == 0)
			return HC_OK;
	if (!hc_array_grow(&out->cas, &run->capcas, out->ca_count, sizeof(*out->cas)))
		return hc_fail(err, HC_IO, "out of memory");
	out->ca_count++;
	return imported_init(&out->cas[out->ca_count - 1], cert, NULL, NULL, 0,
			     HC_CERT_CATEGORY_AUTHORITY, err);
}

/* Which certificate of --cert has its key on this token: exactly one must. */
static hc_rc find_leaf(struct import_run *run, STACK_OF(X509) *certs, int *leaf, hc_error *err)
{
	const char *path = run->params->cert_path;
	int n = sk_X509_num(certs);
	hc_rc rc;

	*leaf = -1;
	for (int i = 0; i < n; i++) {
		hc_key_info key = {0};
		bool found = false;

		if ((rc = hc_certstore_find_key(run->session, sk_X509_value(certs, i), &key, &found,
						err)) != HC_OK)
			return rc;
		if (!found)
			continue;
		if (*leaf >= 0) {
			hc_key_info_clear(&key);
			return hc_fail(err, HC_USAGE,
				       "%s holds certificates for more than one key on this token: "
				       "import them one file at a time",
				       path);
		}
		*leaf = i;
		run->out->key = key;
	}
	if (*leaf >= 0)
		return HC_OK;
	if (n == 1) {
		char *subject = hc_x509_name_text(X509_get_subject_name(sk_X509_value(certs, 0)));
		rc = hc_fail(err, HC_CHECK,
			     "no private key on this token matches the certificate '%s' in %s "
			     "(compared by public key): import it on the token that holds the key "
			     "its request was made with; nothing was stored",
			     subject ? subject : "?", path);
		free(subject);
		return rc;
	}
	return hc_fail(err, HC_CHECK,
		       "none of the %d certificates in %s belongs to a private key on this token "
		       "(compared by public key); nothing was stored",
		       n, path);
}

/* The leaf, then the CA certificates of both files; non-CA extras are refused. */
static hc_rc gather(struct import_run *run, hc_x509_bundle *certs, hc_x509_bundle *chain,
		    hc_error *err)
{
	const hc_import_params *p = run->params;
	hc_import_result *out = run->out;
	const char *label;
	int leaf;
	hc_rc rc;

	if (sk_X509_num(certs->certs) == 0)
		return hc_fail(err, HC_USAGE, "%s holds no certificate", p->cert_path);
	if ((rc = find_leaf(run, certs->certs, &leaf, err)) != HC_OK)
		return rc;
	label = p->label ? p->label : out->key.label;
	if ((rc = imported_init(&out->leaf, sk_X509_value(certs->certs, leaf), label,
				out->key.id ? out->key.id : (const unsigned char *)"",
				out->key.id_len, HC_CERT_CATEGORY_TOKEN_USER, err)) != HC_OK)
		return rc;
	for (int i = 0; i < sk_X509_num(certs->certs); i++) {
		X509 *c = sk_X509_value(certs->certs, i);
		if (i == leaf)
			continue;
		if (!is_ca(c)) {
			char *subject = hc_x509_name_text(X509_get_subject_name(c));
			rc = hc_fail(err, HC_CHECK,
				     "%s also holds '%s', which is not a CA certificate and has no "
				     "key on this token; nothing was stored",
				     p->cert_path, subject ? subject : "?");
			free(subject);
			return rc;
		}
		if ((rc = add_ca(run, c, err)) != HC_OK)
			return rc;
	}
	for (int i = 0; chain && i < sk_X509_num(chain->certs); i++) {
		X509 *c = sk_X509_value(chain->certs, i);
		if (X509_cmp(c, out->leaf.cert) == 0)
			continue;
		if (!is_ca(c)) {
			char *subject = hc_x509_name_text(X509_get_subject_name(c));
			rc = hc_error_input(err, HC_INPUT_CHAIN,
					    hc_fail(err, HC_USAGE,
						    "%s: '%s' is not a CA certificate (no "
						    "basicConstraints CA:TRUE); nothing was stored",
						    p->chain_path, subject ? subject : "?"));
			free(subject);
			return rc;
		}
		if ((rc = add_ca(run, c, err)) != HC_OK)
			return rc;
	}
	return HC_OK;
}

/* --label must not take a label another key already has. */
static hc_rc check_label(struct import_run *run, hc_error *err)
{
	const char *label = run->params->label;
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_rc rc = HC_OK;

	if (!label)
		return HC_OK;
	if (!*label)
		return hc_error_input(err, HC_INPUT_LABEL,
				      hc_fail(err, HC_USAGE, "must not be empty"));
	rc = hc_key_find(run->session, CKO_PRIVATE_KEY, label, NULL, 0, &found, &n, err);
	for (size_t i = 0; rc == HC_OK && i < n; i++)
		if (found[i] != run->out->key.handle)
			rc = hc_fail(err, HC_CHECK,
				     "label '%s' is already used by another key on the token; "
				     "nothing was stored",
				     label);
	free(found);
	return rc;
}

/* Store one certificate unless an identical one is there already. */
static hc_rc store(struct import_run *run, hc_imported_cert *c, hc_error *err)
{
	hc_rc rc;

	if ((rc = hc_certstore_find(run->session, c->cert, &c->handle, err)) != HC_OK)
		return rc;
	if (c->handle == CK_INVALID_HANDLE) {
		if ((rc = hc_certstore_put(run->session, c->cert, c->label, c->id, c->id_len,
					   c->category, &c->handle, err)) != HC_OK ||
		    (rc = hc_rollback_created(&run->undo, c->handle, CKO_CERTIFICATE, c->label,
					      c->id, c->id_len, err)) != HC_OK)
			return rc;
		c->added = true;
		run->out->changed = true;
	} else {
		/* Already there: report it under the names it has on the token. */
		hc_stored_cert had = {0};
		if ((rc = hc_certstore_read(run->session, c->handle, &had, err)) != HC_OK)
			return rc;
		free(c->label);
		free(c->id);
		c->label = had.label;
		c->id = had.id;
		c->id_len = had.id_len;
		c->category = had.category;
		had.label = NULL;
		had.id = NULL;
		hc_stored_cert_clear(&had);
	}
	c->uri = hc_uri_for_object(&hc_session_slot(run->session)->token, CKO_CERTIFICATE, c->label,
				   c->id, c->id_len);
	return c->uri ? HC_OK : hc_fail(err, HC_IO, "out of memory");
}

/*
 * An expired certificate cannot serve, so storing it is refused (SPEC:
 * exit 1); one already on the token is still "imported, nothing changed".
 */
static hc_rc refuse_expired(struct import_run *run, hc_error *err)
{
	X509 *leaf = run->out->leaf.cert;
	CK_OBJECT_HANDLE stored;
	time_t not_after = hc_asn1_time_to_time(X509_get0_notAfter(leaf));
	char when[21];
	hc_rc rc;

	if (not_after > time(NULL))
		return HC_OK;
	if ((rc = hc_certstore_find(run->session, leaf, &stored, err)) != HC_OK ||
	    stored != CK_INVALID_HANDLE)
		return rc;
	hc_time_iso8601(not_after, when);
	return hc_fail(err, HC_CHECK,
		       "%s expired at %s: not stored (an expired certificate cannot be used; "
		       "request a new one)",
		       run->params->cert_path, when);
}

/* Set CKA_LABEL of one object of the key (class and id name it in messages), undoably. */
static hc_rc relabel(struct import_run *run, CK_OBJECT_HANDLE handle, CK_OBJECT_CLASS cls,
		     const unsigned char *id, size_t id_len, const char *old_label,
		     const char *label, hc_error *err)
{
	hc_rc rc;

	if (strcmp(old_label, label) == 0)
		return HC_OK;
	rc = hc_rollback_relabel(&run->undo, handle, cls, old_label, label, id, id_len, err);
	if (rc != HC_OK) {
		hc_error_prefix(err, "renaming the %s '%s' to '%s'",
				cls == CKO_CERTIFICATE	? "certificate"
				: cls == CKO_PUBLIC_KEY ? "public key"
							: "private key",
				old_label, label);
		return rc;
	}
	run->out->changed = true;
	return HC_OK;
}

static bool planned_for_removal(const hc_removal *removal, CK_OBJECT_HANDLE handle)
{
	for (size_t i = 0; i < removal->count; i++)
		if (removal->objects[i].handle == handle)
			return true;
	return false;
}

/*
 * --label: the private key, its public keys (same id and type) and every
 * certificate of the key that stays get the new label, so tools that pair
 * by label agree with those that pair by id.
 */
static hc_rc rename_key(struct import_run *run, hc_error *err)
{
	hc_import_result *out = run->out;
	const char *label = run->params->label;
	CK_OBJECT_HANDLE *pubs = NULL;
	size_t npub = 0;
	hc_rc rc;

	if (!label || strcmp(label, out->key.label) == 0)
		return HC_OK;
	if ((rc = relabel(run, out->key.handle, CKO_PRIVATE_KEY, out->key.id, out->key.id_len,
			  out->key.label, label, err)) != HC_OK)
		return rc;
	if (out->key.id_len) {
		CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
		CK_KEY_TYPE kt = out->key.type.ckk;
		CK_ATTRIBUTE t[3] = {
			{CKA_CLASS, &cls, sizeof(cls)},
			{CKA_KEY_TYPE, &kt, sizeof(kt)},
			{CKA_ID, out->key.id, out->key.id_len},
		};
		if ((rc = hc_objects_find(run->session, t, 3, &pubs, &npub, err)) != HC_OK)
			return rc;
	}
	for (size_t i = 0; i < npub && rc == HC_OK; i++)
		rc = relabel(run, pubs[i], CKO_PUBLIC_KEY, out->key.id, out->key.id_len,
			     out->key.label, label, err);
	free(pubs);
	for (size_t i = 0; i < run->nstored && rc == HC_OK; i++) {
		const hc_stored_cert *c = &run->stored[i];
		if (!c->cert || planned_for_removal(&out->removed, c->handle) ||
		    !hc_public_keys_equal(X509_get0_pubkey(c->cert),
					  X509_get0_pubkey(out->leaf.cert)))
			continue;
		rc = relabel(run, c->handle, CKO_CERTIFICATE, c->id, c->id_len, c->label, label,
			     err);
	}
	if (rc == HC_OK) {
		out->old_label = strdup(out->key.label);
		free(out->leaf.label);
		free(out->leaf.uri);
		out->leaf.label = strdup(label);
		out->leaf.uri = hc_uri_for_object(&hc_session_slot(run->session)->token,
						  CKO_CERTIFICATE, label, out->leaf.id,
						  out->leaf.id_len);
		if (!out->old_label || !out->leaf.label || !out->leaf.uri)
			rc = hc_fail(err, HC_IO, "out of memory");
	}
	return rc;
}

static bool older(X509 *a, X509 *b)
{
	return ASN1_TIME_compare(X509_get0_notBefore(a), X509_get0_notBefore(b)) < 0;
}

/*
 * --replace: older certificates of the same key, and CA certificates with the
 * subject of one being imported but an older notBefore (the old Sub CA).
 */
static hc_rc plan_replace(struct import_run *run, hc_error *err)
{
	hc_import_result *out = run->out;
	hc_rc rc = HC_OK;

	for (size_t i = 0; i < run->nstored && rc == HC_OK; i++) {
		const hc_stored_cert *c = &run->stored[i];
		bool supersede = false;

		if (!c->cert || c->handle == out->leaf.handle)
			continue;
		if (hc_public_keys_equal(X509_get0_pubkey(c->cert),
					 X509_get0_pubkey(out->leaf.cert))) {
			if (older(c->cert, out->leaf.cert) ||
			    (run->params->supersedes &&
			     X509_cmp(c->cert, run->params->supersedes) == 0))
				supersede = true;
			else
				out->newer_certs_kept++;
		}
		for (size_t j = 0; j < out->ca_count && !supersede; j++) {
			X509 *ca = out->cas[j].cert;
			supersede = c->handle != out->cas[j].handle && is_ca(c->cert) &&
				    X509_NAME_cmp(X509_get_subject_name(c->cert),
						  X509_get_subject_name(ca)) == 0 &&
				    older(c->cert, ca);
		}
		if (supersede)
			rc = hc_removal_add(run->session, &out->removed, c->handle, false, err);
	}
	return rc;
}

hc_rc hc_import(hc_session *session, const hc_import_params *params, hc_import_result *out,
		hc_error *err)
{
	hc_x509_bundle certs = {0}, chain = {0};
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = hc_x509_load_file_ask(params->cert_path, params->passphrase, &certs, err)) ==
		    HC_OK &&
	    (!params->chain_path ||
	     (rc = hc_x509_load_file_ask(params->chain_path, params->passphrase, &chain, err)) ==
		     HC_OK))
		rc = hc_import_certs(session, params, &certs, params->chain_path ? &chain : NULL,
				     out, err);
	hc_x509_bundle_clear(&certs);
	hc_x509_bundle_clear(&chain);
	return rc;
}

hc_rc hc_import_certs(hc_session *session, const hc_import_params *params, hc_x509_bundle *certs,
		      hc_x509_bundle *chain, hc_import_result *out, hc_error *err)
{
	struct import_run run = {
		.session = session, .params = params, .out = out, .undo = {.session = session}};
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = gather(&run, certs, chain, err)) != HC_OK ||
	    (rc = check_label(&run, err)) != HC_OK)
		goto fail;
	if ((rc = hc_certstore_list(session, &run.stored, &run.nstored, err)) != HC_OK ||
	    (rc = refuse_expired(&run, err)) != HC_OK)
		goto fail;

	/*
	 * Store first; everything after this point is undone if a later step
	 * fails. The CA certificates before the leaf: a run killed in between
	 * leaves no leaf whose chain is missing from the token.
	 */
	for (size_t i = 0; i < out->ca_count; i++)
		if ((rc = store(&run, &out->cas[i], err)) != HC_OK)
			goto undo;
	if ((rc = store(&run, &out->leaf, err)) != HC_OK)
		goto undo;
	if (params->replace && (rc = plan_replace(&run, err)) != HC_OK)
		goto undo;
	if ((rc = rename_key(&run, err)) != HC_OK)
		goto undo;
	/* The key as renamed, read while a failure can still be undone (issue 14.3). */
	if (out->old_label) {
		hc_key_info renamed = {0};
		if ((rc = hc_key_describe(session, out->key.handle, &renamed, err)) != HC_OK)
			goto undo;
		hc_key_info_clear(&out->key);
		out->key = renamed;
	}
	/* Removal last: it cannot be undone, and the new certificates are in place. */
	if (out->removed.count) {
		out->changed = true;
		if ((rc = hc_removal_execute(session, &out->removed, err)) != HC_OK) {
			hc_error_prefix(err, "the certificate was imported, but removing what it "
					     "replaces failed");
			goto out;
		}
	}
	goto out;

undo:
	hc_rollback_run(&run.undo, err);
fail:
	hc_import_result_clear(out);
out:
	hc_rollback_clear(&run.undo);
	hc_stored_certs_free(run.stored, run.nstored);
	return rc;
}
