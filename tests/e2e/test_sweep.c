/*
 * SPEC: Reliability promises, swept (issue 14). For every command that
 * changes a token, each PKCS#11 call of a run is failed in turn through
 * tests/support/faultmod.c (HSMCERT_FAULT_NTH: the Nth call of the process
 * answers CKR_DEVICE_ERROR), and then the process is killed before call N
 * (HSMCERT_FAULT_KILL) and the command run again. Each run must show:
 *   - no sanitizer report (the binary is the ASan+UBSan build);
 *   - exit 0, or exit 3 with the message naming the C_ function and CKR_;
 *   - the token as before, or as an uninterrupted run leaves it (objects by
 *     class, label and whether they have an id, read by pkcs11-tool; an id
 *     that starts with "hsmcert:" is the mark of unfinished work, shown apart);
 *   - no output file but the complete one, no temporary file.
 * After a kill, the re-run must reach the uninterrupted end state.
 *
 * Calls are sampled to keep the suite fast: every call to a function that
 * changes state (C_GenerateKeyPair, C_CreateObject, C_DestroyObject,
 * C_SetAttributeValue, C_UnwrapKey, C_WrapKey, C_GenerateKey, C_Sign, C_InitToken,
 * C_InitPIN) and the call after it, plus evenly spread others, up to
 * SWEEP_MAX per command; HSMCERT_SWEEP_ALL=1 takes every call.
 */
#include "certtest.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#define SWEEP_MAX 12

TestSuite(sweep, .init = ts_setup_token, .fini = ts_teardown, .timeout = 600);

struct sweep {
	const char *name;
	const char *command; /* run in the test's directory */
	const char *outputs; /* files the command writes, space separated ("" none) */
	/* Exit status of a re-run that finds the work done ("nothing matches"), or 0. */
	int rerun_done_status;
	/*
	 * The documented result of a failure is partial: delete cannot undo a
	 * destruction (the message lists what went), provision keeps the entries
	 * that succeeded. Running again must finish the work.
	 */
	bool partial;
	/*
	 * With `partial`: what a failed run that changed the token must say (the
	 * documented partial result and how to finish), or NULL.
	 */
	const char *partial_says;
	/* What "the token" is for this command: token_state (NULL) or tokens_state. */
	char *(*state)(void);
	size_t max; /* calls failed and killed at, 0: SWEEP_MAX */
	/*
	 * Objects a failed run may leave as documented (state lines holding this):
	 * enroll keeps an ACME account key once the account exists at the CA.
	 */
	const char *may_stay;
	/*
	 * Take the last state-changing calls and calls spread over the whole run,
	 * not the first state-changing ones: enroll signs dozens of JWS before
	 * the certificate is stored.
	 */
	bool spread;
	/*
	 * The number of calls differs from run to run (ACME: one JWS per poll of
	 * the order), so call N is only about the same point, and a run may end
	 * before it: then it must have done the whole work.
	 */
	bool calls_vary;
};

/* The token's objects as an independent tool sees them: class, label, id or not. */
static char *token_state(void)
{
	return ts_sh(
		"pkcs11-tool --module " TS_SOFTHSM " --token-label " TS_TOKEN " --login "
		"--pin " TS_PIN " --list-objects 2>/dev/null | awk '"
		"/Object;/ { if (o) print o \"|\" l \"|\" i; o = $0; l = \"\"; i = \"no-id\" } "
		"/^  label:/ { sub(/^  label: */, \"\"); sub(/\\.retired-.*/, \".retired-*\"); "
		"l = $0 } "
		"/^  ID:/ { i = ($2 ~ /^68736d636572743a/) ? \"marked-id\" : \"id\" } "
		"END { if (o) print o \"|\" l \"|\" i }' | sort");
}

/*
 * The module's tokens as an independent tool sees them: label and flags
 * (initialised, user PIN set), and the free slots; not serials or slot IDs,
 * which change with every initialisation.
 */
static char *tokens_state(void)
{
	return ts_sh("pkcs11-tool --module " TS_SOFTHSM " --list-slots 2>/dev/null | awk '"
		     "/token label/ { l = $0 } /token flags/ { print l \"|\" $0 } "
		     "/token state:/ { print $0 }' | sort");
}

