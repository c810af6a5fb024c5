/* provision plans (JSON): every entry checked, subjects, SANs, profiles, output paths. */
#include "fuzz.h"

#include "hsmcert/provision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".json");
	hc_provision_plan plan;
	hc_error err = {0};
	hc_rc rc = hc_provision_plan_load(path, "/nonexistent-fuzz-out", &plan, &err);

	FUZZ_ASSERT(rc == HC_OK || rc == HC_USAGE || rc == HC_CHECK);
	FUZZ_ASSERT(rc == HC_OK || err.message[0]);
	if (rc == HC_OK)
		hc_provision_plan_clear(&plan);
	return 0;
}
