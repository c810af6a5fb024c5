/*
 * Messages to people, on stderr, prefixed "hsmcert COMMAND:"; the CLI's only
 * way to talk there. With --json a failure also answers with the error
 * document on stdout (docs/json.md).
 */
#ifndef HSMCERT_CMD_MESSAGES_H
#define HSMCERT_CMD_MESSAGES_H

#include "hsmcert/error.h"

struct cli;

/* Messages on stderr, prefixed "hsmcert COMMAND:". */
void cli_errorf(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warnf(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_notef(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A usage error: message, a pointer to --help, exit status 2; with --json
 * (anywhere on the command line) also the error document on stdout.
 */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Extra positional arguments are a usage error. */
int cli_no_arguments(const struct cli *cli, int argc, char **argv);

/* Print a failure once (text on stderr; with --json also a document on stdout). */
int cli_fail(const struct cli *cli, const hc_error *err);

/*
 * getopt rejected an option (quietly: opterr is 0): say why with the error
 * prefix, point at --help, and with --json answer with the error document.
 * Returns 2.
 */
int cli_option_error(const struct cli *cli);

#endif
