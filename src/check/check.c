/* SPEC: check. Each check is recorded with its outcome; the first hard error stops. */
#include "hsmcert/check.h"
#include "hsmcert/file.h"
#include "internal.h"

#include "hsmcert/certstore.h"
#include "hsmcert/sign.h"

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *hc_check_outcome_name(hc_check_outcome outcome)
{
	switch (outcome) {
	case HC_CHECK_PASS: return "pass";
	case HC_CHECK_WARN: return "warn";
	case HC_CHECK_FAIL: return "fail";
	default: return "skipped";
	}
}

void check_add_item(hc_check_result *r, const char *name, hc_check_outcome outcome, const char *fmt,
		    ...)
{
	hc_check_item *item;
	va_list ap;

	if (r->item_count == HC_CHECK_MAX_ITEMS)
		return;
	item = &r->items[r->item_count++];
	item->name = name;
	item->outcome = outcome;
	va_start(ap, fmt);
	if (vasprintf(&item->detail, fmt, ap) < 0)
		item->detail = NULL;
	va_end(ap);
	if (outcome == HC_CHECK_FAIL)
		r->failed = true;
}

void hc_check_result_clear(hc_check_result *r)
{
	if (!r)
		return;
	hc_key_info_clear(&r->key);
	X509_free(r->cert);
	hc_cert_info_clear(&r->cert_info);
	free(r->cert_uri);
	if (r->chain_checked)
		hc_chain_result_clear(&r->chain);
	sk_X509_pop_free(r->served, X509_free);
	X509_STORE_free(r->trust);
	hc_tls_result_clear(&r->tls);
	free(r->connect.leaf_subject);
	free(r->server_name);
	for (size_t i = 0; i < r->item_count; i++)
		free(r->items[i].detail);
	memset(r, 0, sizeof(*r));
}

/* ---- the key's certificate ------------------------------------------- */

/* Among the key's certificates: the newest that is in date, else the newest. */
static bool better(X509 *candidate, X509 *current, time_t now)
{
	time_t nb_a = hc_asn1_time_to_time(X509_get0_notBefore(candidate));
	time_t na_a = hc_asn1_time_to_time(X509_get0_notAfter(candidate));
	time_t nb_b = hc_asn1_time_to_time(X509_get0_notBefore(current));
	time_t na_b = hc_asn1_time_to_time(X509_get0_notAfter(current));
	bool valid_a = nb_a <= now && now < na_a, valid_b = nb_b <= now && now < na_b;

	if (valid_a != valid_b)
		return valid_a;
	return nb_a > nb_b;
}

/*
 * The key's certificates (compared by public key) and the token's CA
 * certificates, which make the chain when no --chain is given.
 */
static hc_rc find_certificates(hc_session *session, hc_check_result *r, time_t now,
			       STACK_OF(X509) *token_cas, hc_error *err)
{
	hc_stored_cert *certs = NULL;
	size_t n = 0, mine = 0, best = 0;
	EVP_PKEY *pub = NULL;
	hc_error ignored = {0};
	hc_rc rc;

	/*
	 * Without its public half (an EC key whose public key object is gone) the
	 * key's certificates are those with its CKA_ID; key_matches then proves it.
	 */
	if (hc_key_public(session, &r->key, &pub, &ignored) != HC_OK)
		pub = NULL;
	if ((rc = hc_certstore_list(session, &certs, &n, err)) != HC_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		X509 *c = certs[i].cert;
		bool same_id = r->key.id_len && certs[i].id_len == r->key.id_len &&
			       memcmp(certs[i].id, r->key.id, r->key.id_len) == 0;
		if (!c)
			continue;
		if (pub ? hc_public_keys_equal(X509_get0_pubkey(c), pub)
			: same_id && X509_check_ca(c) == 0) {
			if (mine++ == 0 || better(c, certs[best].cert, now))
				best = i;
		} else if (X509_check_ca(c) != 0 ||
			   certs[i].category == HC_CERT_CATEGORY_AUTHORITY) {
			if (!X509_up_ref(c) || !sk_X509_push(token_cas, c)) {
				rc = hc_fail(err, HC_IO, "out of memory");
				goto out;
			}
		}
	}
	if (mine == 0)
		goto out;
	r->cert = certs[best].cert;
	certs[best].cert = NULL;
	r->cert_uri = certs[best].uri;
	certs[best].uri = NULL;
	r->other_certs = mine - 1;
	rc = hc_cert_describe(r->cert, &r->cert_info, err);
out:
	EVP_PKEY_free(pub);
	hc_stored_certs_free(certs, n);
	return rc;
}

