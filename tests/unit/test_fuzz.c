/*
 * Bounded, deterministic mutation loops over every parser that takes user
 * input: certificates/CRLs/requests/PKCS#7/PKCS#12, URIs, subjects and
 * provisioning plans. Under scripts/test.sh they run with ASan and UBSan, so
 * any memory error fails the test; each input must give HC_OK or a clear
 * error, never a crash. (Longer runs: HSMCERT_FUZZ_ROUNDS=100000.)
 */
#include "support.h"

#include "../fuzz/hsmb_sample.h"

#include "hsmcert/backup.h"
#include "hsmcert/provision.h"
#include "hsmcert/subject.h"
#include "hsmcert/x509.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint32_t rng(void)
{
	/* xorshift64*: reproducible from the seed printed on failure. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static size_t rounds(size_t dflt)
{
	const char *v = getenv("HSMCERT_FUZZ_ROUNDS");
	return v ? (size_t)strtoul(v, NULL, 10) : dflt;
}

/* One mutation of `in` into a fresh buffer: flips, truncation, splices, insertions. */
static unsigned char *mutate(const unsigned char *in, size_t len, size_t *out_len)
{
	size_t n = len + 64;
	unsigned char *out = malloc(n + 1);
	size_t m = len;

	cr_assert_not_null(out);
	memcpy(out, in, len);
	for (int k = 0, edits = 1 + (int)(rng() % 4); k < edits; k++) {
		switch (rng() % 5) {
		case 0: /* flip a bit */
			if (m)
				out[rng() % m] ^= (unsigned char)(1u << (rng() % 8));
			break;
		case 1: /* a random byte */
			if (m)
				out[rng() % m] = (unsigned char)rng();
			break;
		case 2: /* truncate */
			if (m)
				m = rng() % m;
			break;
		case 3: /* a length-looking byte: 0x00, 0x7f, 0x80, 0x81, 0x82, 0xff */
			if (m) {
				static const unsigned char v[] = {0, 0x7f, 0x80, 0x81, 0x82, 0xff};
				out[rng() % m] = v[rng() % sizeof(v)];
			}
			break;
		default: /* duplicate a slice */
			if (m > 4 && m + 16 <= n) {
				size_t from = rng() % (m - 4), cnt = 1 + rng() % 16;
				if (from + cnt > m)
					cnt = m - from;
				memmove(out + from + cnt, out + from, m - from);
				m += cnt;
			}
		}
	}
	out[m] = '\0';
	*out_len = m;
	return out;
}

TestSuite(fuzz, .init = ts_setup_empty, .fini = ts_teardown, .timeout = 300);

static void fuzz_x509_file(const char *path, const char *pass, size_t n)
{
	size_t len;
	unsigned char *seed = (unsigned char *)ts_read(path, &len);
	hc_secret *s = pass ? hc_secret_new(pass, strlen(pass)) : NULL;

	cr_assert_not_null(seed, "%s", path);
	rng_state = 0x9e3779b97f4a7c15ULL ^ len;
	for (size_t i = 0; i < n; i++) {
		size_t mlen;
		unsigned char *m = mutate(seed, len, &mlen);
		hc_x509_bundle b;
		hc_error err = {0};
		hc_rc rc = hc_x509_load_mem(m, mlen, "fuzz", s, &b, &err);
		cr_assert(rc == HC_OK || rc == HC_USAGE || rc == HC_CHECK, "%s round %zu: rc %d %s",
			  path, i, rc, err.message);
		if (rc == HC_OK) {
			for (int k = 0; k < sk_X509_num(b.certs); k++) {
				hc_cert_info info;
				if (hc_cert_describe(sk_X509_value(b.certs, k), &info, &err) ==
				    HC_OK)
					hc_cert_info_clear(&info);
			}
			hc_x509_bundle_clear(&b);
		} else {
			cr_assert(err.message[0], "%s round %zu: no message", path, i);
		}
		free(m);
	}
	hc_secret_free(s);
	free(seed);
}

Test(fuzz, x509_inputs)
{
	free(ts_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		   "-keyout k.pem -out c.pem -days 3 -subj '/CN=fuzz.example.hk/O=Org' "
		   "-addext 'subjectAltName=DNS:xn--5bvv2rbn4a0hh.hk,IP:::1' 2>/dev/null && "
		   "openssl x509 -in c.pem -outform DER -out c.der && "
		   "openssl crl2pkcs7 -nocrl -certfile c.pem -outform DER -out c.p7b && "
		   "openssl req -new -key k.pem -subj /CN=r -outform DER -out r.der && "
		   "openssl pkcs12 -export -in c.pem -inkey k.pem -passout pass:pw -out c.pfx"));
	fuzz_x509_file("c.pem", NULL, rounds(1500));
	fuzz_x509_file("c.der", NULL, rounds(1500));
	fuzz_x509_file("c.p7b", NULL, rounds(1000));
	fuzz_x509_file("r.der", NULL, rounds(1000));
	fuzz_x509_file("c.pfx", "pw", rounds(300));
}

