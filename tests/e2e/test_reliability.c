/*
 * Issue 14: the defects an adversarial pass found, one test each (named
 * after the defect), against the real binary and SoftHSM2 behind the
 * fault-injecting module (tests/support/faultmod.c).
 */
#include "support.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(reliability, .init = ts_setup_token, .fini = ts_teardown);

/* The binary talks to SoftHSM2 through the fault module. */
static void use_faultmod(void)
{
	setenv("HSMCERT_MODULE", getenv("HSMCERT_FAULTMOD"), 1);
}

static const char plan3[] = "{\"keys\": [{\"label\": \"a\", \"cn\": \"a.example.hk\"},\n"
			    "  {\"label\": \"b\", \"cn\": \"b.example.hk\"},\n"
			    "  {\"label\": \"c\", \"cn\": \"c.example.hk\"}]}\n";

/* 4: a search whose C_FindObjectsFinal failed must not make every later entry fail. */
Test(reliability, d04_provision_failed_search_does_not_stop_the_others)
{
	struct ts_result r;

	use_faultmod();
	ts_write("plan.json", plan3);
	ts_run(&r, "HSMCERT_FAULT_FAIL=C_FindObjectsFinal HSMCERT_FAULT_ONCE=1 "
		   "$HSMCERT provision plan.json");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_FindObjectsFinal failed: CKR_DEVICE_ERROR"), "%s", r.err);
	cr_assert_null(strstr(r.err, "CKR_OPERATION_ACTIVE"), "%s", r.err);
	cr_assert(strstr(r.out, "2 created"), "%s", r.out);
	ts_result_free(&r);
	/* The failed entry is completed by the next run; nothing else is redone. */
	ts_run(&r, "$HSMCERT provision plan.json");
	ts_assert_status(&r, 0);
	cr_assert(strstr(r.out, "1 created"), "%s", r.out);
	ts_result_free(&r);
	cr_assert_eq(ts_count_objects(TS_TOKEN), 6);
}

/*
 * 10: a token that answers CKR_BUFFER_TOO_SMALL without marking which
 * attribute: an answer that cannot be interpreted is an error that says so,
 * never an empty inventory or uninitialised memory.
 */
Test(reliability, d10_uninterpretable_attribute_lengths_are_an_error)
{
	struct ts_result r;

	free(ts_sh("$HSMCERT keygen --label k1 >/dev/null"));
	use_faultmod();
	ts_run(&r, "HSMCERT_FAULT_BAD_LENGTHS=1 $HSMCERT list");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "C_GetAttributeValue"), "%s", r.err);
	cr_assert(strstr(r.err, "CKR_BUFFER_TOO_SMALL"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "HSMCERT_FAULT_BAD_LENGTHS=1 $HSMCERT audit --json");
	cr_assert_neq(r.status, 0, "%s", r.out);
	cr_assert(strstr(r.err, "CKR_BUFFER_TOO_SMALL") || strstr(r.out, "CKR_BUFFER_TOO_SMALL"),
		  "%s%s", r.out, r.err);
	ts_result_free(&r);
}
