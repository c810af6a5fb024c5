/* SPEC: tokens — modules, slots and tokens, with --mechanisms. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_MECHANISMS = CLI_OPT_FIRST_COMMAND_OPTION };

int usage_tokens(FILE *out)
{
	fprintf(out, "Usage: hsmcert tokens [--mechanisms] [--module PATH] [--token URI] [--json]\n\n"
		     "List the module's slots and tokens: label, manufacturer, model, serial,\n"
		     "hardware or software slot, initialised, login required, PIN state,\n"
		     "memory where known, and each token's PKCS#11 URI. Through p11-kit's\n"
		     "proxy (no module named) it also names the registered modules.\n\n"
		     "  --mechanisms             add key generation, signing and wrapping\n"
		     "                           mechanisms with their key sizes\n"
		     "  --token URI              only the tokens the URI matches\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

static const char *pin_state(CK_FLAGS f, CK_USER_TYPE user)
{
	const char *s;

	if (!(f & CKF_TOKEN_INITIALIZED))
		return "not set";
	s = hc_pin_flags_text(f, user);
	if (s)
		return s;
	if (user == CKU_USER && !(f & CKF_USER_PIN_INITIALIZED))
		return "not set";
	if (user == CKU_USER && (f & CKF_USER_PIN_TO_BE_CHANGED))
		return "must be changed";
	return "ok";
}

static json_t *version_json(CK_VERSION v)
{
	char s[16];
	snprintf(s, sizeof(s), "%u.%u", v.major, v.minor);
	return json_string(s);
}

/* Memory is reported only when the token knows it. */
static json_t *memory_json(CK_ULONG free_mem, CK_ULONG total)
{
	if (total == CK_UNAVAILABLE_INFORMATION || total == CK_EFFECTIVELY_INFINITE ||
	    free_mem == CK_UNAVAILABLE_INFORMATION)
		return json_null();
	return json_pack("{s:I, s:I}", "free", (json_int_t)free_mem, "total", (json_int_t)total);
}

static json_t *mechanisms_json(hc_module *mod, CK_SLOT_ID slot, hc_error *err)
{
	static const struct {
		const char *name;
		CK_FLAGS flags;
	} groups[] = {
		{"key_generation", CKF_GENERATE_KEY_PAIR | CKF_GENERATE},
		{"signing", CKF_SIGN},
		{"wrapping", CKF_WRAP | CKF_UNWRAP},
	};
	hc_mechanism *mechs = NULL;
	size_t n = 0;
	json_t *out;

	if (hc_slot_mechanisms(mod, slot, &mechs, &n, err) != HC_OK)
		return NULL;
	out = json_object();
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		json_t *list = json_array();
		for (size_t i = 0; i < n; i++) {
			if (!(mechs[i].info.flags & groups[g].flags))
				continue;
			json_array_append_new(
				list, json_pack("{s:s, s:I, s:I}", "name", hc_ckm_name(mechs[i].type),
						"min_key_size", (json_int_t)mechs[i].info.ulMinKeySize,
						"max_key_size",
						(json_int_t)mechs[i].info.ulMaxKeySize));
		}
		json_object_set_new(out, groups[g].name, list);
	}
	free(mechs);
	return out;
}

static json_t *token_json(const hc_slot *s)
{
	const CK_TOKEN_INFO *t = &s->token;
	char label[33], manufacturer[33], model[17], serial[17];
	char *uri = hc_uri_for_token(t);
	json_t *j;

	HC_P11_STRING(t->label, label);
	HC_P11_STRING(t->manufacturerID, manufacturer);
	HC_P11_STRING(t->model, model);
	HC_P11_STRING(t->serialNumber, serial);
	j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:b, s:b, s:s, s:s, s:o, s:o, s:o, "
		      "s:o}",
		      "label", label, "manufacturer", manufacturer, "model", model, "serial",
		      serial, "uri", cli_json_string(uri), "initialized",
		      (t->flags & CKF_TOKEN_INITIALIZED) != 0, "login_required",
		      (t->flags & CKF_LOGIN_REQUIRED) != 0, "user_pin_initialized",
		      (t->flags & CKF_USER_PIN_INITIALIZED) != 0, "protected_authentication_path",
		      (t->flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0, "write_protected",
		      (t->flags & CKF_WRITE_PROTECTED) != 0, "user_pin",
		      pin_state(t->flags, CKU_USER), "so_pin", pin_state(t->flags, CKU_SO),
		      "public_memory", memory_json(t->ulFreePublicMemory, t->ulTotalPublicMemory),
		      "private_memory", memory_json(t->ulFreePrivateMemory, t->ulTotalPrivateMemory),
		      "hardware_version", version_json(t->hardwareVersion), "firmware_version",
		      version_json(t->firmwareVersion));
	free(uri);
	return j;
}

