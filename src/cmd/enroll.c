/* SPEC: enroll — a certificate from an ACME CA for a key on the token. */
#include "acme_cli.h"
#include "csr_cli.h"

#include "hsmcert/file.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPT_KEY = CLI_OPT_KEYGEN_END };

int usage_enroll(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert enroll --acme URL (--key URI | --label LABEL [--type TYPE] ...)\n"
		"                      (--subject DN | --cn NAME ...) [--san NAME]...\n"
		"                      [--account-key URI] [--contact mailto:...] [--agree-tos]\n"
		"                      [--eab-kid ID --eab-hmac-source SRC]\n"
		"                      [--http-port N | --webroot DIR] [--acme-roots FILE]\n"
		"                      [--roots PATH] [-o CHAIN_FILE [--force]]\n\n"
		"Get a certificate from a CA over ACME (RFC 8555) without hands. The key pair\n"
		"(--key, or a new one made as keygen does) and the ACME account key both stay\n"
		"on the token and sign there. The request is built and signed as csr does\n"
		"(profiles apply); the CA's http-01 challenges are answered on --http-port or\n"
		"under --webroot. The issued certificate is checked (it is for the key, it\n"
		"names every DNS name and IP address asked for), its chain is verified to a\n"
		"trusted root (an alternate chain the CA offers is tried when the default one\n"
		"does not verify), it is stored beside the key as import does, CA certificates\n"
		"too, and the chain the server should send is written with -o.\n\n"
		"If anything fails, a key pair made by this run and certificates it stored are\n"
		"removed again, and no file is written. The account key is kept once the CA\n"
		"has an account for it; it finds the account again (no state file).\n\n"
		"With --label and --if-missing, a key that already holds a certificate for\n"
		"exactly these names, not due for renewal (renew's rule), is not enrolled\n"
		"again: exit 0, nothing ordered, -o written from the token's certificates\n"
		"(use renew to renew it). With --key a certificate is always ordered.\n\n"
		"Key:\n"
		"  --key URI                an existing private key on the token\n"
		"  --label LABEL            or a new key pair's label (as keygen), with\n"
		"  --type TYPE              rsa:2048 (default), rsa:3072, rsa:4096, ec:P-256,\n"
		"                           ec:P-384; --id HEX, --exportable, --if-missing\n"
		"  --config FILE            an OpenSSL req config (as request)\n" CSR_CLI_USAGE
			ACME_CLI_USAGE "\n"
		"Exit status: 1 the CA refused (its problem document is shown: type, detail and\n"
		"the failing challenge), or the certificate or chain failed a check; 2 bad\n"
		"options; 3 token error; 4 network (the CA could not reach the responder,\n"
		"or hsmcert could not reach the CA).\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

static void print_text(const hc_acme_session *a, const struct cli_token *t,
		       const hc_enroll_result *r, const char *chain_out, time_t now)
{
	if (r->already_enrolled)
		printf("Already enrolled: key '%s' on token '%s' holds a certificate for these "
		       "names that is not due for renewal; nothing was ordered (hsmcert renew "
		       "renews it)\n",
		       cli_text(r->key.label), cli_text(t->label));
	else
		printf("Enrolled a certificate for '%s' on token '%s'\n", cli_text(r->key.label),
		       cli_text(t->label));
	acme_cli_print_account(a);
	acme_cli_print_enrolled(r, chain_out, now, 0);
}

int cmd_enroll(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {CLI_KEYGEN_OPTIONS,
						{"key", required_argument, NULL, OPT_KEY},
						CSR_CLI_OPTIONS,
						ACME_CLI_OPTIONS,
						CLI_GLOBAL_OPTIONS};
	struct csr_cli o = {0};
	struct acme_cli ac;
	struct cli_keygen k = {0};
	const char *key_uri = NULL;
	hc_csr_plan plan = {0};
	hc_enroll_params ep = {0};
	hc_enroll_result result = {0};
	hc_acme_session *acme = NULL;
	struct cli_token t = {0};
	hc_error err = {0};
	time_t now;
	int c, r;

	csr_cli_init();
	acme_cli_init(&ac);
	while ((c = getopt_long(argc, argv, CSR_CLI_SHORT, options, NULL)) != -1) {
		if (cli_keygen_option(&k, c, optarg) || acme_cli_option(&ac, c, optarg))
			continue;
		switch (c) {
		case OPT_KEY: key_uri = optarg; break;
		default:
			if (!csr_cli_option(&o, c, optarg) &&
			    (r = cli_common_option(cli, c, optarg, usage_enroll)) != CLI_NEXT)
				goto out;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		goto out;
	if (!key_uri == !k.params.label) {
		r = cli_usage_error(cli, "give --key URI (an existing key) or --label LABEL (a new "
					 "one), not both");
		goto out;
	}
	if (key_uri && (k.type_arg || k.id_arg || k.params.exportable || k.params.if_missing)) {
		r = cli_usage_error(cli,
				    "--type, --id, --exportable and --if-missing make a new key; "
				    "--key names an existing one");
		goto out;
	}
	if (o.der) {
		r = cli_usage_error(cli, "--der: the chain file is PEM");
		goto out;
	}
	if (acme_cli_finish(&ac, &err) != HC_OK) {
		char text[CLI_ERROR_TEXT_SIZE];
		r = cli_usage_error(cli, "%s", cli_error_text(&err, text, sizeof(text)));
		goto out;
	}
	/* Names, profile and key options are checked before the token or the network. */
	if (csr_cli_prepare(&o, key_uri ? NULL : &k, &plan, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (plan.sans.count == 0) {
		r = cli_usage_error(cli, "nothing to certify: give --cn or --san (DNS names or IP "
					 "addresses the CA validates)");
		goto out;
	}
	/* An existing -o file is refused before the token or the CA is touched. */
	if (o.out && hc_file_check_writable(o.out, o.force, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	ep.key_uri = key_uri;
	ep.keygen = key_uri ? NULL : &k.params;
	ep.plan = &plan;
	ep.chain_out = o.out;
	ep.force = o.force;
	if (cli_token_open(cli, key_uri, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_acme_session_open(t.session, &ac.setup, &acme, &err) != HC_OK ||
	    hc_enroll(acme, &ep, &result, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (result.key_created) {
		/* A shallow view: the warnings read only the notes. */
		hc_keygen_result made = {.created = true, .notes = result.notes};
		cli_keygen_warnings(cli, &made);
	}
	now = time(NULL);
	if (cli->json)
		r = cli_json_emit(json_pack("{s:o, s:o, s:o}", "token", cli_json_token(&t),
					    "account", acme_cli_json_account(acme), "enrolled",
					    acme_cli_json_enrolled(&result, o.out, now)));
	else {
		print_text(acme, &t, &result, o.out, now);
		r = 0;
	}
out:
	hc_enroll_result_clear(&result);
	hc_acme_session_close(acme);
	hc_csr_plan_clear(&plan);
	cli_token_close(&t);
	csr_cli_clear(&o);
	acme_cli_clear(&ac);
	return r;
}
