/* SPEC: keygen. */
#include "cli.h"

#include "hsmcert/hex.h"
#include "hsmcert/keygen.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_PURPOSE = CLI_OPT_KEYGEN_END };

int usage_keygen(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert keygen --label LABEL [--type TYPE] [--id HEX] [--exportable]\n"
		"                      [--if-missing] [--token URI] [--pin-source SRC]\n\n"
		"Generate a key pair inside the token. The private key is a token object,\n"
		"private and sensitive, and not extractable unless --exportable.\n\n"
		"  --label LABEL            the key's friendly name (CKA_LABEL)\n"
		"  --type TYPE              rsa:2048 (default), rsa:3072, rsa:4096, ec:P-256,\n"
		"                           ec:P-384 (also prime256v1, secp256r1, secp384r1)\n"
		"  --id HEX                 CKA_ID; default: SHA-1 of the modulus or EC point\n"
		"  --exportable             CKA_EXTRACTABLE true: the key may leave the token\n"
		"                           wrapped (see backup); it stays sensitive\n"
		"  --if-missing             succeed without change when a key of that label\n"
		"                           (and id) and type exists\n"
		"  --purpose PURPOSE        server (default): the key signs; recipient: an RSA\n"
		"                           key that only unwraps backups made with\n"
		"                           'backup --to' (token-to-token backup)\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

int cmd_keygen(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {CLI_KEYGEN_OPTIONS,
						{"purpose", required_argument, NULL, OPT_PURPOSE},
						CLI_GLOBAL_OPTIONS};
	struct cli_keygen k = {.type_arg = "rsa:2048"};
	hc_keygen_params *p = &k.params;
	hc_keygen_result result = {0};
	struct cli_token t = {0};
	unsigned char *id = NULL;
	hc_error err = {0};
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		if (cli_keygen_option(&k, c, optarg))
			continue;
		switch (c) {
		case OPT_PURPOSE:
			if (strcmp(optarg, "recipient") == 0)
				p->recipient = true;
			else if (strcmp(optarg, "server") != 0)
				return cli_usage_error(
					cli, "--purpose is server or recipient, not '%s'", optarg);
			break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_keygen)) != CLI_NEXT)
				return r;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	if (!p->label || !*p->label)
		return cli_usage_error(cli, "--label is required: the key's friendly name");
	if (hc_keytype_parse(k.type_arg, &p->type, &err) != HC_OK)
		return cli_fail(cli, &err);
	if (k.id_arg) {
		if (hc_hex_decode(k.id_arg, "--id", &id, &p->id_len, &err) != HC_OK)
			return cli_fail(cli, &err);
		p->id = id;
	}

	if (cli_token_open(cli, NULL, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_keygen(t.session, p, &result, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}

	if (cli->json) {
		r = cli_json_emit(json_pack("{s:b, s:o, s:o}", "created", result.created, "token",
					    cli_json_token(&t), "key",
					    cli_json_generated(&result)));
	} else {
		char type[32];
		hc_keytype_format(&result.key.type, type, sizeof(type));
		if (result.created)
			printf("Generated %s key pair '%s' on token '%s'\n", type, result.key.label,
			       t.label);
		else
			printf("Key pair '%s' (%s) already exists on token '%s': nothing changed\n",
			       result.key.label, type, t.label);
		cli_print_key(&result.key, 2);
		printf("  %-20s%s\n", "Public key URI", result.public_uri ? result.public_uri : "");
		r = 0;
	}
	cli_keygen_warnings(cli, &result);
out:
	hc_keygen_result_clear(&result);
	cli_token_close(&t);
	free(id);
	return r;
}
