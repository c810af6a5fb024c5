/* Secrets from their sources or a no-echo prompt, and confirmation questions. */
#ifndef HSMCERT_CMD_PROMPT_H
#define HSMCERT_CMD_PROMPT_H

#include <stdbool.h>

#include "hsmcert/error.h"
#include "hsmcert/p11.h"
#include "hsmcert/x509.h"

struct cli;

/*
 * Ask a yes/no question on the terminal (default no). Without a terminal it
 * is HC_USAGE naming `yes_option`, the flag scripts use instead: nothing
 * destructive ever runs unconfirmed.
 */
hc_rc cli_confirm(const struct cli *cli, const char *question, const char *yes_option, bool *yes,
		  hc_error *err);

enum cli_secret_kind { CLI_USER_PIN, CLI_SO_PIN, CLI_PASSPHRASE };

/*
 * Resolve a secret as the SPEC orders it: the option, the URI's pin-source
 * (user PIN only), the environment variable, a no-echo prompt on a terminal,
 * else an error. `confirm` asks twice on a terminal (new PINs, passphrases).
 */
hc_rc cli_secret(const struct cli *cli, enum cli_secret_kind kind, const hc_uri *uri, bool confirm,
		 hc_secret **out, hc_error *err);

/* Whether the user gave the secret (option or environment), not counting a prompt. */
bool cli_secret_given(const struct cli *cli, enum cli_secret_kind kind);

/* ---- passphrases for PKCS#12 inputs ----------------------------------- */

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
