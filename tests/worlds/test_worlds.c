/*
 * The whole lifecycle against one real PKCS#11 implementation (SPEC: "Any
 * token, not only SoftHSM2"). Run by ctest inside a module world:
 *   scripts/worlds/run.sh WORLD test_worlds --jobs=1
 * which exports HSMCERT_MODULE, HSMCERT_TOKEN, the PINs, and a SoftHSM2 peer
 * token (WORLD_PEER_MODULE, "peer") for backups that cross modules.
 * Every step either works, or is refused cleanly: the exit status the SPEC
 * gives, a message that names what the token lacks, nothing left half-made.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsmcert/backup.h"
#include "support.h"

/* What each implementation can do (measured; docs/tokens.md says why). */
struct world {
	const char *name;
	bool ec;	     /* generates EC keys */
	bool exportable;     /* makes sensitive keys that are extractable */
	bool hsmb;	     /* has RFC 5649 wrap inside the token: .hsmb backup and restore */
	bool pfx;	     /* PKCS#12 export and import (RFC 5649 or CBC_PAD) */
	bool init_token;     /* C_InitToken on an initialised token */
	const char *no_hsmb; /* what the .hsmb refusal names */
};

static const struct world worlds[] = {
	{"softhsm2", true, true, true, true, true, NULL},
	{"nss", true, true, true, true, true, NULL},
	{"p11kit-rpc", true, true, false, false, true, "not forwarded"},
	{"opencryptoki", false, true, false, true, false, "RFC 5649"},
	{"tpm2", true, false, false, false, false, "RFC 5649"},
};

static const struct world *W;

static void setup(void)
{
	const char *name = getenv("WORLD"), *bin = getenv("HSMCERT_BIN");

	cr_assert_not_null(name, "WORLD is not set: run through scripts/worlds/run.sh");
	cr_assert_not_null(bin, "HSMCERT_BIN is not set (run the tests through ctest)");
	for (size_t i = 0; i < sizeof(worlds) / sizeof(worlds[0]); i++)
		if (strcmp(worlds[i].name, name) == 0)
			W = &worlds[i];
	cr_assert_not_null(W, "unknown world %s", name);
	snprintf(ts_dir, 256, "/tmp/hsmcert-worldtest.XXXXXX");
	cr_assert_not_null(mkdtemp(ts_dir), "mkdtemp: %s", strerror(errno));
	cr_assert_eq(chdir(ts_dir), 0);
	setenv("HSMCERT", bin, 1);
	setenv("HSMCERT_PASSPHRASE", "correct horse battery staple", 1);
	unsetenv("HSMCERT_JSON");
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ts_dir);
	(void)!system(cmd);
}

TestSuite(worlds, .init = setup, .fini = teardown, .timeout = 300);

/* Number of objects labelled `label` on the world's token, by hsmcert list --json. */
static int objects_labelled(const char *label)
{
	struct ts_result r;
	int n;

	ts_run(&r,
	       "$HSMCERT list --json | python3 -c 'import json,sys; d=json.load(sys.stdin); "
	       "print(sum(1 for e in d.get(\"entries\", d.get(\"keys\", [])) "
	       "if e.get(\"label\")==\"%s\"))'",
	       label);
	n = r.status == 0 ? atoi(r.out) : -1;
	ts_result_free(&r);
	return n;
}

