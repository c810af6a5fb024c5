/* SPEC: audit — a report an auditor can file: text table or --json, one result. */
#include "cli.h"

#include "hsmcert/audit.h"
#include "hsmcert/hex.h"
#include "hsmcert/version.h"
#include "hsmcert/x509.h"
#include "tokenview.h"

#include <stdlib.h>
#include <string.h>

enum {
	OPT_POLICY = CLI_OPT_FIRST_COMMAND_OPTION,
	OPT_PROBE,
};

int usage_audit(FILE *out)
{
	fprintf(out,
		"Usage: hsmcert audit [--policy POLICY] [--probe] [--json]\n"
		"                     [--token URI] [--pin-source SRC]\n\n"
		"Report, for every private and secret key on the token, the attributes that\n"
		"decide whether it can leave the token (sensitive, extractable,\n"
		"always_sensitive, never_extractable, local, key_gen_mechanism, private,\n"
		"modifiable, copyable, destroyable, wrap_with_trusted, always_authenticate),\n"
		"its usages (sign, decrypt, unwrap, derive; wrap and encrypt for secret keys),\n"
		"its type, size, label, id and URI, and the certificate it belongs to; with\n"
		"the token's identity (module, library, manufacturer, model, serial,\n"
		"firmware, hardware or software slot), the time and the tool's version.\n"
		"Read-only: no key is changed. Logs in when the token requires it.\n\n"
		"  --policy non-exportable  (default) a key passes only when sensitive, not\n"
		"                           extractable, always sensitive, never extractable\n"
		"                           and generated on the token (local, with a key\n"
		"                           generation mechanism); each failing attribute is\n"
		"                           named\n"
		"  --policy sign-only       a private key passes only when it can neither\n"
		"                           decrypt, unwrap nor derive (a TLS server key);\n"
		"                           secret keys are not judged by it\n"
		"  --policy non-exportable,sign-only\n"
		"                           both\n"
		"  --policy none            inventory only: no verdicts\n"
		"  --probe                  also try to read each key's secret attributes and\n"
		"                           to wrap it under a fresh session AES key\n"
		"                           (CKM_AES_KEY_WRAP_PAD), recording the token's CKR_\n"
		"                           answers; a key whose secret comes out fails. The\n"
		"                           session key is destroyed afterwards\n\n"
		"Objects the token will not describe are listed by handle with its answer;\n"
		"they may be keys nobody can check, so under a policy they fail the audit.\n\n"
		"Exit status: 0 every key passes (or --policy none), 1 a key violates the\n"
		"policy or an object could not be described, 2 usage, 3 token error or wrong\n"
		"PIN.\n\n" CLI_GLOBAL_USAGE);
	return 0;
}

static char *cert_subject(const hc_inv_cert *c)
{
	return c->x509 ? hc_x509_name_text(X509_get_subject_name(c->x509)) : NULL;
}

static void cert_not_after(const hc_inv_cert *c, char out[21])
{
	out[0] = '\0';
	if (c->x509)
		hc_time_iso8601(hc_asn1_time_to_time(X509_get0_notAfter(c->x509)), out);
}

static const char *verdict(const hc_audit_report *r, const hc_audit_key *k)
{
	if (r->options.policy == HC_POLICY_NONE)
		return "-";
	return k->pass ? "pass" : k->unknown ? "unknown" : "FAIL";
}

