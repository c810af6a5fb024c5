/* SPEC: tokens, init-token. */
#ifndef HSMCERT_TOKEN_H
#define HSMCERT_TOKEN_H

#include "hsmcert/p11.h"

typedef struct hc_token_init_params {
	const char *label;
	const hc_secret *so_pin;
	const hc_secret *user_pin;
	bool force; /* re-initialise a token that holds objects */
} hc_token_init_params;

typedef struct hc_token_init_result {
	hc_slot slot;		/* as the token reports itself afterwards */
	bool reinitialised;	/* the token was initialised before */
	long objects_destroyed; /* -1 when the old contents could not be counted */
	/*
	 * On failure: C_InitToken had succeeded, so the token is erased and
	 * labelled anew but has no user PIN (the second step failed). `slot` is
	 * then the token as it is now, for the advice that finishes the job.
	 */
	bool half_initialised;
	/* Objects C_InitToken left behind (NSS: certificates, public keys), destroyed after it. */
	long leftovers_destroyed;
	bool so_pin_unused; /* the token has no SO PIN (NSS softoken): an empty one was used */
	bool label_kept;    /* the token did not take the new label (NSS softoken) */
} hc_token_init_result;

/*
 * Both PINs' lengths against the token's ulMinPinLen/ulMaxPinLen: HC_USAGE
 * naming the PIN (`so_name`/`user_name`, as the caller calls them) otherwise.
 * hc_token_init checks this itself before it changes anything.
 */
hc_rc hc_token_check_pin_lengths(const CK_TOKEN_INFO *token, const hc_secret *so_pin,
				 const hc_secret *user_pin, hc_error *err);

/*
 * Initialise the token in `slot` and set its user PIN. A token that was
 * initialised is only re-initialised when it provably holds no objects (no
 * public ones, and no user PIN that could guard private ones), or with force.
 */
hc_rc hc_token_init(hc_module *mod, const hc_slot *slot, const hc_token_init_params *params,
		    hc_token_init_result *out, hc_error *err);

/* ---- tokens: what a module shows ------------------------------------ */

/* The identity every report gives a token: trimmed of PKCS#11's blank padding. */
typedef struct hc_token_identity {
	char label[33];
	char manufacturer[33];
	char model[17];
	char serial[17];
	char *uri; /* the token's PKCS#11 URI; NULL when it could not be formatted */
} hc_token_identity;

void hc_token_identity_make(const CK_TOKEN_INFO *token, hc_token_identity *out);
void hc_token_identity_clear(hc_token_identity *id);

/* Mechanisms grouped as `tokens --mechanisms` reports them. */
typedef enum hc_mech_group {
	HC_MECH_KEY_GENERATION, /* CKF_GENERATE_KEY_PAIR or CKF_GENERATE */
	HC_MECH_SIGNING,	/* CKF_SIGN */
	HC_MECH_WRAPPING,	/* CKF_WRAP or CKF_UNWRAP */
	HC_MECH_GROUPS
} hc_mech_group;

/* True when the mechanism belongs in `group` (a mechanism may be in several). */
bool hc_mech_in_group(const hc_mechanism *mech, hc_mech_group group);

/* One slot and its token, as `tokens` lists it. */
typedef struct hc_token_entry {
	hc_slot slot;
	char description[65];	    /* the slot's */
	char slot_manufacturer[33]; /* the slot's */
	hc_token_identity id;	    /* when slot.has_token */
	/* "ok", "not set", "must be changed", "locked", "final try", "count low" */
	const char *user_pin, *so_pin;
	bool has_mechanisms; /* asked for, and read */
	hc_mechanism *mechanisms;
	size_t mechanism_count;
} hc_token_entry;

typedef struct hc_token_list {
	char *module_path;
	char module_description[33];
	char module_manufacturer[33];
	CK_VERSION module_version, cryptoki_version;
	/* p11-kit's proxy: the registered modules behind it; NULL for a module named by path */
	hc_registered_module *registered;
	size_t registered_count;
	hc_token_entry *entries;
	size_t count;
	bool filtered; /* a URI chose among the slots */
} hc_token_list;

/*
 * SPEC: tokens. Every slot of `mod` (those `filter` matches, when given),
 * with the token's state and, when `mechanisms`, its mechanism list. Read
 * completely before anything is shown.
 */
hc_rc hc_token_list_read(hc_module *mod, const hc_uri *filter, bool mechanisms, hc_token_list *out,
			 hc_error *err);
void hc_token_list_clear(hc_token_list *list);

#endif