/* A throwaway CA in the test directory signs the CSR of key `label`. */
static void issue(const char *label)
{
	struct ts_result r;

	ts_run(&r,
	       "$HSMCERT csr --key 'pkcs11:object=%s' --cn %s.example.com -o %s.csr && "
	       "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt "
	       "-subj /CN=world-ca -days 3 2>/dev/null && "
	       "openssl x509 -req -in %s.csr -CA ca.crt -CAkey ca.key -out %s.crt -days 2 "
	       "-copy_extensions copy 2>/dev/null",
	       label, label, label, label, label);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

static void keygen(const char *label, const char *type)
{
	struct ts_result r;
	ts_run(&r, "$HSMCERT keygen --label %s --type %s", label, type);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

/*
 * A step this token cannot do is refused cleanly, not skipped: with no
 * exportable keys, `keygen --exportable` says so and makes nothing; with
 * no wrap hsmcert can use, the backup (`backup_args`) names what is
 * missing and writes no file.
 */
static void assert_backup_refused_here(const char *label, const char *type, const char *backup_args)
{
	struct ts_result r;

	/* The world's token lives for the whole suite: each test its own label. */
	ts_run(&r, "$HSMCERT keygen --label %s --type %s --exportable", label, type);
	if (!W->exportable) {
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, "extractable"), "%s", r.err);
		cr_assert_eq(objects_labelled(label), 0, "a key was left behind");
		ts_result_free(&r);
		return;
	}
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT backup --key 'pkcs11:object=%s' %s -o rf.out", label, backup_args);
	cr_assert(!W->hsmb, "the backup should work here");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, W->no_hsmb), "%s", r.err);
	cr_assert(!ts_exists("rf.out"), "a partial file was left");
	ts_result_free(&r);
}

Test(worlds, keygen_every_type)
{
	static const char *types[] = {"rsa:2048", "rsa:3072", "ec:P-256", "ec:P-384"};
	struct ts_result r;

	for (size_t i = 0; i < 4; i++) {
		char label[32];
		bool ec = types[i][0] == 'e';
		snprintf(label, sizeof(label), "kg%zu", i);
		ts_run(&r, "$HSMCERT keygen --label %s --type %s", label, types[i]);
		if (ec && !W->ec) {
			/* Refused before anything is made, naming the mechanism. */
			ts_assert_status(&r, 3);
			cr_assert(strstr(r.err, "CKM_EC_KEY_PAIR_GEN"), "%s", r.err);
			cr_assert_eq(objects_labelled(label), 0);
		} else {
			ts_assert_status(&r, 0);
			cr_assert(strstr(r.out, "sensitive           yes"), "%s", r.out);
			cr_assert(strstr(r.out, "extractable         no"), "%s", r.out);
		}
		ts_result_free(&r);
	}
}

Test(worlds, exportable_is_never_dropped)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT keygen --label xp --exportable");
	if (W->exportable) {
		ts_assert_status(&r, 0);
		cr_assert(strstr(r.out, "extractable         yes"), "%s", r.out);
	} else {
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, "extractable"), "%s", r.err);
		cr_assert_eq(objects_labelled("xp"), 0, "a key was left behind");
	}
	ts_result_free(&r);
}

Test(worlds, request_import_list_check_tls)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT request --label rq --cn rq.example.com -o rq.csr && "
		   "openssl req -in rq.csr -verify -noout 2>&1");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "verify OK"), "%s", r.out);
	ts_result_free(&r);

	keygen("srv", "rsa:2048");
	issue("srv");
	ts_run(&r, "$HSMCERT import --cert srv.crt");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* The same certificate again: a success that changes nothing. */
	ts_run(&r, "$HSMCERT import --cert srv.crt");
	ts_assert_status(&r, 0);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT list");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "srv"), "%s", r.out);
	ts_result_free(&r);

	ts_run(&r, "$HSMCERT check --key 'pkcs11:object=srv' --roots ca.crt --tls");
	ts_assert_status(&r, 0);
	ts_result_free(&r);

	/* An independent tool sees the certificate where hsmcert put it (NSS: certutil). */
	if (getenv("WORLD_TOOL_MODULE"))
		ts_run(&r, "pkcs11-tool --module \"$WORLD_TOOL_MODULE\" --token-label world -l "
			   "--pin \"$HSMCERT_PIN\" -O --type cert 2>&1");
	else
		ts_run(&r, "certutil -L -d \"$WORLD_NSSDB\" 2>&1");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "srv"), "%s", r.out);
	ts_result_free(&r);
}

