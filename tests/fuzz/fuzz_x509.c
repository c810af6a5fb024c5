/*
 * Certificates, requests, CRLs, PKCS#7 and PKCS#12 (passphrase "fuzz"),
 * detected by content; every certificate described; then chain building
 * over the input's certificates (the first as the target, all as pool and
 * roots, at a fixed time, nothing downloaded).
 */
#include "fuzz.h"

#include "hsmcert/chain.h"
#include "hsmcert/x509.h"

static void build_chain(STACK_OF(X509) *certs)
{
	hc_chain_pool *pool = NULL, *roots = NULL;
	hc_chain_options opt = {.at = 1767225600}; /* 2026-01-01 */
	hc_chain_result result = {0};
	hc_error err = {0};
	hc_rc rc;

	if (sk_X509_num(certs) == 0 || hc_chain_pool_new(&pool, &err) != HC_OK ||
	    hc_chain_pool_new(&roots, &err) != HC_OK)
		goto out;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		hc_chain_pool_add_cert(pool, sk_X509_value(certs, i), "fuzz", &err);
		if (i > 0)
			hc_chain_pool_add_cert(roots, sk_X509_value(certs, i), "fuzz", &err);
	}
	rc = hc_chain_build(sk_X509_value(certs, 0), pool, roots, &opt, &result, &err);
	FUZZ_ASSERT(rc == HC_OK || rc == HC_CHECK || rc == HC_USAGE || rc == HC_IO);
	if (rc == HC_OK) {
		STACK_OF(X509) *served = hc_chain_served(&result, true);
		unsigned char *der = NULL;
		size_t len = 0;
		if (served && hc_chain_encode(served, true, &der, &len, &err) == HC_OK)
			free(der);
		sk_X509_pop_free(served, X509_free);
	}
	hc_chain_result_clear(&result);
out:
	hc_chain_pool_free(pool);
	hc_chain_pool_free(roots);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static hc_secret *pass;
	hc_x509_bundle b;
	hc_error err = {0};
	hc_rc rc;

	if (!pass)
		pass = hc_secret_new("fuzz", 4);
	rc = hc_x509_load_mem(data, size, "fuzz", pass, &b, &err);
	FUZZ_ASSERT(rc == HC_OK || rc == HC_USAGE || rc == HC_CHECK);
	FUZZ_ASSERT(rc == HC_OK || err.message[0]);
	if (rc != HC_OK)
		return 0;
	for (int i = 0; i < sk_X509_num(b.certs); i++) {
		hc_cert_info info;
		char sha1[41], sha256[65];
		hc_x509_thumbprints(sk_X509_value(b.certs, i), sha1, sha256);
		if (hc_cert_describe(sk_X509_value(b.certs, i), &info, &err) == HC_OK)
			hc_cert_info_clear(&info);
	}
	build_chain(b.certs);
	hc_x509_bundle_clear(&b);
	return 0;
}
