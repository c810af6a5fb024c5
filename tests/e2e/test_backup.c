/*
 * backup and restore end to end against SoftHSM2: round trips into fresh
 * tokens proved by pkcs11-tool signatures that openssl verifies with the
 * certificate, PKCS#12 read back by openssl, legacy PKCS#12, tampering in
 * every region of the file, truncation, wrong passphrase, wrong recipient,
 * existing labels, injected token failures and random corruption. Every
 * refusal leaves the token as it was (objects counted with pkcs11-tool).
 */
#include "support.h"

#include "hsmcert/backup.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define PASS "correct horse battery staple"

static void setup(void)
{
	ts_setup_token();
	setenv("HSMCERT_PASSPHRASE", PASS, 1);
	ts_add_token("second");
}

TestSuite(backup, .init = setup, .fini = ts_teardown);

/* A software root and sub CA in the test directory (once per test). */
static void make_ca(void)
{
	free(ts_sh(
		"openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -subj '/CN=Test Root' "
		"-days 30 -out root.crt -addext basicConstraints=critical,CA:TRUE "
		"-addext keyUsage=keyCertSign,cRLSign 2>/dev/null && "
		"openssl req -new -newkey rsa:2048 -nodes -keyout sub.key -subj '/CN=Test Sub' "
		"-out sub.csr 2>/dev/null && "
		"printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=keyCertSign,cRLSign\\n' "
		">ca.ext && openssl x509 -req -in sub.csr -CA root.crt -CAkey root.key "
		"-CAcreateserial -days 30 -extfile ca.ext -out sub.crt 2>/dev/null"));
}

/*
 * keygen --exportable on token "test", then a certificate for the token's
 * public key from the sub CA, stored on the token with the key's id, and the
 * CA certificates beside it (pkcs11-tool, independent of us).
 */
static void make_key(const char *label, const char *type, bool exportable, bool with_cert)
{
	struct ts_result r;
	json_t *doc;
	const char *id;
	char path[128];

	ts_run(&r, "$HSMCERT --token pkcs11:token=test keygen --json --label %s --type %s %s",
	       label, type, exportable ? "--exportable" : "");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	id = json_string_value(json_object_get(json_object_get(doc, "key"), "id"));
	cr_assert_not_null(id);
	/* pkcs11-tool --sign picks its key by id (its --label is not a filter there). */
	snprintf(path, sizeof(path), "%s.id", label);
	ts_write(path, id);
	if (with_cert) {
		if (!ts_exists("sub.crt"))
			make_ca();
		free(ts_sh(
			"pkcs11-tool --module %s --token-label test --read-object --type pubkey "
			"--id %s -o %s.pub.der 2>/dev/null && "
			"openssl pkey -pubin -inform DER -in %s.pub.der -out %s.pub.pem && "
			"openssl req -new -key sub.key -subj /CN=%s.example.hk -out %s.csr && "
			"openssl x509 -req -in %s.csr -CA sub.crt -CAkey sub.key -CAcreateserial "
			"-days 30 -force_pubkey %s.pub.pem -out %s.crt 2>/dev/null && "
			"openssl x509 -in %s.crt -outform DER -out %s.crt.der && "
			"pkcs11-tool --module %s --token-label test --login --pin %s "
			"--write-object %s.crt.der --type cert --id %s --label %s >/dev/null 2>&1",
			TS_SOFTHSM, id, label, label, label, label, label, label, label, label,
			label, label, TS_SOFTHSM, TS_PIN, label, id, label));
		if (!ts_exists("sub.der"))
			free(ts_sh(
				"openssl x509 -in sub.crt -outform DER -out sub.der && "
				"openssl x509 -in root.crt -outform DER -out root.der && "
				"pkcs11-tool --module %s --token-label test --login --pin %s "
				"--write-object sub.der --type cert --label 'Test Sub' >/dev/null "
				"2>&1 && pkcs11-tool --module %s --token-label test --login --pin %s "
				"--write-object root.der --type cert --label 'Test Root' >/dev/null "
				"2>&1",
				TS_SOFTHSM, TS_PIN, TS_SOFTHSM, TS_PIN));
	}
	json_decref(doc);
	ts_result_free(&r);
}

/*
 * The key `label` on `token` signs with pkcs11-tool, and openssl verifies the
 * signature with the public key of `cert`: proof without our own code.
 */
static void assert_signs_for(const char *token, const char *label, const char *cert, bool ec)
{
	struct ts_result r;
	char which[160], path[128];
	char *id;

	snprintf(path, sizeof(path), "%s.id", label);
	id = ts_read(path, NULL);
	if (id)
		snprintf(which, sizeof(which), "--id %s", id);
	else
		snprintf(which, sizeof(which), "--label %s", label);
	free(id);

	ts_write("challenge.bin", "a challenge for the restored key\n");
	if (ec)
		ts_run(&r,
		       "openssl dgst -sha256 -binary challenge.bin >challenge.sha256 && "
		       "pkcs11-tool --module %s --token-label %s --login --pin %s --sign "
		       "--mechanism ECDSA --signature-format openssl %s -i challenge.sha256 "
		       "-o sig.bin && openssl x509 -in %s -pubkey -noout >signer.pem && "
		       "openssl dgst -sha256 -verify signer.pem -signature sig.bin challenge.bin",
		       TS_SOFTHSM, token, TS_PIN, which, cert);
	else
		ts_run(&r,
		       "pkcs11-tool --module %s --token-label %s --login --pin %s --sign "
		       "--mechanism SHA256-RSA-PKCS %s -i challenge.bin -o sig.bin && "
		       "openssl x509 -in %s -pubkey -noout >signer.pem && "
		       "openssl dgst -sha256 -verify signer.pem -signature sig.bin challenge.bin",
		       TS_SOFTHSM, token, TS_PIN, which, cert);
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Verified OK"), "%s%s", r.out, r.err);
	ts_result_free(&r);
}

static char *access_line(const char *token, const char *label)
{
	return ts_sh("pkcs11-tool --module %s --token-label %s --login --pin %s --list-objects "
		     "--type privkey 2>/dev/null | grep -A6 \"label: *%s$\" | grep 'Access:'",
		     TS_SOFTHSM, token, TS_PIN, label);
}

