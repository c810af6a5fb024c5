/* JSON documents on stdout and the tri-state helpers (see json_out.h). */
#include "json_out.h"
#include "text.h"

#include <stdio.h>

#include "hsmcert/error.h"

int cli_json_emit(json_t *doc)
{
	int rc = 0;

	/* A document that could not be made is still answered with one valid document. */
	if (!doc) {
		fprintf(stderr, "hsmcert: error: the JSON result could not be made (out of "
				"memory, or text that jansson refused)\n");
		doc = json_pack("{s:{s:s, s:i}}", "error", "message",
				"the JSON result could not be made", "exit_code", HC_IO);
		if (doc)
			json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		fputc('\n', stdout);
		json_decref(doc);
		return HC_IO;
	}
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
	return cli_json_text(s);
}

const char *cli_yes_no(int value)
{
	return value < 0 ? "unknown" : value ? "yes" : "no";
}
