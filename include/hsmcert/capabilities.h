/*
 * SPEC: tokens --capabilities. What hsmcert can do with a token, found from
 * its mechanism list and by probes that make session objects only (all
 * destroyed before returning; a session's end would destroy them too).
 */
#ifndef HSMCERT_CAPABILITIES_H
#define HSMCERT_CAPABILITIES_H

#include "hsmcert/p11.h"

typedef enum hc_cap_state { HC_CAP_YES, HC_CAP_NO, HC_CAP_UNKNOWN } hc_cap_state;

typedef struct hc_capability {
	const char *id;	  /* stable snake_case name: "keygen_rsa_2048", "wrap_rfc5649", ... */
	const char *what; /* for people: "key generation rsa:2048" */
	hc_cap_state state;
	char detail[320]; /* how it was found, or why not and what to do */
} hc_capability;

#define HC_CAP_MAX 24

typedef struct hc_capabilities {
	hc_capability items[HC_CAP_MAX];
	size_t count;
	size_t left_behind; /* probe objects that could not be destroyed (should be 0) */
} hc_capabilities;

/* Probe the token of `session` (read-write and logged in, for the most answers). */
hc_rc hc_capabilities_probe(hc_session *session, hc_capabilities *out, hc_error *err);
const char *hc_cap_state_name(hc_cap_state state);

#endif
