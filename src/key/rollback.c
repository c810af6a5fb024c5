/* SPEC: Reliability promises — undo what a failed run did to the token, or say what is left. */
#include "hsmcert/rollback.h"

#include "hsmcert/array.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hc_rollback_step {
	CK_OBJECT_HANDLE handle;
	CK_OBJECT_CLASS cls;
	char *label;	 /* as created, or the label this run set */
	char *old_label; /* a relabel: the label to put back; NULL for a created object */
	unsigned char *id;
	size_t id_len;
	bool undo_failed;
};

/* Room kept for the last words of the note ("; and N more ..."). */
#define TAIL_ROOM 96
/* What the note needs at least; a longer cause is shortened to leave it. */
#define NOTE_ROOM 320

static void step_clear(hc_rollback_step *st)
{
	free(st->label);
	free(st->old_label);
	free(st->id);
	memset(st, 0, sizeof(*st));
}

static hc_rc record(hc_rollback *rb, CK_OBJECT_HANDLE object, CK_OBJECT_CLASS cls,
		    const char *old_label, const char *label, const unsigned char *id,
		    size_t id_len, hc_error *err)
{
	hc_rollback_step *st;

	if (!hc_array_grow(&rb->steps, &rb->capacity, rb->count, sizeof(*rb->steps)))
		return hc_fail(err, HC_IO, "out of memory");
	st = &rb->steps[rb->count];
	memset(st, 0, sizeof(*st));
	st->handle = object;
	st->cls = cls;
	st->label = strdup(label ? label : "");
	st->old_label = old_label ? strdup(old_label) : NULL;
	st->id = malloc(id_len ? id_len : 1);
	if (!st->label || (old_label && !st->old_label) || !st->id) {
		step_clear(st);
		return hc_fail(err, HC_IO, "out of memory");
	}
	if (id_len)
		memcpy(st->id, id, id_len);
	st->id_len = id_len;
	rb->count++;
	return HC_OK;
}

hc_rc hc_rollback_created(hc_rollback *rb, CK_OBJECT_HANDLE object, CK_OBJECT_CLASS cls,
			  const char *label, const unsigned char *id, size_t id_len, hc_error *err)
{
	hc_rc rc = record(rb, object, cls, NULL, label, id, id_len, err);

	if (rc != HC_OK)
		hc_object_destroy(rb->session, object, NULL);
	return rc;
}

hc_rc hc_rollback_relabel(hc_rollback *rb, CK_OBJECT_HANDLE object, CK_OBJECT_CLASS cls,
			  const char *old_label, const char *label, const unsigned char *id,
			  size_t id_len, hc_error *err)
{
	CK_ATTRIBUTE a = {CKA_LABEL, (void *)label, strlen(label)};
	hc_rc rc;

	/* Recorded first: once the label is set, nothing may stop it being put back. */
	if ((rc = record(rb, object, cls, old_label ? old_label : "", label, id, id_len, err)) !=
	    HC_OK)
		return rc;
	if ((rc = hc_attrs_set(rb->session, object, &a, 1, err)) != HC_OK)
		step_clear(&rb->steps[--rb->count]);
	return rc;
}

hc_rc hc_rollback_set_id(hc_rollback *rb, CK_OBJECT_HANDLE object, const unsigned char *id,
			 size_t id_len, hc_error *err)
{
	CK_ATTRIBUTE a = {CKA_ID, (void *)id, id_len};
	unsigned char *copy = malloc(id_len ? id_len : 1);
	hc_rc rc;

	if (!copy)
		return hc_fail(err, HC_IO, "out of memory");
	if ((rc = hc_attrs_set(rb->session, object, &a, 1, err)) != HC_OK) {
		free(copy);
		return rc;
	}
	if (id_len)
		memcpy(copy, id, id_len);
	for (size_t i = 0; i < rb->count; i++) {
		if (rb->steps[i].handle != object)
			continue;
		free(rb->steps[i].id);
		rb->steps[i].id = copy;
		rb->steps[i].id_len = id_len;
		return HC_OK;
	}
	free(copy);
	return HC_OK;
}

void hc_rollback_clear(hc_rollback *rb)
{
	for (size_t i = 0; i < rb->count; i++)
		step_clear(&rb->steps[i]);
	free(rb->steps);
	rb->steps = NULL;
	rb->count = rb->capacity = 0;
}

