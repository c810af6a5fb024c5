/* Token and file text on the terminal and in JSON, through the one sanitiser (hsmcert/text.h). */
#include "text.h"

#include "hsmcert/text.h"

#include <stdlib.h>
#include <string.h>

/* Results stay valid for this many later calls: enough for one printf's arguments. */
#define CLI_TEXT_SLOTS 16

const char *cli_text(const char *s)
{
	static char *slots[CLI_TEXT_SLOTS];
	static unsigned next;
	char *safe;

	if (!s)
		return "";
	safe = hc_text_safe(s, strlen(s), 0);
	if (!safe)
		return "(out of memory)";
	free(slots[next]);
	slots[next] = safe;
	next = (next + 1) % CLI_TEXT_SLOTS;
	return safe;
}

json_t *cli_json_text(const char *s)
{
	char *safe;
	json_t *j;

	if (!s)
		return json_null();
	safe = hc_text_safe(s, strlen(s), HC_TEXT_KEEP_CONTROLS);
	j = safe ? json_string(safe) : NULL;
	free(safe);
	return j ? j : json_null();
}
