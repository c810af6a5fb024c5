/* The key options keygen and request share (an option block), and their report. */
#ifndef HSMCERT_CMD_KEYGEN_OPTIONS_H
#define HSMCERT_CMD_KEYGEN_OPTIONS_H

#include "cli.h" /* CLI_OPT_FIRST_COMMAND_OPTION */

#include <jansson.h>
#include <stdbool.h>

#include "hsmcert/keygen.h"

struct cli;

/* The key options keygen and request share; a command numbers its own after CLI_OPT_KEYGEN_END. */
enum {
	CLI_OPT_LABEL = CLI_OPT_FIRST_COMMAND_OPTION,
	CLI_OPT_ID,
	CLI_OPT_TYPE,
	CLI_OPT_EXPORTABLE,
	CLI_OPT_IF_MISSING,
	CLI_OPT_KEYGEN_END,
};
#define CLI_KEYGEN_OPTIONS                                                                         \
	{"label", required_argument, NULL, CLI_OPT_LABEL},                                         \
		{"id", required_argument, NULL, CLI_OPT_ID},                                       \
		{"type", required_argument, NULL, CLI_OPT_TYPE},                                   \
		{"exportable", no_argument, NULL, CLI_OPT_EXPORTABLE},                             \
	{                                                                                          \
		"if-missing", no_argument, NULL, CLI_OPT_IF_MISSING                                \
	}

struct cli_keygen {
	hc_keygen_params params;
	const char *type_arg; /* --type as given; NULL when not */
	const char *id_arg;   /* --id as given; NULL when not */
};

/* Take option `c` into `k` when it is one of CLI_KEYGEN_OPTIONS; false otherwise. */
bool cli_keygen_option(struct cli_keygen *k, int c, const char *arg);
/* The generated (or found) key as JSON: cli_json_key + public_uri. */
json_t *cli_json_generated(const hc_keygen_result *result);
/* Warn (stderr) when the token needed a fallback to make the key as asked. */
void cli_keygen_warnings(const struct cli *cli, const hc_keygen_result *result);

#endif
