/* PKCS#11 URIs (RFC 7512) as --token and object arguments: parse, match helpers, redaction. */
#include "fuzz.h"

#include "hsmcert/p11.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	hc_uri *u = NULL;
	hc_error err = {0};
	hc_rc rc = hc_uri_parse(text, &u, &err);

	FUZZ_ASSERT(rc == HC_OK || rc == HC_USAGE || rc == HC_IO);
	FUZZ_ASSERT(rc == HC_OK || err.message[0]);
	/* A pin-value= never reaches a message (issue 14.1). */
	FUZZ_ASSERT(rc == HC_OK || !strstr(err.message, "pin-value=") ||
		    strstr(err.message, "pin-value=(hidden)"));
	if (u) {
		CK_ULONG n = 0;
		hc_uri_object_template(u, &n);
		hc_uri_names_token(u);
		hc_uri_names_object(u);
		hc_uri_pin_source(u);
		hc_uri_module_path(u);
		FUZZ_ASSERT(hc_uri_text(u) != NULL);
	}
	hc_uri_free(u);
	free(text);
	return 0;
}
