/*
 * Helpers shared by the import, list, delete and check tests: keys made with
 * hsmcert keygen, certificates made for them by scripts/testpki.sh's mini PKI (certtool
 * and openssl, not hsmcert), and JSON output parsed with jansson.
 */
#ifndef HSMCERT_TEST_CERTTEST_H
#define HSMCERT_TEST_CERTTEST_H

#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CT_TESTPKI "\"$HSMCERT_SOURCE_DIR/scripts/testpki.sh\""

/* A root and a Sub CA in ./pki. */
static inline void ct_pki(void)
{
	free(ts_sh(CT_TESTPKI " mini pki"));
}

static inline void ct_keygen(const char *label, const char *type)
{
	free(ts_sh("$HSMCERT keygen --label '%s' --type %s >/dev/null", label, type));
}

/* A certificate for key `label`, by the Sub CA, valid FROM..TO (testpki.sh leaf forms). */
static inline void ct_leaf(const char *label, const char *out, const char *from, const char *to)
{
	free(ts_sh(CT_TESTPKI " leaf pki '%s' '%s' %s %s", label, out, from, to));
}

/*
 * Write a certificate onto the token with pkcs11-tool, not hsmcert import:
 * a certificate put there by another tool, or one that expired on the token
 * (import refuses an expired certificate).
 */
static inline void ct_write_cert(const char *pem, const char *label, const char *id)
{
	free(ts_sh("openssl x509 -in '%s' -outform DER -out written.der && pkcs11-tool "
		   "--module %s --token-label %s --login --pin %s --write-object written.der "
		   "--type cert --label '%s' --id %s >/dev/null 2>&1",
		   pem, TS_SOFTHSM, TS_TOKEN, TS_PIN, label, id));
}

/* Parse a run's stdout as one JSON document. */
static inline json_t *ct_json(const struct ts_result *r)
{
	json_error_t jerr;
	json_t *doc = json_loads(r->out, 0, &jerr);

	cr_assert_not_null(doc, "not JSON (%s):\n%s\nstderr:\n%s", jerr.text, r->out, r->err);
	return doc;
}

/* A finished run: its exit status asserted, its JSON document returned, the run freed. */
static inline json_t *ct_result_json(struct ts_result *r, int want)
{
	json_t *doc;

	ts_assert_status(r, want);
	doc = ct_json(r);
	ts_result_free(r);
	return doc;
}

/* Run an hsmcert command line with --json, assert its exit status, return the document. */
static inline json_t *ct_run_json(int want, const char *args)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT %s --json", args);
	return ct_result_json(&r, want);
}

/* A string member by path "a.b.c" ("" when missing). */
static inline const char *ct_str(json_t *doc, const char *path)
{
	char buf[256], *save = NULL;
	json_t *j = doc;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
		j = json_object_get(j, k);
	return j && json_is_string(j) ? json_string_value(j) : "";
}

/* The member of a JSON array whose `field` is the string `value`, or NULL. */
static inline json_t *ct_find(json_t *array, const char *field, const char *value)
{
	json_t *element;
	size_t i;

	json_array_foreach(array, i, element)
	{
		const char *v = json_string_value(json_object_get(element, field));
		if (v && strcmp(v, value) == 0)
			return element;
	}
	return NULL;
}

/* Lowercase hex thumbprint of a certificate file as openssl computes it. */
static inline char *ct_openssl_fingerprint(const char *file, const char *md)
{
	return ts_sh("openssl x509 -in '%s' -noout -fingerprint -%s | sed 's/.*=//; s/://g' | "
		     "tr A-F a-f | tr -d '\\n'",
		     file, md);
}

/* pkcs11-tool's listing of the token's certificates (no login needed: they are public). */
static inline char *ct_pkcs11_tool_certs(void)
{
	return ts_sh("pkcs11-tool --module %s --token-label test --list-objects --type cert "
		     "2>/dev/null",
		     TS_SOFTHSM);
}

/* p11tool's listing of everything (logged in). */
static inline char *ct_p11tool_all(void)
{
	return ts_sh("GNUTLS_PIN=%s p11tool --provider %s --login --list-all pkcs11:token=test "
		     "2>/dev/null",
		     TS_PIN, TS_SOFTHSM);
}

/* Number of occurrences of `needle` in `hay`. */
static inline int ct_count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

#endif
