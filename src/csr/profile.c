/*
 * SPEC: csr --profile — a CA's published requirements, checked before
 * signing. Each violation names its rule; all of them are reported at once
 * so a request is fixed in one round.
 */
#include "hsmcert/csr.h"

#include <arpa/inet.h>
#include <openssl/obj_mac.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

hc_rc hc_profile_parse(const char *name, hc_profile *out, hc_error *err)
{
	if (strcasecmp(name, "hkpost") == 0)
		*out = HC_PROFILE_HKPOST;
	else if (strcasecmp(name, "cabf") == 0)
		*out = HC_PROFILE_CABF;
	else if (strcasecmp(name, "none") == 0)
		*out = HC_PROFILE_NONE;
	else
		return hc_fail(err, HC_USAGE, "unknown profile '%s': use hkpost or cabf", name);
	return HC_OK;
}

const char *hc_profile_name(hc_profile profile)
{
	switch (profile) {
	case HC_PROFILE_HKPOST: return "hkpost";
	case HC_PROFILE_CABF: return "cabf";
	default: return "none";
	}
}

/* Violations collected into one message, one rule per line: "profile X (2 rules):\n  rule 'a':
 * ...". */
struct violations {
	hc_profile profile;
	char text[sizeof(((hc_error *)0)->message) - 64];
	int count;
};

__attribute__((format(printf, 3, 4))) static void violation(struct violations *v, const char *rule,
							    const char *fmt, ...)
{
	size_t used = strlen(v->text);
	va_list ap;

	if (used + 16 >= sizeof(v->text))
		return;
	snprintf(v->text + used, sizeof(v->text) - used, "\n  rule '%s': ", rule);
	used = strlen(v->text);
	va_start(ap, fmt);
	vsnprintf(v->text + used, sizeof(v->text) - used, fmt, ap);
	va_end(ap);
	v->count++;
}

static hc_rc violations_result(const struct violations *v, hc_error *err)
{
	if (v->count == 0)
		return HC_OK;
	return hc_fail(err, HC_USAGE, "the request breaks profile %s (%d rule%s):%s",
		       hc_profile_name(v->profile), v->count, v->count == 1 ? "" : "s", v->text);
}

static void check_key(struct violations *v, const hc_keytype *t)
{
	char have[32];

	hc_keytype_format(t, have, sizeof(have));
	if (v->profile == HC_PROFILE_HKPOST && (t->ckk != CKK_RSA || t->bits != 2048))
		violation(v, "key",
			  "Hongkong Post requires an RSA key of exactly 2048 bits; this "
			  "key is %s (make it rsa:2048)",
			  have);
	if (v->profile == HC_PROFILE_CABF) {
		bool ok = (t->ckk == CKK_RSA && t->bits >= 2048 && t->bits % 8 == 0) ||
			  (t->ckk == CKK_EC &&
			   (t->curve_nid == NID_X9_62_prime256v1 || t->curve_nid == NID_secp384r1));
		if (!ok)
			violation(
				v, "key",
				"the Baseline Requirements allow RSA of 2048 bits or "
				"more (a multiple of 8) or ECDSA on P-256 or P-384; this key is %s",
				have);
	}
}

hc_rc hc_profile_check_key(hc_profile profile, const hc_keytype *type, hc_error *err)
{
	struct violations v = {.profile = profile};

	check_key(&v, type);
	return violations_result(&v, err);
}

/* Names no public CA can validate: RFC 2606/6761/6762/8375 and common private TLDs. */
static bool internal_dns_name(const char *name)
{
	static const char *const reserved[] = {
		"local", "localhost", "localdomain", "internal",    "intranet",	   "lan",
		"corp",	 "home",      "private",     "test",	    "example",	   "invalid",
		"onion", "arpa",      "alt",	     "example.com", "example.net", "example.org",
	};
	const char *dot = strrchr(name, '.');
	size_t len = strlen(name);

	if (!dot)
		return true; /* a single label: "intranet", "mail" */
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		size_t n = strlen(reserved[i]);
		if (len >= n && strcasecmp(name + len - n, reserved[i]) == 0 &&
		    (len == n || name[len - n - 1] == '.'))
			return true;
	}
	return false;
}

/* Private, loopback, link-local, documentation and other reserved addresses. */
static bool internal_ip(const char *text)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, text, a) == 1) {
		return a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||
		       (a[0] == 100 && (a[1] & 0xc0) == 64) || (a[0] == 169 && a[1] == 254) ||
		       (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
		       (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) ||
		       (a[0] == 198 && (a[1] & 0xfe) == 18) ||
		       (a[0] == 198 && a[1] == 51 && a[2] == 100) ||
		       (a[0] == 203 && a[1] == 0 && a[2] == 113);
	}
	if (inet_pton(AF_INET6, text, a) == 1) {
		static const unsigned char zero[15] = {0};
		return (memcmp(a, zero, 15) == 0 && a[15] <= 1) || (a[0] & 0xfe) == 0xfc ||
		       (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || a[0] == 0xff ||
		       (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8);
	}
	return true;
}

static void check_cabf_names(struct violations *v, const hc_altnames *sans)
{
	if (sans->count == 0)
		violation(v, "SANs",
			  "a TLS server certificate needs at least one subjectAltName "
			  "(give a CN, a SAN or a wildcard domain)");
	for (size_t i = 0; i < sans->count; i++) {
		const hc_altname *a = &sans->items[i];
		switch (a->type) {
		case HC_ALTNAME_DNS:
			if (strchr(a->value, '_'))
				violation(v, "no underscores",
					  "'%s' contains '_', which public "
					  "certificates may not carry",
					  a->value);
			if (internal_dns_name(a->value))
				violation(v, "no internal names",
					  "'%s' is not a public domain "
					  "name (single label or reserved suffix)",
					  a->value);
			break;
		case HC_ALTNAME_IP:
			if (internal_ip(a->value))
				violation(v, "no internal names",
					  "IP address %s is private or "
					  "reserved",
					  a->value);
			break;
		default:
			violation(v, "SAN types",
				  "%s:%s: a TLS server certificate carries DNS "
				  "names and IP addresses only",
				  hc_altname_type_name(a->type), a->value);
		}
	}
}

static void check_hkpost_names(struct violations *v, const hc_csr_plan *plan)
{
	char country[8] = "";

	X509_NAME_get_text_by_NID(plan->subject, NID_countryName, country, sizeof(country));
	if (strcmp(country, "HK") != 0)
		violation(v, "country", "Hongkong Post requires C=HK in the subject%s%s%s",
			  country[0] ? " (got C=" : "", country, country[0] ? ")" : "");
	if (EVP_MD_get_type(plan->md) != NID_sha256 || plan->pss)
		violation(v, "signature",
			  "Hongkong Post requires sha256WithRSAEncryption (SHA-256, "
			  "PKCS#1 v1.5)%s",
			  plan->pss ? "; sign with PKCS#1 v1.5, not PSS" : "; sign with SHA-256");
}

/* Everything the profile says about names and digests (the key is checked with the key). */
hc_rc hc_profile_check_plan(const hc_csr_plan *plan, const hc_keytype *type, hc_error *err)
{
	struct violations v = {.profile = plan->profile};

	if (plan->profile == HC_PROFILE_HKPOST)
		check_hkpost_names(&v, plan);
	if (plan->profile == HC_PROFILE_CABF)
		check_cabf_names(&v, &plan->sans);
	if (type)
		check_key(&v, type);
	return violations_result(&v, err);
}