static void print_mechanisms(json_t *mechs)
{
	const char *group;
	json_t *list;

	json_object_foreach(mechs, group, list) {
		size_t i;
		json_t *m;
		printf("  %-16s", strcmp(group, "key_generation") == 0 ? "Key generation"
				  : strcmp(group, "signing") == 0      ? "Signing"
								       : "Wrapping");
		if (json_array_size(list) == 0)
			printf("none\n");
		json_array_foreach(list, i, m) {
			json_int_t lo = json_integer_value(json_object_get(m, "min_key_size"));
			json_int_t hi = json_integer_value(json_object_get(m, "max_key_size"));
			printf("%s%s", i ? "                  " : "",
			       json_string_value(json_object_get(m, "name")));
			if (hi)
				printf(" (%lld-%lld)", (long long)lo, (long long)hi);
			printf("\n");
		}
	}
}

static void print_slot(json_t *slot)
{
	json_t *t = json_object_get(slot, "token");
	json_t *mem;

	printf("\nSlot %lld (%s%s) %s\n", (long long)json_integer_value(json_object_get(slot, "id")),
	       json_is_true(json_object_get(slot, "hardware")) ? "hardware" : "software",
	       json_is_true(json_object_get(slot, "removable")) ? ", removable" : "",
	       json_string_value(json_object_get(slot, "description")));
	if (json_is_null(t)) {
		printf("  %-16s%s\n", "Token", "(none present)");
		return;
	}
	printf("  %-16s%s\n", "Token", json_string_value(json_object_get(t, "label")));
	printf("  %-16s%s\n", "URI", json_string_value(json_object_get(t, "uri")));
	printf("  %-16s%s\n", "Manufacturer", json_string_value(json_object_get(t, "manufacturer")));
	printf("  %-16s%s\n", "Model", json_string_value(json_object_get(t, "model")));
	printf("  %-16s%s\n", "Serial", json_string_value(json_object_get(t, "serial")));
	printf("  %-16s%s\n", "Firmware", json_string_value(json_object_get(t, "firmware_version")));
	printf("  %-16s%s\n", "Initialised",
	       cli_yes_no(json_is_true(json_object_get(t, "initialized"))));
	printf("  %-16s%s\n", "Login required",
	       cli_yes_no(json_is_true(json_object_get(t, "login_required"))));
	printf("  %-16s%s\n", "User PIN", json_string_value(json_object_get(t, "user_pin")));
	printf("  %-16s%s\n", "SO PIN", json_string_value(json_object_get(t, "so_pin")));
	if (json_is_true(json_object_get(t, "protected_authentication_path")))
		printf("  %-16s%s\n", "PIN entry", "on the device (protected authentication path)");
	if (json_is_true(json_object_get(t, "write_protected")))
		printf("  %-16s%s\n", "Write", "protected");
	if (!json_is_null(mem = json_object_get(t, "public_memory")))
		printf("  %-16s%lld free of %lld bytes\n", "Public memory",
		       (long long)json_integer_value(json_object_get(mem, "free")),
		       (long long)json_integer_value(json_object_get(mem, "total")));
	if (!json_is_null(mem = json_object_get(t, "private_memory")))
		printf("  %-16s%lld free of %lld bytes\n", "Private memory",
		       (long long)json_integer_value(json_object_get(mem, "free")),
		       (long long)json_integer_value(json_object_get(mem, "total")));
	if (json_object_get(t, "mechanisms"))
		print_mechanisms(json_object_get(t, "mechanisms"));
}

/* Through p11-kit's proxy: which registered modules its slots come from. */
static hc_rc add_registered(const hc_module *mod, json_t *module, hc_error *err)
{
	hc_registered_module *regs = NULL;
	size_t n = 0;
	json_t *list;
	hc_rc rc = hc_module_registered(mod, &regs, &n, err);

	if (rc != HC_OK || !regs)
		return rc;
	list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:o, s:o}", "name",
						      cli_json_string(regs[i].name), "path",
						      cli_json_string(regs[i].path)));
	json_object_set_new(module, "registered", list);
	hc_registered_modules_free(regs, n);
	return HC_OK;
}

