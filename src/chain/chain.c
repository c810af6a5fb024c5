/* Chain assembly and verification (SPEC: chain; see hsmcert/chain.h). */
#include "hsmcert/chain.h"

#include "hsmcert/fetch.h"
#include "hsmcert/file.h"
#include "hsmcert/hex.h"
#include "hsmcert/x509.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the pool ------------------------------------------------------ */

/*
 * Certificates live in one array and are chained into hash buckets by the
 * hash of their canonical subject, so finding the issuers of a certificate
 * costs one bucket walk. Certificates from PEM bundles and DER files are
 * kept as DER and indexed by their subject alone; the full parse (which in
 * OpenSSL 3 decodes the public key through the provider framework, about
 * 40 times the cost of the subject) happens only for the few that become
 * candidates. A pool of thousands costs less than parsing it once.
 */
struct pool_cert {
	X509 *cert; /* NULL until parsed */
	unsigned char *der;
	long der_len;
	char *origin;
	unsigned long subject_hash;
	long next;   /* next entry in the same bucket, -1 at the end */
	bool broken; /* the full parse failed: never a candidate */
};

struct pool_crl {
	X509_CRL *crl;
	char *origin;
};

struct hc_chain_pool {
	struct pool_cert *certs;
	size_t ncerts, capcerts;
	long *buckets; /* first entry of each bucket, -1 when empty */
	size_t nbuckets;
	struct pool_crl *crls;
	size_t ncrls, capcrls;
	hc_chain_skipped *skipped;
	size_t nskipped;
	const hc_passphrase_ask *ask; /* for PKCS#12 files */
};

/* Grow *array (of elem-sized entries) to hold one more. */
static bool grow(void *array, size_t *cap, size_t count, size_t elem)
{
	void **p = array;
	size_t n;
	void *bigger;

	if (count < *cap)
		return true;
	n = *cap ? *cap * 2 : 16;
	if (!(bigger = realloc(*p, n * elem)))
		return false;
	*p = bigger;
	*cap = n;
	return true;
}

static unsigned long name_hash(const X509_NAME *name)
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

#define BUCKET_FOR_EACH(p, hash, i)                                                              \
	for (long i = (p)->buckets[(hash) & ((p)->nbuckets - 1)]; i >= 0; i = (p)->certs[i].next)

static bool pool_contains_der(const hc_chain_pool *p, unsigned long hash, const unsigned char *der,
			      long len)
{
	BUCKET_FOR_EACH(p, hash, i)
	{
		if (p->certs[i].subject_hash == hash && p->certs[i].der_len == len &&
		    memcmp(p->certs[i].der, der, (size_t)len) == 0)
			return true;
	}
	return false;
}

static bool pool_contains(const hc_chain_pool *p, X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	bool found = len > 0 && pool_contains_der(p, name_hash(X509_get_subject_name(cert)), der, len);

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
	if (!grow(&p->certs, &p->capcerts, p->ncerts, sizeof(*p->certs)))
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
	unsigned long hash = name_hash(X509_get_subject_name(cert));
	unsigned char *der = NULL;
	int len;

	/* Caches the extensions (and the hash X509_cmp uses); a broken one is unusable. */
	if (X509_check_purpose(cert, -1, 0) != 1 ||
	    (X509_get_extension_flags(cert) & EXFLAG_INVALID)) {
		ERR_clear_error();
		return hc_fail(err, HC_USAGE, "%s: a certificate with malformed extensions", origin);
	}
	if ((len = i2d_X509(cert, &der)) <= 0)
		return hc_fail_ssl(err, HC_USAGE, "%s: a certificate that cannot be encoded", origin);
	if (pool_contains_der(p, hash, der, len)) {
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
	*hash = name_hash(name);
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
			if (ok && grow(&certs, &cap, n, sizeof(*certs))) {
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
		if (pool_contains_der(p, certs[i].hash, certs[i].der, certs[i].len))
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
	if (!grow(&p->crls, &p->capcrls, p->ncrls, sizeof(*p->crls)))
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

static hc_rc add_skipped(hc_chain_skipped **list, size_t *count, const char *origin,
			 const char *reason, hc_error *err)
{
	hc_chain_skipped *bigger = realloc(*list, (*count + 1) * sizeof(**list));

	if (!bigger)
		return hc_fail(err, HC_IO, "out of memory");
	*list = bigger;
	bigger[*count].origin = strdup(origin);
	bigger[*count].reason = strdup(reason);
	if (!bigger[*count].origin || !bigger[*count].reason) {
		free(bigger[*count].origin);
		free(bigger[*count].reason);
		return hc_fail(err, HC_IO, "out of memory");
	}
	(*count)++;
	return HC_OK;
}

/* The certificate of entry i, parsed on first use; NULL when it does not parse. */
static X509 *pool_cert(hc_chain_pool *p, long i)
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
		if ((reason = format("%s: a certificate that does not parse or has malformed "
				     "extensions",
				     e->origin)))
			add_skipped(&p->skipped, &p->nskipped, e->origin, reason, &ignored);
		free(reason);
		return NULL;
	}
	e->cert = x;
	return x;
}

/* Everything a loaded bundle holds goes into the pool; a bad certificate is skipped. */
static hc_rc pool_add_bundle(hc_chain_pool *p, hc_x509_bundle *b, const char *origin,
			     size_t *added, hc_error *err)
{
	hc_error bad = {0};
	hc_rc rc;

	for (int i = 0; i < sk_X509_num(b->certs); i++) {
		size_t before = p->ncerts;
		rc = hc_chain_pool_add_cert(p, sk_X509_value(b->certs, i), origin, &bad);
		if (rc == HC_USAGE)
			rc = add_skipped(&p->skipped, &p->nskipped, origin, bad.message, err);
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
		return add_skipped(&p->skipped, &p->nskipped, path, bad.message, err);
	}
	rc = pool_add_bundle(p, &b, path, NULL, err);
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
		if (asprintf(&full, "%s/%s", path, de->d_name) < 0 ||
		    !grow(&names, &cap, n, sizeof(*names))) {
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
	return hc_fail(err, HC_IO, "no system trust store (%s, %s): use --roots", file, dir);
}

/* ---- names for reports ---------------------------------------------- */

const char *hc_chain_role_name(hc_chain_role role)
{
	static const char *const names[] = {"target", "intermediate", "root", "cross"};
	return role <= HC_LINK_CROSS ? names[role] : "?";
}

const char *hc_chain_verdict_name(hc_chain_verdict v)
{
	static const char *const names[] = {"chosen",	   "superseded",  "cross",
					    "cross_left_out", "alternative", "rejected"};
	return v <= HC_CAND_REJECTED ? names[v] : "?";
}

const char *hc_revocation_name(hc_revocation r)
{
	static const char *const names[] = {"not_checked", "good", "revoked", "unknown"};
	return r <= HC_REV_UNKNOWN ? names[r] : "?";
}

/* RFC 5280 5.3.1 CRLReason values. */
static const char *crl_reason_name(long reason)
{
	static const char *const names[] = {
		"unspecified",	       "keyCompromise",	 "cACompromise",
		"affiliationChanged",  "superseded",	 "cessationOfOperation",
		"certificateHold",     "(unused)",	 "removeFromCRL",
		"privilegeWithdrawn",  "aACompromise",
	};
	return reason >= 0 && reason <= 10 ? names[reason] : "unknown";
}

static char *subject_of(X509 *cert)
{
	char *s = hc_x509_name_text(X509_get_subject_name(cert));
	return s ? s : strdup("?");
}

static char *serial_of(X509 *cert)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL, *out;

	BN_free(bn);
	if (!hex)
		return strdup("?");
	out = strdup(hex);
	OPENSSL_free(hex);
	for (char *c = out; c && *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char)(*c - 'A' + 'a');
	return out;
}

/* printf into a new string; NULL when out of memory. */
static char *format(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* ---- the search ---------------------------------------------------- */

#define MAX_DEPTH 12

struct candidate {
	X509 *cert;
	const char *origin;
	bool anchor; /* from the trust store */
};

struct dead_end {
	X509 *cert;
	char *reason;
};

struct build {
	hc_chain_pool *pool;
	hc_chain_pool *roots;
	const hc_chain_options *opt;
	time_t at;
	hc_chain_result *res;
	hc_error *err;
	hc_rc fatal; /* an error outside the chain's content stops the search */
	char *failure; /* the first failing link met (the deepest on the best branch) */
	bool stop;   /* a revoked certificate stops it too */

	X509 *path[MAX_DEPTH];
	const char *origin[MAX_DEPTH];
	size_t depth; /* entries in path */
	bool anchored; /* path ends at a trust anchor */
	struct {
		hc_revocation state;
		const char *crl_origin;
		char *note, *serial, *reason;
		time_t when;
	} rev[MAX_DEPTH];

	struct dead_end *dead;
	size_t ndead, capdead;
	char **fetched; /* URLs already tried */
	size_t nfetched, capfetched;
	long long fetch_deadline_ms; /* CLOCK_MONOTONIC: every download ends by then */
};

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_failure(struct build *b, char *message)
{
	if (!message) {
		b->fatal = hc_fail(b->err, HC_IO, "out of memory");
		return;
	}
	if (b->failure) {
		free(message);
		return;
	}
	b->failure = message;
}

static bool on_path(const struct build *b, X509 *cert)
{
	for (size_t i = 0; i < b->depth; i++)
		if (X509_cmp(b->path[i], cert) == 0)
			return true;
	return false;
}

static bool valid_at(X509 *cert, time_t at, char *why, size_t n)
{
	char t[21];

	if (X509_cmp_time(X509_get0_notBefore(cert), &at) > 0) {
		hc_time_iso8601(hc_asn1_time_to_time(X509_get0_notBefore(cert)), t);
		snprintf(why, n, "not valid before %s", t);
		return false;
	}
	if (X509_cmp_time(X509_get0_notAfter(cert), &at) < 0) {
		hc_time_iso8601(hc_asn1_time_to_time(X509_get0_notAfter(cert)), t);
		snprintf(why, n, "expired on %s", t);
		return false;
	}
	return true;
}

static bool same_key(X509 *a, X509 *b)
{
	return EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)) == 1;
}

