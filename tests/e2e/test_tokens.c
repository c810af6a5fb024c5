/* tokens and init-token against SoftHSM2, cross-checked with softhsm2-util/pkcs11-tool. */
#include "certtest.h"
#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(tokens, .init = ts_setup_token, .fini = ts_teardown);

Test(tokens, lists_token_with_uri)
{
	struct ts_result r;
	json_t *doc, *slot, *token = NULL;
	size_t i;

	ts_run(&r, "$HSMCERT tokens --json");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	json_array_foreach(json_object_get(doc, "slots"), i, slot)
	{
		json_t *t = json_object_get(slot, "token");
		if (json_is_object(t) &&
		    strcmp(json_string_value(json_object_get(t, "label")), "test") == 0)
			token = t;
	}
	cr_assert_not_null(token, "%s", r.out);
	cr_assert(json_is_true(json_object_get(token, "initialized")));
	cr_assert(json_is_true(json_object_get(token, "login_required")));
	cr_assert_str_eq(json_string_value(json_object_get(token, "user_pin")), "ok");
	cr_assert(strstr(json_string_value(json_object_get(token, "uri")), "token=test"));
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT tokens");
	ts_assert_status(&r, 0);
	cr_assert(ts_text_has(r.out, "Token", "test"), "%s", r.out);
	cr_assert(strstr(r.out, "software"), "%s", r.out);
	ts_result_free(&r);
}

/*
 * Through p11-kit's proxy (no module named), tokens names the registered
 * modules, the same ones `p11-kit list-modules` reports; a module named by
 * path has none behind it.
 */
Test(tokens, names_the_modules_behind_the_proxy)
{
	struct ts_result r;
	json_t *doc, *registered, *m;
	char *theirs = ts_sh(
		"p11-kit list-modules 2>/dev/null | sed -n 's/^\\([^ :][^:]*\\): .*/\\1/p'");
	size_t i, seen = 0;

	ts_run(&r, "env -u HSMCERT_MODULE $HSMCERT tokens --json");
	ts_assert_status(&r, 0);
	doc = ct_json(&r);
	ts_result_free(&r);
	cr_assert(strstr(ct_str(doc, "module.path"), "p11-kit-proxy.so"));
	registered = json_object_get(json_object_get(doc, "module"), "registered");
	cr_assert(json_array_size(registered) > 0);
	json_array_foreach(registered, i, m)
	{
		const char *name = ct_str(m, "name");
		char line[256];
		snprintf(line, sizeof(line), "%s\n", name);
		cr_assert(name[0] && strstr(theirs, line),
			  "'%s' is not in p11-kit list-modules:\n%s", name, theirs);
		if (strcmp(name, "softhsm2") == 0)
			cr_assert(strstr(ct_str(m, "path"), "libsofthsm2.so"));
		seen++;
	}
	/* Every module p11-kit lists is named, no more, no fewer. */
	for (const char *p = theirs; (p = strchr(p, '\n')); p++)
		seen--;
	cr_assert_eq(seen, 0, "p11-kit list-modules:\n%s", theirs);
	json_decref(doc);

	ts_run(&r, "env -u HSMCERT_MODULE $HSMCERT tokens");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "registered modules") && strstr(r.out, "softhsm2"), "%s", r.out);
	ts_result_free(&r);

	doc = ct_run_json(0, "tokens");
	cr_assert_null(json_object_get(json_object_get(doc, "module"), "registered"));
	json_decref(doc);
	free(theirs);
}

/* A relative --module path is the file it names, not one in p11-kit's module directory. */
Test(tokens, relative_module_path)
{
	struct ts_result r;

	free(ts_sh("mkdir -p lib && ln -s %s lib/softhsm.so", TS_SOFTHSM));
	ts_run(&r, "$HSMCERT --module lib/softhsm.so tokens");
	ts_assert_status(&r, 0);
	cr_assert(ts_text_has(r.out, "Token", "test"), "%s", r.out);
	cr_assert(strstr(r.out, "/lib/softhsm.so"), "%s", r.out);
	ts_result_free(&r);
}

