/* Tokens in reports: see tokenview.h. */
#include "tokenview.h"

#include "cli.h"

#include <stdio.h>

json_t *cli_json_token_identity(const hc_token_identity *id)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "label", cli_json_text(id->label), "serial",
			 cli_json_text(id->serial), "manufacturer", cli_json_text(id->manufacturer),
			 "model", cli_json_text(id->model), "uri", cli_json_string(id->uri));
}

json_t *cli_json_version(CK_VERSION v)
{
	char s[16];

	snprintf(s, sizeof(s), "%u.%u", v.major, v.minor);
	return json_string(s);
}
