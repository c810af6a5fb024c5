/*
 * enroll and renew end to end: SoftHSM2 and a real ACME server, step-ca 0.19
 * built from Debian's Go sources (scripts/stepca.sh), started per test on
 * 127.0.0.1 with a throw-away root and intermediate. http-01 is validated
 * on port 80, which the tests take turns on through a lock file. Results
 * are cross-checked with openssl verify and pkcs11-tool.
 */
#include "certtest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void acme_setup(void);
static void acme_teardown(void);

TestSuite(acme, .init = acme_setup, .fini = acme_teardown, .timeout = 300);

static void acme_setup(void)
{
	ts_setup_token();
	ts_use_stepca();
}

static void acme_teardown(void)
{
	if (ts_dir[0])
		free(ts_sh(
			"for p in fake.pid proxy.pid; do [ ! -f $p ] || kill $(cat $p) 2>/dev/null; "
			"done; true"));
	ts_stop_stepca();
	ts_teardown();
}

/* `hsmcert enroll` against the test CA with port 80 held; extra args appended. */
static int enroll(struct ts_result *r, const char *args)
{
	return ts_run(r, "$P80 $HSMCERT enroll --acme-roots \"$ROOTS\" %s", args);
}

static json_t *enroll_json(const char *args)
{
	struct ts_result r;

	enroll(&r, args);
	return ct_result_json(&r, 0);
}

static json_t *renew_json(int want, const char *args)
{
	struct ts_result r;

	ts_run(&r, "$P80 $HSMCERT renew --acme-roots \"$ROOTS\" %s --json", args);
	return ct_result_json(&r, want);
}

static const json_t *jget(const json_t *doc, const char *path)
{
	char buf[256], *save = NULL;
	const json_t *j = doc;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
		j = json_object_get(j, k);
	return j;
}

/* pkcs11-tool's listing of one class ("privkey", "pubkey", "cert"), logged in. */
static char *p11_list(const char *type)
{
	return ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s "
		     "--list-objects --type %s 2>/dev/null",
		     TS_SOFTHSM, TS_PIN, type);
}

/* The ID pkcs11-tool shows for the private key labelled `label` ("" when none). */
static char *p11_key_id(const char *label)
{
	return ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s "
		     "--list-objects --type privkey 2>/dev/null | "
		     "awk '/label:/{l=$2} /ID:/{if (l==\"%s\") print $2}' | tr -d '\\n'",
		     TS_SOFTHSM, TS_PIN, label);
}

/* The private key labelled `label` has the ID `want` ("": no such key), or any (NULL). */
static void assert_key_id(const char *label, const char *want)
{
	char *id = p11_key_id(label);

	if (want)
		cr_assert_str_eq(id, want, "the private key '%s'", label);
	else
		cr_assert(*id, "no private key '%s'", label);
	free(id);
}

/*
 * The label renew gives the new key of a renewal of the key with ID `old_id`
 * (hex, as pkcs11-tool shows it): LABEL.renewing- and the first 4 bytes of
 * the SHA-256 of that id, computed here by xxd and sha256sum.
 */
static char *renewing_of(const char *label, const char *old_id)
{
	return ts_sh("printf '%%s.renewing-%%s' '%s' \"$(printf '%s' | xxd -r -p | sha256sum | "
		     "cut -c1-8)\"",
		     label, old_id);
}

/* Class, label and ID of every object whose label starts with `prefix`, sorted. */
static char *p11_objects_of(const char *prefix)
{
	return ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s --list-objects "
		     "2>/dev/null | awk '/Object;/{c=$1} /label:/{l=$2} /ID:/{print c, l, $2}' | "
		     "grep -E '^[A-Za-z ]+ %s' | sort",
		     TS_SOFTHSM, TS_PIN, prefix);
}

/*
 * Cross-check with pkcs11-tool and openssl: the token's public key with
 * that id (read by pkcs11-tool) is the certificate's public key.
 */
static void assert_cert_matches_token_key(const char *cert_pem, const char *id)
{
	char *cert_pub, *token_pub;

	cert_pub = ts_sh("openssl x509 -in '%s' -noout -pubkey | openssl pkey -pubin -outform DER "
			 "| sha256sum | cut -c1-64",
			 cert_pem);
	token_pub = ts_sh("pkcs11-tool --module %s --token-label test --read-object --type pubkey "
			  "--id %s 2>/dev/null | openssl pkey -pubin -inform DER -outform DER | "
			  "sha256sum | cut -c1-64",
			  TS_SOFTHSM, id);
	cr_assert_str_eq(cert_pub, token_pub, "certificate key %s, token key %s (id %s)", cert_pub,
			 token_pub, id);
	free(cert_pub);
	free(token_pub);
}

/* The token's certificate labelled `label` as PEM in `out` (pkcs11-tool, independent of us). */
static void read_token_cert(const char *label, const char *out)
{
	free(ts_sh("pkcs11-tool --module %s --token-label test --read-object --type cert "
		   "--label '%s' 2>/dev/null | openssl x509 -inform DER -out '%s'",
		   TS_SOFTHSM, label, out));
}

Test(acme, first_enrolment_keys_on_token_chain_verifies)
{
	json_t *doc = enroll_json("--acme \"$ACME\" --label www --type ec:P-256 --cn localhost "
				  "--san IP:127.0.0.1 -o chain.pem --json");
	char *verify, *keys, *id;

	/* The account key was made on the token: sensitive, never extractable. */
	cr_assert(json_is_true(jget(doc, "account.key_created")));
	cr_assert(json_is_true(jget(doc, "account.created")));
	cr_assert_str_eq(ct_str(doc, "account.key.label"), "acme-account");
	cr_assert_str_eq(ct_str(doc, "account.key.type"), "ec:P-256");
	cr_assert(json_is_true(jget(doc, "account.key.attributes.sensitive")));
	cr_assert(json_is_false(jget(doc, "account.key.attributes.extractable")));
	cr_assert(json_is_true(jget(doc, "enrolled.key_created")));
	cr_assert(json_is_false(jget(doc, "enrolled.key.attributes.extractable")));
	cr_assert(json_is_true(jget(doc, "enrolled.chain.verified")));
	cr_assert_eq(json_integer_value(jget(doc, "enrolled.challenges_solved")), 2);

	/* pkcs11-tool agrees: both private keys never extractable. */
	keys = p11_list("privkey");
	cr_assert_eq(ct_count(keys, "Private Key Object"), 2, "%s", keys);
	cr_assert_eq(ct_count(keys, "never extractable"), 2, "%s", keys);
	cr_assert(strstr(keys, "acme-account"), "%s", keys);

	/* openssl verifies the written chain against the test root. */
	verify = ts_sh("openssl verify -CAfile \"$ROOTS\" -untrusted chain.pem chain.pem 2>&1");
	cr_assert(strstr(verify, "chain.pem: OK"), "%s", verify);
	/* The names asked for, both of them. */
	free(verify);
	verify = ts_sh("openssl x509 -in chain.pem -noout -ext subjectAltName");
	cr_assert(strstr(verify, "DNS:localhost") && strstr(verify, "IP Address:127.0.0.1"), "%s",
		  verify);

	/* The certificate stored on the token is that key's, and it is the one in chain.pem. */
	id = p11_key_id("www");
	cr_assert_str_eq(ct_str(doc, "enrolled.key.id"), id);
	assert_cert_matches_token_key("chain.pem", id);
	read_token_cert("www", "stored.pem");
	free(verify);
	verify = ct_openssl_fingerprint("stored.pem", "sha256");
	cr_assert_str_eq(verify, ct_str(doc, "enrolled.certificate.sha256"));
	free(verify);
	verify = ct_openssl_fingerprint("chain.pem", "sha256");
	cr_assert_str_eq(verify, ct_str(doc, "enrolled.certificate.sha256"));
	free(verify);
	free(id);
	free(keys);
	json_decref(doc);
}

