/*
 * SPEC: enroll. An ACME run over a token: the account key and the
 * certificate's key sign in the token; the issued certificate is checked
 * against what was asked, its chain verified with hsmcert's chain logic,
 * stored beside the key as import does, and written out. A failure leaves
 * nothing this run made on the token.
 */
#include "internal.h"

#include "hsmcert/certstore.h"
#include "hsmcert/file.h"

#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- the session: responder, roots, account key, account ---------------- */

static hc_rc account_key(hc_acme_session *a, hc_rollback *undo, hc_error *err)
{
	const hc_acme_setup *s = a->setup;
	CK_OBJECT_HANDLE *found = NULL;
	size_t count = 0;
	hc_keygen_params gen = {.label = HC_ACME_ACCOUNT_LABEL};
	hc_keygen_result made = {0};
	hc_rc rc;

	if (s->account_key_uri)
		return hc_key_select_private(a->session, s->account_key_uri, &a->account_key, err);
	/* A first use killed before the key got its id: never registered, made again. */
	if ((rc = hc_keygen_remove_interrupted(a->session, HC_ACME_ACCOUNT_LABEL, err)) != HC_OK ||
	    (rc = hc_key_find(a->session, CKO_PRIVATE_KEY, HC_ACME_ACCOUNT_LABEL, NULL, 0, &found,
			      &count, err)) != HC_OK)
		return rc;
	if (count > 1)
		rc = hc_fail(err, HC_USAGE,
			     "%zu private keys are labelled '%s': name the account key by its URI",
			     count, HC_ACME_ACCOUNT_LABEL);
	else if (count == 1)
		rc = hc_key_describe(a->session, found[0], &a->account_key, err);
	free(found);
	if (rc != HC_OK || count == 1)
		return rc;
	/* First use: EC P-256, sensitive, never extractable (keygen's defaults). */
	if ((rc = hc_keytype_parse("ec:P-256", &gen.type, err)) != HC_OK ||
	    (rc = hc_keygen_undoable(a->session, &gen, undo, &made, err)) != HC_OK)
		return rc;
	a->account_key = made.key;
	memset(&made.key, 0, sizeof(made.key));
	hc_keygen_result_clear(&made);
	a->account_key_created = true;
	return HC_OK;
}

hc_rc hc_acme_roots_load(const hc_acme_setup *s, hc_chain_pool **out, hc_error *err)
{
	const char *path = s->roots_path ? s->roots_path : s->server.ca_file;
	hc_rc rc;

	if ((rc = hc_chain_pool_new(out, err)) != HC_OK)
		return rc;
	rc = path ? hc_chain_pool_add_path(*out, path, err)
		  : hc_chain_pool_add_system_roots(*out, err);
	if (rc == HC_OK && hc_chain_pool_cert_count(*out) == 0)
		rc = hc_fail(err, HC_USAGE, "%s: no trust anchors", path ? path : "system store");
	return rc;
}

hc_rc hc_acme_session_open(hc_session *session, const hc_acme_setup *setup, hc_acme_session **out,
			   hc_error *err)
{
	hc_acme_session *a = calloc(1, sizeof(*a));
	hc_rollback undo = {.session = session};
	hc_rc rc;

	*out = NULL;
	if (!a)
		return hc_fail(err, HC_IO, "out of memory");
	a->session = session;
	a->setup = setup;
	/* The port first: a busy port fails before anything is made on the token. */
	if (setup->webroot) {
		if ((rc = hc_acme_webroot_open(setup->webroot, &a->webroot, err)) != HC_OK)
			goto fail;
		a->solver = hc_acme_webroot_solver(a->webroot);
	} else {
		if ((rc = hc_acme_responder_start(setup->http_port, &a->responder, err)) != HC_OK)
			goto fail;
		a->solver = hc_acme_responder_solver(a->responder);
	}
	if ((rc = hc_acme_roots_load(setup, &a->roots, err)) != HC_OK ||
	    (rc = account_key(a, &undo, err)) != HC_OK ||
	    (rc = hc_acme_key_from_token(session, &a->account_key, &a->jws_key, err)) != HC_OK ||
	    (rc = hc_acme_client_new(&setup->server, &a->jws_key, &a->client, err)) != HC_OK ||
	    (rc = hc_acme_account(a->client, &setup->account, &a->account_created, err)) != HC_OK)
		goto undo;
	hc_rollback_clear(&undo);
	*out = a;
	return HC_OK;
undo:
	/* An account key nobody registered is not kept. */
	hc_rollback_run(&undo, err);
	a->account_key_created = false;
fail:
	hc_acme_session_close(a);
	return rc;
}

