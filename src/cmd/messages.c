/* Messages to people (stderr) and the error document (--json); see messages.h. */
#include "cli.h"

#include "hsmcert/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit_error_document(const struct cli *cli, hc_rc rc, const char *message,
				const hc_error *err);

/*
 * getopt was told to be quiet (opterr is 0): the message, for stderr and the
 * JSON document, is rebuilt from the argument getopt stopped at.
 */
int cli_option_error(const struct cli *cli)
{
	const char *arg = optind >= 1 && optind <= cli->argc && cli->argv ? cli->argv[optind - 1]
									  : NULL;
	int name_len = arg ? (int)strcspn(arg, "=") : 0; /* "--name" of "--name=value" */
	char message[256];

	if (!arg || arg[0] != '-')
		snprintf(message, sizeof(message), "invalid option");
	else if (arg[1] != '-')
		snprintf(message, sizeof(message), "invalid option '-%c', or its value is missing",
			 optopt > 0 && optopt < 0x80 ? optopt : arg[1]);
	else if (optopt == 0)
		snprintf(message, sizeof(message), "unrecognised or ambiguous option '%.*s'",
			 name_len, arg);
	else if (arg[name_len] == '=')
		snprintf(message, sizeof(message), "option '%.*s' takes no value", name_len, arg);
	else
		snprintf(message, sizeof(message), "option '%s' needs a value", arg);
	/* opterr is 0 (main.c): the message comes here, with the prefix every error has. */
	cli_errorf(cli, "%s", message);
	fprintf(stderr, "Try 'hsmcert %s%s--help'.\n", cli->command ? cli->command : "",
		cli->command ? " " : "");
	if (cli->json || cli->json_requested)
		emit_error_document(cli, HC_USAGE, message, NULL);
	return HC_USAGE;
}

/*
 * Messages carry labels, subjects and paths: through the sanitiser, which
 * keeps line feeds (a profile's violations are one per line) and escapes
 * every other control. Each further line is indented, so text from a token
 * or a file can never start a line of its own that reads like a message.
 */
static void vmessage(const struct cli *cli, const char *kind, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void vmessage(const struct cli *cli, const char *kind, const char *fmt, va_list ap)
{
	char *text = NULL, *safe = NULL;

	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	if (text)
		safe = hc_text_safe(text, strlen(text), HC_TEXT_KEEP_NEWLINES);
	fprintf(stderr, "hsmcert%s%s: %s", cli && cli->command ? " " : "",
		cli && cli->command ? cli->command : "", kind);
	for (const char *p = safe ? safe : fmt; *p; p++) {
		fputc(*p, stderr);
		if (*p == '\n' && strncmp(p + 1, "  ", 2) != 0)
			fputs("  ", stderr);
	}
	fputc('\n', stderr);
	free(safe);
	free(text);
}

void cli_errorf(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, "error: ", fmt, ap);
	va_end(ap);
}

void cli_warnf(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, "warning: ", fmt, ap);
	va_end(ap);
}

void cli_notef(const struct cli *cli, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text) {
		char *safe = hc_text_safe(text, strlen(text), HC_TEXT_KEEP_NEWLINES);
		fprintf(stderr, "%s\n", safe ? safe : "(out of memory)");
		free(safe);
	}
	free(text);
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	char message[sizeof(((hc_error *)0)->message)];
	va_list ap, again;

	va_start(ap, fmt);
	va_copy(again, ap);
	vmessage(cli, "error: ", fmt, ap);
	vsnprintf(message, sizeof(message), fmt, again);
	va_end(again);
	va_end(ap);
	if (cli && cli->command)
		fprintf(stderr, "Try 'hsmcert %s --help'.\n", cli->command);
	else
		fprintf(stderr, "Try 'hsmcert --help'.\n");
	if (cli && (cli->json || cli->json_requested))
		emit_error_document(cli, HC_USAGE, message, NULL);
	return HC_USAGE;
}

int cli_no_arguments(const struct cli *cli, int argc, char **argv)
{
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	return CLI_NEXT;
}

/* {"error": {message, exit_code, command[, function, ckr]}} on stdout (docs/json.md). */
static void emit_error_document(const struct cli *cli, hc_rc rc, const char *message,
				const hc_error *err)
{
	json_t *e = json_pack("{s:o, s:i, s:s}", "message", cli_json_text(message), "exit_code",
			      (int)rc, "command", cli && cli->command ? cli->command : "");

	if (e && err && err->has_ckr) {
		json_object_set_new(e, "function", json_string(err->function));
		json_object_set_new(e, "ckr", json_string(hc_ckr_name(err->ckr)));
	}
	cli_json_emit(json_pack("{s:o}", "error", e ? e : json_null()));
}

int cli_fail(const struct cli *cli, const hc_error *err)
{
	hc_rc rc = err->rc ? err->rc : HC_TOKEN;
	char text[CLI_ERROR_TEXT_SIZE];

	cli_error_text(err, text, sizeof(text));
	cli_errorf(cli, "%s", text);
	/*
	 * The pre-scan only guesses (in 'keygen --label --json' the word is a
	 * label): past parsing, only a usage error trusts it.
	 */
	if (cli->json || (cli->json_requested && rc == HC_USAGE))
		emit_error_document(cli, rc, text, err);
	return (int)rc;
}
