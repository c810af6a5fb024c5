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
	bool pkcs12 = hc_x509_is_pkcs12(data, len);
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (pkcs12 && ask && ask->fn && (rc = ask->fn(ask->ctx, name, &pass, err)) != HC_OK)
		hc_error_prefix(err, "%s is PKCS#12", name);
	else
		rc = hc_x509_load_mem(data, len, name, pass, out, err);
	if (rc != HC_OK && pkcs12)
		out->format = HC_FMT_PKCS12; /* the bundle is empty; the caller may ask what it was */
	return rc;
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
