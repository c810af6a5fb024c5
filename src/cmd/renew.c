/* SPEC: renew — the certificates on the token that are due, renewed over ACME. */
#include "acme_cli.h"

#include "certview.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	OPT_KEY = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_ALL,
	OPT_DAYS,
	OPT_REUSE_KEY,
	OPT_HOOK,
};

int usage_renew(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert renew (--key URI | --all) --acme URL [--days N] [--reuse-key]\n"
		"                     [--hook CMD] [ACME options as enroll]\n\n"
		"Renew over ACME the certificates on the token that are due: fewer than --days\n"
		"days left (default: a third of the certificate's lifetime, at most 30 days).\n"
		"A certificate that is not due is left alone and said so; nothing then talks\n"
		"to the CA. Made to run from a timer (contrib/systemd/): idempotent, --json,\n"
		"exit status 0 when nothing failed.\n\n"
		"By default a new key pair is made on the token with the old one's type,\n"
		"subject and SANs, and takes over its label: a server configured with the\n"
		"key's label-based URI uses the new key. The old key, its public key and\n"
		"certificates are kept, relabelled LABEL.retired-YYYYMMDDTHHMMSSZ, until you\n"
		"delete them. If a renewal fails, the token is as it was.\n\n"
		"  --key URI                the key whose certificate to renew\n"
		"  --all                    every key with a certificate on the token (not the\n"
		"                           ACME account key, not retired keys)\n"
		"  --days N                 due when fewer than N days are left\n"
		"  --reuse-key              keep the key; its older certificates are replaced\n"
		"  --hook CMD               run CMD with /bin/sh after each renewal (to reload a\n"
		"                           server), with HSMCERT_KEY_URI, HSMCERT_KEY_LABEL and\n"
		"                           HSMCERT_CERT_URI set; its output goes to stderr; a\n"
		"                           hook that fails makes the run fail (exit 1)\n" ACME_CLI_USAGE
		"\n"
		"Exit status: 0 nothing failed (renewed or not due); otherwise that of the\n"
		"first failure, as enroll (1 CA refusal or check, 3 token, 4 network).\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

struct hook_run {
	bool ran;
	int status; /* exit status, or 128 + signal */
};

/* The hook, with stdout sent to stderr so --json's stdout stays one document. */
static struct hook_run run_hook(const char *cmd, const hc_renew_item *it)
{
	struct hook_run h = {.ran = true, .status = 127};
	const hc_enroll_result *r = &it->result;
	int ws;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("HSMCERT_KEY_URI", r->key.uri ? r->key.uri : "", 1);
		setenv("HSMCERT_KEY_LABEL", r->key.label ? r->key.label : "", 1);
		setenv("HSMCERT_CERT_URI", r->imported.leaf.uri ? r->imported.leaf.uri : "", 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return h;
	while (waitpid(pid, &ws, 0) < 0)
		;
	h.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return h;
}

static json_t *json_item(const hc_renew_item *it, const struct hook_run *hook, time_t now)
{
	char text[CLI_ERROR_TEXT_SIZE];
	/* No certificate: a failed resumed item whose old certificate was not read. */
	json_t *j = json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:b}", "key",
		cli_json_string(it->key.label), "uri", cli_json_string(it->key.uri), "certificate",
		it->cert ? cli_json_cert(&it->info, now) : json_null(), "seconds_left",
		it->cert ? json_integer(it->left_s) : json_null(), "lifetime_seconds",
		it->cert ? json_integer(it->lifetime_s) : json_null(), "threshold_seconds",
		it->cert ? json_integer(it->threshold_s) : json_null(), "due", it->due, "renewed",
		it->renewed, "resumed", it->resumed);

	if (it->attempted && !it->renewed)
		json_object_set_new(j, "error",
				    json_pack("{s:s, s:i}", "message",
					      cli_error_text(&it->error, text, sizeof(text)),
					      "exit_code", (int)it->error.rc));
	else
		json_object_set_new(j, "error", json_null());
	if (it->renewed) {
		json_object_set_new(j, "new", acme_cli_json_enrolled(&it->result, NULL, now));
		json_object_set_new(j, "retired_label", cli_json_string(it->result.retired_label));
	}
	if (hook->ran)
		json_object_set_new(j, "hook_exit_status", json_integer(hook->status));
	return j;
}

