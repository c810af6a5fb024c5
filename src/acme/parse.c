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

/* Fills `out` from a document's JSON object; leaves it cleared when it fails. */
typedef hc_rc (*fill_fn)(const json_t *j, void *out, hc_error *err);

/* One server document: `out` (`size` bytes) zeroed, then `body` parsed and `fill`ed into it. */
static hc_rc parse_document(const char *body, size_t len, const char *what, fill_fn fill, void *out,
			    size_t size, hc_error *err)
{
	json_t *j = NULL;
	hc_rc rc;

	memset(out, 0, size);
	if ((rc = load(body, len, what, &j, err)) == HC_OK)
		rc = fill(j, out, err);
	json_decref(j);
	return rc;
}

/* A JSON array member of at most MAX_LIST items and a zeroed array of `size` for them. */
static hc_rc list_member(const json_t *obj, const char *name, const char *what, size_t size,
			 const json_t **list, void **items, hc_error *err)
{
	*list = json_object_get(obj, name);
	*items = NULL;
	if (!json_is_array(*list) || json_array_size(*list) > MAX_LIST)
		return hc_fail(err, HC_IO, "the ACME server's %s has no usable \"%s\" list", what,
			       name);
	if (json_array_size(*list) && !(*items = calloc(json_array_size(*list), size)))
		return hc_fail(err, HC_IO, "out of memory");
	return HC_OK;
}

/* ---- problems ------------------------------------------------------------ */

/*
 * A problem document (RFC 7807, RFC 8555 6.7) shown as well as it can be:
 * members of the wrong type are left out. A subproblem is a problem
 * document with an identifier; `sub` gives it in "identifier: type: detail".
 */
static void problem_read(const json_t *obj, hc_acme_problem *p, char **sub)
{
	const json_t *st = json_object_get(obj, "status"), *id = json_object_get(obj, "identifier");
	hc_error ignored = {0};
	char *value = NULL;

	opt_string(obj, "type", "problem", &p->type, &ignored);
	opt_string(obj, "detail", "problem", &p->detail, &ignored);
	if (json_is_integer(st))
		p->status = (long)json_integer_value(st);
	if (!sub)
		return;
	if (json_is_object(id))
		opt_string(id, "value", "subproblem", &value, &ignored);
	if (asprintf(sub, "%s: %s: %s", value ? value : "?", p->type ? p->type : "?",
		     p->detail ? p->detail : "") < 0)
		*sub = NULL;
	free(value);
}

static void problem_from_json(const json_t *obj, hc_acme_problem *p)
{
	const json_t *subs = json_object_get(obj, "subproblems"), *sub;
	size_t i, used = 0;

	problem_read(obj, p, NULL);
	if (!json_is_array(subs))
		return;
	json_array_foreach(subs, i, sub)
	{
		hc_acme_problem one = {0};
		char *piece = NULL, *grown;
		size_t n;
		if (i >= 20 || !json_is_object(sub))
			break;
		problem_read(sub, &one, &piece);
		hc_acme_problem_clear(&one);
		if (!piece)
			break;
		n = strlen(piece);
		if (!(grown = realloc(p->subproblems, used + n + 3))) {
			free(piece);
			break;
		}
		p->subproblems = grown;
		snprintf(p->subproblems + used, n + 3, "%s%s", used ? "; " : "", piece);
		used += n + (used ? 2 : 0);
		free(piece);
	}
}

static hc_rc problem_fill(const json_t *j, void *out, hc_error *err)
{
	hc_acme_problem *p = out;

	problem_from_json(j, p);
	if (p->type)
		return HC_OK;
	hc_acme_problem_clear(p);
	return hc_fail(err, HC_IO, "the ACME server's error document has no \"type\"");
}