Test(tokens, mechanisms)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT tokens --mechanisms --token pkcs11:token=test");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "CKM_RSA_PKCS_KEY_PAIR_GEN (512-16384)"), "%s", r.out);
	cr_assert(strstr(r.out, "CKM_SHA256_RSA_PKCS"), "%s", r.out);
	cr_assert(strstr(r.out, "CKM_AES_KEY_WRAP_PAD"), "%s", r.out);
	ts_result_free(&r);
}

Test(tokens, filter_matching_nothing)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT tokens --token pkcs11:token=nosuch");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "No slots match"), "%s", r.out);
	ts_result_free(&r);
}

TestSuite(init_token, .init = ts_setup_empty, .fini = ts_teardown);

Test(init_token, free_slot_then_usable)
{
	struct ts_result r;
	char *out;

	ts_run(&r, "$HSMCERT init-token --free --label fresh");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Initialised token 'fresh'"), "%s", r.out);
	cr_assert(strstr(r.out, "token=fresh"), "%s", r.out);
	ts_result_free(&r);
	/* softhsm2-util sees it, and the user PIN we set opens it. */
	out = ts_sh("softhsm2-util --show-slots | grep -c 'Label:.*fresh'");
	cr_assert_eq(atoi(out), 1);
	free(out);
	cr_assert_eq(ts_count_objects("fresh"), 0);
	ts_run(&r, "$HSMCERT keygen --token pkcs11:token=fresh --label k");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

Test(init_token, refuses_token_with_objects_unless_force)
{
	struct ts_result r;

	ts_add_token("busy");
	ts_run(&r, "$HSMCERT keygen --token pkcs11:token=busy --label k");
	ts_assert_status(&r, 0);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT init-token --token pkcs11:token=busy --label busy");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "holds 1 public object and perhaps private ones"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("busy"), 2);

	ts_run(&r, "$HSMCERT init-token --token pkcs11:token=busy --label busy --force");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "re-initialised"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("busy"), 0);
}

Test(init_token, usage_errors)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT init-token --label x");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT init-token --free --slot 1 --label x");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT init-token --free");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT init-token --free --label 123456789012345678901234567890123");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT init-token --slot banana --label x");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "unset HSMCERT_SO_PIN; $HSMCERT init-token --free --label x");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "SO PIN"), "%s", r.err);
	ts_result_free(&r);
}

Test(init_token, never_logs_in_with_the_new_pin)
{
	struct ts_result r;
	char *flags;

	/* Only a private object: invisible without login, so re-initialising is refused. */
	ts_add_token("quiet");
	free(ts_sh(
		"printf x > blob && pkcs11-tool --module %s --token-label quiet --login --pin %s "
		"--write-object blob --type data --label d --private >/dev/null 2>&1",
		TS_SOFTHSM, TS_PIN));
	ts_run(&r, "HSMCERT_PIN=99999999 $HSMCERT init-token --token pkcs11:token=quiet "
		   "--label quiet");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "cannot be counted without logging in"), "%s", r.err);
	ts_result_free(&r);
	/* The new (different) PIN was not tried against the old token: no failed-login flag. */
	flags = ts_sh("$HSMCERT tokens --json --token pkcs11:token=quiet | grep '\"user_pin\"'");
	cr_assert(strstr(flags, "\"ok\""), "a login was tried: %s", flags);
	free(flags);
	flags = ts_sh("pkcs11-tool --module %s --token-label quiet --login --pin %s "
		      "--list-objects 2>/dev/null | grep -c 'Data object'",
		      TS_SOFTHSM, TS_PIN);
	cr_assert_eq(atoi(flags), 1, "the private object is gone");
	free(flags);
}

Test(init_token, ambiguous_uri_is_refused)
{
	struct ts_result r;

	ts_add_token("one");
	ts_add_token("two");
	ts_run(&r, "$HSMCERT init-token --token 'pkcs11:model=SoftHSM%%20v2' --label x --force");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "tokens match"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("one"), 0);
}

