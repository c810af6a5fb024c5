/* Unit tests of the token layer's parsing: URIs, secret sources, names. */
#include "support.h"

#include "hsmcert/p11.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(uri, .init = ts_setup_empty, .fini = ts_teardown);

Test(uri, parses_token_and_object)
{
	hc_uri *u = NULL;
	hc_error err = {0};
	CK_ULONG n = 0;

	cr_assert_eq(hc_uri_parse("pkcs11:token=web01;object=mail;type=private", &u, &err), HC_OK,
		     "%s", err.message);
	cr_assert(hc_uri_names_token(u));
	cr_assert(hc_uri_names_object(u));
	cr_assert_not_null(hc_uri_object_template(u, &n));
	cr_assert_eq(n, 2); /* label and class */
	hc_uri_free(u);
}

Test(uri, bare_scheme_names_nothing)
{
	hc_uri *u = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_uri_parse("pkcs11:", &u, &err), HC_OK);
	cr_assert_not(hc_uri_names_token(u));
	cr_assert_not(hc_uri_names_object(u));
	hc_uri_free(u);
}

Test(uri, over_long_token_is_refused_not_widened)
{
	hc_uri *u = NULL;
	hc_error err = {0};

	/* p11-kit drops a 33-byte token= silently; the URI would match every token. */
	cr_assert_eq(hc_uri_parse("pkcs11:token=abcdefghijklmnopqrstuvwxyz0123456", &u, &err),
		     HC_USAGE);
	cr_assert_null(u);
	cr_assert(strstr(err.message, "too long"), "%s", err.message);
}

Test(uri, refuses_pin_value_and_bad_input)
{
	hc_uri *u = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_uri_parse("pkcs11:token=a?pin-value=1234", &u, &err), HC_USAGE);
	cr_assert(strstr(err.message, "pin-value"), "%s", err.message);
	/* The PIN itself is never echoed, whatever else is wrong with the URI. */
	cr_assert_null(strstr(err.message, "1234"), "%s", err.message);
	cr_assert_eq(hc_uri_parse("pkcs11:token=%zz;pin-value=S3cret", &u, &err), HC_USAGE);
	cr_assert_null(strstr(err.message, "S3cret"), "%s", err.message);
	cr_assert_eq(hc_uri_parse("pkcs11:bogus=1?pin-value=S3cret&x=y", &u, &err), HC_USAGE);
	cr_assert_null(strstr(err.message, "S3cret"), "%s", err.message);
	cr_assert_eq(hc_uri_parse("pkcs11:token=%zz", &u, &err), HC_USAGE);
	cr_assert_eq(hc_uri_parse("http://example.com", &u, &err), HC_USAGE);
	cr_assert_eq(hc_uri_parse("pkcs11:unknown=1", &u, &err), HC_USAGE);
	cr_assert_null(u);
}

/* issue 14 defect 1: an empty pin-value= overflowed the redaction buffer. */
Test(uri, empty_pin_value_is_refused_safely)
{
	hc_uri *u = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_uri_parse("pkcs11:token=web;pin-value=", &u, &err), HC_USAGE);
	cr_assert(strstr(err.message, "pin-value"), "%s", err.message);
	cr_assert_eq(hc_uri_parse("pkcs11:token=web?pin-value=", &u, &err), HC_USAGE);
	cr_assert_eq(hc_uri_parse("pkcs11:pin-value=", &u, &err), HC_USAGE);
	cr_assert_null(u);
}

/* issue 14 defect 1: every pin-value= is hidden, not only the first. */
Test(uri, every_pin_value_is_hidden)
{
	hc_uri *u = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_uri_parse("pkcs11:token=a?pin-value=Fir5t&pin-value=Sec0nd", &u, &err),
		     HC_USAGE);
	cr_assert_null(strstr(err.message, "Fir5t"), "%s", err.message);
	cr_assert_null(strstr(err.message, "Sec0nd"), "%s", err.message);
	cr_assert_eq(
		hc_uri_parse("pkcs11:token=a;pin-value=Fir5t;pin-value=Sec0nd?x=%zz", &u, &err),
		HC_USAGE);
	cr_assert_null(strstr(err.message, "Fir5t"), "%s", err.message);
	cr_assert_null(strstr(err.message, "Sec0nd"), "%s", err.message);
	cr_assert_eq(hc_uri_parse("notauri;pin-value=Th1rd?pin-value=Fourt4", &u, &err), HC_USAGE);
	cr_assert_null(strstr(err.message, "Th1rd"), "%s", err.message);
	cr_assert_null(strstr(err.message, "Fourt4"), "%s", err.message);
}

Test(uri, pin_source_is_kept)
{
	hc_uri *u = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_uri_parse("pkcs11:token=a?pin-source=file:/etc/pin", &u, &err), HC_OK);
	cr_assert_str_eq(hc_uri_pin_source(u), "file:/etc/pin");
	hc_uri_free(u);
}

