/* The key options keygen and request share, and what they report (see keygen_options.h). */
#include "cli.h"

bool cli_keygen_option(struct cli_keygen *k, int c, const char *arg)
{
	switch (c) {
	case CLI_OPT_LABEL: k->params.label = arg; return true;
	case CLI_OPT_ID: k->id_arg = arg; return true;
	case CLI_OPT_TYPE: k->type_arg = arg; return true;
	case CLI_OPT_EXPORTABLE: k->params.exportable = true; return true;
	case CLI_OPT_IF_MISSING: k->params.if_missing = true; return true;
	default: return false;
	}
}

json_t *cli_json_generated(const hc_keygen_result *result)
{
	json_t *key = cli_json_key(&result->key);

	json_object_set_new(key, "public_uri", cli_json_string(result->public_uri));
	return key;
}

void cli_keygen_warnings(const struct cli *cli, const hc_keygen_result *result)
{
	if (result->notes.minimal_template)
		cli_warnf(cli,
			  "the token refused the full key template (%s); generated with a "
			  "smaller one and checked the result",
			  hc_ckr_name(result->notes.full_template_rv));
	if (result->notes.added_count) {
		char names[512] = "";
		for (size_t i = 0; i < result->notes.added_count; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", hc_cka_name(result->notes.added[i]));
		cli_warnf(cli,
			  "the token also set %s on the key pair (it does not keep them "
			  "apart from the usage asked); 'hsmcert audit' reports them",
			  names);
	}
	if (result->notes.extractable_cleared)
		cli_warnf(cli, "the token made the key extractable by default; CKA_EXTRACTABLE "
			       "was set to false (the key will not show never_extractable)");
	if (result->notes.sensitive_set)
		cli_warnf(cli, "the token made the key non-sensitive by default; CKA_SENSITIVE was "
			       "set to true (the key will not show always_sensitive)");
}
