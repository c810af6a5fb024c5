/*
 * The CLI's shared parts: global options, messages, JSON output, opening a
 * token with the PIN resolved as the SPEC says. Only src/main.c and
 * src/cmd/ use this; library code never prints.
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
	int argc;    /* the argv getopt is parsing, to name a bad option */
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
	CLI_OPT_FIRST_COMMAND_OPTION = 0x1100, /* commands number their own options from here */
};

#define CLI_GLOBAL_OPTIONS                                                                       \
	{"module", required_argument, NULL, CLI_OPT_MODULE},                                     \
		{"token", required_argument, NULL, CLI_OPT_TOKEN},                               \
		{"pin-source", required_argument, NULL, CLI_OPT_PIN_SOURCE},                     \
		{"so-pin-source", required_argument, NULL, CLI_OPT_SO_PIN_SOURCE},               \
		{"passphrase-source", required_argument, NULL, CLI_OPT_PASSPHRASE_SOURCE},       \
		{"json", no_argument, NULL, CLI_OPT_JSON},                                       \
		{"help", no_argument, NULL, CLI_OPT_HELP}, {NULL, 0, NULL, 0}

/* The usage lines for the global options, shared by every command's --help. */
#define CLI_GLOBAL_USAGE                                                                         \
	"Global options (also before the command name):\n"                                       \
	"  --module PATH            PKCS#11 module (HSMCERT_MODULE; default: p11-kit proxy)\n"   \
	"  --token URI              token as a PKCS#11 URI, e.g. pkcs11:token=web01\n"           \
	"                           (HSMCERT_TOKEN)\n"                                           \
	"  --pin-source SRC         user PIN from env:VAR, file:PATH or fd:N (HSMCERT_PIN)\n"    \
	"  --so-pin-source SRC      SO PIN, same forms (HSMCERT_SO_PIN)\n"                       \
	"  --passphrase-source SRC  passphrase, same forms (HSMCERT_PASSPHRASE)\n"               \
	"  --json                   one JSON document on stdout (HSMCERT_JSON=1)\n"             \
	"  --help                   this text\n"

/*
 * Handle a getopt result that is not the command's own. Returns CLI_NEXT to
 * keep parsing, or the exit status: 0 after --help, 2 for a usage error.
 */
#define CLI_NEXT (-1)
int cli_common_option(struct cli *cli, int opt, const char *arg, cli_usage_fn usage);

/*
 * Remember the argv getopt parses next (main's, then the command's) and
 * whether --json or HSMCERT_JSON asks for JSON, wherever --json stands.
 */
void cli_set_arguments(struct cli *cli, int argc, char **argv);

/* Fill unset globals from the environment. */
void cli_apply_environment(struct cli *cli);

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

/* Print a JSON document on stdout and release it. Returns 0, or 4 if stdout failed. */
int cli_json_emit(json_t *doc);

/* JSON helpers: tri-state booleans as true/false/null, strings that may be NULL. */
json_t *cli_json_tristate(int value);
json_t *cli_json_string(const char *s);
/*
 * A token's text (labels, subjects) as it is safe to print on a terminal:
 * control characters become '?', so a label cannot rewrite the report.
 */
const char *cli_printable(const char *text, char *buf, size_t len);

/* Text helpers: "yes"/"no"/"unknown". */
const char *cli_yes_no(int value);

/*
 * Ask a yes/no question on the terminal (default no). Without a terminal it
 * is HC_USAGE naming `yes_option`, the flag scripts use instead: nothing
 * destructive ever runs unconfirmed.
 */
hc_rc cli_confirm(const struct cli *cli, const char *question, const char *yes_option,
		  bool *yes, hc_error *err);

/* ---- tokens ---------------------------------------------------------- */

enum cli_secret_kind { CLI_USER_PIN, CLI_SO_PIN, CLI_PASSPHRASE };