Test(acme, second_enrolment_reuses_the_account)
{
	json_t *a = enroll_json(
		"--acme \"$ACME\" --label one --type ec:P-256 --cn localhost --json");
	json_t *b = enroll_json(
		"--acme \"$ACME\" --label two --type rsa:2048 --cn localhost --json");
	char *keys = p11_list("privkey");

	cr_assert(json_is_false(jget(b, "account.created")));
	cr_assert(json_is_false(jget(b, "account.key_created")));
	cr_assert_str_eq(ct_str(a, "account.url"), ct_str(b, "account.url"));
	cr_assert_eq(ct_count(keys, "acme-account"), 1, "%s", keys);
	cr_assert_str_eq(ct_str(b, "enrolled.key.type"), "rsa:2048");
	json_decref(a);
	json_decref(b);
	free(keys);
}

Test(acme, existing_key_and_text_output)
{
	struct ts_result r;
	char *id;

	free(ts_sh("$HSMCERT keygen --label api --type rsa:2048 >/dev/null"));
	id = p11_key_id("api");
	enroll(&r, "--acme \"$ACME\" --key 'pkcs11:object=api;type=private' --cn localhost "
		   "-o api.pem");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Enrolled a certificate for 'api'"), "%s", r.out);
	cr_assert(strstr(r.out, "Chain file"), "%s", r.out);
	/* The same key: no new key pair. */
	assert_key_id("api", id);
	assert_cert_matches_token_key("api.pem", id);
	ts_result_free(&r);
	free(id);
}

/* Every object on the token as pkcs11-tool lists it. */
static char *p11_all(void)
{
	return ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s --list-objects "
		     "2>/dev/null",
		     TS_SOFTHSM, TS_PIN);
}

/*
 * Issue 14.5: enroll --label --if-missing run again after a complete run
 * (or one killed before it wrote its chain file) does not order a second
 * certificate: exit 0, already enrolled, the token unchanged, -o written
 * from the token's certificates. With --key a certificate is ordered.
 */
Test(acme, enroll_if_missing_run_again_is_already_enrolled)
{
	const char *args = "--acme \"$ACME\" --label www --if-missing --type ec:P-256 "
			   "--cn localhost -o chain.pem";
	char cmd[256], *before, *after, *verify, *certs;
	json_t *first, *again;
	struct ts_result r;

	snprintf(cmd, sizeof(cmd), "%s --json", args);
	first = enroll_json(cmd);
	cr_assert(json_is_false(jget(first, "enrolled.already_enrolled")));
	free(ts_sh("mv chain.pem first.pem"));
	before = p11_all();

	again = enroll_json(cmd);
	cr_assert(json_is_true(jget(again, "enrolled.already_enrolled")));
	cr_assert(json_is_null(jget(again, "enrolled.order_url")));
	cr_assert(json_is_false(jget(again, "enrolled.certificate.added")));
	cr_assert(json_is_true(jget(again, "enrolled.chain.verified")));
	cr_assert_str_eq(ct_str(again, "enrolled.certificate.serial"),
			 ct_str(first, "enrolled.certificate.serial"));
	after = p11_all();
	cr_assert_str_eq(after, before);
	/* The same chain file as the first run wrote, and it verifies (openssl). */
	cr_assert_str_eq(ts_read("chain.pem", NULL), ts_read("first.pem", NULL));
	verify = ts_sh("openssl verify -CAfile \"$ROOTS\" -untrusted chain.pem chain.pem 2>&1");
	cr_assert(strstr(verify, "chain.pem: OK"), "%s", verify);

	/* Text: says so, and names renew. */
	free(ts_sh("rm chain.pem"));
	enroll(&r, args);
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Already enrolled") && strstr(r.out, "renew"), "%s", r.out);
	ts_result_free(&r);

	/* --key asks for a certificate for that key: one is ordered. */
	enroll(&r, "--acme \"$ACME\" --key 'pkcs11:object=www;type=private' --cn localhost");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Enrolled a certificate"), "%s", r.out);
	ts_result_free(&r);
	certs = ts_sh("pkcs11-tool --module %s --token-label test --list-objects --type cert "
		      "2>/dev/null | grep -c 'label: *www$' || true",
		      TS_SOFTHSM);
	cr_assert_str_eq(certs, "2\n");
	json_decref(first);
	json_decref(again);
	free(before);
	free(after);
	free(verify);
	free(certs);
}