static bool software_slot(const hc_audit_report *r)
{
	return !(r->slot.info.flags & CKF_HW_SLOT);
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *cert_json(const hc_inventory *inv, const hc_inv_cert *c)
{
	char *id = hc_hex_encode(c->id ? c->id : (const unsigned char *)"", c->id_len);
	char *uri = hc_inventory_uri(inv, CKO_CERTIFICATE, c->label, c->id, c->id_len);
	char *subject = cert_subject(c);
	char not_after[21];
	json_t *j = NULL;

	cert_not_after(c, not_after);
	if (uri)
		j = json_pack("{s:o, s:o, s:s, s:o, s:o, s:s}", "label", cli_json_text(c->label),
			      "id", cli_json_string(id), "uri", uri, "subject",
			      cli_json_string(subject), "not_after",
			      not_after[0] ? json_string(not_after) : json_null(), "paired_by",
			      hc_inv_match_name(c->match));
	free(id);
	free(uri);
	free(subject);
	return j;
}

static json_t *probe_json(const hc_audit_key *k)
{
	const hc_audit_probe *p = k->probe;
	json_t *reads = json_array(), *wrap;

	for (size_t i = 0; i < p->read_count; i++)
		json_array_append_new(reads, json_pack("{s:s, s:s, s:b}", "attribute",
						       hc_cka_name(p->reads[i].type), "ckr",
						       hc_ckr_name(p->reads[i].rv), "readable",
						       p->reads[i].readable));
	/* Every wrap mechanism the token lists; an empty list: none listed, nothing tried. */
	wrap = json_array();
	for (size_t i = 0; i < p->wrap_count; i++) {
		const hc_audit_wrap *w = &p->wraps[i];
		json_array_append_new(wrap,
				      json_pack("{s:s, s:b, s:s, s:o}", "mechanism",
						hc_ckm_name(w->mechanism), "tried", w->tried, "ckr",
						hc_ckr_name(w->rv), "wrapped_bytes",
						w->tried && w->rv == CKR_OK
							? json_integer((json_int_t)w->wrapped_len)
							: json_null()));
	}
	return json_pack("{s:o, s:o, s:b}", "reads", reads, "wraps", wrap, "secret_readable",
			 p->secret_readable);
}

static json_t *key_json(const hc_audit_report *r, const hc_audit_key *k)
{
	char *uri = hc_inventory_uri(&r->inventory, k->key->cls, k->key->label, k->key->id,
				     k->key->id_len);
	json_t *j, *reasons, *certs;

	if (!uri)
		return NULL;
	j = cli_json_key(k->key);
	json_object_set_new(j, "uri", json_string(uri));
	free(uri);
	reasons = json_array();
	certs = json_array();
	for (size_t i = 0; i < k->reason_count; i++)
		json_array_append_new(reasons, json_string(k->reasons[i]));
	for (size_t i = 0; k->pair && i < k->pair->cert_count; i++)
		json_array_append_new(
			certs, cert_json(&r->inventory, &r->inventory.certs[k->pair->certs[i]]));
	json_object_set_new(j, "class", json_string(hc_audit_key_class(k)));
	json_object_set_new(j, "certificates", certs);
	if (r->options.policy == HC_POLICY_NONE) {
		json_object_set_new(j, "verdict", json_null());
		json_decref(reasons);
	} else {
		json_object_set_new(j, "verdict",
				    json_string(k->pass	     ? "pass"
						: k->unknown ? "unknown"
							     : "fail"));
		json_object_set_new(j, "reasons", reasons);
	}
	if (r->options.probe)
		json_object_set_new(j, "probe", probe_json(k));
	return j;
}

/* Everything but the per-key and per-certificate lists. */
static json_t *head_json(const struct cli_token *t, const hc_audit_report *r)
{
	const CK_TOKEN_INFO *ti = &r->slot.token;
	char when[21], desc[65], manufacturer[33];
	json_t *token = cli_json_token(t), *head;
	size_t private_keys = r->inventory.key_count;

	hc_time_iso8601(r->time, when);
	json_object_set_new(token, "hardware_version", cli_json_version(ti->hardwareVersion));
	json_object_set_new(token, "firmware_version", cli_json_version(ti->firmwareVersion));
	HC_P11_STRING(r->slot.info.slotDescription, desc);
	HC_P11_STRING(r->slot.info.manufacturerID, manufacturer);
	head = json_pack("{s:{s:s, s:s, s:s, s:s, s:b, s:b}, s:o}", "audit", "time", when, "tool",
			 "hsmcert", "tool_version", HSMCERT_VERSION, "policy",
			 hc_audit_policy_name(r->options.policy), "probe", r->options.probe,
			 "logged_in", r->logged_in, "token", token);
	HC_P11_STRING(r->library.libraryDescription, desc);
	HC_P11_STRING(r->library.manufacturerID, manufacturer);
	json_object_set_new(
		head, "module",
		json_pack("{s:s, s:s, s:s, s:o, s:o}", "path", r->module_path, "manufacturer",
			  manufacturer, "description", desc, "library_version",
			  cli_json_version(r->library.libraryVersion), "cryptoki_version",
			  cli_json_version(r->library.cryptokiVersion)));
	HC_P11_STRING(r->slot.info.slotDescription, desc);
	HC_P11_STRING(r->slot.info.manufacturerID, manufacturer);
	json_object_set_new(head, "slot",
			    json_pack("{s:I, s:s, s:s, s:b, s:b, s:b}", "id",
				      (json_int_t)r->slot.id, "description", desc, "manufacturer",
				      manufacturer, "hardware", !software_slot(r), "software_token",
				      software_slot(r), "removable",
				      (r->slot.info.flags & CKF_REMOVABLE_DEVICE) != 0));
	json_object_set_new(
		head, "summary",
		json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:s}", "keys",
			  (json_int_t)r->key_count, "private_keys", (json_int_t)private_keys,
			  "secret_keys", (json_int_t)(r->key_count - private_keys), "passed",
			  r->options.policy == HC_POLICY_NONE
				  ? json_null()
				  : json_integer((json_int_t)(r->key_count - r->violations -
							      r->unknowns)),
			  "failed",
			  r->options.policy == HC_POLICY_NONE
				  ? json_null()
				  : json_integer((json_int_t)r->violations),
			  "unknown",
			  r->options.policy == HC_POLICY_NONE
				  ? json_null()
				  : json_integer((json_int_t)r->unknowns),
			  "orphan_certificates", (json_int_t)r->inventory.orphan_count,
			  "unreadable_objects", (json_int_t)r->inventory.unreadable_count, "result",
			  r->options.policy == HC_POLICY_NONE		   ? "inventory"
			  : r->violations || r->inventory.unreadable_count ? "fail"
			  : r->unknowns					   ? "unknown"
									   : "pass"));
	json_object_set_new(head, "unreadable_objects", cli_json_unreadable(&r->inventory));
	if (r->options.probe)
		json_object_set_new(head, "probe",
				    json_pack("{s:s, s:s, s:b}", "wrap_mechanism",
					      hc_ckm_name(r->wrap_mechanism), "session_key",
					      hc_ckr_name(r->session_key_rv),
					      "session_key_destroyed", r->session_key_destroyed));
	return head;
}

