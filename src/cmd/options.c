/* Global options: parsing, the environment, where --json stands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * --pin 1234 (the habit pkcs11-tool teaches) would put the secret in the
 * shell history and the process list; the option is named to refuse it,
 * never to use it, and the value is not echoed.
 */
static int pin_on_command_line(const struct cli *cli)
{
	const char *arg = optind >= 1 && optind <= cli->argc && cli->argv ? cli->argv[optind - 1]
									  : "";
	bool passphrase = strstr(arg, "--passphrase") == arg;
	bool so = strstr(arg, "--so-pin") == arg;

	if (passphrase)
		return cli_usage_error(cli, "passphrases are not taken on the command line; use "
					    "--passphrase-source env:VAR (or file:PATH, fd:N)");
	return cli_usage_error(cli,
			       "PINs are not taken on the command line; use %s env:VAR "
			       "(or file:PATH, fd:N)",
			       so ? "--so-pin-source" : "--pin-source");
}

int cli_common_option(struct cli *cli, int opt, const char *arg, cli_usage_fn usage)
{
	switch (opt) {
	case CLI_OPT_MODULE: cli->module_path = arg; return CLI_NEXT;
	case CLI_OPT_TOKEN:
		cli->token_uri = arg;
		cli->token_from_env = false;
		return CLI_NEXT;
	case CLI_OPT_PIN_SOURCE: cli->pin_source = arg; return CLI_NEXT;
	case CLI_OPT_SO_PIN_SOURCE: cli->so_pin_source = arg; return CLI_NEXT;
	case CLI_OPT_PASSPHRASE_SOURCE: cli->passphrase_source = arg; return CLI_NEXT;
	case CLI_OPT_JSON: cli->json = true; return CLI_NEXT;
	case CLI_OPT_HELP:
	case 'h': usage(stdout); return 0;
	case CLI_OPT_PIN_VALUE: return pin_on_command_line(cli);
	case ':':
	case '?': return cli_option_error(cli);
	default: return cli_usage_error(cli, "unhandled option %d", opt);
	}
}

/* --json, an abbreviation getopt_long would take for it (--js...), or a misused --json=X. */
static bool is_json_option(const char *arg)
{
	size_t n = strlen(arg);

	if (strncmp(arg, "--json=", 7) == 0)
		return true;
	return n >= 4 && n <= 6 && strncmp(arg, "--json", n) == 0;
}

void cli_set_arguments(struct cli *cli, int argc, char **argv)
{
	const char *v = getenv("HSMCERT_JSON");

	cli->argc = argc;
	cli->argv = argv;
	if (v && *v && strcmp(v, "0") != 0)
		cli->json_requested = true;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (is_json_option(argv[i]))
			cli->json_requested = true;
}

void cli_apply_environment(struct cli *cli)
{
	const char *v;

	if (!cli->module_path && (v = getenv("HSMCERT_MODULE")) && *v)
		cli->module_path = v;
	if (!cli->token_uri && (v = getenv("HSMCERT_TOKEN")) && *v) {
		cli->token_uri = v;
		cli->token_from_env = true;
	}
	if (!cli->json && (v = getenv("HSMCERT_JSON")) && *v && strcmp(v, "0") != 0)
		cli->json = true;
}

bool cli_number(const char *arg, long min, long max, long *out)
{
	char *end;
	long v;

	if (!arg || !*arg)
		return false;
	errno = 0;
	v = strtol(arg, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int cli_days_option(const struct cli *cli, const char *name, const char *arg, long *out)
{
	if (cli_number(arg, 0, 36500, out))
		return CLI_NEXT;
	return cli_usage_error(cli, "%s wants a number of days (0 to 36500), not '%s'", name, arg);
}