/* Restore must be refused with `want` and leave "second" exactly as it was. */
static void assert_refused(const char *file, int want, const char *message)
{
	struct ts_result r;
	int before = ts_count_objects("second");

	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore %s", file);
	ts_assert_status(&r, want);
	if (message)
		cr_assert(strstr(r.err, message), "want '%s' in: %s", message, r.err);
	cr_assert_eq(ts_count_objects("second"), before, "the token changed on a refused restore");
	ts_result_free(&r);
}

static void backup_key(const char *label, const char *file, const char *extra)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT --token pkcs11:token=test backup --key 'pkcs11:object=%s' -o %s %s",
	       label, file, extra ? extra : "");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

static void round_trip(const char *type, bool ec)
{
	struct ts_result r;
	json_t *doc, *key;
	char *access, *mode;

	make_key("web", type, true, true);
	ts_run(&r, "$HSMCERT --token pkcs11:token=test --json backup --key 'pkcs11:object=web' "
		   "-o web.hsmb");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert(json_is_true(json_object_get(doc, "complete")));
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(doc, "protection"), "kdf")),
		"scrypt");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "protection"), "n")),
		     1 << 18);
	json_decref(doc);
	ts_result_free(&r);
	mode = ts_sh("stat -c %%a web.hsmb");
	cr_assert_str_eq(mode, "600\n");
	free(mode);

	cr_assert_eq(ts_count_objects("second"), 0);
	ts_run(&r, "$HSMCERT --token pkcs11:token=second --json restore web.hsmb");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	key = json_array_get(json_object_get(doc, "keys"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(key, "label")), "web");
	cr_assert(json_is_true(json_object_get(key, "proved")));
	cr_assert(json_is_true(json_object_get(json_object_get(key, "attributes"), "sensitive")));
	cr_assert(json_is_true(json_object_get(json_object_get(key, "attributes"), "extractable")));
	cr_assert_eq(json_integer_value(json_object_get(key, "ca_certificates")), 2);
	json_decref(doc);
	ts_result_free(&r);

	/* private, public, certificate, sub CA, root */
	cr_assert_eq(ts_count_objects("second"), 5);
	assert_signs_for("second", "web", "web.crt", ec);
	access = access_line("second", "web");
	cr_assert(strstr(access, "sensitive") && strstr(access, "extractable"), "%s", access);
	free(access);
}

Test(backup, rsa_round_trip_into_fresh_token)
{
	round_trip("rsa:2048", false);
}

Test(backup, ec_round_trip_into_fresh_token)
{
	round_trip("ec:P-256", true);
}

Test(backup, restore_no_exportable_overrides_record)
{
	struct ts_result r;
	char *access;

	make_key("web", "rsa:2048", true, false);
	backup_key("web", "web.hsmb", NULL);
	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore web.hsmb --no-exportable "
		   "--label restored");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "recorded public key"), "%s", r.out);
	ts_result_free(&r);
	access = access_line("second", "restored");
	cr_assert(strstr(access, "sensitive") && !strstr(access, "extractable"), "%s", access);
	free(access);
}

Test(backup, pfx_export_is_aes_pbkdf2_sha256)
{
	struct ts_result r;
	char *a, *b;

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.pfx", NULL);
	ts_run(&r, "openssl pkcs12 -info -nodes -in web.pfx -passin env:HSMCERT_PASSPHRASE");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.err, "MAC: sha256"), "%s", r.err);
	cr_assert(strstr(r.err, "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"), "%s", r.err);
	cr_assert(strstr(r.err, "PRF hmacWithSHA256"), "%s", r.err);
	cr_assert(strstr(r.err, "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"), "%s", r.err);
	cr_assert(strstr(r.out, "friendlyName: web"), "%s", r.out);
	cr_assert(strstr(r.out, "subject=CN = Test Sub"), "%s", r.out);
	ts_result_free(&r);
	/* The key in the PKCS#12 is the certificate's. */
	a = ts_sh("openssl pkcs12 -in web.pfx -passin env:HSMCERT_PASSPHRASE -nocerts -nodes "
		  "2>/dev/null | openssl pkey -pubout");
	b = ts_sh("openssl x509 -in web.crt -pubkey -noout");
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
	/* A wrong passphrase cannot open it. */
	ts_run(&r, "openssl pkcs12 -info -noout -in web.pfx -passin pass:wrong");
	cr_assert_neq(r.status, 0);
	ts_result_free(&r);
}

Test(backup, pfx_round_trip_is_not_exportable_by_default)
{
	struct ts_result r;
	char *access;

	make_key("web", "ec:P-256", true, true);
	backup_key("web", "web.p12", NULL);
	ts_run(&r, "$HSMCERT --token pkcs11:token=second --json restore web.p12");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "\"format\": \"pfx\""), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("second"), 5);
	assert_signs_for("second", "web", "web.crt", true);
	access = access_line("second", "web");
	cr_assert(strstr(access, "sensitive") && !strstr(access, "extractable"), "%s", access);
	free(access);
}

Test(backup, legacy_pfx_is_restored)
{
	struct ts_result r;

	make_ca();
	free(ts_sh(
		"openssl req -new -newkey rsa:2048 -nodes -keyout exch.key -subj "
		"/CN=mail.example.hk -out exch.csr 2>/dev/null && openssl x509 -req -in exch.csr "
		"-CA sub.crt -CAkey sub.key -CAcreateserial -days 30 -out exch.crt 2>/dev/null && "
		"openssl pkcs12 -export -legacy -inkey exch.key -in exch.crt -certfile sub.crt "
		"-name exchange -passout env:HSMCERT_PASSPHRASE -out legacy.pfx"));
	/* Really legacy: OpenSSL 3 needs -legacy to read it. */
	ts_run(&r, "openssl pkcs12 -info -noout -in legacy.pfx -passin env:HSMCERT_PASSPHRASE "
		   "-legacy");
	cr_assert(strstr(r.err, "pbeWithSHA1And3-KeyTripleDES-CBC"), "%s", r.err);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT --token pkcs11:token=second --json restore legacy.pfx");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "\"legacy_pkcs12\": true"), "%s", r.out);
	cr_assert(strstr(r.out, "\"label\": \"exchange\""), "%s", r.out);
	ts_result_free(&r);
	assert_signs_for("second", "exchange", "exch.crt", false);
	/* key, public key, certificate, sub CA */
	cr_assert_eq(ts_count_objects("second"), 4);
}