/* Files of the test directory that are not the world's own. */
static char *dir_files(void)
{
	return ts_sh("ls -A | grep -v -x -e tokens -e softhsm2.conf -e .stdout -e .stderr "
		     "-e .snapshot -e trace -e pki | sort || true");
}

static void snapshot(void)
{
	free(ts_sh("rm -rf .snapshot && mkdir .snapshot && "
		   "ls -A | grep -v -x -e .snapshot -e .stdout -e .stderr -e trace | "
		   "xargs -r cp -a -t .snapshot/"));
}

static void restore(void)
{
	free(ts_sh("ls -A | grep -v -x -e .snapshot -e .stdout -e .stderr | xargs -r rm -rf && "
		   "cp -a .snapshot/. ."));
}

static size_t trace_calls(size_t *changing, size_t *nchanging, size_t cap)
{
	char *out = ts_sh("wc -l < trace");
	size_t total = (size_t)atol(out);
	char *list;

	free(out);
	list = ts_sh("grep -n -E ' C_(GenerateKeyPair|CreateObject|DestroyObject|"
		     "SetAttributeValue|UnwrapKey|WrapKey|GenerateKey|Sign|InitToken|InitPIN)$' "
		     "trace | cut -d: -f1 | tr '\\n' ' '");
	*nchanging = 0;
	for (char *p = list; *p && *nchanging < cap;) {
		char *end;
		long n = strtol(p, &end, 10);
		if (end == p)
			break;
		changing[(*nchanging)++] = (size_t)n;
		p = end;
	}
	free(list);
	return total;
}

/* The calls to fail or kill at: state-changing calls and their successors, then spread. */
static size_t pick(size_t total, const size_t *changing, size_t nchanging, size_t want, bool spread,
		   size_t *out)
{
	size_t n = 0, max = getenv("HSMCERT_SWEEP_ALL") ? total : want ? want : SWEEP_MAX;
	bool *taken = calloc(total + 2, sizeof(*taken));

	cr_assert_not_null(taken);
	if (max > 512)
		max = 512; /* the caller's array */
	/* spread: the last state-changing calls (half of them), the rest spread below. */
	for (size_t i = nchanging; spread && i > 0 && n < max / 2; i--)
		for (size_t d = 0; d < 2 && n < max / 2; d++) {
			size_t c = changing[i - 1] + d;
			if (c <= total && !taken[c])
				taken[c] = true, out[n++] = c;
		}
	for (size_t i = 0; !spread && i < nchanging && n < max; i++)
		for (size_t d = 0; d < 2 && n < max; d++) {
			size_t c = changing[i] + d;
			if (c <= total && !taken[c])
				taken[c] = true, out[n++] = c;
		}
	for (size_t k = 0; n < max && k < max; k++) {
		size_t c = 1 + k * total / max;
		if (c <= total && !taken[c])
			taken[c] = true, out[n++] = c;
	}
	free(taken);
	return n;
}

/*
 * ts_run, run again while port 80 is taken (http-01 needs it, and test runs
 * of other build folders take it too): enroll checks the port before it
 * touches the token, so a retry changes nothing. Bounded: about 60 s.
 */
static void __attribute__((format(printf, 3, 4)))
run(struct ts_result *r, const char *command, const char *env_fmt, ...)
{
	char assign[128];
	va_list ap;

	va_start(ap, env_fmt);
	vsnprintf(assign, sizeof(assign), env_fmt, ap);
	va_end(ap);
	for (int i = 0;; i++) {
		ts_run(r, "%s %s", assign, command);
		if (i == 300 || r->status != 4 || !strstr(r->err, "cannot listen on port 80"))
			return;
		ts_result_free(r);
		usleep(200 * 1000);
	}
}

/* `state` without the lines that hold `needle` (NULL: all of it). */
static char *without(const char *state, const char *needle)
{
	char *out = calloc(strlen(state) + 1, 1), *o = out;

	cr_assert_not_null(out);
	for (const char *line = state; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line + 1) : strlen(line);
		if (!needle || !memmem(line, len, needle, strlen(needle)))
			o = (char *)memcpy(o, line, len) + len;
		line += len;
	}
	return out;
}

