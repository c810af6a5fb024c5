/*
 * PKCS#12 as an input of chain, import and check (SPEC: "Input formats are
 * detected by content ... PKCS#12"): the passphrase comes from
 * --passphrase-source, HSMCERT_PASSPHRASE or a prompt on a terminal, and is
 * asked for only when a PKCS#12 is met. Files are made by openssl pkcs12,
 * results checked with openssl verify and pkcs11-tool.
 */
#include "certtest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- chain: no token, the shared test PKI --------------------------- */

static void setup_pki(void)
{
	ts_setup_empty();
	ts_use_testpki();
	/* The leaf with its key and the Sub CA (as Windows exports it), and the Sub CA alone. */
	free(ts_sh("openssl pkcs12 -export -in \"$PKI/leaf.crt\" -inkey \"$PKI/leaf.key\" "
		   "-certfile \"$PKI/sub.crt\" -passout pass:secretpw -out leaf.pfx && "
		   "openssl pkcs12 -export -nokeys -in \"$PKI/sub.crt\" -passout pass:secretpw "
		   "-out sub.pfx && printf 'secretpw\\n' >pw.txt"));
}

TestSuite(inputs_chain, .init = setup_pki, .fini = ts_teardown);

static void assert_openssl_verifies(const char *chain)
{
	struct ts_result r;

	ts_run(&r, "openssl verify -CAfile \"$PKI/root3.crt\" -untrusted %s \"$PKI/leaf.crt\"",
	       chain);
	cr_assert(r.status == 0 && strstr(r.out, ": OK"), "openssl verify: %s%s", r.out, r.err);
	ts_result_free(&r);
}

Test(inputs_chain, cert_from_pkcs12_with_each_passphrase_source)
{
	static const char *const sources[] = {
		"HSMCERT_PASSPHRASE=secretpw $HSMCERT chain",
		"PW=secretpw $HSMCERT chain --passphrase-source env:PW",
		"$HSMCERT chain --passphrase-source file:pw.txt",
		"$HSMCERT --passphrase-source fd:3 chain 3<pw.txt",
	};
	struct ts_result r;

	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		ts_run(&r,
		       "rm -f chain.pem; %s --cert leaf.pfx --roots \"$PKI/roots-new\" "
		       "-o chain.pem </dev/null",
		       sources[i]);
		ts_assert_status(&r, 0);
		cr_assert(strstr(r.out, "Chain verified") && ts_text_has(r.out, "from", "leaf.pfx"),
			  "%s: %s", sources[i], r.out);
		ts_result_free(&r);
		/* The Sub CA came from the PKCS#12 too: openssl verifies the leaf with it. */
		assert_openssl_verifies("chain.pem");
	}
}

Test(inputs_chain, wrong_or_missing_passphrase)
{
	struct ts_result r;

	ts_run(&r, "HSMCERT_PASSPHRASE=nope $HSMCERT chain --cert leaf.pfx --roots "
		   "\"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "leaf.pfx: wrong passphrase"), "%s", r.err);
	cr_assert(!ts_exists("chain.pem"));
	ts_result_free(&r);

	/* openssl agrees the passphrase is wrong. */
	ts_run(&r, "openssl pkcs12 -in leaf.pfx -passin pass:nope -noout");
	cr_assert_neq(r.status, 0);
	ts_result_free(&r);

	/* No source and no terminal: a clear usage error naming the ways to give it. */
	ts_run(&r, "$HSMCERT chain --cert leaf.pfx --roots \"$PKI/roots-new\" </dev/null");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "leaf.pfx is PKCS#12") && strstr(r.err, "--passphrase-source") &&
			  strstr(r.err, "HSMCERT_PASSPHRASE"),
		  "%s", r.err);
	ts_result_free(&r);

	/* A source that does not exist is an error too, never a silent empty passphrase. */
	ts_run(&r, "$HSMCERT chain --cert leaf.pfx --roots \"$PKI/roots-new\" "
		   "--passphrase-source file:missing.txt");
	cr_assert(r.status == 2 || r.status == 4, "exit %d: %s", r.status, r.err);
	ts_result_free(&r);
}