/*
 * Resolve a secret as the SPEC orders it: the option, the URI's pin-source
 * (user PIN only), the environment variable, a no-echo prompt on a terminal,
 * else an error. `confirm` asks twice on a terminal (new PINs, passphrases).
 */
hc_rc cli_secret(const struct cli *cli, enum cli_secret_kind kind, const hc_uri *uri,
		 bool confirm, hc_secret **out, hc_error *err);

struct cli_token {
	hc_module *module;
	hc_uri *uri; /* the URI that selected the token, if any */
	hc_slot slot;
	hc_session *session;
	char *token_uri; /* the token's own URI, for reports */
	char label[33];
	hc_secret *pin; /* with CLI_TOKEN_KEEP_PIN: the PIN used, for a second login */
};

enum {
	CLI_TOKEN_RW = 1 << 0,
	CLI_TOKEN_LOGIN = 1 << 1, /* log in as user when the token requires login */
	/* keep the PIN in t->pin (check --tls logs in again through libp11) */
	CLI_TOKEN_KEEP_PIN = 1 << 2,
	/* the command calls the module from one thread and loads no other user of it */
	CLI_TOKEN_ONE_THREAD = 1 << 3,
};

/*
 * Load the module, select the token (--token, else the token part of
 * `object_uri`, else the only initialised token), open a session and log in.
 */
hc_rc cli_token_open(const struct cli *cli, const char *object_uri, unsigned flags,
		     struct cli_token *t, hc_error *err);
void cli_token_close(struct cli_token *t);
/* Token identity for JSON reports: label, serial, manufacturer, model, uri. */
json_t *cli_json_token(const struct cli_token *t);



/* ---- keys ------------------------------------------------------------ */
#include "hsmcert/key.h"

/* {label, id, uri, type, bits, attributes:{sensitive, extractable, ...}} */
json_t *cli_json_key(const hc_key_info *key);
/* The same as aligned text lines, each indented by `indent` spaces. */
void cli_print_key(const hc_key_info *key, int indent);

/* ---- generating keys (keygen, request) ------------------------------------ */
#include "hsmcert/keygen.h"

/* The key options keygen and request share; a command numbers its own after CLI_OPT_KEYGEN_END. */
enum {
	CLI_OPT_LABEL = CLI_OPT_FIRST_COMMAND_OPTION,
	CLI_OPT_ID,
	CLI_OPT_TYPE,
	CLI_OPT_EXPORTABLE,
	CLI_OPT_IF_MISSING,
	CLI_OPT_KEYGEN_END,
};
#define CLI_KEYGEN_OPTIONS                                                                       \
	{"label", required_argument, NULL, CLI_OPT_LABEL},                                       \
		{"id", required_argument, NULL, CLI_OPT_ID},                                     \
		{"type", required_argument, NULL, CLI_OPT_TYPE},                                 \
		{"exportable", no_argument, NULL, CLI_OPT_EXPORTABLE},                           \
		{"if-missing", no_argument, NULL, CLI_OPT_IF_MISSING}

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

/* ---- inventories ------------------------------------------------------- */
#include "hsmcert/inventory.h"

/* [{handle, ckr}]: the objects the token would not describe (they may be keys). */
json_t *cli_json_unreadable(const hc_inventory *inv);
/* The same as text lines after a blank line; nothing when there are none. */
void cli_print_unreadable(const hc_inventory *inv);

/* ---- passphrases for PKCS#12 inputs ----------------------------------- */
#include "hsmcert/passphrase.h"

/*
 * A passphrase resolved with cli_secret (--passphrase-source,
 * HSMCERT_PASSPHRASE, a no-echo prompt, else an error) the first time a
 * PKCS#12 input asks for it, then kept for the command's other inputs.
 */
struct cli_passphrase {
	const struct cli *cli;
	hc_secret *secret;
	hc_passphrase_ask ask; /* hand &ask to the loaders */
};

void cli_passphrase_init(struct cli_passphrase *p, const struct cli *cli);
void cli_passphrase_clear(struct cli_passphrase *p);

#endif
