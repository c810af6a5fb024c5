/* Content-detected loading and certificate descriptions, checked against the openssl CLI. */
#include "support.h"

#include "hsmcert/x509.h"

#include <stdlib.h>
#include <string.h>

/* A self-signed certificate with a UTF-8 O, an IDN SAN and an IP SAN, plus a CRL and a CSR. */
static void make_fixtures(void)
{
	char *out = ts_sh(
		"openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 "
		"-utf8 -subj '/C=HK/O=香港郵政/CN=www.xn--5bvv2rbn4a0hh.hk' "
		"-addext 'subjectAltName=DNS:www.xn--5bvv2rbn4a0hh.hk,IP:127.0.0.1,"
		"email:a@b.hk' -addext 'basicConstraints=critical,CA:TRUE,pathlen:1' 2>/dev/null && "
		"openssl x509 -in cert.pem -outform DER -out cert.der && "
		"openssl req -new -key key.pem -subj '/CN=req' -out req.pem && "
		"openssl req -in req.pem -outform DER -out req.der && "
		"printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\ncrlnumber=crlnum\\n"
		"default_md=sha256\\ndefault_crl_days=7\\n' > ca.cnf && touch index.txt && "
		"echo 01 > crlnum && openssl ca -config ca.cnf -gencrl -keyfile key.pem -cert cert.pem "
		"-out crl.pem 2>/dev/null && openssl crl -in crl.pem -outform DER -out crl.der && "
		"openssl crl2pkcs7 -nocrl -certfile cert.pem -outform DER -out bundle.p7b && "
		"cat cert.pem crl.pem req.pem > mixed.pem && "
		"openssl pkcs12 -export -in cert.pem -inkey key.pem -name web -passout pass:pw "
		"-out modern.pfx && "
		"openssl pkcs12 -export -legacy -in cert.pem -inkey key.pem -name old -passout "
		"pass:pw -out legacy.pfx && echo ok");
	free(out);
}

static hc_x509_bundle load(const char *path, const char *pass, hc_rc want)
{
	hc_x509_bundle b;
	hc_error err = {0};
	hc_secret *s = pass ? hc_secret_new(pass, strlen(pass)) : NULL;
	hc_rc rc = hc_x509_load_file(path, s, &b, &err);

	hc_secret_free(s);
	cr_assert_eq(rc, want, "%s: rc %d want %d: %s", path, rc, want, err.message);
	return b;
}

TestSuite(x509, .init = ts_setup_empty, .fini = ts_teardown);

Test(x509, detects_every_format)
{
	hc_x509_bundle b;

	make_fixtures();
	b = load("cert.pem", NULL, HC_OK);
	cr_assert_eq(b.format, HC_FMT_PEM);
	cr_assert_eq(sk_X509_num(b.certs), 1);
	hc_x509_bundle_clear(&b);
	b = load("cert.der", NULL, HC_OK);
	cr_assert_eq(b.format, HC_FMT_DER_CERT);
	hc_x509_bundle_clear(&b);
	b = load("crl.der", NULL, HC_OK);
	cr_assert_eq(b.format, HC_FMT_DER_CRL);
	cr_assert_eq(sk_X509_CRL_num(b.crls), 1);
	hc_x509_bundle_clear(&b);
	b = load("req.der", NULL, HC_OK);
	cr_assert_eq(b.format, HC_FMT_DER_CSR);
	cr_assert_not_null(b.csr);
	hc_x509_bundle_clear(&b);
	b = load("bundle.p7b", NULL, HC_OK);
	cr_assert_eq(b.format, HC_FMT_PKCS7);
	cr_assert_eq(sk_X509_num(b.certs), 1);
	hc_x509_bundle_clear(&b);
	b = load("mixed.pem", NULL, HC_OK);
	cr_assert_eq(sk_X509_num(b.certs), 1);
	cr_assert_eq(sk_X509_CRL_num(b.crls), 1);
	cr_assert_not_null(b.csr);
	hc_x509_bundle_clear(&b);
}

