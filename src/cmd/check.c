/* SPEC: check. */
#include "cli.h"

#include "certview.h"
#include "hsmcert/check.h"
#include "hsmcert/list.h"

#include <stdlib.h>
#include <string.h>

enum {
	OPT_KEY = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_CHAIN,
	OPT_ROOTS,
	OPT_WARN_DAYS,
	OPT_TLS,
	OPT_SERVERNAME,
	OPT_ALL,
	OPT_TIMEOUT,
	OPT_CONNECT,
};

#define MAX_ROOTS 16

int usage_check(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert check (--key URI | --all) [--chain FILE] [--roots PATH]... [--tls]\n"
		"                     [--connect HOST:PORT] [--servername NAME] [--timeout SECONDS]\n"
		"                     [--warn-days N] [--token URI]\n"
		"                     [--pin-source SRC] [--passphrase-source SRC] [--json]\n\n"
		"Is the key ready to serve? Its certificate is on the token, the key signs a\n"
		"random challenge inside the token and the certificate verifies it, the chain\n"
		"verifies to a trusted root, and the certificate is in date. Exit status 1\n"
		"when any check fails, naming it.\n\n"
		"  --key URI                the private key, e.g. 'pkcs11:object=web'\n"
		"  --all                    every key on the token that has a certificate,\n"
		"                           one report each; exit 1 when any fails\n"
		"  --chain FILE             the CA certificates the server sends (PEM, DER,\n"
		"                           PKCS#7 or PKCS#12); default: the CA certificates on\n"
		"                           the token\n"
		"  --roots PATH             trust anchors, a file or folder (repeatable;\n"
		"                           default: the system trust store)\n"
		"  --tls                    also run a TLS handshake over loopback inside this\n"
		"                           process: the server signs with the token key through\n"
		"                           libp11 and sends the chain, the client verifies it\n"
		"                           against the roots and the server name\n"
		"  --connect HOST:PORT      also connect to a running server as a TLS client:\n"
		"                           the served chain must verify against the roots\n"
		"                           for the server name, and the served leaf must carry\n"
		"                           the token key's public key (so the server signed\n"
		"                           with the token key); exit 1 when it does not, 4\n"
		"                           when the server cannot be reached\n"
		"  --timeout SECONDS        bound of --tls (from loading the module for libp11\n"
		"                           to the last byte exchanged) and of --connect\n"
		"                           (default %d)\n"
		"  --servername NAME        the name the client checks (default: the\n"
		"                           certificate's first DNS name, *. as www.)\n"
		"  --warn-days N            warn when fewer days are left (default %d)\n\n"
		"A PKCS#12's passphrase comes from --passphrase-source, HSMCERT_PASSPHRASE or a\n"
		"no-echo prompt, asked for only when a PKCS#12 is given; a wrong one is exit 1.\n\n"
		"Exit status: 0 every check passed; 1 a check failed (with --all: for any\n"
		"key), or a wrong passphrase; 2 usage; 3 token error or wrong PIN.\n\n" CLI_GLOBAL_USAGE,
		HC_TLS_TIMEOUT_MS / 1000, HC_LIST_WARN_DAYS);
	return 0;
}

static json_t *json_connect(const char *address, const hc_check_result *r)
{
	const hc_connect_result *c = &r->connect;

	if (!r->connect_checked)
		return json_null();
	return json_pack("{s:s, s:s, s:b, s:b, s:b, s:b, s:s, s:s, s:s, s:o, s:o, s:o, s:I}",
			 "address", address, "server_name", r->server_name, "handshake",
			 c->handshake, "verified", c->verified, "leaf_matches_key", c->leaf_matches,
			 "same_certificate", c->same_certificate, "protocol", c->protocol, "cipher",
			 c->cipher, "signature", c->signature, "verify_error",
			 c->verify_code ? json_string(c->verify_error) : json_null(),
			 "leaf_subject", cli_json_string(c->leaf_subject), "leaf_sha256",
			 c->leaf_sha256[0] ? json_string(c->leaf_sha256) : json_null(),
			 "served_certificates", (json_int_t)c->served_count);
}