Test(worlds, backup_of_a_non_exportable_key_is_exit_1)
{
	struct ts_result r;

	keygen("ne", W->ec ? "ec:P-256" : "rsa:2048");
	ts_run(&r, "$HSMCERT backup --key 'pkcs11:object=ne' -o ne.hsmb");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "not extractable") || strstr(r.out, "not extractable"), "%s%s",
		  r.out, r.err);
	cr_assert(!ts_exists("ne.hsmb"));
	ts_result_free(&r);
}

Test(worlds, backup_and_restore_hsmb)
{
	struct ts_result r;

	if (!W->exportable) {
		assert_backup_refused_here("rf-hsmb", "rsa:2048", "");
		return;
	}
	keygen("bk", "rsa:2048");
	ts_run(&r, "$HSMCERT keygen --label bx --exportable");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT backup --key 'pkcs11:object=bx' -o bx.hsmb");
	if (!W->hsmb) {
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, W->no_hsmb), "%s", r.err);
		cr_assert(!ts_exists("bx.hsmb"), "a partial file was left");
		ts_result_free(&r);
		return;
	}
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* The same id and label again: refused without --force, restored after a delete. */
	ts_run(&r, "$HSMCERT restore bx.hsmb");
	ts_assert_status(&r, 1);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT delete 'pkcs11:object=bx' --yes && $HSMCERT restore bx.hsmb");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* Run again, the finished restore is the same end state (with the usages a token adds). */
	ts_run(&r, "$HSMCERT restore bx.hsmb --json");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "\"already_present\": true") ||
			  strstr(r.out, "\"already_present\":true"),
		  "%s", r.out);
	ts_result_free(&r);
}

Test(worlds, backup_to_a_recipient_key)
{
	struct ts_result r;

	ts_run(&r, "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
		   "$HSMCERT keygen --label recipient --type rsa:2048 >/dev/null && "
		   "pkcs11-tool --module $WORLD_PEER_MODULE --token-label peer --read-object "
		   "--type pubkey --label recipient -o recipient.der && "
		   "openssl pkey -pubin -inform DER -in recipient.der -out recipient.pem");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	if (!W->exportable || !W->hsmb) {
		assert_backup_refused_here("rf-to", "rsa:2048", "--to recipient.pem");
		return;
	}
	ts_run(&r, "$HSMCERT keygen --label rx --exportable && "
		   "$HSMCERT backup --key 'pkcs11:object=rx' --to recipient.pem -o rx.hsmb");
	/* The recipient key is a signing key on the peer: a refusal must be clean. */
	cr_assert(r.status == 0 || r.status == 1 || r.status == 3, "%s", r.err);
	if (r.status != 0)
		cr_assert(!ts_exists("rx.hsmb"));
	ts_result_free(&r);
}

