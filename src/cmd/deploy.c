/* SPEC: deploy nginx|apache. */
#include "cli.h"

#include "hsmcert/deploy.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_KEY = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_OUT_DIR,
	OPT_SERVER_NAME,
	OPT_LISTEN,
	OPT_SERVICE_USER,
	OPT_CHAIN,
	OPT_ROOTS,
	OPT_TEST,
	OPT_FORCE,
};

#define MAX_ROOTS 16

int usage_deploy(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert deploy nginx|apache --key URI --out-dir DIR [--server-name NAME]\n"
		"                      [--listen [ADDR:]PORT] [--service-user USER] [--chain FILE]\n"
		"                      [--roots PATH]... [--test] [--force] [--token URI]\n"
		"                      [--pin-source SRC] [--json]\n\n"
		"Puts the key's certificate in service in nginx or Apache; the key stays on the\n"
		"token and the server signs through libp11's PKCS#11 engine. The key is checked\n"
		"first (its certificate, a signature in the token, the dates, the chain), then\n"
		"DIR gets:\n"
		"  chain.pem                the certificate and the CA certificates it needs\n"
		"  openssl.cnf              loads the engine for the token's module; the server\n"
		"                           needs OPENSSL_CONF=DIR/openssl.cnf when it starts\n"
		"  nginx-site.conf          a server block for http {}, or\n"
		"  apache-site.conf         a VirtualHost; the key is its pkcs11: URI with\n"
		"                           ?pin-source=file:DIR/token.pin\n"
		"  nginx.conf|apache2.conf  a complete configuration around the site that runs\n"
		"                           as is, to try it before copying the site\n"
		"  token.pin                the PIN (no newline), mode 0640 with the service\n"
		"                           user's group (0600 when that group cannot be given)\n"
		"  www/index.html           a page to serve (kept when it exists)\n"
		"It prints the commands to start, test, reload and stop, and the systemd drop-in\n"
		"for the packaged service; then checks that the service user can reach the\n"
		"token's files (SoftHSM2), the PIN file and the page, printing the command that\n"
		"fixes each problem.\n\n"
		"  --key URI                the private key, e.g. 'pkcs11:object=web'\n"
		"  --out-dir DIR            where the files go (created when missing)\n"
		"  --server-name NAME       default: the certificate's first DNS name\n"
		"  --listen [ADDR:]PORT     default %s\n"
		"  --service-user USER      the user the server's workers run as (default %s)\n"
		"  --chain FILE             the CA certificates to send (PEM, DER, PKCS#7, PKCS#12);\n"
		"                           default: the CA certificates on the token\n"
		"  --roots PATH             trust anchors the chain must verify to (repeatable;\n"
		"                           default: the system trust store)\n"
		"  --test                   run the server's configuration test on the result\n"
		"                           (nginx -t loads the key through the token)\n"
		"  --force                  replace files deploy wrote before\n\n"
		"The PIN comes from --pin-source, the URI's pin-source, HSMCERT_PIN or a prompt;\n"
		"it is checked by logging in before anything is written.\n\n"
		"Exit status: 0 deployed; 1 the key's checks failed, a file exists (no --force),\n"
		"the service user cannot reach what it needs, or the server's test failed;\n"
		"2 usage; 3 token; 4 files.\n\n" CLI_GLOBAL_USAGE,
		HC_DEPLOY_LISTEN, HC_DEPLOY_SERVICE_USER);
	return 0;
}

