/* Opening the selected token: module, selection, session, login (see token_open.h). */
#include "cli.h"
#include "tokenview.h"

#include <stdlib.h>
#include <string.h>

hc_rc cli_token_open(const struct cli *cli, const char *object_uri, unsigned flags,
		     struct cli_token *t, hc_error *err)
{
	hc_uri *object = NULL;
	const char *module = cli->module_path;
	hc_secret *pin = NULL;
	hc_rc rc;

	memset(t, 0, sizeof(*t));
	if (object_uri && (rc = hc_uri_parse(object_uri, &object, err)) != HC_OK)
		return rc;
	if (cli->token_uri) {
		if ((rc = hc_uri_parse(cli->token_uri, &t->uri, err)) != HC_OK)
			goto fail;
	} else if (object && hc_uri_names_token(object)) {
		t->uri = object;
		object = NULL;
	}
	/* A module-path= in the URI names the module when --module does not. */
	if (!module && t->uri && hc_uri_module_path(t->uri))
		module = hc_uri_module_path(t->uri);

	if ((rc = hc_module_open(module, flags & CLI_TOKEN_ONE_THREAD ? HC_MODULE_ONE_THREAD : 0,
				 &t->module, err)) != HC_OK)
		goto fail;
	if ((rc = hc_token_select(t->module, t->uri, &t->slot, err)) != HC_OK)
		goto fail;
	/* --token and an object URI that names a token must agree, or we act on the wrong one. */
	if (object && hc_uri_names_token(object) &&
	    !hc_uri_matches_slot(object, t->module, &t->slot)) {
		char label[33];
		HC_P11_STRING(t->slot.token.label, label);
		rc = hc_fail(err, HC_USAGE,
			     "%s names another token than the one selected by %s ('%s')",
			     hc_uri_text(object), cli->token_from_env ? "HSMCERT_TOKEN" : "--token",
			     label);
		goto fail;
	}
	HC_P11_STRING(t->slot.token.label, t->label);
	t->token_uri = hc_uri_for_token(&t->slot.token);
	if ((rc = hc_session_open(t->module, &t->slot, flags & CLI_TOKEN_RW, &t->session, err)))
		goto fail;
	if ((flags & CLI_TOKEN_LOGIN) && (t->slot.token.flags & CKF_LOGIN_REQUIRED)) {
		bool pad = t->slot.token.flags & CKF_PROTECTED_AUTHENTICATION_PATH;
		if (!pad || cli->pin_source || getenv("HSMCERT_PIN")) {
			const hc_uri *pin_uri = t->uri && hc_uri_pin_source(t->uri) ? t->uri
										    : object;
			rc = cli_secret(cli, CLI_USER_PIN, pin_uri, false, &pin, err);
			if (rc != HC_OK)
				goto fail;
		}
		rc = hc_session_login(t->session, CKU_USER, pin, err);
		if (rc == HC_OK && (flags & CLI_TOKEN_KEEP_PIN))
			t->pin = pin;
		else
			hc_secret_free(pin);
		if (rc != HC_OK)
			goto fail;
	}
	hc_uri_free(object);
	return HC_OK;
fail:
	hc_uri_free(object);
	cli_token_close(t);
	return rc;
}

void cli_token_close(struct cli_token *t)
{
	hc_session_close(t->session);
	hc_module_close(t->module);
	hc_uri_free(t->uri);
	free(t->token_uri);
	hc_secret_free(t->pin);
	memset(t, 0, sizeof(*t));
}

json_t *cli_json_token(const struct cli_token *t)
{
	hc_token_identity id;
	json_t *j;

	hc_token_identity_make(&t->slot.token, &id);
	j = cli_json_token_identity(&id);
	json_object_set_new(j, "module", cli_json_text(hc_module_path(t->module)));
	hc_token_identity_clear(&id);
	return j;
}