Test(worlds, pkcs12_export_and_import)
{
	struct ts_result r;

	if (!W->exportable) {
		assert_backup_refused_here("rf-pfx", "rsa:2048", "--format pfx");
		return;
	}
	ts_run(&r, "$HSMCERT keygen --label px --exportable");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	issue("px");
	ts_run(&r, "$HSMCERT import --cert px.crt");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT backup --key 'pkcs11:object=px' --format pfx -o px.pfx");
	if (!W->pfx) {
		ts_assert_status(&r, 3);
		cr_assert(!ts_exists("px.pfx"));
		ts_result_free(&r);
		return;
	}
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* OpenSSL opens it: the key matches the certificate. */
	ts_run(&r, "openssl pkcs12 -in px.pfx -nodes -passin env:HSMCERT_PASSPHRASE "
		   "| openssl pkey -pubout > px-key.pub && openssl x509 -in px.crt -pubkey -noout "
		   "> px-crt.pub && cmp px-key.pub px-crt.pub");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* Into the peer SoftHSM2 token, and back into this one under a new name. */
	ts_run(&r, "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
		   "$HSMCERT restore px.pfx --label px-peer");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* And back into this token (CKM_AES_CBC_PAD where it has no RFC 5649). */
	ts_run(&r, "$HSMCERT delete 'pkcs11:object=px' --yes && $HSMCERT restore px.pfx");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

/* SPEC: a backup made on one module restores on another that can unwrap. */
Test(worlds, hsmb_crosses_modules)
{
	struct ts_result r;

	if (!W->hsmb) {
		/* A .hsmb made on the SoftHSM2 peer: refused cleanly here, nothing made. */
		ts_run(&r, "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
			   "$HSMCERT keygen --label rz --exportable >/dev/null && "
			   "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
			   "$HSMCERT backup --key 'pkcs11:object=rz' -o rz.hsmb");
		ts_assert_status(&r, 0);
		ts_result_free(&r);
		ts_run(&r, "$HSMCERT restore rz.hsmb");
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, W->no_hsmb), "%s", r.err);
		cr_assert_eq(objects_labelled("rz"), 0);
		ts_result_free(&r);
		return;
	}
	/* This token to the SoftHSM2 peer. */
	ts_run(&r, "$HSMCERT keygen --label cx --exportable >/dev/null && "
		   "$HSMCERT backup --key 'pkcs11:object=cx' -o cx.hsmb && "
		   "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
		   "$HSMCERT restore cx.hsmb");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* And the reverse. */
	ts_run(&r,
	       "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
	       "$HSMCERT keygen --label cy --exportable >/dev/null && "
	       "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
	       "$HSMCERT backup --key 'pkcs11:object=cy' -o cy.hsmb && $HSMCERT restore cy.hsmb");
	ts_assert_status(&r, 0);
	ts_result_free(&r);

	/* The wrapped key is RFC 5649: OpenSSL's EVP_aes_256_wrap_pad opens it. */
	{
		size_t len = 0;
		unsigned char *data = (unsigned char *)ts_read("cx.hsmb", &len);
		hc_backup_file f;
		hc_backup_keys keys;
		hc_error err = {0};
		hc_secret *pass = hc_secret_new("correct horse battery staple", 28);
		unsigned char plain[4096];
		int n1 = 0, n2 = 0;
		const unsigned char *p = plain;
		PKCS8_PRIV_KEY_INFO *p8;
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

		cr_assert_not_null(data);
		cr_assert_eq(hc_backup_parse(data, len, "cx.hsmb", &f, &err), HC_OK, "%s",
			     err.message);
		cr_assert_eq(hc_backup_derive(&f, pass, &keys, &err), HC_OK, "%s", err.message);
		cr_assert_eq(f.entry_count, 1);
		cr_assert_lt(f.entries[0].wrapped_key.len, sizeof(plain));
		cr_assert_eq(EVP_DecryptInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, keys.kek, NULL),
			     1);
		cr_assert_eq(EVP_DecryptUpdate(ctx, plain, &n1, f.entries[0].wrapped_key.data,
					       (int)f.entries[0].wrapped_key.len),
			     1, "the wrapped key is not RFC 5649");
		cr_assert_eq(EVP_DecryptFinal_ex(ctx, plain + n1, &n2), 1);
		p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, n1 + n2);
		cr_assert_not_null(p8, "the unwrapped key is not PKCS#8");
		PKCS8_PRIV_KEY_INFO_free(p8);
		EVP_CIPHER_CTX_free(ctx);
		hc_secret_free(pass);
		hc_backup_file_clear(&f);
		free(data);
	}
}

/* The private keys on the world's token, as an independent client lists them. */
static char *private_keys_listed(void)
{
	struct ts_result r;
	char *out;

	if (getenv("WORLD_TOOL_MODULE"))
		ts_run(&r, "pkcs11-tool --module \"$WORLD_TOOL_MODULE\" --token-label world -l "
			   "--pin \"$HSMCERT_PIN\" --list-objects --type privkey 2>&1");
	else
		ts_run(&r, "certutil -K -d \"$WORLD_NSSDB\" -f \"$WORLD_DIR/nss.pw\" 2>&1");
	cr_assert(r.status == 0 || strstr(r.out, "no keys found"), "%s", r.out);
	out = strdup(r.out);
	ts_result_free(&r);
	return out;
}

