/* The command line itself: help, version, global options, usage errors. */
#include "support.h"

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