Test(acme, renewal_with_a_new_key_takes_over_the_label)
{
	json_t *doc, *item;
	char *old_id, *new_id, *keys, *user_id, *leftover;
	const char *retired;

	json_decref(enroll_json("--acme \"$ACME\" --label www --type rsa:3072 --cn localhost "
				"--json"));
	old_id = p11_key_id("www");
	/* A key of the user's named like renew's own is never touched. */
	free(ts_sh("$HSMCERT keygen --label www.renewing --type ec:P-256 >/dev/null"));
	user_id = p11_key_id("www.renewing");
	/* What a renewal of www killed before its order ended leaves: removed, the run completes.
	 */
	leftover = renewing_of("www", old_id);
	free(ts_sh("$HSMCERT keygen --label %s --type ec:P-256 >/dev/null", leftover));
	free(leftover);
	/* 24 h left of 24 h: due when fewer than 2 days are left. */
	doc = renew_json(0,
			 "--key 'pkcs11:object=www;type=private' --days 2 --acme \"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 1);
	item = json_array_get(json_object_get(doc, "certificates"), 0);
	cr_assert(json_is_true(json_object_get(item, "due")));
	cr_assert(json_is_true(json_object_get(item, "renewed")));
	cr_assert(json_is_false(json_object_get(item, "resumed")));
	cr_assert(json_is_null(json_object_get(item, "error")));
	retired = ct_str(item, "retired_label");
	cr_assert(strncmp(retired, "www.retired-", 12) == 0, "%s", retired);
	cr_assert_str_eq(ct_str(item, "new.key.type"), "rsa:3072");
	cr_assert(json_is_true(jget(item, "new.key_created")));

	/* pkcs11-tool: a new key under 'www', the old one kept under the retired label. */
	new_id = p11_key_id("www");
	cr_assert(strlen(new_id) > 0 && strcmp(new_id, old_id) != 0, "%s %s", new_id, old_id);
	assert_key_id(retired, old_id);
	assert_key_id("www.renewing", user_id);
	keys = p11_list("privkey");
	cr_assert_eq(ct_count(keys, "never extractable"), 4, "%s", keys);
	cr_assert(strstr(keys, "www.renewing-") == NULL, "%s", keys);
	read_token_cert("www", "new.pem");
	assert_cert_matches_token_key("new.pem", new_id);
	free(ts_sh("openssl x509 -in new.pem -noout -checkend 172800 >/dev/null"));
	json_decref(doc);
	free(old_id);
	free(new_id);
	free(user_id);
	free(keys);
}

/*
 * Issue 14.5: keys the user labelled like renew's leftovers, with
 * certificates of their own, are not renew's to finish or remove: with
 * --all, and with --key for the key they seem to belong to, nothing is
 * relabelled; a due renewal with a new key is refused with nothing changed
 * (that label is the one the new key needs); --reuse-key renews.
 */
Test(acme, lookalike_renewing_keys_are_left_alone)
{
	struct ts_result r;
	json_t *doc;
	char *www_id, *look_id, *spoof_label, *other_label, *before, *after, args[512];

	json_decref(enroll_json("--acme \"$ACME\" --label www --type ec:P-256 --cn localhost "
				"--json"));
	www_id = p11_key_id("www");
	json_decref(enroll_json("--acme \"$ACME\" --label www.renewing --type ec:P-256 --cn "
				"localhost --json"));
	look_id = p11_key_id("www.renewing");
	/* Named as renew names a new key: for a key not www's; for www's with other names. */
	spoof_label = renewing_of("www", look_id);
	other_label = renewing_of("www", www_id);
	snprintf(args, sizeof(args),
		 "--acme \"$ACME\" --label %s --type ec:P-256 --cn localhost --json", spoof_label);
	json_decref(enroll_json(args));
	snprintf(args, sizeof(args),
		 "--acme \"$ACME\" --label %s --type ec:P-256 --cn localhost --san IP:127.0.0.1 "
		 "--json",
		 other_label);
	json_decref(enroll_json(args));
	before = p11_objects_of("www");
	cr_assert(strstr(before, spoof_label) && strstr(before, other_label), "%s", before);
	doc = renew_json(0, "--all --days 0 --acme \"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 0);
	json_decref(doc);
	doc = renew_json(0, "--key 'pkcs11:object=www;type=private' --days 0 --acme "
			    "\"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 0);
	json_decref(doc);
	ts_run(&r, "$P80 $HSMCERT renew --acme-roots \"$ROOTS\" --key "
		   "'pkcs11:object=www;type=private' --days 2 --acme \"$ACME_LONG\"");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, other_label) && strstr(r.err, "nothing was changed"), "%s", r.err);
	ts_result_free(&r);
	after = p11_objects_of("www");
	cr_assert_str_eq(after, before);
	free(after);
	doc = renew_json(0, "--key 'pkcs11:object=www;type=private' --days 2 --reuse-key --acme "
			    "\"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 1);
	json_decref(doc);
	assert_key_id("www", www_id);
	assert_key_id("www.renewing", look_id);
	assert_key_id(spoof_label, NULL);
	assert_key_id(other_label, NULL);
	after = p11_list("privkey");
	cr_assert(strstr(after, "retired") == NULL, "%s", after);
	free(www_id);
	free(look_id);
	free(spoof_label);
	free(other_label);
	free(before);
	free(after);
}

/* renew run through the fault module, killed before the Nth C_SetAttributeValue. */
static void renew_killed_at_set(int nth, const char *args)
{
	struct ts_result r;

	ts_run(&r,
	       "HSMCERT_MODULE=\"$HSMCERT_FAULTMOD\" HSMCERT_FAULT_KILL_AT=C_SetAttributeValue:%d "
	       "$P80 $HSMCERT renew --acme-roots \"$ROOTS\" %s",
	       nth, args);
	ts_assert_status(&r, 137);
	ts_result_free(&r);
}

/* After a finished hand-over: `label` is a new key with its certificate, `old_id` retired. */
static void assert_handed_over(const char *label, const char *old_id)
{
	char *new_id = p11_key_id(label), *all, *pem, *retired, *with_id;

	cr_assert(strlen(new_id) > 0 && strcmp(new_id, old_id) != 0, "%s: %s %s", label, new_id,
		  old_id);
	all = ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s --list-objects "
		    "2>/dev/null",
		    TS_SOFTHSM, TS_PIN);
	cr_assert(strstr(all, ".renewing") == NULL, "%s", all);
	/* The old key's three objects all carry one retired label. */
	retired = ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s "
			"--list-objects 2>/dev/null | grep -o 'label: *%s.retired-.*' | sort -u | "
			"wc -l",
			TS_SOFTHSM, TS_PIN, label);
	cr_assert_str_eq(retired, "1\n", "%s", all);
	with_id = ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s "
			"--list-objects 2>/dev/null | grep -c 'ID: *%s$' || true",
			TS_SOFTHSM, TS_PIN, old_id);
	cr_assert_str_eq(with_id, "3\n", "%s", all);
	pem = ts_sh("echo %s.pem", label);
	pem[strcspn(pem, "\n")] = 0;
	read_token_cert(label, pem);
	assert_cert_matches_token_key(pem, new_id);
	free(new_id);
	free(all);
	free(pem);
	free(retired);
	free(with_id);
}

/* pkcs11:id=%..;type=private for the key pkcs11-tool shows with ID `hex`. */
static char *id_uri(const char *hex)
{
	char *uri = NULL, *p;

	cr_assert(asprintf(&uri, "pkcs11:type=private;id=%*s", (int)(strlen(hex) / 2 * 3), "") > 0);
	p = uri + strlen("pkcs11:type=private;id=");
	for (size_t i = 0; hex[i] && hex[i + 1]; i += 2, p += 3)
		memcpy(p, (char[]){'%', hex[i], hex[i + 1]}, 3);
	return uri;
}

/* Keys www and api enrolled for localhost (24-hour certificates); their IDs. */
static void enroll_www_and_api(char **www_id, char **api_id)
{
	json_decref(enroll_json("--acme \"$ACME\" --label www --type ec:P-256 --cn localhost "
				"--json"));
	json_decref(enroll_json("--acme \"$ACME\" --label api --type ec:P-256 --cn localhost "
				"--json"));
	*www_id = p11_key_id("www");
	*api_id = p11_key_id("api");
}

/* The renew --json document's item for `label`. */
static json_t *item_of(json_t *doc, const char *label)
{
	json_t *it = ct_find(json_object_get(doc, "certificates"), "key", label);

	cr_assert(it, "no item for %s", label);
	return it;
}