Test(x509, pkcs12_modern_legacy_and_wrong_passphrase)
{
	hc_x509_bundle b;

	make_fixtures();
	b = load("modern.pfx", "pw", HC_OK);
	cr_assert_eq(b.format, HC_FMT_PKCS12);
	cr_assert_not_null(b.pkey);
	cr_assert_eq(sk_X509_num(b.certs), 1);
	cr_assert_str_eq(b.friendly_name, "web");
	cr_assert_not(b.legacy_pkcs12);
	hc_x509_bundle_clear(&b);
	b = load("legacy.pfx", "pw", HC_OK);
	cr_assert_not_null(b.pkey);
	cr_assert(b.legacy_pkcs12);
	hc_x509_bundle_clear(&b);
	b = load("modern.pfx", "wrong", HC_CHECK);
	b = load("modern.pfx", NULL, HC_USAGE);
}

Test(x509, malformed_input_is_a_clear_usage_error)
{
	hc_error err = {0};
	hc_x509_bundle b;

	make_fixtures();
	ts_write("garbage.bin", "this is not a certificate\n");
	load("garbage.bin", NULL, HC_USAGE);
	ts_write("empty", "");
	load("empty", NULL, HC_USAGE);
	free(ts_sh("head -c 300 cert.der > truncated.der"));
	load("truncated.der", NULL, HC_USAGE);
	free(ts_sh("sed '3s/./#/' cert.pem > badbase64.pem"));
	load("badbase64.pem", NULL, HC_USAGE);
	free(ts_sh("head -n 5 cert.pem > noend.pem"));
	load("noend.pem", NULL, HC_USAGE);
	ts_write("keyonly.pem", "");
	free(ts_sh("cp key.pem keyonly.pem"));
	load("keyonly.pem", NULL, HC_USAGE);
	cr_assert_eq(hc_x509_load_file("missing.pem", NULL, &b, &err), HC_IO);
	cr_assert(strstr(err.message, "missing.pem"), "%s", err.message);
}

Test(x509, describes_like_openssl)
{
	hc_x509_bundle b;
	hc_cert_info info;
	hc_error err = {0};
	char *sha1, *sha256;

	make_fixtures();
	b = load("cert.pem", NULL, HC_OK);
	cr_assert_eq(hc_cert_describe(sk_X509_value(b.certs, 0), &info, &err), HC_OK);
	sha1 = ts_sh("openssl x509 -in cert.pem -noout -fingerprint -sha1 | cut -d= -f2 | "
		     "tr -d ':\\n' | tr A-F a-f");
	sha256 = ts_sh("openssl x509 -in cert.pem -noout -fingerprint -sha256 | cut -d= -f2 | "
		       "tr -d ':\\n' | tr A-F a-f");
	cr_assert_str_eq(info.sha1, sha1);
	cr_assert_str_eq(info.sha256, sha256);
	cr_assert_str_eq(info.subject, "C=HK, O=香港郵政, CN=www.xn--5bvv2rbn4a0hh.hk");
	cr_assert_str_eq(info.key_type, "rsa:2048");
	cr_assert_str_eq(info.signature_algorithm, "sha256WithRSAEncryption");
	cr_assert(info.is_ca);
	cr_assert_eq(info.path_len, 1);
	cr_assert(info.self_signed);
	cr_assert_eq(info.san_count, 3);
	cr_assert_str_eq(info.sans[0].type, "DNS");
	cr_assert_str_eq(info.sans[0].value, "www.xn--5bvv2rbn4a0hh.hk");
	cr_assert_str_eq(info.sans[0].ulabel, "www.香港郵政.hk");
	cr_assert_str_eq(info.sans[1].value, "127.0.0.1");
	cr_assert_str_eq(info.sans[2].type, "email");
	cr_assert(hc_days_until(info.not_after, info.not_before) == 30);
	hc_cert_info_clear(&info);
	hc_x509_bundle_clear(&b);
	free(sha1);
	free(sha256);
}

Test(x509, days_until_rounds_down)
{
	cr_assert_eq(hc_days_until(86400 * 2, 0), 2);
	cr_assert_eq(hc_days_until(86400 * 2 - 1, 0), 1);
	cr_assert_eq(hc_days_until(0, 1), -1);
	cr_assert_eq(hc_days_until(0, 86400), -1);
	cr_assert_eq(hc_days_until(0, 86401), -2);
}
