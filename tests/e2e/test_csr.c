/*
 * csr and request end to end against SoftHSM2. Every request is read back by
 * the openssl command (signature, subject, SANs, key, algorithm) and its
 * public key compared with the token's as p11tool / pkcs11-tool export it.
 */
#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(csr, .init = ts_setup_token, .fini = ts_teardown);
TestSuite(request, .init = ts_setup_token, .fini = ts_teardown);

static void run_ok(const char *fmt_cmd)
{
	struct ts_result r;
	ts_run(&r, "%s", fmt_cmd);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

static void keygen(const char *label, const char *type)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "$HSMCERT keygen --label %s --type %s", label, type);
	run_ok(cmd);
}

/* `openssl req -text` of a request file, after checking that openssl says "verify OK". */
static char *openssl_text(const char *file, const char *inform)
{
	char *verify = ts_sh("openssl req -in %s -inform %s -noout -verify 2>&1", file, inform);
	cr_assert(strstr(verify, "verify OK"), "openssl does not verify %s: %s", file, verify);
	free(verify);
	return ts_sh(
		"openssl req -in %s -inform %s -noout -text -nameopt utf8,sep_comma_plus_space "
		"2>&1",
		file, inform);
}

/* The request's public key equals the token's public key object as p11tool exports it. */
static void assert_same_public_key(const char *file, const char *label)
{
	char *ours = ts_sh("openssl req -in %s -noout -pubkey", file);
	char *token = ts_sh("GNUTLS_PIN=%s p11tool --provider %s --login --export-pubkey "
			    "'pkcs11:token=%s;object=%s;type=public' 2>/dev/null",
			    TS_PIN, TS_SOFTHSM, TS_TOKEN, label);
	cr_assert(strstr(token, "BEGIN PUBLIC KEY"), "p11tool: %s", token);
	cr_assert_str_eq(ours, token);
	free(ours);
	free(token);
}

static void assert_contains(const char *text, const char *want)
{
	cr_assert(strstr(text, want), "missing '%s' in:\n%s", want, text);
}

