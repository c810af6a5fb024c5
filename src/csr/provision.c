/* SPEC: provision — many keys and requests from one plan, idempotent, in parallel. */
#include "hsmcert/provision.h"

#include "hsmcert/file.h"
#include "hsmcert/sign.h"

#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the plan ------------------------------------------------------- */

static const char *const entry_fields[] = {
	"label", "type", "subject",  "cn",	"o",  "ou",  "l",	   "st",
	"c",	 "sans", "wildcard", "profile", "md", "pss", "exportable", "csr",
};

/* An entry's field, else the plan's default for it; NULL when neither has it. */
static json_t *field(json_t *entry, json_t *defaults, const char *name)
{
	json_t *v = json_object_get(entry, name);
	return v ? v : json_object_get(defaults, name);
}

static hc_rc string_field(json_t *entry, json_t *defaults, const char *name, const char **out,
			  hc_error *err)
{
	json_t *v = field(entry, defaults, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return HC_OK;
	if (!json_is_string(v))
		return hc_fail(err, HC_USAGE, "\"%s\" must be a string", name);
	*out = json_string_value(v);
	return HC_OK;
}

static hc_rc bool_field(json_t *entry, json_t *defaults, const char *name, bool *out, hc_error *err)
{
	json_t *v = field(entry, defaults, name);

	*out = false;
	if (!v || json_is_null(v))
		return HC_OK;
	if (!json_is_boolean(v))
		return hc_fail(err, HC_USAGE, "\"%s\" must be true or false", name);
	*out = json_is_true(v);
	return HC_OK;
}

static hc_rc check_known_fields(json_t *obj, hc_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(entry_fields) / sizeof(entry_fields[0]); i++)
			known = known || strcmp(key, entry_fields[i]) == 0;
		if (!known)
			return hc_fail(err, HC_USAGE, "unknown field \"%s\"", key);
	}
	return HC_OK;
}

static char *output_path(const char *base, const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	return hc_path_join(base, path);
}

static hc_rc load_entry(json_t *entry, json_t *defaults, const char *base, hc_plan_entry *e,
			hc_error *err)
{
	static const char *const fields[][2] = {{"cn", "CN"}, {"o", "O"},   {"ou", "OU"},
						{"l", "L"},   {"st", "ST"}, {"c", "C"}};
	const char *label, *type, *subject, *wildcard, *profile, *md, *csr;
	hc_subject subj = {0};
	hc_altnames sans = {0};
	hc_csr_params p = {0};
	json_t *list;
	hc_rc rc;

	if (!json_is_object(entry))
		return hc_fail(err, HC_USAGE, "must be an object");
	if ((rc = check_known_fields(entry, err)) != HC_OK ||
	    (rc = string_field(entry, NULL, "label", &label, err)) != HC_OK ||
	    (rc = string_field(entry, defaults, "type", &type, err)) != HC_OK ||
	    (rc = string_field(entry, defaults, "subject", &subject, err)) != HC_OK ||
	    (rc = string_field(entry, defaults, "wildcard", &wildcard, err)) != HC_OK ||
	    (rc = string_field(entry, defaults, "profile", &profile, err)) != HC_OK ||
	    (rc = string_field(entry, defaults, "md", &md, err)) != HC_OK ||
	    (rc = string_field(entry, NULL, "csr", &csr, err)) != HC_OK ||
	    (rc = bool_field(entry, defaults, "pss", &p.pss, err)) != HC_OK ||
	    (rc = bool_field(entry, defaults, "exportable", &e->exportable, err)) != HC_OK)
		return rc;
	if (!label || !*label)
		return hc_fail(err, HC_USAGE, "\"label\" is required");
	if (!(e->label = strdup(label)))
		return hc_fail(err, HC_IO, "out of memory");
	if ((rc = hc_keytype_parse(type ? type : "rsa:2048", &e->type, err)) != HC_OK)
		return rc;
	if (profile && (rc = hc_profile_parse(profile, &p.profile, err)) != HC_OK)
		return rc;
	if (md && (rc = hc_sign_md_parse(md, &p.md, err)) != HC_OK)
		return rc;

	if (subject)
		rc = hc_subject_parse(subject, &subj, err);
	for (size_t i = 0; rc == HC_OK && i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v;
		if ((rc = string_field(entry, defaults, fields[i][0], &v, err)) == HC_OK && v)
			rc = hc_subject_set(&subj, fields[i][1], v, err);
	}
	list = field(entry, defaults, "sans");
	if (rc == HC_OK && list && !json_is_array(list))
		rc = hc_fail(err, HC_USAGE, "\"sans\" must be an array of names");
	for (size_t i = 0; rc == HC_OK && list && i < json_array_size(list); i++) {
		json_t *v = json_array_get(list, i);
		rc = json_is_string(v) ? hc_altnames_add(&sans, json_string_value(v), "sans", err)
				       : hc_fail(err, HC_USAGE, "\"sans\" must hold strings");
	}
	if (rc == HC_OK) {
		char *name = NULL;
		p.subject = &subj;
		p.sans = &sans;
		p.wildcard = wildcard;
		p.key_type = &e->type;
		rc = hc_csr_plan_make(&p, &e->csr, err);
		if (rc == HC_OK && (asprintf(&name, "%s.csr", label) < 0 ||
				    !(e->csr_path = output_path(base, csr ? csr : name))))
			rc = hc_fail(err, HC_IO, "out of memory");
		free(name);
	}
	hc_subject_clear(&subj);
	hc_altnames_clear(&sans);
	return rc;
}

