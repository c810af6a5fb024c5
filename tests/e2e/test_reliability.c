/*
 * Issue 14: the defects an adversarial pass found, one test each (named
 * after the defect), against the real binary and SoftHSM2 behind the
 * fault-injecting module (tests/support/faultmod.c).
 */
#include "certtest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(reliability, .init = ts_setup_token, .fini = ts_teardown);

/* The binary talks to SoftHSM2 through the fault module. */
static void use_faultmod(void)
{
	setenv("HSMCERT_MODULE", getenv("HSMCERT_FAULTMOD"), 1);
}

static const char plan3[] = "{\"keys\": [{\"label\": \"a\", \"cn\": \"a.example.hk\"},\n"
			    "  {\"label\": \"b\", \"cn\": \"b.example.hk\"},\n"
			    "  {\"label\": \"c\", \"cn\": \"c.example.hk\"}]}\n";

/* 4: a search whose C_FindObjectsFinal failed must not make every later entry fail. */
Test(reliability, d04_provision_failed_search_does_not_stop_the_others)
{
	struct ts_result r;

	use_faultmod();
	ts_write("plan.json", plan3);
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_FindObjectsFinal HSMCERT_FAULT_ONCE=1 "
		   "$HSMCERT provision plan.json");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_FindObjectsFinal failed: CKR_DEVICE_ERROR"), "%s", r.err);
	cr_assert_null(strstr(r.err, "CKR_OPERATION_ACTIVE"), "%s", r.err);
	cr_assert(strstr(r.out, "2 created"), "%s", r.out);
	ts_result_free(&r);
	/* The failed entry is completed by the next run; nothing else is redone. */
	ts_run(&r, "$HSMCERT provision plan.json");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "1 created"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
}

/*
 * 10: a token that answers CKR_BUFFER_TOO_SMALL without marking which
 * attribute: an answer that cannot be interpreted is an error that says so,
 * never an empty inventory or uninitialised memory.
 */
Test(reliability, d10_uninterpretable_attribute_lengths_are_an_error)
{
	struct ts_result r;

	free(ts_sh("$HSMCERT keygen --label k1 >/dev/null"));
	use_faultmod();
	ts_run(&r, "HSMCERT_FAULT_BAD_LENGTHS=1 $HSMCERT list");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_GetAttributeValue"), "%s", r.err);
	cr_assert(strstr(r.err, "CKR_BUFFER_TOO_SMALL"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_FAULT_BAD_LENGTHS=1 $HSMCERT audit --json");
	cr_assert_neq(r.status, 0, "%s", r.out);
	cr_assert(strstr(r.err, "CKR_BUFFER_TOO_SMALL") || strstr(r.out, "CKR_BUFFER_TOO_SMALL"),
		  "%s%s", r.out, r.err);
	ts_result_free(&r);
}

/* The number of the first call of `function` in a trace written by HSMCERT_FAULT_TRACE. */
static int trace_call(const char *trace, const char *function)
{
	char *out = ts_sh("grep -m1 ' %s$' %s | cut -d' ' -f1", function, trace);
	int n = atoi(out);
	free(out);
	cr_assert_gt(n, 0, "%s not in %s", function, trace);
	return n;
}

/*
 * 3: request keeps the handles it got. A failed search after generating
 * must not leave the public key behind while saying all was undone; a token
 * that dies mid-keygen leaves a pair that is named, never "undone".
 */
Test(reliability, d03_request_rollback_is_true_to_the_token)
{
	struct ts_result r;
	int gen;

	use_faultmod();
	/* Every search of the run fails once in turn: nothing stays, whatever is said. */
	for (int k = 1; k <= 6; k++) {
		ts_run(&r,
		       "HSMCERT_FAULT_FAIL=C_FindObjectsInit@%d HSMCERT_FAULT_ONCE=1 "
		       "$HSMCERT request --label k --cn www.x.hk -o k.csr",
		       k);
		if (r.status == 0) {
			ts_result_free(&r);
			free(ts_sh(
				"$HSMCERT delete --yes --all-matching 'pkcs11:object=k' >/dev/null "
				"&& rm k.csr"));
			continue;
		}
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, "C_FindObjectsInit failed: CKR_DEVICE_ERROR"), "%s", r.err);
		cr_assert_eq(ts_count_objects(TS_TOKEN), 0, "search %d: %s", k, r.err);
		cr_assert_not(ts_exists("k.csr"));
		ts_result_free(&r);
	}

	/* The token dies after C_GenerateKeyPair: the pair cannot go, and is named. */
	free(ts_sh(
		"HSMCERT_FAULT_TRACE=trace $HSMCERT request --label t --cn www.x.hk >/dev/null"));
	gen = trace_call("trace", "C_GenerateKeyPair");
	free(ts_sh("$HSMCERT delete --yes --all-matching 'pkcs11:object=t' >/dev/null"));
	for (int n = gen + 1; n <= gen + 8; n++) {
		ts_run(&r, "HSMCERT_FAULT_DIE=%d $HSMCERT request --label k --cn www.x.hk -o k.csr",
		       n);
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, "CKR_DEVICE_REMOVED"), "die at %d: %s", n, r.err);
		cr_assert_null(strstr(r.err, "undone"), "die at %d: %s", n, r.err);
		cr_assert(strstr(r.err, "left on the token"), "die at %d: %s", n, r.err);
		cr_assert(strstr(r.err, "object=k;type=private"), "die at %d: %s", n, r.err);
		cr_assert(strstr(r.err, "object=k;type=public"), "die at %d: %s", n, r.err);
		ts_result_free(&r);
		cr_assert_not(ts_exists("k.csr"));
		free(ts_sh("$HSMCERT delete --yes --all-matching 'pkcs11:object=k' >/dev/null"));
	}
}