Test(backup, pfx_wrong_passphrase_changes_nothing)
{
	make_key("web", "rsa:2048", true, false);
	backup_key("web", "web.pfx", NULL);
	setenv("HSMCERT_PASSPHRASE", "not the passphrase", 1);
	assert_refused("web.pfx", 1, NULL);
}

Test(backup, non_extractable_key_is_refused_with_reason)
{
	struct ts_result r;

	make_key("locked", "rsa:2048", false, false);
	/* Said before a passphrase is asked for: none is available here, and none is needed. */
	ts_run(&r, "unset HSMCERT_PASSPHRASE; $HSMCERT --token pkcs11:token=test backup "
		   "--key pkcs11:object=locked -o k.hsmb");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "CKA_EXTRACTABLE=false"), "%s", r.err);
	cr_assert(strstr(r.err, "cloning"), "%s", r.err);
	cr_assert_null(strstr(r.err, "passphrase"), "%s", r.err);
	cr_assert(!ts_exists("k.hsmb"));
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT --token pkcs11:token=test backup --key pkcs11:object=locked -o k.pfx");
	ts_assert_status(&r, 1);
	cr_assert(!ts_exists("k.pfx"));
	ts_result_free(&r);
}

Test(backup, all_saves_extractable_and_lists_the_rest)
{
	struct ts_result r;
	json_t *doc, *keys;
	size_t i;
	int refused = 0;

	make_key("one", "rsa:2048", true, false);
	make_key("two", "ec:P-256", true, false);
	make_key("locked", "ec:P-256", false, false);
	ts_run(&r, "$HSMCERT --token pkcs11:token=test --json backup --all -o all.hsmb");
	ts_assert_status(&r, 1);
	doc = ts_json(&r);
	cr_assert_eq(json_integer_value(json_object_get(doc, "saved")), 2);
	cr_assert_eq(json_integer_value(json_object_get(doc, "not_saved")), 1);
	cr_assert(json_is_false(json_object_get(doc, "complete")));
	keys = json_object_get(doc, "keys");
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		if (json_is_true(json_object_get(k, "saved")))
			continue;
		refused++;
		cr_assert_str_eq(json_string_value(json_object_get(k, "label")), "locked");
		cr_assert_str_eq(json_string_value(json_object_get(k, "attribute")),
				 "CKA_EXTRACTABLE");
	}
	cr_assert_eq(refused, 1);
	json_decref(doc);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore all.hsmb");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Restored 2 keys"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("second"), 4);
}

Test(backup, wrong_passphrase_changes_nothing)
{
	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	setenv("HSMCERT_PASSPHRASE", "not the passphrase", 1);
	assert_refused("web.hsmb", 1, "wrong passphrase");
}

Test(backup, existing_label_needs_force)
{
	struct ts_result r;
	int before;

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	before = ts_count_objects(TS_TOKEN);
	/* Back onto the token it came from: the label is there. */
	ts_run(&r, "$HSMCERT --token pkcs11:token=test restore web.hsmb");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "already holds label 'web'"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), before);

	ts_run(&r, "$HSMCERT --token pkcs11:token=test restore --force web.hsmb");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "Replaced"), "%s", r.out);
	ts_result_free(&r);
	/* Replaced, not doubled; the certificate kept. */
	cr_assert_eq(ts_count_objects(TS_TOKEN), before);
	assert_signs_for("test", "web", "web.crt", false);
}

/*
 * The same file restored again (a script re-running a restore killed after it
 * was complete, issue 14.5): the token holds the key exactly as restore makes
 * it, so it is adopted: exit 0, said so, nothing changed. The same key with
 * other usages is not what this restore makes: refused as before.
 */
Test(backup, restoring_again_adopts_the_complete_key)
{
	struct ts_result r;
	json_t *doc, *key;
	int before;

	make_key("web", "ec:P-256", true, true);
	backup_key("web", "web.hsmb", NULL);
	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore web.hsmb");
	ts_assert_status(&r, 0);
	cr_assert_not(strstr(r.out, "Already present"), "%s", r.out);
	ts_result_free(&r);
	before = ts_count_objects("second");

	ts_run(&r, "$HSMCERT --token pkcs11:token=second --json restore web.hsmb");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	key = json_array_get(json_object_get(doc, "keys"), 0);
	cr_assert(json_is_true(json_object_get(key, "already_present")), "%s", r.out);
	cr_assert_eq(json_integer_value(json_object_get(key, "replaced")), 0);
	json_decref(doc);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("second"), before);
	assert_signs_for("second", "web", "web.crt", true);

	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore web.hsmb --usage sign,decrypt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "already holds label 'web'"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("second"), before);
}

/* Offset of `needle` in `hay`, asserting it is there. */
static size_t offset_of(const unsigned char *hay, size_t len, const void *needle, size_t n)
{
	const unsigned char *p = memmem(hay, len, needle, n);
	cr_assert_not_null(p);
	return (size_t)(p - hay);
}

static void write_flipped(const unsigned char *data, size_t len, size_t at, const char *name)
{
	FILE *f = fopen(name, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, at, f), at);
	fputc(data[at] ^ 0x01, f);
	cr_assert_eq(fwrite(data + at + 1, 1, len - at - 1, f), len - at - 1);
	cr_assert_eq(fclose(f), 0);
}