static json_t *json_result(json_t *token, const hc_check_result *r, time_t now)
{
	json_t *items = json_array(), *chain = json_null(), *tls = json_null(), *cert;

	for (size_t i = 0; i < r->item_count; i++)
		json_array_append_new(
			items, json_pack("{s:s, s:s, s:o}", "name", r->items[i].name, "result",
					 hc_check_outcome_name(r->items[i].outcome), "detail",
					 cli_json_string(r->items[i].detail)));
	if (r->chain_checked) {
		json_t *path = json_array();
		for (size_t i = 0; i < r->chain.link_count; i++) {
			char *s = hc_x509_name_text(X509_get_subject_name(r->chain.links[i].cert));
			json_array_append_new(path,
					      json_pack("{s:s, s:o}", "role",
							hc_chain_role_name(r->chain.links[i].role),
							"subject", cli_json_string(s)));
			free(s);
		}
		chain = json_pack("{s:b, s:o, s:o, s:I}", "verified", r->chain.verified, "path",
				  path, "failure", cli_json_string(r->chain.failure), "served",
				  (json_int_t)(r->served ? sk_X509_num(r->served) : 0));
	}
	if (r->tls_checked) {
		json_t *vc = json_array();
		for (size_t i = 0; i < r->tls.verified_count; i++)
			json_array_append_new(vc, cli_json_string(r->tls.verified_chain[i]));
		tls = json_pack("{s:b, s:b, s:b, s:s, s:s, s:s, s:s, s:o, s:o}", "handshake",
				r->tls.handshake, "verified", r->tls.verified, "data_exchanged",
				r->tls.data_exchanged, "server_name", r->server_name, "protocol",
				r->tls.protocol, "cipher", r->tls.cipher, "signature",
				r->tls.signature, "verify_error",
				r->tls.verify_code ? json_string(r->tls.verify_error) : json_null(),
				"verified_chain", vc);
	}
	if (r->cert) {
		cert = cli_json_cert(&r->cert_info, now);
		json_object_set_new(cert, "uri", cli_json_string(r->cert_uri));
		json_object_set_new(cert, "status", json_string(hc_cert_status_name(r->status)));
		json_object_set_new(cert, "other_certificates",
				    json_integer((json_int_t)r->other_certs));
	} else {
		cert = json_null();
	}
	if (!token)
		return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "passed", !r->failed, "key",
				 cli_json_key(&r->key), "certificate", cert, "checks", items,
				 "chain", chain, "tls", tls);
	return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "passed", !r->failed, "token",
			 token, "key", cli_json_key(&r->key), "certificate", cert, "checks", items,
			 "chain", chain, "tls", tls);
}

static json_t *json_with_connect(json_t *doc, const char *address, const hc_check_result *r)
{
	if (doc)
		json_object_set_new(doc, "connect", json_connect(address, r));
	return doc;
}

static void print_result(const char *token_label, const hc_check_result *r)
{
	size_t failed = 0;

	printf("Key '%s' on token '%s'\n", r->key.label, token_label);
	for (size_t i = 0; i < r->item_count; i++) {
		printf("  %-8s %-12s %s\n", hc_check_outcome_name(r->items[i].outcome),
		       r->items[i].name, r->items[i].detail ? r->items[i].detail : "");
		failed += r->items[i].outcome == HC_CHECK_FAIL;
	}
	if (r->tls_checked && r->tls.verified_count) {
		printf("  %-21s", "TLS verified chain");
		for (size_t i = 0; i < r->tls.verified_count; i++)
			printf("%s%s\n", i ? "                       " : "",
			       r->tls.verified_chain[i]);
	}
	if (failed == 0)
		printf("All checks passed.\n");
}

/* "chain, tls": the names of the failed checks. */
static void failed_names(const hc_check_result *r, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < r->item_count; i++)
		if (r->items[i].outcome == HC_CHECK_FAIL)
			snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? ", " : "",
				 r->items[i].name);
}

/*
 * --all: the URIs of every private key on the token that has a certificate,
 * in token order. Each names the key by label and id.
 */