/* ---- trust ----------------------------------------------------------- */

static hc_rc store_add_file(X509_STORE *store, const char *path, bool named,
			    const hc_passphrase_ask *ask, hc_error *err)
{
	hc_x509_bundle b = {0};
	hc_rc rc = hc_x509_load_file_ask(path, ask, &b, err);

	if (rc != HC_OK) {
		/* In a folder, a file that is no certificate is skipped, as chain does; a PKCS#12
		 * is not. */
		if (!named && b.format != HC_FMT_PKCS12)
			rc = HC_OK;
		goto out;
	}
	for (int i = 0; i < sk_X509_num(b.certs); i++)
		X509_STORE_add_cert(store, sk_X509_value(b.certs, i)); /* duplicates are fine */
	ERR_clear_error();
out:
	hc_x509_bundle_clear(&b);
	return rc;
}

/* The client's trust store: the --roots files and folders, or the system's. */
static hc_rc load_trust(const hc_check_params *p, X509_STORE **out, hc_error *err)
{
	X509_STORE *store = X509_STORE_new();
	hc_rc rc = HC_OK;

	*out = NULL;
	if (!store)
		return hc_fail(err, HC_IO, "out of memory");
	if (p->root_count == 0 && X509_STORE_set_default_paths(store) != 1)
		rc = hc_fail_ssl(err, HC_IO, "cannot load the system trust store");
	for (size_t i = 0; rc == HC_OK && i < p->root_count; i++) {
		struct stat st;
		DIR *dir;
		struct dirent *e;

		if (stat(p->roots[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
			rc = store_add_file(store, p->roots[i], true, p->passphrase, err);
			continue;
		}
		if (!(dir = opendir(p->roots[i]))) {
			rc = hc_error_input(
				err, HC_INPUT_ROOTS,
				hc_fail(err, HC_IO, "%s: cannot read the folder", p->roots[i]));
			break;
		}
		while (rc == HC_OK && (e = readdir(dir)) != NULL) {
			char *path;
			if (e->d_name[0] == '.' || !(path = hc_path_join(p->roots[i], e->d_name)))
				continue;
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				rc = store_add_file(store, path, false, p->passphrase, err);
			free(path);
		}
		closedir(dir);
	}
	if (rc != HC_OK) {
		hc_error_input(err, HC_INPUT_ROOTS, rc);
		X509_STORE_free(store);
		return rc;
	}
	*out = store;
	return HC_OK;
}

/* ---- the chain -------------------------------------------------------- */

/* What a server is configured to send when the chain could not be built: what it was given. */
static hc_rc serve_as_given(hc_check_result *r, STACK_OF(X509) *given, hc_error *err)
{
	r->served = sk_X509_new_null();
	if (!r->served)
		return hc_fail(err, HC_IO, "out of memory");
	for (int i = 0; i < sk_X509_num(given); i++) {
		X509 *c = sk_X509_value(given, i);
		if (X509_cmp(c, r->cert) == 0 || X509_self_signed(c, 0) == 1)
			continue;
		if (!X509_up_ref(c) || !sk_X509_push(r->served, c))
			return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

static hc_rc check_chain(const hc_check_params *p, hc_check_result *r, STACK_OF(X509) *given,
			 hc_error *err)
{
	hc_chain_pool *pool = NULL, *roots = NULL;
	hc_chain_options opt = {
		.at = p->now,
		.target_origin = "token",
		/* What `check --tls`'s client asks of the path too. */
		.purpose = X509_PURPOSE_SSL_SERVER,
		.missing_issuer_hint = p->missing_issuer_hint,
		.missing_issuer_aia_hint = p->missing_issuer_aia_hint,
	};
	hc_rc rc;

	if ((rc = hc_chain_pool_new(&pool, err)) != HC_OK ||
	    (rc = hc_chain_pool_new(&roots, err)) != HC_OK)
		goto out;
	hc_chain_pool_ask_passphrase(roots, p->passphrase);
	for (int i = 0; i < sk_X509_num(given); i++)
		if ((rc = hc_chain_pool_add_cert(pool, sk_X509_value(given, i),
						 p->chain_path ? p->chain_path : "token", err)) !=
		    HC_OK)
			goto out;
	for (size_t i = 0; i < p->root_count; i++)
		if ((rc = hc_chain_pool_add_path(roots, p->roots[i], err)) != HC_OK) {
			hc_error_input(err, HC_INPUT_ROOTS, rc);
			goto out;
		}
	if (p->root_count == 0 && (rc = hc_chain_pool_add_system_roots(roots, err)) != HC_OK)
		goto out;

	rc = hc_chain_build(r->cert, pool, roots, &opt, &r->chain, err);
	r->chain_checked = true;
	if (rc == HC_OK) {
		STACK_OF(X509) *served = hc_chain_served(&r->chain, false);
		if (!served) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		/* The served chain starts with the leaf; TLS takes that separately. */
		X509_free(sk_X509_shift(served));
		r->served = served;
		check_add_item(r, "chain", HC_CHECK_PASS,
			       "verified to '%s' (%d certificate%s served)",
			       r->chain.root_count ? r->chain.roots[0].subject : "a trusted root",
			       sk_X509_num(served) + 1, sk_X509_num(served) ? "s" : "");
	} else if (rc == HC_CHECK) {
		check_add_item(r, "chain", HC_CHECK_FAIL, "%s",
			       r->chain.failure ? r->chain.failure : err->message);
		rc = serve_as_given(r, given, err);
	}
out:
	hc_chain_pool_free(pool);
	hc_chain_pool_free(roots);
	return rc;
}

/* ---- the checks ------------------------------------------------------- */

static void check_validity(const hc_check_params *p, hc_check_result *r)
{
	char date[21];

	r->status = hc_cert_status_at(&r->cert_info, p->now, p->warn_days);
	r->days_left = hc_days_until(r->cert_info.not_after, p->now);
	hc_time_iso8601(r->cert_info.not_after, date);
	switch (r->status) {
	case HC_STATUS_EXPIRED:
		check_add_item(r, "validity", HC_CHECK_FAIL, "expired on %s (%ld days ago)", date,
			       -r->days_left);
		break;
	case HC_STATUS_NOT_YET_VALID:
		hc_time_iso8601(r->cert_info.not_before, date);
		check_add_item(r, "validity", HC_CHECK_FAIL, "not valid before %s", date);
		break;
	case HC_STATUS_EXPIRING:
		check_add_item(r, "validity", HC_CHECK_WARN,
			       "expires on %s: %ld days left (under %d)", date, r->days_left,
			       p->warn_days);
		break;
	default:
		check_add_item(r, "validity", HC_CHECK_PASS, "%ld days left (until %s)",
			       r->days_left, date);
	}
}

hc_rc hc_check_key(hc_session *session, const hc_check_params *p, hc_check_result *r, hc_error *err)
{
	STACK_OF(X509) *given = sk_X509_new_null();
	hc_x509_bundle chain_file = {0};
	hc_error proof = {0};
	hc_rc rc;

	memset(r, 0, sizeof(*r));
	if (!given)
		return hc_fail(err, HC_IO, "out of memory");
	if (p->chain_path &&
	    (rc = hc_x509_load_file_ask(p->chain_path, p->passphrase, &chain_file, err))) {
		hc_error_input(err, HC_INPUT_CHAIN, rc);
		goto out;
	}
	if ((rc = load_trust(p, &r->trust, err)) != HC_OK ||
	    (rc = hc_key_select_private(session, p->key_uri, &r->key, err)) != HC_OK ||
	    (rc = find_certificates(session, r, p->now, given, err)) != HC_OK)
		goto out;
	if (!r->cert) {
		check_add_item(
			r, "certificate", HC_CHECK_FAIL,
			"key '%s' has no certificate on the token (pending): import the one the "
			"CA issued with 'hsmcert import'",
			r->key.label);
		goto out;
	}
	check_add_item(r, "certificate", HC_CHECK_PASS, "%s", r->cert_info.subject);

	/* The key signs a fresh challenge in the token; the certificate's key verifies it. */
	rc = hc_key_prove(session, &r->key, X509_get0_pubkey(r->cert), &proof);
	if (rc == HC_OK)
		check_add_item(
			r, "key_matches", HC_CHECK_PASS,
			"a random challenge signed in the token verifies with the certificate");
	else if (rc == HC_CHECK)
		check_add_item(r, "key_matches", HC_CHECK_FAIL, "%s", proof.message);
	else {
		*err = proof;
		goto out;
	}
	check_validity(p, r);
	if (p->chain_path) {
		/* The chain given replaces the token's CA certificates. */
		sk_X509_pop_free(given, X509_free);
		given = chain_file.certs;
		chain_file.certs = NULL;
	}
	rc = check_chain(p, r, given, err);
out:
	sk_X509_pop_free(given, X509_free);
	hc_x509_bundle_clear(&chain_file);
	/*
	 * Failed checks are items; rc is HC_CHECK only for an input refused (a wrong
	 * PKCS#12 passphrase), an error like the others.
	 */
	if (rc == HC_OK)
		return r->failed ? HC_CHECK : HC_OK;
	return rc;
}

char *hc_check_server_name(X509 *cert, const hc_cert_info *info)
{
	char cn[256];
	char *name = NULL;

	for (size_t i = 0; i < info->san_count; i++) {
		const char *v = info->sans[i].value;
		if (strcmp(info->sans[i].type, "DNS") != 0)
			continue;
		if (strncmp(v, "*.", 2) == 0) {
			if (asprintf(&name, "www.%s", v + 2) < 0)
				name = NULL;
			return name;
		}
		return strdup(v);
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) >
	    0)
		return strdup(cn);
	return NULL;
}

hc_rc hc_check_tls(hc_check_result *r, const hc_check_tls_params *tp, hc_error *err)
{
	hc_tls_params p = {0};
	hc_error why = {0};
	hc_rc rc;

	if (!r->cert) {
		check_add_item(r, "tls", HC_CHECK_SKIPPED, "no certificate to serve");
		return HC_CHECK;
	}
	r->server_name = tp->server_name ? strdup(tp->server_name)
					 : hc_check_server_name(r->cert, &r->cert_info);
	if (!r->server_name)
		return hc_error_hint(err, HC_HINT_SERVER_NAME,
				     hc_fail(err, HC_USAGE, "the certificate names no host"));
	p = (hc_tls_params){
		.key = {.module_path = tp->module_path,
			.init_args = tp->init_args,
			.token_serial = tp->token_serial,
			.token_label = tp->token_label,
			.key_id = r->key.id,
			.key_id_len = r->key.id_len,
			.key_label = r->key.label,
			.pin = tp->pin},
		.leaf = r->cert,
		.chain = r->served,
		.roots = r->trust,
		.server_name = r->server_name,
		.timeout_ms = tp->timeout_ms,
	};
	rc = hc_tls_check(&p, &r->tls, &why);
	r->tls_checked = true;
	if (rc == HC_OK)
		check_add_item(
			r, "tls", HC_CHECK_PASS,
			"%s handshake with %s as %s verified; the server signed with the token "
			"key (%s)",
			r->tls.protocol, r->tls.cipher, r->server_name, r->tls.signature);
	else if (rc == HC_CHECK)
		check_add_item(r, "tls", HC_CHECK_FAIL, "%s", why.message);
	else {
		*err = why;
		return rc;
	}
	return r->failed ? HC_CHECK : HC_OK;
}