/* "3 days", "23 hours", "45 minutes": the unit that says it best. */
static void span(long s, char *out, size_t size)
{
	long v = s < 0 ? -s : s;
	const char *unit = "second";

	if (v >= 2 * 86400)
		v /= 86400, unit = "day";
	else if (v >= 2 * 3600)
		v /= 3600, unit = "hour";
	else if (v >= 120)
		v /= 60, unit = "minute";
	snprintf(out, size, "%s%ld %s%s", s < 0 ? "-" : "", v, unit, v == 1 ? "" : "s");
}

static void print_item(const hc_renew_item *it, const struct hook_run *hook, time_t now)
{
	char left[32], threshold[32], text[CLI_ERROR_TEXT_SIZE];
	const char *label = cli_text(it->key.label);

	span(it->left_s, left, sizeof(left));
	span(it->threshold_s, threshold, sizeof(threshold));
	if (!it->due) {
		printf("%s: not due (%s left; due when fewer than %s are left)\n", label, left,
		       threshold);
		return;
	}
	if (!it->renewed && !it->cert) {
		printf("%s: renewal FAILED: %s\n", label,
		       cli_error_text(&it->error, text, sizeof(text)));
		return;
	}
	if (!it->renewed) {
		printf("%s: due (%s left), renewal FAILED: %s\n", label, left,
		       cli_error_text(&it->error, text, sizeof(text)));
		return;
	}
	printf("%s: renewed (%s were left)", label, left);
	if (it->resumed)
		printf(" by an interrupted run, finished now");
	if (it->result.retired_label)
		printf("; the old key is kept as '%s'", cli_text(it->result.retired_label));
	printf("\n");
	acme_cli_print_enrolled(&it->result, NULL, now, 2);
	if (hook->ran)
		printf("  %-22s%s (exit status %d)\n", "Hook", hook->status ? "FAILED" : "ran",
		       hook->status);
}