/* Append to err's message only if all of it fits with `reserve` bytes to spare. */
static bool append(hc_error *err, size_t reserve, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool append(hc_error *err, size_t reserve, const char *fmt, ...)
{
	size_t used = strlen(err->message), room = sizeof(err->message) - used;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + reserve >= room)
		return false;
	va_start(ap, fmt);
	vsnprintf(err->message + used, room, fmt, ap);
	va_end(ap);
	return true;
}

/*
 * One object's URI as it is named now, in a list that skips what no longer
 * fits; room for the closing words is kept only while more may follow.
 */
static void list_object(hc_rollback *rb, const hc_rollback_step *st, const char *extra, bool last,
			bool *first, size_t *omitted, hc_error *err)
{
	char *uri = hc_uri_for_object(&hc_session_slot(rb->session)->token, st->cls, st->label,
				      st->id, st->id_len);

	if (uri && append(err, last && !*omitted ? 0 : TAIL_ROOM, "%s%s%s", *first ? "" : ", ", uri,
			  extra))
		*first = false;
	else
		(*omitted)++;
	free(uri);
}

/* The rollback failed: what this run leaves behind, by URI. */
static void report_left(hc_rollback *rb, const hc_error *cause, hc_error *err)
{
	size_t used = strlen(err->message), omitted = 0, created = 0, relabeled = 0, remaining;
	bool first = true;

	if (used > sizeof(err->message) - NOTE_ROOM)
		memcpy(err->message + sizeof(err->message) - NOTE_ROOM - 4, "...", 4);
	if (cause->has_ckr)
		append(err, TAIL_ROOM, "; and the rollback failed too (%s: %s)", cause->function,
		       hc_ckr_name(cause->ckr));
	else
		append(err, TAIL_ROOM, "; and the rollback failed too (%s)", cause->message);
	for (size_t i = 0; i < rb->count; i++) {
		created += rb->steps[i].undo_failed && !rb->steps[i].old_label;
		relabeled += rb->steps[i].undo_failed && rb->steps[i].old_label;
	}
	remaining = created + relabeled; /* to list; the last one keeps no room back */
	/*
	 * A group whose heading does not fit is counted, not listed: an object
	 * must never be read under the other group's heading (a relabelled key
	 * among those to delete).
	 */
	if (created &&
	    !append(err, TAIL_ROOM, "; left on the token, remove with 'hsmcert delete URI': ")) {
		omitted += created;
		remaining -= created;
		created = 0;
	}
	for (size_t i = 0; created && i < rb->count; i++)
		if (rb->steps[i].undo_failed && !rb->steps[i].old_label)
			list_object(rb, &rb->steps[i], "", --remaining == 0, &first, &omitted, err);
	if (relabeled && !append(err, TAIL_ROOM,
				 "; these keep the new label (every other object "
				 "has its earlier one): ")) {
		omitted += relabeled;
		remaining -= relabeled;
		relabeled = 0;
	}
	first = true;
	for (size_t i = 0; relabeled && i < rb->count; i++) {
		char was[300];
		if (!rb->steps[i].undo_failed || !rb->steps[i].old_label)
			continue;
		snprintf(was, sizeof(was), " (was '%s')", rb->steps[i].old_label);
		list_object(rb, &rb->steps[i], was, --remaining == 0, &first, &omitted, err);
	}
	if (omitted)
		append(err, 0, "; and %zu more this run made ('hsmcert list' shows them)", omitted);
}

void hc_rollback_run(hc_rollback *rb, hc_error *err)
{
	hc_error cause = {0};
	size_t failed = 0;

	/* Newest first: labels go back before the objects that carried them go. */
	for (size_t i = rb->count; i-- > 0;) {
		hc_rollback_step *st = &rb->steps[i];
		hc_error e = {0};
		hc_rc rc;

		if (st->old_label) {
			CK_ATTRIBUTE a = {CKA_LABEL, st->old_label, strlen(st->old_label)};
			rc = hc_attrs_set(rb->session, st->handle, &a, 1, &e);
		} else {
			rc = hc_object_destroy(rb->session, st->handle, &e);
		}
		st->undo_failed = rc != HC_OK;
		if (st->undo_failed && failed++ == 0)
			cause = e;
	}
	if (failed)
		report_left(rb, &cause, err);
	else if (rb->count)
		append(err, 0, "; what this run had changed on the token was undone");
	hc_rollback_clear(rb);
}