/*
 * 2: check --tls is bounded as a whole: libp11 waits forever for a session
 * the module will not open (CKR_SESSION_COUNT), and its errors are named
 * by function and CKR_ like every other token error.
 */
Test(reliability, d02_check_tls_bounded_and_libp11_errors_named)
{
	struct ts_result r;

	ct_pki();
	ct_keygen("web", "rsa:2048");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	free(ts_sh("$HSMCERT import --cert web.crt --chain pki/sub.crt >/dev/null"));
	use_faultmod();
	/*
	 * The second C_OpenSession of the process is libp11's. The libp11 thread
	 * given up at the deadline still holds what it allocated when the process
	 * exits (it never returns): leak checking is off for this one run only.
	 */
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_OpenSession@2=0xB1 ASAN_OPTIONS=detect_leaks=0 "
		   "timeout 60 $HSMCERT check "
		   "--key pkcs11:object=web --roots pki/root.crt --tls --timeout 2");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "PKCS11_login"), "%s", r.err);
	cr_assert(strstr(r.err, "C_OpenSession"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_Login@2=0xA0 HSMCERT_FAULT_ONCE=1 timeout 60 $HSMCERT "
		   "check --key pkcs11:object=web --roots pki/root.crt --tls");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "PKCS11_login failed: CKR_PIN_INCORRECT"), "%s", r.err);
	ts_result_free(&r);
}