/* The "Done means" command, exactly as written. */
Test(request, done_means_hkpost_exchange_form)
{
	struct ts_result r;
	char *text, *pkcs11_tool, *ours;

	ts_run(&r, "$HSMCERT request --label mail --subject 'C=HK,S=\"Hong Kong\",L=\"Hong "
		   "Kong\",O=\"My Organization\",OU=\"My Organization Unit\",CN=www.myserver.com' "
		   "--san www.myserver2.com --profile hkpost -o certreq.pem");
	ts_assert_status(&r, 0);
	assert_contains(r.out, "Generated rsa:2048 key pair 'mail'");
	assert_contains(r.out, "hkpost: every rule passed");
	ts_result_free(&r);

	text = openssl_text("certreq.pem", "PEM");
	assert_contains(text, "Subject: C=HK, ST=Hong Kong, L=Hong Kong, O=My Organization, "
			      "OU=My Organization Unit, CN=www.myserver.com\n");
	assert_contains(text, "DNS:www.myserver.com, DNS:www.myserver2.com\n");
	assert_contains(text, "Public-Key: (2048 bit)");
	assert_contains(text, "Signature Algorithm: sha256WithRSAEncryption");
	free(text);
	assert_same_public_key("certreq.pem", "mail");

	/* pkcs11-tool, a second independent reader, sees the same modulus. */
	pkcs11_tool = ts_sh("pkcs11-tool --module %s --token-label %s --login --pin %s "
			    "--read-object --type pubkey --label mail 2>/dev/null | openssl rsa "
			    "-pubin -inform DER -noout -modulus",
			    TS_SOFTHSM, TS_TOKEN, TS_PIN);
	ours = ts_sh("openssl req -in certreq.pem -noout -modulus");
	cr_assert_str_eq(ours, pkcs11_tool);
	free(ours);
	free(pkcs11_tool);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

Test(csr, rsa_digests_and_pss)
{
	static const struct {
		const char *args, *want;
	} cases[] = {
		{"", "Signature Algorithm: sha256WithRSAEncryption"},
		{"--md sha384", "Signature Algorithm: sha384WithRSAEncryption"},
		{"--md sha512", "Signature Algorithm: sha512WithRSAEncryption"},
		{"--pss", "Mask Algorithm: mgf1 with sha256"},
		{"--pss --md sha512", "Mask Algorithm: mgf1 with sha512"},
	};

	keygen("web", "rsa:3072");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char cmd[256], *text;
		snprintf(cmd, sizeof(cmd),
			 "$HSMCERT csr --key 'pkcs11:object=web' --cn www.example.hk "
			 "%s -o r%zu.pem",
			 cases[i].args, i);
		run_ok(cmd);
		snprintf(cmd, sizeof(cmd), "r%zu.pem", i);
		text = openssl_text(cmd, "PEM");
		assert_contains(text, cases[i].want);
		assert_contains(text, "Public-Key: (3072 bit)");
		free(text);
		assert_same_public_key(cmd, "web");
	}
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

Test(csr, ecdsa_keys)
{
	char *text;

	keygen("e256", "ec:P-256");
	keygen("e384", "ec:P-384");
	run_ok("$HSMCERT csr --key 'pkcs11:object=e256' --cn www.example.hk -o a.pem");
	run_ok("$HSMCERT csr --key 'pkcs11:object=e384' --cn www.example.hk --md sha384 --profile "
	       "cabf -o b.pem");
	text = openssl_text("a.pem", "PEM");
	assert_contains(text, "Signature Algorithm: ecdsa-with-SHA256");
	assert_contains(text, "NIST CURVE: P-256");
	free(text);
	text = openssl_text("b.pem", "PEM");
	assert_contains(text, "Signature Algorithm: ecdsa-with-SHA384");
	assert_contains(text, "NIST CURVE: P-384");
	free(text);
	assert_same_public_key("a.pem", "e256");
	assert_same_public_key("b.pem", "e384");
}

Test(csr, subject_forms_agree_and_utf8_survives)
{
	static const char *forms[] = {
		"--subject 'CN=www.example.hk,OU=Web,O=香港郵政署\\, Ltd,L=Hong Kong,ST=Hong "
		"Kong,C=HK'",
		"--subject '/C=HK/ST=Hong Kong/L=Hong Kong/O=香港郵政署, Ltd/OU=Web/CN=www.example.hk'",
		"--subject 'C=HK,S=\"Hong Kong\",L=\"Hong Kong\",O=\"香港郵政署, Ltd\",OU=Web,"
		"CN=www.example.hk'",
		"--cn www.example.hk --o '香港郵政署, Ltd' --ou Web --l 'Hong Kong' --st 'Hong Kong' "
		"--c hk",
	};

	keygen("web", "rsa:2048");
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char cmd[512], file[16], *text, *asn1;
		snprintf(file, sizeof(file), "f%zu.pem", i);
		snprintf(cmd, sizeof(cmd), "$HSMCERT csr --key 'pkcs11:object=web' %s -o %s",
			 forms[i], file);
		run_ok(cmd);
		text = openssl_text(file, "PEM");
		assert_contains(text, "Subject: C=HK, ST=Hong Kong, L=Hong Kong, O=香港郵政署, "
				      "Ltd, OU=Web, CN=www.example.hk\n");
		free(text);
		/* The organisation is a UTF8String holding exactly those bytes; C is printable. */
		asn1 = ts_sh("openssl asn1parse -in %s -i", file);
		assert_contains(asn1, "PRINTABLESTRING   :HK");
		assert_contains(asn1, "UTF8STRING        :香港郵政署, Ltd");
		free(asn1);
	}
}