/*
 * EC keys restore too: from a .hsmb made here, from one made on the SoftHSM2
 * peer (and this token's to the peer), and from a .pfx. NSS softoken refused
 * EC unwraps (CKR_TEMPLATE_INCOMPLETE) until it was given CKA_NSS_DB.
 */
Test(worlds, ec_keys_restore)
{
	struct ts_result r;
	char *listed;

	if (!W->ec) {
		ts_run(&r, "$HSMCERT keygen --label ecx --type ec:P-256 --exportable");
		ts_assert_status(&r, 3);
		cr_assert(strstr(r.err, "CKM_EC_KEY_PAIR_GEN"), "%s", r.err);
		cr_assert_eq(objects_labelled("ecx"), 0);
		ts_result_free(&r);
		return;
	}
	if (!W->exportable || !W->hsmb) {
		assert_backup_refused_here("rf-ec", "ec:P-256", "");
		return;
	}
	ts_run(&r, "$HSMCERT keygen --label ecx --type ec:P-256 --exportable >/dev/null && "
		   "$HSMCERT backup --key 'pkcs11:object=ecx' -o ecx.hsmb >/dev/null && "
		   "$HSMCERT delete 'pkcs11:object=ecx' --yes >/dev/null");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT restore ecx.hsmb");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "test signature verified"), "%s", r.out);
	ts_result_free(&r);
	/* Here to the SoftHSM2 peer, and a P-384 key from the peer to here. */
	ts_run(&r, "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
		   "$HSMCERT restore ecx.hsmb >/dev/null && "
		   "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
		   "$HSMCERT keygen --label ecy --type ec:P-384 --exportable >/dev/null && "
		   "HSMCERT_MODULE=$WORLD_PEER_MODULE HSMCERT_TOKEN=pkcs11:token=peer "
		   "$HSMCERT backup --key 'pkcs11:object=ecy' -o ecy.hsmb >/dev/null && "
		   "$HSMCERT restore ecy.hsmb");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "test signature verified"), "%s", r.out);
	ts_result_free(&r);
	if (W->pfx) {
		ts_run(&r, "$HSMCERT backup --key 'pkcs11:object=ecy' --format pfx -o ecy.pfx "
			   ">/dev/null && $HSMCERT delete 'pkcs11:object=ecy' --yes >/dev/null && "
			   "$HSMCERT restore ecy.pfx --label ecy");
		ts_assert_status(&r, 0);
		cr_assert(strstr(r.out, "test signature verified"), "%s", r.out);
		ts_result_free(&r);
	}
	/* An independent client sees both keys on the token. */
	listed = private_keys_listed();
	cr_assert(strstr(listed, "ecx") && strstr(listed, "ecy"), "%s", listed);
	free(listed);
}

Test(worlds, audit_and_probe)
{
	struct ts_result r;

	keygen("au", W->ec ? "ec:P-256" : "rsa:2048");
	ts_run(&r, "$HSMCERT audit --json");
	cr_assert(r.status == 0 || r.status == 1, "%s", r.err);
	cr_assert(strstr(r.out, "\"au\""), "%s", r.out);
	/* No claim the token did not make. */
	if (strcmp(W->name, "nss") == 0)
		cr_assert(!strstr(r.out, "imported"), "%s", r.out);
	if (strcmp(W->name, "opencryptoki") == 0)
		cr_assert(!strstr(r.out, "no key generation mechanism"), "%s", r.out);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT audit --probe");
	cr_assert(r.status == 0 || r.status == 1, "%s", r.err);
	ts_result_free(&r);
}

Test(worlds, delete_leaves_nothing)
{
	struct ts_result r;

	keygen("dl", "rsa:2048");
	ts_run(&r, "$HSMCERT delete 'pkcs11:object=dl' --yes");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	cr_assert_eq(objects_labelled("dl"), 0);
}