hc_rc hc_provision_plan_load(const char *path, const char *out_dir, hc_provision_plan *out,
			     hc_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *doc = NULL, *defaults = NULL, *keys, *labels = NULL, *outputs = NULL;
	char *dir_copy = NULL;
	const char *base;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = hc_file_read(path, 4u << 20, &data, &len, err)) != HC_OK)
		return rc;
	doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	free(data);
	if (!doc)
		return hc_fail(err, HC_USAGE, "plan %s: line %d: %s", path, jerr.line, jerr.text);
	keys = doc;
	if (json_is_object(doc)) {
		const char *key;
		json_t *v;
		json_object_foreach(doc, key, v)
		{
			if (strcmp(key, "defaults") != 0 && strcmp(key, "keys") != 0) {
				rc = hc_fail(err, HC_USAGE,
					     "plan %s: unknown field \"%s\" (use "
					     "\"defaults\" and \"keys\")",
					     path, key);
				goto out;
			}
		}
		defaults = json_object_get(doc, "defaults");
		keys = json_object_get(doc, "keys");
		if (defaults && (!json_is_object(defaults) || json_object_get(defaults, "label") ||
				 json_object_get(defaults, "csr"))) {
			rc = hc_fail(err, HC_USAGE,
				     "plan %s: \"defaults\" must be an object "
				     "without \"label\" or \"csr\"",
				     path);
			goto out;
		}
		if (defaults && (rc = check_known_fields(defaults, err)) != HC_OK) {
			hc_error_prefix(err, "plan %s: defaults", path);
			goto out;
		}
	}
	if (!json_is_array(keys) || json_array_size(keys) == 0) {
		rc = hc_fail(err, HC_USAGE,
			     "plan %s: no keys (expected an array of entries, or "
			     "{\"keys\": [...]})",
			     path);
		goto out;
	}
	dir_copy = strdup(path);
	if (!dir_copy) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	base = out_dir ? out_dir : dirname(dir_copy);
	out->entries = calloc(json_array_size(keys), sizeof(*out->entries));
	if (!out->entries) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	/* Labels and outputs seen so far, to their entry numbers: linear in the plan's size. */
	labels = json_object();
	outputs = json_object();
	if (!labels || !outputs) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(keys); i++) {
		hc_plan_entry *e = &out->entries[i];
		json_t *seen;
		out->count = i + 1;
		rc = load_entry(json_array_get(keys, i), defaults, base, e, err);
		if (rc == HC_OK && (seen = json_object_get(labels, e->label)) != NULL)
			rc = hc_fail(err, HC_USAGE, "label '%s' is also entry %lld's", e->label,
				     (long long)json_integer_value(seen));
		else if (rc == HC_OK && (seen = json_object_get(outputs, e->csr_path)) != NULL)
			rc = hc_fail(err, HC_USAGE, "output %s is also entry %lld's", e->csr_path,
				     (long long)json_integer_value(seen));
		if (rc == HC_OK &&
		    (json_object_set_new(labels, e->label, json_integer((json_int_t)i + 1)) != 0 ||
		     json_object_set_new(outputs, e->csr_path, json_integer((json_int_t)i + 1)) !=
			     0))
			rc = hc_fail(err, HC_IO, "out of memory");
		if (rc != HC_OK) {
			hc_error_prefix(err, "plan %s: entry %zu%s%s%s", path, i + 1,
					e->label ? " (" : "", e->label ? e->label : "",
					e->label ? ")" : "");
			goto out;
		}
	}
