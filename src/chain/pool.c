/* The certificate and CRL pools: indexing, loading files and folders (SPEC: chain). */
#include "internal.h"

#include "hsmcert/x509.h"

#include "hsmcert/file.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

unsigned long chain_pool_name_hash(const X509_NAME *name)
{
	int ok = 0;
	unsigned long h = X509_NAME_hash_ex(name, NULL, NULL, &ok);
	return ok ? h : 0;
}

hc_rc hc_chain_pool_new(hc_chain_pool **out, hc_error *err)
{
	hc_chain_pool *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p || !(p->buckets = malloc(64 * sizeof(long)))) {
		free(p);
		return hc_fail(err, HC_IO, "out of memory");
	}
	p->nbuckets = 64;
	for (size_t i = 0; i < p->nbuckets; i++)
		p->buckets[i] = -1;
	*out = p;
	return HC_OK;
}

void hc_chain_pool_free(hc_chain_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ncerts; i++) {
		X509_free(p->certs[i].cert);
		OPENSSL_free(p->certs[i].der);
		free(p->certs[i].origin);
	}
	for (size_t i = 0; i < p->ncrls; i++) {
		X509_CRL_free(p->crls[i].crl);
		free(p->crls[i].origin);
	}
	for (size_t i = 0; i < p->nskipped; i++) {
		free(p->skipped[i].origin);
		free(p->skipped[i].reason);
	}
	free(p->certs);
	free(p->buckets);
	free(p->crls);
	free(p->skipped);
	free(p);
}

static bool rehash(hc_chain_pool *p)
{
	size_t n = p->nbuckets * 4;
	long *b = malloc(n * sizeof(long));

	if (!b)
		return false;
	for (size_t i = 0; i < n; i++)
		b[i] = -1;
	for (size_t i = 0; i < p->ncerts; i++) {
		size_t slot = p->certs[i].subject_hash & (n - 1);
		p->certs[i].next = b[slot];
		b[slot] = (long)i;
	}
	free(p->buckets);
	p->buckets = b;
	p->nbuckets = n;
	return true;
}

bool chain_pool_contains_der(const hc_chain_pool *p, unsigned long hash, const unsigned char *der,
			     long len)
{
	CHAIN_POOL_FOR_EACH(p, hash, i)
	{
		if (p->certs[i].subject_hash == hash && p->certs[i].der_len == len &&
		    memcmp(p->certs[i].der, der, (size_t)len) == 0)
			return true;
	}
	return false;
}

bool chain_pool_contains(const hc_chain_pool *p, X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	bool found = len > 0 &&
		     chain_pool_contains_der(p, chain_pool_name_hash(X509_get_subject_name(cert)),
					     der, len);

	OPENSSL_free(der);
	return found;
}

/* Add an entry owning `der` (and `cert`, when already parsed). False: out of memory. */
static bool pool_insert(hc_chain_pool *p, unsigned char *der, long len, X509 *cert,
			unsigned long hash, const char *origin)
{
	struct pool_cert *e;
	size_t slot;

	if (p->ncerts + 1 > p->nbuckets && !rehash(p))
		return false;
	if (!hc_array_grow(&p->certs, &p->capcerts, p->ncerts, sizeof(*p->certs)))
		return false;
	e = &p->certs[p->ncerts];
	memset(e, 0, sizeof(*e));
	if (!(e->origin = strdup(origin)))
		return false;
	e->der = der;
	e->der_len = len;
	e->cert = cert;
	e->subject_hash = hash;
	slot = hash & (p->nbuckets - 1);
	e->next = p->buckets[slot];
	p->buckets[slot] = (long)p->ncerts++;
	return true;
}