static json_t *json_result(json_t *token, const hc_check_result *c, const hc_deploy_result *r,
			   hc_deploy_server server)
{
	json_t *files = json_array(), *problems = json_array(), *test = json_null();
	char mode[8];

	for (size_t i = 0; i < r->file_count; i++) {
		snprintf(mode, sizeof(mode), "%04o", (unsigned)r->files[i].mode);
		json_array_append_new(files, json_pack("{s:s, s:s, s:s}", "role", r->files[i].role,
						       "path", r->files[i].path, "mode", mode));
	}
	for (size_t i = 0; i < r->problem_count; i++)
		json_array_append_new(problems,
				      json_pack("{s:s, s:s, s:s}", "path", r->problems[i].path,
						"problem", r->problems[i].problem, "fix",
						r->problems[i].fix));
	if (r->tested)
		test = json_pack("{s:b, s:o}", "passed", r->test_passed, "output",
				 cli_json_string(r->test_output));
	return json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:o, s:{s:s, s:s, "
			 "s:s, s:s, s:s}, s:{s:s, s:s}, s:s, s:b, s:o, s:o}",
			 "server", hc_deploy_server_name(server), "token", token, "key",
			 cli_json_key(&c->key), "out_dir", r->out_dir, "server_name",
			 r->server_name, "listen", r->listen, "key_uri", r->key_uri, "pin_file",
			 cli_json_string(r->pin_file), "service_user", r->service_user,
			 "chain_certificates", (json_int_t)r->chain_count, "files", files,
			 "commands", "environment", r->environment, "start", r->start_command,
			 "test", r->test_command, "reload", r->reload_command, "stop",
			 r->stop_command, "systemd", "unit", r->systemd_unit, "dropin",
			 r->systemd_dropin, "install", r->install_note, "token_files_checked",
			 r->token_files_checked, "access_problems", problems, "test", test);
}

static void print_result(const hc_check_result *c, const hc_deploy_result *r,
			 hc_deploy_server server)
{
	char mode[8];

	printf("Deployed key '%s' for %s as %s in %s\n", c->key.label,
	       hc_deploy_server_name(server), r->server_name, r->out_dir);
	for (size_t i = 0; i < r->file_count; i++) {
		snprintf(mode, sizeof(mode), "%04o", (unsigned)r->files[i].mode);
		printf("  %-13s %s  %s\n", r->files[i].role, mode, r->files[i].path);
	}
	printf("  %-13s %s\n", "key", r->key_uri);
	printf("  %-13s %zu certificate%s\n", "chain", r->chain_count,
	       r->chain_count == 1 ? "" : "s");
	printf("  %-13s %s\n\n", "access",
	       r->problem_count		? "PROBLEMS for the service user (below)"
	       : r->token_files_checked ? "the service user reaches the token's files, the PIN "
					  "file and the page"
					: "the service user reaches the PIN file and the page; the "
					  "token's own access (device, network) is the module's "
					  "business, not checked");
	printf("Try it (the variables must be in the server's environment when it starts):\n"
	       "  start   %s\n  test    %s\n  reload  %s\n  stop    %s\n\n",
	       r->start_command, r->test_command, r->reload_command, r->stop_command);
	printf("For the packaged service (%s), the systemd drop-in:\n%s\n", r->systemd_unit,
	       r->systemd_dropin);
	printf("Install: %s\n", r->install_note);
	if (r->tested)
		printf("\n%s's configuration test %s:\n%s", hc_deploy_server_name(server),
		       r->test_passed ? "passed" : "FAILED", r->test_output ? r->test_output : "");
}

/* A SoftHSM2 token's configuration as the server must see it: absolute. */
static char *softhsm2_conf_of(const struct cli_token *t)
{
	char manufacturer[33], path[PATH_MAX];
	const char *conf = getenv("SOFTHSM2_CONF");

	HC_P11_STRING(t->slot.token.manufacturerID, manufacturer);
	if (!conf || !*conf || strcmp(manufacturer, "SoftHSM project") != 0)
		return NULL;
	return realpath(conf, path) ? strdup(path) : strdup(conf);
}