Test(csr, idn_wildcard_and_san_types)
{
	struct ts_result r;
	json_t *doc, *sans;
	char *text;

	keygen("web", "rsa:2048");
	ts_run(&r, "$HSMCERT --json csr --key 'pkcs11:object=web' --cn 'WWW.香港郵政.hk' "
		   "--san IP:192.0.2.10 --san 'email:admin@香港郵政.hk' --san "
		   "URI:https://www.example.hk/ --san www.香港郵政.hk -o idn.pem");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	sans = json_object_get(json_object_get(doc, "request"), "sans");
	cr_assert_eq(json_array_size(sans), 4, "%s", r.out); /* the repeated CN is one SAN */
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sans, 0), "value")),
			 "www.xn--5bvv2rbn4a0hh.hk");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sans, 0), "ulabel")),
			 "www.香港郵政.hk");
	cr_assert(json_is_true(
		json_object_get(json_object_get(doc, "request"), "signature_verified")));
	cr_assert(json_is_null(json_object_get(json_object_get(doc, "request"), "pem")) ||
		  !json_object_get(json_object_get(doc, "request"), "pem"));
	json_decref(doc);
	ts_result_free(&r);
	text = openssl_text("idn.pem", "PEM");
	assert_contains(text, "CN=www.xn--5bvv2rbn4a0hh.hk\n");
	assert_contains(text, "DNS:www.xn--5bvv2rbn4a0hh.hk, IP Address:192.0.2.10, "
			      "email:admin@xn--5bvv2rbn4a0hh.hk, URI:https://www.example.hk/\n");
	free(text);

	run_ok("$HSMCERT csr --key 'pkcs11:object=web' --wildcard example.hk --o Org -o w.pem");
	text = openssl_text("w.pem", "PEM");
	assert_contains(text, "Subject: O=Org, CN=*.example.hk\n");
	assert_contains(text, "DNS:*.example.hk, DNS:example.hk\n");
	free(text);
}

Test(csr, stdout_der_and_overwrite)
{
	struct ts_result r;
	char *text;

	keygen("web", "rsa:2048");
	ts_run(&r, "$HSMCERT csr --key 'pkcs11:object=web' --cn www.example.hk > out.pem");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	text = openssl_text("out.pem", "PEM");
	free(text);

	run_ok("$HSMCERT csr --key 'pkcs11:object=web' --cn www.example.hk --der -o out.der");
	text = openssl_text("out.der", "DER");
	assert_contains(text, "CN=www.example.hk");
	free(text);

	/* An existing file is kept (exit 1) unless --force. */
	ts_write("keep.pem", "precious\n");
	ts_run(&r, "$HSMCERT csr --key 'pkcs11:object=web' --cn www.example.hk -o keep.pem");
	ts_assert_status(&r, 1);
	assert_contains(r.err, "--force");
	ts_result_free(&r);
	text = ts_read("keep.pem", NULL);
	cr_assert_str_eq(text, "precious\n");
	free(text);
	run_ok("$HSMCERT csr --key 'pkcs11:object=web' --cn www.example.hk -o keep.pem --force");
	text = openssl_text("keep.pem", "PEM");
	free(text);
	/* No temporary files left behind. */
	text = ts_sh("ls -A | grep -c tmp || true");
	cr_assert_str_eq(text, "0\n");
	free(text);
}

/* Bad input: the exit code, a message naming the problem, no file, no new token object. */
static void refused_env(const char *env, const char *args, int status, const char *want)
{
	struct ts_result r;
	int before = ts_count_objects(TS_TOKEN);

	ts_run(&r, "%s $HSMCERT %s -o bad.pem", env, args);
	ts_assert_status(&r, status);
	cr_assert(strstr(r.err, want), "'%s': stderr lacks '%s':\n%s", args, want, r.err);
	cr_assert_not(ts_exists("bad.pem"), "'%s' wrote a file", args);
	cr_assert_eq(ts_count_objects(TS_TOKEN), before, "'%s' changed the token", args);
	ts_result_free(&r);
}

static void refused(const char *args, int status, const char *want)
{
	refused_env("", args, status, want);
}