/*
 * Issue 14.5: a renewal killed during the hand-over (the new key and its
 * certificate stored as LABEL.renewing-OLDID, the old key partly retired),
 * run again, ends as an uninterrupted run: reported as renewed, its hook run,
 * without a second order. With --key naming the key by id, killed right
 * after the old private key was retired; with --all, after the new
 * certificate took the label.
 */
Test(acme, renewal_killed_in_the_hand_over_is_finished_by_the_rerun)
{
	struct ts_result r;
	json_t *doc, *item;
	char *www_id, *api_id, *www_uri, *args, *tmp, *keys, *certs, *hook, *now;

	enroll_www_and_api(&www_id, &api_id);
	www_uri = id_uri(www_id);

	/* SetAttributeValue 1-2: the new key's id; 3: the old private key retired. */
	cr_assert(asprintf(&args, "--key '%s' --days 2 --acme \"$ACME_LONG\"", www_uri) > 0);
	renew_killed_at_set(4, args);
	tmp = renewing_of("www", www_id);
	keys = p11_list("privkey");
	assert_key_id("www", "");
	cr_assert(strstr(keys, "www.retired-"), "%s", keys);
	assert_key_id(tmp, NULL);
	free(keys);
	/* Trust anchors that cannot be read: refused before the token is touched. */
	keys = p11_objects_of("www");
	ts_run(&r, "$P80 $HSMCERT renew --acme-roots \"$ROOTS\" %s --roots no-such-file.pem", args);
	cr_assert(r.status != 0 && strstr(r.err, "no-such-file.pem"), "%d %s", r.status, r.err);
	ts_result_free(&r);
	now = p11_objects_of("www");
	cr_assert_str_eq(now, keys);
	free(now);
	free(keys);
	free(args);
	cr_assert(asprintf(&args,
			   "--key '%s' --days 2 --acme \"$ACME_LONG\" --hook 'echo "
			   "\"$HSMCERT_KEY_LABEL $HSMCERT_CERT_URI\" >> hook.out'",
			   www_uri) > 0);
	doc = renew_json(0, args);
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 1);
	cr_assert_eq(json_integer_value(json_object_get(doc, "due")), 1);
	cr_assert(json_is_null(json_object_get(doc, "account")), "the CA was contacted");
	item = item_of(doc, "www");
	cr_assert(json_is_true(json_object_get(item, "resumed")));
	cr_assert(json_is_true(json_object_get(item, "renewed")));
	cr_assert(strncmp(ct_str(item, "retired_label"), "www.retired-", 12) == 0);
	cr_assert(json_is_true(jget(item, "new.chain.verified")));
	cr_assert_eq(json_integer_value(json_object_get(item, "hook_exit_status")), 0);
	hook = ts_read("hook.out", NULL);
	cr_assert(strncmp(hook, "www pkcs11:", 11) == 0, "%s", hook);
	free(hook);
	json_decref(doc);
	assert_handed_over("www", www_id);
	/* The id now names the retired key: renewing it is refused. */
	ts_run(&r, "$P80 $HSMCERT renew --acme-roots \"$ROOTS\" %s", args);
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "retired"), "%s", r.err);
	ts_result_free(&r);
	free(args);
	free(tmp);

	/* 6: the new certificate took the label; the new key still api.renewing-TAG. */
	renew_killed_at_set(7, "--all --days 2 --acme \"$ACME_LONG\"");
	tmp = renewing_of("api", api_id);
	assert_key_id(tmp, NULL);
	certs = p11_list("cert");
	cr_assert(strstr(certs, "api.retired-"), "%s", certs);
	cr_assert(strstr(certs, "label:      api\n"), "%s", certs);
	/*
	 * Verified against other trust anchors now, the chain the killed run
	 * verified does not: said, but the renewal is done and its hook runs.
	 */
	free(ts_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
		   "other.key -out other-root.pem -subj /CN=other -days 2 2>/dev/null"));
	doc = renew_json(0, "--all --days 2 --acme \"$ACME_LONG\" --roots other-root.pem --hook "
			    "'echo \"$HSMCERT_KEY_LABEL\" > api-hook.out'");
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 1);
	cr_assert_eq(json_integer_value(json_object_get(doc, "due")), 1);
	cr_assert_eq(json_integer_value(json_object_get(doc, "failed")), 0);
	item = item_of(doc, "api");
	cr_assert(json_is_true(json_object_get(item, "resumed")));
	cr_assert(json_is_false(jget(item, "new.chain.verified")));
	cr_assert_eq(json_integer_value(json_object_get(item, "hook_exit_status")), 0);
	hook = ts_read("api-hook.out", NULL);
	cr_assert_str_eq(hook, "api\n");
	free(hook);
	json_decref(doc);
	doc = renew_json(0, "--all --days 2 --acme \"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(doc, "due")), 0);
	json_decref(doc);
	assert_handed_over("api", api_id);
	assert_handed_over("www", www_id);
	free(tmp);
	free(certs);
	free(www_id);
	free(api_id);
	free(www_uri);
}

/*
 * Finishing one interrupted renewal fails (the token refuses the second
 * relabel, after the old public key was relabelled): that key's failure is
 * reported and its objects put back as they were, the other is finished, the
 * run exits with the failure; run again, the first is finished too.
 */
Test(acme, an_interrupted_renewal_that_fails_to_finish_stops_no_other)
{
	struct ts_result r;
	json_t *doc, *items, *it;
	size_t i, renewed = 0, failed = 0;
	char *www_id, *api_id, *www_before, *api_before, *now;

	enroll_www_and_api(&www_id, &api_id);
	renew_killed_at_set(4, "--key 'pkcs11:object=www;type=private' --days 2 --acme "
			       "\"$ACME_LONG\"");
	renew_killed_at_set(4, "--key 'pkcs11:object=api;type=private' --days 2 --acme "
			       "\"$ACME_LONG\"");
	www_before = p11_objects_of("www");
	api_before = p11_objects_of("api");
	ts_run(&r,
	       "HSMCERT_MODULE=\"$HSMCERT_FAULTMOD\" HSMCERT_FAULT_FAIL=C_SetAttributeValue@2 "
	       "HSMCERT_FAULT_ONCE=1 $P80 $HSMCERT renew --acme-roots \"$ROOTS\" --all --days 2 "
	       "--acme \"$ACME_LONG\" --json");
	doc = ct_result_json(&r, 3);
	cr_assert_eq(json_integer_value(json_object_get(doc, "due")), 2);
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 1);
	cr_assert_eq(json_integer_value(json_object_get(doc, "failed")), 1);
	items = json_object_get(doc, "certificates");
	json_array_foreach(items, i, it)
	{
		cr_assert(json_is_true(json_object_get(it, "resumed")));
		if (json_is_true(json_object_get(it, "renewed"))) {
			renewed++;
			continue;
		}
		failed++;
		cr_assert(strstr(ct_str(it, "error.message"), "finishing the renewal of"), "%s",
			  ct_str(it, "error.message"));
		cr_assert(strstr(ct_str(it, "error.message"), "C_SetAttributeValue"));
		/* Put back: its objects as the kill left them. */
		now = p11_objects_of(strncmp(ct_str(it, "key"), "www.", 4) == 0 ? "www" : "api");
		cr_assert_str_eq(now, strncmp(ct_str(it, "key"), "www.", 4) == 0 ? www_before
										 : api_before);
		free(now);
	}
	cr_assert(renewed == 1 && failed == 1);
	json_decref(doc);
	doc = renew_json(0, "--all --days 2 --acme \"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 1);
	cr_assert_eq(json_integer_value(json_object_get(doc, "failed")), 0);
	json_decref(doc);
	assert_handed_over("www", www_id);
	assert_handed_over("api", api_id);
	free(www_id);
	free(api_id);
	free(www_before);
	free(api_before);
}

