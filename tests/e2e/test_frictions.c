/*
 * Small frictions of a first field trial (issue 13 point 6): -h/-V, one
 * error prefix, --pin refused with the way to do it, OpenSSL curve names,
 * the AIA hint only with an AIA URL, paths without "//", one profile rule per
 * line, backup's extractability before the passphrase (test_backup.c), and
 * request output that leads with the request.
 */
#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(frictions, .init = ts_setup_token, .fini = ts_teardown);

Test(frictions, short_help_and_version)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT -h");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Usage: hsmcert") && strstr(r.out, "-V, --version"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT -V");
	ts_assert_status(&r, 0);
	cr_assert(strncmp(r.out, "hsmcert ", 8) == 0, "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT keygen -h");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Usage: hsmcert keygen"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT backup -h");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Usage: hsmcert backup"), "%s", r.out);
	ts_result_free(&r);
}

/* Every error of every kind starts "hsmcert COMMAND: error: ". */
Test(frictions, one_error_prefix)
{
	static const char *cmds[] = {
		"keygen --bogus",			      /* getopt: unknown option */
		"keygen --label",			      /* getopt: missing value */
		"keygen --label k extra",		      /* extra argument */
		"keygen --label k --type rsa:1",	      /* bad value */
		"csr --key pkcs11:object=none --cn www.x.hk", /* the token's answer */
		"show /nonexistent.pem",		      /* I/O */
	};
	struct ts_result r;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "hsmcert %.*s: error: ", (int)strcspn(cmds[i], " "),
			 cmds[i]);
		ts_run(&r, "$HSMCERT %s", cmds[i]);
		cr_assert_neq(r.status, 0, "%s", cmds[i]);
		cr_assert(strncmp(r.err, want, strlen(want)) == 0, "%s: want '%s' first in:\n%s",
			  cmds[i], want, r.err);
		ts_result_free(&r);
	}
}

/* pkcs11-tool's habit: --pin VALUE. Refused with the way to do it; never echoed. */
Test(frictions, pin_on_the_command_line_is_refused)
{
	static const struct {
		const char *args, *want;
	} cases[] = {
		{"list --pin 98765", "use --pin-source env:VAR"},
		{"list --pin=98765", "use --pin-source env:VAR"},
		{"--pin 98765 list", "use --pin-source env:VAR"},
		{"init-token --free --label x --so-pin 98765", "use --so-pin-source env:VAR"},
		{"backup --key pkcs11:object=k -o k.hsmb --passphrase 98765",
		 "use --passphrase-source env:VAR"},
	};
	struct ts_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ts_run(&r, "$HSMCERT %s", cases[i].args);
		ts_assert_status(&r, 2);
		cr_assert(strstr(r.err, "not taken on the command line"), "%s", r.err);
		cr_assert(strstr(r.err, cases[i].want), "%s: %s", cases[i].args, r.err);
		cr_assert_null(strstr(r.err, "98765"), "the secret was echoed: %s", r.err);
		cr_assert_null(strstr(r.out, "98765"), "the secret was echoed: %s", r.out);
		ts_result_free(&r);
	}
	/* --pin-source still works, and abbreviations of it are not --pin. */
	ts_run(&r, "PINVAR=%s $HSMCERT list --pin-source env:PINVAR", TS_PIN);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

/* OpenSSL's and SEC 2's curve names; the key is what they name (p11tool, independent). */
Test(frictions, openssl_curve_names)
{
	static const struct {
		const char *arg, *type, *p11tool;
	} cases[] = {
		{"prime256v1", "ec:P-256", "ECDSA-SECP256R1"},
		{"ec:secp384r1", "ec:P-384", "ECDSA-SECP384R1"},
		{"secp256r1", "ec:P-256", "ECDSA-SECP256R1"},
	};
	struct ts_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *doc;
		char *curve;
		ts_run(&r, "$HSMCERT keygen --json --label k%zu --type %s", i, cases[i].arg);
		ts_assert_status(&r, 0);
		doc = ts_json(&r);
		cr_assert_str_eq(
			json_string_value(json_object_get(json_object_get(doc, "key"), "type")),
			cases[i].type);
		json_decref(doc);
		ts_result_free(&r);
		curve = ts_sh(
			"p11tool --provider %s --list-all "
			"'pkcs11:token=test;object=k%zu;type=public' 2>/dev/null | grep 'Type:'",
			TS_SOFTHSM, i);
		cr_assert(strstr(curve, cases[i].p11tool), "%s: %s", cases[i].arg, curve);
		free(curve);
	}
	ts_run(&r, "$HSMCERT keygen --label bad --type secp521r1");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "prime256v1"), "%s", r.err);
	ts_result_free(&r);
}

