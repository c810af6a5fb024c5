/*
 * The undo log restore and import share (src/key/rollback.c), in process against
 * SoftHSM2 and the fault module: no fixed limit on what one run may create,
 * every step tried even after one fails, and the message keeps the cause
 * first and accounts for every object left.
 */
#include "support.h"

#include "hsmcert/rollback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(rollback, .init = ts_setup_token, .fini = ts_teardown);

/* More than the 1024 objects restore once stopped at. */
#define MANY 1500

struct world {
	hc_module *mod;
	hc_session *s;
};

static void open_token(struct world *w, const char *module)
{
	hc_uri *uri = NULL;
	hc_secret *pin = hc_secret_new(TS_PIN, strlen(TS_PIN));
	hc_slot slot;
	hc_error err = {0};

	cr_assert_eq(hc_module_open(module, 0, &w->mod, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_uri_parse("pkcs11:token=" TS_TOKEN, &uri, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_token_select(w->mod, uri, &slot, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_session_open(w->mod, &slot, true, &w->s, &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_session_login(w->s, CKU_USER, pin, &err), HC_OK, "%s", err.message);
	hc_uri_free(uri);
	hc_secret_free(pin);
}

static void close_token(struct world *w)
{
	hc_session_close(w->s);
	hc_module_close(w->mod);
}

/* MANY session data objects d0, d1, ..., each recorded as created. */
static void create_many(struct world *w, hc_rollback *rb)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL no = CK_FALSE;
	hc_error err = {0};

	for (int i = 0; i < MANY; i++) {
		char label[16];
		unsigned char id[2] = {(unsigned char)(i >> 8), (unsigned char)i};
		CK_ATTRIBUTE t[4] = {{CKA_CLASS, &cls, sizeof(cls)},
				     {CKA_TOKEN, &no, sizeof(no)},
				     {CKA_LABEL, label, 0},
				     {CKA_PRIVATE, &no, sizeof(no)}};
		CK_OBJECT_HANDLE h;

		t[2].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "d%d", i);
		cr_assert_eq(hc_object_create(w->s, t, 4, &h, &err), HC_OK, "%s", err.message);
		cr_assert_eq(hc_rollback_created(rb, h, cls, label, id, sizeof(id), &err), HC_OK,
			     "%s", err.message);
	}
	cr_assert_eq(rb->count, MANY);
}

static size_t data_objects(struct world *w)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof(cls)};
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	hc_error err = {0};

	cr_assert_eq(hc_objects_find(w->s, &t, 1, &found, &n, &err), HC_OK, "%s", err.message);
	free(found);
	return n;
}

Test(rollback, undoes_more_than_1024_objects)
{
	struct world w;
	hc_rollback rb = {0};
	hc_error err = {.rc = HC_TOKEN, .message = "the cause"};

	open_token(&w, TS_SOFTHSM);
	rb.session = w.s;
	/* Nothing recorded: nothing to say. */
	hc_rollback_run(&rb, &err);
	cr_assert_str_eq(err.message, "the cause");
	create_many(&w, &rb);
	cr_assert_eq(data_objects(&w), MANY);
	hc_rollback_run(&rb, &err);
	cr_assert_eq(data_objects(&w), 0);
	cr_assert_str_eq(err.message,
			 "the cause; what this run had changed on the token was undone");
	cr_assert_eq(err.rc, HC_TOKEN);
	cr_assert_eq(rb.count, 0);
	close_token(&w);
}

/*
 * Destroying fails from the 1001st call on (newest first): the oldest 500
 * stay. The message keeps the cause, names the first of them by URI, and
 * counts the rest; the token holds exactly that many.
 */
