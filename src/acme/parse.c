/*
 * Parsers of what an ACME server answers (RFC 8555 7.1): directory, account,
 * order, authorization, challenge, problem documents, Retry-After and Link
 * headers. Each takes bytes, trusts no member to exist or to have a type,
 * and says which member is wrong; tests/fuzz/fuzz_acme.c feeds them.
 */
#include "hsmcert/acme.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Server answers are small; a larger one is refused before it is parsed. */
#define MAX_JSON (1u << 20)
#define MAX_LIST 1000

static hc_rc load(const char *body, size_t len, const char *what, json_t **out, hc_error *err)
{
	json_error_t jerr;

	*out = NULL;
	if (len > MAX_JSON)
		return hc_fail(err, HC_IO, "the ACME server's %s is larger than %u bytes", what,
			       MAX_JSON);
	if (!body || len == 0)
		return hc_fail(err, HC_IO, "the ACME server sent an empty %s", what);
	*out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		return hc_fail(err, HC_IO, "the ACME server's %s is not JSON (line %d: %s)", what,
			       jerr.line, jerr.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return hc_fail(err, HC_IO, "the ACME server's %s is not a JSON object", what);
	}
	return HC_OK;
}

/*
 * An optional string member: absent or null leaves *out NULL; another type,
 * or a string with a NUL or control character, is an error.
 */
static hc_rc opt_string(const json_t *obj, const char *name, const char *what, char **out,
			hc_error *err)
{
	const json_t *v = json_object_get(obj, name);
	const char *s;
	size_t len;

	*out = NULL;
	if (!v || json_is_null(v))
		return HC_OK;
	if (!json_is_string(v))
		return hc_fail(err, HC_IO, "the ACME server's %s: \"%s\" is not a string", what,
			       name);
	s = json_string_value(v);
	len = json_string_length(v);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return hc_fail(err, HC_IO,
				       "the ACME server's %s: \"%s\" holds a control character",
				       what, name);
	if (!(*out = strdup(s)))
		return hc_fail(err, HC_IO, "out of memory");
	return HC_OK;
}

static hc_rc req_string(const json_t *obj, const char *name, const char *what, char **out,
			hc_error *err)
{
	hc_rc rc = opt_string(obj, name, what, out, err);

	if (rc == HC_OK && !*out)
		rc = hc_fail(err, HC_IO, "the ACME server's %s has no \"%s\"", what, name);
	return rc;
}

/* A URL member: https:// or http:// only (never file:, data:, ...). */
static hc_rc url_member(const json_t *obj, const char *name, const char *what, bool required,
			char **out, hc_error *err)
{
	hc_rc rc = required ? req_string(obj, name, what, out, err)
			    : opt_string(obj, name, what, out, err);

	if (rc == HC_OK && *out && strncasecmp(*out, "https://", 8) != 0 &&
	    strncasecmp(*out, "http://", 7) != 0) {
		rc = hc_fail(err, HC_IO, "the ACME server's %s: \"%s\" is not an http(s) URL", what,
			     name);
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- problems ------------------------------------------------------------ */

static void problem_from_json(const json_t *obj, hc_acme_problem *p)
{
	const json_t *subs = json_object_get(obj, "subproblems"),
		     *st = json_object_get(obj, "status");
	hc_error ignored = {0};
	size_t i, used = 0, cap = 0;
	const json_t *sub;

	/* A problem is shown as well as it can be: members of the wrong type are left out. */
	opt_string(obj, "type", "problem", &p->type, &ignored);
	opt_string(obj, "detail", "problem", &p->detail, &ignored);
	if (json_is_integer(st))
		p->status = (long)json_integer_value(st);
	if (!json_is_array(subs))
		return;
	json_array_foreach(subs, i, sub)
	{
		char *type = NULL, *detail = NULL, *value = NULL, *piece = NULL, *grown;
		const json_t *id = json_object_get(sub, "identifier");
		int n;
		if (i >= 20 || !json_is_object(sub))
			break;
		opt_string(sub, "type", "subproblem", &type, &ignored);
		opt_string(sub, "detail", "subproblem", &detail, &ignored);
		if (json_is_object(id))
			opt_string(id, "value", "subproblem", &value, &ignored);
		n = asprintf(&piece, "%s%s: %s: %s", used ? "; " : "", value ? value : "?",
			     type ? type : "?", detail ? detail : "");
		free(type);
		free(detail);
		free(value);
		if (n < 0)
			break;
		if (used + (size_t)n + 1 > cap) {
			cap = (used + (size_t)n + 1) * 2;
			if (!(grown = realloc(p->subproblems, cap))) {
				free(piece);
				break;
			}
			p->subproblems = grown;
		}
		memcpy(p->subproblems + used, piece, (size_t)n + 1);
		used += (size_t)n;
		free(piece);
	}
}

hc_rc hc_acme_problem_parse(const char *body, size_t len, hc_acme_problem *out, hc_error *err)
{
	json_t *j = NULL;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load(body, len, "error document", &j, err)) != HC_OK)
		return rc;
	problem_from_json(j, out);
	json_decref(j);
	if (!out->type) {
		hc_acme_problem_clear(out);
		return hc_fail(err, HC_IO, "the ACME server's error document has no \"type\"");
	}
	return HC_OK;
}