static bool named_error(const char *err)
{
	return strstr(err, "C_") && strstr(err, "CKR_");
}

static void sweep(const struct sweep *s)
{
	char *before, *after, *files_before, *files_after, *state, *files;
	size_t changing[256], nchanging, calls[512], ncalls, total;
	size_t failed_runs = 0, killed_runs = 0;
	char *(*token)(void) = s->state ? s->state : token_state;
	struct ts_result r;

	setenv("HSMCERT_MODULE", getenv("HSMCERT_FAULTMOD"), 1);
	snapshot();
	before = token();
	files_before = dir_files();
	/* The uninterrupted run: its end state and its calls. */
	run(&r, s->command, "HSMCERT_FAULT_TRACE=trace");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	after = token();
	files_after = dir_files();
	total = trace_calls(changing, &nchanging, 256);
	cr_assert_gt(total, 0);
	ncalls = pick(total, changing, nchanging, s->max, s->spread, calls);

	for (size_t i = 0; i < ncalls; i++) {
		size_t n = calls[i];
		restore();
		run(&r, s->command, "HSMCERT_FAULT_NTH=%zu", n);
		cr_assert_null(strstr(r.err, "Sanitizer"), "%s, call %zu failed: %s", s->name, n,
			       r.err);
		cr_assert_null(strstr(r.err, "runtime error"), "%s, call %zu: %s", s->name, n,
			       r.err);
		cr_assert(r.status == 0 || (r.status == 3 && named_error(r.err)),
			  "%s, call %zu failed: exit %d, the function and CKR_ not named:\n%s",
			  s->name, n, r.status, r.err);
		state = token();
		files = dir_files();
		if (r.status == 0) {
			cr_assert_str_eq(state, after, "%s, call %zu failed, exit 0:\n%s\n%s",
					 s->name, n, state, after);
			cr_assert_str_eq(files, files_after, "%s, call %zu", s->name, n);
		} else if (s->partial) {
			struct ts_result again;
			/* Neither as before nor done: the partial result, which must be said. */
			if (s->partial_says && strcmp(state, before) != 0 &&
			    strcmp(state, after) != 0)
				cr_assert(strstr(r.err, s->partial_says),
					  "%s, call %zu failed and changed the token without "
					  "saying '%s':\n%s",
					  s->name, n, s->partial_says, r.err);
			run(&again, s->command, "%s", "");
			cr_assert(again.status == 0 || again.status == s->rerun_done_status,
				  "%s, re-run after call %zu failed: exit %d\n%s", s->name, n,
				  again.status, again.err);
			ts_result_free(&again);
			free(state);
			state = token();
			cr_assert_str_eq(state, after, "%s, re-run after call %zu failed", s->name,
					 n);
		} else {
			char *kept = without(state, s->may_stay),
			     *had = without(before, s->may_stay);
			cr_assert_str_eq(kept, had, "%s, call %zu failed: token changed:\n%s\n%s",
					 s->name, n, r.err, state);
			free(kept);
			free(had);
			cr_assert_str_eq(files, files_before,
					 "%s, call %zu failed: stray or partial file:\n%s", s->name,
					 n, r.err);
		}
		free(state);
		free(files);
		ts_result_free(&r);
		failed_runs++;

		/* Killed before call n, then the same command again. */
		restore();
		run(&r, s->command, "HSMCERT_FAULT_KILL=%zu", n);
		if (r.status == 0 && s->calls_vary) {
			/* This run ended before call n: it must have done the whole work. */
			state = token();
			cr_assert_str_eq(state, after, "%s, ended before call %zu", s->name, n);
			free(state);
			ts_result_free(&r);
			continue;
		}
		cr_assert_eq(r.status, 137, "%s, killed at %zu: exit %d\n%s", s->name, n, r.status,
			     r.err);
		ts_result_free(&r);
		run(&r, s->command, "%s", "");
		cr_assert_null(strstr(r.err, "Sanitizer"), "%s, re-run after kill at %zu: %s",
			       s->name, n, r.err);
		cr_assert(r.status == 0 ||
				  (s->rerun_done_status && r.status == s->rerun_done_status),
			  "%s, re-run after a kill at call %zu: exit %d\n%s", s->name, n, r.status,
			  r.err);
		ts_result_free(&r);
		state = token();
		files = dir_files();
		cr_assert_str_eq(
			state, after,
			"%s, re-run after a kill at call %zu:\n%s\nwhere an uninterrupted run leaves:\n%s",
			s->name, n, state, after);
		cr_assert_str_eq(files, files_after, "%s, re-run after a kill at call %zu: files",
				 s->name, n);
		free(state);
		free(files);
		killed_runs++;
	}
	cr_log_info("%s: %zu calls, %zu failed in turn, %zu killed and re-run: 0 crashes, "
		    "0 orphans, 0 stray files, 0 unnamed errors",
		    s->name, total, failed_runs, killed_runs);
	fprintf(stderr, "sweep %s: %zu calls, %zu failed in turn, %zu killed and re-run\n", s->name,
		total, failed_runs, killed_runs);
	free(before);
	free(after);
	free(files_before);
	free(files_after);
}