out:
	free(dir_copy);
	json_decref(labels);
	json_decref(outputs);
	json_decref(doc);
	if (rc != HC_OK)
		hc_provision_plan_clear(out);
	return rc;
}

void hc_provision_plan_clear(hc_provision_plan *plan)
{
	for (size_t i = 0; plan->entries && i < plan->count; i++) {
		free(plan->entries[i].label);
		free(plan->entries[i].csr_path);
		hc_csr_plan_clear(&plan->entries[i].csr);
	}
	free(plan->entries);
	memset(plan, 0, sizeof(*plan));
}

/* ---- running it ------------------------------------------------------ */

const char *hc_provision_status_name(hc_provision_status status)
{
	switch (status) {
	case HC_PROVISION_CREATED: return "created";
	case HC_PROVISION_REQUESTED: return "requested";
	case HC_PROVISION_EXISTING: return "existing";
	case HC_PROVISION_FAILED: return "failed";
	default: return "pending";
	}
}

/* The key and its request are both there: is the request really this key's? */
static hc_rc request_matches(hc_session *s, const hc_key_info *key, const char *path, bool *matches,
			     hc_error *err)
{
	hc_x509_bundle b = {0};
	EVP_PKEY *pub = NULL;
	hc_rc rc;

	*matches = false;
	if ((rc = hc_x509_load_file(path, NULL, &b, err)) != HC_OK)
		return rc;
	if (!b.csr)
		rc = hc_fail(err, HC_USAGE, "%s holds no certificate request", path);
	else if ((rc = hc_key_public(s, key, &pub, err)) == HC_OK)
		*matches = EVP_PKEY_eq(X509_REQ_get0_pubkey(b.csr), pub) == 1;
	EVP_PKEY_free(pub);
	hc_x509_bundle_clear(&b);
	return rc;
}

static void provision_entry(hc_session *s, const hc_plan_entry *e, bool force,
			    hc_provision_outcome *o)
{
	CK_OBJECT_HANDLE *found = NULL;
	hc_keygen_params kp = {.label = e->label,
			       .type = e->type,
			       .exportable = e->exportable,
			       .if_missing = true};
	hc_csr_output output = {e->csr_path, false, force};
	hc_keygen_result key = {0};
	hc_csr_result csr = {0};
	struct stat st;
	size_t n = 0;
	bool have_file = stat(e->csr_path, &st) == 0;
	hc_rc rc;

	rc = hc_key_find(s, CKO_PRIVATE_KEY, e->label, NULL, 0, &found, &n, &o->err);
	if (rc == HC_OK && n > 1)
		rc = hc_fail(&o->err, HC_CHECK, "label '%s' names %zu private keys", e->label, n);
	if (rc == HC_OK && n == 1 && have_file && !force) {
		bool matches = false;
		hc_key_info info;
		if ((rc = hc_key_describe(s, found[0], &info, &o->err)) == HC_OK) {
			rc = request_matches(s, &info, e->csr_path, &matches, &o->err);
			if (rc == HC_OK && !matches)
				rc = hc_error_hint(&o->err, HC_HINT_FORCE_REPLACE,
						   hc_fail(&o->err, HC_CHECK,
							   "%s is a request for another key than "
							   "'%s'",
							   e->csr_path, e->label));
			if (rc == HC_OK) {
				o->status = HC_PROVISION_EXISTING;
				o->key_uri = strdup(info.uri);
				hc_keytype_format(&info.type, o->key_type, sizeof(o->key_type));
			}
			hc_key_info_clear(&info);
		}
		free(found);
		if (rc != HC_OK)
			o->status = HC_PROVISION_FAILED;
		return;
	}
	free(found);
	/* No key yet but a request file: generating one only to refuse the file wastes it. */
	if (rc == HC_OK && n == 0)
		rc = hc_file_check_writable(e->csr_path, force, &o->err);
	if (rc == HC_OK)
		rc = hc_request(s, &kp, &e->csr, &output, &key, &csr, &o->err);
	if (rc != HC_OK) {
		o->status = HC_PROVISION_FAILED;
		return;
	}
	o->status = key.created ? HC_PROVISION_CREATED : HC_PROVISION_REQUESTED;
	o->key_uri = strdup(key.key.uri);
	snprintf(o->key_type, sizeof(o->key_type), "%s", csr.key_type);
	hc_keygen_result_clear(&key);
	hc_csr_result_clear(&csr);
}