Test(inputs_chain, intermediates_from_pkcs12_file_and_folder)
{
	struct ts_result r;

	ts_run(&r, "HSMCERT_PASSPHRASE=secretpw $HSMCERT chain --cert \"$PKI/leaf.crt\" "
		   "--intermediates sub.pfx --roots \"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	assert_openssl_verifies("chain.pem");

	/* In a folder, beside PEM files: used with the passphrase... */
	free(ts_sh("mkdir dl && cp sub.pfx \"$PKI/downloads/ev.cer\" dl/"));
	ts_run(&r, "HSMCERT_PASSPHRASE=secretpw $HSMCERT chain --cert \"$PKI/leaf.crt\" "
		   "--intermediates dl --roots \"$PKI/roots-new\" -o chain2.pem");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	assert_openssl_verifies("chain2.pem");
	/* ...and a wrong one is an error, not a file skipped in silence. */
	ts_run(&r, "HSMCERT_PASSPHRASE=nope $HSMCERT chain --cert \"$PKI/leaf.crt\" "
		   "--intermediates dl --roots \"$PKI/roots-new\"");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "--intermediates: dl/sub.pfx: wrong passphrase"), "%s", r.err);
	ts_result_free(&r);
}

Test(inputs_chain, legacy_pkcs12_as_older_windows_writes_it)
{
	struct ts_result r;

	/* 3DES/RC2 (openssl -legacy): the encryption older Windows and Exchange export. */
	free(ts_sh("openssl pkcs12 -export -legacy -in \"$PKI/leaf.crt\" -inkey \"$PKI/leaf.key\" "
		   "-certfile \"$PKI/sub.crt\" -passout pass:secretpw -out legacy.pfx"));
	ts_run(&r, "HSMCERT_PASSPHRASE=secretpw $HSMCERT chain --cert legacy.pfx --roots "
		   "\"$PKI/roots-new\" -o chain.pem");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	assert_openssl_verifies("chain.pem");
}

/*
 * Run a command on a pseudo-terminal. When `answer` is set, type it once the
 * command asks (its terminal's echo is off); the output includes the prompt.
 * Bounded: 124 if nothing ends within 60 seconds.
 */
static const char pty_driver[] =
	"import os, pty, select, sys, termios, time\n"
	"cmd, answer = sys.argv[1], sys.argv[2].encode() if len(sys.argv) > 2 else None\n"
	"pid, fd = pty.fork()\n"
	"if pid == 0:\n"
	"    os.execvp('sh', ['sh', '-c', cmd])\n"
	"out, deadline = b'', time.time() + 60\n"
	"while True:\n"
	"    if answer is not None and b'assphrase' in out and\\\n"
	"            not termios.tcgetattr(fd)[3] & termios.ECHO:\n"
	"        os.write(fd, answer + b'\\n')\n"
	"        answer = None\n"
	"    left = deadline - time.time()\n"
	"    if left <= 0:\n"
	"        os.kill(pid, 9)\n"
	"        sys.stdout.write(out.decode(errors='replace'))\n"
	"        sys.exit(124)\n"
	"    ready, _, _ = select.select([fd], [], [], min(left, 0.05))\n"
	"    if ready:\n"
	"        try:\n"
	"            data = os.read(fd, 4096)\n"
	"        except OSError:\n"
	"            break\n"
	"        if not data:\n"
	"            break\n"
	"        out += data\n"
	"_, status = os.waitpid(pid, 0)\n"
	"sys.stdout.write(out.decode(errors='replace'))\n"
	"sys.exit(os.waitstatus_to_exitcode(status))\n";

Test(inputs_chain, prompt_on_a_terminal_only_for_pkcs12)
{
	struct ts_result r;

	ts_write("on_tty.py", pty_driver);
	ts_run(&r, "python3 on_tty.py '$HSMCERT chain --cert leaf.pfx --roots \"$PKI/roots-new\"' "
		   "secretpw");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "passphrase: ") && strstr(r.out, "Chain verified"), "%s", r.out);
	cr_assert(!strstr(r.out, "secretpw"), "the passphrase was echoed: %s", r.out);
	ts_result_free(&r);

	/* PEM inputs on the same terminal: nothing is asked. */
	ts_run(&r, "python3 on_tty.py '$HSMCERT chain --cert \"$PKI/leaf.crt\" --intermediates "
		   "\"$PKI/downloads\" --roots \"$PKI/roots-new\"'");
	ts_assert_status(&r, 0);
	cr_assert(!strstr(r.out, "assphrase"), "%s", r.out);
	ts_result_free(&r);
}

/* ---- import and check: a SoftHSM2 token ------------------------------- */

TestSuite(inputs_token, .init = ts_setup_token, .fini = ts_teardown);

/* Key "web" with its certificate, and PKCS#12 files of it (no key) and of the Sub CA. */
static void web_pkcs12(void)
{
	ct_pki();
	ct_keygen("web", "ec:P-256");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	free(ts_sh("openssl pkcs12 -export -nokeys -in web.crt -certfile pki/sub.crt "
		   "-passout pass:secretpw -out web.pfx && "
		   "openssl pkcs12 -export -nokeys -in pki/sub.crt -passout pass:secretpw "
		   "-out sub.pfx"));
}