void hc_acme_session_close(hc_acme_session *a)
{
	if (!a)
		return;
	hc_acme_client_free(a->client);
	hc_acme_key_clear(&a->jws_key);
	hc_key_info_clear(&a->account_key);
	hc_acme_responder_stop(a->responder);
	hc_acme_webroot_close(a->webroot);
	hc_chain_pool_free(a->roots);
	free(a);
}

void hc_acme_session_account(const hc_acme_session *a, hc_acme_account_info *out)
{
	out->key = &a->account_key;
	out->key_created = a->account_key_created;
	out->url = hc_acme_account_url(a->client);
	out->created = a->account_created;
}

/* ---- checks on what was issued -------------------------------------------- */

static hc_rc check_names(const hc_csr_plan *plan, const hc_cert_info *info, hc_error *err)
{
	for (size_t i = 0; i < plan->sans.count; i++) {
		const hc_altname *want = &plan->sans.items[i];
		const char *type = want->type == HC_ALTNAME_IP ? "IP" : "DNS";
		bool found = false;
		if (want->type != HC_ALTNAME_DNS && want->type != HC_ALTNAME_IP)
			continue;
		for (size_t j = 0; j < info->san_count && !found; j++)
			found = strcmp(info->sans[j].type, type) == 0 &&
				strcasecmp(info->sans[j].value, want->value) == 0;
		if (!found)
			return hc_fail(err, HC_CHECK,
				       "the certificate the ACME server issued does not name %s "
				       "%s, which was asked for; it was not stored",
				       type, want->value);
	}
	return HC_OK;
}

static hc_rc check_key(hc_acme_session *a, const hc_key_info *key, X509 *leaf, hc_error *err)
{
	EVP_PKEY *pub = NULL;
	hc_rc rc;

	if ((rc = hc_key_public(a->session, key, &pub, err)) != HC_OK)
		return rc;
	if (!hc_public_keys_equal(pub, X509_get0_pubkey(leaf)))
		rc = hc_fail(err, HC_CHECK,
			     "the certificate the ACME server issued is not for key '%s' (its "
			     "public key differs); it was not stored",
			     key->label ? key->label : "");
	EVP_PKEY_free(pub);
	return rc;
}

/*
 * Build the chain of `bundle`'s first certificate with the rest as
 * intermediates. HC_CHECK (no path to a trusted root) leaves the message to
 * the caller, with `result->failure` saying which link failed.
 */
static hc_rc verify_chain(hc_chain_pool *roots, hc_x509_bundle *bundle, hc_chain_result *result,
			  hc_error *err)
{
	hc_chain_options opt = {.target_origin = "ACME server"};
	hc_chain_pool *pool = NULL;
	hc_rc rc;

	memset(result, 0, sizeof(*result));
	if ((rc = hc_chain_pool_new(&pool, err)) != HC_OK)
		return rc;
	for (int i = 1; i < sk_X509_num(bundle->certs) && rc == HC_OK; i++)
		rc = hc_chain_pool_add_cert(pool, sk_X509_value(bundle->certs, i), "ACME server",
					    err);
	if (rc == HC_OK)
		rc = hc_chain_build(sk_X509_value(bundle->certs, 0), pool, roots, &opt, result,
				    err);
	hc_chain_pool_free(pool);
	return rc;
}

static hc_rc load_chain(const char *pem, size_t len, hc_x509_bundle *bundle, hc_error *err)
{
	hc_rc rc = hc_x509_load_mem((const unsigned char *)pem, len, "the ACME server's chain",
				    NULL, bundle, err);

	if (rc == HC_OK && sk_X509_num(bundle->certs) == 0)
		rc = hc_fail(err, HC_IO, "the ACME server's chain holds no certificate");
	if (rc != HC_OK)
		hc_x509_bundle_clear(bundle);
	return rc;
}