static bool self_issued(X509 *cert)
{
	return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0;
}

/*
 * Can `cand` issue `child` (at path index `index`)? Name, key identifier,
 * signature, validity, CA, keyCertSign and path length (RFC 5280 6.1.4).
 * On no, `why` says the first reason.
 */
static bool can_issue(const struct build *b, size_t index, X509 *child, X509 *cand, bool anchor,
		      char *why, size_t n)
{
	const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(child);
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(cand);
	uint32_t flags = X509_get_extension_flags(cand);
	long pathlen = X509_get_pathlen(cand);
	long below = 0;
	EVP_PKEY *key = X509_get0_pubkey(cand);

	if (on_path(b, cand)) {
		snprintf(why, n, "already on the path (a loop)");
		return false;
	}
	if (akid && skid && ASN1_OCTET_STRING_cmp(akid, skid) != 0) {
		snprintf(why, n, "key identifier differs from the issued certificate's "
				 "authority key identifier");
		return false;
	}
	if (!key || X509_verify(child, key) != 1) {
		ERR_clear_error();
		snprintf(why, n, "the signature does not verify with its key");
		return false;
	}
	if (!valid_at(cand, b->at, why, n))
		return false;
	/* Trust anchors are trusted as configured; v1 roots have no extensions. */
	if (!anchor && !((flags & EXFLAG_BCONS) && (flags & EXFLAG_CA))) {
		snprintf(why, n, "not a CA certificate (basicConstraints CA is not true)");
		return false;
	}
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(cand) & KU_KEY_CERT_SIGN)) {
		snprintf(why, n, "keyUsage lacks keyCertSign");
		return false;
	}
	for (size_t i = 1; i <= index && i < b->depth; i++)
		if (!self_issued(b->path[i]))
			below++;
	if (pathlen >= 0 && below > pathlen) {
		snprintf(why, n, "path length constraint %ld exceeded (%ld CA certificates below it)",
			 pathlen, below);
		return false;
	}
	return true;
}

static bool grow_candidates(struct candidate **c, size_t *cap, size_t n)
{
	return grow(c, cap, n, sizeof(**c));
}

/* Trust anchors first, then the pool (skipping copies of anchors). */
static bool collect(const struct build *b, const X509_NAME *issuer, struct candidate **out,
		    size_t *count)
{
	unsigned long hash = name_hash(issuer);
	struct candidate *c = NULL;
	size_t n = 0, cap = 0;
	hc_chain_pool *pools[2] = {b->roots, b->pool};

	for (int k = 0; k < 2; k++) {
		hc_chain_pool *p = pools[k];
		BUCKET_FOR_EACH(p, hash, i)
		{
			X509 *cert;
			if (p->certs[i].subject_hash != hash || !(cert = pool_cert(p, i)) ||
			    X509_NAME_cmp(X509_get_subject_name(cert), issuer) != 0)
				continue;
			if (k == 1 && pool_contains_der(b->roots, hash, p->certs[i].der,
							p->certs[i].der_len))
				continue;
			if (!grow_candidates(&c, &cap, n)) {
				free(c);
				return false;
			}
			c[n++] = (struct candidate){cert, p->certs[i].origin, k == 0};
		}
	}
	*out = c;
	*count = n;
	return true;
}

