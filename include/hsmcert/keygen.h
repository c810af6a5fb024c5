/* SPEC: keygen. */
#ifndef HSMCERT_KEYGEN_H
#define HSMCERT_KEYGEN_H

#include "hsmcert/key.h"
#include "hsmcert/rollback.h"

typedef struct hc_keygen_params {
	const char *label;
	hc_keytype type;
	const unsigned char *id; /* NULL: derived from the public key */
	size_t id_len;
	bool exportable;
	bool if_missing; /* an existing key pair of that label (and id) is a success */
	bool recipient;	 /* RSA key that unwraps backups sent to it (--to), instead of signing */
} hc_keygen_params;

typedef struct hc_keygen_result {
	bool created;			/* false: if_missing found the key already there */
	hc_key_info key;		/* the private key as the token reports it */
	CK_OBJECT_HANDLE public_handle; /* its public half, when this run created it */
	char *public_uri;
	hc_keypair_notes notes;
} hc_keygen_result;

hc_rc hc_keygen(hc_session *session, const hc_keygen_params *params, hc_keygen_result *out,
		hc_error *err);
/*
 * Remove the key pair of `label` that a keygen killed before it set the
 * derived id left (issue 14.5; hc_keygen does it itself). For callers that
 * look a key up by label before they decide to generate it (the ACME account
 * key): such a pair was never reported nor used.
 */
hc_rc hc_keygen_remove_interrupted(hc_session *session, const char *label, hc_error *err);
void hc_keygen_result_clear(hc_keygen_result *result);

/*
 * hc_keygen for a command that may fail later (request, enroll, renew): a
 * key pair it creates is recorded in `undo` (private and public halves), so
 * hc_rollback_run removes it again. An existing key (if_missing) is not
 * recorded. If recording fails, the new pair is destroyed at once.
 */
hc_rc hc_keygen_undoable(hc_session *session, const hc_keygen_params *params, hc_rollback *undo,
			 hc_keygen_result *out, hc_error *err);

#endif