Test(rollback, failed_undo_accounts_for_every_object_left)
{
	struct world w;
	hc_rollback rb = {0};
	hc_error err = {
		.rc = HC_TOKEN, .function = "C_Sign", .has_ckr = 1, .ckr = CKR_DEVICE_ERROR};
	const char *tail, *want = "signing: C_Sign failed: CKR_DEVICE_ERROR; and the rollback "
				  "failed too (C_DestroyObject: CKR_DEVICE_ERROR); left on the "
				  "token, remove with 'hsmcert delete URI': pkcs11:";
	int named = 0, more = 0;

	snprintf(err.message, sizeof(err.message), "signing: C_Sign failed: CKR_DEVICE_ERROR");
	setenv("HSMCERT_FAULT_FAIL", "C_DestroyObject@1001", 1);
	open_token(&w, getenv("HSMCERT_FAULTMOD"));
	rb.session = w.s;
	create_many(&w, &rb);
	hc_rollback_run(&rb, &err);
	unsetenv("HSMCERT_FAULT_FAIL");
	cr_assert_eq(data_objects(&w), MANY - 1000);

	cr_assert_eq(strncmp(err.message, want, strlen(want)), 0, "%s", err.message);
	cr_assert_str_eq(err.function, "C_Sign");
	cr_assert_eq(err.ckr, CKR_DEVICE_ERROR);
	for (const char *p = err.message; (p = strstr(p, "pkcs11:")); p++)
		named++;
	cr_assert_gt(named, 0);
	/* Oldest first: d0, d1, ... in the order they were made. */
	cr_assert(strstr(err.message, ";id=%00%00;object=d0;type=data, pkcs11:"), "%s",
		  err.message);
	tail = strstr(err.message + strlen(want), "; and ");
	cr_assert_not_null(tail, "%s", err.message);
	cr_assert_eq(sscanf(tail, "; and %d more", &more), 1, "%s", tail);
	cr_assert_eq(named + more, MANY - 1000, "%s", err.message);
	cr_assert_lt(strlen(err.message), sizeof(err.message));
	close_token(&w);
}

/*
 * Whatever the length of the cause's message, an object is only ever listed
 * under its own group's heading: a relabelled object (which must be kept)
 * never lands among those to delete, and every object is named or counted.
 */
Test(rollback, full_message_never_mixes_the_groups)
{
	struct world w;
	hc_error err;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL no = CK_FALSE;

	open_token(&w, TS_SOFTHSM);
	for (size_t len = 1; len < sizeof(err.message); len += 7) {
		hc_rollback rb = {.session = w.s};
		CK_ATTRIBUTE t[3] = {{CKA_CLASS, &cls, sizeof(cls)},
				     {CKA_TOKEN, &no, sizeof(no)},
				     {CKA_LABEL, "mykey", 5}};
		CK_OBJECT_HANDLE h;
		const char *was, *heading, *more;
		int named = 0, counted = 0;

		memset(&err, 0, sizeof(err));
		err.rc = HC_TOKEN;
		memset(err.message, 'x', len);
		err.message[len] = '\0';
		cr_assert_eq(hc_object_create(w.s, t, 3, &h, &err), HC_OK, "%s", err.message);
		/* An object this run "made" that is already gone: its undo fails. */
		cr_assert_eq(hc_rollback_created(&rb, h + 100000, CKO_DATA, "c", NULL, 0, &err),
			     HC_OK);
		cr_assert_eq(hc_rollback_relabel(&rb, h, CKO_DATA, "mykey", "new", NULL, 0, &err),
			     HC_OK, "%s", err.message);
		/* And the relabelled object goes too, so putting its label back fails. */
		cr_assert_eq(hc_object_destroy(w.s, h, &err), HC_OK, "%s", err.message);
		hc_rollback_run(&rb, &err);

		was = strstr(err.message, "(was 'mykey')");
		heading = strstr(err.message, "; these keep the new label");
		cr_assert(!was || (heading && heading < was), "length %zu: %s", len, err.message);
		for (const char *p = err.message; (p = strstr(p, "pkcs11:")); p++)
			named++;
		if ((more = strstr(err.message, "; and ")) && strstr(more, " more this run made"))
			sscanf(strstr(more, " more this run made") - 4, "%*[^0-9]%d", &counted);
		cr_assert_eq(named + counted, 2, "length %zu: %s", len, err.message);
	}
	close_token(&w);
}