static void write_prefix(const unsigned char *data, size_t len, const char *name)
{
	FILE *f = fopen(name, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

Test(backup, one_flipped_byte_anywhere_is_refused)
{
	unsigned char *data;
	size_t len;
	hc_backup_file f;
	hc_error err = {0};
	const hc_backup_entry *e;

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	data = (unsigned char *)ts_read("web.hsmb", &len);
	cr_assert_eq(hc_backup_parse(data, len, "web.hsmb", &f, &err), HC_OK, "%s", err.message);
	e = &f.entries[0];
	cr_assert(e->certificate.len > 0 && e->ca_count == 2);

	/* Header: a wrong magic is no backup (2); a wrong version or length is tampering (1). */
	write_flipped(data, len, 2, "magic.hsmb");
	assert_refused("magic.hsmb", 2, NULL);
	write_flipped(data, len, 9, "version.hsmb");
	assert_refused("version.hsmb", 1, "version");
	write_flipped(data, len, 14, "length.hsmb");
	assert_refused("length.hsmb", 1, "modified or damaged");
	/* Parameters: the salt and the creator text. */
	write_flipped(data, len, offset_of(data, len, f.salt, sizeof(f.salt)) + 5, "salt.hsmb");
	assert_refused("salt.hsmb", 1, NULL);
	write_flipped(data, len, offset_of(data, len, "hsmcert ", 8) + 2, "creator.hsmb");
	assert_refused("creator.hsmb", 1, "modified");
	/* The key's label and the wrapped key. */
	write_flipped(data, len,
		      offset_of(data, len, e->wrapped_key.data, e->wrapped_key.len) +
			      e->wrapped_key.len / 2,
		      "wrapped.hsmb");
	assert_refused("wrapped.hsmb", 1, "modified");
	write_flipped(data, len, offset_of(data, len, e->public_key.data, e->public_key.len) + 40,
		      "public.hsmb");
	assert_refused("public.hsmb", 1, "modified");
	/* Certificates. */
	write_flipped(data, len,
		      offset_of(data, len, e->certificate.data, e->certificate.len) + 100,
		      "cert.hsmb");
	assert_refused("cert.hsmb", 1, "modified");
	write_flipped(data, len,
		      offset_of(data, len, e->ca_certificates[1].data, e->ca_certificates[1].len) +
			      e->ca_certificates[1].len - 3,
		      "ca.hsmb");
	assert_refused("ca.hsmb", 1, "modified");
	/* The tag itself. */
	write_flipped(data, len, len - 1, "tag.hsmb");
	assert_refused("tag.hsmb", 1, "modified");
	hc_backup_file_clear(&f);
	free(data);
}

Test(backup, truncated_or_extended_files_are_refused)
{
	unsigned char *data;
	size_t len;
	const size_t cut[] = {0, 1, 8, 15, 16, 47, 48, 100, 0 /* len/2 */, 0 /* len-1 */};
	char name[64];

	make_key("web", "ec:P-256", true, false);
	backup_key("web", "web.hsmb", NULL);
	data = (unsigned char *)ts_read("web.hsmb", &len);
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		size_t n = i == 8 ? len / 2 : i == 9 ? len - 1 : cut[i];
		snprintf(name, sizeof(name), "cut%zu.hsmb", n);
		write_prefix(data, n, name);
		/* Without the whole magic it is no backup (2); with it, a truncated one (1). */
		assert_refused(name, n < HC_BACKUP_MAGIC_LEN ? 2 : 1, NULL);
	}
	{
		unsigned char *longer = malloc(len + 1);
		memcpy(longer, data, len);
		longer[len] = 0;
		write_prefix(longer, len + 1, "longer.hsmb");
		free(longer);
		assert_refused("longer.hsmb", 1, "length");
	}
	free(data);
}

/* The recipient: an RSA key pair that may only unwrap, made by keygen --purpose recipient. */
static void make_vault(void)
{
	char *usage;

	ts_add_token("vault");
	free(ts_sh("$HSMCERT --token pkcs11:token=vault keygen --label recipient --id 0101 "
		   "--purpose recipient >/dev/null && pkcs11-tool --module %s --token-label vault "
		   "--read-object --type pubkey --label recipient -o recipient.der 2>/dev/null && "
		   "openssl pkey -pubin -inform DER -in recipient.der -out recipient.pem",
		   TS_SOFTHSM));
	/* What pkcs11-tool sees: the private key unwraps and does nothing else. */
	usage = ts_sh("pkcs11-tool --module %s --token-label vault --login --pin %s "
		      "--list-objects --type privkey 2>/dev/null | grep 'Usage:'",
		      TS_SOFTHSM, TS_PIN);
	cr_assert(strstr(usage, "unwrap") && !strstr(usage, "sign") && !strstr(usage, "decrypt"),
		  "%s", usage);
	free(usage);
}

Test(backup, token_to_token_via_recipient_key)
{
	struct ts_result r;
	json_t *doc, *prot;
	int vault_before;

	make_vault();
	make_key("web", "rsa:2048", true, true);
	unsetenv("HSMCERT_PASSPHRASE"); /* no passphrase involved */
	ts_run(&r, "$HSMCERT --token pkcs11:token=test --json backup --key pkcs11:object=web "
		   "--to 'pkcs11:token=vault;object=recipient' -o web.hsmb");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	prot = json_object_get(doc, "protection");
	cr_assert_str_eq(json_string_value(json_object_get(prot, "mode")), "recipient");
	/* SoftHSM2 does OAEP with SHA-1 only: negotiated and recorded. */
	cr_assert_str_eq(json_string_value(json_object_get(prot, "oaep_hash")), "sha1");
	json_decref(doc);
	ts_result_free(&r);

	/* Not the recipient's token: refused, nothing changed. */
	assert_refused("web.hsmb", 1, "addressed to another token");
	vault_before = ts_count_objects("vault");
	ts_run(&r, "$HSMCERT --token pkcs11:token=vault --json restore web.hsmb");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "object=recipient"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("vault"), vault_before + 5);
	assert_signs_for("vault", "web", "web.crt", false);
}

Test(backup, recipient_file_tampering_is_refused)
{
	unsigned char *data;
	size_t len;
	hc_backup_file f;
	hc_error err = {0};
	struct ts_result r;
	int before;

	make_vault();
	make_key("web", "ec:P-256", true, false);
	/* A PEM public key file as the recipient this time. */
	backup_key("web", "web.hsmb", "--to recipient.pem");
	data = (unsigned char *)ts_read("web.hsmb", &len);
	cr_assert_eq(hc_backup_parse(data, len, "web.hsmb", &f, &err), HC_OK, "%s", err.message);
	write_flipped(data, len, offset_of(data, len, f.wrapped_kek.data, f.wrapped_kek.len) + 7,
		      "kek.hsmb");
	write_flipped(data, len,
		      offset_of(data, len, f.wrapped_mac_key.data, f.wrapped_mac_key.len) + 7,
		      "mac.hsmb");
	write_flipped(data, len,
		      offset_of(data, len, f.entries[0].label, strlen(f.entries[0].label)),
		      "label.hsmb");
	write_flipped(data, len, offset_of(data, len, f.recipient.data, f.recipient.len) + 60,
		      "recipient.hsmb");
	before = ts_count_objects("vault");
	for (int i = 0; i < 4; i++) {
		const char *names[] = {"kek.hsmb", "mac.hsmb", "label.hsmb", "recipient.hsmb"};
		ts_run(&r, "$HSMCERT --token pkcs11:token=vault restore %s", names[i]);
		ts_assert_status(&r, 1);
		ts_result_free(&r);
		cr_assert_eq(ts_count_objects("vault"), before, "%s changed the token", names[i]);
	}
	hc_backup_file_clear(&f);
	free(data);
}

