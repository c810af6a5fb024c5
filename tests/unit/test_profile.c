/*
 * CA profiles (src/csr/profile.c) through hc_csr_plan_make and
 * hc_profile_check_key: each rule of hkpost and cabf, named in the error,
 * all violations at once. No token: a plan is checked before anything is
 * signed.
 */
#include "support.h"

#include "hsmcert/csr.h"
#include "hsmcert/subject.h"

#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <string.h>

TestSuite(profile);

struct plan_in {
	const char *subject;
	const char *sans[4];
	hc_profile profile;
	const EVP_MD *md;
	bool pss;
};

/* Make the plan; returns its rc and leaves the message in `err`. */
static hc_rc plan(const struct plan_in *in, hc_error *err)
{
	hc_subject subject = {0};
	hc_altnames sans = {0};
	hc_csr_plan p = {0};
	hc_csr_params params = {0};
	hc_rc rc;

	if (in->subject)
		cr_assert_eq(hc_subject_parse(in->subject, &subject, err), HC_OK, "%s",
			     err->message);
	for (size_t i = 0; i < 4 && in->sans[i]; i++)
		cr_assert_eq(hc_altnames_add(&sans, in->sans[i], "--san", err), HC_OK, "%s",
			     err->message);
	params.subject = in->subject ? &subject : NULL;
	params.sans = &sans;
	params.profile = in->profile;
	params.md = in->md;
	params.pss = in->pss;
	rc = hc_csr_plan_make(&params, &p, err);
	hc_csr_plan_clear(&p);
	hc_altnames_clear(&sans);
	hc_subject_clear(&subject);
	return rc;
}

static hc_keytype keytype(const char *text)
{
	hc_keytype t;
	hc_error err = {0};

	cr_assert_eq(hc_keytype_parse(text, &t, &err), HC_OK, "%s: %s", text, err.message);
	return t;
}

Test(profile, names_parse_and_unknown_is_usage)
{
	hc_profile p;
	hc_error err = {0};

	cr_assert_eq(hc_profile_parse("HKPost", &p, &err), HC_OK);
	cr_assert_eq(p, HC_PROFILE_HKPOST);
	cr_assert_eq(hc_profile_parse("cabf", &p, &err), HC_OK);
	cr_assert_eq(p, HC_PROFILE_CABF);
	cr_assert_eq(hc_profile_parse("evil", &p, &err), HC_USAGE);
	cr_assert(strstr(err.message, "'evil'"), "%s", err.message);
	cr_assert_str_eq(hc_profile_name(HC_PROFILE_CABF), "cabf");
}

Test(profile, hkpost_key_is_rsa_2048_exactly)
{
	hc_error err = {0};
	hc_keytype t = keytype("rsa:2048");

	cr_assert_eq(hc_profile_check_key(HC_PROFILE_HKPOST, &t, &err), HC_OK, "%s", err.message);
	t = keytype("rsa:3072");
	cr_assert_eq(hc_profile_check_key(HC_PROFILE_HKPOST, &t, &err), HC_USAGE);
	cr_assert(strstr(err.message, "rule 'key'") && strstr(err.message, "rsa:3072"), "%s",
		  err.message);
	t = keytype("ec:P-256");
	cr_assert_eq(hc_profile_check_key(HC_PROFILE_HKPOST, &t, &err), HC_USAGE);
}

Test(profile, cabf_keys)
{
	static const char *const ok[] = {"rsa:2048", "rsa:3072", "rsa:4096", "ec:P-256",
					 "ec:P-384"};
	hc_error err = {0};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		hc_keytype t = keytype(ok[i]);
		cr_assert_eq(hc_profile_check_key(HC_PROFILE_CABF, &t, &err), HC_OK, "%s: %s",
			     ok[i], err.message);
	}
	/* No profile: nothing is refused. */
	{
		hc_keytype t = keytype("rsa:3072");
		cr_assert_eq(hc_profile_check_key(HC_PROFILE_NONE, &t, &err), HC_OK);
	}
}

Test(profile, hkpost_needs_c_hk_and_sha256_pkcs1)
{
	hc_error err = {0};
	struct plan_in good = {.subject = "C=HK,O=My Org,CN=www.example.hk",
			       .profile = HC_PROFILE_HKPOST};
	struct plan_in wrong_c = {.subject = "C=GB,CN=www.example.hk",
				  .profile = HC_PROFILE_HKPOST};
	struct plan_in pss = {
		.subject = "C=HK,CN=www.example.hk", .profile = HC_PROFILE_HKPOST, .pss = true};

	cr_assert_eq(plan(&good, &err), HC_OK, "%s", err.message);
	cr_assert_eq(plan(&wrong_c, &err), HC_USAGE);
	cr_assert(strstr(err.message, "rule 'country'") && strstr(err.message, "C=GB"), "%s",
		  err.message);
	cr_assert_eq(plan(&pss, &err), HC_USAGE);
	cr_assert(strstr(err.message, "rule 'signature'") && strstr(err.message, "not PSS"), "%s",
		  err.message);
	wrong_c.md = EVP_sha384();
	cr_assert_eq(plan(&wrong_c, &err), HC_USAGE);
	/* Both rules in one message, so the request is fixed in one round. */
	cr_assert(strstr(err.message, "(2 rules)"), "%s", err.message);
}