void hc_acme_problem_clear(hc_acme_problem *p)
{
	free(p->type);
	free(p->detail);
	free(p->subproblems);
	memset(p, 0, sizeof(*p));
}

const char *hc_acme_problem_short(const hc_acme_problem *p)
{
	static const char prefix[] = "urn:ietf:params:acme:error:";

	if (!p->type)
		return "unknown";
	if (strncmp(p->type, prefix, sizeof(prefix) - 1) == 0)
		return p->type + sizeof(prefix) - 1;
	return p->type;
}

/* ---- directory ----------------------------------------------------------- */

hc_rc hc_acme_directory_parse(const char *body, size_t len, hc_acme_directory *out, hc_error *err)
{
	static const char what[] = "directory";
	const json_t *meta;
	json_t *j = NULL;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load(body, len, what, &j, err)) != HC_OK)
		return rc;
	if ((rc = url_member(j, "newNonce", what, true, &out->new_nonce, err)) != HC_OK ||
	    (rc = url_member(j, "newAccount", what, true, &out->new_account, err)) != HC_OK ||
	    (rc = url_member(j, "newOrder", what, true, &out->new_order, err)) != HC_OK ||
	    (rc = url_member(j, "revokeCert", what, false, &out->revoke_cert, err)) != HC_OK ||
	    (rc = url_member(j, "keyChange", what, false, &out->key_change, err)) != HC_OK)
		goto out;
	meta = json_object_get(j, "meta");
	if (meta && !json_is_object(meta)) {
		rc = hc_fail(err, HC_IO, "the ACME server's directory: \"meta\" is not an object");
		goto out;
	}
	if (meta) {
		const json_t *eab = json_object_get(meta, "externalAccountRequired");
		if ((rc = opt_string(meta, "termsOfService", what, &out->terms_of_service, err)) !=
			    HC_OK ||
		    (rc = opt_string(meta, "website", what, &out->website, err)) != HC_OK)
			goto out;
		out->eab_required = json_is_true(eab);
	}
out:
	json_decref(j);
	if (rc != HC_OK)
		hc_acme_directory_clear(out);
	return rc;
}

void hc_acme_directory_clear(hc_acme_directory *d)
{
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->revoke_cert);
	free(d->key_change);
	free(d->terms_of_service);
	free(d->website);
	memset(d, 0, sizeof(*d));
}

/* ---- account, order, authorization, challenge ---------------------------- */

hc_rc hc_acme_account_parse(const char *body, size_t len, char **status, hc_error *err)
{
	json_t *j = NULL;
	hc_rc rc;

	*status = NULL;
	if ((rc = load(body, len, "account", &j, err)) != HC_OK)
		return rc;
	rc = req_string(j, "status", "account", status, err);
	json_decref(j);
	return rc;
}

static hc_rc problem_member(const json_t *obj, hc_acme_problem *out)
{
	const json_t *e = json_object_get(obj, "error");

	if (json_is_object(e))
		problem_from_json(e, out);
	return HC_OK;
}

static hc_rc challenge_from_json(const json_t *j, hc_acme_challenge *out, hc_error *err)
{
	static const char what[] = "challenge";
	hc_rc rc;

	if (!json_is_object(j))
		return hc_fail(err, HC_IO, "the ACME server's challenge is not an object");
	if ((rc = req_string(j, "type", what, &out->type, err)) != HC_OK ||
	    (rc = url_member(j, "url", what, true, &out->url, err)) != HC_OK ||
	    (rc = opt_string(j, "token", what, &out->token, err)) != HC_OK ||
	    (rc = req_string(j, "status", what, &out->status, err)) != HC_OK)
		return rc;
	return problem_member(j, &out->error);
}

