/* SPEC: import. */
#include "cli.h"

#include "certview.h"
#include "hsmcert/hex.h"
#include "hsmcert/import.h"

#include <stdlib.h>
#include <string.h>

enum {
	OPT_CERT = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_CHAIN,
	OPT_LABEL,
	OPT_REPLACE,
};

int usage_import(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert import --cert FILE [--chain FILE] [--replace] [--label LABEL]\n"
		"                      [--token URI] [--pin-source SRC]\n"
		"                      [--passphrase-source SRC]\n\n"
		"Complete a pending request: store the certificate the CA issued next to the\n"
		"private key on the token whose public key it carries (compared by key, not by\n"
		"label), with the key's CKA_ID and CKA_LABEL. Importing the same certificate\n"
		"again changes nothing.\n\n"
		"  --cert FILE              the issued certificate: PEM, DER, PKCS#7 (.p7b) or\n"
		"                           PKCS#12 (.pfx: its certificates only; its key is\n"
		"                           not imported, see restore); CA certificates in the\n"
		"                           same file are stored too\n"
		"  --chain FILE             CA certificates to store as authority certificates\n"
		"                           (PEM bundle, DER, PKCS#7 or PKCS#12)\n"
		"  --replace                remove older certificates of the same key and CA\n"
		"                           certificates the new ones supersede (same subject,\n"
		"                           older notBefore: the old Sub CA)\n"
		"  --label LABEL            rename the key, its public key and its certificates\n\n"
		"If a step fails, stored certificates are removed and labels set back; should\n"
		"that fail too, the error names the objects left or relabelled by URI.\n\n"
		"A PKCS#12's passphrase comes from --passphrase-source, HSMCERT_PASSPHRASE or a\n"
		"no-echo prompt, asked for only when a PKCS#12 is given.\n\n"
		"Exit status 1 when no key on the token matches the certificate, the\n"
		"certificate has expired, or a PKCS#12 passphrase is wrong (nothing is stored).\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

static json_t *json_imported(const hc_imported_cert *c, time_t now)
{
	json_t *j = cli_json_cert(&c->info, now);
	char *id = hc_hex_encode(c->id ? c->id : (const unsigned char *)"", c->id_len);

	json_object_set_new(j, "label", json_string(c->label));
	json_object_set_new(j, "id", cli_json_string(id));
	json_object_set_new(j, "uri", cli_json_string(c->uri));
	json_object_set_new(j, "category", json_string(hc_cert_category_name(c->category)));
	json_object_set_new(j, "added", json_boolean(c->added));
	free(id);
	return j;
}

static json_t *json_result(const struct cli_token *t, const hc_import_result *r, time_t now)
{
	json_t *cas = json_array(), *removed = json_array();

	for (size_t i = 0; i < r->ca_count; i++)
		json_array_append_new(cas, json_imported(&r->cas[i], now));
	for (size_t i = 0; i < r->removed.count; i++) {
		const hc_doomed *d = &r->removed.objects[i];
		json_array_append_new(removed,
				      json_pack("{s:s, s:s, s:s, s:s}", "class",
						hc_object_class_name(d->cls), "label", d->label,
						"uri", d->uri, "description", d->what));
	}
	return json_pack("{s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:I}", "token", cli_json_token(t),
			 "changed", r->changed, "key", cli_json_key(&r->key), "renamed_from",
			 cli_json_string(r->old_label), "certificate", json_imported(&r->leaf, now),
			 "ca_certificates", cas, "removed", removed, "newer_certificates_kept",
			 (json_int_t)r->newer_certs_kept);
}

static void print_result(const struct cli_token *t, const hc_import_result *r, time_t now)
{
	if (r->leaf.added)
		printf("Imported the certificate for key '%s' on token '%s'\n", r->key.label,
		       t->label);
	else
		printf("The certificate is already on token '%s' with key '%s'%s\n", t->label,
		       r->key.label, r->changed ? "" : ": nothing changed");
	cli_print_cert(&r->leaf.info, now, 2);
	printf("  %-20s%s\n", "Certificate URI", r->leaf.uri);
	printf("  %-20s%s\n", "Key URI", r->key.uri);
	if (r->old_label)
		printf("  %-20s'%s' (was '%s')\n", "Renamed to", r->key.label, r->old_label);
	if (r->ca_count)
		printf("CA certificates:\n");
	for (size_t i = 0; i < r->ca_count; i++)
		printf("  %-8s %s\n           %s\n", r->cas[i].added ? "added" : "present",
		       r->cas[i].info.subject, r->cas[i].uri);
	if (r->removed.count)
		printf("Removed (--replace):\n");
	for (size_t i = 0; i < r->removed.count; i++)
		printf("  %s\n           %s\n", r->removed.objects[i].what,
		       r->removed.objects[i].uri);
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"cert", required_argument, NULL, OPT_CERT},
						{"chain", required_argument, NULL, OPT_CHAIN},
						{"label", required_argument, NULL, OPT_LABEL},
						{"replace", no_argument, NULL, OPT_REPLACE},
						CLI_GLOBAL_OPTIONS};
	hc_import_params p = {0};
	hc_import_result result = {0};
	struct cli_passphrase pass;
	struct cli_token t = {0};
	hc_error err = {0};
	time_t now = time(NULL);
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		switch (c) {
		case OPT_CERT: p.cert_path = optarg; break;
		case OPT_CHAIN: p.chain_path = optarg; break;
		case OPT_LABEL: p.label = optarg; break;
		case OPT_REPLACE: p.replace = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_import)) != CLI_NEXT)
				return r;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	if (!p.cert_path)
		return cli_usage_error(cli, "--cert FILE is required: the certificate the CA "
					    "issued");
	if (p.label && !*p.label)
		return cli_usage_error(cli, "--label must not be empty");

	cli_passphrase_init(&pass, cli);
	p.passphrase = &pass.ask;
	if (cli_token_open(cli, NULL, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_import(t.session, &p, &result, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (result.newer_certs_kept)
		cli_warnf(cli, "%zu certificate%s of this key newer than the imported one %s kept",
			  result.newer_certs_kept, result.newer_certs_kept == 1 ? "" : "s",
			  result.newer_certs_kept == 1 ? "was" : "were");
	if (cli->json) {
		r = cli_json_emit(json_result(&t, &result, now));
	} else {
		print_result(&t, &result, now);
		r = 0;
	}
out:
	hc_import_result_clear(&result);
	cli_token_close(&t);
	cli_passphrase_clear(&pass);
	return r;
}
