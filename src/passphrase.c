/* PKCS#12 among certificate inputs: the passphrase asked for when one is met (passphrase.h). */
#include "hsmcert/passphrase.h"

#include "hsmcert/file.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

hc_rc hc_x509_load_mem_ask(const unsigned char *data, size_t len, const char *name,
			   const hc_passphrase_ask *ask, hc_x509_bundle *out, hc_error *err)
{
	const hc_secret *pass = NULL;
	hc_rc rc;

	if (ask && ask->fn && hc_x509_is_pkcs12(data, len)) {
		memset(out, 0, sizeof(*out));
		if ((rc = ask->fn(ask->ctx, name, &pass, err)) != HC_OK) {
			hc_error_prefix(err, "%s is PKCS#12", name);
			return rc;
		}
	}
	return hc_x509_load_mem(data, len, name, pass, out, err);
}

hc_rc hc_x509_load_file_ask(const char *path, const hc_passphrase_ask *ask, hc_x509_bundle *out,
			    hc_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = hc_file_read(path, HC_X509_MAX_FILE, &data, &len, err)) != HC_OK)
		return rc;
	rc = hc_x509_load_mem_ask(data, len, path, ask, out, err);
	OPENSSL_cleanse(data, len); /* a PKCS#12 holds a private key */
	free(data);
	return rc;
}