int cmd_renew(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"key", required_argument, NULL, OPT_KEY},
						{"all", no_argument, NULL, OPT_ALL},
						{"days", required_argument, NULL, OPT_DAYS},
						{"reuse-key", no_argument, NULL, OPT_REUSE_KEY},
						{"hook", required_argument, NULL, OPT_HOOK},
						ACME_CLI_OPTIONS,
						CLI_GLOBAL_OPTIONS};
	struct acme_cli ac;
	const char *key_uri = NULL, *hook = NULL;
	bool all = false, reuse = false;
	long days = -1;
	hc_renew_plan plan = {0};
	hc_acme_session *acme = NULL;
	hc_chain_pool *roots = NULL;
	struct hook_run *hooks = NULL;
	struct cli_token t = {0};
	hc_error err = {0}, acme_err = {0};
	bool acme_failed = false;
	size_t due = 0, renewed = 0, failed = 0;
	hc_rc first_rc = HC_OK;
	json_t *items = NULL;
	time_t now;
	int c, r;

	acme_cli_init(&ac);
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (acme_cli_option(&ac, c, optarg))
			continue;
		switch (c) {
		case OPT_KEY: key_uri = optarg; break;
		case OPT_ALL: all = true; break;
		case OPT_DAYS:
			if (!cli_number(optarg, 0, 3650, &days)) {
				r = cli_usage_error(cli, "--days %s: a number of days, 0-3650",
						    optarg);
				goto out;
			}
			break;
		case OPT_REUSE_KEY: reuse = true; break;
		case OPT_HOOK: hook = optarg; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_renew)) != CLI_NEXT)
				goto out;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		goto out;
	if (!key_uri == !all) {
		r = cli_usage_error(cli, "give --key URI (one key) or --all (every key with a "
					 "certificate)");
		goto out;
	}
	if (acme_cli_finish(&ac, &err) != HC_OK) {
		char text[CLI_ERROR_TEXT_SIZE];
		r = cli_usage_error(cli, "%s", cli_error_text(&err, text, sizeof(text)));
		goto out;
	}
	now = time(NULL);
	/*
	 * The trust anchors first: a renewal an earlier run left half-handed-over
	 * is finished on the token by the plan, and must then be reported.
	 */
	if (hc_acme_roots_load(&ac.setup, &roots, &err) != HC_OK ||
	    cli_token_open(cli, key_uri, CLI_TOKEN_RW | CLI_TOKEN_LOGIN, &t, &err) != HC_OK ||
	    hc_renew_plan_make(t.session, key_uri, days, now, &plan, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (plan.count && !(hooks = calloc(plan.count, sizeof(*hooks)))) {
		r = cli_fail(cli, &(hc_error){.rc = HC_IO, .message = "out of memory"});
		goto out;
	}
	for (size_t i = 0; i < plan.count; i++) {
		hc_renew_item *it = &plan.items[i];
		hc_error e = {0};
		if (!it->due)
			continue;
		due++;
		if (it->attempted) { /* an interrupted renewal that could not be finished */
			failed++;
			first_rc = first_rc ? first_rc : it->error.rc;
			continue;
		}
		if (it->resumed) {
			/* Finished on the token by the plan: reported, nothing ordered. */
			if (hc_renew_resumed(t.session, roots, it, &e) != HC_OK) {
				failed++;
				first_rc = first_rc ? first_rc : e.rc;
				continue;
			}
		} else {
			/* The CA is contacted only when something is due, and once. */
			if (!acme && !acme_failed &&
			    hc_acme_session_open(t.session, &ac.setup, &acme, &acme_err) != HC_OK)
				acme_failed = true;
			if (acme_failed) {
				it->attempted = true;
				it->error = acme_err;
				failed++;
				first_rc = first_rc ? first_rc : acme_err.rc;
				continue;
			}
			if (hc_renew_one(acme, it, reuse, &e) != HC_OK) {
				failed++;
				first_rc = first_rc ? first_rc : e.rc;
				continue;
			}
		}
		renewed++;
		if (hook) {
			hooks[i] = run_hook(hook, it);
			if (hooks[i].status != 0) {
				failed++;
				first_rc = first_rc ? first_rc : HC_CHECK;
			}
		}
	}
	now = time(NULL);
	if (cli->json) {
		items = json_array();
		for (size_t i = 0; i < plan.count; i++)
			json_array_append_new(items, json_item(&plan.items[i], &hooks[i], now));
		char text[CLI_ERROR_TEXT_SIZE];
		json_t *error = plan.rc == HC_OK
					? json_null()
					: json_pack("{s:s, s:i}", "message",
						    cli_error_text(&plan.error, text, sizeof(text)),
						    "exit_code", (int)plan.rc);
		r = cli_json_emit(json_pack(
			"{s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o}", "token", cli_json_token(&t),
			"account", acme ? acme_cli_json_account(acme) : json_null(), "checked",
			(json_int_t)plan.count, "due", (json_int_t)due, "renewed",
			(json_int_t)renewed, "failed", (json_int_t)failed, "certificates", items,
			"error", error));
	} else {
		for (size_t i = 0; i < plan.count; i++)
			print_item(&plan.items[i], &hooks[i], now);
		if (plan.count == 0)
			printf("No certificates on token '%s' to renew\n", t.label);
		else if (due == 0)
			printf("Nothing due: %zu certificate%s checked\n", plan.count,
			       plan.count == 1 ? "" : "s");
		r = 0;
	}
	for (size_t i = 0; i < plan.count; i++) {
		char text[CLI_ERROR_TEXT_SIZE];
		if (plan.items[i].attempted && !plan.items[i].renewed)
			cli_errorf(cli, "%s: %s",
				   plan.items[i].key.label ? plan.items[i].key.label : "",
				   cli_error_text(&plan.items[i].error, text, sizeof(text)));
	}
	/* The plan stopped after finishing interrupted renewals: those reported, then this. */
	if (plan.rc != HC_OK) {
		char text[CLI_ERROR_TEXT_SIZE];
		cli_errorf(cli, "%s", cli_error_text(&plan.error, text, sizeof(text)));
		first_rc = first_rc ? first_rc : plan.rc;
	}
	if (r == 0 && first_rc != HC_OK)
		r = (int)first_rc;
out:
	hc_chain_pool_free(roots);
	free(hooks);
	hc_renew_plan_clear(&plan);
	hc_acme_session_close(acme);
	cli_token_close(&t);
	acme_cli_clear(&ac);
	return r;
}
