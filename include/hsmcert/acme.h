/*
 * An ACME client (RFC 8555) whose keys never leave the token (SPEC: enroll,
 * renew): the account key signs every JWS inside the token, the
 * certificate's key signs the CSR inside the token. Transport is
 * hc_fetch_request (libcurl, TLS verified); JSON is jansson; base64url, JWK
 * thumbprints and HMAC are OpenSSL.
 *
 * The parsers of server answers are plain functions over bytes so that a
 * fuzzer can call them (tests/fuzz/fuzz_acme.c); they never trust a field
 * to be there or to have a type.
 */
#ifndef HSMCERT_ACME_H
#define HSMCERT_ACME_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "hsmcert/error.h"
#include "hsmcert/key.h"
#include "hsmcert/subject.h"

/* ---- base64url, JWK, JWS (RFC 7515, 7517, 7518, 7638) ---------------- */

/* Unpadded base64url. Caller frees; NULL when out of memory. */
char *hc_b64url_encode(const unsigned char *data, size_t len);
/* Strict: the URL-safe alphabet, no padding, no whitespace. HC_USAGE otherwise. */
hc_rc hc_b64url_decode(const char *text, unsigned char **out, size_t *len, hc_error *err);

/* Sign `data` for a JWS; *sig is OPENSSL_malloc'd (ECDSA as r||s). */
typedef hc_rc (*hc_acme_sign_fn)(void *ctx, const unsigned char *data, size_t len,
				 unsigned char **sig, size_t *sig_len, hc_error *err);

/* An account key: its public half, its JWS algorithm and who signs with it. */
typedef struct hc_acme_key {
	EVP_PKEY *pub; /* owned */
	char alg[8];   /* "ES256", "ES384", "RS256" */
	hc_acme_sign_fn sign;
	void *ctx;	 /* for sign */
	void *owned_ctx; /* freed by hc_acme_key_clear */
} hc_acme_key;

/*
 * The account key as a token key: ES256 for P-256, ES384 for P-384, RS256
 * for RSA; it signs through hc_sign_data_raw. `key` must outlive `out`.
 */
hc_rc hc_acme_key_from_token(hc_session *session, const hc_key_info *key, hc_acme_key *out,
			     hc_error *err);
void hc_acme_key_clear(hc_acme_key *key);

/* The public JWK with only the required members (RFC 7638 3.2). */
hc_rc hc_acme_jwk(const EVP_PKEY *pub, json_t **out, hc_error *err);
/* base64url(SHA-256(canonical JWK)): the thumbprint in key authorizations. Caller frees. */
hc_rc hc_acme_thumbprint(const EVP_PKEY *pub, char **out, hc_error *err);

/*
 * A flattened JWS (RFC 8555 6.2): protected header {alg, nonce, url, and
 * kid or (kid NULL) jwk}; payload the JSON text, or "" for POST-as-GET.
 * Serialised JSON; caller frees.
 */
hc_rc hc_acme_jws(const hc_acme_key *key, const char *kid, const char *nonce, const char *url,
		  const char *payload, char **out, hc_error *err);

/*
 * External Account Binding (RFC 8555 7.3.4): a JWS over the account's JWK
 * with alg HS256, kid the CA's key identifier, url the newAccount URL, MACed
 * with the CA's HMAC key.
 */
hc_rc hc_acme_eab(const char *kid, const unsigned char *hmac_key, size_t hmac_len, const char *url,
		  const EVP_PKEY *account_pub, json_t **out, hc_error *err);

/* ---- server answers (each a separate parser, fuzzed) ------------------ */

/* A problem document (RFC 7807, RFC 8555 6.7). */
typedef struct hc_acme_problem {
	char *type; /* "urn:ietf:params:acme:error:badNonce" */
	char *detail;
	long status;
	char *subproblems; /* "identifier: type: detail; ..." or NULL */
} hc_acme_problem;

/* HC_IO when the body is not a problem document (names what is wrong). */
hc_rc hc_acme_problem_parse(const char *body, size_t len, hc_acme_problem *out, hc_error *err);
void hc_acme_problem_clear(hc_acme_problem *p);
/* The type without "urn:ietf:params:acme:error:" ("badNonce"), or the whole type. */
const char *hc_acme_problem_short(const hc_acme_problem *p);

typedef struct hc_acme_directory {
	char *new_nonce, *new_account, *new_order, *revoke_cert, *key_change;
	char *terms_of_service, *website; /* meta, or NULL */
	bool eab_required;		  /* meta.externalAccountRequired */
} hc_acme_directory;

hc_rc hc_acme_directory_parse(const char *body, size_t len, hc_acme_directory *out, hc_error *err);
void hc_acme_directory_clear(hc_acme_directory *d);

typedef struct hc_acme_challenge {
	char *type, *url, *token, *status;
	hc_acme_problem error; /* error.type NULL when none */
} hc_acme_challenge;

typedef struct hc_acme_authz {
	char *status;
	char *id_type, *id_value;
	bool wildcard;
	hc_acme_challenge *challenges;
	size_t challenge_count;
} hc_acme_authz;

hc_rc hc_acme_challenge_parse(const char *body, size_t len, hc_acme_challenge *out, hc_error *err);
void hc_acme_challenge_clear(hc_acme_challenge *c);
hc_rc hc_acme_authz_parse(const char *body, size_t len, hc_acme_authz *out, hc_error *err);
void hc_acme_authz_clear(hc_acme_authz *a);