static hc_rc keys_with_certificates(hc_session *s, time_t now, char ***uris, size_t *count,
				    hc_error *err)
{
	hc_listing l = {0};
	hc_rc rc;

	*uris = NULL;
	*count = 0;
	if ((rc = hc_listing_load(s, now, HC_LIST_WARN_DAYS, &l, err)) != HC_OK)
		return rc;
	if (!(*uris = calloc(l.key_count + 1, sizeof(**uris)))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < l.key_count; i++) {
		const hc_key_info *k = &l.keys[i].key->info;
		if (l.keys[i].cert_count == 0)
			continue;
		if (!((*uris)[*count] = hc_inventory_uri(&l.inventory, k->cls, k->label, k->id,
							 k->id_len))) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		(*count)++;
	}
out:
	hc_listing_clear(&l);
	return rc;
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"key", required_argument, NULL, OPT_KEY},
		{"all", no_argument, NULL, OPT_ALL},
		{"chain", required_argument, NULL, OPT_CHAIN},
		{"roots", required_argument, NULL, OPT_ROOTS},
		{"warn-days", required_argument, NULL, OPT_WARN_DAYS},
		{"tls", no_argument, NULL, OPT_TLS},
		{"servername", required_argument, NULL, OPT_SERVERNAME},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"connect", required_argument, NULL, OPT_CONNECT},
		CLI_GLOBAL_OPTIONS};
	const char *roots[MAX_ROOTS];
	hc_check_params p = {
		.warn_days = HC_LIST_WARN_DAYS,
		.roots = roots,
		.missing_issuer_hint = " (give it with --chain FILE or --roots PATH)",
		.missing_issuer_aia_hint = " (give it with --chain FILE or --roots PATH; 'hsmcert "
					   "chain --fetch' can download it from the AIA URL)",
	};
	hc_check_result *results = NULL;
	struct cli_token t = {0};
	struct cli_passphrase pass;
	bool tls = false, all = false;
	int timeout_ms = 0;
	const char *servername = NULL, *connect = NULL;
	json_t *token_json = NULL;
	hc_secret *pin = NULL;
	char *module = NULL, *init_args = NULL, serial[17], label[33], names[256];
	char **uris = NULL, *one_uri[1] = {NULL};
	size_t nkeys = 0, failed = 0;
	hc_error err = {0};
	hc_rc rc;
	long v;
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		switch (c) {
		case OPT_KEY: p.key_uri = optarg; break;
		case OPT_ALL: all = true; break;
		case OPT_CHAIN: p.chain_path = optarg; break;
		case OPT_ROOTS:
			if (p.root_count == MAX_ROOTS)
				return cli_usage_error(cli, "at most %d --roots", MAX_ROOTS);
			roots[p.root_count++] = optarg;
			break;
		case OPT_WARN_DAYS:
			if ((r = cli_days_option(cli, "--warn-days", optarg, &v)) != CLI_NEXT)
				return r;
			p.warn_days = (int)v;
			break;
		case OPT_TLS: tls = true; break;
		case OPT_SERVERNAME: servername = optarg; break;
		case OPT_TIMEOUT:
			if (!cli_number(optarg, 1, 3600, &v))
				return cli_usage_error(cli,
						       "--timeout wants a number of seconds "
						       "(1 to 3600), not '%s'",
						       optarg);
			timeout_ms = (int)v * 1000;
			break;
		case OPT_CONNECT: connect = optarg; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_check)) != CLI_NEXT)
				return r;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	if (!p.key_uri == !all)
		return cli_usage_error(cli, "name the private key to check with --key URI, or "
					    "use --all");
	if (all && servername)
		return cli_usage_error(cli,
				       "--servername names one key's server: use it with --key");
	if (all && connect)
		return cli_usage_error(cli, "--connect checks one key's server: use it with --key");
	p.now = time(NULL);
	cli_passphrase_init(&pass, cli);
	p.passphrase = &pass.ask;

	if (cli_token_open(cli, p.key_uri, CLI_TOKEN_LOGIN | (tls ? CLI_TOKEN_KEEP_PIN : 0), &t,
			   &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (all) {
		if (keys_with_certificates(t.session, p.now, &uris, &nkeys, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
		if (nkeys == 0) {
			hc_fail(&err, HC_CHECK, "token '%s' holds no key with a certificate",
				t.label);
			r = cli_fail(cli, &err);
			goto out;
		}
	} else {
		one_uri[0] = (char *)p.key_uri;
		nkeys = 1;
	}
	if (!(results = calloc(nkeys, sizeof(*results)))) {
		hc_fail(&err, HC_IO, "out of memory");
		r = cli_fail(cli, &err);
		goto out;
	}
	for (size_t i = 0; i < nkeys; i++) {
		p.key_uri = all ? uris[i] : one_uri[0];
		rc = hc_check_key(t.session, &p, &results[i], &err);
		/* HC_CHECK without a failed item is an input refused before checking. */
		if (rc != HC_OK && (rc != HC_CHECK || !results[i].failed)) {
			r = cli_fail(cli, &err);
			goto out;
		}
	}
	token_json = cli_json_token(&t);
	snprintf(label, sizeof(label), "%s", t.label);
	HC_P11_STRING(t.slot.token.serialNumber, serial);
	module = strdup(hc_module_library(t.module));
	init_args = hc_module_init_args(t.module) ? strdup(hc_module_init_args(t.module)) : NULL;
	pin = t.pin;
	t.pin = NULL;
	/* libp11 ends every session on the module when it lets go: close ours first. */
	cli_token_close(&t);
	for (size_t i = 0; tls && i < nkeys; i++) {
		hc_check_tls_params tp = {
			.module_path = module,
			.init_args = init_args,
			.token_serial = serial,
			.token_label = label,
			.pin = pin,
			.server_name = servername,
			.timeout_ms = timeout_ms,
		};
		if (!results[i].cert)
			continue;
		rc = hc_check_tls(&results[i], &tp, &err);
		if (rc != HC_OK && rc != HC_CHECK) {
			r = cli_fail(cli, &err);
			goto out;
		}
	}
	if (connect && results[0].cert) {
		rc = hc_check_connect(&results[0], connect, servername, timeout_ms, &err);
		if (rc != HC_OK && rc != HC_CHECK) {
			r = cli_fail(cli, &err);
			goto out;
		}
	}
	for (size_t i = 0; i < nkeys; i++)
		failed += results[i].failed;
	if (cli->json && !all) {
		r = cli_json_emit(json_with_connect(json_result(token_json, &results[0], p.now),
						    connect, &results[0]));
		token_json = NULL;
	} else if (cli->json) {
		json_t *keys = json_array();
		for (size_t i = 0; i < nkeys; i++)
			json_array_append_new(keys, json_result(NULL, &results[i], p.now));
		r = cli_json_emit(json_pack(
			"{s:b, s:o, s:{s:I, s:I, s:I}, s:o}", "passed", failed == 0, "token",
			token_json, "summary", "checked", (json_int_t)nkeys, "passed",
			(json_int_t)(nkeys - failed), "failed", (json_int_t)failed, "keys", keys));
		token_json = NULL;
	} else {
		for (size_t i = 0; i < nkeys; i++) {
			if (i)
				printf("\n");
			print_result(label, &results[i]);
		}
		if (all)
			printf("\n%zu key%s checked: %zu passed, %zu failed\n", nkeys,
			       nkeys == 1 ? "" : "s", nkeys - failed, failed);
		r = 0;
	}
	for (size_t i = 0; r == 0 && i < nkeys; i++) {
		if (!results[i].failed)
			continue;
		failed_names(&results[i], names, sizeof(names));
		if (all)
			cli_errorf(cli, "check failed for key '%s': %s", results[i].key.label,
				   names);
		else
			cli_errorf(cli, "check failed: %s", names);
	}
	if (r == 0 && failed)
		r = HC_CHECK;
out:
	json_decref(token_json);
	for (size_t i = 0; results && i < nkeys; i++)
		hc_check_result_clear(&results[i]);
	free(results);
	for (size_t i = 0; all && uris && i < nkeys; i++)
		free(uris[i]);
	free(uris);
	hc_secret_free(pin);
	free(module);
	free(init_args);
	cli_token_close(&t);
	cli_passphrase_clear(&pass);
	return r;
}
