/* Host names and IDNs (CN, --san, --wildcard) to A-labels and back; SAN entries by prefix. */
#include "fuzz.h"

#include "hsmcert/subject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	hc_altnames sans = {0};
	hc_error err = {0};
	char *out = NULL;
	hc_rc rc;

	for (unsigned flags = 0; flags < 4; flags++) {
		out = NULL;
		hc_error_clear(&err);
		rc = hc_hostname_normalize(text, "fuzz", flags, &out, &err);
		FUZZ_ASSERT(rc == HC_OK || rc == HC_USAGE);
		FUZZ_ASSERT(rc == HC_OK || err.message[0]);
		if (rc == HC_OK) {
			char *u = hc_hostname_to_unicode(out);
			free(u);
		}
		free(out);
	}
	hc_error_clear(&err);
	rc = hc_altnames_add(&sans, text, "--san", &err);
	FUZZ_ASSERT(rc == HC_OK || rc == HC_USAGE);
	if (rc == HC_OK) {
		X509_EXTENSION *ext = NULL;
		if (hc_altnames_extension(&sans, false, &ext, &err) == HC_OK)
			X509_EXTENSION_free(ext);
	}
	hc_altnames_clear(&sans);
	free(text);
	return 0;
}