/*
 * "--fetch downloads it from the AIA URL" only when the certificate has one:
 * a leaf without AIA gets no such advice.
 */
Test(frictions, aia_hint_only_with_an_aia_url)
{
	struct ts_result r;

	free(ts_sh(
		"openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj '/CN=Hidden CA' "
		"-days 30 -out ca.crt -addext basicConstraints=critical,CA:TRUE "
		"-addext keyUsage=keyCertSign,cRLSign 2>/dev/null && "
		"openssl req -new -newkey rsa:2048 -nodes -keyout leaf.key -subj /CN=www.x.hk "
		"-out leaf.csr 2>/dev/null && "
		"openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 10 "
		"-out plain.crt 2>/dev/null && "
		"printf 'authorityInfoAccess=caIssuers;URI:http://127.0.0.1:9/ca.crt\\n' > aia.ext "
		"&& openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		"-days 10 -extfile aia.ext -out aia.crt 2>/dev/null && true"));
	ts_run(&r, "$HSMCERT chain --cert plain.crt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "no issuer for"), "%s", r.err);
	cr_assert_null(strstr(r.err, "AIA"), "a hint about an AIA URL the leaf lacks: %s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT chain --cert aia.crt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "--fetch downloads it from the AIA URL"), "%s", r.err);
	ts_result_free(&r);
}

/* provision --out-dir out/ (as shells complete it): paths printed with one slash. */
Test(frictions, paths_without_double_slashes)
{
	struct ts_result r;

	ts_write("plan.json", "{\"keys\": [{\"label\": \"w\", \"cn\": \"w.example.hk\"}]}\n");
	free(ts_sh("mkdir out"));
	ts_run(&r, "$HSMCERT provision plan.json --out-dir out/");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "out/w.csr"), "%s", r.out);
	cr_assert_null(strstr(r.out, "//"), "%s", r.out);
	ts_result_free(&r);
	cr_assert(ts_exists("out/w.csr"));
}

/* Several rules broken: one per line, each named. */
Test(frictions, profile_violations_one_per_line)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT keygen --label web");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT csr --key pkcs11:object=web --cn a_b.example.hk --san mail "
		   "--san email:a@x.hk --profile cabf");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "(3 rules):\n  rule 'no underscores': "), "%s", r.err);
	cr_assert(strstr(r.err, "\n  rule 'no internal names': "), "%s", r.err);
	cr_assert(strstr(r.err, "\n  rule 'SAN types': "), "%s", r.err);
	ts_result_free(&r);
}

/* request says first what the user asked for (the request), the attribute dump on --verbose. */
Test(frictions, request_output_leads_with_the_request)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT request --label web --cn www.x.hk -o web.csr");
	ts_assert_status(&r, 0);
	cr_assert(strncmp(r.out, "Wrote certificate request web.csr", 33) == 0, "%s", r.out);
	cr_assert(strstr(r.out, "Generated rsa:2048 key pair 'web'"), "%s", r.out);
	cr_assert_null(strstr(r.out, "always_sensitive"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT request --label mail --cn mail.x.hk -o mail.csr --verbose");
	ts_assert_status(&r, 0);
	cr_assert(strncmp(r.out, "Wrote certificate request mail.csr", 34) == 0, "%s", r.out);
	cr_assert(strstr(r.out, "always_sensitive"), "%s", r.out);
	ts_result_free(&r);
}