/* 11: sanitizer findings: qsort(NULL, 0) in delete; provision leaking the key it would adopt. */
Test(reliability, d11_sanitizer_findings)
{
	struct ts_result r;

	free(ts_sh("$HSMCERT keygen --label x --type ec:P-256 >/dev/null"));
	ts_write("plan.json", "{\"keys\": [{\"label\": \"x\", \"cn\": \"x.example.hk\"}]}\n");
	ts_run(&r, "$HSMCERT provision plan.json");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "exists but is ec:P-256"), "%s", r.err);
	cr_assert_null(strstr(r.err, "Sanitizer"), "%s", r.err);
	ts_result_free(&r);

	use_faultmod();
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_GetAttributeValue $HSMCERT delete --yes pkcs11:object=x");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_GetAttributeValue failed: CKR_DEVICE_ERROR"), "%s", r.err);
	cr_assert_null(strstr(r.err, "runtime error"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

/* No byte that can redraw a terminal: ESC, CR, BEL, and bytes that are not UTF-8. */
static void assert_terminal_safe(const char *what, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		cr_assert(!(*p < 0x20 && *p != '\n' && *p != '\t') && *p != 0x7f && *p != 0xff,
			  "%s: byte 0x%02x at %zu:\n%s", what, *p,
			  (size_t)(p - (const unsigned char *)text), text);
}

static void assert_one_json_document(const char *what, const char *text)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);

	cr_assert_not_null(doc, "%s: not one JSON document (%s):\n%s", what, jerr.text, text);
	json_decref(doc);
}

/*
 * 9: labels, subjects and SANs with control characters are escaped in every
 * view (list, show, audit, the delete confirmation, tokens, messages), and
 * --json stays one valid document with a label that is not UTF-8.
 */
Test(reliability, d09_hostile_text_is_escaped_and_json_stays_valid)
{
	static const char *const views[] = {
		"list",
		"list --json",
		"audit",
		"audit --json",
		"tokens",
		"tokens --json",
		"show ev.crt",
		"show --json ev.crt",
		"delete 'pkcs11:object=ev%1B%5B31mil%0D%FF' </dev/null",
		"keygen --label \"$LABEL\"",
		"keygen --json --label \"$LABEL\" --if-missing",
	};
	struct ts_result r;

	setenv("LABEL", "ev\033[31mil\r\xff", 1);
	ts_add_token("t\033]0;owned\007");
	free(ts_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		   "-keyout /dev/null -subj \"/CN=$(printf 'a\\033[2Jb')/O=$(printf 'x\\ry')\" "
		   "-addext \"subjectAltName=DNS:$(printf 'w\\033]0;t\\007')\" -out ev.crt "
		   "2>/dev/null"));
	free(ts_sh("$HSMCERT --token pkcs11:token=test keygen --label \"$LABEL\" >/dev/null"));
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
		ts_run(&r, "$HSMCERT --token pkcs11:token=test %s", views[i]);
		assert_terminal_safe(views[i], r.out);
		assert_terminal_safe(views[i], r.err);
		if (strstr(views[i], "--json"))
			assert_one_json_document(views[i], r.out);
		cr_assert(r.status == 0 || r.status == 1 || strstr(views[i], "delete") ||
				  strstr(views[i], "keygen --label"),
			  "%s: exit %d\n%s%s", views[i], r.status, r.out, r.err);
		ts_result_free(&r);
	}
}

/*
 * 7: files and streams. -o never replaces what is not a regular file; a
 * full or closed stdout is exit 4 with a message; public outputs honour the
 * umask; a name up to the file system's limit works.
 */