Test(fuzz, uris)
{
	static const char seed[] =
		"pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=abc;token=t;"
		"id=%01%02;object=web;type=private?pin-source=file:/x&module-path=/m.so";
	rng_state = 42;
	for (size_t i = 0, n = rounds(5000); i < n; i++) {
		size_t len;
		unsigned char *m = mutate((const unsigned char *)seed, sizeof(seed) - 1, &len);
		hc_uri *u = NULL;
		hc_error err = {0};
		hc_rc rc = hc_uri_parse((const char *)m, &u, &err);
		cr_assert(rc == HC_OK || rc == HC_USAGE, "round %zu: %d", i, rc);
		if (u) {
			CK_ULONG count;
			hc_uri_object_template(u, &count);
			hc_uri_names_token(u);
		}
		hc_uri_free(u);
		free(m);
	}
}

Test(fuzz, subjects)
{
	static const char *seeds[] = {
		"C=HK,S=\"Hong Kong\",L=\"Hong Kong\",O=\"My Org\\, Ltd\",CN=www.example.hk",
		"/C=HK/ST=Hong Kong/O=香港郵政/CN=www.香港郵政.hk",
		"CN=a\\2Cb+OU=x,O=y,C=HK,1.2.3.4=z",
	};
	rng_state = 7;
	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		for (size_t i = 0, n = rounds(3000); i < n; i++) {
			size_t len;
			unsigned char *m = mutate((const unsigned char *)seeds[s], strlen(seeds[s]),
						  &len);
			hc_subject subj = {0};
			hc_error err = {0};
			X509_NAME *name = NULL;
			hc_rc rc = hc_subject_parse((const char *)m, &subj, &err);
			if (rc == HC_OK && hc_subject_to_name(&subj, &name, &err) == HC_OK)
				X509_NAME_free(name);
			cr_assert(rc == HC_OK || rc == HC_USAGE, "seed %zu round %zu: %d", s, i,
				  rc);
			hc_subject_clear(&subj);
			free(m);
		}
	}
}

Test(fuzz, provisioning_plans)
{
	static const char seed[] =
		"{\"defaults\": {\"o\": \"Ex\", \"c\": \"HK\", \"profile\": \"cabf\"},"
		" \"keys\": [{\"label\": \"a\", \"cn\": \"a.example.hk\", \"sans\": [\"b.example.hk\","
		" \"IP:127.0.0.1\"], \"type\": \"ec:P-256\", \"csr\": \"x/a.csr\"}]}";
	rng_state = 99;
	for (size_t i = 0, n = rounds(1500); i < n; i++) {
		size_t len;
		unsigned char *m = mutate((const unsigned char *)seed, sizeof(seed) - 1, &len);
		hc_provision_plan plan;
		hc_error err = {0};
		FILE *f = fopen("plan.json", "wb");
		hc_rc rc;
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(m, 1, len, f), len);
		fclose(f);
		rc = hc_provision_plan_load("plan.json", NULL, &plan, &err);
		cr_assert(rc == HC_OK || rc == HC_USAGE, "round %zu: %d %s", i, rc, err.message);
		if (rc == HC_OK)
			hc_provision_plan_clear(&plan);
		free(m);
	}
}

/*
 * hsmcert backups (.hsmb): a file made in memory with both protection modes,
 * mutated; parsing and then checking the tag must give a clear answer.
 */
static void fuzz_backup(hc_backup_mode mode, size_t n)
{
	static const struct hsmb_sample_shape rsa_sized = {.wrapped_key_len = 1232,
							   .cert_len = 700,
							   .ca_lens = {650, 100},
							   .ca_count = 2,
							   .scrypt_log2_n = 18};
	unsigned char *seed;
	size_t len;
	hc_error err = {0};

	cr_assert_eq(hsmb_sample(mode, &rsa_sized, &seed, &len, &err), HC_OK, "%s", err.message);
	rng_state = 0x6a09e667f3bcc908ULL ^ (uint64_t)mode;
	for (size_t i = 0; i < n; i++) {
		size_t mlen;
		unsigned char *m = mutate(seed, len, &mlen);
		hc_backup_file parsed;
		hc_rc rc;
		hc_error_clear(&err);
		rc = hc_backup_parse(m, mlen, "fuzz", &parsed, &err);
		cr_assert(hsmb_answer_clear(m, mlen, rc, &err), "mode %d round %zu: rc %d %s", mode,
			  i, rc, err.message);
		if (rc == HC_OK) {
			/* Structurally sound is not authentic: only the unchanged file passes. */
			rc = hc_backup_verify(&parsed, m, hsmb_sample_mac_key, &err);
			cr_assert(rc == HC_CHECK || (mlen == len && memcmp(m, seed, len) == 0),
				  "mode %d round %zu: a modified file verified", mode, i);
			hc_backup_file_clear(&parsed);
		}
		free(m);
	}
	free(seed);
}

Test(fuzz, backup_files)
{
	fuzz_backup(HC_BACKUP_PASSPHRASE, rounds(3000));
	fuzz_backup(HC_BACKUP_RECIPIENT, rounds(3000));
}