Test(inputs_token, import_cert_from_pkcs12)
{
	struct ts_result r;
	json_t *doc;
	char *certs, *want, *got;
	int before;

	web_pkcs12();
	before = ts_count_objects(TS_TOKEN);

	/* Wrong passphrase: exit 1, nothing stored. */
	ts_run(&r, "HSMCERT_PASSPHRASE=nope $HSMCERT import --cert web.pfx");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "wrong passphrase"), "%s", r.err);
	ts_result_free(&r);
	/* No passphrase and no terminal: exit 2, nothing stored. */
	ts_run(&r, "$HSMCERT import --cert web.pfx </dev/null");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "--passphrase-source"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), before);

	free(ts_sh("printf secretpw >pw"));
	doc = ct_run_json(0, "import --cert web.pfx --passphrase-source file:pw");
	cr_assert(json_is_true(json_object_get(json_object_get(doc, "certificate"), "added")));
	cr_assert_str_eq(ct_str(doc, "certificate.label"), "web");
	json_decref(doc);
	/* pkcs11-tool: the leaf and the Sub CA from inside the PKCS#12, the leaf byte for byte. */
	certs = ct_pkcs11_tool_certs();
	cr_assert_eq(ct_count(certs, "Certificate Object"), 2, "%s", certs);
	cr_assert(strstr(certs, "Test Sub CA"), "%s", certs);
	want = ct_openssl_fingerprint("web.crt", "sha256");
	got = ts_sh("pkcs11-tool --module %s --token-label test --read-object --type cert "
		    "--label web 2>/dev/null | openssl x509 -inform DER -noout -fingerprint "
		    "-sha256 | sed 's/.*=//; s/://g' | tr A-F a-f | tr -d '\\n'",
		    TS_SOFTHSM);
	cr_assert_str_eq(got, want);
	free(certs);
	free(want);
	free(got);

	/* --chain as PKCS#12 too: the same certificates again change nothing. */
	doc = ct_run_json(0, "import --cert web.crt --chain sub.pfx --passphrase-source file:pw");
	cr_assert(json_is_false(json_object_get(doc, "changed")));
	json_decref(doc);
}

Test(inputs_token, check_chain_from_pkcs12)
{
	struct ts_result r;
	json_t *doc, *chain;

	web_pkcs12();
	free(ts_sh("$HSMCERT import --cert web.crt >/dev/null"));

	ts_run(&r, "PASS=secretpw $HSMCERT check --json --key pkcs11:object=web --roots "
		   "pki/root.crt --chain sub.pfx --passphrase-source env:PASS");
	ts_assert_status(&r, 0);
	doc = ct_json(&r);
	chain = ct_find(json_object_get(doc, "checks"), "name", "chain");
	cr_assert_str_eq(json_string_value(json_object_get(chain, "result")), "pass", "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r, "HSMCERT_PASSPHRASE=nope $HSMCERT check --key pkcs11:object=web --roots "
		   "pki/root.crt --chain sub.pfx");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "--chain: sub.pfx: wrong passphrase"), "%s", r.err);
	ts_result_free(&r);

	/* The root as PKCS#12 in a --roots folder: used with the passphrase, refused without. */
	free(ts_sh("mkdir roots && openssl pkcs12 -export -nokeys -in pki/root.crt "
		   "-passout pass:secretpw -out roots/root.pfx"));
	ts_run(&r,
	       "HSMCERT_PASSPHRASE=secretpw $HSMCERT check --key pkcs11:object=web --roots roots "
	       "--chain pki/sub.crt");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_PASSPHRASE=nope $HSMCERT check --key pkcs11:object=web --roots roots "
		   "--chain pki/sub.crt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "roots/root.pfx: wrong passphrase") && !strstr(r.out, "passed"),
		  "%s%s", r.out, r.err);
	ts_result_free(&r);
}

Test(inputs_token, check_names_what_it_offers_for_a_missing_issuer)
{
	struct ts_result r;

	/* The certificate imported without its Sub CA: the hint names check's own options. */
	web_pkcs12();
	free(ts_sh("$HSMCERT import --cert web.crt >/dev/null"));
	ts_run(&r, "$HSMCERT check --key pkcs11:object=web --roots pki/root.crt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "no issuer for") && strstr(r.out, "--chain FILE"), "%s", r.out);
	cr_assert(!strstr(r.out, "(--fetch downloads"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT check --key pkcs11:object=web --roots pki/root.crt --fetch");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
}