Test(reliability, d07_files_and_streams)
{
	static const char *const outputs[] = {
		"--version",   "help",	       "help list",
		"tokens",      "show ev.crt",  "list",
		"list --json", "audit --json", "chain --cert ev.crt --roots ev.crt",
	};
	char name[256];
	struct ts_result r;

	free(ts_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		   "-keyout /dev/null -subj /CN=ev.example.hk -out ev.crt 2>/dev/null"));
	/* A character device of our own (as root): never the machine's /dev/null. */
	free(ts_sh("mkfifo fifo && mkdir dir && (mknod cdev c 1 3 2>/dev/null || mkfifo cdev)"));
	for (const char *const *t = (const char *const[]){"cdev", "fifo", "dir", NULL}; *t; t++) {
		ts_run(&r, "$HSMCERT request --label k --cn www.x.hk -o %s --force", *t);
		ts_assert_status(&r, 1);
		cr_assert(strstr(r.err, "hsmcert writes only regular files"), "%s", r.err);
		ts_result_free(&r);
	}
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
	free(ts_sh("test -c cdev || test -p cdev"));

	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		ts_run(&r, "$HSMCERT %s >/dev/full", outputs[i]);
		ts_assert_status(&r, 4);
		cr_assert(strstr(r.err, "writing standard output"), "%s: %s", outputs[i], r.err);
		ts_result_free(&r);
		ts_run(&r, "$HSMCERT %s >&-", outputs[i]);
		ts_assert_status(&r, 4);
		cr_assert(strstr(r.err, "writing standard output"), "%s: %s", outputs[i], r.err);
		ts_result_free(&r);
	}

	/* A CSR is public: the umask decides (0644 & ~077 = 0600). */
	free(ts_sh("umask 077 && $HSMCERT request --label u --cn u.x.hk -o u.csr >/dev/null"));
	free(ts_sh("test \"$(stat -c %%a u.csr)\" = 600"));
	free(ts_sh("umask 022 && $HSMCERT csr --key pkcs11:object=u --cn u.x.hk -o v.csr"));
	free(ts_sh("test \"$(stat -c %%a v.csr)\" = 644"));

	/* A 255-byte name, the ext4 limit: the temporary file must not need more. */
	memset(name, 'n', 251);
	memcpy(name + 251, ".csr", 5);
	ts_run(&r, "$HSMCERT csr --key pkcs11:object=u --cn u.x.hk -o %s", name);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	cr_assert(ts_exists(name));
	/* No temporary file stays behind. */
	free(ts_sh("test -z \"$(ls -A | grep -e '^\\.hsmcert-' -e '\\.tmp\\.')\""));
}

