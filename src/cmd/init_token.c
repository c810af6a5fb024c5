/* SPEC: init-token. */
#include "cli.h"

#include "hsmcert/token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_SLOT = CLI_OPT_FIRST_COMMAND_OPTION, OPT_FREE, OPT_LABEL, OPT_FORCE };

int usage_init_token(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert init-token (--slot N | --free | --token URI) --label LABEL\n"
		"                          [--force] [--so-pin-source SRC] [--pin-source SRC]\n\n"
		"Initialise a token and set its user PIN. A token that holds objects is\n"
		"not re-initialised unless --force.\n\n"
		"  --slot N                 the slot ID as 'hsmcert tokens' prints it\n"
		"  --free                   the first slot whose token is not initialised (or\n"
		"                           the token of LABEL that an interrupted run left\n"
		"                           without a user PIN; a complete one is refused)\n"
		"  --token URI              the token a PKCS#11 URI names\n"
		"  --label LABEL            the new token label (1-32 bytes)\n"
		"  --force                  erase a token that holds objects\n\n"
		"The SO PIN comes from --so-pin-source or HSMCERT_SO_PIN, the new user PIN\n"
		"from --pin-source or HSMCERT_PIN; on a terminal both are asked twice.\n"
		"Both PINs' lengths are checked against the token's limits before anything\n"
		"is changed. Objects a token keeps through C_InitToken (NSS softoken:\n"
		"certificates, public keys) are destroyed after it. Should setting the\n"
		"user PIN fail after the token was erased, the error says so and gives\n"
		"the command that finishes the job.\n\n"
		"Exit status: 0 initialised; 1 the token holds objects (no --force), or\n"
		"--free and a token of that label is already initialised;\n"
		"2 usage, or a PIN of the wrong length; 3 token error.\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

/*
 * --free and a token that already has the label. One without a user PIN was
 * left by an init-token stopped after C_InitToken (killed, or the user PIN
 * failed): the same command finishes it, as an uninterrupted run would have
 * (issue 14.5; hc_token_init refuses it if it holds objects). One with a user
 * PIN is done: a second token of the same label would make its URI ambiguous.
 */
static hc_rc pick_same_label(hc_module *mod, const char *label, hc_slot *out, bool *found,
			     hc_error *err)
{
	hc_token_query q = {.state = HC_TOKEN_INITIALISED};
	hc_slot *slots = NULL;
	size_t n = 0;
	hc_rc rc = hc_token_find(mod, &q, &slots, &n, err);

	*found = false;
	for (size_t i = 0; rc == HC_OK && i < n && !*found; i++) {
		char have[33];
		HC_P11_STRING(slots[i].token.label, have);
		if (strcmp(have, label) != 0)
			continue;
		if (slots[i].token.flags & CKF_USER_PIN_INITIALIZED) {
			char *uri = hc_uri_for_token(&slots[i].token);
			rc = hc_fail(err, HC_CHECK,
				     "token '%s' is already initialised (%s): nothing changed; "
				     "--free initialises a new token, so choose another label, "
				     "or re-initialise that one with --token URI --force",
				     label, uri ? uri : "its URI unknown");
			free(uri);
			break;
		}
		*out = slots[i];
		*found = true;
	}
	free(slots);
	return rc;
}

/* --slot N | --free | --token URI: the token init-token may set up. */
static hc_rc pick_slot(hc_module *mod, const char *slot_arg, bool free_slot, const char *label,
		       const hc_uri *uri, hc_slot *out, hc_error *err)
{
	hc_token_query q = {.uri = uri, .state = HC_TOKEN_PRESENT};
	bool found;
	hc_rc rc;

	if (slot_arg) {
		char *end;
		errno = 0;
		q.slot_id = strtoul(slot_arg, &end, 0);
		if (!*slot_arg || *end || errno)
			return hc_fail(err, HC_USAGE, "--slot '%s' is not a slot number", slot_arg);
		q.by_slot_id = true;
		q.uri = NULL;
	} else if (free_slot) {
		if ((rc = pick_same_label(mod, label, out, &found, err)) != HC_OK || found)
			return rc;
		q.state = HC_TOKEN_UNINITIALISED;
		q.uri = NULL;
	}
	/* --free takes the first; a slot or URI must name exactly one token it may erase. */
	rc = hc_token_pick(mod, &q, free_slot, out, err);
	if (rc != HC_OK && slot_arg)
		hc_error_prefix(err, "--slot %s", slot_arg);
	return rc;
}

/* `text` single-quoted for a POSIX shell when it needs quoting. */
static void shell_word(char *out, size_t len, const char *text)
{
	size_t n = 0;

	if (text[strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			      "-_./:=@%+,")] == '\0' &&
	    *text) {
		snprintf(out, len, "%s", text);
		return;
	}
	n += (size_t)snprintf(out, len, "'");
	for (; *text && n + 5 < len; text++)
		n += (size_t)snprintf(out + n, len - n, *text == '\'' ? "'\\''" : "%c", *text);
	snprintf(out + n, len - n, "'");
}