/* Anchors first, then the latest notBefore: a re-issued CA beats the one it replaces. */
static int candidate_order(const void *pa, const void *pb)
{
	const struct candidate *a = pa, *b = pb;
	int byte;

	bool a_ss = X509_get_extension_flags(a->cert) & EXFLAG_SS;
	bool b_ss = X509_get_extension_flags(b->cert) & EXFLAG_SS;

	if (a->anchor != b->anchor)
		return a->anchor ? -1 : 1;
	/* A self-signed certificate that is not a trust anchor leads nowhere: last. */
	if (!a->anchor && a_ss != b_ss)
		return a_ss ? 1 : -1;
	byte = ASN1_TIME_compare(X509_get0_notBefore(b->cert), X509_get0_notBefore(a->cert));
	if (byte)
		return byte;
	return X509_cmp(a->cert, b->cert);
}

static const char *dead_end_reason(const struct build *b, X509 *cert)
{
	for (size_t i = 0; i < b->ndead; i++)
		if (X509_cmp(b->dead[i].cert, cert) == 0)
			return b->dead[i].reason;
	return NULL;
}

static void note_dead_end(struct build *b, X509 *cert, const char *reason)
{
	if (dead_end_reason(b, cert) || !grow(&b->dead, &b->capdead, b->ndead, sizeof(*b->dead)))
		return;
	if ((b->dead[b->ndead].reason = strdup(reason)))
		b->dead[b->ndead++].cert = cert;
}

static bool already_fetched(struct build *b, const char *url)
{
	for (size_t i = 0; i < b->nfetched; i++)
		if (strcmp(b->fetched[i], url) == 0)
			return true;
	if (grow(&b->fetched, &b->capfetched, b->nfetched, sizeof(*b->fetched)) &&
	    (b->fetched[b->nfetched] = strdup(url)))
		b->nfetched++;
	return false;
}

static void log_fetch(struct build *b, const char *url, const char *what, bool ok,
		      bool from_cache, const char *message)
{
	hc_chain_result *r = b->res;
	hc_chain_fetch_log *bigger = realloc(r->fetches, (r->fetch_count + 1) * sizeof(*bigger));

	if (!bigger) {
		b->fatal = hc_fail(b->err, HC_IO, "out of memory");
		return;
	}
	r->fetches = bigger;
	bigger[r->fetch_count++] = (hc_chain_fetch_log){strdup(url), strdup(what), ok, from_cache,
							 strdup(message)};
}

/* Is a CRL still current at `at`? (A CRL without nextUpdate never is.) */
static bool crl_current(X509_CRL *crl, time_t at)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	return next && X509_cmp_time(next, &at) >= 0 &&
	       X509_cmp_time(X509_CRL_get0_lastUpdate(crl), &at) <= 0;
}

/* What the downloads for one certificate gave. */
struct fetch_outcome {
	size_t added;	      /* certificates new to the pool */
	bool download_failed; /* a transfer failed (network, HTTP status, size limit) */
	char failure[384];    /* the first such failure: URL and why */
};

/*
 * Download one URL (or take it from --cache) and add what it holds to the
 * pool. Failures are logged and skipped: the path then fails on its own terms,
 * and `got` remembers a failed transfer so the caller can say it was I/O.
 */
static void fetch_into_pool(struct build *b, const char *url, bool crl, struct fetch_outcome *got)
{
	const hc_chain_options *o = b->opt;
	hc_fetch_limits lim = {
		o->connect_timeout_ms ? o->connect_timeout_ms : HC_CHAIN_FETCH_CONNECT_TIMEOUT_MS,
		o->timeout_ms ? o->timeout_ms : HC_CHAIN_FETCH_TIMEOUT_MS,
		crl ? (o->max_crl_download ? o->max_crl_download : HC_CHAIN_FETCH_MAX_CRL)
		    : (o->max_cert_download ? o->max_cert_download : HC_CHAIN_FETCH_MAX_CERT)};
	const char *what = crl ? "crl" : "issuer";
	unsigned char *data = NULL;
	size_t len = 0;
	char *cache = NULL, msg[512];
	bool from_cache = false;
	hc_x509_bundle bundle = {0};
	hc_error e = {0};

	if (already_fetched(b, url))
		return;
	if (!hc_fetch_url_allowed(url)) {
		log_fetch(b, url, what, false, false, "not an http:// URL: not fetched");
		return;
	}
	if (o->cache_dir && (cache = hc_fetch_cache_path(o->cache_dir, url)) &&
	    hc_file_read(cache, lim.max_bytes, &data, &len, &e) == HC_OK) {
		from_cache = true;
		/* A cached CRL past its nextUpdate is fetched again. */
		if (hc_x509_load_mem(data, len, url, NULL, &bundle, &e) != HC_OK ||
		    (crl && (sk_X509_CRL_num(bundle.crls) == 0 ||
			     !crl_current(sk_X509_CRL_value(bundle.crls, 0), time(NULL))))) {
			hc_x509_bundle_clear(&bundle);
			free(data);
			data = NULL;
			from_cache = false;
		}
	}
	if (!from_cache) {
		/* The whole of --fetch is bounded, not only each URL (issue 14.9). */
		long long left = b->fetch_deadline_ms - monotonic_ms();
		if (left <= 0) {
			hc_fail(&e, HC_IO, "%s: not fetched: the %ld seconds all downloads may take "
				"are spent", url,
				(o->total_timeout_ms ? o->total_timeout_ms
						     : HC_CHAIN_FETCH_TOTAL_TIMEOUT_MS) / 1000);
		} else {
			if (lim.timeout_ms > left)
				lim.timeout_ms = (long)left;
			if (lim.connect_timeout_ms > left)
				lim.connect_timeout_ms = (long)left;
		}
		if (left <= 0 || hc_fetch_http(url, &lim, &data, &len, &e) != HC_OK) {
			log_fetch(b, url, what, false, false, e.message);
			if (got && !got->download_failed) {
				got->download_failed = true;
				snprintf(got->failure, sizeof(got->failure), "%s", e.message);
			}
			goto out;
		}
		if (hc_x509_load_mem(data, len, url, NULL, &bundle, &e) != HC_OK) {
			log_fetch(b, url, what, false, false, e.message);
			goto out;
		}
		if (cache && hc_file_write_atomic(cache, data, len, 0644, true, &e) != HC_OK) {
			b->fatal = e.rc;
			*b->err = e;
			hc_error_prefix(b->err, "--cache");
			goto out;
		}
	}
	if (pool_add_bundle(b->pool, &bundle, url, got ? &got->added : NULL, b->err) != HC_OK) {
		b->fatal = b->err->rc;
		goto out;
	}
	snprintf(msg, sizeof(msg), "%d certificate(s), %d CRL(s)", sk_X509_num(bundle.certs),
		 sk_X509_CRL_num(bundle.crls));
	log_fetch(b, url, what, true, from_cache, msg);
out:
	hc_x509_bundle_clear(&bundle);
	free(data);
	free(cache);
}