Test(uri, object_uri_round_trips)
{
	CK_TOKEN_INFO ti;
	unsigned char id[] = {0x01, 0xab, 0xff};
	hc_uri *u = NULL;
	hc_error err = {0};
	CK_ULONG n = 0;
	CK_ATTRIBUTE *t;
	char *s;

	memset(&ti, ' ', sizeof(ti));
	memcpy(ti.label, "my token", 8);
	memcpy(ti.serialNumber, "abc", 3);
	s = hc_uri_for_object(&ti, CKO_PRIVATE_KEY, "web; key", id, sizeof(id));
	cr_assert_not_null(s);
	cr_assert(strstr(s, "token=my%20token"), "%s", s);
	cr_assert(strstr(s, "type=private"), "%s", s);
	cr_assert_eq(hc_uri_parse(s, &u, &err), HC_OK, "%s: %s", s, err.message);
	t = hc_uri_object_template(u, &n);
	cr_assert_eq(n, 3);
	for (CK_ULONG i = 0; i < n; i++) {
		if (t[i].type == CKA_LABEL)
			cr_assert(t[i].ulValueLen == 8 && memcmp(t[i].pValue, "web; key", 8) == 0);
		if (t[i].type == CKA_ID)
			cr_assert(t[i].ulValueLen == 3 && memcmp(t[i].pValue, id, 3) == 0);
	}
	hc_uri_free(u);
	free(s);
}

TestSuite(secret, .init = ts_setup_empty, .fini = ts_teardown);

Test(secret, env_source)
{
	hc_secret *s = NULL;
	hc_error err = {0};

	setenv("MY_PIN", "9876", 1);
	cr_assert_eq(hc_secret_from_source("env:MY_PIN", "PIN", &s, &err), HC_OK);
	cr_assert_str_eq(s->data, "9876");
	cr_assert_eq(s->len, 4);
	hc_secret_free(s);
	unsetenv("MY_PIN");
	cr_assert_eq(hc_secret_from_source("env:MY_PIN", "PIN", &s, &err), HC_USAGE);
	cr_assert(strstr(err.message, "MY_PIN is not set"), "%s", err.message);
	cr_assert_eq(hc_secret_from_source("env:", "PIN", &s, &err), HC_USAGE);
}

Test(secret, file_source_strips_one_newline)
{
	hc_secret *s = NULL;
	hc_error err = {0};

	ts_write("pin", "1234\n");
	cr_assert_eq(hc_secret_from_source("file:pin", "PIN", &s, &err), HC_OK, "%s", err.message);
	cr_assert_str_eq(s->data, "1234");
	hc_secret_free(s);
	ts_write("pin", "12 34\r\n");
	cr_assert_eq(hc_secret_from_source("file:pin", "PIN", &s, &err), HC_OK);
	cr_assert_str_eq(s->data, "12 34");
	hc_secret_free(s);
	/* The RFC 7512 pin-source form: an absolute path, or file:// URL. */
	{
		char src[600];
		snprintf(src, sizeof(src), "file://%s/pin", ts_dir);
		cr_assert_eq(hc_secret_from_source(src, "PIN", &s, &err), HC_OK, "%s", err.message);
		cr_assert_str_eq(s->data, "12 34");
		hc_secret_free(s);
		snprintf(src, sizeof(src), "%s/pin", ts_dir);
		cr_assert_eq(hc_secret_from_source(src, "PIN", &s, &err), HC_OK);
		hc_secret_free(s);
	}
	cr_assert_eq(hc_secret_from_source("file:missing", "PIN", &s, &err), HC_IO);
	cr_assert_null(s);
}

Test(secret, fd_source)
{
	hc_secret *s = NULL;
	hc_error err = {0};
	char src[32];
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "secret\nrest", 11), 11);
	close(p[1]);
	snprintf(src, sizeof(src), "fd:%d", p[0]);
	cr_assert_eq(hc_secret_from_source(src, "PIN", &s, &err), HC_OK, "%s", err.message);
	cr_assert_str_eq(s->data, "secret");
	hc_secret_free(s);
	close(p[0]);
	cr_assert_eq(hc_secret_from_source("fd:x", "PIN", &s, &err), HC_USAGE);
	cr_assert_eq(hc_secret_from_source("fd:", "PIN", &s, &err), HC_USAGE);
}

Test(secret, unknown_source_is_usage_error)
{
	hc_secret *s = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_secret_from_source("1234", "PIN", &s, &err), HC_USAGE);
	cr_assert(strstr(err.message, "env:VAR, file:PATH or fd:N"), "%s", err.message);
	/* A PIN typed by mistake where its source belongs is not echoed. */
	cr_assert_null(strstr(err.message, "1234"), "%s", err.message);
	cr_assert_null(s);
}

TestSuite(names);