Test(csr, bad_inputs_change_nothing)
{
	keygen("web", "rsa:2048");
	keygen("big", "rsa:3072");
	/* subjects, in each form */
	refused("csr --key pkcs11:object=web --subject 'www.example.hk'", 2, "not TYPE=value");
	refused("csr --key pkcs11:object=web --subject '/C=HK//CN=a.hk'", 2, "not TYPE=value");
	refused("csr --key pkcs11:object=web --subject 'C=HK,S=\"Hong Kong,CN=a.hk'", 2,
		"never closed");
	refused("csr --key pkcs11:object=web --subject 'C=Hong Kong,CN=a.hk'", 2,
		"two-letter country code");
	refused("csr --key pkcs11:object=web --subject 'CN=a.hk,XX=1'", 2, "unknown attribute");
	refused("csr --key pkcs11:object=web --cn a.hk --o "
		"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
		2, "at most 64");
	refused("csr --key pkcs11:object=web --ou x", 2, "needs a host name");
	/* names */
	refused("csr --key pkcs11:object=web --cn 'https://www.x.hk:443/a'", 2, "type www.x.hk");
	refused("csr --key pkcs11:object=web --cn www.x.hk --san 'http://www.y.hk/'", 2,
		"type www.y.hk");
	refused("csr --key pkcs11:object=web --cn '☃.com'", 2, "not a valid host name");
	refused("csr --key pkcs11:object=web --cn xn--zz.hk", 2, "not a valid host name");
	refused("csr --key pkcs11:object=web --cn a.hk --san IP:1.2.3", 2, "not an IPv4");
	refused("csr --key pkcs11:object=web --cn a.hk --san email:nobody", 2,
		"not an email address");
	refused("csr --key pkcs11:object=web --cn a.hk --wildcard b.hk", 2, "leave CN=a.hk out");
	/* profiles */
	refused("csr --key pkcs11:object=big --subject 'C=HK,CN=www.x.hk' --profile hkpost", 2,
		"rule 'key'");
	refused("csr --key pkcs11:object=web --subject 'C=US,CN=www.x.hk' --profile hkpost", 2,
		"rule 'country'");
	refused("csr --key pkcs11:object=web --subject 'C=HK,CN=www.x.hk' --profile hkpost --md "
		"sha384",
		2, "rule 'signature'");
	refused("csr --key pkcs11:object=web --cn mail --profile cabf", 2,
		"rule 'no internal names'");
	refused("csr --key pkcs11:object=web --cn a_b.example.hk --profile cabf", 2,
		"rule 'no underscores'");
	refused("csr --key pkcs11:object=web --cn www.x.hk --san email:a@x.hk --profile cabf", 2,
		"rule 'SAN types'");
	refused("csr --key pkcs11:object=web --cn www.x.hk --profile nosuch", 2, "unknown profile");
	refused("csr --key pkcs11:object=web --cn www.x.hk --md md5", 2, "unknown digest");
	/* keys */
	refused("csr --key pkcs11:object=nosuch --cn www.x.hk", 2, "no private key matches");
	refused("csr --key 'pkcs11:object=web;type=public' --cn www.x.hk", 2,
		"signing needs the private key");
	refused("csr --key not-a-uri --cn www.x.hk", 2, "not a PKCS#11 URI");
	refused("csr --cn www.x.hk", 2, "--key URI is required");
}

/* A key that wants the PIN for every signature (smart cards' signing keys). */
Test(csr, always_authenticate_key)
{
	char *text;

	free(ts_sh("pkcs11-tool --module %s --token-label %s --login --pin %s --keypairgen "
		   "--key-type rsa:2048 --label aa --id 0a --always-auth >/dev/null 2>&1",
		   TS_SOFTHSM, TS_TOKEN, TS_PIN));
	run_ok("$HSMCERT csr --key 'pkcs11:object=aa' --cn www.example.hk -o aa.pem");
	text = openssl_text("aa.pem", "PEM");
	assert_contains(text, "CN=www.example.hk");
	free(text);
	assert_same_public_key("aa.pem", "aa");
}

Test(csr, public_key_only_object)
{
	struct ts_result r;

	keygen("half", "rsa:2048");
	/* Leave only the public half, as after a botched migration. */
	ts_run(&r,
	       "pkcs11-tool --module %s --token-label %s --login --pin %s --delete-object "
	       "--type privkey --label half",
	       TS_SOFTHSM, TS_TOKEN, TS_PIN);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	refused("csr --key pkcs11:object=half --cn www.x.hk", 2, "names only a public key");
}