/*
 * Alternate `url` (RFC 8555 7.4.2) into `alt` when it is a chain of the same
 * certificate that verifies: HC_OK, `chain` its result. HC_CHECK when it
 * does not verify; other codes when it could not be had (`err` says why).
 */
static hc_rc try_alternate(hc_acme_session *a, const char *url, X509 *leaf, hc_x509_bundle *alt,
			   hc_chain_result *chain, hc_error *err)
{
	char *pem = NULL;
	size_t len = 0;
	hc_rc rc;

	if ((rc = hc_acme_download(a->client, url, &pem, &len, err)) == HC_OK)
		rc = load_chain(pem, len, alt, err);
	free(pem);
	if (rc != HC_OK)
		return rc;
	if (X509_cmp(sk_X509_value(alt->certs, 0), leaf) != 0)
		rc = hc_fail(err, HC_IO, "%s: the alternate chain is for another certificate", url);
	else if ((rc = verify_chain(a->roots, alt, chain, err)) != HC_OK)
		hc_chain_result_clear(chain);
	if (rc != HC_OK)
		hc_x509_bundle_clear(alt);
	return rc;
}

/* The default chain, or the first alternate (Link rel="alternate") that verifies. */
static hc_rc issued_chain(hc_acme_session *a, hc_enroll_result *out, hc_x509_bundle *bundle,
			  hc_error *err)
{
	size_t count = out->issued.alternate_count, unusable = 0;
	hc_error why = {0}, alt_err = {0};
	char alts[sizeof(why.message) + 128] = "";
	hc_rc rc;

	if ((rc = load_chain(out->issued.chain_pem, out->issued.chain_len, bundle, err)) != HC_OK)
		return rc;
	if ((rc = verify_chain(a->roots, bundle, &out->chain, err)) != HC_CHECK)
		return rc;
	for (size_t i = 0; i < count; i++) {
		hc_x509_bundle alt = {0};
		hc_chain_result chain = {0};
		hc_rc alt_rc = try_alternate(a, out->issued.alternates[i],
					     sk_X509_value(bundle->certs, 0), &alt, &chain,
					     &alt_err);
		if (alt_rc == HC_OK) {
			hc_x509_bundle_clear(bundle);
			*bundle = alt;
			hc_chain_result_clear(&out->chain);
			out->chain = chain;
			out->alternate_used = true;
			return HC_OK;
		}
		if (alt_rc != HC_CHECK && unusable++ == 0)
			why = alt_err;
	}
	if (count)
		snprintf(alts, sizeof(alts), ", nor do%s the %zu alternate chain%s it offers%s%s%s",
			 count == 1 ? "es" : "", count, count == 1 ? "" : "s", unusable ? " (" : "",
			 unusable ? why.message : "", unusable ? ")" : "");
	return hc_fail(err, HC_CHECK,
		       "the chain the ACME server sent does not verify: %s%s; nothing was stored",
		       out->chain.failure ? out->chain.failure : "no path to a trusted root", alts);
}

static hc_rc write_chain(const hc_enroll_params *p, const hc_chain_result *chain, hc_error *err)
{
	STACK_OF(X509) *served = hc_chain_served(chain, false);
	unsigned char *data = NULL;
	size_t len = 0;
	hc_rc rc;

	if (!served)
		return hc_fail(err, HC_IO, "out of memory");
	if ((rc = hc_chain_encode(served, false, &data, &len, err)) == HC_OK)
		rc = hc_file_write_atomic(p->chain_out, data, len, 0644, p->force, err);
	OPENSSL_free(data);
	sk_X509_pop_free(served, X509_free);
	return rc;
}

/* Stored certificates are this run's too: recorded so a later failure removes them. */
static hc_rc record_imported(hc_rollback *undo, const hc_import_result *imp, hc_error *err)
{
	const hc_imported_cert *c = &imp->leaf;
	hc_rc rc = HC_OK;

	if (c->added)
		rc = hc_rollback_created(undo, c->handle, CKO_CERTIFICATE, c->label, c->id,
					 c->id_len, err);
	for (size_t i = 0; rc == HC_OK && i < imp->ca_count; i++) {
		c = &imp->cas[i];
		if (c->added)
			rc = hc_rollback_created(undo, c->handle, CKO_CERTIFICATE, c->label, c->id,
						 c->id_len, err);
	}
	return rc;
}