Test(backup, injected_failures_leave_nothing_behind)
{
	/*
	 * C_CreateObject calls in a restore: 1-2 the wrap mechanism's known-answer
	 * test (a KEK and a secret), 3 KEK, 4 public key, 5 certificate, 6+ CAs.
	 */
	const char *faults[] = {"C_CreateObject@2", "C_CreateObject@4", "C_CreateObject@5",
				"C_CreateObject@7", "C_UnwrapKey",	"C_Sign"};

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	setenv("HSMCERT_MODULE", getenv("HSMCERT_FAULTMOD"), 1);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		struct ts_result r;
		setenv("HSMCERT_FAULT_FAIL", faults[i], 1);
		ts_run(&r, "$HSMCERT --token pkcs11:token=second restore web.hsmb");
		unsetenv("HSMCERT_FAULT_FAIL");
		cr_assert(r.status == 3, "%s: exit %d\n%s", faults[i], r.status, r.err);
		ts_result_free(&r);
		cr_assert_eq(ts_count_objects("second"), 0, "%s left objects", faults[i]);
	}
	/* A failing wrap writes no file. */
	{
		struct ts_result r;
		setenv("HSMCERT_FAULT_FAIL", "C_WrapKey", 1);
		ts_run(&r, "$HSMCERT --token pkcs11:token=test backup --key pkcs11:object=web -o "
			   "x.hsmb");
		unsetenv("HSMCERT_FAULT_FAIL");
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, "C_WrapKey"), "%s", r.err);
		cr_assert(!ts_exists("x.hsmb"));
		ts_result_free(&r);
	}
}

static int occurrences(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Objects of one pkcs11-tool --type (privkey, pubkey, cert) on `token`: independent of us. */
static int count_type(const char *token, const char *type)
{
	char *out = ts_sh("pkcs11-tool --module %s --token-label %s --login --pin %s "
			  "--list-objects --type %s 2>/dev/null | grep -c 'Object;' || true",
			  TS_SOFTHSM, token, TS_PIN, type);
	int n = atoi(out);

	free(out);
	return n;
}

/* The URI in a rollback message that ends with `type` (a URI holds ';' but never "; " or ", "). */
static char *named_uri(const char *message, const char *type)
{
	for (const char *p = strstr(message, "pkcs11:"); p; p = strstr(p + 1, "pkcs11:")) {
		const char *comma = strstr(p, ", "), *semicolon = strstr(p, "; ");
		size_t len = strlen(p);
		if (comma && (size_t)(comma - p) < len)
			len = (size_t)(comma - p);
		if (semicolon && (size_t)(semicolon - p) < len)
			len = (size_t)(semicolon - p);
		if (len > strlen(type) && strncmp(p + len - strlen(type), type, strlen(type)) == 0)
			return strndup(p, len);
	}
	return NULL;
}

/*
 * The test signature fails and so does every C_DestroyObject: restore must not
 * claim a removal, must keep C_Sign as the cause and must name, by URI, what
 * it left; pkcs11-tool must find exactly that on the token.
 */
Test(backup, failed_rollback_names_what_is_left)
{
	struct ts_result r;
	json_t *doc, *error;
	const char *left, *tail;
	char *uri;
	int named, more = 0;

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_Sign,C_DestroyObject $HSMCERT --module "
		   "\"$HSMCERT_FAULTMOD\" --token pkcs11:token=second --json restore web.hsmb");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_Sign failed: CKR_DEVICE_ERROR"), "%s", r.err);
	cr_assert(strstr(r.err, "; and the rollback failed too (C_DestroyObject: "
				"CKR_DEVICE_ERROR)"),
		  "%s", r.err);
	cr_assert_not(strstr(r.err, "removed again") || strstr(r.err, "undone"), "%s", r.err);
	/* The JSON error keeps the first failure as the cause. */
	doc = ts_json(&r);
	error = json_object_get(doc, "error");
	cr_assert_str_eq(json_string_value(json_object_get(error, "function")), "C_Sign");
	cr_assert_str_eq(json_string_value(json_object_get(error, "ckr")), "CKR_DEVICE_ERROR");
	cr_assert(strstr(json_string_value(json_object_get(error, "message")), "rollback failed"));
	json_decref(doc);

	left = strstr(r.err, "left on the token, remove with 'hsmcert delete URI': ");
	cr_assert_not_null(left, "%s", r.err);
	named = occurrences(left, "pkcs11:");
	if ((tail = strstr(left, "; and ")))
		cr_assert_eq(sscanf(tail, "; and %d more", &more), 1, "%s", tail);
	/* private key, public key, certificate, Sub CA, root: all there, all accounted for. */
	cr_assert_eq(ts_count_objects("second"), 5);
	cr_assert_eq(named + more, 5, "%s", r.err);
	cr_assert_eq(count_type("second", "privkey"), 1);
	cr_assert_eq(count_type("second", "pubkey"), 1);
	cr_assert_eq(count_type("second", "cert"), 3);
	cr_assert_eq(occurrences(left, "token=second;id="), named, "%s", left);
	cr_assert(strstr(left, ";object=web;type=private"), "%s", left);
	cr_assert(strstr(left, ";object=web;type=public"), "%s", left);
	cr_assert(strstr(left, ";object=web;type=cert"), "%s", left);

	/* The advice works: deleting the named private key takes its companions with it. */
	uri = named_uri(left, ";object=web;type=private");
	cr_assert_not_null(uri, "%s", left);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT --token pkcs11:token=second delete --yes '%s'", uri);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	free(uri);
	cr_assert_eq(ts_count_objects("second"), 2);
	cr_assert_eq(count_type("second", "cert"), 2);
}

/*
 * The last step, the private key's real id, fails and so does every
 * C_DestroyObject: the public key and certificate already carry their real
 * id, and the URIs the message names must find them as they now are.
 */