hc_rc hc_acme_problem_parse(const char *body, size_t len, hc_acme_problem *out, hc_error *err)
{
	return parse_document(body, len, "error document", problem_fill, out, sizeof(*out), err);
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

/* An "error" member (of a challenge or an order), when it is an object. */
static void problem_member(const json_t *obj, hc_acme_problem *out)
{
	const json_t *e = json_object_get(obj, "error");

	if (json_is_object(e))
		problem_from_json(e, out);
}

/* ---- directory ----------------------------------------------------------- */

static hc_rc directory_fill(const json_t *j, void *arg, hc_error *err)
{
	static const char what[] = "directory";
	hc_acme_directory *out = arg;
	const json_t *meta = json_object_get(j, "meta");
	hc_rc rc;

	if ((rc = url_member(j, "newNonce", what, true, &out->new_nonce, err)) != HC_OK ||
	    (rc = url_member(j, "newAccount", what, true, &out->new_account, err)) != HC_OK ||
	    (rc = url_member(j, "newOrder", what, true, &out->new_order, err)) != HC_OK ||
	    (rc = url_member(j, "revokeCert", what, false, &out->revoke_cert, err)) != HC_OK ||
	    (rc = url_member(j, "keyChange", what, false, &out->key_change, err)) != HC_OK)
		goto out;
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
	if (rc != HC_OK)
		hc_acme_directory_clear(out);
	return rc;
}

hc_rc hc_acme_directory_parse(const char *body, size_t len, hc_acme_directory *out, hc_error *err)
{
	return parse_document(body, len, "directory", directory_fill, out, sizeof(*out), err);
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

static hc_rc account_fill(const json_t *j, void *status, hc_error *err)
{
	return req_string(j, "status", "account", status, err);
}

hc_rc hc_acme_account_parse(const char *body, size_t len, char **status, hc_error *err)
{
	return parse_document(body, len, "account", account_fill, status, sizeof(*status), err);
}

static hc_rc challenge_fill(const json_t *j, void *arg, hc_error *err)
{
	static const char what[] = "challenge";
	hc_acme_challenge *out = arg;
	hc_rc rc;

	if (!json_is_object(j))
		rc = hc_fail(err, HC_IO, "the ACME server's challenge is not an object");
	else if ((rc = req_string(j, "type", what, &out->type, err)) == HC_OK &&
		 (rc = url_member(j, "url", what, true, &out->url, err)) == HC_OK &&
		 (rc = opt_string(j, "token", what, &out->token, err)) == HC_OK &&
		 (rc = req_string(j, "status", what, &out->status, err)) == HC_OK)
		problem_member(j, &out->error);
	if (rc != HC_OK)
		hc_acme_challenge_clear(out);
	return rc;
}

hc_rc hc_acme_challenge_parse(const char *body, size_t len, hc_acme_challenge *out, hc_error *err)
{
	return parse_document(body, len, "challenge", challenge_fill, out, sizeof(*out), err);
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

static hc_rc authz_fill(const json_t *j, void *arg, hc_error *err)
{
	static const char what[] = "authorization";
	hc_acme_authz *out = arg;
	const json_t *id = json_object_get(j, "identifier"), *chals, *c;
	void *items;
	size_t i;
	hc_rc rc;

	if ((rc = req_string(j, "status", what, &out->status, err)) != HC_OK)
		goto out;
	if (!json_is_object(id)) {
		rc = hc_fail(err, HC_IO, "the ACME server's authorization has no \"identifier\"");
		goto out;
	}
	if ((rc = req_string(id, "type", what, &out->id_type, err)) != HC_OK ||
	    (rc = req_string(id, "value", what, &out->id_value, err)) != HC_OK)
		goto out;
	out->wildcard = json_is_true(json_object_get(j, "wildcard"));
	if ((rc = list_member(j, "challenges", what, sizeof(*out->challenges), &chals, &items,
			      err)) != HC_OK)
		goto out;
	out->challenges = items;
	json_array_foreach(chals, i, c)
	{
		out->challenge_count = i + 1;
		if ((rc = challenge_fill(c, &out->challenges[i], err)) != HC_OK)
			goto out;
	}
out:
	if (rc != HC_OK)
		hc_acme_authz_clear(out);
	return rc;
}

hc_rc hc_acme_authz_parse(const char *body, size_t len, hc_acme_authz *out, hc_error *err)
{
	return parse_document(body, len, "authorization", authz_fill, out, sizeof(*out), err);
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

static hc_rc order_fill(const json_t *j, void *arg, hc_error *err)
{
	static const char what[] = "order";
	hc_acme_order *out = arg;
	const json_t *authzs, *a;
	void *items;
	size_t i;
	hc_rc rc;

	if ((rc = req_string(j, "status", what, &out->status, err)) != HC_OK ||
	    (rc = url_member(j, "finalize", what, true, &out->finalize, err)) != HC_OK ||
	    (rc = url_member(j, "certificate", what, false, &out->certificate, err)) != HC_OK ||
	    (rc = list_member(j, "authorizations", what, sizeof(char *), &authzs, &items, err)) !=
		    HC_OK)
		goto out;
	out->authorizations = items;
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
	if (rc != HC_OK)
		hc_acme_order_clear(out);
	return rc;
}

hc_rc hc_acme_order_parse(const char *body, size_t len, hc_acme_order *out, hc_error *err)
{
	return parse_document(body, len, "order", order_fill, out, sizeof(*out), err);
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