bool acme_same_names(const hc_csr_plan *plan, const hc_cert_info *info)
{
	hc_error ignored = {0};
	size_t asked = 0, named = 0;

	for (size_t i = 0; i < plan->sans.count; i++)
		asked += plan->sans.items[i].type == HC_ALTNAME_DNS ||
			 plan->sans.items[i].type == HC_ALTNAME_IP;
	for (size_t i = 0; i < info->san_count; i++)
		named += strcmp(info->sans[i].type, "DNS") == 0 ||
			 strcmp(info->sans[i].type, "IP") == 0;
	return asked == named && check_names(plan, info, &ignored) == HC_OK;
}

bool acme_stored_leaf(const hc_stored_cert *c)
{
	return c->cert && c->category != HC_CERT_CATEGORY_AUTHORITY && X509_check_ca(c->cert) == 0;
}

X509 *acme_newest_leaf(EVP_PKEY *pub, const hc_stored_cert *certs, size_t n)
{
	X509 *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (acme_stored_leaf(&certs[i]) &&
		    hc_public_keys_equal(pub, X509_get0_pubkey(certs[i].cert)) &&
		    (!best || ASN1_TIME_compare(X509_get0_notAfter(certs[i].cert),
						X509_get0_notAfter(best)) > 0))
			best = certs[i].cert;
	return best;
}

hc_rc acme_token_chain(hc_chain_pool *roots, X509 *leaf, const hc_stored_cert *certs, size_t n,
		       hc_x509_bundle *bundle, hc_chain_result *chain, hc_error *err)
{
	STACK_OF(X509) *served;
	hc_rc rc = HC_OK;

	if (!(bundle->certs = sk_X509_new_null()) || !X509_up_ref(leaf) ||
	    !sk_X509_push(bundle->certs, leaf))
		return hc_fail(err, HC_IO, "out of memory");
	for (size_t i = 0; i < n && rc == HC_OK; i++)
		if (certs[i].cert && X509_check_ca(certs[i].cert) != 0 &&
		    (!X509_up_ref(certs[i].cert) || !sk_X509_push(bundle->certs, certs[i].cert)))
			rc = hc_fail(err, HC_IO, "out of memory");
	if (rc != HC_OK || (rc = verify_chain(roots, bundle, chain, err)) != HC_OK)
		return rc;
	/* The chain as the CA sent it: the certificate and its intermediates. */
	if (!(served = hc_chain_served(chain, false)))
		return hc_fail(err, HC_IO, "out of memory");
	sk_X509_pop_free(bundle->certs, X509_free);
	bundle->certs = served;
	return HC_OK;
}

/*
 * enroll --if-missing run again after it ended (or after a kill once the
 * certificate was stored): the existing key already holds a certificate for
 * exactly the names asked for, not due for renewal (renew's rule), whose
 * chain verifies from the token's CA certificates. `bundle` gets it and the
 * chain a server sends; nothing is ordered. Otherwise *found stays false.
 */
static hc_rc find_enrolled(hc_acme_session *a, const hc_enroll_params *p, hc_enroll_result *out,
			   hc_x509_bundle *bundle, bool *found, hc_error *err)
{
	hc_stored_cert *certs = NULL;
	EVP_PKEY *pub = NULL;
	X509 *best;
	size_t n = 0;
	long left;
	hc_rc rc;

	*found = false;
	if ((rc = hc_key_public(a->session, &out->key, &pub, err)) != HC_OK ||
	    (rc = hc_certstore_list(a->session, &certs, &n, err)) != HC_OK)
		goto out;
	best = acme_newest_leaf(pub, certs, n);
	if (!best || (rc = hc_cert_describe(best, &out->cert, err)) != HC_OK)
		goto out;
	left = (long)(out->cert.not_after - time(NULL));
	if (left < acme_renew_threshold((long)(out->cert.not_after - out->cert.not_before)) ||
	    !acme_same_names(p->plan, &out->cert))
		goto out;
	rc = acme_token_chain(a->roots, best, certs, n, bundle, &out->chain, err);
	if (rc == HC_OK)
		*found = true;
	else if (rc == HC_CHECK)
		rc = HC_OK; /* no verified chain on the token: ordered again */
out:
	if (!*found) {
		hc_cert_info_clear(&out->cert);
		hc_chain_result_clear(&out->chain);
		hc_x509_bundle_clear(bundle);
	}
	hc_stored_certs_free(certs, n);
	EVP_PKEY_free(pub);
	return rc;
}