/* The http URLs of an AIA caIssuers or CRL distribution points extension. */
static void fetch_urls(struct build *b, X509 *cert, bool crl, struct fetch_outcome *got)
{
	if (!crl) {
		AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
		for (int i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia) && !b->fatal; i++) {
			ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
			if (OBJ_obj2nid(ad->method) == NID_ad_ca_issuers &&
			    ad->location->type == GEN_URI)
				fetch_into_pool(
					b, (const char *)ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier),
					false, got);
		}
		AUTHORITY_INFO_ACCESS_free(aia);
		return;
	}
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
	for (int i = 0; dps && i < sk_DIST_POINT_num(dps) && !b->fatal; i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		if (!dp->distpoint || dp->distpoint->type != 0)
			continue;
		for (int j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
			if (gn->type == GEN_URI)
				fetch_into_pool(b, (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
						true, got);
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
}

static void note_crl_skipped(struct build *b, const char *origin, const char *reason)
{
	hc_chain_result *r = b->res;
	for (size_t i = 0; i < r->crl_skipped_count; i++)
		if (strcmp(r->crl_skipped[i].origin, origin) == 0)
			return;
	if (add_skipped(&r->crl_skipped, &r->crl_skipped_count, origin, reason, b->err) != HC_OK)
		b->fatal = HC_IO;
}

static long crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	long v = n ? ASN1_INTEGER_get(n) : -1;
	ASN1_INTEGER_free(n);
	return v;
}

/*
 * Is pool CRL i one of `issuer`'s, signed by its key? A CRL of the same name
 * under another key is not this issuer's (no complaint); a bad signature is
 * noted when `note`.
 */
static bool crl_of_issuer(struct build *b, size_t i, X509 *issuer, bool note)
{
	X509_CRL *crl = b->pool->crls[i].crl;
	EVP_PKEY *key = X509_get0_pubkey(issuer);
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(issuer);
	AUTHORITY_KEYID *akid;
	bool other_key;

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0)
		return false;
	akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	other_key = akid && akid->keyid && skid && ASN1_OCTET_STRING_cmp(akid->keyid, skid) != 0;
	AUTHORITY_KEYID_free(akid);
	if (other_key)
		return false;
	if (!key || X509_CRL_verify(crl, key) != 1) {
		ERR_clear_error();
		if (note)
			note_crl_skipped(b, b->pool->crls[i].origin,
					 "the signature does not verify with its issuer's key");
		return false;
	}
	return true;
}

/* The newest usable CRL of `issuer` in the pool; unusable ones are noted. */
static X509_CRL *best_crl(struct build *b, X509 *issuer, const char **origin)
{
	X509_CRL *best = NULL;
	char t[21], why[128];

	for (size_t i = 0; i < b->pool->ncrls; i++) {
		X509_CRL *crl = b->pool->crls[i].crl;
		const char *from = b->pool->crls[i].origin;

		if (!crl_of_issuer(b, i, issuer, true))
			continue;
		if (!crl_current(crl, b->at)) {
			const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
			if (X509_cmp_time(X509_CRL_get0_lastUpdate(crl), &b->at) > 0)
				snprintf(why, sizeof(why), "not yet valid (thisUpdate in the future)");
			else if (!next)
				snprintf(why, sizeof(why), "no nextUpdate");
			else {
				hc_time_iso8601(hc_asn1_time_to_time(next), t);
				snprintf(why, sizeof(why), "stale: nextUpdate %s has passed", t);
			}
			note_crl_skipped(b, from, why);
			continue;
		}
		if (!best || crl_number(crl) > crl_number(best) ||
		    (crl_number(crl) == crl_number(best) &&
		     ASN1_TIME_compare(X509_CRL_get0_lastUpdate(crl),
				       X509_CRL_get0_lastUpdate(best)) > 0)) {
			best = crl;
			*origin = from;
		}
	}
	return best;
}

/* CRLReason of a CRL entry, -1 when it has none. */
static long entry_reason(X509_REVOKED *entry)
{
	ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
	long v = reason ? ASN1_ENUMERATED_get(reason) : -1;

	ASN1_ENUMERATED_free(reason);
	return v;
}

/*
 * Revocation is permanent (RFC 5280 3.3): a CRL of `issuer` whose signature
 * verifies but that is stale (or otherwise not current) still proves a
 * revocation it lists, when the revocation date is not after the time of
 * the check. certificateHold (6) is not permanent and removeFromCRL (8)
 * undoes a hold: neither counts from a CRL that is not current.
 */
static X509_CRL *crl_listing_permanently(struct build *b, X509 *issuer, X509 *cert,
					 X509_REVOKED **entry, const char **origin)
{
	for (size_t i = 0; i < b->pool->ncrls; i++) {
		X509_CRL *crl = b->pool->crls[i].crl;
		X509_REVOKED *e = NULL;
		long reason;

		if (!crl_of_issuer(b, i, issuer, false) || X509_CRL_get0_by_cert(crl, &e, cert) != 1)
			continue;
		reason = entry_reason(e);
		if (reason == 6 || reason == 8 ||
		    X509_cmp_time(X509_REVOKED_get0_revocationDate(e), &b->at) > 0)
			continue;
		*entry = e;
		*origin = b->pool->crls[i].origin;
		return crl;
	}
	return NULL;
}

/* Take a CRL off the "not used" list: it decided a revocation after all. */
static void unnote_crl_skipped(struct build *b, const char *origin)
{
	hc_chain_result *r = b->res;

	for (size_t i = 0; i < r->crl_skipped_count; i++) {
		if (strcmp(r->crl_skipped[i].origin, origin) != 0)
			continue;
		free(r->crl_skipped[i].origin);
		free(r->crl_skipped[i].reason);
		memmove(&r->crl_skipped[i], &r->crl_skipped[i + 1],
			(r->crl_skipped_count - i - 1) * sizeof(*r->crl_skipped));
		r->crl_skipped_count--;
		return;
	}
}

/*
 * RFC 5280 6.3, reduced to what a server's chain needs: the CA certificate
 * at path index `index` against a CRL/ARL of its issuer. False: revoked.
 */