typedef struct hc_acme_order {
	char *status;
	char **authorizations;
	size_t authz_count;
	char *finalize, *certificate;
	hc_acme_problem error;
} hc_acme_order;

hc_rc hc_acme_order_parse(const char *body, size_t len, hc_acme_order *out, hc_error *err);
void hc_acme_order_clear(hc_acme_order *o);

/* The account's status ("valid", "deactivated", "revoked"). Caller frees. */
hc_rc hc_acme_account_parse(const char *body, size_t len, char **status, hc_error *err);

/*
 * Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date, as seconds
 * from `now`; -1 when absent or unparseable.
 */
long hc_acme_retry_after(const char *value, time_t now);

/*
 * Append to *urls the targets of a Link header value (RFC 8288) whose rel
 * is `rel` ("alternate", "up", "index"). Malformed parts are skipped.
 */
hc_rc hc_acme_link_parse(const char *value, const char *rel, char ***urls, size_t *count,
			 hc_error *err);
void hc_acme_strings_free(char **list, size_t count);

/* ---- http-01 (RFC 8555 8.3) ------------------------------------------- */

/* Where a key authorization is published while the CA validates it. */
typedef struct hc_acme_solver {
	hc_rc (*present)(void *ctx, const char *token, const char *key_authz, hc_error *err);
	void (*cleanup)(void *ctx, const char *token);
	void *ctx;
} hc_acme_solver;

/*
 * The built-in responder: listens on `port` (all addresses) from now until
 * hc_acme_responder_stop, answering GET /.well-known/acme-challenge/TOKEN
 * for the tokens presented, 404 otherwise. A port that cannot be bound is
 * HC_IO naming it (at start: before any key is made).
 */
typedef struct hc_acme_responder hc_acme_responder;
hc_rc hc_acme_responder_start(unsigned port, hc_acme_responder **out, hc_error *err);
hc_acme_solver hc_acme_responder_solver(hc_acme_responder *r);
void hc_acme_responder_stop(hc_acme_responder *r);

/*
 * Files under DIR/.well-known/acme-challenge/ for a running web server;
 * removed at cleanup, with the folders this run made. DIR must exist.
 */
typedef struct hc_acme_webroot hc_acme_webroot;
hc_rc hc_acme_webroot_open(const char *dir, hc_acme_webroot **out, hc_error *err);
hc_acme_solver hc_acme_webroot_solver(hc_acme_webroot *w);
void hc_acme_webroot_close(hc_acme_webroot *w);

/* ---- the client -------------------------------------------------------- */

typedef struct hc_acme_client hc_acme_client;

typedef struct hc_acme_client_params {
	const char *directory_url; /* https:// */
	const char *ca_file;	   /* TLS trust anchors for the server; NULL: system store */
	long poll_timeout_s;	   /* bound on each wait for the server; 0: 300 s */
} hc_acme_client_params;

/* Fetch the directory. The client keeps `key` by pointer. */
hc_rc hc_acme_client_new(const hc_acme_client_params *params, const hc_acme_key *key,
			 hc_acme_client **out, hc_error *err);
void hc_acme_client_free(hc_acme_client *c);
const hc_acme_directory *hc_acme_client_directory(const hc_acme_client *c);

typedef struct hc_acme_account_params {
	const char *const *contacts; /* "mailto:..."; NULL-terminated, may be NULL */
	bool agree_tos;
	const char *eab_kid;	       /* with eab_hmac: External Account Binding */
	const unsigned char *eab_hmac; /* the decoded HMAC key */
	size_t eab_hmac_len;
} hc_acme_account_params;

/*
 * The account of the client's key: found by the key (onlyReturnExisting),
 * else created (terms agreed, contacts, EAB). Terms the server publishes
 * and agree_tos false: HC_USAGE naming the terms' URL, nothing created.
 * *created tells which; the account URL is kept as the kid.
 */
hc_rc hc_acme_account(hc_acme_client *c, const hc_acme_account_params *params, bool *created,
		      hc_error *err);
const char *hc_acme_account_url(const hc_acme_client *c);

typedef struct hc_acme_issued {
	char *order_url;
	char *chain_pem; /* the default chain, as the server sent it */
	size_t chain_len;
	char **alternates; /* Link rel="alternate": other chains' URLs */
	size_t alternate_count;
	size_t challenges_solved; /* authorizations that needed a challenge */
} hc_acme_issued;

/*
 * A new order for `names` (DNS and IP identifiers), every pending
 * authorization solved by http-01 through `solver` (cleaned up on every
 * path), finalized with the DER CSR, and the certificate chain downloaded.
 * A problem document from the server is the error, naming its type, detail
 * and the failing challenge; waits are bounded (Retry-After honoured).
 */
hc_rc hc_acme_issue(hc_acme_client *c, const hc_altnames *names, const unsigned char *csr_der,
		    size_t csr_len, const hc_acme_solver *solver, hc_acme_issued *out,
		    hc_error *err);
/* Download another chain (an alternate's URL). Caller frees *pem. */
hc_rc hc_acme_download(hc_acme_client *c, const char *url, char **pem, size_t *len, hc_error *err);
void hc_acme_issued_clear(hc_acme_issued *issued);

#endif