/*
 * The token refuses a call after the plan finished a hand-over (its first
 * search for the other keys' certificates): the finished renewal is still
 * reported, its hook run, and the run exits with the token's error. The
 * failing call is found by a traced run on a copy of the token.
 */
Test(acme, a_plan_failing_after_a_finish_still_reports_it)
{
	struct ts_result r;
	json_t *doc, *item;
	char *www_id, *api_id, *nth, *hook;

	enroll_www_and_api(&www_id, &api_id);
	renew_killed_at_set(4, "--key 'pkcs11:object=www;type=private' --days 2 --acme "
			       "\"$ACME_LONG\"");
	free(ts_sh("cp -a tokens tokens.before"));
	free(ts_sh(
		"HSMCERT_MODULE=\"$HSMCERT_FAULTMOD\" HSMCERT_FAULT_TRACE=trace $P80 $HSMCERT "
		"renew --acme-roots \"$ROOTS\" --all --days 0 --acme \"$ACME_LONG\" >/dev/null"));
	nth = ts_sh("awk '$2==\"C_SetAttributeValue\"{f=0; s=1} $2==\"C_FindObjectsInit\" && s && "
		    "!f {f=$1} END{print f}' trace | tr -d '\\n'");
	cr_assert(atoi(nth) > 0, "trace: %s", nth);
	free(ts_sh("rm -rf tokens && mv tokens.before tokens"));
	ts_run(&r,
	       "HSMCERT_MODULE=\"$HSMCERT_FAULTMOD\" HSMCERT_FAULT_NTH=%s $P80 $HSMCERT renew "
	       "--acme-roots \"$ROOTS\" --all --days 0 --acme \"$ACME_LONG\" --hook 'echo "
	       "\"$HSMCERT_KEY_LABEL\" > hook.out' --json",
	       nth);
	doc = ct_result_json(&r, 3);
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 1);
	cr_assert(strstr(ct_str(doc, "error.message"), "C_FindObjectsInit"), "%s",
		  ct_str(doc, "error.message"));
	item = item_of(doc, "www");
	cr_assert(json_is_true(json_object_get(item, "resumed")));
	cr_assert_eq(json_integer_value(json_object_get(item, "hook_exit_status")), 0);
	hook = ts_read("hook.out", NULL);
	cr_assert_str_eq(hook, "www\n");
	json_decref(doc);
	assert_handed_over("www", www_id);
	doc = renew_json(0, "--all --days 0 --acme \"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 0);
	cr_assert(json_is_null(json_object_get(doc, "error")));
	json_decref(doc);
	free(hook);
	free(nth);
	free(www_id);
	free(api_id);
}

/* A key without a CKA_ID (made by another tool): a new key cannot be tied to it. */
Test(acme, a_key_without_an_id_is_renewed_only_by_keeping_it)
{
	struct ts_result r;
	json_t *doc;
	char *before, *after;

	free(ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s --keypairgen "
		   "--key-type rsa:2048 --label noid >/dev/null 2>&1",
		   TS_SOFTHSM, TS_PIN));
	assert_key_id("noid", "");
	json_decref(enroll_json("--acme \"$ACME\" --key 'pkcs11:object=noid;type=private' --cn "
				"localhost --json"));
	before = p11_all();
	ts_run(&r, "$P80 $HSMCERT renew --acme-roots \"$ROOTS\" --key "
		   "'pkcs11:object=noid;type=private' --days 2 --acme \"$ACME_LONG\"");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "no CKA_ID") && strstr(r.err, "--reuse-key"), "%s", r.err);
	ts_result_free(&r);
	after = p11_all();
	cr_assert_str_eq(after, before);
	doc = renew_json(0, "--key 'pkcs11:object=noid;type=private' --days 2 --reuse-key --acme "
			    "\"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(doc, "renewed")), 1);
	json_decref(doc);
	free(before);
	free(after);
}

Test(acme, renewal_reusing_the_key)
{
	struct ts_result r;
	json_t *doc, *item;
	char *id, *certs, *leftover;

	json_decref(enroll_json("--acme \"$ACME\" --label www --type rsa:2048 --cn localhost "
				"--json"));
	id = p11_key_id("www");
	/* What a new-key renewal killed before its order ended left: removed too. */
	leftover = renewing_of("www", id);
	free(ts_sh("$HSMCERT keygen --label %s --type ec:P-256 >/dev/null", leftover));
	assert_key_id(leftover, NULL);
	/* Named itself, that leftover is not a key to renew. */
	ts_run(&r,
	       "$P80 $HSMCERT renew --acme-roots \"$ROOTS\" --key 'pkcs11:object=%s;type=private' "
	       "--days 2 --acme \"$ACME\"",
	       leftover);
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "did not end: name the key being renewed"), "%s", r.err);
	ts_result_free(&r);
	doc = renew_json(0, "--key 'pkcs11:object=www;type=private' --days 2 --reuse-key "
			    "--acme \"$ACME\" --hook 'echo \"$HSMCERT_KEY_LABEL\" > hook.out'");
	item = json_array_get(json_object_get(doc, "certificates"), 0);
	cr_assert(json_is_true(json_object_get(item, "renewed")));
	cr_assert(json_is_false(jget(item, "new.key_created")));
	cr_assert_eq(json_integer_value(json_object_get(item, "hook_exit_status")), 0);
	assert_key_id("www", id);
	assert_key_id(leftover, "");
	free(leftover);
	/* The hook ran once, with the key's label. */
	cr_assert_str_eq(ts_read("hook.out", NULL), "www\n");
	/* The older certificate was replaced: one leaf certificate for the key. */
	certs = ts_sh("pkcs11-tool --module %s --token-label test --list-objects --type cert "
		      "2>/dev/null | grep -c 'label:      www$' || true",
		      TS_SOFTHSM);
	cr_assert_str_eq(certs, "1\n");
	read_token_cert("www", "renewed.pem");
	assert_cert_matches_token_key("renewed.pem", id);
	json_decref(doc);
	free(id);
	free(certs);
}

