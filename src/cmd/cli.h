/*
 * The CLI's shared parts. This header holds the global options and the
 * command table's row; it includes the others, one per job:
 *   messages.h        errors, warnings, usage errors: the only way to stderr
 *   json_out.h        JSON documents on stdout
 *   prompt.h          PINs, passphrases, confirmation on the terminal
 *   token_open.h      opening the selected token and logging in
 *   keyview.h         keys (and unreadable objects) in reports
 *   keygen_options.h  the key options keygen and request share
 * (certificates in reports: certview.h). Only src/cmd/ uses these; library
 * code never prints.
 */
#ifndef HSMCERT_CLI_H
#define HSMCERT_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "hsmcert/error.h"
#include "hsmcert/p11.h"

struct cli {
	const char *command;
	const char *module_path;       /* --module / HSMCERT_MODULE */
	const char *token_uri;	       /* --token / HSMCERT_TOKEN */
	bool token_from_env;	       /* token_uri came from HSMCERT_TOKEN */
	const char *pin_source;	       /* --pin-source */
	const char *so_pin_source;     /* --so-pin-source */
	const char *passphrase_source; /* --passphrase-source */
	bool json;		       /* --json / HSMCERT_JSON */
	/*
	 * --json anywhere on the command line (or HSMCERT_JSON), seen before
	 * getopt reaches it: a usage error found earlier still answers in JSON.
	 */
	bool json_requested;
	int argc; /* the argv getopt is parsing, to name a bad option */
	char **argv;
};

typedef int (*cli_usage_fn)(FILE *out);

struct cli_command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	cli_usage_fn usage;
	const char *summary;
};

/* Long options every command accepts, before or after its name. */
enum {
	CLI_OPT_MODULE = 0x1000,
	CLI_OPT_TOKEN,
	CLI_OPT_PIN_SOURCE,
	CLI_OPT_SO_PIN_SOURCE,
	CLI_OPT_PASSPHRASE_SOURCE,
	CLI_OPT_JSON,
	CLI_OPT_HELP,
	CLI_OPT_PIN_VALUE, /* --pin, --so-pin, --passphrase: refused, see options.c */
	CLI_OPT_FIRST_COMMAND_OPTION = 0x1100, /* commands number their own options from here */
};

#define CLI_GLOBAL_OPTIONS                                                                         \
	{"module", required_argument, NULL, CLI_OPT_MODULE},                                       \
		{"token", required_argument, NULL, CLI_OPT_TOKEN},                                 \
		{"pin-source", required_argument, NULL, CLI_OPT_PIN_SOURCE},                       \
		{"so-pin-source", required_argument, NULL, CLI_OPT_SO_PIN_SOURCE},                 \
		{"passphrase-source", required_argument, NULL, CLI_OPT_PASSPHRASE_SOURCE},         \
		{"json", no_argument, NULL, CLI_OPT_JSON},                                         \
		{"help", no_argument, NULL,                                                        \
		 CLI_OPT_HELP}, /* Named exactly, so getopt does not take them for --pin-source    \
				   abbreviated. */                                                 \
		{"pin", optional_argument, NULL, CLI_OPT_PIN_VALUE},                               \
		{"so-pin", optional_argument, NULL, CLI_OPT_PIN_VALUE},                            \
		{"passphrase", optional_argument, NULL, CLI_OPT_PIN_VALUE},                        \
	{                                                                                          \
		NULL, 0, NULL, 0                                                                   \
	}

/* Short options every command accepts: -h, the same as --help. */
#define CLI_SHORT "h"

/* The usage lines for the global options, shared by every command's --help. */
#define CLI_GLOBAL_USAGE                                                                           \
	"Global options (also before the command name):\n"                                         \
	"  --module PATH            PKCS#11 module (HSMCERT_MODULE; default: p11-kit proxy)\n"     \
	"  --token URI              token as a PKCS#11 URI, e.g. pkcs11:token=web01\n"             \
	"                           (HSMCERT_TOKEN)\n"                                             \
	"  --pin-source SRC         user PIN from env:VAR, file:PATH or fd:N (HSMCERT_PIN)\n"      \
	"  --so-pin-source SRC      SO PIN, same forms (HSMCERT_SO_PIN)\n"                         \
	"  --passphrase-source SRC  passphrase, same forms (HSMCERT_PASSPHRASE)\n"                 \
	"  --json                   one JSON document on stdout (HSMCERT_JSON=1)\n"                \
	"  -h, --help               this text\n"

/*
 * Handle a getopt result that is not the command's own. Returns CLI_NEXT to
 * keep parsing, or the exit status: 0 after --help, 2 for a usage error.
 */
#define CLI_NEXT (-1)
int cli_common_option(struct cli *cli, int opt, const char *arg, cli_usage_fn usage);

/* An option's whole decimal value within [min, max] into *out; false otherwise. */
bool cli_number(const char *arg, long min, long max, long *out);

/* A number of days (0 to 36500) for option `name`: CLI_NEXT, or the usage error's status. */
int cli_days_option(const struct cli *cli, const char *name, const char *arg, long *out);

/*
 * Remember the argv getopt parses next (main's, then the command's) and
 * whether --json or HSMCERT_JSON asks for JSON, wherever --json stands.
 */
void cli_set_arguments(struct cli *cli, int argc, char **argv);

/* Fill unset globals from the environment. */
void cli_apply_environment(struct cli *cli);

#include "messages.h"
#include "advice.h"
#include "json_out.h"
#include "text.h"
#include "prompt.h"
#include "token_open.h"
#include "keyview.h"
#include "keygen_options.h"
/* every command's entry point and usage, so each file is checked against its prototype */
#include "commands.h"

#endif