Test(request, bad_inputs_create_no_key)
{
	refused("request --label k --type rsa:3072 --subject 'C=HK,CN=www.x.hk' --profile hkpost",
		2, "rule 'key'");
	refused("request --label k --type ec:P-256 --subject 'CN=www.x.hk' --profile hkpost", 2,
		"rule 'key'");
	refused("request --label k --cn 'https://www.x.hk/'", 2, "type www.x.hk");
	refused("request --label k --subject 'CN'", 2, "not TYPE=value");
	refused("request --cn www.x.hk", 2, "--label is required");
	refused("request --label k --cn www.x.hk --config /nonexistent.cnf", 4, "nonexistent");
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

/* The CSR step fails after the key exists: the key pair must go again. */
Test(request, failed_signature_destroys_the_new_key)
{
	char env[512];

	snprintf(env, sizeof(env), "HSMCERT_MODULE=%s HSMCERT_FAULT_FAIL=C_Sign=0x30",
		 getenv("HSMCERT_FAULTMOD"));
	refused_env(env, "request --label k --cn www.x.hk", 3, "C_Sign failed: CKR_DEVICE_ERROR");
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);

	snprintf(env, sizeof(env), "HSMCERT_MODULE=%s HSMCERT_FAULT_FAIL=C_SignInit",
		 getenv("HSMCERT_FAULTMOD"));
	refused_env(env, "request --label k --type ec:P-256 --cn www.x.hk", 3, "C_SignInit failed");
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

/* request says what keygen says when the token needed a fallback to make the key as asked. */
Test(request, warns_like_keygen_when_the_token_needed_a_fallback)
{
	struct ts_result r;

	ts_run(&r, "HSMCERT_FAULT_REJECT_ATTR=0x162 HSMCERT_FAULT_EXTRACTABLE_DEFAULT=1 $HSMCERT "
		   "--module $HSMCERT_FAULTMOD request --label k --cn www.x.hk -o k.csr");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.err, "refused the full key template"), "%s", r.err);
	cr_assert(strstr(r.err, "CKA_EXTRACTABLE was set to false"), "%s", r.err);
	ts_result_free(&r);
	cr_assert(ts_exists("k.csr"));
}

/* If even the clean-up fails, the message says what is left and how to remove it. */
Test(request, failed_cleanup_is_reported)
{
	struct ts_result r;

	ts_run(&r,
	       "HSMCERT_MODULE=%s HSMCERT_FAULT_FAIL=C_Sign,C_DestroyObject $HSMCERT request "
	       "--label k --cn www.x.hk -o k.pem",
	       getenv("HSMCERT_FAULTMOD"));
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_Sign failed"), "%s", r.err);
	cr_assert(strstr(r.err, "the rollback failed too (C_DestroyObject"), "%s", r.err);
	cr_assert(strstr(r.err, "remove with 'hsmcert delete URI': pkcs11:"), "%s", r.err);
	cr_assert(strstr(r.err, "object=k;type=public"), "%s", r.err);
	cr_assert(strstr(r.err, "object=k;type=private"), "%s", r.err);
	ts_result_free(&r);
	cr_assert_not(ts_exists("k.pem"));
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

Test(request, failed_write_destroys_the_new_key)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT request --label k --cn www.x.hk -o no/such/dir/req.pem");
	ts_assert_status(&r, 4);
	assert_contains(r.err, "no/such/dir/req.pem");
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 0);
}

Test(request, existing_label_is_refused_and_kept)
{
	struct ts_result r;

	keygen("k", "rsa:2048");
	ts_run(&r, "$HSMCERT request --label k --cn www.x.hk -o r.pem");
	ts_assert_status(&r, 1);
	ts_result_free(&r);
	cr_assert_not(ts_exists("r.pem"));
	/* --if-missing uses it, and a failure afterwards does not destroy it. */
	ts_run(&r,
	       "HSMCERT_MODULE=%s HSMCERT_FAULT_FAIL=C_Sign $HSMCERT request --label k "
	       "--if-missing --cn www.x.hk -o r.pem",
	       getenv("HSMCERT_FAULTMOD"));
	ts_assert_status(&r, 3);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
	run_ok("$HSMCERT request --label k --if-missing --cn www.x.hk -o r.pem");
	assert_same_public_key("r.pem", "k");
}