Test(acme, not_due_is_left_alone)
{
	struct ts_result r;
	int before;

	json_decref(enroll_json("--acme \"$ACME\" --label www --type ec:P-256 --cn localhost "
				"--json"));
	before = ts_count_objects("test");
	/* 24 h left of 24 h; the default threshold is a third of the lifetime. */
	ts_run(&r, "$HSMCERT renew --key 'pkcs11:object=www;type=private' --acme \"$ACME\" "
		   "--acme-roots \"$ROOTS\"");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "www: not due"), "%s", r.out);
	cr_assert(strstr(r.out, "Nothing due"), "%s", r.out);
	cr_assert_eq(ts_count_objects("test"), before);
	ts_result_free(&r);
}

Test(acme, renew_all_twice_renews_once)
{
	json_t *first, *second;
	json_t *item;
	size_t i;

	json_decref(enroll_json("--acme \"$ACME\" --label www --type ec:P-256 --cn localhost "
				"--json"));
	json_decref(enroll_json("--acme \"$ACME\" --label api --type ec:P-256 --cn localhost "
				"--json"));
	first = renew_json(0, "--all --days 2 --acme \"$ACME_LONG\"");
	cr_assert_eq(json_integer_value(json_object_get(first, "checked")), 2);
	cr_assert_eq(json_integer_value(json_object_get(first, "renewed")), 2);
	second = renew_json(0, "--all --days 2 --acme \"$ACME_LONG\"");
	/* The retired keys and the account key are not looked at; the new ones are not due. */
	cr_assert_eq(json_integer_value(json_object_get(second, "checked")), 2);
	cr_assert_eq(json_integer_value(json_object_get(second, "due")), 0);
	cr_assert_eq(json_integer_value(json_object_get(second, "renewed")), 0);
	cr_assert(json_is_null(json_object_get(second, "account")));
	json_array_foreach(json_object_get(second, "certificates"), i, item)
	{
		cr_assert(json_is_false(json_object_get(item, "due")));
		cr_assert(strstr(ct_str(item, "key"), "retired") == NULL);
	}
	json_decref(first);
	json_decref(second);
}

Test(acme, failing_challenge_leaves_no_key)
{
	struct ts_result r;
	char *keys;
	char args[256];

	/* The responder listens elsewhere: the CA cannot reach port 80. */
	snprintf(args, sizeof(args), "--acme \"$ACME\" --label bad --cn localhost --http-port %d",
		 ts_free_port());
	ts_run(&r, "$P80 $HSMCERT enroll --acme-roots \"$ROOTS\" %s", args);
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.err, "http-01 challenge for localhost"), "%s", r.err);
	cr_assert(strstr(r.err, "urn:ietf:params:acme:error:connection"), "%s", r.err);
	cr_assert(strstr(r.err, "was undone"), "%s", r.err);
	keys = p11_list("privkey");
	/* By label: "bad" is also hex, and a key ID may hold it. */
	cr_assert(strstr(keys, "label:      bad\n") == NULL, "%s", keys);
	/* The account exists at the CA now: its key stays for next time. */
	cr_assert_eq(ct_count(keys, "Private Key Object"), 1, "%s", keys);
	cr_assert(strstr(keys, "acme-account"), "%s", keys);
	ts_result_free(&r);
	free(keys);
}

Test(acme, busy_http_port_fails_before_the_token)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct ts_result r;
	json_t *doc;

	/* Someone (a web server) holds the port: the run stops before the CA or the token. */
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	ts_run(&r,
	       "$HSMCERT enroll --acme-roots \"$ROOTS\" --acme \"$ACME\" --label busy "
	       "--cn localhost --http-port %d --json",
	       ntohs(a.sin_port));
	close(fd);
	ts_assert_status(&r, 4);
	/* The library names the condition; the CLI adds the options that avoid it. */
	cr_assert(strstr(r.err, "cannot listen on port"), "%s", r.err);
	cr_assert(strstr(r.err, "--http-port N or --webroot DIR"), "%s", r.err);
	doc = ct_json(&r);
	cr_assert(
		strstr(json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
		       "--webroot DIR"));
	cr_assert_eq(ts_count_objects("test"), 0);
	json_decref(doc);
	ts_result_free(&r);
}

Test(acme, webroot_files_are_removed)
{
	struct ts_result r;

	free(ts_sh("mkdir -p www && echo index > www/index.html"));
	/* A web server of our own on port 80, serving www/ while enroll writes into it. */
	ts_run(&r, "$P80 sh -c '/usr/bin/python3 -m http.server 80 --bind 0.0.0.0 --directory www "
		   ">web.log 2>&1 & echo $! > web.pid; "
		   "for i in $(seq 1 100); do curl -sf http://127.0.0.1/index.html >/dev/null && "
		   "break; sleep 0.1; done; "
		   "$HSMCERT enroll --acme-roots \"$ROOTS\" --acme \"$ACME\" --label web --cn "
		   "localhost --webroot www; rc=$?; kill $(cat web.pid); exit $rc'");
	ts_assert_status(&r, 0);
	/* The CA fetched the answer from the web server; the files and folders are gone. */
	cr_assert(strstr(ts_read("web.log", NULL), "/.well-known/acme-challenge/"), "%s",
		  ts_read("web.log", NULL));
	cr_assert(!ts_exists("www/.well-known"));
	cr_assert(ts_exists("www/index.html"));
	ts_result_free(&r);
}

Test(acme, external_account_binding)
{
	struct ts_result r;
	char *keys;

	/*
	 * Without the binding: refused before an account exists; the new account key goes.
	 * No challenge is reached: a port of its own, not port 80 the other tests take turns on.
	 */
	ts_run(&r,
	       "$HSMCERT enroll --acme-roots \"$ROOTS\" --acme \"$ACME_EAB\" --label e "
	       "--cn localhost --http-port %d",
	       ts_free_port());
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "external account binding"), "%s", r.err);
	cr_assert(strstr(r.err, "--eab-kid"), "%s", r.err);
	keys = p11_list("privkey");
	cr_assert_eq(ct_count(keys, "Private Key Object"), 0, "%s", keys);
	ts_result_free(&r);
	free(keys);

	/* A wrong HMAC key: the CA refuses, nothing is left. */
	ts_run(&r, "EAB=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA $P80 $HSMCERT enroll "
		   "--acme-roots \"$ROOTS\" --acme \"$ACME_EAB\" --label e --cn localhost "
		   "--eab-kid $(cut -d' ' -f1 eab) --eab-hmac-source env:EAB");
	cr_assert_neq(r.status, 0, "%s", r.err);
	keys = p11_list("privkey");
	cr_assert_eq(ct_count(keys, "Private Key Object"), 0, "%s", keys);
	ts_result_free(&r);
	free(keys);

	/* The CA's key id and HMAC key (from a file, as PINs): the account is created. */
	free(ts_sh("cut -d' ' -f2 eab > hmac"));
	ts_run(&r,
	       "$P80 $HSMCERT enroll --acme-roots \"$ROOTS\" --acme \"$ACME_EAB\" --label e "
	       "--cn localhost --eab-kid $(cut -d' ' -f1 eab) --eab-hmac-source file:hmac --json");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "\"created\": true") || strstr(r.out, "\"created\":true"), "%s",
		  r.out);
	ts_result_free(&r);
}