Test(backup, failed_rollback_names_objects_by_the_id_they_now_have)
{
	struct ts_result r;
	char *calls, *uri;

	make_key("web", "ec:P-256", true, true);
	backup_key("web", "web.hsmb", NULL);
	ts_add_token("third");
	/* How many C_SetAttributeValue a complete restore makes: the last is the private key's id.
	 */
	ts_run(&r, "HSMCERT_FAULT_TRACE=trace $HSMCERT --module \"$HSMCERT_FAULTMOD\" --token "
		   "pkcs11:token=second restore web.hsmb");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	calls = ts_sh("grep -c ' C_SetAttributeValue$' trace | tr -d '\\n'");
	cr_assert(atoi(calls) >= 3, "%s", calls);
	ts_run(&r,
	       "HSMCERT_FAULT_FAIL=C_SetAttributeValue@%s,C_DestroyObject $HSMCERT --module "
	       "\"$HSMCERT_FAULTMOD\" --token pkcs11:token=third restore web.hsmb",
	       calls);
	free(calls);
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_SetAttributeValue failed"), "%s", r.err);
	cr_assert(strstr(r.err, "the rollback failed too"), "%s", r.err);
	for (int i = 0; i < 2; i++) {
		struct ts_result d;

		uri = named_uri(r.err, i ? ";object=web;type=cert" : ";object=web;type=public");
		cr_assert_not_null(uri, "%s", r.err);
		ts_run(&d, "$HSMCERT --token pkcs11:token=third delete --yes '%s'", uri);
		ts_assert_status(&d, 0);
		ts_result_free(&d);
		free(uri);
	}
	ts_result_free(&r);
}

/* Only the second C_DestroyObject fails: exactly one object stays, and it is the one named. */
Test(backup, partly_failed_rollback_names_exactly_the_object_left)
{
	struct ts_result r;
	char *label, want[128];

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	ts_run(&r, "HSMCERT_FAULT_ONCE=1 HSMCERT_FAULT_FAIL=C_Sign,C_DestroyObject@4 $HSMCERT "
		   "--module \"$HSMCERT_FAULTMOD\" --token pkcs11:token=second restore web.hsmb");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "the rollback failed too"), "%s", r.err);
	cr_assert_eq(ts_count_objects("second"), 1);
	cr_assert_eq(occurrences(r.err, "pkcs11:"), 1, "%s", r.err);
	cr_assert_not(strstr(r.err, " more"), "%s", r.err);
	/* Which one is left, read by pkcs11-tool, is the one the message names. */
	label = ts_sh("pkcs11-tool --module %s --token-label second --login --pin %s "
		      "--list-objects 2>/dev/null | sed -n 's/^ *label: *//p' | sed 's/ /%%20/g' | "
		      "tr -d '\\n'",
		      TS_SOFTHSM, TS_PIN);
	cr_assert_eq(count_type("second", "cert"), 1);
	snprintf(want, sizeof(want), ";object=%s;type=cert", label);
	cr_assert(strstr(r.err, want), "want %s in: %s", want, r.err);
	free(label);
	ts_result_free(&r);
}

/* A rollback that works says so, and leaves the token as it was. */
Test(backup, successful_rollback_leaves_nothing)
{
	struct ts_result r;

	make_key("web", "ec:P-256", true, true);
	backup_key("web", "web.hsmb", NULL);
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_Sign $HSMCERT --module \"$HSMCERT_FAULTMOD\" "
		   "--token pkcs11:token=second restore web.hsmb");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_Sign failed: CKR_DEVICE_ERROR"), "%s", r.err);
	cr_assert(strstr(r.err, "what this run had changed on the token was undone"), "%s", r.err);
	cr_assert_not(strstr(r.err, "rollback failed"), "%s", r.err);
	cr_assert_not(strstr(r.err, "pkcs11:"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("second"), 0);
}

/* Restored certificates are reported with their URIs, as pkcs11-tool finds them. */
Test(backup, restore_reports_certificate_uris)
{
	struct ts_result r;
	json_t *doc, *key, *uris;

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	ts_run(&r, "$HSMCERT --token pkcs11:token=second --json restore web.hsmb");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	key = json_array_get(json_object_get(doc, "keys"), 0);
	cr_assert(strstr(
		json_string_value(json_object_get(json_object_get(key, "certificate"), "uri")),
		"token=second;id="));
	cr_assert(strstr(
		json_string_value(json_object_get(json_object_get(key, "certificate"), "uri")),
		";object=web;type=cert"));
	uris = json_object_get(key, "ca_certificate_uris");
	cr_assert_eq(json_array_size(uris), 2);
	cr_assert_eq(json_integer_value(json_object_get(key, "ca_certificates")), 2);
	cr_assert(strstr(json_string_value(json_array_get(uris, 0)), "type=cert"));
	cr_assert(strstr(json_string_value(json_array_get(uris, 0)), "object=Test%20Sub") ||
		  strstr(json_string_value(json_array_get(uris, 0)), "object=Test%20Root"));
	json_decref(doc);
	ts_result_free(&r);
	cr_assert_eq(count_type("second", "cert"), 3);
	/* The same URIs in the text report: already on the token now, so found, not stored. */
	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore web.hsmb --force");
	ts_assert_status(&r, 0);
	cr_assert(ts_text_has(r.out, "Certificate URI", "pkcs11:"), "%s", r.out);
	cr_assert(ts_text_has(r.out, "CA certificates", "pkcs11:"), "%s", r.out);
	cr_assert_eq(occurrences(r.out, "type=cert"), 3, "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(count_type("second", "cert"), 3);
}

/* Random corruption: the parser never crashes (in process, under the sanitizers)... */
Test(backup, parser_survives_random_corruption)
{
	unsigned char *data, *copy;
	size_t len;

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	data = (unsigned char *)ts_read("web.hsmb", &len);
	copy = malloc(len);
	srand(20261121);
	for (int round = 0; round < 5000; round++) {
		hc_backup_file f;
		hc_error err = {0};
		size_t n = len;
		memcpy(copy, data, len);
		for (int k = 1 + rand() % 4; k > 0; k--) {
			size_t at = (size_t)rand() % len;
			switch (rand() % 3) {
			case 0: copy[at] ^= (unsigned char)(1 + rand() % 255); break;
			case 1: copy[at] = 0xff; break;
			default: n = at; break;
			}
		}
		bool magic = n >= HC_BACKUP_MAGIC_LEN &&
			     memcmp(copy, HC_BACKUP_MAGIC, HC_BACKUP_MAGIC_LEN) == 0;
		if (hc_backup_parse(copy, n, "fuzz", &f, &err) == HC_OK)
			hc_backup_file_clear(&f);
		else /* SPEC: a tampered backup is 1; only a file that is no backup is 2. */
			cr_assert(err.rc == (magic ? HC_CHECK : HC_USAGE), "round %d: rc %d: %s",
				  round, err.rc, err.message);
	}
	free(copy);
	free(data);
}

/* ...and the whole restore refuses every corrupted file, changing nothing. */
Test(backup, restore_refuses_random_corruption)
{
	unsigned char *data;
	size_t len;

	make_key("web", "ec:P-256", true, true);
	backup_key("web", "web.hsmb", NULL);
	data = (unsigned char *)ts_read("web.hsmb", &len);
	srand(6);
	for (int round = 0; round < 10; round++) {
		struct ts_result r;
		size_t at = (size_t)rand() % len;
		write_flipped(data, len, at, "fuzz.hsmb");
		ts_run(&r, "$HSMCERT --token pkcs11:token=second restore fuzz.hsmb");
		/* A flipped magic makes it no backup (2); any other byte: tampered (1). */
		cr_assert(r.status == (at < HC_BACKUP_MAGIC_LEN ? 2 : 1),
			  "flip at %zu: exit %d\n%s", at, r.status, r.err);
		ts_result_free(&r);
	}
	cr_assert_eq(ts_count_objects("second"), 0);
	free(data);
}

Test(backup, usage_errors)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT backup -o x.hsmb");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT backup --all --format pfx -o x.pfx");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_write("exists.hsmb", "x");
	ts_run(&r, "$HSMCERT backup --all -o exists.hsmb");
	ts_assert_status(&r, 1);
	ts_result_free(&r);
	ts_write("junk.bin", "not a backup at all");
	assert_refused("junk.bin", 2, "neither");
	ts_run(&r, "$HSMCERT restore");
	ts_assert_status(&r, 2);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT restore --help");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "--no-exportable"));
	ts_result_free(&r);
}