/* The report as one document: the head, then every key, then the orphan certificates. */
static int print_json(const struct cli_token *t, const hc_audit_report *r)
{
	json_t *doc = head_json(t, r), *keys = json_array(), *orphans = json_array();
	bool complete = doc && keys && orphans;

	for (size_t i = 0; complete && i < r->key_count; i++)
		complete = json_array_append_new(keys, key_json(r, &r->keys[i])) == 0;
	for (size_t i = 0; complete && i < r->inventory.orphan_count; i++)
		complete = json_array_append_new(
				   orphans,
				   cert_json(&r->inventory,
					     &r->inventory.certs[r->inventory.orphans[i]])) == 0;
	if (!complete) {
		json_decref(doc);
		json_decref(keys);
		json_decref(orphans);
		return HC_IO;
	}
	json_object_set_new(doc, "keys", keys);
	json_object_set_new(doc, "orphan_certificates", orphans);
	return cli_json_emit(doc);
}

/* ---- text ----------------------------------------------------------------- */

enum { COL_LABEL, COL_CLASS, COL_TYPE, COL_FIRST_FLAG };

/*
 * The table's columns: label, class, type, then every key flag that has a
 * column header (key_flags.h), then the generation mechanism, the usages and the verdict.
 */
#define MAX_COLS (COL_FIRST_FLAG + HC_KEY_FLAG_COUNT + 3)

struct table {
	size_t flag[HC_KEY_FLAG_COUNT]; /* hc_key_flags index of each flag column */
	size_t n_flags, n_cols;
};

static void table_init(struct table *t)
{
	t->n_flags = 0;
	for (size_t i = 0; i < HC_KEY_FLAG_COUNT; i++)
		if (hc_key_flags[i].column)
			t->flag[t->n_flags++] = i;
	t->n_cols = COL_FIRST_FLAG + t->n_flags + 3; /* + GEN-MECH, USAGES, VERDICT */
}