Test(request, openssl_config_prompt_no)
{
	char *text, *theirs, *ours;

	ts_write("req.cnf", "[ req ]\n"
			    "default_bits = 3072\n"
			    "default_md = sha384\n"
			    "prompt = no\n"
			    "distinguished_name = req_distinguished_name\n"
			    "req_extensions = v3_req\n"
			    "[ req_distinguished_name ]\n"
			    "C = HK\n"
			    "ST = Hong Kong\n"
			    "L = Hong Kong\n"
			    "O = My Organization\n"
			    "0.OU = Unit A\n"
			    "1.OU = Unit B\n"
			    "CN = www.myserver.com\n"
			    "[ v3_req ]\n"
			    "keyUsage = critical, digitalSignature, keyEncipherment\n"
			    "extendedKeyUsage = serverAuth\n"
			    "subjectAltName = @alt_names\n"
			    "[ alt_names ]\n"
			    "DNS.1 = www.myserver.com\n"
			    "DNS.2 = www.myserver2.com\n"
			    "IP.1 = 192.0.2.1\n");
	run_ok("$HSMCERT request --label cfg --config req.cnf -o cfg.pem");
	text = openssl_text("cfg.pem", "PEM");
	assert_contains(text, "Public-Key: (3072 bit)");
	assert_contains(text, "Signature Algorithm: sha384WithRSAEncryption");
	assert_contains(text,
			"DNS:www.myserver.com, DNS:www.myserver2.com, IP Address:192.0.2.1\n");
	assert_contains(text, "Digital Signature, Key Encipherment");
	assert_contains(text, "TLS Web Server Authentication");
	free(text);

	/* openssl req reads the same config to the same subject. */
	run_ok("openssl genrsa -out soft.key 2048 2>/dev/null");
	theirs = ts_sh("openssl req -new -config req.cnf -key soft.key | openssl req -noout "
		       "-subject");
	ours = ts_sh("openssl req -in cfg.pem -noout -subject");
	cr_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);

	/* Options override the config. */
	run_ok("$HSMCERT request --label cfg2 --config req.cnf --type rsa:2048 --md sha256 --cn "
	       "www.other.hk --san extra.example.hk -o cfg2.pem");
	text = openssl_text("cfg2.pem", "PEM");
	assert_contains(text, "CN=www.other.hk\n");
	assert_contains(text, "DNS:www.other.hk, DNS:www.myserver.com, DNS:www.myserver2.com, IP "
			      "Address:192.0.2.1, DNS:extra.example.hk\n");
	assert_contains(text, "Public-Key: (2048 bit)");
	free(text);
}

Test(request, openssl_config_defaults_and_bad_configs)
{
	char *text;

	ts_write("prompt.cnf", "[ req ]\n"
			       "distinguished_name = dn\n"
			       "[ dn ]\n"
			       "countryName = Country Name (2 letter code)\n"
			       "countryName_default = HK\n"
			       "countryName_min = 2\n"
			       "organizationName = Organization\n"
			       "organizationName_default = My Org\n"
			       "commonName = Common Name\n"
			       "commonName_default = www.example.hk\n"
			       "[ alt_names ]\n"
			       "DNS.1 = alt.example.hk\n");
	run_ok("$HSMCERT request --label p --config prompt.cnf -o p.pem");
	text = openssl_text("p.pem", "PEM");
	assert_contains(text, "Subject: C=HK, O=My Org, CN=www.example.hk\n");
	assert_contains(text, "DNS:www.example.hk, DNS:alt.example.hk\n");
	free(text);

	ts_write("broken.cnf", "[ req\nx = \n");
	refused("request --label b --config broken.cnf", 2, "broken.cnf");
	ts_write("badname.cnf", "[ req ]\nprompt = no\ndistinguished_name = dn\n[ dn ]\nC = "
				"HK\nfooBar = 1\nCN = a.hk\n");
	refused("request --label b --config badname.cnf", 2, "unknown attribute type 'fooBar'");
	ts_write("badsan.cnf", "[ req ]\nprompt = no\ndistinguished_name = dn\nreq_extensions = "
			       "e\n[ dn ]\nCN = a.hk\n[ e ]\nsubjectAltName = DNS:a.hk, "
			       "DNS:https://b.hk/\n");
	refused("request --label b --config badsan.cnf", 2, "type b.hk");
	ts_write("badext.cnf", "[ req ]\nprompt = no\ndistinguished_name = dn\nreq_extensions = "
			       "e\n[ dn ]\nCN = a.hk\n[ e ]\nkeyUsage = bogus\n");
	refused("request --label b --config badext.cnf", 2, "keyUsage");
	cr_assert_eq(ts_count_objects(TS_TOKEN), 2);
}