Test(acme, untrusted_server_or_chain_leaves_nothing)
{
	struct ts_result r;
	char *keys;

	free(ts_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		   "-keyout other.key -out other.crt -days 2 -subj '/CN=Other Root' 2>/dev/null"));
	/* TLS to a CA its roots do not vouch for: refused before anything is made. */
	ts_run(&r,
	       "$HSMCERT enroll --acme \"$ACME\" --acme-roots other.crt --label x "
	       "--cn localhost --http-port %d",
	       ts_free_port());
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.err, "certificate"), "%s", r.err);
	ts_result_free(&r);
	keys = p11_list("privkey");
	cr_assert_eq(ct_count(keys, "Private Key Object"), 0, "%s", keys);
	free(keys);

	/* An issued chain that does not reach the trusted roots: refused, key removed, no file. */
	enroll(&r, "--acme \"$ACME\" --roots other.crt --label x --cn localhost -o x.pem");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "does not verify"), "%s", r.err);
	cr_assert(!ts_exists("x.pem"));
	keys = p11_list("privkey");
	cr_assert(strstr(keys, "label:      x\n") == NULL, "%s", keys);
	cr_assert_eq(ct_count(keys, "Private Key Object"), 1, "%s", keys); /* the account key */
	ts_result_free(&r);
	free(keys);
}

/* ---- a server that misbehaves (tests/support/fakeacme.py) --------------- */

/*
 * A Python HTTPS server of tests/support/ (SCRIPT CERT KEY PORTFILE LOGFILE ARGS...) on
 * 127.0.0.1 with a self-signed certificate of its own, files NAME.crt, .key, .port, .log
 * and .pid; returns once it listens (bounded wait for its port file).
 */
static void py_server_start(const char *name, const char *script, const char *args)
{
	free(ts_sh(
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		"-keyout %1$s.key -out %1$s.crt -days 2 -subj /CN=127.0.0.1 "
		"-addext subjectAltName=IP:127.0.0.1 2>/dev/null && "
		"/usr/bin/python3 -B \"$HSMCERT_SOURCE_DIR/tests/support/%2$s\" %1$s.crt %1$s.key "
		"%1$s.port %1$s.log %3$s >%1$s.out 2>&1 & echo $! > %1$s.pid; "
		"for i in $(seq 1 100); do [ -f %1$s.port ] && break; sleep 0.1; done; "
		"[ -f %1$s.port ]",
		name, script, args));
}

static void fake_start(const char *mode)
{
	py_server_start("fake", "fakeacme.py", mode);
}

/* enroll against the fake server fails with `want`, saying `needle`, leaving no key. */
static void fake_enroll_fails(int want, const char *needle)
{
	struct ts_result r;
	char *keys;

	ts_run(&r,
	       "$HSMCERT enroll --acme https://127.0.0.1:$(cat fake.port)/directory "
	       "--acme-roots fake.crt --roots fake.crt --label k --cn localhost --http-port "
	       "%d",
	       ts_free_port());
	ts_assert_status(&r, want);
	cr_assert(strstr(r.err, needle), "want '%s' in:\n%s", needle, r.err);
	/* Nothing was made: neither the certificate's key nor an unregistered account key. */
	keys = p11_list("privkey");
	cr_assert_eq(ct_count(keys, "Private Key Object"), 0, "%s", keys);
	ts_result_free(&r);
	free(keys);
}

static void assert_fake_fails(const char *mode, int want, const char *needle)
{
	fake_start(mode);
	fake_enroll_fails(want, needle);
}

Test(acme, server_answers_garbage)
{
	assert_fake_fails("garbage", 4, "directory is not JSON");
}

Test(acme, server_answers_wrong_types)
{
	assert_fake_fails("wrongtypes", 4, "\"newNonce\" is not a string");
}

Test(acme, server_answers_a_huge_body)
{
	assert_fake_fails("bigbody", 4, "larger than");
}

Test(acme, server_answers_a_problem_document)
{
	assert_fake_fails("problem", 4,
			  "urn:ietf:params:acme:error:serverInternal: the account database is on "
			  "fire");
}

Test(acme, server_answers_html_error)
{
	assert_fake_fails("html", 4, "HTTP 502 without a problem document");
}

Test(acme, terms_of_service_must_be_agreed)
{
	char *count;

	fake_start("tos");
	fake_enroll_fails(2, "terms.pdf");
	fake_enroll_fails(2, "--agree-tos");
	/* Looked for the account (twice: two runs), never tried to create one. */
	count = ts_sh("grep -c '^/account$' fake.log");
	cr_assert_str_eq(count, "2\n");
	free(count);
}

Test(acme, waits_are_bounded)
{
	struct ts_result r;
	char *keys, *polls;

	fake_start("stuck");
	ts_run(&r,
	       "$HSMCERT enroll --acme https://127.0.0.1:$(cat fake.port)/directory "
	       "--acme-roots fake.crt --roots fake.crt --label k --cn localhost --http-port %d "
	       "--wait 3",
	       ts_free_port());
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.err, "still pending after 3 s"), "%s", r.err);
	keys = p11_list("privkey");
	cr_assert(strstr(keys, "label:      k\n") == NULL, "%s", keys);
	/* Retry-After: 1 was honoured: at most a handful of polls in 3 s, not a busy loop. */
	polls = ts_sh("grep -c '^/authz/1$' fake.log");
	cr_assert(atoi(polls) >= 1 && atoi(polls) <= 8, "%s polls", polls);
	free(polls);
	free(keys);
	ts_result_free(&r);
}

Test(acme, bad_nonce_retries_are_bounded)
{
	char *count;

	assert_fake_fails("badnonce", 1, "badNonce");
	count = ts_sh("grep -c '^/account$' fake.log");
	cr_assert_str_eq(count, "5\n");
	free(count);
}

Test(acme, bad_options)
{
	static const char *const cases[][2] = {
		{"--acme http://127.0.0.1/directory --label x --cn localhost", "https://"},
		{"--label x --cn localhost", "--acme URL is required"},
		{"--acme https://x/ --label x --key pkcs11:object=x --cn localhost", "not both"},
		{"--acme https://x/ --label x --cn localhost --http-port 0", "--http-port"},
		{"--acme https://x/ --label x --cn localhost --webroot . --http-port 81",
		 "choose one"},
		{"--acme https://x/ --label x --cn localhost --eab-kid k", "go together"},
		{"--acme https://x/ --label x", "needs a host name"},
		{"--acme https://x/ --label x --cn https://localhost/", "localhost"},
	};
	struct ts_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ts_run(&r, "$HSMCERT enroll %s", cases[i][0]);
		ts_assert_status(&r, 2);
		cr_assert(strstr(r.err, cases[i][1]), "%s: want '%s' in:\n%s", cases[i][0],
			  cases[i][1], r.err);
		ts_result_free(&r);
	}
	/* An existing chain file without --force: refused before anything happens. */
	ts_write("exists.pem", "keep me\n");
	ts_run(&r, "$HSMCERT enroll --acme https://127.0.0.1:1/d --label x --cn localhost "
		   "-o exists.pem");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "--force"), "%s", r.err);
	cr_assert_str_eq(ts_read("exists.pem", NULL), "keep me\n");
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT renew --acme https://x/");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT renew --all --days x --acme https://x/");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	/* Nothing on the token. */
	cr_assert_eq(ts_count_objects("test"), 0);
}