/* The row's cells; `type`, `mech`, `label` and `usages` are the caller's buffers. */
static void row_cells(const struct table *t, const hc_audit_report *r, const hc_audit_key *k,
		      const char **cells, char type[32], char mech[48], char label[128],
		      char usages[96])
{
	hc_keytype_format(&k->key->type, type, 32);
	snprintf(mech, 48, "%s",
		 k->key->key_gen_mechanism == CK_UNAVAILABLE_INFORMATION
			 ? "unknown"
			 : hc_ckm_name(k->key->key_gen_mechanism));
	cells[COL_LABEL] = k->key->label[0] ? cli_text(k->key->label) : "(no label)";
	cells[COL_CLASS] = k->key->cls == CKO_SECRET_KEY ? "secret" : "private";
	cells[COL_TYPE] = type;
	for (size_t i = 0; i < t->n_flags; i++)
		cells[COL_FIRST_FLAG + i] = cli_yes_no(hc_key_flag_value(k->key, t->flag[i]));
	cells[COL_FIRST_FLAG + t->n_flags] = mech;
	cells[COL_FIRST_FLAG + t->n_flags + 1] = cli_usages_text(k->key, usages, 96);
	cells[COL_FIRST_FLAG + t->n_flags + 2] = verdict(r, k);
}

static void print_row(const struct table *t, const char **cells, const size_t *width)
{
	for (size_t c = 0; c + 1 < t->n_cols; c++)
		printf("%-*s  ", (int)width[c], cells[c]);
	printf("%s\n", cells[t->n_cols - 1]);
}

static void print_table(const hc_audit_report *r)
{
	struct table t;
	const char *cells[MAX_COLS];
	size_t width[MAX_COLS];
	char type[32], mech[48], label[128], usages[96];

	table_init(&t);
	cells[COL_LABEL] = "LABEL";
	cells[COL_CLASS] = "CLASS";
	cells[COL_TYPE] = "TYPE";
	for (size_t i = 0; i < t.n_flags; i++)
		cells[COL_FIRST_FLAG + i] = hc_key_flags[t.flag[i]].column;
	cells[COL_FIRST_FLAG + t.n_flags] = "GEN-MECHANISM";
	cells[COL_FIRST_FLAG + t.n_flags + 1] = "USAGES";
	cells[COL_FIRST_FLAG + t.n_flags + 2] = "VERDICT";
	for (size_t c = 0; c < t.n_cols; c++)
		width[c] = strlen(cells[c]);
	for (size_t i = 0; i < r->key_count; i++) {
		const char *row[MAX_COLS];
		row_cells(&t, r, &r->keys[i], row, type, mech, label, usages);
		for (size_t c = 0; c < t.n_cols; c++)
			if (strlen(row[c]) > width[c])
				width[c] = strlen(row[c]);
	}
	print_row(&t, cells, width);
	for (size_t i = 0; i < r->key_count; i++) {
		row_cells(&t, r, &r->keys[i], cells, type, mech, label, usages);
		print_row(&t, cells, width);
	}
	printf("\n");
	for (size_t i = 0; i < t.n_flags; i++)
		printf("%s%s %s", i ? ", " : "", hc_key_flags[t.flag[i]].column,
		       hc_key_flags[t.flag[i]].name);
	printf("; unknown: the token does not report the attribute.\n");
}

static void print_probe(const hc_audit_report *r, const hc_audit_probe *p)
{
	printf("    %-14s", "Probe");
	/* Reads that got the same answer share one line: "A, B, C: CKR_...". */
	for (size_t i = 0; i < p->read_count; i++) {
		bool last = i + 1 == p->read_count || p->reads[i + 1].rv != p->reads[i].rv ||
			    p->reads[i + 1].readable != p->reads[i].readable;
		printf("%s", hc_cka_name(p->reads[i].type));
		if (!last)
			printf(", ");
		else
			printf(": %s%s\n    %-14s", hc_ckr_name(p->reads[i].rv),
			       p->reads[i].readable ? " (READ IN THE CLEAR)" : "", "");
	}
	(void)r;
	if (p->wrap_count == 0)
		printf("wrap not tried: the token lists no wrap mechanism\n    %-14s", "");
	for (size_t i = 0; i < p->wrap_count; i++) {
		const hc_audit_wrap *w = &p->wraps[i];
		if (w->tried)
			printf("C_WrapKey %s: %s", hc_ckm_name(w->mechanism), hc_ckr_name(w->rv));
		else
			printf("%s not tried: no wrapping key (%s)", hc_ckm_name(w->mechanism),
			       hc_ckr_name(w->rv));
		if (w->tried && w->rv == CKR_OK)
			printf(" (%zu bytes wrapped)", w->wrapped_len);
		printf("\n    %-14s", "");
	}
	printf("%s\n", p->secret_readable ? "THE SECRET CAN LEAVE THE TOKEN"
					  : "the secret did not leave the token");
}