Test(request, json_document)
{
	struct ts_result r;
	json_t *doc, *req;

	ts_run(&r, "$HSMCERT request --json --label j --type ec:P-256 --cn www.example.hk");
	ts_assert_status(&r, 0);
	doc = ts_json(&r);
	cr_assert(json_is_true(json_object_get(doc, "created")));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "key"), "type")),
			 "ec:P-256");
	req = json_object_get(doc, "request");
	cr_assert_str_eq(json_string_value(json_object_get(req, "signature_algorithm")),
			 "ecdsa-with-SHA256");
	cr_assert_str_eq(json_string_value(json_object_get(req, "key_type")), "ec:P-256");
	cr_assert(json_is_null(json_object_get(req, "file")));
	ts_write("j.pem", json_string_value(json_object_get(req, "pem")));
	json_decref(doc);
	ts_result_free(&r);
	free(openssl_text("j.pem", "PEM"));
	assert_same_public_key("j.pem", "j");
}

Test(request, long_config_uri_is_kept_whole)
{
	char uri[1200], conf[1500], *n;
	struct ts_result r;

	memset(uri, 'a', 1100);
	uri[1100] = '\0';
	snprintf(conf, sizeof(conf),
		 "[req]\ndistinguished_name=dn\nreq_extensions=ext\nprompt=no\n[dn]\n"
		 "CN=a.example.hk\n[ext]\nsubjectAltName=@alt\n[alt]\nURI.1=http://x.hk/%s\n",
		 uri);
	ts_write("long.cnf", conf);
	ts_run(&r, "$HSMCERT request --label k --config long.cnf -o long.csr");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	/* openssl sees the whole URI: 16 + 1100 characters, not a cut one. */
	n = ts_sh("openssl req -in long.csr -noout -text | grep -o 'URI:http://x.hk/a*' | "
		  "tr -d '\\n' | wc -c");
	cr_assert_eq(atoi(n), 4 + 12 + 1100, "%s", n);
	free(n);
}

/* SPEC csr: --config works for an existing key too; openssl reads the same subject from it. */
Test(csr, openssl_config_for_an_existing_key)
{
	char *text, *theirs, *ours;

	keygen("web", "ec:P-256");
	ts_write("req.cnf", "[ req ]\n"
			    "default_bits = 4096\n"
			    "default_md = sha384\n"
			    "prompt = no\n"
			    "distinguished_name = dn\n"
			    "req_extensions = v3_req\n"
			    "[ dn ]\n"
			    "C = HK\n"
			    "O = My Organization\n"
			    "CN = www.myserver.com\n"
			    "[ v3_req ]\n"
			    "extendedKeyUsage = serverAuth\n"
			    "subjectAltName = @alt_names\n"
			    "[ alt_names ]\n"
			    "DNS.1 = www.myserver.com\n"
			    "DNS.2 = www.myserver2.com\n");
	run_ok("$HSMCERT csr --key pkcs11:object=web --config req.cnf -o web.csr");
	text = openssl_text("web.csr", "PEM");
	assert_contains(text, "NIST CURVE: P-256"); /* the existing key: default_bits is moot */
	assert_contains(text, "ecdsa-with-SHA384");
	assert_contains(text, "DNS:www.myserver.com, DNS:www.myserver2.com\n");
	assert_contains(text, "TLS Web Server Authentication");
	free(text);
	assert_same_public_key("web.csr", "web");
	run_ok("openssl ecparam -name prime256v1 -genkey -noout -out soft.key 2>/dev/null");
	theirs = ts_sh("openssl req -new -config req.cnf -key soft.key | openssl req -noout "
		       "-subject");
	ours = ts_sh("openssl req -in web.csr -noout -subject");
	cr_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);
	refused("csr --key pkcs11:object=web --config /nonexistent.cnf", 4, "nonexistent");
}
