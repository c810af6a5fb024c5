/* OpenSSL req-style configs (--config): [req], distinguished names, [alt_names], extensions. */
#include "fuzz.h"

#include "hsmcert/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".cnf");
	hc_req_config config;
	hc_error err = {0};
	hc_rc rc;

	memset(&config, 0, sizeof(config));
	rc = hc_req_config_load(path, &config, &err);
	FUZZ_ASSERT(rc == HC_OK || rc == HC_USAGE || rc == HC_IO);
	FUZZ_ASSERT(rc == HC_OK || err.message[0]);
	if (rc == HC_OK)
		hc_req_config_clear(&config);
	return 0;
}
