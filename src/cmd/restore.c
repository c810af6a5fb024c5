/* SPEC: restore. */
#include "cli.h"

#include "hsmcert/backup.h"
#include "hsmcert/file.h"

#include <stdlib.h>
#include <string.h>

enum {
	OPT_EXPORTABLE = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_NO_EXPORTABLE,
	OPT_LABEL,
	OPT_FORCE,
	OPT_USAGE,
};

int usage_restore(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert restore FILE [--exportable | --no-exportable] [--label LABEL]\n"
		"                       [--usage LIST] [--force] [--token URI]\n"
		"                       [--passphrase-source SRC]\n\n"
		"Restore keys from an hsmcert backup (.hsmb) or a PKCS#12 file (.pfx/.p12,\n"
		"legacy 3DES/RC2 files included) into the token. The key enters the token only\n"
		"wrapped (C_UnwrapKey) and is sensitive; its certificate and CA certificates\n"
		"are stored beside it, and a test signature proves that the restored key\n"
		"matches its certificate. The file is checked as a whole first: a wrong\n"
		"passphrase, a modified file or a token without the recipient key changes\n"
		"nothing.\n\n"
		"  --exportable             CKA_EXTRACTABLE true on the restored key\n"
		"  --no-exportable          CKA_EXTRACTABLE false\n"
		"                           (default: as recorded in an hsmb; not exportable\n"
		"                           for a PKCS#12)\n"
		"  --label LABEL            the key's label (a file with one key; default: the\n"
		"                           recorded label or the PKCS#12 friendly name)\n"
		"  --usage LIST             the key's usages, from sign, decrypt, unwrap and\n"
		"                           derive, comma-separated (default: as recorded in\n"
		"                           an hsmb; sign for a PKCS#12). Exactly these are\n"
		"                           set and the others set false, whatever the token's\n"
		"                           defaults; a token that adds one is refused\n"
		"  --force                  replace a key with the same label or id, after the\n"
		"                           restored key is proved\n\n"
		"If a step fails, what this run created is removed again; should that fail\n"
		"too, the error names every object left on the token by its URI. A restore\n"
		"killed part way is finished by the same command: it removes what the\n"
		"interrupted run left (marked as unfinished) and keeps a key that run\n"
		"completed.\n"
		"An hsmb made with --to opens with the recipient's private key on this token.\n"
		"The passphrase comes from --passphrase-source, HSMCERT_PASSPHRASE or a prompt.\n\n"
		"Exit status: 0 restored; 1 wrong passphrase, modified file, another\n"
		"recipient, label or id in use, or the key does not match its certificate;\n"
		"2 not a backup.\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

static const char *kind_name(hc_backup_kind kind)
{
	switch (kind) {
	case HC_KIND_HSMB_PASSPHRASE: return "passphrase";
	case HC_KIND_HSMB_RECIPIENT: return "recipient";
	case HC_KIND_PFX: return "pkcs12";
	default: return "unknown";
	}
}

static int report(const struct cli *cli, const struct cli_token *t, const char *path,
		  const hc_restore_result *r)
{
	if (cli->json) {
		json_t *keys = json_array();
		for (size_t i = 0; i < r->count; i++) {
			const hc_restore_item *it = &r->items[i];
			json_t *k = cli_json_key(&it->key), *ca_uris = json_array();
			for (size_t j = 0; j < it->ca_count; j++)
				json_array_append_new(ca_uris, cli_json_string(it->ca_uris[j]));
			json_object_set_new(k, "public_uri", cli_json_string(it->public_uri));
			json_object_set_new(k, "certificate",
					    it->has_certificate
						    ? json_pack("{s:o, s:s, s:o}", "subject",
								cli_json_string(it->cert_subject),
								"sha256", it->cert_sha256, "uri",
								cli_json_string(it->cert_uri))
						    : json_null());
			json_object_set_new(k, "ca_certificates",
					    json_integer((json_int_t)it->ca_count));
			json_object_set_new(k, "ca_certificate_uris", ca_uris);
			json_object_set_new(k, "proved", json_true());
			json_object_set_new(k, "replaced", json_integer((json_int_t)it->replaced));
			json_object_set_new(k, "already_present", json_boolean(it->already));
			json_object_set_new(k, "usages_added", json_string(it->usages_added));
			json_array_append_new(keys, k);
		}
		return cli_json_emit(json_pack(
			"{s:s, s:s, s:s, s:b, s:o, s:o, s:o}", "file", path, "format",
			r->kind == HC_KIND_PFX ? "pfx" : "hsmb", "protection", kind_name(r->kind),
			"legacy_pkcs12", r->legacy_pkcs12, "recipient_key",
			r->recipient_uri[0] ? json_string(r->recipient_uri) : json_null(), "token",
			cli_json_token(t), "keys", keys));
	}
	printf("Restored %zu key%s from %s into token '%s'%s\n", r->count, r->count == 1 ? "" : "s",
	       path, t->label, r->legacy_pkcs12 ? " (legacy PKCS#12 encryption)" : "");
	if (r->recipient_uri[0])
		printf("  %-20s%s\n", "Opened with", r->recipient_uri);
	for (size_t i = 0; i < r->count; i++) {
		const hc_restore_item *it = &r->items[i];
		cli_print_key(&it->key, 2);
		printf("  %-20s%s\n", "Public key URI", it->public_uri ? it->public_uri : "");
		if (it->has_certificate) {
			printf("  %-20s%s\n", "Certificate",
			       it->cert_subject ? it->cert_subject : "");
			printf("  %-20s%s\n", "SHA-256", it->cert_sha256);
			printf("  %-20s%s\n", "Certificate URI", it->cert_uri ? it->cert_uri : "");
		} else {
			printf("  %-20s%s\n", "Certificate", "none in the file");
		}
		for (size_t j = 0; j < it->ca_count; j++)
			printf("  %-20s%s\n", j ? "" : "CA certificates", it->ca_uris[j]);
		printf("  %-20s%s\n", "Proof",
		       it->has_certificate
			       ? "test signature verified with the certificate"
			       : "test signature verified with the recorded public key");
		if (it->already)
			printf("  %-20s%s\n", "Already present",
			       "the token held this key as restored (an earlier run): kept");
		if (it->replaced)
			printf("  %-20s%zu object%s of the earlier key\n", "Replaced", it->replaced,
			       it->replaced == 1 ? "" : "s");
	}
	return 0;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"exportable", no_argument, NULL, OPT_EXPORTABLE},
		{"no-exportable", no_argument, NULL, OPT_NO_EXPORTABLE},
		{"label", required_argument, NULL, OPT_LABEL},
		{"force", no_argument, NULL, OPT_FORCE},
		{"usage", required_argument, NULL, OPT_USAGE},
		CLI_GLOBAL_OPTIONS};
	hc_restore_params p = {.exportable = -1};
	hc_restore_result result = {0};
	struct cli_token t = {0};
	hc_secret *pass = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	hc_backup_kind kind;
	hc_error err = {0};
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		switch (c) {
		case OPT_EXPORTABLE:
		case OPT_NO_EXPORTABLE:
			if (p.exportable >= 0)
				return cli_usage_error(cli, "--exportable and --no-exportable "
							    "exclude each other");
			p.exportable = c == OPT_EXPORTABLE;
			break;
		case OPT_LABEL: p.label = optarg; break;
		case OPT_FORCE: p.force = true; break;
		case OPT_USAGE:
			if (hc_usage_parse(optarg, &p.usages, &err) != HC_OK)
				return cli_usage_error(cli, "--usage: %s", err.message);
			break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_restore)) != CLI_NEXT)
				return r;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, optind >= argc ? "name the backup FILE"
							   : "one backup FILE at a time");
	p.name = argv[optind];
	if (p.label && !*p.label)
		return cli_usage_error(cli, "--label is empty");
	if (hc_file_read(p.name, HC_BACKUP_MAX_FILE, &data, &len, &err) != HC_OK)
		return cli_fail(cli, &err);
	p.data = data;
	p.len = len;
	kind = hc_backup_detect(data, len);
	if (kind == HC_KIND_UNKNOWN) {
		hc_fail(&err, HC_USAGE,
			"%s is neither an hsmcert backup (.hsmb) nor a PKCS#12 file", p.name);
		r = cli_fail(cli, &err);
		goto out;
	}
	if (kind != HC_KIND_HSMB_RECIPIENT) {
		if (cli_secret(cli, CLI_PASSPHRASE, NULL, false, &pass, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
		p.passphrase = pass;
	}
	if (cli_token_open(cli, NULL, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_restore(t.session, &p, &result, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	for (size_t i = 0; i < result.count; i++)
		if (result.items[i].usages_added[0])
			cli_warnf(cli,
				  "the token also gave '%s' the usage %s although the template "
				  "set it false (it does not keep it apart from signing); 'hsmcert "
				  "audit --policy sign-only' reports it",
				  result.items[i].key.label, result.items[i].usages_added);
	r = report(cli, &t, p.name, &result);
out:
	hc_restore_result_clear(&result);
	cli_token_close(&t);
	hc_secret_free(pass);
	free(data);
	return r;
}