/* pkcs11-tool's "Usage:" line for the private key `label` on `token` (independent of us). */
static char *usage_line(const char *token, const char *label)
{
	return ts_sh("pkcs11-tool --module %s --token-label %s --login --pin %s --list-objects "
		     "--type privkey 2>/dev/null | grep -A8 \"label: *%s$\" | grep 'Usage:' | "
		     "sed 's/^ *Usage: *//'",
		     TS_SOFTHSM, token, TS_PIN, label);
}

/*
 * SPEC restore: a key that only signed signs only, whatever the token's
 * defaults (SoftHSM2 makes an unwrapped key decrypt and unwrap unless told).
 */
Test(backup, restore_sets_exactly_the_recorded_usages)
{
	struct ts_result r;
	json_t *doc, *u;
	char *usage;

	make_key("web", "rsa:2048", true, true);
	usage = usage_line("test", "web");
	cr_assert_str_eq(usage, "sign\n", "keygen made: %s", usage);
	free(usage);
	backup_key("web", "web.hsmb", NULL);
	backup_key("web", "web.pfx", NULL);

	ts_run(&r, "$HSMCERT --token pkcs11:token=second --json restore web.hsmb");
	ts_assert_status(&r, 0);
	/* First what pkcs11-tool sees on the token, then what we report. */
	usage = usage_line("second", "web");
	cr_assert_str_eq(usage, "sign\n", "restored from hsmb: %s", usage);
	free(usage);
	doc = ts_json(&r);
	u = json_object_get(json_array_get(json_object_get(doc, "keys"), 0), "usages");
	cr_assert(json_is_true(json_object_get(u, "sign")), "%s", r.out);
	cr_assert(json_is_false(json_object_get(u, "decrypt")), "%s", r.out);
	cr_assert(json_is_false(json_object_get(u, "unwrap")), "%s", r.out);
	cr_assert(json_is_false(json_object_get(u, "derive")), "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);

	/* A PKCS#12 records no usages: sign only (fresh tokens: the id is the same key's). */
	ts_add_token("third");
	ts_add_token("fourth");
	ts_run(&r, "$HSMCERT --token pkcs11:token=third restore web.pfx --label frompfx");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "usages              sign\n"), "%s", r.out);
	ts_result_free(&r);
	usage = usage_line("third", "frompfx");
	cr_assert_str_eq(usage, "sign\n", "restored from pfx: %s", usage);
	free(usage);

	/* --usage says otherwise: exactly that. */
	ts_run(&r, "$HSMCERT --token pkcs11:token=fourth restore web.pfx --label both "
		   "--usage sign,decrypt");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	usage = usage_line("fourth", "both");
	cr_assert_str_eq(usage, "decrypt, sign\n", "restored with --usage: %s", usage);
	free(usage);

	ts_run(&r, "$HSMCERT --token pkcs11:token=second restore web.pfx --label bad "
		   "--usage sign,encipher");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "encipher"), "%s", r.err);
	ts_result_free(&r);
}

/*
 * SPEC show of a .hsmb: no passphrase, no token; what the file records, and
 * that its authentication is not checkable without the secret.
 */