Test(worlds, capabilities_report)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT tokens --capabilities --json > caps.json && "
		   "python3 -c 'import json; json.load(open(\"caps.json\"))' && cat caps.json");
	ts_assert_status(&r, 0);
	cr_log_info("%s capabilities: %s", W->name, r.out);
	ts_result_free(&r);
	/* The report agrees with restore: EC keys unwrap where .hsmb restores (ec_keys_restore). */
	ts_run(&r,
	       "python3 -c 'import json; c=json.load(open(\"caps.json\"))[\"capabilities\"]; "
	       "print(\"\".join(i[\"state\"] for i in c if i[\"id\"]==\"restore_unwrap_ec\"))'");
	ts_assert_status(&r, 0);
	if (W->ec && W->hsmb)
		cr_assert_str_eq(r.out, "yes\n");
	ts_result_free(&r);
}

/* What an independent client lists on the world's token (logged in with the user PIN). */
static char *objects_listed(void)
{
	struct ts_result r;
	char *out;

	if (getenv("WORLD_TOOL_MODULE"))
		ts_run(&r, "pkcs11-tool --module \"$WORLD_TOOL_MODULE\" --token-label world -l "
			   "--pin \"$HSMCERT_PIN\" --list-objects 2>&1");
	else /* NSS: certutil reads the same database (certificates, then keys) */
		ts_run(&r, "certutil -L -d \"$WORLD_NSSDB\" 2>&1; "
			   "certutil -K -d \"$WORLD_NSSDB\" -f \"$WORLD_DIR/nss.pw\" 2>&1; true");
	ts_assert_status(&r, 0);
	out = strdup(r.out);
	ts_result_free(&r);
	return out;
}

/*
 * Last by name: re-initialises the token the other tests used. Where it
 * works, "its previous contents are gone" must be true as another client
 * sees it: NSS softoken's C_InitToken keeps certificates and public keys,
 * which hsmcert then destroys.
 */
Test(worlds, zz_init_token)
{
	struct ts_result r;
	char *listed;

	if (W->init_token) {
		keygen("erase-me", "rsa:2048");
		issue("erase-me");
		ts_run(&r, "$HSMCERT import --cert erase-me.crt");
		ts_assert_status(&r, 0);
		ts_result_free(&r);
		listed = objects_listed();
		cr_assert(strstr(listed, "erase-me"), "the client does not see the objects: %s",
			  listed);
		free(listed);
	}
	ts_run(&r, "$HSMCERT init-token --token \"$HSMCERT_TOKEN\" --label world --force");
	if (W->init_token) {
		ts_assert_status(&r, 0);
		cr_assert(strstr(r.out, "its previous contents are gone"), "%s", r.out);
		/* NSS has no SO PIN: the one the world gives (HSMCERT_SO_PIN) is said unused. */
		{
			bool nss = strcmp(W->name, "nss") == 0;
			bool said = strstr(r.out, "the SO PIN given was not used") ||
				    strstr(r.err, "the SO PIN given was not used");
			cr_assert_eq(said, nss, "%s%s", r.out, r.err);
		}
		ts_result_free(&r);
		listed = objects_listed();
		cr_assert(!strstr(listed, "erase-me"), "left after init-token: %s", listed);
		if (!getenv("WORLD_TOOL_MODULE"))
			cr_assert(strstr(listed, "no keys found"), "%s", listed);
		free(listed);
		ts_run(&r, "$HSMCERT list --json");
		ts_assert_status(&r, 0);
		cr_assert(!strstr(r.out, "erase-me"), "%s", r.out);
	} else {
		cr_assert(r.status == 3 || r.status == 1, "exit %d: %s", r.status, r.err);
		cr_assert(!strstr(r.err, "previous contents are gone"), "%s", r.err);
	}
	ts_result_free(&r);
}
