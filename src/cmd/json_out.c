/* JSON documents on stdout and the tri-state helpers (see json_out.h). */
#include "json_out.h"

#include <stdio.h>

#include "hsmcert/error.h"

int cli_json_emit(json_t *doc)
{
	int rc = 0;

	if (!doc)
		return HC_IO;
	if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		rc = HC_IO;
	json_decref(doc);
	return rc;
}

json_t *cli_json_tristate(int value)
{
	return value < 0 ? json_null() : json_boolean(value);
}

json_t *cli_json_string(const char *s)
{
	return s ? json_string(s) : json_null();
}

const char *cli_yes_no(int value)
{
	return value < 0 ? "unknown" : value ? "yes" : "no";
}
