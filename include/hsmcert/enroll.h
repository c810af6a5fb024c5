/*
 * SPEC: enroll and renew — certificates from an ACME CA without hands, the
 * certificate's key and the account key both on the token.
 */
#ifndef HSMCERT_ENROLL_H
#define HSMCERT_ENROLL_H

#include <stdbool.h>
#include <time.h>

#include "hsmcert/acme.h"
#include "hsmcert/chain.h"
#include "hsmcert/csr.h"
#include "hsmcert/import.h"
#include "hsmcert/keygen.h"

/* The label of the account key made on first use. */
#define HC_ACME_ACCOUNT_LABEL "acme-account"

/* What every ACME run needs: the server, the account, where http-01 answers. */
typedef struct hc_acme_setup {
	hc_acme_client_params server;
	const char *
		account_key_uri; /* NULL: the key labelled HC_ACME_ACCOUNT_LABEL, made if missing */
	hc_acme_account_params account;
	unsigned http_port;	/* the built-in responder, when webroot is NULL */
	const char *webroot;	/* publish challenges as files under this folder */
	const char *roots_path; /* trust anchors for the issued chain; NULL: server.ca_file,
				   else the system store */
} hc_acme_setup;

/*
 * An open ACME run: the responder listening (or the web root checked), the
 * trust anchors loaded, the account key found or made (EC P-256, sensitive,
 * never extractable), the directory read and the account found by its key
 * or created. If the account cannot be had, an account key made here is
 * destroyed again.
 */
typedef struct hc_acme_session hc_acme_session;
hc_rc hc_acme_session_open(hc_session *session, const hc_acme_setup *setup, hc_acme_session **out,
			   hc_error *err);
void hc_acme_session_close(hc_acme_session *a);

typedef struct hc_acme_account_info {
	const hc_key_info *key;
	bool key_created;
	const char *url;
	bool created;
} hc_acme_account_info;
void hc_acme_session_account(const hc_acme_session *a, hc_acme_account_info *out);

/* ---- enroll ------------------------------------------------------------- */

typedef struct hc_enroll_params {
	const char *key_uri; /* an existing key; else keygen makes one */
	const hc_keygen_params *keygen;
	const hc_csr_plan *plan; /* subject, SANs (the order's identifiers), profile */
	const char *chain_out;	 /* write the verified chain here (PEM); NULL: nowhere */
	bool force;
} hc_enroll_params;

typedef struct hc_enroll_result {
	hc_key_info key; /* the certificate's key (after the import) */
	bool key_created;
	char *public_uri;	/* a created key's public half */
	hc_keypair_notes notes; /* what keygen had to do */
	hc_csr_result csr;
	hc_acme_issued issued;
	bool alternate_used; /* the default chain did not verify; an alternate did */
	hc_cert_info cert;   /* the issued certificate */
	hc_import_result imported;
	hc_chain_result chain;
	char *retired_label; /* renew: the old key's label now */
	/*
	 * if_missing found the key already holding a certificate for exactly
	 * these names, not due for renewal: nothing was ordered; `cert`,
	 * `imported` and `chain` are that certificate's, from the token.
	 */
	bool already_enrolled;
} hc_enroll_result;

/*
 * SPEC: enroll. The key (existing, or made here), the CSR signed in the
 * token, the order through `a`, then checks: the certificate is for the
 * key and carries every name asked for, and its chain verifies to a
 * trusted root (an alternate chain is tried when the default does not).
 * Then it is stored beside the key as import does, and the chain written.
 * Any failure removes what this call made on the token (a new key, stored
 * certificates) and writes no file.
 */
hc_rc hc_enroll(hc_acme_session *a, const hc_enroll_params *params, hc_enroll_result *out,
		hc_error *err);
void hc_enroll_result_clear(hc_enroll_result *result);

/* ---- renew --------------------------------------------------------------- */

/* A key's certificate and whether it is due. */
typedef struct hc_renew_item {
	hc_key_info key;
	X509 *cert; /* the key's newest certificate */
	hc_cert_info info;
	long lifetime_s;  /* notAfter - notBefore */
	long threshold_s; /* due when fewer seconds than this are left */
	long left_s;	  /* notAfter - now (negative once expired) */
	bool due;
	/*
	 * A renewal killed during its hand-over, finished on the token by
	 * hc_renew_plan_make (`key` is the new key, `cert` the old
	 * certificate): hc_renew_resumed reports it, nothing is ordered. With
	 * `attempted` set and `renewed` not, finishing failed (`error`).
	 */
	bool resumed;
	/* after hc_renew_one */
	bool attempted, renewed;
	hc_error error;
	hc_enroll_result result;
} hc_renew_item;

typedef struct hc_renew_plan {
	hc_renew_item *items;
	size_t count;
	time_t now;
	/*
	 * Not HC_OK: making the plan failed after it had finished interrupted
	 * hand-overs on the token; items holds those only (to report, hooks
	 * run) and `error` says what failed.
	 */
	hc_rc rc;
	hc_error error;
} hc_renew_plan;

/*
 * The certificates to look at: the one key `key_uri` names, or (NULL) every
 * private key on the token with a certificate, except the ACME account key
 * and retired keys. days < 0: due when fewer than a third of the lifetime is
 * left, at most 30 days; else when fewer than `days` days are left.
 */
hc_rc hc_renew_plan_make(hc_session *session, const char *key_uri, long days, time_t now,
			 hc_renew_plan *out, hc_error *err);
void hc_renew_plan_clear(hc_renew_plan *plan);

/* A retired key's label: "LABEL.retired-20261202T230000Z". Such keys are never renewed. */
#define HC_RETIRED_MARK ".retired-"
/*
 * The new key of a renewal in progress: "LABEL.renewing-" and a tag of the
 * old key's CKA_ID (8 hex digits of its SHA-256). Renewal finishes and
 * removes only what it made under such a label (docs/hsmcert.md, renew).
 */
#define HC_RENEWING_MARK ".renewing-"

/*
 * Renew one due item over `a`: a new key of the same type with the same
 * subject and SANs that takes over the label (the old key, its public key
 * and certificates relabelled as retired), or with reuse_key the same key
 * (its older certificates replaced). Fills item->result; on failure the
 * token is as before and item->error says why.
 */
hc_rc hc_renew_one(hc_acme_session *a, hc_renew_item *item, bool reuse_key, hc_error *err);

/*
 * The trust anchors issued chains are verified against: setup's roots_path,
 * else its server.ca_file, else the system's. *out is the caller's to free
 * (hc_chain_pool_free), on failure too.
 */
hc_rc hc_acme_roots_load(const hc_acme_setup *setup, hc_chain_pool **out, hc_error *err);

/*
 * A resumed item (see hc_renew_item): its result from the token, as
 * hc_renew_one fills it (the new key, its certificate, the chain verified
 * against `roots`; one that does not verify is reported so, not a failure:
 * the renewal is done), without contacting the CA.
 */
hc_rc hc_renew_resumed(hc_session *session, hc_chain_pool *roots, hc_renew_item *item,
		       hc_error *err);

#endif
