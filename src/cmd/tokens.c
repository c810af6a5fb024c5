/* SPEC: tokens — modules, slots and tokens, with --mechanisms. */
#include "cli.h"
#include "hsmcert/capabilities.h"

#include "hsmcert/token.h"
#include "tokenview.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_MECHANISMS = CLI_OPT_FIRST_COMMAND_OPTION, OPT_CAPABILITIES };

int usage_tokens(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert tokens [--mechanisms | --capabilities] [--module PATH] [--token URI]\n"
		"                      [--json]\n\n"
		"List the module's slots and tokens: label, manufacturer, model, serial,\n"
		"hardware or software slot, initialised, login required, PIN state,\n"
		"memory where known, and each token's PKCS#11 URI. Through p11-kit's\n"
		"proxy (no module named) it also names the registered modules.\n\n"
		"  --mechanisms             add key generation, signing and wrapping\n"
		"                           mechanisms with their key sizes\n"
		"  --capabilities           what hsmcert can do with the selected token:\n"
		"                           key types, CSR signatures, certificate import,\n"
		"                           wrap mechanisms (known-answer tested), restore,\n"
		"                           PKCS#12; probed with session objects that are\n"
		"                           destroyed again (logs in: PIN as for keygen)\n"
		"  --token URI              only the tokens the URI matches\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

static const char *const group_names[HC_MECH_GROUPS] = {
	[HC_MECH_KEY_GENERATION] = "key_generation",
	[HC_MECH_SIGNING] = "signing",
	[HC_MECH_WRAPPING] = "wrapping",
};
static const char *const group_titles[HC_MECH_GROUPS] = {
	[HC_MECH_KEY_GENERATION] = "Key generation",
	[HC_MECH_SIGNING] = "Signing",
	[HC_MECH_WRAPPING] = "Wrapping",
};

/* ---- JSON ------------------------------------------------------------ */

/* Memory is reported only when the token knows it. */
static bool memory_known(CK_ULONG free_mem, CK_ULONG total)
{
	return total != CK_UNAVAILABLE_INFORMATION && total != CK_EFFECTIVELY_INFINITE &&
	       free_mem != CK_UNAVAILABLE_INFORMATION;
}

static json_t *memory_json(CK_ULONG free_mem, CK_ULONG total)
{
	if (!memory_known(free_mem, total))
		return json_null();
	return json_pack("{s:I, s:I}", "free", (json_int_t)free_mem, "total", (json_int_t)total);
}

static json_t *mechanisms_json(const hc_token_entry *e)
{
	json_t *out = json_object();

	for (int g = 0; g < HC_MECH_GROUPS; g++) {
		json_t *list = json_array();
		for (size_t i = 0; i < e->mechanism_count; i++) {
			const hc_mechanism *m = &e->mechanisms[i];
			if (!hc_mech_in_group(m, g))
				continue;
			json_array_append_new(
				list, json_pack("{s:s, s:I, s:I}", "name", hc_ckm_name(m->type),
						"min_key_size", (json_int_t)m->info.ulMinKeySize,
						"max_key_size", (json_int_t)m->info.ulMaxKeySize));
		}
		json_object_set_new(out, group_names[g], list);
	}
	return out;
}

static json_t *token_json(const hc_token_entry *e)
{
	const CK_TOKEN_INFO *t = &e->slot.token;
	json_t *j = cli_json_token_identity(&e->id);
	json_t *more = json_pack(
		"{s:b, s:b, s:b, s:b, s:b, s:s, s:s, s:o, s:o, s:o, s:o}", "initialized",
		(t->flags & CKF_TOKEN_INITIALIZED) != 0, "login_required",
		(t->flags & CKF_LOGIN_REQUIRED) != 0, "user_pin_initialized",
		(t->flags & CKF_USER_PIN_INITIALIZED) != 0, "protected_authentication_path",
		(t->flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0, "write_protected",
		(t->flags & CKF_WRITE_PROTECTED) != 0, "user_pin", e->user_pin, "so_pin", e->so_pin,
		"public_memory", memory_json(t->ulFreePublicMemory, t->ulTotalPublicMemory),
		"private_memory", memory_json(t->ulFreePrivateMemory, t->ulTotalPrivateMemory),
		"hardware_version", cli_json_version(t->hardwareVersion), "firmware_version",
		cli_json_version(t->firmwareVersion));

	json_object_update(j, more);
	json_decref(more);
	if (e->has_mechanisms)
		json_object_set_new(j, "mechanisms", mechanisms_json(e));
	return j;
}

static json_t *slot_json(const hc_token_entry *e)
{
	return json_pack("{s:I, s:o, s:o, s:b, s:b, s:o}", "id", (json_int_t)e->slot.id,
			 "description", cli_json_text(e->description), "manufacturer",
			 cli_json_text(e->slot_manufacturer), "hardware",
			 (e->slot.info.flags & CKF_HW_SLOT) != 0, "removable",
			 (e->slot.info.flags & CKF_REMOVABLE_DEVICE) != 0, "token",
			 e->slot.has_token ? token_json(e) : json_null());
}

static int print_json(const hc_token_list *list)
{
	json_t *slots = json_array();
	json_t *module = json_pack("{s:o, s:o, s:o, s:o, s:o}", "path",
				   cli_json_text(list->module_path), "description",
				   cli_json_text(list->module_description), "manufacturer",
				   cli_json_text(list->module_manufacturer), "version",
				   cli_json_version(list->module_version), "cryptoki_version",
				   cli_json_version(list->cryptoki_version));

	if (list->registered) {
		json_t *regs = json_array();
		for (size_t i = 0; i < list->registered_count; i++)
			json_array_append_new(
				regs, json_pack("{s:o, s:o, s:b, s:o}", "name",
						cli_json_text(list->registered[i].name), "path",
						cli_json_text(list->registered[i].path), "disabled",
						list->registered[i].disabled, "initialize_error",
						list->registered[i].init_rv == CKR_OK
							? json_null()
							: json_string(hc_ckr_name(
								  list->registered[i].init_rv))));
		json_object_set_new(module, "registered", regs);
	}
	for (size_t i = 0; i < list->count; i++)
		json_array_append_new(slots, slot_json(&list->entries[i]));
	return cli_json_emit(json_pack("{s:o, s:o}", "module", module, "slots", slots));
}

/* ---- text ------------------------------------------------------------ */

static void print_field(const char *name, const char *value)
{
	printf("  %-16s%s\n", name, cli_text(value));
}

static void print_mechanisms(const hc_token_entry *e)
{
	for (int g = 0; g < HC_MECH_GROUPS; g++) {
		size_t shown = 0;
		printf("  %-16s", group_titles[g]);
		for (size_t i = 0; i < e->mechanism_count; i++) {
			const hc_mechanism *m = &e->mechanisms[i];
			if (!hc_mech_in_group(m, g))
				continue;
			printf("%s%s", shown++ ? "                  " : "", hc_ckm_name(m->type));
			if (m->info.ulMaxKeySize)
				printf(" (%lu-%lu)", (unsigned long)m->info.ulMinKeySize,
				       (unsigned long)m->info.ulMaxKeySize);
			printf("\n");
		}
		if (!shown)
			printf("none\n");
	}
}

static void print_memory(const char *name, CK_ULONG free_mem, CK_ULONG total)
{
	if (memory_known(free_mem, total))
		printf("  %-16s%lu free of %lu bytes\n", name, (unsigned long)free_mem,
		       (unsigned long)total);
}

static void print_slot(const hc_token_entry *e)
{
	const CK_TOKEN_INFO *t = &e->slot.token;
	char firmware[16];

	printf("\nSlot %lu (%s%s) %s\n", (unsigned long)e->slot.id,
	       (e->slot.info.flags & CKF_HW_SLOT) ? "hardware" : "software",
	       (e->slot.info.flags & CKF_REMOVABLE_DEVICE) ? ", removable" : "",
	       cli_text(e->description));
	if (!e->slot.has_token) {
		print_field("Token", "(none present)");
		return;
	}
	snprintf(firmware, sizeof(firmware), "%u.%u", t->firmwareVersion.major,
		 t->firmwareVersion.minor);
	print_field("Token", e->id.label);
	print_field("URI", e->id.uri ? e->id.uri : "(none)");
	print_field("Manufacturer", e->id.manufacturer);
	print_field("Model", e->id.model);
	print_field("Serial", e->id.serial);
	print_field("Firmware", firmware);
	print_field("Initialised", cli_yes_no((t->flags & CKF_TOKEN_INITIALIZED) != 0));
	print_field("Login required", cli_yes_no((t->flags & CKF_LOGIN_REQUIRED) != 0));
	print_field("User PIN", e->user_pin);
	print_field("SO PIN", e->so_pin);
	if (t->flags & CKF_PROTECTED_AUTHENTICATION_PATH)
		print_field("PIN entry", "on the device (protected authentication path)");
	if (t->flags & CKF_WRITE_PROTECTED)
		print_field("Write", "protected");
	print_memory("Public memory", t->ulFreePublicMemory, t->ulTotalPublicMemory);
	print_memory("Private memory", t->ulFreePrivateMemory, t->ulTotalPrivateMemory);
	if (e->has_mechanisms)
		print_mechanisms(e);
}

static int print_text(const hc_token_list *list)
{
	char version[16];

	snprintf(version, sizeof(version), "%u.%u", list->module_version.major,
		 list->module_version.minor);
	printf("Module %s: %s %s (%s)\n", cli_text(list->module_path),
	       cli_text(list->module_description), version, cli_text(list->module_manufacturer));
	/* Through p11-kit's proxy: which registered modules its slots come from. */
	if (list->registered) {
		size_t n = list->registered_count;
		printf("  p11-kit proxy of %zu registered module%s%s\n", n, n == 1 ? "" : "s",
		       n ? ":" : "");
		for (size_t i = 0; i < n; i++) {
			const hc_registered_module *m = &list->registered[i];
			printf("    %-14s %s%s%s%s\n", m->name ? cli_text(m->name) : "(unnamed)",
			       m->path ? cli_text(m->path) : "(remote)",
			       m->disabled ? "  [disabled for the proxy by its module file]" : "",
			       m->init_rv != CKR_OK ? "  [C_Initialize failed: " : "",
			       m->init_rv != CKR_OK ? hc_ckr_name(m->init_rv) : "");
			if (m->init_rv != CKR_OK)
				printf("    %-14s its slots are missing below; its own log says why]\n",
				       "");
		}
	}
	for (size_t i = 0; i < list->count; i++)
		print_slot(&list->entries[i]);
	if (list->count == 0)
		printf("\nNo slots%s.\n", list->filtered ? " match the URI" : "");
	if (!list->filtered && list->count == 0 && list->registered && list->registered_count == 0)
		printf("No PKCS#11 module is registered with p11-kit: install your token's "
		       "module package (e.g. softhsm2, opensc-pkcs11), or name a module "
		       "with --module PATH (or HSMCERT_MODULE)\n");
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : HC_IO;
}

/* SPEC: tokens --capabilities, for the one selected token. */
static int capabilities(struct cli *cli)
{
	struct cli_token t = {0};
	hc_capabilities caps;
	hc_error err = {0};
	int r;

	if (cli_token_open(cli, NULL, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_capabilities_probe(t.session, &caps, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		cli_token_close(&t);
		return r;
	}
	if (cli->json) {
		json_t *list = json_array();
		for (size_t i = 0; i < caps.count; i++)
			json_array_append_new(
				list, json_pack("{s:s, s:s, s:s, s:s}", "id", caps.items[i].id,
						"what", caps.items[i].what, "state",
						hc_cap_state_name(caps.items[i].state), "detail",
						caps.items[i].detail));
		r = cli_json_emit(json_pack("{s:o, s:o, s:I}", "token", cli_json_token(&t),
					    "capabilities", list, "probe_objects_left",
					    (json_int_t)caps.left_behind));
	} else {
		printf("Capabilities of token '%s' (%s)\n\n", cli_text(t.label), t.token_uri);
		for (size_t i = 0; i < caps.count; i++)
			printf("  %-40s %-7s %s\n", caps.items[i].what,
			       hc_cap_state_name(caps.items[i].state), caps.items[i].detail);
		printf("\nProbes used session objects only%s.\n",
		       caps.left_behind
			       ? "; SOME COULD NOT BE DESTROYED (they end with the session)"
			       : ", all destroyed");
		r = 0;
	}
	cli_token_close(&t);
	return r;
}

int cmd_tokens(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"mechanisms", no_argument, NULL, OPT_MECHANISMS},
		{"capabilities", no_argument, NULL, OPT_CAPABILITIES},
		CLI_GLOBAL_OPTIONS};
	bool with_mechanisms = false, with_capabilities = false;
	hc_module *mod = NULL;
	hc_uri *filter = NULL;
	hc_token_list list = {0};
	hc_error err = {0};
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		if (c == OPT_MECHANISMS)
			with_mechanisms = true;
		else if (c == OPT_CAPABILITIES)
			with_capabilities = true;
		else if ((r = cli_common_option(cli, c, optarg, usage_tokens)) != CLI_NEXT)
			return r;
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	if (with_capabilities)
		return with_mechanisms ? cli_usage_error(cli, "--capabilities and --mechanisms "
							      "are separate reports")
				       : capabilities(cli);

	if ((cli->token_uri && hc_uri_parse(cli->token_uri, &filter, &err) != HC_OK) ||
	    hc_module_open(cli->module_path, 0, &mod, &err) != HC_OK ||
	    hc_token_list_read(mod, filter, with_mechanisms, &list, &err) != HC_OK)
		r = cli_fail(cli, &err);
	else
		r = cli->json ? print_json(&list) : print_text(&list);
	hc_token_list_clear(&list);
	hc_module_close(mod);
	hc_uri_free(filter);
	return r;
}
