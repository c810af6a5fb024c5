/*
 * Chain building through the public hc_chain_* API (src/chain/), on the
 * shared test PKI of scripts/testpki.sh: the pool, the choice among
 * candidates (a superseded Sub CA, an expired one), cross certificates,
 * revocation and the served chain. A failure here names the rule, not a
 * command line.
 */
#include "support.h"

#include "hsmcert/chain.h"
#include "hsmcert/x509.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void setup(void)
{
	ts_setup_empty();
	ts_use_testpki();
}

TestSuite(chain_build, .init = setup, .fini = ts_teardown);

/* A file of the test PKI. */
static const char *pki(const char *name)
{
	static char path[4][1024];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", getenv("PKI"), name);
	return p;
}

static X509 *load_cert(const char *name)
{
	FILE *f = fopen(pki(name), "r");
	X509 *x;

	cr_assert_not_null(f, "%s", pki(name));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert_not_null(x, "%s is not a PEM certificate", name);
	return x;
}

static hc_chain_pool *pool_of(const char *path)
{
	hc_chain_pool *pool = NULL;
	hc_error err = {0};

	cr_assert_eq(hc_chain_pool_new(&pool, &err), HC_OK, "%s", err.message);
	if (path)
		cr_assert_eq(hc_chain_pool_add_path(pool, pki(path), &err), HC_OK, "%s: %s", path,
			     err.message);
	return pool;
}

struct built {
	hc_chain_pool *pool, *roots;
	hc_chain_result result;
	hc_rc rc;
	hc_error err;
};

/* Build `leaf` with the downloads folder as the pool and `roots` as trust anchors. */
static void build(struct built *b, const char *leaf, const char *roots, bool no_cross)
{
	X509 *target = load_cert(leaf);
	hc_chain_options opt = {.no_cross = no_cross, .target_origin = leaf};

	memset(b, 0, sizeof(*b));
	b->pool = pool_of("downloads");
	b->roots = pool_of(roots);
	b->rc = hc_chain_build(target, b->pool, b->roots, &opt, &b->result, &b->err);
	X509_free(target);
}

static void built_free(struct built *b)
{
	hc_chain_result_clear(&b->result);
	hc_chain_pool_free(b->pool);
	hc_chain_pool_free(b->roots);
}

static char *serial(X509 *x)
{
	return hc_x509_integer_hex(X509_get0_serialNumber(x));
}

static const hc_chain_candidate *candidate(const hc_chain_result *r, hc_chain_verdict v)
{
	for (size_t i = 0; i < r->candidate_count; i++)
		if (r->candidates[i].verdict == v)
			return &r->candidates[i];
	return NULL;
}

static size_t links_with_role(const hc_chain_result *r, hc_chain_role role)
{
	size_t n = 0;

	for (size_t i = 0; i < r->link_count; i++)
		n += r->links[i].role == role;
	return n;
}

