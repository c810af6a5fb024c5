/*
 * Undoing what a command did to a token when a later step fails (SPEC:
 * Reliability promises: "a failure at any PKCS#11 call leaves no half-made
 * objects"). Steps are recorded as they succeed and undone newest first.
 * When an undo step fails too, the original error stays the cause (its
 * message comes first; its function, CKR_ and exit code are kept) and gains
 * what is left on the token, by full URI, and how to remove it.
 */
#ifndef HSMCERT_ROLLBACK_H
#define HSMCERT_ROLLBACK_H

#include "hsmcert/p11.h"

typedef struct hc_rollback_step hc_rollback_step;

typedef struct hc_rollback {
	hc_session *session;
	hc_rollback_step *steps;
	size_t count, capacity;
} hc_rollback;

/*
 * Record an object this run created (label and id as created, for its URI).
 * If even the record cannot be made (out of memory), the object is destroyed
 * at once: an object nobody tracks is the half-made object to avoid.
 */
hc_rc hc_rollback_created(hc_rollback *rb, CK_OBJECT_HANDLE object, CK_OBJECT_CLASS cls,
			  const char *label, const unsigned char *id, size_t id_len, hc_error *err);

/* Set an object's CKA_LABEL from old_label to label; undone by setting old_label again. */
hc_rc hc_rollback_relabel(hc_rollback *rb, CK_OBJECT_HANDLE object, CK_OBJECT_CLASS cls,
			  const char *old_label, const char *label, const unsigned char *id,
			  size_t id_len, hc_error *err);

/*
 * Set a recorded object's CKA_ID, and the id its URI is named by should the
 * rollback fail to remove it (an object this run created keeps its record).
 */
hc_rc hc_rollback_set_id(hc_rollback *rb, CK_OBJECT_HANDLE object, const unsigned char *id,
			 size_t id_len, hc_error *err);

/*
 * Undo every recorded step, newest first, trying each even after one fails,
 * and append to err's message how it went: that it was undone, or that the
 * rollback failed and which objects are left (created ones, with 'hsmcert
 * delete URI') or carry which label now. The log is emptied.
 */
void hc_rollback_run(hc_rollback *rb, hc_error *err);

/* Forget the log without undoing anything (the run succeeded). */
void hc_rollback_clear(hc_rollback *rb);

#endif
