/*
 * Tokens in reports (tokens, keygen, csr, audit, ...): one JSON shape for a
 * token's identity, from the same hc_token_identity everywhere.
 */
#ifndef HSMCERT_CMD_TOKENVIEW_H
#define HSMCERT_CMD_TOKENVIEW_H

#include <jansson.h>

#include "hsmcert/token.h"

/* {label, serial, manufacturer, model, uri} */
json_t *cli_json_token_identity(const hc_token_identity *id);
/* "2.40" */
json_t *cli_json_version(CK_VERSION v);

#endif
