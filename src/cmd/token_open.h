/* Opening the token the user selected, with the PIN resolved as the SPEC says. */
#ifndef HSMCERT_CMD_TOKEN_OPEN_H
#define HSMCERT_CMD_TOKEN_OPEN_H

#include <jansson.h>

#include "hsmcert/error.h"
#include "hsmcert/p11.h"

struct cli;

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

#endif
