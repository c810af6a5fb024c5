/* The command line itself: help, version, global options, usage errors. */
#include "support.h"

#include <jansson.h>
#include <string.h>

TestSuite(cli, .init = ts_setup_token, .fini = ts_teardown);

Test(cli, help_and_version)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT --help");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "keygen") && strstr(r.out, "Exit status"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT help keygen");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Usage: hsmcert keygen"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT keygen --help");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "--exportable"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT --version");
	ts_assert_status(&r, 0);
	cr_assert(strncmp(r.out, "hsmcert ", 8) == 0, "%s", r.out);
	ts_result_free(&r);
}

Test(cli, usage_errors_exit_2)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT frobnicate");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "unknown command 'frobnicate'"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT help frobnicate");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT tokens --no-such-option");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "Try 'hsmcert tokens --help'"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT --token");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
}

Test(cli, global_options_before_or_after_command)
{
	struct ts_result r;

	ts_run(&r, "unset HSMCERT_MODULE; $HSMCERT --module %s --json tokens", TS_SOFTHSM);
	ts_assert_status(&r, 0);
	cr_assert(r.out[0] == '{', "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "unset HSMCERT_MODULE; $HSMCERT tokens --module %s --json", TS_SOFTHSM);
	ts_assert_status(&r, 0);
	cr_assert(r.out[0] == '{', "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_JSON=1 $HSMCERT tokens");
	ts_assert_status(&r, 0);
	cr_assert(r.out[0] == '{', "%s", r.out);
	ts_result_free(&r);
}

Test(cli, missing_module_is_clear)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT --module /nonexistent/libpkcs11.so tokens");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "/nonexistent/libpkcs11.so: No such file or directory"), "%s",
		  r.err);
	ts_result_free(&r);
	ts_write("notamodule.so", "garbage");
	ts_run(&r, "$HSMCERT --module $TEST_DIR/notamodule.so tokens");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "cannot load PKCS#11 module"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_MODULE=/nonexistent.so $HSMCERT keygen --label k");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
}

Test(cli, p11kit_proxy_is_the_default)
{
	struct ts_result r;

	/* SoftHSM2 is registered with p11-kit, so the proxy sees the test token. */
	ts_run(&r, "unset HSMCERT_MODULE; $HSMCERT --json tokens");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "p11-kit-proxy"), "%s", r.out);
	cr_assert(strstr(r.out, "\"label\": \"test\""), "%s", r.out);
	ts_result_free(&r);
}

/*
 * Usage errors answer in JSON too when --json stands anywhere on the command
 * line, also after the bad option getopt stops at; the message still goes to
 * stderr and stdout holds exactly one document.
 */
Test(cli, usage_errors_give_the_json_error_document)
{
	static const struct {
		const char *args, *says;
	} bad[] = {
		{"keygen --json", "--label is required"},
		{"--json keygen --type rsa:2048", "--label is required"},
		{"list --json --warn-days x", "--warn-days"},
		{"list --warn-days x --json", "--warn-days"},
		{"keygen --no-such-option --json --label k", "'--no-such-option'"},
		{"tokens --json --no-such-option", "'--no-such-option'"},
		{"backup --all --json -o", "'-o'"},
		{"csr --json --key", "option '--key' needs a value"},
		{"delete --yes=1 --json", "option '--yes' takes no value"},
		{"delete --json --frob=1", "option '--frob'"},
		{"restore --json a.hsmb b.hsmb", "one backup FILE"},
		{"init-token --label x --json", "exactly one of"},
		{"--json frobnicate", "unknown command 'frobnicate'"},
		{"--json", "no command"},
		{"show --js", "FILE"},
	};
	struct ts_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *doc, *e;

		ts_run(&r, "$HSMCERT %s", bad[i].args);
		ts_assert_status(&r, 2);
		cr_assert(r.err[0], "%s: no message on stderr", bad[i].args);
		doc = ts_json(&r);
		e = json_object_get(doc, "error");
		cr_assert(json_is_object(e), "%s: %s", bad[i].args, r.out);
		cr_assert_eq(json_integer_value(json_object_get(e, "exit_code")), 2, "%s: %s",
			     bad[i].args, r.out);
		cr_assert(strstr(json_string_value(json_object_get(e, "message")), bad[i].says),
			  "%s: %s", bad[i].args, r.out);
		json_decref(doc);
		ts_result_free(&r);
	}

	/* HSMCERT_JSON asks for the document as --json does; without either, stdout stays empty. */
	ts_run(&r, "HSMCERT_JSON=1 $HSMCERT keygen --bogus");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.out, "\"error\""), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT keygen --bogus");
	ts_assert_status(&r, 2);
	cr_assert_str_empty(r.out);
	ts_result_free(&r);
	/* After "--" a --json is an operand, not the option. */
	ts_run(&r, "$HSMCERT show -- --json");
	cr_assert(!strstr(r.out, "\"error\""), "%s", r.out);
	ts_result_free(&r);
}

/*
 * '--json' as the value of another option is not a request for JSON: past
 * parsing, a token error prints no error document (stdout stays empty).
 */
Test(cli, json_as_an_option_value_is_not_json)
{
	struct ts_result r;

	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GenerateKeyPair $HSMCERT --module $HSMCERT_FAULTMOD "
		   "keygen --label --json");
	ts_assert_status(&r, 3);
	cr_assert_eq(strlen(r.out), 0, "%s", r.out);
	cr_assert(strstr(r.err, "C_GenerateKeyPair failed"), "%s", r.err);
	ts_result_free(&r);
}

/*
 * The library names the condition and the input; the CLI words the advice with
 * its flags (src/cmd/advice.c), the same on stderr and in the JSON document.
 */
Test(cli, library_conditions_become_flag_advice)
{
	struct ts_result r;
	json_t *doc;
	const char *message;

	ts_run(&r, "$HSMCERT keygen --label web --type ec:P-256 >/dev/null && "
		   "$HSMCERT csr --key pkcs11:object=web --ou x");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "a server certificate request needs a host name: give CN= in the "
				"subject, --cn, --san or --wildcard"),
		  "%s", r.err);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT keygen --json --label web --type ec:P-256");
	ts_assert_status(&r, 1);
	doc = json_loads(r.out, 0, NULL);
	cr_assert(doc, "%s", r.out);
	message = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
	cr_assert(message && strstr(message, "label 'web' already exists on the token (") &&
			  strstr(message, "); choose another label, or --if-missing to accept it"),
		  "%s", r.out);
	cr_assert(strstr(r.err, "--if-missing to accept it"), "%s", r.err);
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT audit --policy bogus");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "--policy: 'bogus': use non-exportable, sign-only, "
				"non-exportable,sign-only or none"),
		  "%s", r.err);
	ts_result_free(&r);
}