hc_rc hc_chain_pool_add_cert(hc_chain_pool *p, X509 *cert, const char *origin, hc_error *err)
{
	unsigned long hash = chain_pool_name_hash(X509_get_subject_name(cert));
	unsigned char *der = NULL;
	int len;

	/* Caches the extensions (and the hash X509_cmp uses); a broken one is unusable. */
	if (X509_check_purpose(cert, -1, 0) != 1 ||
	    (X509_get_extension_flags(cert) & EXFLAG_INVALID)) {
		ERR_clear_error();
		return hc_fail(err, HC_USAGE, "%s: a certificate with malformed extensions",
			       origin);
	}
	if ((len = i2d_X509(cert, &der)) <= 0)
		return hc_fail_ssl(err, HC_USAGE, "%s: a certificate that cannot be encoded",
				   origin);
	if (chain_pool_contains_der(p, hash, der, len)) {
		OPENSSL_free(der);
		return HC_OK;
	}
	if (!X509_up_ref(cert) || !pool_insert(p, der, len, cert, hash, origin)) {
		OPENSSL_free(der);
		return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

/*
 * The subject of a DER certificate, found by walking the outer TLVs
 * (Certificate, TBSCertificate, [0] version, serial, signature, issuer,
 * validity, subject) with OpenSSL's bounds-checked TLV reader.
 */
static bool der_subject(const unsigned char *der, long len, const unsigned char **subject,
			long *subject_len)
{
	const unsigned char *p = der, *q, *end;
	long l;
	int tag, cls;

	if ((ASN1_get_object(&p, &l, &tag, &cls, len) & 0x80) || tag != V_ASN1_SEQUENCE ||
	    p + l != der + len)
		return false;
	if ((ASN1_get_object(&p, &l, &tag, &cls, der + len - p) & 0x80) || tag != V_ASN1_SEQUENCE)
		return false;
	end = p + l;
	q = p;
	if (ASN1_get_object(&q, &l, &tag, &cls, end - p) & 0x80)
		return false;
	if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0)
		p = q + l;
	for (int i = 0; i < 4; i++) { /* serial, signature, issuer, validity */
		q = p;
		if (ASN1_get_object(&q, &l, &tag, &cls, end - p) & 0x80)
			return false;
		p = q + l;
	}
	q = p;
	if ((ASN1_get_object(&q, &l, &tag, &cls, end - p) & 0x80) || tag != V_ASN1_SEQUENCE)
		return false;
	*subject = p;
	*subject_len = (long)(q - p) + l;
	return true;
}

/* The subject hash of a DER certificate, without parsing the rest. */
static bool der_subject_hash(const unsigned char *der, long len, unsigned long *hash)
{
	const unsigned char *subject, *s;
	long subject_len;
	X509_NAME *name;

	if (!der_subject(der, len, &subject, &subject_len))
		return false;
	s = subject;
	if (!(name = d2i_X509_NAME(NULL, &s, subject_len)) || s != subject + subject_len) {
		X509_NAME_free(name);
		ERR_clear_error();
		return false;
	}
	*hash = chain_pool_name_hash(name);
	X509_NAME_free(name);
	return true;
}

struct lazy_cert {
	unsigned char *der;
	long len;
	unsigned long hash;
};

/*
 * A file of certificates only (PEM CERTIFICATE blocks, or one DER
 * certificate) is indexed lazily: HC_OK and *done. Anything else leaves the
 * pool alone for the full loader (which also words the errors).
 */
static hc_rc pool_add_lazy(hc_chain_pool *p, const unsigned char *data, size_t len,
			   const char *origin, bool *done, hc_error *err)
{
	struct lazy_cert *certs = NULL;
	size_t n = 0, cap = 0;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long der_len;
	bool ok = true;
	hc_rc rc = HC_OK;

	*done = false;
	if (len == 0 || len > INT_MAX)
		return HC_OK;
	if (data[0] == 0x30) {
		unsigned long hash;
		if (!der_subject_hash(data, (long)len, &hash))
			return HC_OK;
		if (!(certs = malloc(sizeof(*certs))) ||
		    !(certs[0].der = OPENSSL_memdup(data, len))) {
			free(certs);
			return hc_fail(err, HC_IO, "out of memory");
		}
		certs[0].len = (long)len;
		certs[0].hash = hash;
		n = 1;
	} else {
		if (!(bio = BIO_new_mem_buf(data, (int)len)))
			return hc_fail(err, HC_IO, "out of memory");
		while (ok && PEM_read_bio(bio, &name, &header, &der, &der_len)) {
			unsigned long hash;
			ok = strcmp(name, PEM_STRING_X509) == 0 && !header[0] &&
			     der_subject_hash(der, der_len, &hash);
			if (ok && hc_array_grow(&certs, &cap, n, sizeof(*certs))) {
				certs[n++] = (struct lazy_cert){der, der_len, hash};
				der = NULL;
			} else if (ok) {
				rc = hc_fail(err, HC_IO, "out of memory");
				ok = false;
			}
			OPENSSL_free(name);
			OPENSSL_free(header);
			OPENSSL_free(der);
			der = NULL;
		}
		ERR_clear_error();
		BIO_free(bio);
	}
	for (size_t i = 0; ok && n && i < n; i++) {
		if (chain_pool_contains_der(p, certs[i].hash, certs[i].der, certs[i].len))
			continue;
		if (!pool_insert(p, certs[i].der, certs[i].len, NULL, certs[i].hash, origin)) {
			rc = hc_fail(err, HC_IO, "out of memory");
			break;
		}
		certs[i].der = NULL; /* the pool owns it now */
	}
	*done = ok && n > 0 && rc == HC_OK;
	for (size_t i = 0; i < n; i++)
		OPENSSL_free(certs[i].der);
	free(certs);
	return rc;
}

hc_rc hc_chain_pool_add_crl(hc_chain_pool *p, X509_CRL *crl, const char *origin, hc_error *err)
{
	struct pool_crl *e;

	for (size_t i = 0; i < p->ncrls; i++)
		if (X509_CRL_match(p->crls[i].crl, crl) == 0)
			return HC_OK;
	if (!hc_array_grow(&p->crls, &p->capcrls, p->ncrls, sizeof(*p->crls)))
		return hc_fail(err, HC_IO, "out of memory");
	e = &p->crls[p->ncrls];
	if (!(e->origin = strdup(origin)) || !X509_CRL_up_ref(crl)) {
		free(e->origin);
		return hc_fail(err, HC_IO, "out of memory");
	}
	e->crl = crl;
	p->ncrls++;
	return HC_OK;
}

size_t hc_chain_pool_cert_count(const hc_chain_pool *p)
{
	return p->ncerts;
}

size_t hc_chain_pool_crl_count(const hc_chain_pool *p)
{
	return p->ncrls;
}

const hc_chain_skipped *hc_chain_pool_skipped(const hc_chain_pool *p, size_t *count)
{
	*count = p->nskipped;
	return p->skipped;
}

hc_rc chain_pool_add_skipped(hc_chain_skipped **list, size_t *count, size_t *cap,
			     const char *origin, const char *reason, hc_error *err)
{
	hc_chain_skipped *s;

	if (!hc_array_grow(list, cap, *count, sizeof(**list)))
		return hc_fail(err, HC_IO, "out of memory");
	s = &(*list)[*count];
	s->origin = strdup(origin);
	s->reason = strdup(reason);
	if (!s->origin || !s->reason) {
		free(s->origin);
		free(s->reason);
		return hc_fail(err, HC_IO, "out of memory");
	}
	(*count)++;
	return HC_OK;
}

/* The certificate of entry i, parsed on first use; NULL when it does not parse. */
X509 *chain_pool_cert(hc_chain_pool *p, long i)
{
	struct pool_cert *e = &p->certs[i];
	const unsigned char *q = e->der;
	hc_error ignored = {0};
	char *reason;
	X509 *x;

	if (e->cert || e->broken)
		return e->cert;
	x = d2i_X509(NULL, &q, e->der_len);
	if (!x || q != e->der + e->der_len || X509_check_purpose(x, -1, 0) != 1 ||
	    (X509_get_extension_flags(x) & EXFLAG_INVALID)) {
		X509_free(x);
		ERR_clear_error();
		e->broken = true;
		if ((reason = chain_report_format(
			     "%s: a certificate that does not parse or has malformed "
			     "extensions",
			     e->origin)))
			chain_pool_add_skipped(&p->skipped, &p->nskipped, &p->capskipped, e->origin,
					       reason, &ignored);
		free(reason);
		return NULL;
	}
	e->cert = x;
	return x;
}

/* Everything a loaded bundle holds goes into the pool; a bad certificate is skipped. */
hc_rc chain_pool_add_bundle(hc_chain_pool *p, hc_x509_bundle *b, const char *origin, size_t *added,
			    hc_error *err)
{
	hc_error bad = {0};
	hc_rc rc;

	for (int i = 0; i < sk_X509_num(b->certs); i++) {
		size_t before = p->ncerts;
		rc = hc_chain_pool_add_cert(p, sk_X509_value(b->certs, i), origin, &bad);
		if (rc == HC_USAGE)
			rc = chain_pool_add_skipped(&p->skipped, &p->nskipped, &p->capskipped,
						    origin, bad.message, err);
		else if (rc != HC_OK)
			*err = bad;
		if (rc != HC_OK)
			return rc;
		if (added && p->ncerts > before)
			(*added)++;
	}
	for (int i = 0; i < sk_X509_CRL_num(b->crls); i++)
		if ((rc = hc_chain_pool_add_crl(p, sk_X509_CRL_value(b->crls, i), origin, err)))
			return rc;
	return HC_OK;
}

static hc_rc pool_add_file(hc_chain_pool *p, const char *path, bool in_directory, hc_error *err)
{
	hc_x509_bundle b = {0};
	hc_error bad = {0};
	unsigned char *data = NULL;
	size_t len = 0;
	bool done = false;
	hc_rc rc;

	if ((rc = hc_file_read(path, HC_X509_MAX_FILE, &data, &len, &bad)) == HC_OK) {
		rc = pool_add_lazy(p, data, len, path, &done, err);
		if (rc != HC_OK || done) {
			free(data);
			return rc;
		}
		rc = hc_x509_load_mem_ask(data, len, path, p->ask, &b, &bad);
		OPENSSL_cleanse(data, len); /* a PKCS#12 holds a private key */
		free(data);
	}
	if (rc == HC_OK && sk_X509_num(b.certs) == 0 && sk_X509_CRL_num(b.crls) == 0)
		rc = hc_fail(&bad, HC_USAGE, "%s holds no certificate or CRL", path);
	if (rc != HC_OK) {
		bool pkcs12 = b.format == HC_FMT_PKCS12;
		hc_x509_bundle_clear(&b);
		/*
		 * A named file must be right; a folder of downloads may hold anything,
		 * but a PKCS#12 is the user's own: a missing or wrong passphrase is theirs
		 * to fix, not a file to skip quietly.
		 */
		if (!in_directory || pkcs12) {
			*err = bad;
			return rc;
		}
		return chain_pool_add_skipped(&p->skipped, &p->nskipped, &p->capskipped, path,
					      bad.message, err);
	}
	rc = chain_pool_add_bundle(p, &b, path, NULL, err);
	hc_x509_bundle_clear(&b);
	return rc;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

hc_rc hc_chain_pool_add_path(hc_chain_pool *p, const char *path, hc_error *err)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	hc_rc rc = HC_OK;

	if (stat(path, &st) != 0)
		return hc_fail(err, HC_IO, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pool_add_file(p, path, false, err);
	if (!(dir = opendir(path)))
		return hc_fail(err, HC_IO, "%s: %s", path, strerror(errno));
	/* Sorted, so the report and the choice among equals do not depend on readdir. */
	while ((de = readdir(dir)) != NULL) {
		char *full;
		if (de->d_name[0] == '.')
			continue;
		if (!(full = hc_path_join(path, de->d_name)) ||
		    !hc_array_grow(&names, &cap, n, sizeof(*names))) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		names[n++] = full;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), compare_strings);
	for (size_t i = 0; i < n && rc == HC_OK; i++) {
		if (stat(names[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		rc = pool_add_file(p, names[i], true, err);
	}
out:
	closedir(dir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

void hc_chain_pool_ask_passphrase(hc_chain_pool *p, const hc_passphrase_ask *ask)
{
	p->ask = ask;
}

hc_rc hc_chain_pool_add_system_roots(hc_chain_pool *p, hc_error *err)
{
	const char *file = getenv(X509_get_default_cert_file_env());
	const char *dir = getenv(X509_get_default_cert_dir_env());
	struct stat st;

	if (!file || !*file)
		file = X509_get_default_cert_file();
	if (!dir || !*dir)
		dir = X509_get_default_cert_dir();
	if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
		return hc_chain_pool_add_path(p, file, err);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return hc_chain_pool_add_path(p, dir, err);
	return hc_error_hint(err, HC_HINT_ROOTS,
			     hc_fail(err, HC_IO, "no system trust store (%s, %s)", file, dir));
}
