/* SPEC: provision PLAN. */
#include "cli.h"
#include "progress.h"

#include "hsmcert/provision.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_JOBS = CLI_OPT_FIRST_COMMAND_OPTION, OPT_OUT_DIR, OPT_FORCE };

int usage_provision(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert provision PLAN [-j N] [--out-dir DIR] [--force]\n\n"
		"Generate a key pair and a certificate request for every entry of a plan\n"
		"file. Entries already done are reported, not redone: an existing key gets\n"
		"its missing request; a key whose request file exists and matches is left\n"
		"alone. The whole plan is checked before the token is touched, then,\n"
		"before the first key is generated, what the token and the file system can\n"
		"tell: every output folder exists and is writable, and the token lists the\n"
		"key generation mechanism (and size) for each key type and a mechanism to\n"
		"sign the requests. No key is generated for an entry that cannot be\n"
		"completed.\n\n"
		"  -j, --jobs N             parallel token sessions (default 1; SoftHSM2\n"
		"                           tokens: always 1, see docs)\n"
		"  --out-dir DIR            where relative \"csr\" paths go (default: the\n"
		"                           plan's directory)\n"
		"  --force                  rewrite request files that exist\n\n"
		"PLAN is JSON: {\"defaults\": {...}, \"keys\": [{...}, ...]} or an array of\n"
		"entries, each with \"label\" (required), \"type\", \"subject\" or\n"
		"\"cn\"/\"o\"/\"ou\"/\"l\"/\"st\"/\"c\", \"sans\" (array), \"wildcard\", \"profile\",\n"
		"\"md\", \"pss\", \"exportable\", \"csr\" (default LABEL.csr).\n\n"
		"Exit status: 0 every entry done; 1 an entry was refused to protect existing\n"
		"state; 2 a bad plan; 3 the token lacks what the plan needs, or failed;\n"
		"4 an output folder is missing or not writable, or a file I/O error.\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

struct progress {
	const struct cli *cli;
	bool bar; /* a terminal: redraw one line; else one line per entry */
};

static void show_progress(void *ctx, size_t done, size_t total, const hc_plan_entry *e,
			  const hc_provision_outcome *o)
{
	struct progress *p = ctx;

	if (p->cli->json && !p->bar)
		return;
	if (o->status == HC_PROVISION_FAILED) {
		if (p->bar)
			cli_progress_clear();
		char text[CLI_ERROR_TEXT_SIZE];
		cli_errorf(p->cli, "%s: %s", e->label, cli_error_text(&o->err, text, sizeof(text)));
	}
	if (p->bar)
		cli_progress_draw(done, total, e->label);
}

static json_t *summary_json(const struct cli_token *t, const hc_provision_plan *plan,
			    const hc_provision_outcome *outcomes, size_t counts[])
{
	json_t *entries = json_array();

	for (size_t i = 0; i < plan->count; i++) {
		const hc_provision_outcome *o = &outcomes[i];
		json_t *e = json_pack("{s:s, s:s, s:o, s:s}", "label", plan->entries[i].label,
				      "status", hc_provision_status_name(o->status), "key_uri",
				      cli_json_string(o->key_uri), "csr",
				      plan->entries[i].csr_path);
		char text[CLI_ERROR_TEXT_SIZE];
		if (o->status == HC_PROVISION_FAILED)
			json_object_set_new(e, "error",
					    json_pack("{s:s, s:i}", "message",
						      cli_error_text(&o->err, text, sizeof(text)),
						      "exit_code", (int)o->err.rc));
		else
			json_object_set_new(e, "key_type", json_string(o->key_type));
		json_array_append_new(entries, e);
	}
	return json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "token", cli_json_token(t),
			 "entries", entries, "summary", "created",
			 (json_int_t)counts[HC_PROVISION_CREATED], "requested",
			 (json_int_t)counts[HC_PROVISION_REQUESTED], "existing",
			 (json_int_t)counts[HC_PROVISION_EXISTING], "failed",
			 (json_int_t)counts[HC_PROVISION_FAILED]);
}

int cmd_provision(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"jobs", required_argument, NULL, OPT_JOBS},
						{"out-dir", required_argument, NULL, OPT_OUT_DIR},
						{"force", no_argument, NULL, OPT_FORCE},
						CLI_GLOBAL_OPTIONS};
	const char *out_dir = NULL;
	unsigned long jobs = 1;
	long jobs_arg;
	bool force = false;
	hc_provision_plan plan = {0};
	hc_provision_outcome *outcomes = NULL;
	struct cli_token t = {0};
	struct progress progress = {cli, false};
	size_t counts[HC_PROVISION_FAILED + 1] = {0};
	hc_error err = {0};
	hc_rc rc;
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT "j:", options, NULL)) != -1) {
		switch (c) {
		case 'j':
		case OPT_JOBS:
			if (!cli_number(optarg, 1, 64, &jobs_arg))
				return cli_usage_error(cli, "--jobs takes a number from 1 to 64");
			jobs = (unsigned long)jobs_arg;
			break;
		case OPT_OUT_DIR: out_dir = optarg; break;
		case OPT_FORCE: force = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_provision)) != CLI_NEXT)
				return r;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, "name one plan file");

	if (hc_provision_plan_load(argv[optind], out_dir, &plan, &err) != HC_OK)
		return cli_fail(cli, &err);
	outcomes = calloc(plan.count, sizeof(*outcomes));
	if (!outcomes) {
		hc_provision_plan_clear(&plan);
		return cli_fail(cli, &(hc_error){.rc = HC_IO, .message = "out of memory"});
	}
	/* SPEC: no key is generated for an entry that cannot be completed. */
	if (cli_token_open(cli, NULL, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_provision_preflight(t.session, &plan, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (jobs > 1 && !hc_token_threads_safe(&t.slot)) {
		fprintf(stderr,
			"hsmcert provision: warning: --jobs %lu ignored: SoftHSM2 loses objects "
			"created from several threads at once; one session is used\n",
			jobs);
		jobs = 1;
	}
	progress.bar = cli_progress_wanted();
	rc = hc_provision_run(t.session, &plan, (unsigned)jobs, force, show_progress, &progress,
			      outcomes, &err);
	for (size_t i = 0; i < plan.count; i++)
		counts[outcomes[i].status]++;

	if (cli->json) {
		r = cli_json_emit(summary_json(&t, &plan, outcomes, counts));
	} else {
		for (size_t i = 0; i < plan.count; i++) {
			const hc_provision_outcome *o = &outcomes[i];
			char text[CLI_ERROR_TEXT_SIZE];
			printf("%-10s %-20s %s\n", hc_provision_status_name(o->status),
			       plan.entries[i].label,
			       o->status == HC_PROVISION_FAILED
				       ? cli_error_text(&o->err, text, sizeof(text))
				       : plan.entries[i].csr_path);
			/* SPEC: every object the tool creates is reported with its full URI. */
			if (o->key_uri)
				printf("%-10s %s\n", "", o->key_uri);
		}
		printf("%zu created, %zu requested for existing keys, %zu already done, %zu "
		       "failed (token '%s')\n",
		       counts[HC_PROVISION_CREATED], counts[HC_PROVISION_REQUESTED],
		       counts[HC_PROVISION_EXISTING], counts[HC_PROVISION_FAILED], t.label);
		r = 0;
	}
	if (rc != HC_OK)
		r = (int)rc;
out:
	hc_provision_outcomes_clear(outcomes, plan.count);
	free(outcomes);
	hc_provision_plan_clear(&plan);
	cli_token_close(&t);
	return r;
}