/* 8: secrets are in memory while a command runs: the process allows no core file. */
Test(reliability, d08_no_core_dumps)
{
	struct ts_result r;

	/* `show` waits for a writer on the FIFO: its limits are read meanwhile (bounded poll). */
	ts_run(&r, "mkfifo in && ulimit -c unlimited && { $HSMCERT show in >/dev/null 2>&1 & "
		   "pid=$!; for i in $(seq 200); do grep -q 'Max core file size *0 *0' "
		   "/proc/$pid/limits && break; sleep 0.05; done; grep 'Max core file size' "
		   "/proc/$pid/limits; echo x > in; wait $pid; }");
	cr_assert(strstr(r.out, "Max core file size"), "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "bytes") && strstr(r.out, " 0 "), "%s", r.out);
	ts_result_free(&r);
}

/*
 * 8: a passphrase file with a second line is an error, not cut; a PIN file
 * other users can read gets a warning with the fix; a backup passphrase
 * has a minimum length.
 */
Test(reliability, d08_secret_files_and_passphrase_length)
{
	struct ts_result r;

	free(ts_sh("$HSMCERT keygen --label k --exportable >/dev/null"));
	free(ts_sh("umask 077 && printf 'correct horse\\nbattery staple\\n' > two && "
		   "printf 'correct horse battery\\n' > one && printf '" TS_PIN "' > pin && "
		   "chmod 644 pin"));
	ts_run(&r, "$HSMCERT backup --key pkcs11:object=k -o k.hsmb --passphrase-source file:two");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "more than one line"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_not(ts_exists("k.hsmb"));
	ts_run(&r, "HSMCERT_PASSPHRASE=short $HSMCERT backup --key pkcs11:object=k -o k.hsmb");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "at least 12"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_not(ts_exists("k.hsmb"));
	ts_run(&r, "unset HSMCERT_PIN; $HSMCERT list --pin-source file:pin");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.err, "can be read or written by every user"), "%s", r.err);
	cr_assert(strstr(r.err, "chmod 600 pin"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT backup --key pkcs11:object=k -o k.hsmb --passphrase-source file:one");
	ts_assert_status(&r, 0);
	cr_assert_null(strstr(r.err, "every user"), "%s", r.err);
	ts_result_free(&r);
}

/*
 * 9: the plan check is linear. 50,000 entries with a duplicate label at the
 * end: the quadratic check took over a minute here; the bound below is a
 * hang guard far above the linear time, not a measurement.
 */
Test(reliability, d09_plan_check_is_linear, .timeout = 120)
{
	struct ts_result r;

	free(ts_sh("python3 -c 'import json; k=[{\"label\": \"%%x\" %% i, \"cn\": \"%%x.hk\" %% i} "
		   "for i in range(50000)]; k.append({\"label\": \"7\", \"cn\": \"d.hk\"}); "
		   "open(\"big.json\", \"w\").write(json.dumps({\"keys\": k}))'"));
	ts_run(&r, "timeout 45 $HSMCERT provision big.json");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "entry 50001 (7): label '7' is also entry 8's"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

/*
 * 6: a token fault while a recipient-mode backup is opened is the token's
 * failure (exit 3, function and CKR_), never "the file was modified": a
 * user could throw away a good backup.
 */
Test(reliability, d06_recipient_restore_blames_the_token_not_the_file)
{
	struct ts_result r;

	unsetenv("HSMCERT_PASSPHRASE");
	ts_add_token("vault");
	free(ts_sh("$HSMCERT --token pkcs11:token=vault keygen --label recipient --purpose "
		   "recipient >/dev/null && $HSMCERT --token pkcs11:token=test keygen --label web "
		   "--type ec:P-256 --exportable >/dev/null && $HSMCERT --token pkcs11:token=test "
		   "backup --key pkcs11:object=web --to 'pkcs11:token=vault;object=recipient' "
		   "-o web.hsmb >/dev/null"));
	use_faultmod();
	for (int nth = 1; nth <= 2; nth++) {
		ts_run(&r,
		       "HSMCERT_FAULT_FAIL=C_UnwrapKey@%d HSMCERT_FAULT_ONCE=1 $HSMCERT --token "
		       "pkcs11:token=vault restore web.hsmb",
		       nth);
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, "C_UnwrapKey"), "%s", r.err);
		cr_assert(strstr(r.err, "CKR_DEVICE_ERROR"), "%s", r.err);
		cr_assert_null(strstr(r.err, "modified"), "%s", r.err);
		ts_result_free(&r);
	}
	cr_assert_eq(ts_count_objects("vault"), 2);
}

/*
 * 5: a run killed between fsync and rename leaves a complete temporary file;
 * its name ties it to the target and to the dead process, so the next write
 * of that target removes it. (Kills at every PKCS#11 call and the re-runs
 * are in test_sweep.)
 */
Test(reliability, d05_temporary_file_of_a_killed_run_is_removed)
{
	char *hash, *dead, *left;

	free(ts_sh("$HSMCERT keygen --label u >/dev/null"));
	hash = ts_sh("printf %%s u.csr | sha256sum | cut -c1-16 | tr -d '\\n'");
	dead = ts_sh("sh -c 'echo $$' | tr -d '\\n'");
	free(ts_sh("echo partial > .hsmcert-%s-%s.Ab12Cd && echo other > .hsmcert-%s-1.Zz99Zz",
		   hash, dead, hash));
	free(ts_sh("$HSMCERT csr --key pkcs11:object=u --cn u.x.hk -o u.csr >/dev/null"));
	left = ts_sh("ls -A | grep '^\\.hsmcert-' || true");
	/* The dead run's file is gone; pid 1's is not ours to judge (it is alive). */
	cr_assert_null(strstr(left, dead), "%s", left);
	cr_assert(strstr(left, "-1.Zz99Zz"), "%s", left);
	cr_assert(ts_exists("u.csr"));
	free(hash);
	free(dead);
	free(left);
}
