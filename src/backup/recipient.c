/*
 * SPEC: backup --to. The recipient's RSA public key, from the token that
 * holds its private key (by URI) or from a file the recipient sent.
 */
#include "hsmcert/backup.h"

#include "hsmcert/file.h"
#include "hsmcert/key.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A recipient file is a key or a certificate: small. */
#define RECIPIENT_MAX_FILE (1u << 20)

hc_rc hc_backup_recipient_from_token(hc_session *s, const char *uri_text, EVP_PKEY **out,
				     hc_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[8], *from_uri;
	CK_ULONG n = 0, count = 0;
	CK_OBJECT_HANDLE *found = NULL;
	size_t nfound = 0;
	hc_key_info info = {0};
	hc_uri *uri = NULL;
	hc_rc rc;

	*out = NULL;
	if ((rc = hc_uri_parse(uri_text, &uri, err)) != HC_OK)
		return rc;
	/* The URI's object attributes, but always a public key. */
	tmpl[n++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
	from_uri = hc_uri_object_template(uri, &count);
	for (CK_ULONG i = 0; i < count && n < 8; i++)
		if (from_uri[i].type != CKA_CLASS)
			tmpl[n++] = from_uri[i];
	rc = hc_objects_find(s, tmpl, n, &found, &nfound, err);
	if (rc == HC_OK && nfound != 1)
		rc = hc_fail(err, HC_USAGE, "%s: %s", uri_text,
			     nfound ? "names several public keys"
				    : "no public key matches on that token");
	if (rc == HC_OK && (rc = hc_key_describe(s, found[0], &info, err)) == HC_OK)
		rc = hc_key_public(s, &info, out, err);
	hc_key_info_clear(&info);
	free(found);
	hc_uri_free(uri);
	return rc;
}

hc_rc hc_backup_recipient_from_file(const char *path, EVP_PKEY **out, hc_error *err)
{
	unsigned char *data = NULL;
	const unsigned char *p;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *cert = NULL;
	hc_rc rc;

	*out = NULL;
	if ((rc = hc_file_read(path, RECIPIENT_MAX_FILE, &data, &len, err)) != HC_OK)
		return rc;
	/* PEM public key, PEM certificate, DER certificate, DER public key. */
	if (!(bio = BIO_new_mem_buf(data, (int)len))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if ((*out = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)))
		goto out;
	BIO_reset(bio);
	if ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) ||
	    (p = data, cert = d2i_X509(NULL, &p, (long)len)))
		*out = X509_get_pubkey(cert);
	else if ((p = data, *out = d2i_PUBKEY(NULL, &p, (long)len)) == NULL)
		rc = hc_fail(err, HC_USAGE, "%s: not a public key or certificate (PEM or DER)",
			     path);
out:
	ERR_clear_error();
	X509_free(cert);
	BIO_free(bio);
	free(data);
	return rc;
}