Test(sweep, keygen)
{
	sweep(&(struct sweep){.name = "keygen",
			      .command = "$HSMCERT keygen --label k --if-missing"});
}

Test(sweep, request)
{
	/* --if-missing: the idempotent form a script re-runs. */
	sweep(&(struct sweep){.name = "request",
			      .command = "$HSMCERT request --label k --if-missing --cn www.x.hk "
					 "-o k.csr --force",
			      .outputs = "k.csr"});
}

Test(sweep, csr)
{
	free(ts_sh("$HSMCERT keygen --label base >/dev/null"));
	sweep(&(struct sweep){.name = "csr",
			      .command = "$HSMCERT csr --key pkcs11:object=base --cn www.x.hk "
					 "-o c.csr --force",
			      .outputs = "c.csr"});
}

Test(sweep, import)
{
	ct_pki();
	ct_keygen("web", "ec:P-256");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	sweep(&(struct sweep){.name = "import",
			      .command = "$HSMCERT import --cert web.crt --chain pki/sub.crt"});
}

Test(sweep, delete)
{
	ct_pki();
	ct_keygen("web", "ec:P-256");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	free(ts_sh("$HSMCERT import --cert web.crt >/dev/null"));
	/* Re-run after everything went: the URI names nothing (exit 2). */
	sweep(&(struct sweep){.name = "delete",
			      .command = "$HSMCERT delete --yes --all-matching 'pkcs11:object=web'",
			      .rerun_done_status = 2,
			      .partial = true});
}

Test(sweep, backup)
{
	setenv("HSMCERT_PASSPHRASE", "correct horse battery staple", 1);
	free(ts_sh("$HSMCERT keygen --label exp --type ec:P-256 --exportable >/dev/null"));
	sweep(&(struct sweep){.name = "backup",
			      .command = "$HSMCERT backup --key pkcs11:object=exp -o exp.hsmb "
					 "--force",
			      .outputs = "exp.hsmb"});
}

Test(sweep, restore)
{
	setenv("HSMCERT_PASSPHRASE", "correct horse battery staple", 1);
	free(ts_sh("$HSMCERT keygen --label exp --type ec:P-256 --exportable >/dev/null && "
		   "$HSMCERT backup --key pkcs11:object=exp -o exp.hsmb >/dev/null && "
		   "$HSMCERT delete --yes 'pkcs11:object=exp' >/dev/null"));
	/* The same command again, no --force: an interrupted restore is finished (issue 14.5). */
	sweep(&(struct sweep){.name = "restore", .command = "$HSMCERT restore exp.hsmb"});
}

/*
 * Two keys, one with its certificate and CA certificate, into a token that
 * holds only the backup's recipient key (recipient mode: no scrypt, so the
 * sweep can take many calls): a run killed between the keys leaves one
 * complete (adopted by the re-run) and one unfinished (removed, made again).
 */
