/* Keys in reports: one JSON shape and one text layout (see keyview.h). */
#include "cli.h"

#include <stddef.h>
#include <stdlib.h>

#include "hsmcert/hex.h"

static const struct {
	const char *name;
	size_t offset;
} key_flags[] = {
	{"token", offsetof(hc_key_info, token)},
	{"private", offsetof(hc_key_info, private_)},
	{"sensitive", offsetof(hc_key_info, sensitive)},
	{"extractable", offsetof(hc_key_info, extractable)},
	{"always_sensitive", offsetof(hc_key_info, always_sensitive)},
	{"never_extractable", offsetof(hc_key_info, never_extractable)},
	{"local", offsetof(hc_key_info, local)},
	{"modifiable", offsetof(hc_key_info, modifiable)},
	{"copyable", offsetof(hc_key_info, copyable)},
	{"destroyable", offsetof(hc_key_info, destroyable)},
	{"wrap_with_trusted", offsetof(hc_key_info, wrap_with_trusted)},
	{"always_authenticate", offsetof(hc_key_info, always_authenticate)},
};
#define KEY_FLAG(k, i) (*(const int *)((const char *)(k) + key_flags[i].offset))

json_t *cli_json_key(const hc_key_info *key)
{
	char type[32];
	char *id = hc_hex_encode(key->id ? key->id : (const unsigned char *)"", key->id_len);
	json_t *attrs = json_object(), *j;

	hc_keytype_format(&key->type, type, sizeof(type));
	for (size_t i = 0; i < sizeof(key_flags) / sizeof(key_flags[0]); i++)
		json_object_set_new(attrs, key_flags[i].name, cli_json_tristate(KEY_FLAG(key, i)));
	json_object_set_new(attrs, "key_gen_mechanism",
			    key->key_gen_mechanism == CK_UNAVAILABLE_INFORMATION
				    ? json_null()
				    : json_string(hc_ckm_name(key->key_gen_mechanism)));
	j = json_pack("{s:s, s:o, s:o, s:s, s:I, s:o}", "label", key->label, "id",
		      cli_json_string(id), "uri", cli_json_string(key->uri), "type", type, "bits",
		      (json_int_t)key->type.bits, "attributes", attrs);
	free(id);
	return j;
}

void cli_print_key(const hc_key_info *key, int indent)
{
	char type[32];
	char *id = hc_hex_encode(key->id ? key->id : (const unsigned char *)"", key->id_len);

	hc_keytype_format(&key->type, type, sizeof(type));
	printf("%*s%-20s%s\n", indent, "", "Label", key->label);
	printf("%*s%-20s%s\n", indent, "", "ID", id ? id : "");
	printf("%*s%-20s%s\n", indent, "", "Type", type);
	printf("%*s%-20s%s\n", indent, "", "URI", key->uri);
	for (size_t i = 0; i < sizeof(key_flags) / sizeof(key_flags[0]); i++)
		printf("%*s%-20s%s\n", indent, "", key_flags[i].name,
		       cli_yes_no(KEY_FLAG(key, i)));
	if (key->key_gen_mechanism != CK_UNAVAILABLE_INFORMATION)
		printf("%*s%-20s%s\n", indent, "", "key_gen_mechanism",
		       hc_ckm_name(key->key_gen_mechanism));
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
