/*
 * SPEC: list. The token's inventory as a person or a script reads it: each
 * private key with its certificates and a status, certificates without a
 * key (orphans), and the CA certificates stored beside them.
 */
#ifndef HSMCERT_LIST_H
#define HSMCERT_LIST_H

#include <time.h>

#include "hsmcert/inventory.h"
#include "hsmcert/x509.h"

#define HC_LIST_WARN_DAYS 30

typedef enum hc_cert_status {
	HC_STATUS_PENDING,	 /* a key without a certificate yet */
	HC_STATUS_VALID,	 /* valid for more than the warning period */
	HC_STATUS_EXPIRING,	 /* valid, but ends within the warning period */
	HC_STATUS_EXPIRED,	 /* notAfter has passed */
	HC_STATUS_NOT_YET_VALID, /* notBefore is still to come */
	HC_STATUS_ORPHAN,	 /* a certificate without its key on the token */
} hc_cert_status;

/* "pending", "valid", "expiring", "expired", "not_yet_valid", "orphan". */
const char *hc_cert_status_name(hc_cert_status status);

/* The validity status of a certificate at `now` (never pending or orphan). */
hc_cert_status hc_cert_status_at(const hc_cert_info *info, time_t now, int warn_days);

typedef struct hc_list_cert {
	const hc_inv_cert *object; /* label, id, uri, category, pairing */
	hc_cert_info info;	   /* info.subject is "" when CKA_VALUE was unreadable */
	bool readable;
	hc_cert_status status;
	long days_left;
} hc_list_cert;

typedef struct hc_list_key {
	const hc_inv_key *key;	       /* key->info: label, id, uri, type, attributes */
	const hc_key_info *public_key; /* NULL when the token has none for it */
	hc_list_cert *certs;	       /* the key's certificates, newest notBefore first */
	size_t cert_count;
	hc_cert_status status; /* pending, else the status of its newest certificate */
} hc_list_key;

typedef struct hc_listing {
	hc_inventory inventory;
	time_t now;
	int warn_days;
	hc_list_key *keys;
	size_t key_count;
	hc_list_cert *orphans;
	size_t orphan_count;
	hc_list_cert *authorities; /* CA certificates without their key on the token */
	size_t authority_count;
	size_t status_counts[HC_STATUS_ORPHAN + 1]; /* keys by status, orphans as orphan */
} hc_listing;

/* Read the inventory (batched) and describe everything as of `now`. */
hc_rc hc_listing_load(hc_session *session, time_t now, int warn_days, hc_listing *out,
		      hc_error *err);
void hc_listing_clear(hc_listing *listing);

#endif