Test(names, ckr_cka_ckm)
{
	cr_assert_str_eq(hc_ckr_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
	cr_assert_str_eq(hc_ckr_name(CKR_OK), "CKR_OK");
	cr_assert_str_eq(hc_cka_name(CKA_EXTRACTABLE), "CKA_EXTRACTABLE");
	cr_assert_str_eq(hc_ckm_name(CKM_RSA_PKCS_KEY_PAIR_GEN), "CKM_RSA_PKCS_KEY_PAIR_GEN");
	cr_assert_str_eq(hc_ckr_name(0x8badf00dUL), "CKR_0x8badf00d");
}

/*
 * Token selection (pkcs11/select.c), the one function behind the commands'
 * --token, init-token's --slot/--free and the `tokens --token` filter. Two
 * initialised tokens ("test", "other") and SoftHSM2's free slot.
 */
TestSuite(select, .init = ts_setup_token, .fini = ts_teardown);

static hc_module *open_softhsm(void)
{
	hc_module *mod = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_module_open(TS_SOFTHSM, 0, &mod, &err), HC_OK, "%s", err.message);
	return mod;
}

static hc_uri *uri_of(const char *text)
{
	hc_uri *u = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_uri_parse(text, &u, &err), HC_OK, "%s", err.message);
	return u;
}

static char *label_of(const hc_slot *slot)
{
	char label[33];

	HC_P11_STRING(slot->token.label, label);
	return strdup(label);
}

Test(select, query_by_state_uri_and_slot)
{
	hc_module *mod;
	hc_uri *u = uri_of("pkcs11:token=other");
	hc_token_query q = {.state = HC_TOKEN_INITIALISED};
	hc_slot *slots = NULL, picked;
	size_t n = 0, all = 0;
	hc_error err = {0};
	char *label;

	ts_add_token("other");
	mod = open_softhsm();
	cr_assert_eq(hc_token_find(mod, &q, &slots, &n, &err), HC_OK, "%s", err.message);
	cr_assert_eq(n, 2);
	free(slots);
	/* SoftHSM2 keeps one slot with an uninitialised token. */
	q.state = HC_TOKEN_UNINITIALISED;
	cr_assert_eq(hc_token_find(mod, &q, &slots, &n, &err), HC_OK);
	cr_assert_eq(n, 1);
	cr_assert_not(slots[0].token.flags & CKF_TOKEN_INITIALIZED);
	free(slots);
	q.state = HC_TOKEN_ANY_SLOT;
	cr_assert_eq(hc_token_find(mod, &q, &slots, &all, &err), HC_OK);
	cr_assert_geq(all, 3);
	free(slots);

	/* By URI: exactly one. */
	q = (hc_token_query){.uri = u, .state = HC_TOKEN_INITIALISED};
	cr_assert_eq(hc_token_pick(mod, &q, false, &picked, &err), HC_OK, "%s", err.message);
	label = label_of(&picked);
	cr_assert_str_eq(label, "other");
	free(label);
	/* By slot ID: the one just picked. */
	q = (hc_token_query){.by_slot_id = true, .slot_id = picked.id, .state = HC_TOKEN_PRESENT};
	cr_assert_eq(hc_token_pick(mod, &q, false, &picked, &err), HC_OK, "%s", err.message);
	label = label_of(&picked);
	cr_assert_str_eq(label, "other");
	free(label);
	/* hc_token_select is the same query with initialised tokens. */
	cr_assert_eq(hc_token_select(mod, u, &picked, &err), HC_OK);
	hc_uri_free(u);
	hc_module_close(mod);
}

Test(select, none_or_several_are_clear_errors)
{
	hc_module *mod;
	hc_uri *none = uri_of("pkcs11:token=nosuch");
	hc_token_query q = {.state = HC_TOKEN_INITIALISED};
	hc_slot picked;
	hc_error err = {0};

	ts_add_token("other");
	mod = open_softhsm();
	/* Two initialised tokens and no URI: the user must name one; both are listed. */
	cr_assert_eq(hc_token_pick(mod, &q, false, &picked, &err), HC_USAGE);
	cr_assert(strstr(err.message, "2 tokens match") && strstr(err.message, "'test'") &&
			  strstr(err.message, "'other'"),
		  "%s", err.message);
	/* `first` takes the first of several (init-token --free). */
	cr_assert_eq(hc_token_pick(mod, &q, true, &picked, &err), HC_OK, "%s", err.message);
	/* A URI that names nothing is the user's input, and says what is there. */
	q.uri = none;
	cr_assert_eq(hc_token_pick(mod, &q, false, &picked, &err), HC_USAGE);
	cr_assert(strstr(err.message, "no initialised token matches pkcs11:token=nosuch") &&
			  strstr(err.message, "'test'"),
		  "%s", err.message);
	/* A slot ID without a token. */
	q = (hc_token_query){.by_slot_id = true, .slot_id = 987654321, .state = HC_TOKEN_PRESENT};
	cr_assert_eq(hc_token_pick(mod, &q, false, &picked, &err), HC_USAGE);
	cr_assert(strstr(err.message, "no slot with ID 987654321"), "%s", err.message);
	hc_uri_free(none);
	hc_module_close(mod);
}