static bool check_revocation(struct build *b, size_t index, X509 *issuer)
{
	X509 *cert = b->path[index];
	const char *origin = NULL;
	X509_CRL *crl, *listed_by = NULL;
	X509_REVOKED *entry = NULL;
	bool stale = false;
	long reason;
	char t[21];

	free(b->rev[index].note);
	free(b->rev[index].serial);
	free(b->rev[index].reason);
	memset(&b->rev[index], 0, sizeof(b->rev[index]));
	if (!((X509_get_extension_flags(cert) & EXFLAG_CA) && (X509_get_extension_flags(cert) & EXFLAG_BCONS)))
		return true;
	crl = best_crl(b, issuer, &origin);
	if (!crl && b->opt->fetch) {
		fetch_urls(b, cert, true, NULL);
		crl = best_crl(b, issuer, &origin);
	}
	if (crl && X509_CRL_get0_by_cert(crl, &entry, cert) == 1) {
		listed_by = crl;
	} else if ((listed_by = crl_listing_permanently(b, issuer, cert, &entry, &origin))) {
		stale = !crl_current(listed_by, b->at);
		if (stale)
			unnote_crl_skipped(b, origin);
	}
	if (!listed_by) {
		b->rev[index].state = crl ? HC_REV_GOOD : HC_REV_UNKNOWN;
		b->rev[index].crl_origin = crl ? origin : NULL;
		return true;
	}
	b->rev[index].crl_origin = origin;
	b->rev[index].state = HC_REV_REVOKED;
	b->rev[index].when = hc_asn1_time_to_time(X509_REVOKED_get0_revocationDate(entry));
	reason = entry_reason(entry);
	b->rev[index].reason = strdup(reason >= 0 ? crl_reason_name(reason) : "unspecified");
	b->rev[index].serial = serial_of(cert);
	hc_time_iso8601(b->rev[index].when, t);
	b->rev[index].note = format("serial %s revoked on %s (%s) by %s%s", b->rev[index].serial,
				    t, b->rev[index].reason ? b->rev[index].reason : "?", origin,
				    stale ? " (a CRL that is not current: revocation is permanent)" : "");
	return false;
}

static void link_clear(hc_chain_link *l)
{
	X509_free(l->cert);
	free(l->origin);
	free(l->why);
	free(l->crl_origin);
	free(l->revocation_note);
	free(l->revoked_serial);
	free(l->revoked_reason);
	memset(l, 0, sizeof(*l));
}

/* Copy the path as it stands into the result (a success, or the failing branch). */
static void keep_path(struct build *b)
{
	hc_chain_result *r = b->res;

	for (size_t i = 0; i < r->link_count; i++)
		link_clear(&r->links[i]);
	free(r->links);
	r->link_count = 0;
	if (!(r->links = calloc(b->depth + 4, sizeof(*r->links)))) {
		b->fatal = hc_fail(b->err, HC_IO, "out of memory");
		return;
	}
	for (size_t i = 0; i < b->depth; i++) {
		hc_chain_link *l = &r->links[i];
		X509_up_ref(b->path[i]);
		l->cert = b->path[i];
		l->origin = strdup(b->origin[i]);
		l->role = i == 0 ? HC_LINK_TARGET
			  : (b->anchored && i == b->depth - 1) ? HC_LINK_ROOT
							       : HC_LINK_INTERMEDIATE;
		l->revocation = b->rev[i].state;
		l->crl_origin = b->rev[i].crl_origin ? strdup(b->rev[i].crl_origin) : NULL;
		if (b->rev[i].note)
			l->revocation_note = strdup(b->rev[i].note);
		if (b->rev[i].serial)
			l->revoked_serial = strdup(b->rev[i].serial);
		if (b->rev[i].reason)
			l->revoked_reason = strdup(b->rev[i].reason);
		l->revoked_at = b->rev[i].when;
		r->link_count++;
	}
}

/* Failure text for a certificate none of whose candidate issuers worked. */
static char *describe_missing(struct build *b, X509 *child, size_t n, const char *first_origin,
			      const char *first_reason, const char *download_failure)
{
	char *who = subject_of(child);
	char *issuer = hc_x509_name_text(X509_get_issuer_name(child));
	char *msg;

	if (n == 0 && download_failure)
		msg = format("no issuer for %s: %s is not among the intermediates or the roots, "
			     "and downloading it failed: %s",
			     who, issuer ? issuer : "?", download_failure);
	else if (n == 0)
		msg = format("no issuer for %s: %s is not among the intermediates or the roots%s",
			     who, issuer ? issuer : "?",
			     b->opt->fetch || !b->opt->missing_issuer_hint ? ""
									   : b->opt->missing_issuer_hint);
	else if (download_failure)
		msg = format("no usable issuer for %s: %s (%s) %s; downloading another failed: %s",
			     who, issuer ? issuer : "?", first_origin, first_reason,
			     download_failure);
	else
		msg = format("no usable issuer for %s: %s (%s) %s", who, issuer ? issuer : "?",
			     first_origin, first_reason);
	free(who);
	free(issuer);
	return msg;
}

/* Depth-first: extend the path from its last certificate until a trust anchor. */
static bool extend(struct build *b)
{
	X509 *child = b->path[b->depth - 1];
	size_t index = b->depth - 1;
	struct candidate *c = NULL;
	size_t n = 0;
	const char *first_origin = "";
	char why[256], first_reason[256] = "";
	struct fetch_outcome got = {0};
	bool fetched = false, done = false;

	if (b->depth >= MAX_DEPTH) {
		set_failure(b, format("the path is longer than %d certificates", MAX_DEPTH));
		keep_path(b);
		return false;
	}
again:
	free(c);
	if (!collect(b, X509_get_issuer_name(child), &c, &n)) {
		b->fatal = hc_fail(b->err, HC_IO, "out of memory");
		return false;
	}
	if (n > 1)
		qsort(c, n, sizeof(*c), candidate_order);
	for (size_t i = 0; i < n && !done && !b->fatal && !b->stop; i++) {
		const char *dead = dead_end_reason(b, c[i].cert);
		if (dead) {
			if (!first_reason[0]) {
				snprintf(first_reason, sizeof(first_reason), "%s", dead);
				first_origin = c[i].origin;
			}
			continue;
		}
		if (!can_issue(b, index, child, c[i].cert, c[i].anchor, why, sizeof(why))) {
			if (!first_reason[0]) {
				snprintf(first_reason, sizeof(first_reason), "%s", why);
				first_origin = c[i].origin;
			}
			continue;
		}
		b->path[b->depth] = c[i].cert;
		b->origin[b->depth] = c[i].origin;
		b->depth++;
		if (!check_revocation(b, index, c[i].cert)) {
			char *who = subject_of(child);
			b->anchored = false;
			b->depth--;
			set_failure(b, format("%s is revoked: %s", who, b->rev[index].note));
			free(who);
			b->res->revoked = true;
			b->stop = true;
			keep_path(b);
			break;
		}
		if (c[i].anchor) {
			b->anchored = true;
			done = true;
			break;
		}
		if (X509_get_extension_flags(c[i].cert) & EXFLAG_SS) {
			char *who = subject_of(c[i].cert);
			char *msg = format("%s (%s) is self-signed but not among the roots", who,
					   c[i].origin);
			note_dead_end(b, c[i].cert, "self-signed, not among the roots");
			b->depth--;
			if (!b->failure)
				keep_path(b);
			set_failure(b, msg);
			free(who);
			continue;
		}
		if (extend(b)) {
			done = true;
			break;
		}
		b->depth--;
		note_dead_end(b, c[i].cert, "leads to no trusted root");
	}
	if (!done && !fetched && b->opt->fetch && !b->fatal && !b->stop) {
		fetched = true;
		fetch_urls(b, child, false, &got);
		if (got.added)
			goto again;
	}
	if (!done && !b->fatal && !b->stop && !b->failure) {
		keep_path(b);
		set_failure(b, describe_missing(b, child, n, first_origin, first_reason,
						got.download_failed ? got.failure : NULL));
		/* The issuer's download was needed and failed: I/O, not a verdict on the files. */
		b->res->download_failed = got.download_failed;
	}
	free(c);
	return done;
}