Test(chain_build, pool_reads_every_format_of_a_folder_and_keeps_duplicates_once)
{
	hc_chain_pool *pool = pool_of("downloads");
	X509 *sub = load_cert("sub.crt");
	hc_error err = {0};
	size_t certs = hc_chain_pool_cert_count(pool), skipped;

	/* sub.p7b, sub-old.pem, root3-cross.der, ev.cer, expired.pem, revoked.pem */
	cr_assert_eq(certs, 6);
	cr_assert_eq(hc_chain_pool_crl_count(pool), 2); /* root3.arl (DER), root1.arl (PEM) */
	hc_chain_pool_skipped(pool, &skipped);
	cr_assert_eq(skipped, 0);
	/* sub.crt is sub.p7b's certificate: adding it again changes nothing. */
	cr_assert_eq(hc_chain_pool_add_cert(pool, sub, "again", &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_chain_pool_cert_count(pool), certs);
	X509_free(sub);
	hc_chain_pool_free(pool);
}

Test(chain_build, pool_skips_garbage_in_a_folder_but_refuses_a_named_garbage_file)
{
	hc_chain_pool *pool = pool_of(NULL);
	const hc_chain_skipped *sk;
	hc_error err = {0};
	size_t n;

	cr_assert_eq(mkdir("dl", 0700), 0);
	ts_write("dl/readme.txt", "not a certificate\n");
	cr_assert_eq(system("cp \"$PKI/sub.crt\" dl/"), 0);
	cr_assert_eq(hc_chain_pool_add_path(pool, "dl", &err), HC_OK, "%s", err.message);
	cr_assert_eq(hc_chain_pool_cert_count(pool), 1);
	sk = hc_chain_pool_skipped(pool, &n);
	cr_assert_eq(n, 1);
	cr_assert(strstr(sk[0].origin, "readme.txt"), "%s", sk[0].origin);
	cr_assert(sk[0].reason && *sk[0].reason);

	cr_assert_eq(hc_chain_pool_add_path(pool, "dl/readme.txt", &err), HC_USAGE);
	cr_assert(strstr(err.message, "readme.txt"), "%s", err.message);
	hc_chain_pool_free(pool);
}

Test(chain_build, reissued_sub_ca_is_chosen_and_the_old_one_superseded)
{
	struct built b;
	const hc_chain_candidate *old;
	char *s;

	build(&b, "leaf.crt", "roots-new", false);
	cr_assert_eq(b.rc, HC_OK, "%s / %s", b.err.message, b.result.failure);
	cr_assert(b.result.verified);
	cr_assert_eq(b.result.links[0].role, HC_LINK_TARGET);
	cr_assert_eq(b.result.links[1].role, HC_LINK_INTERMEDIATE);
	s = serial(b.result.links[1].cert);
	cr_assert_str_eq(s, "3003"); /* the later notBefore */
	free(s);
	old = candidate(&b.result, HC_CAND_SUPERSEDED);
	cr_assert_not_null(old);
	s = serial(old->cert);
	cr_assert_str_eq(s, "3002");
	free(s);
	cr_assert(strstr(old->reason, "3003"), "%s", old->reason);
	built_free(&b);
}

Test(chain_build, cross_certificate_is_served_unless_left_out)
{
	struct built b;
	STACK_OF(X509) *served;

	build(&b, "leaf.crt", "roots-both", false);
	cr_assert_eq(b.rc, HC_OK, "%s", b.result.failure);
	cr_assert_eq(links_with_role(&b.result, HC_LINK_CROSS), 1);
	cr_assert_not_null(candidate(&b.result, HC_CAND_CROSS));
	cr_assert_eq(b.result.root_count, 2); /* Root CA 3, and the old root through the cross */
	/* Served: leaf, Sub CA, cross; the root only when asked. */
	served = hc_chain_served(&b.result, false);
	cr_assert_eq(sk_X509_num(served), 3);
	cr_assert_eq(X509_cmp(sk_X509_value(served, 0), b.result.links[0].cert), 0);
	sk_X509_pop_free(served, X509_free);
	served = hc_chain_served(&b.result, true);
	cr_assert_eq(sk_X509_num(served), 4);
	sk_X509_pop_free(served, X509_free);
	built_free(&b);

	build(&b, "leaf.crt", "roots-both", true);
	cr_assert_eq(b.rc, HC_OK, "%s", b.result.failure);
	cr_assert_eq(links_with_role(&b.result, HC_LINK_CROSS), 0);
	cr_assert_not_null(candidate(&b.result, HC_CAND_CROSS_LEFT_OUT));
	built_free(&b);
}

Test(chain_build, only_the_old_root_trusted_goes_through_the_cross_certificate)
{
	struct built b;
	char *subject;

	build(&b, "leaf.crt", "roots-old", false);
	cr_assert_eq(b.rc, HC_OK, "%s", b.result.failure);
	subject = hc_x509_name_text(
		X509_get_subject_name(b.result.links[b.result.link_count - 1].cert));
	/* The path ends at the old root, reached through the cross certificate. */
	cr_assert(strstr(subject, "Test Global Root CA"), "%s", subject);
	free(subject);
	built_free(&b);
}

Test(chain_build, expired_issuer_is_rejected_with_the_reason)
{
	struct built b;
	const hc_chain_candidate *rej;

	build(&b, "expired-leaf.crt", "roots-new", false);
	cr_assert_eq(b.rc, HC_CHECK);
	cr_assert_not(b.result.verified);
	cr_assert_not_null(b.result.failure);
	rej = candidate(&b.result, HC_CAND_REJECTED);
	cr_assert_not_null(rej);
	cr_assert(strstr(rej->reason, "expired"), "%s", rej->reason);
	built_free(&b);
}

Test(chain_build, revoked_issuer_fails_and_names_the_crl)
{
	struct built b;
	const hc_chain_link *sub = NULL;

	build(&b, "revoked-leaf.crt", "roots-new", false);
	cr_assert_eq(b.rc, HC_CHECK);
	cr_assert(b.result.revoked);
	for (size_t i = 0; i < b.result.link_count; i++)
		if (b.result.links[i].revocation == HC_REV_REVOKED)
			sub = &b.result.links[i];
	cr_assert_not_null(sub);
	cr_assert_str_eq(sub->revoked_serial, "3005");
	cr_assert_str_eq(sub->revoked_reason, "keyCompromise");
	cr_assert(strstr(sub->crl_origin, "root3.arl"), "%s", sub->crl_origin);
	built_free(&b);
}

Test(chain_build, no_issuer_anywhere_is_a_named_failure)
{
	struct built b;
	X509 *target = load_cert("leaf.crt");
	hc_chain_options opt = {0};

	memset(&b, 0, sizeof(b));
	b.pool = pool_of(NULL);
	b.roots = pool_of("roots-new");
	b.rc = hc_chain_build(target, b.pool, b.roots, &opt, &b.result, &b.err);
	X509_free(target);
	cr_assert_eq(b.rc, HC_CHECK);
	cr_assert_not(b.result.verified);
	cr_assert(strstr(b.result.failure, "Test Sub CA 1"), "%s", b.result.failure);
	cr_assert_not(b.result.download_failed);
	built_free(&b);
}