Test(sweep, restore_all)
{
	char *left;

	unsetenv("HSMCERT_PASSPHRASE");
	ct_pki();
	free(ts_sh("$HSMCERT keygen --label recipient --purpose recipient >/dev/null && "
		   "$HSMCERT keygen --label web --type ec:P-256 --exportable >/dev/null && "
		   "$HSMCERT keygen --label two --type rsa:2048 --exportable >/dev/null"));
	ct_leaf("web", "web.crt", "now-1", "now+365");
	free(ts_sh("$HSMCERT import --cert web.crt --chain pki/sub.crt >/dev/null && "
		   /* exit 1: the recipient key is not extractable, and said so */
		   "{ $HSMCERT backup --all --to 'pkcs11:object=recipient' -o all.hsmb >/dev/null "
		   "|| test $? = 1; } && "
		   "$HSMCERT delete --yes --all-matching 'pkcs11:object=web' >/dev/null && "
		   "$HSMCERT delete --yes 'pkcs11:object=two' >/dev/null && "
		   "$HSMCERT delete --yes --all-matching 'pkcs11:type=cert' >/dev/null"));
	left = token_state();
	cr_assert(strstr(left, "recipient") && !strstr(left, "web") && !strstr(left, "two") &&
			  !strstr(left, "Certificate"),
		  "only the recipient key pair: %s", left);
	free(left);
	sweep(&(struct sweep){
		.name = "restore --all", .command = "$HSMCERT restore all.hsmb", .max = 24});
}

/*
 * init-token --free: a failure after C_InitToken leaves the token erased and
 * without a user PIN (the documented partial result, issue 14.11): the error
 * says so, and the same command finishes it.
 */
Test(sweep, init_token)
{
	sweep(&(struct sweep){.name = "init-token",
			      .command = "$HSMCERT init-token --free --label fresh",
			      .rerun_done_status = 1,
			      .partial = true,
			      .partial_says = "already erased",
			      .state = tokens_state,
			      .max = 64});
}

Test(sweep, provision)
{
	ts_write("plan.json",
		 "{\"keys\": [{\"label\": \"a\", \"cn\": \"a.example.hk\", "
		 "\"type\": \"ec:P-256\"}, {\"label\": \"b\", \"cn\": \"b.example.hk\", "
		 "\"type\": \"ec:P-256\"}]}\n");
	sweep(&(struct sweep){
		.name = "provision", .command = "$HSMCERT provision plan.json", .partial = true});
}

/* ---- enroll over ACME (a step-ca of the test's own) ------------------ */

static void acme_setup(void)
{
	ts_setup_token();
	ts_use_stepca();
}

static void acme_teardown(void)
{
	ts_stop_stepca();
	ts_teardown();
}

TestSuite(sweep_acme, .init = acme_setup, .fini = acme_teardown, .timeout = 600);

/*
 * enroll of a new key, the account key made on first use too. Issue 15: a
 * failed order leaves no new key behind (the token as before); a killed run,
 * run again, ends as an uninterrupted one, up to its last call: killed once
 * the certificate is stored, the re-run finds the key already enrolled and
 * orders nothing.
 */
Test(sweep_acme, enroll)
{
	sweep(&(struct sweep){.name = "enroll",
			      .command = "$P80 $HSMCERT enroll --acme-roots \"$ROOTS\" --acme "
					 "\"$ACME\" --label www --if-missing --type ec:P-256 "
					 "--cn localhost",
			      .max = 16,
			      .may_stay = "|acme-account|id",
			      .spread = true,
			      .calls_vary = true});
}

/*
 * renew of a due certificate with a new key (the label handed over, the old
 * key retired). Run again, renew finds nothing due: the re-run of a complete
 * renewal changes nothing, and a run killed during the hand-over (old key
 * retired, new key still LABEL.renewing-TAG) is finished by the re-run without
 * a new order. Every C_SetAttributeValue of the hand-over is killed at.
 */
Test(sweep_acme, renew)
{
	free(ts_sh("$P80 $HSMCERT enroll --acme-roots \"$ROOTS\" --acme \"$ACME\" --label www "
		   "--type ec:P-256 --cn localhost >/dev/null"));
	sweep(&(struct sweep){.name = "renew",
			      .command = "$P80 $HSMCERT renew --acme-roots \"$ROOTS\" --key "
					 "'pkcs11:object=www;type=private' --days 2 --acme "
					 "\"$ACME_LONG\"",
			      .max = 24, /* the last 12: the stored certificate and the hand-over */
			      .spread = true,
			      .calls_vary = true});
}