/* ---- the report ---------------------------------------------------- */

static hc_rc add_candidate(hc_chain_result *r, X509 *cert, const char *origin, X509 *issued,
			   hc_chain_verdict verdict, const char *reason, hc_error *err)
{
	hc_chain_candidate *bigger = realloc(r->candidates, (r->candidate_count + 1) * sizeof(*bigger));
	hc_chain_candidate *c;

	if (!bigger)
		return hc_fail(err, HC_IO, "out of memory");
	r->candidates = bigger;
	c = &bigger[r->candidate_count];
	c->cert = cert;
	X509_up_ref(cert);
	c->origin = strdup(origin);
	c->issued = subject_of(issued);
	c->verdict = verdict;
	c->reason = strdup(reason);
	r->candidate_count++;
	if (!c->origin || !c->issued || !c->reason)
		return hc_fail(err, HC_IO, "out of memory");
	return HC_OK;
}

static hc_rc add_root(hc_chain_result *r, X509 *cert, const char *subject, const char *via,
		      bool trusted, hc_error *err)
{
	hc_chain_root *bigger = realloc(r->roots, (r->root_count + 1) * sizeof(*bigger));

	if (!bigger)
		return hc_fail(err, HC_IO, "out of memory");
	r->roots = bigger;
	if (cert)
		X509_up_ref(cert);
	bigger[r->root_count++] = (hc_chain_root){cert, strdup(subject), strdup(via), trusted};
	return HC_OK;
}

/* Cross certificates found for the path's root, with what became of them. */
struct cross {
	X509 *cert;
	const char *origin;
	hc_chain_verdict verdict;
	char reason[320];
};

/*
 * A cross certificate for root R: R's subject and key, another issuer, a
 * usable CA now. One per issuer (the latest notBefore); the others are
 * superseded.
 */