/*
 * SPEC init-token: C_InitToken succeeded and a later step did not. The token
 * is erased and has no user PIN; say so, and give the command that finishes
 * it (init-token again: a token with no user PIN and no objects is
 * re-initialised without --force).
 */
static void advise_finish(const struct cli *cli, const hc_slot *slot, hc_error *err)
{
	char label[33], uri_word[600], label_word[140], module_word[600] = "", src[600] = "";
	char *uri = hc_uri_for_token(&slot->token);
	size_t n;

	HC_P11_STRING(slot->token.label, label);
	shell_word(uri_word, sizeof(uri_word), uri ? uri : "pkcs11:");
	shell_word(label_word, sizeof(label_word), label);
	if (cli->module_path) {
		char w[560];
		shell_word(w, sizeof(w), cli->module_path);
		snprintf(module_word, sizeof(module_word), " --module %s", w);
	}
	if (cli->so_pin_source) {
		char w[560];
		shell_word(w, sizeof(w), cli->so_pin_source);
		n = strlen(src);
		snprintf(src + n, sizeof(src) - n, " --so-pin-source %s", w);
	}
	if (cli->pin_source) {
		char w[560];
		shell_word(w, sizeof(w), cli->pin_source);
		n = strlen(src);
		snprintf(src + n, sizeof(src) - n, " --pin-source %s", w);
	}
	n = strlen(err->message);
	snprintf(err->message + n, sizeof(err->message) - n,
		 "\nthe token was already erased and initialised as '%s', but it has no user PIN; "
		 "finish with:\n  hsmcert init-token%s --token %s --label %s%s",
		 label, module_word, uri_word, label_word, src);
	free(uri);
}