/* ---- alternate chains: step-ca behind tests/support/acmeproxy.py ------------ */

/*
 * Another throw-away PKI: "other.crt" (a root nobody trusts here), "cross.pem"
 * (step-ca's intermediate, same name and key, certified by that root: the
 * default chain a CA serves for old clients) and "stranger.pem" (an
 * intermediate of the other root with a key of its own).
 */
static void other_pki(void)
{
	free(ts_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		   "-keyout other.key -out other.crt -days 2 -subj '/CN=Other Root' "
		   "-addext basicConstraints=critical,CA:TRUE "
		   "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null && "
		   "printf 'basicConstraints=critical,CA:TRUE,pathlen:0\\n"
		   "keyUsage=critical,keyCertSign,cRLSign\\n' > ca.ext && "
		   "openssl req -new -key ca/int.key -subj \"$(openssl x509 -in ca/int.crt -noout "
		   "-subject -nameopt compat | sed 's/^subject=//')\" 2>/dev/null | "
		   "openssl x509 -req -CA other.crt -CAkey other.key -CAcreateserial -days 2 "
		   "-extfile ca.ext -out cross.pem 2>/dev/null && "
		   "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		   "-keyout stranger.key -subj '/CN=Stranger Intermediate' 2>/dev/null | "
		   "openssl x509 -req -CA other.crt -CAkey other.key -CAcreateserial -days 2 "
		   "-extfile ca.ext -out stranger.pem 2>/dev/null"));
}

/* The proxy before step-ca: default chain leaf + `deflt`, then the alternates `alts`. */
static void proxy_start(const char *deflt, const char *alts)
{
	char args[512];

	other_pki();
	snprintf(args, sizeof(args), "\"$STEPCA_PORT\" \"$ROOTS\" %s %s", deflt, alts);
	py_server_start("proxy", "acmeproxy.py", args);
}

/* enroll through the proxy: TLS to it trusts its certificate, chains trust the test root. */
static int proxy_enroll(struct ts_result *r, const char *args)
{
	return ts_run(r,
		      "$P80 $HSMCERT enroll --acme "
		      "https://127.0.0.1:$(cat proxy.port)/acme/acme/directory "
		      "--acme-roots proxy.crt --roots \"$ROOTS\" %s",
		      args);
}

Test(acme, alternate_chain_used_when_the_default_does_not_verify)
{
	struct ts_result r;
	const json_t *alts;
	json_t *doc;
	char *out, *id;

	proxy_start("cross.pem", "upstream");
	/* The default chain alone does not verify to the test root (the proxy can fail). */
	out = ts_sh(
		"openssl verify -CAfile \"$ROOTS\" -untrusted cross.pem cross.pem 2>&1 || true");
	cr_assert(strstr(out, "OK") == NULL, "%s", out);
	free(out);

	proxy_enroll(&r, "--label alt --type ec:P-256 --cn localhost -o chain.pem --json");
	doc = ct_result_json(&r, 0);
	cr_assert(json_is_true(jget(doc, "enrolled.chain.verified")));
	cr_assert(json_is_true(jget(doc, "enrolled.chain.alternate_used")));
	alts = jget(doc, "enrolled.chain.alternates");
	cr_assert_eq(json_array_size(alts), 1);
	cr_assert(strstr(json_string_value(json_array_get(alts, 0)), "/alternate/0/"), "%s",
		  json_string_value(json_array_get(alts, 0)));
	/* The CA's URLs all name the proxy: every request went through it. */
	out = ts_read("proxy.port", NULL);
	cr_assert(strstr(ct_str(doc, "enrolled.order_url"), out), "%s",
		  ct_str(doc, "enrolled.order_url"));
	free(out);

	/* openssl verifies the chain written, and it carries step-ca's intermediate. */
	out = ts_sh("openssl verify -CAfile \"$ROOTS\" -untrusted chain.pem chain.pem 2>&1");
	cr_assert(strstr(out, "chain.pem: OK"), "%s", out);
	free(out);
	out = ts_sh("openssl crl2pkcs7 -nocrl -certfile chain.pem | openssl pkcs7 -print_certs "
		    "-noout | grep -c '^issuer=.*hsmcert ACME Test Root' || true");
	cr_assert_str_eq(out, "1\n");
	free(out);
	/* The alternate was fetched once, by POST-as-GET (signed, empty payload). */
	out = ts_sh("grep -c '^POST /alternate/0/.* application/jose+json 0$' proxy.log || true");
	cr_assert_str_eq(out, "1\n", "proxy.log says %s", out);
	free(out);
	/* What was stored is the token key's certificate. */
	id = p11_key_id("alt");
	assert_cert_matches_token_key("chain.pem", id);
	free(id);
	json_decref(doc);
}

Test(acme, no_verifying_alternate_fails_and_leaves_no_key)
{
	struct ts_result r;
	char *keys, *certs;

	/* The default chain and both alternates end at a root nobody here trusts. */
	proxy_start("cross.pem", "stranger.pem cross.pem");
	proxy_enroll(&r, "--label alt --type ec:P-256 --cn localhost -o chain.pem");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "does not verify"), "%s", r.err);
	cr_assert(strstr(r.err, "nor do the 2 alternate chains"), "%s", r.err);
	cr_assert(!ts_exists("chain.pem"));
	/* Both alternates were tried. */
	certs = ts_read("proxy.log", NULL);
	cr_assert_eq(ct_count(certs, "POST /alternate/"), 2, "%s", certs);
	free(certs);
	/* pkcs11-tool: no key and no certificate of this run; the account key stays. */
	keys = p11_list("privkey");
	cr_assert(strstr(keys, "label:      alt\n") == NULL, "%s", keys);
	cr_assert_eq(ct_count(keys, "Private Key Object"), 1, "%s", keys);
	cr_assert(strstr(keys, "acme-account"), "%s", keys);
	free(keys);
	keys = p11_list("pubkey");
	cr_assert(strstr(keys, "label:      alt\n") == NULL, "%s", keys);
	certs = p11_list("cert");
	cr_assert_eq(ct_count(certs, "Certificate Object"), 0, "%s", certs);
	free(keys);
	free(certs);
	ts_result_free(&r);
}