Test(profile, cabf_names)
{
	static const struct {
		struct plan_in in;
		const char *rule; /* NULL: passes */
	} cases[] = {
		{{.subject = "CN=www.example.hk", .profile = HC_PROFILE_CABF}, NULL},
		{{.subject = NULL,
		  .sans = {"www.example.hk", "IP:8.8.8.8"},
		  .profile = HC_PROFILE_CABF},
		 NULL},
		{{.subject = "CN=my_host.example.hk", .profile = HC_PROFILE_CABF},
		 "rule 'no underscores'"},
		{{.subject = "CN=intranet", .profile = HC_PROFILE_CABF},
		 "rule 'no internal names'"},
		{{.subject = "CN=www.example.hk",
		  .sans = {"IP:10.1.2.3"},
		  .profile = HC_PROFILE_CABF},
		 "rule 'no internal names'"},
		{{.subject = "CN=www.example.hk",
		  .sans = {"email:a@example.hk"},
		  .profile = HC_PROFILE_CABF},
		 "rule 'SAN types'"},
		/* The same names without a profile are fine. */
		{{.subject = "CN=intranet", .sans = {"IP:10.1.2.3"}, .profile = HC_PROFILE_NONE},
		 NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hc_error err = {0};
		hc_rc rc = plan(&cases[i].in, &err);
		if (!cases[i].rule) {
			cr_assert_eq(rc, HC_OK, "case %zu: %s", i, err.message);
			continue;
		}
		cr_assert_eq(rc, HC_USAGE, "case %zu passed", i);
		cr_assert(strstr(err.message, cases[i].rule), "case %zu: %s", i, err.message);
	}
}

/* ---- req configs (src/csr/reqconfig.c) ---------------------------------- */

TestSuite(reqconfig, .init = ts_setup_empty, .fini = ts_teardown);

static hc_rc load(const char *text, hc_req_config *c, hc_error *err)
{
	ts_write("req.cnf", text);
	memset(c, 0, sizeof(*c));
	return hc_req_config_load("req.cnf", c, err);
}

Test(reqconfig, exchange_style_config_with_alt_names_section)
{
	hc_req_config c;
	hc_error err = {0};

	cr_assert_eq(load("[req]\n"
			  "prompt = no\n"
			  "distinguished_name = dn\n"
			  "req_extensions = ext\n"
			  "default_md = sha384\n"
			  "default_bits = 3072\n"
			  "[dn]\n"
			  "C = HK\n"
			  "ST = Hong Kong\n"
			  "O = My Organization\n"
			  "CN = www.myserver.com\n"
			  "[ext]\n"
			  "keyUsage = digitalSignature\n"
			  "subjectAltName = @alt_names\n"
			  "[alt_names]\n"
			  "DNS.1 = www.myserver.com\n"
			  "DNS.2 = mail.myserver.com\n"
			  "IP.1 = 192.0.2.7\n",
			  &c, &err),
		     HC_OK, "%s", err.message);
	cr_assert_str_eq(hc_subject_get(&c.subject, NID_commonName), "www.myserver.com");
	cr_assert_str_eq(hc_subject_get(&c.subject, NID_stateOrProvinceName), "Hong Kong");
	cr_assert_eq(c.sans.count, 3);
	cr_assert(hc_altnames_contains(&c.sans, HC_ALTNAME_DNS, "mail.myserver.com"));
	cr_assert(hc_altnames_contains(&c.sans, HC_ALTNAME_IP, "192.0.2.7"));
	cr_assert_eq(EVP_MD_get_type(c.md), NID_sha384);
	cr_assert_eq(c.default_bits, 3072);
	/* keyUsage is kept; subjectAltName is not among the other extensions. */
	cr_assert_eq(sk_X509_EXTENSION_num(c.extensions), 1);
	hc_req_config_clear(&c);
}

Test(reqconfig, prompting_config_takes_the_defaults)
{
	hc_req_config c;
	hc_error err = {0};

	cr_assert_eq(load("[req]\n"
			  "distinguished_name = dn\n"
			  "[dn]\n"
			  "countryName = Country\n"
			  "countryName_default = HK\n"
			  "commonName = Common name\n"
			  "commonName_default = www.example.hk\n",
			  &c, &err),
		     HC_OK, "%s", err.message);
	cr_assert_str_eq(hc_subject_get(&c.subject, NID_countryName), "HK");
	cr_assert_str_eq(hc_subject_get(&c.subject, NID_commonName), "www.example.hk");
	hc_req_config_clear(&c);
}

Test(reqconfig, bad_configs_name_the_file_and_the_problem)
{
	hc_req_config c;
	hc_error err = {0};

	cr_assert_eq(load("[req\nbroken\n", &c, &err), HC_USAGE);
	cr_assert(strstr(err.message, "req.cnf"), "%s", err.message);
	hc_req_config_clear(&c);

	cr_assert_eq(load("[req]\nprompt = no\ndistinguished_name = dn\nreq_extensions = ext\n"
			  "[dn]\nCN = www.example.hk\n[ext]\nsubjectAltName = @nowhere\n",
			  &c, &err),
		     HC_USAGE);
	cr_assert(strstr(err.message, "[nowhere]"), "%s", err.message);
	hc_req_config_clear(&c);

	cr_assert_eq(load("[req]\nprompt = no\ndistinguished_name = dn\nreq_extensions = ext\n"
			  "[dn]\nCN = www.example.hk\n[ext]\nsubjectAltName = @alt\n"
			  "[alt]\nRID.1 = 1.2.3.4\n",
			  &c, &err),
		     HC_USAGE);
	cr_assert(strstr(err.message, "DNS, IP, email and URI"), "%s", err.message);
	hc_req_config_clear(&c);

	memset(&c, 0, sizeof(c));
	cr_assert_eq(hc_req_config_load("missing.cnf", &c, &err), HC_IO);
	cr_assert(strstr(err.message, "missing.cnf"), "%s", err.message);
	hc_req_config_clear(&c);
}
