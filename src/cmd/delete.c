/* SPEC: delete URI. */
#include "cli.h"

#include "hsmcert/certstore.h"
#include "hsmcert/hex.h"

#include <stdlib.h>
#include <string.h>

enum {
	OPT_YES = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_ALL_MATCHING,
	OPT_KEY_ONLY,
};

int usage_delete(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert delete URI [--yes] [--all-matching] [--key-only]\n"
		"                      [--token URI] [--pin-source SRC]\n\n"
		"Destroy the objects a PKCS#11 URI names (an old Sub CA certificate, a key at\n"
		"the end of its life, a pending request that will never be used), e.g.\n"
		"  hsmcert delete 'pkcs11:token=web01;object=old;type=private'\n"
		"A private key's public key and certificates go with it. What will be\n"
		"destroyed is listed first and confirmed on the terminal.\n\n"
		"  --yes                    do not ask (scripts); without a terminal nothing is\n"
		"                           destroyed unless --yes is given\n"
		"  --all-matching           the URI may name more than one key or object\n"
		"                           (a key with its public key and certificates counts\n"
		"                           as one)\n"
		"  --key-only               destroy only the objects the URI names: a key's\n"
		"                           certificate and public key stay\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

static json_t *json_doomed(const hc_doomed *d)
{
	char *id = hc_hex_encode(d->id ? d->id : (const unsigned char *)"", d->id_len);
	json_t *j = json_pack("{s:s, s:o, s:o, s:s, s:o, s:b}", "class",
			      hc_object_class_name(d->cls), "label", cli_json_text(d->label), "id",
			      cli_json_string(id), "uri", d->uri, "description",
			      cli_json_text(d->what), "companion", d->companion);
	free(id);
	return j;
}

/* The plan (or what was destroyed), key by key, on `out`. */
static void print_doomed(FILE *out, const hc_removal *removal, bool only_destroyed)
{
	for (size_t i = 0; i < removal->count; i++) {
		const hc_doomed *d = &removal->objects[i];
		if (only_destroyed && !d->destroyed)
			continue;
		fprintf(out, "  %-12s %-20s %s\n      %s\n", hc_object_class_name(d->cls),
			d->label[0] ? cli_text(d->label) : "(no label)", cli_text(d->what), d->uri);
	}
}

int cmd_delete(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"yes", no_argument, NULL, OPT_YES},
		{"all-matching", no_argument, NULL, OPT_ALL_MATCHING},
		{"key-only", no_argument, NULL, OPT_KEY_ONLY},
		CLI_GLOBAL_OPTIONS};
	bool yes = false, all_matching = false, key_only = false;
	struct cli_token t = {0};
	hc_removal removal = {0};
	hc_uri *uri = NULL;
	hc_error err = {0};
	const char *uri_text;
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		switch (c) {
		case OPT_YES: yes = true; break;
		case OPT_ALL_MATCHING: all_matching = true; break;
		case OPT_KEY_ONLY: key_only = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_delete)) != CLI_NEXT)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, "the URI of the objects to destroy is required, e.g. "
					    "'pkcs11:object=old;type=private'");
	uri_text = argv[optind++];
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;
	if (hc_uri_parse(uri_text, &uri, &err) != HC_OK)
		return cli_fail(cli, &err);

	if (cli_token_open(cli, uri_text, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_removal_plan(t.session, uri, key_only, &removal, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (removal.groups > 1 && !all_matching) {
		fprintf(stderr, "%s matches %zu objects:\n", cli_text(uri_text), removal.groups);
		print_doomed(stderr, &removal, false);
		hc_fail(&err, HC_CHECK,
			"%s names %zu keys or objects: add --all-matching to destroy them all, "
			"or name one (object=, id=, type=)",
			uri_text, removal.groups);
		r = cli_fail(cli, &err);
		goto out;
	}
	fprintf(stderr, "To be destroyed on token '%s':\n", cli_text(t.label));
	print_doomed(stderr, &removal, false);
	if (!yes) {
		char question[128];
		bool confirmed;
		snprintf(question, sizeof(question), "Destroy %s%zu object%s?",
			 removal.count > 1 ? "these " : "", removal.count,
			 removal.count > 1 ? "s" : "");
		if (cli_confirm(cli, question, "--yes", &confirmed, &err) != HC_OK) {
			r = cli_fail(cli, &err);
			goto out;
		}
		if (!confirmed) {
			hc_fail(&err, HC_CHECK, "not confirmed: nothing was destroyed");
			r = cli_fail(cli, &err);
			goto out;
		}
	}
	if (hc_removal_execute(t.session, &removal, &err) != HC_OK) {
		bool any = false;
		for (size_t i = 0; i < removal.count; i++)
			any |= removal.objects[i].destroyed;
		if (any) {
			fprintf(stderr, "Destroyed before the failure:\n");
			print_doomed(stderr, &removal, true);
		}
		r = cli_fail(cli, &err);
		goto out;
	}

	if (cli->json) {
		json_t *list = json_array();
		for (size_t i = 0; i < removal.count; i++)
			json_array_append_new(list, json_doomed(&removal.objects[i]));
		r = cli_json_emit(json_pack("{s:o, s:o, s:I}", "token", cli_json_token(&t),
					    "destroyed", list, "count", (json_int_t)removal.count));
	} else {
		printf("Destroyed %zu object%s on token '%s':\n", removal.count,
		       removal.count == 1 ? "" : "s", cli_text(t.label));
		print_doomed(stdout, &removal, true);
		r = 0;
	}
out:
	hc_removal_clear(&removal);
	cli_token_close(&t);
	hc_uri_free(uri);
	return r;
}