static void print_key_details(const hc_audit_report *r, const hc_audit_key *k)
{
	char *id = hc_hex_encode(k->key->id ? k->key->id : (const unsigned char *)"",
				 k->key->id_len);
	char *uri = hc_inventory_uri(&r->inventory, k->key->cls, k->key->label, k->key->id,
				     k->key->id_len);
	char usages[96];

	printf("\n%s (%s key): %s", k->key->label[0] ? cli_text(k->key->label) : "(no label)",
	       k->key->cls == CKO_SECRET_KEY ? "secret" : "private", verdict(r, k));
	for (size_t i = 0; i < k->reason_count; i++)
		printf("%s%s", i ? ", " : ": ", k->reasons[i]);
	printf("\n    %-14s%s\n    %-14s%s\n", "ID", id && id[0] ? id : "(none)", "URI",
	       uri ? uri : "(out of memory)");
	printf("    %-14s%s\n", "Usages", cli_usages_text(k->key, usages, sizeof(usages)));
	for (size_t i = 0; k->pair && i < k->pair->cert_count; i++) {
		const hc_inv_cert *c = &r->inventory.certs[k->pair->certs[i]];
		char *subject = cert_subject(c);
		char not_after[21];
		cert_not_after(c, not_after);
		printf("    %-14s%s, not after %s (paired by %s)\n", "Certificate",
		       subject ? cli_text(subject) : "(not an X.509 certificate)",
		       not_after[0] ? not_after : "unknown", hc_inv_match_name(c->match));
		free(subject);
	}
	if (k->pair && k->pair->cert_count == 0)
		printf("    %-14s%s\n", "Certificate", "none on the token");
	if (r->options.probe)
		print_probe(r, k->probe);
	free(id);
	free(uri);
}

