/*
 * SPEC: provision PLAN — keygen and CSR for many keys from a plan file,
 * idempotent, in parallel sessions.
 *
 * Plan file (JSON): {"defaults": {ENTRY FIELDS}, "keys": [ENTRY, ...]} or a
 * bare array of entries. Entry fields: "label" (required), "type"
 * (rsa:2048 default), "subject" (any form `csr --subject` takes), "cn", "o",
 * "ou", "l", "st", "c", "sans" (array, `--san` forms), "wildcard",
 * "profile", "md", "pss", "exportable", "csr" (output path, default
 * LABEL.csr beside the plan or in the output directory).
 */
#ifndef HSMCERT_PROVISION_H
#define HSMCERT_PROVISION_H

#include "hsmcert/csr.h"

typedef struct hc_plan_entry {
	char *label;
	hc_keytype type;
	bool exportable;
	hc_csr_plan csr;
	char *csr_path;
} hc_plan_entry;

typedef struct hc_provision_plan {
	hc_plan_entry *entries;
	size_t count;
} hc_provision_plan;

/*
 * Read and check the whole plan before anything touches a token: every
 * entry's names, profile and type, unique labels and output paths. Relative
 * output paths are taken from out_dir, else from the plan file's directory.
 * Errors are HC_USAGE naming the entry and the field.
 */
hc_rc hc_provision_plan_load(const char *path, const char *out_dir, hc_provision_plan *out,
			     hc_error *err);
void hc_provision_plan_clear(hc_provision_plan *plan);

/*
 * What can be checked on the open token before any key is generated: every
 * entry's output folder exists and is writable (HC_IO), and the token lists
 * the key generation mechanism for each key type with the size in range, and
 * a signature mechanism for the request (HC_TOKEN). A token that will not
 * list its mechanisms is not judged here. Each error names the entry.
 */
hc_rc hc_provision_preflight(hc_session *session, const hc_provision_plan *plan, hc_error *err);

typedef enum hc_provision_status {
	HC_PROVISION_PENDING = 0,
	HC_PROVISION_CREATED,	/* key pair generated and request written */
	HC_PROVISION_REQUESTED, /* the key existed; its request was (re)written */
	HC_PROVISION_EXISTING,	/* key and matching request already there: nothing done */
	HC_PROVISION_FAILED,
} hc_provision_status;

const char *hc_provision_status_name(hc_provision_status status);

typedef struct hc_provision_outcome {
	hc_provision_status status;
	char *key_uri;
	char key_type[32];
	hc_error err; /* FAILED only */
} hc_provision_outcome;

/* Called after each entry, serialised (never twice at once). */
typedef void (*hc_provision_progress)(void *ctx, size_t done, size_t total,
				      const hc_plan_entry *entry,
				      const hc_provision_outcome *outcome);

/*
 * Run the plan on a token the caller has logged in to through `login`
 * (login state is per application, so every worker session shares it), with
 * up to `jobs` sessions at once (one on a token hc_token_threads_safe says
 * no to). Entries fail one by one; a failed entry
 * leaves no key of its own behind. outcomes has plan->count elements.
 * Returns HC_OK when every entry succeeded, else the first failure's code.
 */
hc_rc hc_provision_run(hc_session *login, const hc_provision_plan *plan, unsigned jobs, bool force,
		       hc_provision_progress progress, void *ctx, hc_provision_outcome *outcomes,
		       hc_error *err);
void hc_provision_outcomes_clear(hc_provision_outcome *outcomes, size_t count);

#endif