/* A wrong SO PIN at C_InitToken is told with the tries it leaves, as a wrong PIN at C_Login. */
Test(init_token, wrong_so_pin_names_the_tries_left)
{
	struct ts_result r;
	json_t *doc, *e;
	char *flags;

	ts_add_token("t3");
	ts_run(&r, "HSMCERT_SO_PIN=00000000 $HSMCERT init-token --token pkcs11:token=t3 "
		   "--label t3 --force");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_InitToken failed: CKR_PIN_INCORRECT (tries left are low)"), "%s",
		  r.err);
	ts_result_free(&r);
	/* pkcs11-tool, independent of us, sees the flag the message reported. */
	flags = ts_sh("pkcs11-tool --module %s -L 2>/dev/null | grep -A12 'label.*: t3' | "
		      "grep -c 'SO PIN count low'",
		      TS_SOFTHSM);
	cr_assert_eq(atoi(flags), 1, "pkcs11-tool shows no low count");
	free(flags);

	ts_run(&r, "HSMCERT_SO_PIN=00000000 $HSMCERT init-token --token pkcs11:token=t3 "
		   "--label t3 --force --json");
	ts_assert_status(&r, 3);
	doc = ts_json(&r);
	e = json_object_get(doc, "error");
	cr_assert_str_eq(json_string_value(json_object_get(e, "function")), "C_InitToken");
	cr_assert_str_eq(json_string_value(json_object_get(e, "ckr")), "CKR_PIN_INCORRECT");
	cr_assert(strstr(json_string_value(json_object_get(e, "message")), "tries left are low"),
		  "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);
	/* The right SO PIN still initialises it: the tool never retried on its own. */
	ts_run(&r, "$HSMCERT init-token --token pkcs11:token=t3 --label t3 --force");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

/*
 * SPEC init-token: PIN lengths are checked against the token's limits
 * (SoftHSM2: 4 to 255) before anything changes; the slot stays uninitialised.
 */
Test(init_token, pin_lengths_checked_before_anything_changes)
{
	struct ts_result r;
	char *out;

	ts_run(&r, "HSMCERT_SO_PIN=123 $HSMCERT init-token --free --label short");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "SO PIN") && strstr(r.err, "3 bytes") && strstr(r.err, "4 to 255"),
		  "%s", r.err);
	cr_assert_null(strstr(r.err, "CKR_PIN_INCORRECT"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_PIN=12 $HSMCERT init-token --free --label short");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "user PIN") && strstr(r.err, "2 bytes"), "%s", r.err);
	ts_result_free(&r);
	/* Independent view: nothing was initialised. */
	out = ts_sh("softhsm2-util --show-slots | grep -c 'Label:.*short' || true");
	cr_assert_eq(atoi(out), 0, "a token was initialised: %s", out);
	free(out);
}

/*
 * A failure after C_InitToken succeeded: the token is erased and has no user
 * PIN. The error says so and gives the command that finishes it, which works.
 */
Test(init_token, half_initialised_token_is_reported_with_the_command_that_finishes_it)
{
	struct ts_result r;
	char *cmd, *end, *out;

	ts_run(&r, "HSMCERT_FAULT_FAIL=C_InitPIN $HSMCERT --module $HSMCERT_FAULTMOD "
		   "init-token --free --label half");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_InitPIN") && strstr(r.err, "CKR_DEVICE_ERROR"), "%s", r.err);
	cr_assert(strstr(r.err, "already erased"), "%s", r.err);
	cr_assert(strstr(r.err, "no user PIN"), "%s", r.err);
	cmd = strstr(r.err, "  hsmcert init-token --");
	cr_assert(cmd && strstr(cmd, " --token 'pkcs11:") && strstr(cmd, "token=half"), "%s",
		  r.err);
	cmd = strdup(cmd + strlen("  hsmcert "));
	end = strchr(cmd, '\n');
	if (end)
		*end = '\0';
	ts_result_free(&r);
	out = ts_sh("softhsm2-util --show-slots | grep -B2 'Label:.*half' | "
		    "grep -c 'User PIN init.: *no' || true");
	cr_assert_eq(atoi(out), 1, "%s", out);
	free(out);

	/* The command as printed (the user PIN from HSMCERT_PIN) finishes the job. */
	ts_run(&r, "$HSMCERT %s", cmd);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	free(cmd);
	out = ts_sh("softhsm2-util --show-slots | grep -B2 'Label:.*half' | "
		    "grep -c 'User PIN init.: *yes' || true");
	cr_assert_eq(atoi(out), 1, "%s", out);
	free(out);
	ts_run(&r, "$HSMCERT keygen --token pkcs11:token=half --label k");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}