static hc_rc find_crosses(struct build *b, X509 *root, struct cross **out, size_t *count)
{
	struct candidate *c = NULL;
	struct cross *x = NULL;
	size_t n = 0, nx = 0;
	char why[256];

	*out = NULL;
	*count = 0;
	if (!collect(b, X509_get_subject_name(root), &c, &n))
		return hc_fail(b->err, HC_IO, "out of memory");
	if (n > 1)
		qsort(c, n, sizeof(*c), candidate_order);
	if (n && !(x = calloc(n, sizeof(*x)))) {
		free(c);
		return hc_fail(b->err, HC_IO, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		X509 *cert = c[i].cert;
		uint32_t flags = X509_get_extension_flags(cert);
		struct cross *same_issuer = NULL;
		bool is_ca;

		if (c[i].anchor || X509_cmp(cert, root) == 0 || self_issued(cert) ||
		    !same_key(cert, root) || on_path(b, cert))
			continue;
		for (size_t j = 0; j < nx; j++)
			if (x[j].verdict == HC_CAND_CROSS &&
			    X509_NAME_cmp(X509_get_issuer_name(x[j].cert),
					  X509_get_issuer_name(cert)) == 0)
				same_issuer = &x[j];
		x[nx].cert = cert;
		x[nx].origin = c[i].origin;
		is_ca = (flags & EXFLAG_BCONS) && (flags & EXFLAG_CA);
		if (!is_ca)
			snprintf(why, sizeof(why), "not a CA certificate");
		if (!is_ca || !valid_at(cert, b->at, why, sizeof(why))) {
			x[nx].verdict = HC_CAND_REJECTED;
			snprintf(x[nx].reason, sizeof(x[nx].reason), "cross certificate for the root: %s",
				 why);
		} else if (same_issuer) {
			char *s = serial_of(same_issuer->cert);
			x[nx].verdict = HC_CAND_SUPERSEDED;
			snprintf(x[nx].reason, sizeof(x[nx].reason),
				 "cross certificate superseded by serial %s (later notBefore)", s);
			free(s);
		} else {
			char *issuer = hc_x509_name_text(X509_get_issuer_name(cert));
			x[nx].verdict = b->opt->no_cross ? HC_CAND_CROSS_LEFT_OUT : HC_CAND_CROSS;
			snprintf(x[nx].reason, sizeof(x[nx].reason),
				 "cross certificate for the root, issued by %s: %s", issuer ? issuer : "?",
				 b->opt->no_cross ? "left out (--no-cross)"
						  : "served, for clients that trust only that root");
			free(issuer);
		}
		nx++;
	}
	free(c);
	*out = x;
	*count = nx;
	return HC_OK;
}

/* The root a cross certificate leads to, from the trust store; with its revocation. */
static hc_rc cross_root(struct build *b, struct cross *x, hc_chain_link *link)
{
	struct candidate *c = NULL;
	size_t n = 0;
	char why[256];
	char *issuer = hc_x509_name_text(X509_get_issuer_name(x->cert));
	hc_rc rc = HC_OK;
	bool found = false;

	if (!collect(b, X509_get_issuer_name(x->cert), &c, &n)) {
		free(issuer);
		return hc_fail(b->err, HC_IO, "out of memory");
	}
	for (size_t i = 0; i < n && !found; i++) {
		if (!c[i].anchor || !can_issue(b, b->depth, x->cert, c[i].cert, true, why, sizeof(why)))
			continue;
		found = true;
		if (b->depth >= MAX_DEPTH) {
			rc = add_root(b->res, c[i].cert, issuer ? issuer : "?", "cross certificate",
				      true, b->err);
			break;
		}
		/* Its revocation against the other root's ARL, when there is one. */
		b->path[b->depth] = x->cert;
		b->origin[b->depth] = x->origin;
		b->depth++;
		if (!check_revocation(b, b->depth - 1, c[i].cert)) {
			link->revocation = HC_REV_REVOKED;
			link->revocation_note = strdup(b->rev[b->depth - 1].note);
			link->revoked_serial = strdup(b->rev[b->depth - 1].serial);
			link->revoked_reason = strdup(b->rev[b->depth - 1].reason);
			link->revoked_at = b->rev[b->depth - 1].when;
		} else {
			link->revocation = b->rev[b->depth - 1].state;
		}
		if (b->rev[b->depth - 1].crl_origin)
			link->crl_origin = strdup(b->rev[b->depth - 1].crl_origin);
		b->depth--;
		rc = add_root(b->res, c[i].cert, issuer ? issuer : "?", "cross certificate", true,
			      b->err);
	}
	if (!found && rc == HC_OK)
		rc = add_root(b->res, NULL, issuer ? issuer : "?", "cross certificate", false,
			      b->err);
	free(c);
	free(issuer);
	return rc;
}

static char *why_chosen(struct build *b, size_t i, size_t superseded)
{
	hc_chain_link *l = &b->res->links[i];
	char t[21];
	char *child = subject_of(b->res->links[i ? i - 1 : 0].cert);
	char *s;

	hc_time_iso8601(b->at, t);
	if (l->role == HC_LINK_TARGET)
		s = strdup("the certificate to chain");
	else if (l->role == HC_LINK_ROOT)
		s = format("trust anchor that issued %s (name, key identifier and signature match)",
			   child);
	else
		s = format("issuer of %s: name, key identifier and signature match; a CA with "
			   "keyCertSign, valid at %s%s",
			   child, t,
			   superseded ? "; the latest notBefore among certificates of this subject "
					"and key"
				      : "");
	free(child);
	return s;
}

/* Every candidate for every link: chosen, superseded, cross, alternative, rejected. */
static hc_rc report(struct build *b, struct cross *x, size_t nx)
{
	hc_chain_result *r = b->res;
	char why[256];
	hc_rc rc = HC_OK;

	/* The search may have moved on from the kept path: evaluate against the kept one. */
	for (size_t i = 0; i < r->link_count && i < MAX_DEPTH; i++)
		b->path[i] = r->links[i].cert;
	for (size_t i = 0; i < r->link_count && rc == HC_OK; i++) {
		hc_chain_link *l = &r->links[i];
		bool has_next = i + 1 < r->link_count && r->links[i + 1].role != HC_LINK_CROSS;
		X509 *chosen = has_next ? r->links[i + 1].cert : NULL;
		struct candidate *c = NULL;
		size_t n = 0, superseded = 0;

		if (l->role == HC_LINK_ROOT || l->role == HC_LINK_CROSS || (r->verified && !chosen))
			break;
		/* Evaluate as the path stood when this link's issuer was chosen. */
		b->depth = i + 1;
		if (!collect(b, X509_get_issuer_name(l->cert), &c, &n))
			return hc_fail(b->err, HC_IO, "out of memory");
		if (n > 1)
			qsort(c, n, sizeof(*c), candidate_order);
		for (size_t k = 0; k < n && rc == HC_OK; k++) {
			X509 *cert = c[k].cert;
			const char *dead = dead_end_reason(b, cert);
			bool is_cross = false;
			char *s;

			for (size_t j = 0; j < nx; j++)
				is_cross |= X509_cmp(x[j].cert, cert) == 0;
			if (is_cross)
				continue; /* reported below */
			if (chosen && X509_cmp(cert, chosen) == 0) {
				rc = add_candidate(r, cert, c[k].origin, l->cert, HC_CAND_CHOSEN,
						   c[k].anchor ? "trust anchor" : "issuer on the path",
						   b->err);
			} else if (!can_issue(b, i, l->cert, cert, c[k].anchor, why, sizeof(why))) {
				rc = add_candidate(r, cert, c[k].origin, l->cert, HC_CAND_REJECTED,
						   why, b->err);
			} else if (chosen && !c[k].anchor && same_key(cert, chosen) &&
				   X509_NAME_cmp(X509_get_issuer_name(cert),
						 X509_get_issuer_name(chosen)) == 0 &&
				   ASN1_TIME_compare(X509_get0_notBefore(cert),
						     X509_get0_notBefore(chosen)) <= 0) {
				char *serial = serial_of(chosen);
				s = format("superseded by serial %s (same subject and key, later "
					   "notBefore)",
					   serial);
				superseded++;
				rc = add_candidate(r, cert, c[k].origin, l->cert, HC_CAND_SUPERSEDED,
						   s ? s : "superseded", b->err);
				free(serial);
				free(s);
			} else if (dead || (!c[k].anchor &&
					    (X509_get_extension_flags(cert) & EXFLAG_SS))) {
				rc = add_candidate(r, cert, c[k].origin, l->cert, HC_CAND_REJECTED,
						   dead ? dead : "self-signed, not among the roots",
						   b->err);
			} else {
				rc = add_candidate(r, cert, c[k].origin, l->cert,
						   chosen ? HC_CAND_ALTERNATIVE : HC_CAND_REJECTED,
						   chosen	  ? "usable, but another candidate was preferred"
						   : r->revoked ? "its issuer, but it is revoked"
								: "usable, but the path above it failed",
						   b->err);
			}
		}
		free(c);
		if (chosen && rc == HC_OK && !(r->links[i + 1].why = why_chosen(b, i + 1, superseded)))
			rc = hc_fail(b->err, HC_IO, "out of memory");
	}
	if (rc == HC_OK && r->link_count && !(r->links[0].why = why_chosen(b, 0, 0)))
		rc = hc_fail(b->err, HC_IO, "out of memory");
	for (size_t j = 0; j < nx && rc == HC_OK; j++)
		rc = add_candidate(r, x[j].cert, x[j].origin, r->links[r->link_count - 1].cert,
				   x[j].verdict, x[j].reason, b->err);
	return rc;
}

/* The root(s) reached and the cross certificates served beside the path. */
static hc_rc finish_success(struct build *b, struct cross **xout, size_t *nxout)
{
	hc_chain_result *r = b->res;
	hc_chain_link *root = &r->links[r->link_count - 1];
	char *subject = subject_of(root->cert);
	struct cross *x = NULL;
	size_t nx = 0, served = 0;
	hc_rc rc;

	root->role = r->link_count == 1 ? HC_LINK_TARGET : HC_LINK_ROOT;
	rc = add_root(r, root->cert, subject, "path", true, b->err);
	free(subject);
	if (rc == HC_OK)
		rc = find_crosses(b, root->cert, &x, &nx);
	for (size_t j = 0; j < nx && rc == HC_OK; j++)
		served += x[j].verdict == HC_CAND_CROSS || x[j].verdict == HC_CAND_CROSS_LEFT_OUT;
	if (rc == HC_OK && served) {
		hc_chain_link *bigger = realloc(r->links, (r->link_count + served) * sizeof(*bigger));
		if (!bigger)
			rc = hc_fail(b->err, HC_IO, "out of memory");
		else
			r->links = bigger;
	}
	b->depth = r->link_count;
	for (size_t j = 0; j < nx && rc == HC_OK; j++) {
		hc_chain_link link = {0};
		if (x[j].verdict != HC_CAND_CROSS && x[j].verdict != HC_CAND_CROSS_LEFT_OUT)
			continue;
		rc = cross_root(b, &x[j], &link);
		if (link.revocation == HC_REV_REVOKED && x[j].verdict == HC_CAND_CROSS) {
			x[j].verdict = HC_CAND_REJECTED;
			snprintf(x[j].reason, sizeof(x[j].reason), "cross certificate revoked: %s",
				 link.revocation_note ? link.revocation_note : "");
		}
		if (x[j].verdict != HC_CAND_CROSS) {
			link_clear(&link);
			continue;
		}
		X509_up_ref(x[j].cert);
		link.cert = x[j].cert;
		link.origin = strdup(x[j].origin);
		link.role = HC_LINK_CROSS;
		link.why = strdup(x[j].reason);
		r->links[r->link_count++] = link;
	}
	*xout = x;
	*nxout = nx;
	return rc;
}

hc_rc hc_chain_build(X509 *target, hc_chain_pool *pool, hc_chain_pool *roots,
		     const hc_chain_options *opt, hc_chain_result *result, hc_error *err)
{
	static const hc_chain_options defaults = {0};
	struct build b = {0};
	struct cross *x = NULL;
	size_t nx = 0;
	char why[256];
	hc_rc rc = HC_OK;
	bool target_anchor, found = false;

	memset(result, 0, sizeof(*result));
	if (opt && opt->fetch && opt->cache_dir && mkdir(opt->cache_dir, 0755) != 0 &&
	    errno != EEXIST)
		return hc_fail(err, HC_IO, "--cache %s: %s", opt->cache_dir, strerror(errno));
	b.pool = pool;
	b.roots = roots;
	b.opt = opt ? opt : &defaults;
	b.at = b.opt->at ? b.opt->at : time(NULL);
	b.fetch_deadline_ms = monotonic_ms() + (b.opt->total_timeout_ms
							? b.opt->total_timeout_ms
							: HC_CHAIN_FETCH_TOTAL_TIMEOUT_MS);
	b.res = result;
	b.err = err;
	result->at = b.at;
	b.path[0] = target;
	b.origin[0] = b.opt->target_origin ? b.opt->target_origin : "--cert";
	b.depth = 1;

	/* An expired or not yet valid certificate makes no chain worth serving. */
	X509_check_purpose(target, -1, 0);
	target_anchor = pool_contains(roots, target);
	if (!valid_at(target, b.at, why, sizeof(why))) {
		char *who = subject_of(target);
		keep_path(&b);
		set_failure(&b, format("%s itself: %s", who, why));
		free(who);
	} else if (target_anchor) {
		b.anchored = found = true;
		keep_path(&b);
	} else if (extend(&b)) {
		/* Failures met on branches given up along the way do not count. */
		found = true;
		keep_path(&b);
	}
	if (b.fatal) {
		rc = b.fatal;
		goto out;
	}
	if (found && b.anchored) {
		result->verified = true;
		result->download_failed = false; /* a branch given up along the way */
		if ((rc = finish_success(&b, &x, &nx)) != HC_OK)
			goto out;
	}
	if ((rc = report(&b, x, nx)) != HC_OK)
		goto out;
	if (!result->verified) {
		result->failure = b.failure ? b.failure : strdup("no path to a trusted root");
		b.failure = NULL;
	}
	rc = result->verified ? HC_OK : HC_CHECK;
out:
	free(b.failure);
	for (size_t i = 0; i < MAX_DEPTH; i++) {
		free(b.rev[i].note);
		free(b.rev[i].serial);
		free(b.rev[i].reason);
	}
	for (size_t i = 0; i < b.ndead; i++)
		free(b.dead[i].reason);
	for (size_t i = 0; i < b.nfetched; i++)
		free(b.fetched[i]);
	free(b.dead);
	free(b.fetched);
	free(x);
	return rc;
}

void hc_chain_result_clear(hc_chain_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->link_count; i++)
		link_clear(&r->links[i]);
	for (size_t i = 0; i < r->candidate_count; i++) {
		X509_free(r->candidates[i].cert);
		free(r->candidates[i].origin);
		free(r->candidates[i].issued);
		free(r->candidates[i].reason);
	}
	for (size_t i = 0; i < r->root_count; i++) {
		X509_free(r->roots[i].cert);
		free(r->roots[i].subject);
		free(r->roots[i].via);
	}
	for (size_t i = 0; i < r->crl_skipped_count; i++) {
		free(r->crl_skipped[i].origin);
		free(r->crl_skipped[i].reason);
	}
	for (size_t i = 0; i < r->fetch_count; i++) {
		free(r->fetches[i].url);
		free(r->fetches[i].what);
		free(r->fetches[i].message);
	}
	free(r->links);
	free(r->candidates);
	free(r->roots);
	free(r->crl_skipped);
	free(r->fetches);
	free(r->failure);
	memset(r, 0, sizeof(*r));
}