Test(backup, show_hsmb_without_passphrase_or_token)
{
	struct ts_result r;
	json_t *doc, *key, *prot;
	char *fp, *want;

	make_key("web", "rsa:2048", true, true);
	backup_key("web", "web.hsmb", NULL);
	/* No passphrase anywhere, and a module that does not exist: neither is touched. */
	ts_run(&r, "unset HSMCERT_PASSPHRASE; HSMCERT_MODULE=/nonexistent.so $HSMCERT show "
		   "web.hsmb");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "hsmcert backup (hsmb), format version 1, 1 key"), "%s", r.out);
	cr_assert(strstr(r.out, "scrypt N=2^18 r=8 p=1"), "%s", r.out);
	cr_assert(strstr(r.out, "Authentication      not checked"), "%s", r.out);
	cr_assert(strstr(r.out, "Key 1 of 1: web"), "%s", r.out);
	cr_assert(strstr(r.out, "extractable yes"), "%s", r.out);
	cr_assert(strstr(r.out, "sign yes"), "%s", r.out);
	cr_assert(strstr(r.out, "CN=web.example.hk"), "%s", r.out);
	ts_result_free(&r);

	ts_run(&r, "unset HSMCERT_PASSPHRASE; HSMCERT_MODULE=/nonexistent.so $HSMCERT show "
		   "--json web.hsmb");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert_str_eq(json_string_value(json_object_get(doc, "format")), "hsmb");
	cr_assert(json_is_null(json_object_get(doc, "authenticated")));
	prot = json_object_get(doc, "protection");
	cr_assert_str_eq(json_string_value(json_object_get(prot, "kdf")), "scrypt");
	cr_assert_eq(json_integer_value(json_object_get(prot, "n")), 1 << 18);
	key = json_array_get(json_object_get(doc, "keys"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(key, "label")), "web");
	cr_assert_str_eq(json_string_value(json_object_get(key, "type")), "rsa:2048");
	want = ts_read("web.id", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(key, "id")), want);
	free(want);
	cr_assert(json_is_true(json_object_get(json_object_get(key, "attributes"), "sign")));
	cr_assert_eq(json_array_size(json_object_get(key, "ca_certificates")), 2);
	/* The recorded certificate is the one openssl sees in web.crt. */
	fp = ts_sh("openssl x509 -in web.crt -noout -fingerprint -sha256 | cut -d= -f2 | "
		   "tr -d ':\\n' | tr A-F a-f");
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(key, "certificate"), "sha256")),
		fp);
	free(fp);
	json_decref(doc);
	ts_result_free(&r);
}

/*
 * backup --all: a progress bar on a terminal (script(1) gives it one), none
 * when standard error is not a terminal; the exit status a cron job reads:
 * 1 while a key could not be saved, 0 once every key asked for was.
 */
Test(backup, all_shows_progress_on_a_terminal_and_exits_for_cron)
{
	struct ts_result r;

	make_key("one", "rsa:2048", true, false);
	make_key("two", "ec:P-256", true, false);
	make_key("locked", "ec:P-256", false, false);
	ts_run(&r, "script -qec \"$HSMCERT --token pkcs11:token=test backup --all -o tty.hsmb; "
		   "echo exit=\\$?\" /dev/null");
	cr_assert(strstr(r.out, "] 1/3 ") && strstr(r.out, "] 3/3 "), "%s", r.out);
	cr_assert(strstr(r.out, "[==============================] 3/3"), "%s", r.out);
	cr_assert(strstr(r.out, "exit=1"), "%s", r.out);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT --token pkcs11:token=test backup --all -o pipe.hsmb");
	ts_assert_status(&r, 1);
	cr_assert_null(strstr(r.err, "] 1/3 "), "a bar without a terminal: %s", r.err);
	cr_assert(strstr(r.out, "NOT saved"), "%s", r.out);
	ts_result_free(&r);

	free(ts_sh("$HSMCERT --token pkcs11:token=test delete --yes pkcs11:object=locked"));
	ts_run(&r, "$HSMCERT --token pkcs11:token=test backup --all -o done.hsmb");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

/*
 * A token that will not take CKA_DERIVE=false gets the true usages only, and
 * its defaults are then read back: SoftHSM2 makes the key decrypt. The token
 * decides (NSS softoken does the same whatever the template says), so the
 * restore says so, in the warning and in the JSON, as keygen does.
 */
Test(backup, restore_reports_a_usage_the_token_adds)
{
	struct ts_result r;
	json_t *doc;

	make_key("web", "rsa:2048", true, false);
	backup_key("web", "web.hsmb", NULL);
	doc = ts_run_json(&r, 0,
			  "HSMCERT_FAULT_UNWRAP_REJECT_ATTR=0x10C $HSMCERT --module "
			  "$HSMCERT_FAULTMOD --token pkcs11:token=second restore --json web.hsmb");
	cr_assert(strstr(r.err, "also gave 'web' the usage decrypt"), "%s", r.err);
	cr_assert_str_eq(ts_json_str(doc, "keys/0/usages_added"), "decrypt,unwrap");
	json_decref(doc);
	ts_result_free(&r);
	/* The auditor sees it too. */
	ts_run(&r, "$HSMCERT --token pkcs11:token=second audit --policy sign-only");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "can decrypt"), "%s", r.out);
	ts_result_free(&r);
}

/*
 * A token that files EC private keys under their public value and refuses
 * an unwrap without it (NSS softoken: CKR_TEMPLATE_INCOMPLETE unless
 * CKA_NSS_DB holds the point) gets it on the second try; a token that does
 * not know the vendor attribute never sees it.
 */
Test(backup, restore_ec_key_where_the_token_wants_its_public_value)
{
	struct ts_result r;

	make_key("ec", "ec:P-256", true, false);
	backup_key("ec", "ec.hsmb", NULL);
	ts_run(&r, "HSMCERT_FAULT_UNWRAP_REQUIRE_ATTR=0xD5A0DB00 $HSMCERT --module "
		   "$HSMCERT_FAULTMOD --token pkcs11:token=second restore ec.hsmb");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "test signature verified"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT --token pkcs11:token=second delete --yes pkcs11:object=ec && "
		   "HSMCERT_FAULT_UNWRAP_REJECT_ATTR=0xD5A0DB00 $HSMCERT --module "
		   "$HSMCERT_FAULTMOD --token pkcs11:token=second restore ec.hsmb");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/*
	 * A token that refuses the template for another reason and does not know
	 * the vendor attribute: its own first answer is the one reported.
	 */
	ts_run(&r, "$HSMCERT --token pkcs11:token=second delete --yes pkcs11:object=ec && "
		   "HSMCERT_FAULT_UNWRAP_REQUIRE_ATTR=0x7FFFFFF0 "
		   "HSMCERT_FAULT_UNWRAP_REJECT_ATTR=0xD5A0DB00 $HSMCERT --module "
		   "$HSMCERT_FAULTMOD --token pkcs11:token=second restore ec.hsmb");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_UnwrapKey failed: CKR_TEMPLATE_INCOMPLETE"), "%s", r.err);
	cr_assert_null(strstr(r.err, "CKR_ATTRIBUTE_TYPE_INVALID"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects("second"), 0);
}