hc_rc acme_enroll_run(hc_acme_session *a, const hc_enroll_params *p,
		      const struct enroll_hooks *hooks, hc_enroll_result *out, hc_error *err)
{
	hc_rollback undo = {.session = a->session};
	hc_import_params imp = {.cert_path = "the ACME server's certificate"};
	hc_keygen_result made = {0};
	hc_x509_bundle bundle = {0};
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (p->chain_out && (rc = hc_file_check_writable(p->chain_out, p->force, err)) != HC_OK)
		return rc;
	if (p->key_uri) {
		if ((rc = hc_key_select_private(a->session, p->key_uri, &out->key, err)) != HC_OK)
			return rc;
	} else {
		if ((rc = hc_profile_check_key(p->plan->profile, &p->keygen->type, err)) != HC_OK ||
		    (rc = hc_keygen_undoable(a->session, p->keygen, &undo, &made, err)) != HC_OK)
			return rc;
		out->key = made.key;
		out->key_created = made.created;
		out->public_uri = made.public_uri;
		out->notes = made.notes;
		memset(&made, 0, sizeof(made));
	}
	if (!hooks && p->keygen && p->keygen->if_missing && !out->key_created &&
	    (rc = find_enrolled(a, p, out, &bundle, &out->already_enrolled, err)) != HC_OK)
		goto undo;
	if (out->already_enrolled)
		goto store;
	if ((rc = hc_csr_sign(a->session, &out->key, p->plan, &out->csr, err)) != HC_OK ||
	    (rc = hc_acme_issue(a->client, &p->plan->sans, out->csr.der, out->csr.der_len,
				&a->solver, &out->issued, err)) != HC_OK ||
	    (rc = issued_chain(a, out, &bundle, err)) != HC_OK)
		goto undo;
	if ((rc = hc_cert_describe(sk_X509_value(bundle.certs, 0), &out->cert, err)) != HC_OK ||
	    (rc = check_key(a, &out->key, sk_X509_value(bundle.certs, 0), err)) != HC_OK ||
	    (rc = check_names(p->plan, &out->cert, err)) != HC_OK)
		goto undo;
store:
	/* Already enrolled: every certificate is on the token, and import changes nothing. */
	imp.replace = hooks && hooks->replace;
	imp.supersedes = hooks ? hooks->supersedes : NULL;
	if ((rc = hc_import_certs(a->session, &imp, &bundle, NULL, &out->imported, err)) != HC_OK)
		goto undo;
	if ((rc = record_imported(&undo, &out->imported, err)) != HC_OK)
		goto undo;
	if (hooks && hooks->after_import &&
	    (rc = hooks->after_import(hooks->ctx, &undo, &out->imported, err)) != HC_OK)
		goto undo;
	if (p->chain_out && (rc = write_chain(p, &out->chain, err)) != HC_OK)
		goto undo;
	/* The key as it is now (import may have relabelled it). */
	hc_key_info_clear(&out->key);
	out->key = out->imported.key;
	memset(&out->imported.key, 0, sizeof(out->imported.key));
	hc_rollback_clear(&undo);
	hc_x509_bundle_clear(&bundle);
	return HC_OK;
undo:
	hc_rollback_run(&undo, err);
	hc_x509_bundle_clear(&bundle);
	hc_enroll_result_clear(out);
	return rc;
}

hc_rc hc_enroll(hc_acme_session *a, const hc_enroll_params *params, hc_enroll_result *out,
		hc_error *err)
{
	return acme_enroll_run(a, params, NULL, out, err);
}

void hc_enroll_result_clear(hc_enroll_result *r)
{
	hc_key_info_clear(&r->key);
	free(r->public_uri);
	hc_csr_result_clear(&r->csr);
	hc_acme_issued_clear(&r->issued);
	hc_cert_info_clear(&r->cert);
	hc_import_result_clear(&r->imported);
	hc_chain_result_clear(&r->chain);
	free(r->retired_label);
	memset(r, 0, sizeof(*r));
}
