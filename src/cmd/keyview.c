/* Keys in reports: one JSON shape and one text layout (see keyview.h). */
#include "cli.h"

#include <stddef.h>
#include <stdlib.h>

#include "hsmcert/hex.h"

/* Usages (SPEC audit, restore): wrap and encrypt are reported for secret keys only. */
#define USAGE_APPLIES(k, i) (!hc_key_usages[i].secret_only || (k)->cls == CKO_SECRET_KEY)

json_t *cli_json_usages(const hc_key_info *key)
{
	json_t *u = json_object();

	for (size_t i = 0; i < HC_KEY_USAGE_COUNT; i++)
		if (USAGE_APPLIES(key, i))
			json_object_set_new(u, hc_key_usages[i].name,
					    cli_json_tristate(hc_key_usage_value(key, i)));
	return u;
}

const char *cli_usages_text(const hc_key_info *key, char *buf, size_t len)
{
	size_t n = 0, unknown = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < HC_KEY_USAGE_COUNT; i++)
		if (USAGE_APPLIES(key, i) && hc_key_usage_value(key, i) == 1)
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "",
					      hc_key_usages[i].name);
	if (n == 0)
		n += (size_t)snprintf(buf, len, "none");
	for (size_t i = 0; i < HC_KEY_USAGE_COUNT; i++)
		if (USAGE_APPLIES(key, i) && hc_key_usage_value(key, i) < 0)
			n += (size_t)snprintf(
				buf + n, n < len ? len - n : 0, "%s%s",
				unknown++ ? "," : " (unknown: ", hc_key_usages[i].name);
	if (unknown)
		snprintf(buf + n, n < len ? len - n : 0, ")");
	return buf;
}

json_t *cli_json_key(const hc_key_info *key)
{
	char type[32];
	char *id = hc_hex_encode(key->id ? key->id : (const unsigned char *)"", key->id_len);
	json_t *attrs = json_object(), *j;

	hc_keytype_format(&key->type, type, sizeof(type));
	for (size_t i = 0; i < HC_KEY_FLAG_COUNT; i++)
		json_object_set_new(attrs, hc_key_flags[i].name,
				    cli_json_tristate(hc_key_flag_value(key, i)));
	json_object_set_new(attrs, "key_gen_mechanism",
			    key->key_gen_mechanism == CK_UNAVAILABLE_INFORMATION
				    ? json_null()
				    : json_string(hc_ckm_name(key->key_gen_mechanism)));
	j = json_pack("{s:o, s:o, s:o, s:s, s:I, s:o}", "label", cli_json_text(key->label), "id",
		      cli_json_string(id), "uri", cli_json_string(key->uri), "type", type, "bits",
		      (json_int_t)key->type.bits, "attributes", attrs);
	json_object_set_new(j, "usages", cli_json_usages(key));
	free(id);
	return j;
}

void cli_print_key(const hc_key_info *key, int indent)
{
	char type[32], usages[96];
	char *id = hc_hex_encode(key->id ? key->id : (const unsigned char *)"", key->id_len);

	hc_keytype_format(&key->type, type, sizeof(type));
	printf("%*s%-20s%s\n", indent, "", "Label", cli_text(key->label));
	printf("%*s%-20s%s\n", indent, "", "ID", id ? id : "");
	printf("%*s%-20s%s\n", indent, "", "Type", type);
	printf("%*s%-20s%s\n", indent, "", "URI", key->uri);
	for (size_t i = 0; i < HC_KEY_FLAG_COUNT; i++)
		printf("%*s%-20s%s\n", indent, "", hc_key_flags[i].name,
		       cli_yes_no(hc_key_flag_value(key, i)));
	if (key->key_gen_mechanism != CK_UNAVAILABLE_INFORMATION)
		printf("%*s%-20s%s\n", indent, "", "key_gen_mechanism",
		       hc_ckm_name(key->key_gen_mechanism));
	printf("%*s%-20s%s\n", indent, "", "usages", cli_usages_text(key, usages, sizeof(usages)));
	free(id);
}

json_t *cli_json_unreadable(const hc_inventory *inv)
{
	json_t *list = json_array();

	for (size_t i = 0; i < inv->unreadable_count; i++)
		json_array_append_new(list, json_pack("{s:I, s:s}", "handle",
						      (json_int_t)inv->unreadable[i].handle, "ckr",
						      hc_ckr_name(inv->unreadable[i].rv)));
	return list;
}

void cli_print_unreadable(const hc_inventory *inv)
{
	for (size_t i = 0; i < inv->unreadable_count; i++)
		printf("%sObject the token could not describe (it may be a key): handle %lu: %s\n",
		       i ? "" : "\n", (unsigned long)inv->unreadable[i].handle,
		       hc_ckr_name(inv->unreadable[i].rv));
}