static void print_registered(json_t *list)
{
	size_t i;
	json_t *m;

	if (!list)
		return;
	printf("  p11-kit proxy of %zu registered module%s%s\n", json_array_size(list),
	       json_array_size(list) == 1 ? "" : "s", json_array_size(list) ? ":" : "");
	json_array_foreach(list, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *path = json_string_value(json_object_get(m, "path"));
		printf("    %-14s %s\n", name ? name : "(unnamed)", path ? path : "(remote)");
	}
}

int cmd_tokens(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"mechanisms", no_argument, NULL, OPT_MECHANISMS}, CLI_GLOBAL_OPTIONS};
	bool with_mechanisms = false;
	hc_module *mod = NULL;
	hc_uri *filter = NULL;
	hc_slot *slots = NULL;
	size_t n = 0;
	hc_error err = {0};
	json_t *doc = NULL, *list;
	char desc[65], manufacturer[33];
	int c, r;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c == OPT_MECHANISMS)
			with_mechanisms = true;
		else if ((r = cli_common_option(cli, c, optarg, usage_tokens)) != CLI_NEXT)
			return r;
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;

	if (cli->token_uri && hc_uri_parse(cli->token_uri, &filter, &err) != HC_OK)
		goto fail;
	if (hc_module_open(cli->module_path, 0, &mod, &err) != HC_OK)
		goto fail;
	{
		/* Every slot (empty ones too), or those --token names. */
		hc_token_query q = {.uri = filter, .state = HC_TOKEN_ANY_SLOT};
		if (hc_token_find(mod, &q, &slots, &n, &err) != HC_OK)
			goto fail;
	}

	HC_P11_STRING(hc_module_info(mod)->libraryDescription, desc);
	HC_P11_STRING(hc_module_info(mod)->manufacturerID, manufacturer);
	doc = json_pack("{s:{s:s, s:s, s:s, s:o, s:o}}", "module", "path", hc_module_path(mod),
			"description", desc, "manufacturer", manufacturer, "version",
			version_json(hc_module_info(mod)->libraryVersion), "cryptoki_version",
			version_json(hc_module_info(mod)->cryptokiVersion));
	if ((r = add_registered(mod, json_object_get(doc, "module"), &err)) != HC_OK)
		goto fail;
	list = json_array();
	json_object_set_new(doc, "slots", list);
	for (size_t i = 0; i < n; i++) {
		json_t *slot, *token = json_null();
		HC_P11_STRING(slots[i].info.slotDescription, desc);
		HC_P11_STRING(slots[i].info.manufacturerID, manufacturer);
		if (slots[i].has_token) {
			token = token_json(&slots[i]);
			if (with_mechanisms) {
				json_t *m = mechanisms_json(mod, slots[i].id, &err);
				if (!m) {
					json_decref(token);
					goto fail;
				}
				json_object_set_new(token, "mechanisms", m);
			}
		}
		slot = json_pack("{s:I, s:s, s:s, s:b, s:b, s:o}", "id", (json_int_t)slots[i].id,
				 "description", desc, "manufacturer", manufacturer, "hardware",
				 (slots[i].info.flags & CKF_HW_SLOT) != 0, "removable",
				 (slots[i].info.flags & CKF_REMOVABLE_DEVICE) != 0, "token", token);
		json_array_append_new(list, slot);
	}

	if (cli->json) {
		r = cli_json_emit(doc);
		doc = NULL;
	} else {
		size_t i;
		json_t *slot;
		printf("Module %s: %s %s (%s)\n", hc_module_path(mod),
		       json_string_value(json_object_get(json_object_get(doc, "module"),
							 "description")),
		       json_string_value(json_object_get(json_object_get(doc, "module"),
							 "version")),
		       json_string_value(json_object_get(json_object_get(doc, "module"),
							 "manufacturer")));
		print_registered(json_object_get(json_object_get(doc, "module"), "registered"));
		json_array_foreach(list, i, slot)
			print_slot(slot);
		if (json_array_size(list) == 0)
			printf("\nNo slots%s.\n", filter ? " match the URI" : "");
		r = 0;
	}
	json_decref(doc);
	free(slots);
	hc_module_close(mod);
	hc_uri_free(filter);
	return r;
fail:
	json_decref(doc);
	free(slots);
	hc_module_close(mod);
	hc_uri_free(filter);
	return cli_fail(cli, &err);
}