/* ---- output -------------------------------------------------------- */

STACK_OF(X509) *hc_chain_served(const hc_chain_result *r, bool include_root)
{
	STACK_OF(X509) *out = sk_X509_new_null();

	for (size_t i = 0; out && i < r->link_count; i++) {
		if (r->links[i].role == HC_LINK_ROOT && !include_root)
			continue;
		/* The root goes last, after the cross certificates. */
		if (r->links[i].role == HC_LINK_ROOT)
			continue;
		if (!X509_up_ref(r->links[i].cert) || !sk_X509_push(out, r->links[i].cert)) {
			sk_X509_pop_free(out, X509_free);
			return NULL;
		}
	}
	for (size_t i = 0; out && include_root && i < r->link_count; i++) {
		if (r->links[i].role != HC_LINK_ROOT)
			continue;
		if (!X509_up_ref(r->links[i].cert) || !sk_X509_push(out, r->links[i].cert)) {
			sk_X509_pop_free(out, X509_free);
			return NULL;
		}
	}
	return out;
}

hc_rc hc_chain_encode(STACK_OF(X509) *certs, bool p7b, unsigned char **data, size_t *len,
		      hc_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	PKCS7 *p7 = NULL;
	BUF_MEM *mem;
	hc_rc rc = HC_OK;

	*data = NULL;
	*len = 0;
	if (!bio)
		return hc_fail(err, HC_IO, "out of memory");
	if (p7b) {
		/* A certs-only SignedData, as `openssl crl2pkcs7 -nocrl` and Windows write. */
		if (!(p7 = PKCS7_new()) || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
		    !PKCS7_content_new(p7, NID_pkcs7_data)) {
			rc = hc_fail_ssl(err, HC_IO, "building the PKCS#7 bundle");
			goto out;
		}
		for (int i = 0; i < sk_X509_num(certs); i++)
			if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i))) {
				rc = hc_fail_ssl(err, HC_IO, "building the PKCS#7 bundle");
				goto out;
			}
		if (i2d_PKCS7_bio(bio, p7) != 1) {
			rc = hc_fail_ssl(err, HC_IO, "encoding the PKCS#7 bundle");
			goto out;
		}
	} else {
		for (int i = 0; i < sk_X509_num(certs); i++)
			if (!PEM_write_bio_X509(bio, sk_X509_value(certs, i))) {
				rc = hc_fail_ssl(err, HC_IO, "encoding PEM");
				goto out;
			}
	}
	BIO_get_mem_ptr(bio, &mem);
	if (!(*data = malloc(mem->length ? mem->length : 1))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	memcpy(*data, mem->data, mem->length);
	*len = mem->length;
out:
	PKCS7_free(p7);
	BIO_free(bio);
	return rc;
}
