/* Keys in reports: one JSON shape and one text layout from the same hc_key_info. */
#ifndef HSMCERT_CMD_KEYVIEW_H
#define HSMCERT_CMD_KEYVIEW_H

#include <jansson.h>

#include "hsmcert/inventory.h"
#include "hsmcert/key.h"

/* {label, id, uri, type, bits, attributes:{sensitive, extractable, ...}} */
json_t *cli_json_key(const hc_key_info *key);
/*
 * The key's usages {sign, decrypt, unwrap, derive[, wrap, encrypt]} as
 * tri-states (wrap and encrypt for secret keys only), and as text: the
 * allowed ones ("sign", "none"), then "(unknown: ...)" for those not reported.
 */
json_t *cli_json_usages(const hc_key_info *key);
const char *cli_usages_text(const hc_key_info *key, char *buf, size_t len);
/* The same as aligned text lines, each indented by `indent` spaces. */
void cli_print_key(const hc_key_info *key, int indent);

/* [{handle, ckr}]: the objects the token would not describe (they may be keys). */
json_t *cli_json_unreadable(const hc_inventory *inv);
/* The same as text lines after a blank line; nothing when there are none. */
void cli_print_unreadable(const hc_inventory *inv);
#endif