int cmd_deploy(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"key", required_argument, NULL, OPT_KEY},
		{"out-dir", required_argument, NULL, OPT_OUT_DIR},
		{"server-name", required_argument, NULL, OPT_SERVER_NAME},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"service-user", required_argument, NULL, OPT_SERVICE_USER},
		{"chain", required_argument, NULL, OPT_CHAIN},
		{"roots", required_argument, NULL, OPT_ROOTS},
		{"test", no_argument, NULL, OPT_TEST},
		{"force", no_argument, NULL, OPT_FORCE},
		CLI_GLOBAL_OPTIONS};
	const char *roots[MAX_ROOTS];
	hc_check_params cp = {.roots = roots};
	hc_check_result checked = {0};
	hc_deploy_params dp = {0};
	hc_deploy_result result = {0};
	struct cli_token t = {0};
	struct cli_passphrase pass;
	bool test = false;
	json_t *token_json = NULL;
	char *softhsm2_conf = NULL;
	hc_error err = {0};
	hc_rc rc;
	int c, r;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_KEY: cp.key_uri = optarg; break;
		case OPT_OUT_DIR: dp.out_dir = optarg; break;
		case OPT_SERVER_NAME: dp.server_name = optarg; break;
		case OPT_LISTEN: dp.listen = optarg; break;
		case OPT_SERVICE_USER: dp.service_user = optarg; break;
		case OPT_CHAIN: cp.chain_path = optarg; break;
		case OPT_ROOTS:
			if (cp.root_count == MAX_ROOTS)
				return cli_usage_error(cli, "at most %d --roots", MAX_ROOTS);
			roots[cp.root_count++] = optarg;
			break;
		case OPT_TEST: test = true; break;
		case OPT_FORCE: dp.force = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_deploy)) != CLI_NEXT)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, "which server? deploy nginx or deploy apache");
	if (optind + 1 < argc)
		return cli_usage_error(cli, "one server at a time, not '%s'", argv[optind + 1]);
	if (hc_deploy_server_parse(argv[optind], &dp.server, &err) != HC_OK)
		return cli_usage_error(cli, "%s", err.message);
	if (!cp.key_uri)
		return cli_usage_error(cli, "--key URI is required: the private key to serve with");
	if (!dp.out_dir || !*dp.out_dir)
		return cli_usage_error(cli, "--out-dir DIR is required: where the files go");
	cp.now = time(NULL);
	cp.warn_days = 0;
	cli_passphrase_init(&pass, cli);
	cp.passphrase = &pass.ask;

	if (cli_token_open(cli, cp.key_uri, CLI_TOKEN_LOGIN | CLI_TOKEN_KEEP_PIN, &t, &err) !=
	    HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	rc = hc_check_key(t.session, &cp, &checked, &err);
	if (rc != HC_OK && (rc != HC_CHECK || !checked.failed)) {
		r = cli_fail(cli, &err);
		goto out;
	}
	softhsm2_conf = softhsm2_conf_of(&t);
	dp.module_path = hc_module_path(t.module);
	dp.token = &t.slot.token;
	dp.checked = &checked;
	dp.pin = t.pin;
	dp.softhsm2_conf = softhsm2_conf;
	if (hc_deploy_write(&dp, &result, &err) != HC_OK) {
		if (err.hint == HC_HINT_FORCE_REPLACE)
			hc_error_prefix(&err, "nothing written");
		r = cli_fail(cli, &err);
		goto out;
	}
	token_json = cli_json_token(&t);
	cli_token_close(&t);
	if (test && (rc = hc_deploy_test(&dp, &result, &err)) != HC_OK && !result.tested) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		r = cli_json_emit(json_result(token_json, &checked, &result, dp.server));
		token_json = NULL;
	} else {
		print_result(&checked, &result, dp.server);
		r = 0;
	}
	for (size_t i = 0; i < result.problem_count; i++) {
		cli_errorf(cli, "%s: %s; fix: %s", result.problems[i].path,
			   result.problems[i].problem, result.problems[i].fix);
		r = r ? r : HC_CHECK;
	}
	if (test && !result.test_passed) {
		cli_errorf(cli, "%s",
			   err.message[0] ? err.message : "the configuration test failed");
		r = r ? r : HC_CHECK;
	}
out:
	json_decref(token_json);
	hc_deploy_result_clear(&result);
	hc_check_result_clear(&checked);
	free(softhsm2_conf);
	cli_token_close(&t);
	cli_passphrase_clear(&pass);
	return r;
}