static void print_text(const struct cli_token *t, const hc_audit_report *r)
{
	const CK_TOKEN_INFO *ti = &r->slot.token;
	char when[21], manufacturer[33], model[17], serial[17], desc[65];

	hc_time_iso8601(r->time, when);
	HC_P11_STRING(ti->manufacturerID, manufacturer);
	HC_P11_STRING(ti->model, model);
	HC_P11_STRING(ti->serialNumber, serial);
	printf("Key audit of token '%s' at %s by hsmcert %s\n\n", cli_text(t->label), when,
	       HSMCERT_VERSION);
	printf("%-12s%s %s, serial %s, firmware %u.%u, hardware %u.%u\n", "Token",
	       cli_text(manufacturer), cli_text(model), cli_text(serial), ti->firmwareVersion.major,
	       ti->firmwareVersion.minor, ti->hardwareVersion.major, ti->hardwareVersion.minor);
	printf("%-12s%s\n", "URI", t->token_uri ? t->token_uri : "");
	HC_P11_STRING(r->slot.info.slotDescription, desc);
	if (software_slot(r))
		printf("%-12s%lu (%s): SOFTWARE slot: keys are protected by software on this host, "
		       "not by hardware\n",
		       "Slot", (unsigned long)r->slot.id, desc);
	else
		printf("%-12s%lu (%s): hardware slot\n", "Slot", (unsigned long)r->slot.id, desc);
	HC_P11_STRING(r->library.libraryDescription, desc);
	HC_P11_STRING(r->library.manufacturerID, manufacturer);
	printf("%-12s%s (%s %s %u.%u, Cryptoki %u.%u)\n", "Module", r->module_path, manufacturer,
	       desc, r->library.libraryVersion.major, r->library.libraryVersion.minor,
	       r->library.cryptokiVersion.major, r->library.cryptokiVersion.minor);
	printf("%-12s%s\n", "Logged in",
	       r->logged_in ? "yes" : "no (private objects, if any, are not visible)");
	printf("%-12s%s%s\n\n", "Policy", hc_audit_policy_name(r->options.policy),
	       r->options.probe ? ", probed" : "");

	if (r->key_count == 0) {
		printf("No private or secret keys on the token.\n");
	} else {
		print_table(r);
		for (size_t i = 0; i < r->key_count; i++)
			print_key_details(r, &r->keys[i]);
	}
	if (r->options.probe && r->session_key_rv == CKR_OK)
		printf("\nProbe session wrapping keys (AES-256, DES3 where listed): %s\n",
		       r->session_key_destroyed ? "destroyed" : "NOT DESTROYED");
	for (size_t i = 0; i < r->inventory.orphan_count; i++) {
		const hc_inv_cert *c = &r->inventory.certs[r->inventory.orphans[i]];
		char *subject = cert_subject(c);
		char *uri = hc_inventory_uri(&r->inventory, CKO_CERTIFICATE, c->label, c->id,
					     c->id_len);
		printf("%sOrphan certificate (no key on the token): %s  %s\n", i ? "" : "\n",
		       cli_text(subject ? subject : c->label), uri ? uri : "(out of memory)");
		free(subject);
		free(uri);
	}
	cli_print_unreadable(&r->inventory);
	printf("\n");
	if (r->options.policy == HC_POLICY_NONE)
		printf("Result: inventory of %zu key%s (--policy none: no verdicts)\n",
		       r->key_count, r->key_count == 1 ? "" : "s");
	else if (r->violations)
		printf("Result: FAIL: %zu of %zu key%s violate%s the %s policy\n", r->violations,
		       r->key_count, r->key_count == 1 ? "" : "s", r->violations == 1 ? "s" : "",
		       hc_audit_policy_name(r->options.policy));
	else if (r->unknowns)
		printf("Result: UNKNOWN: for %zu of %zu key%s the token does not report an "
		       "attribute the %s policy needs (named above): it cannot be shown to hold\n",
		       r->unknowns, r->key_count, r->key_count == 1 ? "" : "s",
		       hc_audit_policy_name(r->options.policy));
	else if (r->inventory.unreadable_count)
		printf("Result: FAIL: %zu object%s the token could not describe: the %s policy "
		       "cannot be shown to hold\n",
		       r->inventory.unreadable_count, r->inventory.unreadable_count == 1 ? "" : "s",
		       hc_audit_policy_name(r->options.policy));
	else if (r->key_count == 0)
		printf("Result: PASS: no keys, nothing violates the %s policy\n",
		       hc_audit_policy_name(r->options.policy));
	else
		printf("Result: PASS: %s%zu key%s meet%s the %s policy\n",
		       r->key_count > 1 ? "all " : "", r->key_count, r->key_count == 1 ? "" : "s",
		       r->key_count == 1 ? "s" : "", hc_audit_policy_name(r->options.policy));
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"policy", required_argument, NULL, OPT_POLICY},
						{"probe", no_argument, NULL, OPT_PROBE},
						CLI_GLOBAL_OPTIONS};
	hc_audit_options opts = {HC_POLICY_NON_EXPORTABLE, false};
	hc_audit_report report = {0};
	struct cli_token t = {0};
	hc_error err = {0};
	char text[CLI_ERROR_TEXT_SIZE];
	int c, r;

	while ((c = getopt_long(argc, argv, CLI_SHORT, options, NULL)) != -1) {
		switch (c) {
		case OPT_POLICY:
			if (hc_audit_policy_parse(optarg, &opts.policy, &err) != HC_OK)
				return cli_usage_error(cli, "%s",
						       cli_error_text(&err, text, sizeof(text)));
			break;
		case OPT_PROBE: opts.probe = true; break;
		default:
			if ((r = cli_common_option(cli, c, optarg, usage_audit)) != CLI_NEXT)
				return r;
		}
	}
	if ((r = cli_no_arguments(cli, argc, argv)) != CLI_NEXT)
		return r;

	/* A read-only session: the probe's session key is a session object. */
	if (cli_token_open(cli, NULL, CLI_TOKEN_LOGIN | CLI_TOKEN_ONE_THREAD, &t, &err) != HC_OK ||
	    hc_audit_run(t.session, &opts, &report, &err) != HC_OK) {
		r = cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		r = print_json(&t, &report);
	} else {
		print_text(&t, &report);
		r = fflush(stdout) == 0 ? 0 : HC_IO;
	}
	if (r == 0 && hc_audit_failed(&report))
		r = HC_CHECK;
	if (opts.probe && report.session_key_rv == CKR_OK && !report.session_key_destroyed)
		cli_warnf(cli, "the probe's session key could not be destroyed; it goes with the "
			       "session");
out:
	hc_audit_report_clear(&report);
	cli_token_close(&t);
	return r;
}
