/*
 * Text from a token or a file (labels, subjects, SANs, paths) on the
 * terminal and in JSON, through the library's one sanitiser (hsmcert/text.h).
 */
#ifndef HSMCERT_CMD_TEXT_H
#define HSMCERT_CMD_TEXT_H

#include <jansson.h>

/*
 * For the terminal: control characters and bytes that are not UTF-8
 * escaped. The result stays valid for 15 more calls, enough for one printf;
 * NULL gives "". Messages (cli_errorf, ...) use it.
 */
const char *cli_text(const char *s);
/* The same text as a JSON string: valid UTF-8 whatever the bytes; NULL gives null. */
json_t *cli_json_text(const char *s);

#endif
