/* SPEC: request — keygen and csr in one step ("New Exchange Certificate"). */
#include "csr_cli.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_VERBOSE = CLI_OPT_KEYGEN_END };

int usage_request(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert request --label LABEL [--type TYPE] [--id HEX] [--exportable]\n"
		"                       [--if-missing] [--config FILE] (--subject DN | --cn ...)\n"
		"                       [--san NAME]... [--profile hkpost|cabf] [-o FILE]\n"
		"                       [--verbose]\n\n"
		"Generate a key pair inside the token and a certificate request for it, signed\n"
		"inside the token. If the request cannot be made, signed, verified or written,\n"
		"the new key pair is destroyed: nothing is left on the token.\n\n"
		"Key (as keygen):\n"
		"  --label LABEL            the key's friendly name (CKA_LABEL)\n"
		"  --type TYPE              rsa:2048 (default), rsa:3072, rsa:4096, ec:P-256,\n"
		"                           ec:P-384 (also prime256v1, secp256r1, secp384r1)\n"
		"  --id HEX                 CKA_ID; default: SHA-1 of the modulus or EC point\n"
		"  --exportable             CKA_EXTRACTABLE true (still sensitive)\n"
		"  --if-missing             use the key of that label if it exists (kept on failure)\n"
		"  --config FILE            an OpenSSL req config: [req] distinguished_name,\n"
		"                           req_extensions (subjectAltName = @alt_names, ...),\n"
		"                           prompt, default_md, default_bits; options override it\n"
		"  --verbose                also list the new key's attributes (--json always\n"
		"                           has them)\n" CSR_CLI_USAGE "\n" CLI_GLOBAL_USAGE);
	return 0;
}

static void print_text(struct cli *cli, const struct csr_cli *o, const hc_csr_output *output,
		       const hc_keygen_result *key, const hc_csr_result *csr,
		       const struct cli_token *t, bool verbose)
{
	char type[32];
	bool to_stdout = !output->path || strcmp(output->path, "-") == 0;

	hc_keytype_format(&key->key.type, type, sizeof(type));
	if (to_stdout) {
		/* stdout carries the request; people's lines go to stderr. */
		cli_notef(cli, "%s %s key pair '%s' on token '%s': %s",
			  key->created ? "Generated" : "Used the existing", type, key->key.label,
			  t->label, key->key.uri);
		return;
	}
	/* What the user asked for first: the request; then where its key is. */
	csr_cli_print(o, output, csr, &key->key);
	if (key->created)
		printf("\nGenerated %s key pair '%s' on token '%s'\n", type, key->key.label,
		       t->label);
	else
		printf("\nKey pair '%s' (%s) already exists on token '%s': used it\n",
		       key->key.label, type, t->label);
	if (!verbose)
		return;
	cli_print_key(&key->key, 2);
	printf("  %-20s%s\n", "Public key URI", key->public_uri ? key->public_uri : "");
}

int cmd_request(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {CLI_KEYGEN_OPTIONS,
						{"verbose", no_argument, NULL, OPT_VERBOSE},
						CSR_CLI_OPTIONS,
						CLI_GLOBAL_OPTIONS};
	struct csr_cli o = {0};
	bool verbose = false;
	struct cli_keygen k = {0};
	hc_keygen_params *kp = &k.params;
	hc_csr_plan plan = {0};
	hc_csr_output output = {0};
	hc_keygen_result key = {0};
	hc_csr_result csr = {0};
	struct cli_token t = {0};
	hc_error err = {0};
	int c, r;

	csr_cli_init();
	while ((c = getopt_long(argc, argv, CLI_SHORT CSR_CLI_SHORT, options, NULL)) != -1) {
		if (cli_keygen_option(&k, c, optarg))
			continue;
		switch (c) {
		case OPT_VERBOSE: verbose = true; break;
		default:
			if (!csr_cli_option(&o, c, optarg) &&
			    (r = cli_common_option(cli, c, optarg, usage_request)) != CLI_NEXT)
				goto out;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		goto out;
	if (!kp->label || !*kp->label) {
		r = cli_usage_error(cli, "--label is required: the new key's friendly name");
		goto out;
	}
	/* Names, profile (key type included) and output are checked before keygen. */
	if (csr_cli_prepare(&o, &k, &plan, &err) != HC_OK ||
	    csr_cli_output(cli, &o, &output, &err) != HC_OK ||
	    cli_token_open(cli, NULL, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_request(t.session, kp, &plan, &output, &key, &csr, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		r = cli_json_emit(json_pack("{s:b, s:o, s:o, s:o}", "created", key.created, "token",
					    cli_json_token(&t), "key", cli_json_generated(&key),
					    "request", csr_cli_json(&o, &output, &csr)));
	} else {
		print_text(cli, &o, &output, &key, &csr, &t, verbose);
		r = 0;
	}
	cli_keygen_warnings(cli, &key);
out:
	hc_csr_result_clear(&csr);
	hc_keygen_result_clear(&key);
	hc_csr_plan_clear(&plan);
	cli_token_close(&t);
	csr_cli_clear(&o);
	return r;
}
