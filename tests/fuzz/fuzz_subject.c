/* Subjects in RFC 4514, OpenSSL (/C=../CN=..) and Exchange (S="..") forms, to an X509_NAME. */
#include "fuzz.h"

#include "hsmcert/subject.h"

#include <openssl/x509.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	hc_subject subj = {0};
	hc_error err = {0};
	X509_NAME *name = NULL;
	hc_rc rc = hc_subject_parse(text, &subj, &err);

	FUZZ_ASSERT(rc == HC_OK || rc == HC_USAGE);
	FUZZ_ASSERT(rc == HC_OK || err.message[0]);
	if (rc == HC_OK) {
		rc = hc_subject_to_name(&subj, &name, &err);
		FUZZ_ASSERT(rc == HC_OK || rc == HC_USAGE);
		X509_NAME_free(name);
	}
	hc_subject_clear(&subj);
	free(text);
	return 0;
}