hc_rc hc_acme_challenge_parse(const char *body, size_t len, hc_acme_challenge *out, hc_error *err)
{
	json_t *j = NULL;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load(body, len, "challenge", &j, err)) != HC_OK)
		return rc;
	rc = challenge_from_json(j, out, err);
	json_decref(j);
	if (rc != HC_OK)
		hc_acme_challenge_clear(out);
	return rc;
}

void hc_acme_challenge_clear(hc_acme_challenge *c)
{
	free(c->type);
	free(c->url);
	free(c->token);
	free(c->status);
	hc_acme_problem_clear(&c->error);
	memset(c, 0, sizeof(*c));
}

hc_rc hc_acme_authz_parse(const char *body, size_t len, hc_acme_authz *out, hc_error *err)
{
	static const char what[] = "authorization";
	const json_t *id, *chals, *c;
	json_t *j = NULL;
	size_t i;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load(body, len, what, &j, err)) != HC_OK)
		return rc;
	if ((rc = req_string(j, "status", what, &out->status, err)) != HC_OK)
		goto out;
	id = json_object_get(j, "identifier");
	if (!json_is_object(id)) {
		rc = hc_fail(err, HC_IO, "the ACME server's authorization has no \"identifier\"");
		goto out;
	}
	if ((rc = req_string(id, "type", what, &out->id_type, err)) != HC_OK ||
	    (rc = req_string(id, "value", what, &out->id_value, err)) != HC_OK)
		goto out;
	out->wildcard = json_is_true(json_object_get(j, "wildcard"));
	chals = json_object_get(j, "challenges");
	if (!json_is_array(chals)) {
		rc = hc_fail(err, HC_IO,
			     "the ACME server's authorization has no \"challenges\" "
			     "list");
		goto out;
	}
	if (json_array_size(chals) > MAX_LIST) {
		rc = hc_fail(err, HC_IO,
			     "the ACME server's authorization lists too many challenges");
		goto out;
	}
	if (json_array_size(chals) &&
	    !(out->challenges = calloc(json_array_size(chals), sizeof(*out->challenges)))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	json_array_foreach(chals, i, c)
	{
		out->challenge_count = i + 1;
		if ((rc = challenge_from_json(c, &out->challenges[i], err)) != HC_OK)
			goto out;
	}
out:
	json_decref(j);
	if (rc != HC_OK)
		hc_acme_authz_clear(out);
	return rc;
}

void hc_acme_authz_clear(hc_acme_authz *a)
{
	free(a->status);
	free(a->id_type);
	free(a->id_value);
	for (size_t i = 0; i < a->challenge_count; i++)
		hc_acme_challenge_clear(&a->challenges[i]);
	free(a->challenges);
	memset(a, 0, sizeof(*a));
}

hc_rc hc_acme_order_parse(const char *body, size_t len, hc_acme_order *out, hc_error *err)
{
	static const char what[] = "order";
	const json_t *authzs, *a;
	json_t *j = NULL;
	size_t i;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load(body, len, what, &j, err)) != HC_OK)
		return rc;
	if ((rc = req_string(j, "status", what, &out->status, err)) != HC_OK ||
	    (rc = url_member(j, "finalize", what, true, &out->finalize, err)) != HC_OK ||
	    (rc = url_member(j, "certificate", what, false, &out->certificate, err)) != HC_OK)
		goto out;
	authzs = json_object_get(j, "authorizations");
	if (!json_is_array(authzs) || json_array_size(authzs) > MAX_LIST) {
		rc = hc_fail(err, HC_IO,
			     "the ACME server's order has no usable \"authorizations\" "
			     "list");
		goto out;
	}
	if (json_array_size(authzs) &&
	    !(out->authorizations = calloc(json_array_size(authzs), sizeof(char *)))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	json_array_foreach(authzs, i, a)
	{
		const char *s = json_string_value(a);
		if (!s ||
		    (strncasecmp(s, "https://", 8) != 0 && strncasecmp(s, "http://", 7) != 0)) {
			rc = hc_fail(err, HC_IO,
				     "the ACME server's order: authorization %zu is not "
				     "an http(s) URL",
				     i + 1);
			goto out;
		}
		if (!(out->authorizations[i] = strdup(s))) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		out->authz_count = i + 1;
	}
	problem_member(j, &out->error);
out:
	json_decref(j);
	if (rc != HC_OK)
		hc_acme_order_clear(out);
	return rc;
}