struct provision_run {
	const hc_provision_plan *plan;
	bool force;
	hc_provision_progress progress;
	void *ctx;
	hc_provision_outcome *outcomes;
	pthread_mutex_t lock;
	size_t next, done;
};

struct provision_worker {
	struct provision_run *run;
	hc_session *session;
	pthread_t thread;
};

static void *provision_worker(void *arg)
{
	struct provision_worker *w = arg;
	struct provision_run *run = w->run;

	for (;;) {
		size_t i;
		pthread_mutex_lock(&run->lock);
		i = run->next++;
		pthread_mutex_unlock(&run->lock);
		if (i >= run->plan->count)
			break;
		provision_entry(w->session, &run->plan->entries[i], run->force, &run->outcomes[i]);
		pthread_mutex_lock(&run->lock);
		run->done++;
		if (run->progress)
			run->progress(run->ctx, run->done, run->plan->count, &run->plan->entries[i],
				      &run->outcomes[i]);
		pthread_mutex_unlock(&run->lock);
	}
	return NULL;
}

hc_rc hc_provision_run(hc_session *login, const hc_provision_plan *plan, unsigned jobs, bool force,
		       hc_provision_progress progress, void *ctx, hc_provision_outcome *outcomes,
		       hc_error *err)
{
	struct provision_run run = {plan, force, progress, ctx, outcomes, PTHREAD_MUTEX_INITIALIZER,
				    0,	  0};
	struct provision_worker *workers;
	size_t started = 0;

	if (jobs < 1 || !hc_token_threads_safe(hc_session_slot(login)))
		jobs = 1;
	if (jobs > plan->count)
		jobs = (unsigned)plan->count;
	workers = calloc(jobs, sizeof(*workers));
	if (!workers)
		return hc_fail(err, HC_IO, "out of memory");
	/*
	 * The caller's session is the first worker's; the others open their
	 * own. A token that allows fewer sessions just gets fewer workers.
	 */
	workers[0] = (struct provision_worker){&run, login, 0};
	for (unsigned i = 1; i < jobs; i++) {
		workers[i].run = &run;
		if (hc_session_open(hc_session_module(login), hc_session_slot(login), true,
				    &workers[i].session, NULL) != HC_OK)
			break;
	}
	for (unsigned i = 1; i < jobs && workers[i].session; i++) {
		if (pthread_create(&workers[i].thread, NULL, provision_worker, &workers[i]) != 0)
			break;
		started = i;
	}
	provision_worker(&workers[0]);
	for (size_t i = 1; i <= started; i++)
		pthread_join(workers[i].thread, NULL);
	for (unsigned i = 1; i < jobs; i++)
		hc_session_close(workers[i].session);
	free(workers);

	for (size_t i = 0; i < plan->count; i++) {
		if (outcomes[i].status == HC_PROVISION_FAILED) {
			*err = outcomes[i].err;
			hc_error_prefix(err, "%s", plan->entries[i].label);
			return err->rc;
		}
	}
	return HC_OK;
}

void hc_provision_outcomes_clear(hc_provision_outcome *outcomes, size_t count)
{
	for (size_t i = 0; outcomes && i < count; i++)
		free(outcomes[i].key_uri);
}
