/* SPEC: csr — a PKCS#10 request signed inside the token by an existing key. */
#include "csr_cli.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_KEY = CLI_OPT_FIRST_COMMAND_OPTION };

int usage_csr(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert csr --key URI (--subject DN | --cn NAME ... | --config FILE)\n"
		"                   [--san NAME]... [--wildcard DOMAIN] [--profile hkpost|cabf]\n"
		"                   [--md DIGEST] [--pss] [-o FILE [--force]] [--der]\n\n"
		"Write a certificate request (PKCS#10) for a key on the token, signed inside\n"
		"the token. Names are checked before anything is signed.\n\n"
		"  --key URI                the private key, e.g. 'pkcs11:object=mail' (the\n"
		"                           token part selects the token unless --token)\n"
		"  --config FILE            an OpenSSL req config, as request reads it: subject\n"
		"                           ([req] distinguished_name), SANs ([alt_names]),\n"
		"                           req_extensions, default_md; default_bits does not\n"
		"                           apply (the key exists); options override it\n" CSR_CLI_USAGE
		"\n" CLI_GLOBAL_USAGE);
	return 0;
}

int cmd_csr(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"key", required_argument, NULL, OPT_KEY}, CSR_CLI_OPTIONS, CLI_GLOBAL_OPTIONS};
	struct csr_cli o = {0};
	const char *key_uri = NULL;
	hc_csr_plan plan = {0};
	hc_csr_output output = {0};
	hc_csr_result result = {0};
	hc_key_info key = {0};
	struct cli_token t = {0};
	hc_error err = {0};
	int c, r;

	csr_cli_init();
	while ((c = getopt_long(argc, argv, CLI_SHORT CSR_CLI_SHORT, options, NULL)) != -1) {
		if (c == OPT_KEY)
			key_uri = optarg;
		else if (!csr_cli_option(&o, c, optarg) &&
			 (r = cli_common_option(cli, c, optarg, usage_csr)) != CLI_NEXT)
			goto out;
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		goto out;
	if (!key_uri) {
		r = cli_usage_error(cli, "--key URI is required: the token's private key, e.g. "
					 "--key 'pkcs11:object=mail'");
		goto out;
	}
	/* Everything the user typed is checked before the token is opened. */
	if (csr_cli_prepare(&o, NULL, &plan, &err) != HC_OK ||
	    csr_cli_output(cli, &o, &output, &err) != HC_OK ||
	    cli_token_open(cli, key_uri, CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_key_select_private(t.session, key_uri, &key, &err) != HC_OK ||
	    hc_csr_sign(t.session, &key, &plan, &result, &err) != HC_OK ||
	    hc_csr_write(&result, &output, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		r = cli_json_emit(json_pack("{s:o, s:o, s:o}", "token", cli_json_token(&t), "key",
					    cli_json_key(&key), "request",
					    csr_cli_json(&o, &output, &result)));
	} else {
		csr_cli_print(&o, &output, &result, &key);
		r = 0;
	}
out:
	hc_csr_result_clear(&result);
	hc_key_info_clear(&key);
	hc_csr_plan_clear(&plan);
	cli_token_close(&t);
	csr_cli_clear(&o);
	return r;
}