void hc_acme_order_clear(hc_acme_order *o)
{
	free(o->status);
	hc_acme_strings_free(o->authorizations, o->authz_count);
	free(o->finalize);
	free(o->certificate);
	hc_acme_problem_clear(&o->error);
	memset(o, 0, sizeof(*o));
}

void hc_acme_strings_free(char **list, size_t count)
{
	for (size_t i = 0; list && i < count; i++)
		free(list[i]);
	free(list);
}

/* ---- headers --------------------------------------------------------------- */

long hc_acme_retry_after(const char *value, time_t now)
{
	struct tm tm = {0};
	const char *end;
	char *num_end;
	long v;
	time_t t;

	if (!value)
		return -1;
	while (*value == ' ')
		value++;
	if (isdigit((unsigned char)*value)) {
		v = strtol(value, &num_end, 10);
		while (*num_end == ' ')
			num_end++;
		return *num_end == '\0' && v >= 0 && v < LONG_MAX ? v : -1;
	}
	/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (the form RFC 9110 requires). */
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end != '\0')
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return t > now ? (long)(t - now) : 0;
}

static hc_rc push(char ***urls, size_t *count, const char *s, size_t len, hc_error *err)
{
	char **grown;

	if (*count >= MAX_LIST)
		return HC_OK;
	if (!(grown = realloc(*urls, (*count + 1) * sizeof(char *))))
		return hc_fail(err, HC_IO, "out of memory");
	*urls = grown;
	if (!(grown[*count] = strndup(s, len)))
		return hc_fail(err, HC_IO, "out of memory");
	(*count)++;
	return HC_OK;
}

/* Does a link's parameter list (after the '>') name `rel` among its relation types? */
static bool params_have_rel(const char *p, size_t len, const char *rel)
{
	size_t rel_len = strlen(rel);

	for (size_t i = 0; i + 4 <= len; i++) {
		const char *v, *end = p + len;
		if (strncasecmp(p + i, "rel", 3) != 0 ||
		    (i > 0 && p[i - 1] != ';' && p[i - 1] != ' '))
			continue;
		v = p + i + 3;
		while (v < end && *v == ' ')
			v++;
		if (v >= end || *v != '=')
			continue;
		v++;
		while (v < end && *v == ' ')
			v++;
		if (v < end && *v == '"')
			v++;
		/* rel="a b": space-separated relation types. */
		while (v < end && *v != '"' && *v != ';') {
			const char *w = v;
			while (v < end && *v != ' ' && *v != '"' && *v != ';')
				v++;
			if ((size_t)(v - w) == rel_len && strncasecmp(w, rel, rel_len) == 0)
				return true;
			while (v < end && *v == ' ')
				v++;
		}
	}
	return false;
}

hc_rc hc_acme_link_parse(const char *value, const char *rel, char ***urls, size_t *count,
			 hc_error *err)
{
	const char *p = value;

	/* link-value = "<" URI-Reference ">" *( ";" link-param ), separated by commas. */
	while (p && *p) {
		const char *lt = strchr(p, '<'), *gt, *next;
		hc_rc rc;
		if (!lt || !(gt = strchr(lt + 1, '>')))
			break;
		next = strchr(gt + 1, ',');
		/* a comma inside a quoted parameter value is rare; a link then reads short */
		if (params_have_rel(gt + 1, next ? (size_t)(next - gt - 1) : strlen(gt + 1), rel) &&
		    (size_t)(gt - lt - 1) > 0 &&
		    (strncasecmp(lt + 1, "https://", 8) == 0 ||
		     strncasecmp(lt + 1, "http://", 7) == 0)) {
			bool clean = true;
			for (const char *c = lt + 1; c < gt; c++)
				if ((unsigned char)*c <= 0x20 || *c == 0x7f)
					clean = false;
			if (clean &&
			    (rc = push(urls, count, lt + 1, (size_t)(gt - lt - 1), err)) != HC_OK)
				return rc;
		}
		p = next ? next + 1 : NULL;
	}
	return HC_OK;
}
