/* The ACME options and reports enroll and renew share (see acme_cli.h). */
#include "acme_cli.h"

#include "certview.h"
#include "hsmcert/hex.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void acme_cli_init(struct acme_cli *a)
{
	memset(a, 0, sizeof(*a));
	a->setup.http_port = 80;
}

bool acme_cli_option(struct acme_cli *a, int c, const char *arg)
{
	hc_acme_setup *s = &a->setup;
	long v;

	switch (c) {
	case ACME_OPT_ACME: s->server.directory_url = arg; return true;
	case ACME_OPT_ACCOUNT_KEY: s->account_key_uri = arg; return true;
	case ACME_OPT_CONTACT:
		if (a->contact_count + 1 < sizeof(a->contacts) / sizeof(a->contacts[0]))
			a->contacts[a->contact_count++] = arg;
		else
			a->bad_option = "--contact: at most 16 contacts";
		return true;
	case ACME_OPT_AGREE_TOS: s->account.agree_tos = true; return true;
	case ACME_OPT_EAB_KID: s->account.eab_kid = arg; return true;
	case ACME_OPT_EAB_HMAC_SOURCE: a->eab_hmac_source = arg; return true;
	case ACME_OPT_HTTP_PORT:
		a->http_port_given = true;
		if (cli_number(arg, 1, 65535, &v))
			s->http_port = (unsigned)v;
		else
			a->bad_option = "--http-port: a TCP port number, 1-65535";
		return true;
	case ACME_OPT_WEBROOT: s->webroot = arg; return true;
	case ACME_OPT_ACME_ROOTS: s->server.ca_file = arg; return true;
	case ACME_OPT_ROOTS: s->roots_path = arg; return true;
	case ACME_OPT_WAIT:
		if (cli_number(arg, 1, 86400, &v))
			s->server.poll_timeout_s = v;
		else
			a->bad_option = "--wait: seconds, 1-86400";
		return true;
	default: return false;
	}
}

hc_rc acme_cli_finish(struct acme_cli *a, hc_error *err)
{
	hc_acme_setup *s = &a->setup;
	hc_secret *secret = NULL;
	hc_rc rc;

	if (a->bad_option)
		return hc_fail(err, HC_USAGE, "%s", a->bad_option);
	if (!s->server.directory_url)
		return hc_fail(err, HC_USAGE, "--acme URL is required: the CA's ACME directory");
	if (strncasecmp(s->server.directory_url, "https://", 8) != 0)
		return hc_fail(err, HC_USAGE, "--acme %s: an ACME directory is an https:// URL",
			       s->server.directory_url);
	if (s->webroot && a->http_port_given)
		return hc_fail(err, HC_USAGE,
			       "--http-port and --webroot are two ways to answer "
			       "http-01: choose one");
	if (!!s->account.eab_kid != !!a->eab_hmac_source)
		return hc_fail(err, HC_USAGE, "--eab-kid and --eab-hmac-source go together");
	a->contacts[a->contact_count] = NULL;
	s->account.contacts = a->contact_count ? a->contacts : NULL;
	if (!a->eab_hmac_source)
		return HC_OK;
	if ((rc = hc_secret_from_source(a->eab_hmac_source, "--eab-hmac-source", &secret, err)) !=
	    HC_OK)
		return rc;
	rc = hc_b64url_decode(secret->data, &a->eab_hmac, &s->account.eab_hmac_len, err);
	hc_secret_free(secret);
	if (rc != HC_OK) {
		hc_error_prefix(err, "--eab-hmac-source: the HMAC key");
		return rc;
	}
	s->account.eab_hmac = a->eab_hmac;
	return HC_OK;
}

void acme_cli_clear(struct acme_cli *a)
{
	if (a->eab_hmac)
		OPENSSL_clear_free(a->eab_hmac, a->setup.account.eab_hmac_len);
	a->eab_hmac = NULL;
}

json_t *acme_cli_json_account(const hc_acme_session *s)
{
	hc_acme_account_info a;

	hc_acme_session_account(s, &a);
	return json_pack("{s:o, s:b, s:b, s:o}", "url", cli_json_string(a.url), "created",
			 a.created, "key_created", a.key_created, "key", cli_json_key(a.key));
}

void acme_cli_print_account(const hc_acme_session *s)
{
	hc_acme_account_info a;

	hc_acme_session_account(s, &a);
	printf("ACME account %s (%s)\n", a.url ? a.url : "", a.created ? "created" : "existing");
	printf("  %-20s%s%s\n", "Account key", a.key->uri,
	       a.key_created ? " (created on the token)" : "");
}

static json_t *json_stored(const hc_imported_cert *c, time_t now)
{
	json_t *j = cli_json_cert(&c->info, now);

	json_object_set_new(j, "label", cli_json_string(c->label));
	json_object_set_new(j, "uri", cli_json_string(c->uri));
	json_object_set_new(j, "added", json_boolean(c->added));
	return j;
}

json_t *acme_cli_json_enrolled(const hc_enroll_result *r, const char *chain_out, time_t now)
{
	json_t *cas = json_array(), *alts = json_array();

	for (size_t i = 0; i < r->imported.ca_count; i++)
		json_array_append_new(cas, json_stored(&r->imported.cas[i], now));
	for (size_t i = 0; i < r->issued.alternate_count; i++)
		json_array_append_new(alts, json_string(r->issued.alternates[i]));
	return json_pack("{s:o, s:b, s:b, s:o, s:o, s:{s:b, s:I, s:o, s:b, s:o}, s:o, s:I}", "key",
			 cli_json_key(&r->key), "key_created", r->key_created, "already_enrolled",
			 r->already_enrolled, "certificate", json_stored(&r->imported.leaf, now),
			 "ca_certificates", cas, "chain", "verified", r->chain.verified, "length",
			 (json_int_t)r->chain.link_count, "file", cli_json_string(chain_out),
			 "alternate_used", r->alternate_used, "alternates", alts, "order_url",
			 cli_json_string(r->issued.order_url), "challenges_solved",
			 (json_int_t)r->issued.challenges_solved);
}

void acme_cli_print_enrolled(const hc_enroll_result *r, const char *chain_out, time_t now,
			     int indent)
{
	printf("%*sKey%s\n", indent, "", r->key_created ? " (generated on the token)" : "");
	cli_print_key(&r->key, indent + 2);
	printf("%*sCertificate (stored on the token: %s)\n", indent, "",
	       r->imported.leaf.uri ? r->imported.leaf.uri : "");
	cli_print_cert(&r->cert, now, indent + 2);
	printf("%*s%-22s%s, %zu certificate%s%s%s\n", indent, "", "Chain",
	       r->chain.verified ? "verified" : "NOT verified", r->chain.link_count,
	       r->chain.link_count == 1 ? "" : "s", r->alternate_used ? " (alternate chain)" : "",
	       r->imported.ca_count ? "; CA certificates stored on the token" : "");
	if (chain_out)
		printf("%*s%-22s%s\n", indent, "", "Chain file", chain_out);
}