int cmd_init_token(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"slot", required_argument, NULL, OPT_SLOT},
						{"free", no_argument, NULL, OPT_FREE},
						{"label", required_argument, NULL, OPT_LABEL},
						{"force", no_argument, NULL, OPT_FORCE},
						CLI_GLOBAL_OPTIONS};
	const char *slot_arg = NULL, *label = NULL;
	bool free_slot = false, force = false;
	hc_module *mod = NULL;
	hc_uri *uri = NULL;
	hc_secret *so_pin = NULL, *user_pin = NULL;
	hc_token_init_result result;
	hc_slot slot;
	hc_error err = {0};
	char *token_uri = NULL, serial[17], new_label[33];
	int c, r, selectors;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		switch (c) {
		case OPT_SLOT: slot_arg = optarg; break;
		case OPT_FREE: free_slot = true; break;
		case OPT_LABEL: label = optarg; break;
		case OPT_FORCE: force = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_init_token)) != CLI_NEXT)
				return r;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	/* An explicit --slot or --free wins over HSMCERT_TOKEN from the environment. */
	if ((slot_arg || free_slot) && cli->token_from_env)
		cli->token_uri = NULL;
	selectors = (slot_arg != NULL) + free_slot + (cli->token_uri != NULL);
	if (selectors != 1)
		return cli_usage_error(cli, "name the token with exactly one of --slot N, --free "
					    "or --token URI");
	if (!label)
		return cli_usage_error(cli, "--label is required");
	if (strlen(label) > 32 || !*label)
		return cli_usage_error(cli, "--label '%s' must be 1 to 32 bytes", label);

	if (cli->token_uri && hc_uri_parse(cli->token_uri, &uri, &err) != HC_OK)
		goto fail;
	if (hc_module_open(cli->module_path, 0, &mod, &err) != HC_OK)
		goto fail;
	if (pick_slot(mod, slot_arg, free_slot, label, uri, &slot, &err) != HC_OK)
		goto fail;
	/* A token with no SO PIN (NSS softoken) is not asked one it would throw away. */
	if ((hc_token_has_so_pin(&slot) &&
	     cli_secret(cli, CLI_SO_PIN, NULL, true, &so_pin, &err) != HC_OK) ||
	    cli_secret(cli, CLI_USER_PIN, NULL, true, &user_pin, &err) != HC_OK)
		goto fail;

	{
		hc_token_init_params p = {label, so_pin, user_pin, force};
		if (hc_token_init(mod, &slot, &p, &result, &err) != HC_OK) {
			if (result.half_initialised)
				advise_finish(cli, &result.slot, &err);
			goto fail;
		}
	}
	token_uri = hc_uri_for_token(&result.slot.token);
	HC_P11_STRING(result.slot.token.serialNumber, serial);
	HC_P11_STRING(result.slot.token.label, new_label);
	if (result.so_pin_unused && cli_secret_given(cli, CLI_SO_PIN))
		cli_notef(cli, "this token has no SO PIN (NSS softoken): the SO PIN given was not "
			       "used");
	if (result.label_kept)
		cli_warnf(cli,
			  "the token kept its label '%s' instead of '%s': it takes no label at "
			  "initialisation (NSS softoken: tokenDescription in its configuration)",
			  new_label, label);
	if (result.leftovers_destroyed > 0)
		cli_notef(cli,
			  "C_InitToken left %ld public object%s (certificates, public keys) on "
			  "the token; hsmcert destroyed %s",
			  result.leftovers_destroyed, result.leftovers_destroyed == 1 ? "" : "s",
			  result.leftovers_destroyed == 1 ? "it" : "them");
	if (cli->json) {
		json_t *doc = json_pack(
			"{s:{s:s, s:s, s:o, s:I}, s:b, s:o, s:I, s:b}", "token", "label", new_label,
			"serial", serial, "uri", cli_json_string(token_uri), "slot",
			(json_int_t)result.slot.id, "reinitialised", result.reinitialised,
			"objects_destroyed",
			result.reinitialised && result.objects_destroyed >= 0
				? json_integer(result.objects_destroyed)
				: json_null(),
			"leftovers_destroyed", (json_int_t)result.leftovers_destroyed,
			"so_pin_used", !result.so_pin_unused);
		r = cli_json_emit(doc);
	} else {
		printf("Initialised token '%s'%s\n", new_label,
		       result.reinitialised ? " (re-initialised: its previous contents are gone)"
					    : "");
		printf("  %-10s%s\n", "Serial", serial);
		printf("  %-10s%s\n", "URI", token_uri ? token_uri : "");
		printf("  %-10s%s\n", "User PIN", "set");
		r = 0;
	}
	free(token_uri);
	hc_secret_free(so_pin);
	hc_secret_free(user_pin);
	hc_module_close(mod);
	hc_uri_free(uri);
	return r;
fail:
	hc_secret_free(so_pin);
	hc_secret_free(user_pin);
	hc_module_close(mod);
	hc_uri_free(uri);
	return cli_fail(cli, &err);
}
