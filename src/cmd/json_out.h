/* JSON on stdout: one document per run (docs/json.md). */
#ifndef HSMCERT_CMD_JSON_OUT_H
#define HSMCERT_CMD_JSON_OUT_H

#include <jansson.h>

/* Print a JSON document on stdout and release it. Returns 0, or 4 if stdout failed. */
int cli_json_emit(json_t *doc);

/* JSON helpers: tri-state booleans as true/false/null, strings that may be NULL. */
json_t *cli_json_tristate(int value);
json_t *cli_json_string(const char *s);
/* Text helpers: "yes"/"no"/"unknown". */
const char *cli_yes_no(int value);

#endif
