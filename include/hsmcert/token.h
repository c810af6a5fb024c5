/* SPEC: init-token. */
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
	hc_slot slot;	  /* as the token reports itself afterwards */
	bool reinitialised; /* the token was initialised before */
	long objects_destroyed; /* -1 when the old contents could not be counted */
	/*
	 * On failure: C_InitToken had succeeded, so the token is erased and
	 * labelled anew but has no user PIN (the second step failed). `slot` is
	 * then the token as it is now, for the advice that finishes the job.
	 */
	bool half_initialised;
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

#endif
