/*
 * The ACME protocol (RFC 8555): directory, nonces, signed POSTs with
 * badNonce retries, the account found by its key, orders, http-01
 * authorizations, finalize and the certificate download. Every server
 * answer goes through the parsers in parse.c; every error names the ACME
 * problem document the server sent.
 */
#include "hsmcert/acme.h"

#include "hsmcert/fetch.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONCE_RETRIES 5 /* badNonce: RFC 8555 6.5 says retry with the fresh nonce */
#define MAX_ANSWER (1u << 20)

struct hc_acme_client {
	char *directory_url, *ca_file;
	long poll_timeout_s;
	const hc_acme_key *key;
	hc_acme_directory dir;
	char *nonce;
	char *kid; /* the account URL */
	char *thumbprint;
};

static const char *const kept_headers[] = {"Replay-Nonce", "Location",	   "Retry-After",
					   "Link",	   "Content-Type", NULL};

static hc_rc http(const hc_acme_client *c, const char *url, bool head, const char *body,
		  hc_fetch_response *resp, hc_error *err)
{
	hc_fetch_request_params req = {
		.url = url,
		.method_head = head,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.content_type = body ? "application/jose+json" : NULL,
		.ca_file = c->ca_file,
		.headers = kept_headers,
		.limits = {.connect_timeout_ms = 10000,
			   .timeout_ms = 60000,
			   .max_bytes = MAX_ANSWER},
	};
	return hc_fetch_request(&req, resp, err);
}

/* Printable excerpt of an answer that is not what it should be, for the message. */
static void excerpt(const hc_fetch_response *resp, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < resp->body_len && n + 1 < size && i < 80; i++) {
		unsigned char ch = resp->body[i];
		out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '.';
	}
	out[n] = '\0';
}

/* Problems caused by the network between the CA and the responder are I/O; others are refusals. */
static hc_rc problem_rc(const hc_acme_problem *p)
{
	static const char *const io[] = {"connection",	"dns", "serverInternal",
					 "rateLimited", "tls", NULL};
	const char *t = hc_acme_problem_short(p);

	for (const char *const *i = io; *i; i++)
		if (strcmp(t, *i) == 0)
			return HC_IO;
	if (strcmp(t, "malformed") == 0 || strcmp(t, "badCSR") == 0 ||
	    strcmp(t, "badSignatureAlgorithm") == 0)
		return HC_USAGE;
	return HC_CHECK;
}

static hc_rc problem_fail(const hc_acme_problem *p, const char *what, hc_error *err)
{
	return hc_fail(err, problem_rc(p), "%s: the ACME server answered %s%s%s%s%s%s", what,
		       p->type ? p->type : "an error", p->detail ? ": " : "",
		       p->detail ? p->detail : "", p->subproblems ? " (" : "",
		       p->subproblems ? p->subproblems : "", p->subproblems ? ")" : "");
}

/* A non-2xx answer: its problem document, or what was wrong with it. */
static hc_rc answer_fail(const hc_fetch_response *resp, const char *what, hc_acme_problem *kept,
			 hc_error *err)
{
	hc_acme_problem p = {0};
	hc_error perr = {0};
	char text[96];
	hc_rc rc;

	if (hc_acme_problem_parse((const char *)resp->body, resp->body_len, &p, &perr) != HC_OK) {
		excerpt(resp, text, sizeof(text));
		return hc_fail(err, HC_IO,
			       "%s: the ACME server answered HTTP %ld without a problem document "
			       "(%s)%s%s%s",
			       what, resp->status, perr.message, text[0] ? ": \"" : "", text,
			       text[0] ? "\"" : "");
	}
	if (!p.status)
		p.status = resp->status;
	rc = problem_fail(&p, what, err);
	if (kept)
		*kept = p;
	else
		hc_acme_problem_clear(&p);
	return rc;
}

static hc_rc keep_nonce(hc_acme_client *c, const hc_fetch_response *resp)
{
	const char *n = hc_fetch_response_header(resp, "Replay-Nonce");

	free(c->nonce);
	c->nonce = NULL;
	/* RFC 8555 6.5.1: base64url characters only; anything else is not kept. */
	if (!n || !*n ||
	    strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
		    strlen(n))
		return HC_OK;
	c->nonce = strdup(n);
	return HC_OK;
}

static hc_rc fresh_nonce(hc_acme_client *c, hc_error *err)
{
	hc_fetch_response resp = {0};
	hc_rc rc;

	if ((rc = http(c, c->dir.new_nonce, true, NULL, &resp, err)) != HC_OK)
		return rc;
	keep_nonce(c, &resp);
	if (resp.status != 200 && resp.status != 204)
		rc = hc_fail(err, HC_IO, "%s: the ACME server answered HTTP %ld for a nonce",
			     c->dir.new_nonce, resp.status);
	else if (!c->nonce)
		rc = hc_fail(err, HC_IO, "%s: the ACME server gave no usable Replay-Nonce",
			     c->dir.new_nonce);
	hc_fetch_response_clear(&resp);
	return rc;
}

/*
 * A signed POST (payload NULL: POST-as-GET). The account's kid once known,
 * the JWK before. A badNonce answer is retried with the nonce it carries.
 * `problem`, when not NULL, receives the problem document of a failure.
 */
static hc_rc post(hc_acme_client *c, const char *url, const char *payload, const char *what,
		  hc_fetch_response *resp, hc_acme_problem *problem, hc_error *err)
{
	hc_acme_problem p = {0};
	char *jws = NULL;
	hc_rc rc = HC_OK;

	for (int attempt = 0;; attempt++) {
		memset(resp, 0, sizeof(*resp));
		if (!c->nonce && (rc = fresh_nonce(c, err)) != HC_OK)
			return rc;
		rc = hc_acme_jws(c->key, c->kid, c->nonce, url, payload ? payload : "", &jws, err);
		free(c->nonce);
		c->nonce = NULL; /* a nonce is used once */
		if (rc != HC_OK)
			return rc;
		rc = http(c, url, false, jws, resp, err);
		free(jws);
		jws = NULL;
		if (rc != HC_OK)
			return rc;
		keep_nonce(c, resp);
		if (resp->status >= 200 && resp->status < 300)
			return HC_OK;
		rc = answer_fail(resp, what, &p, err);
		if (p.type && strcmp(hc_acme_problem_short(&p), "badNonce") == 0 &&
		    attempt + 1 < NONCE_RETRIES) {
			hc_acme_problem_clear(&p);
			hc_fetch_response_clear(resp);
			hc_error_clear(err);
			continue;
		}
		if (problem)
			*problem = p;
		else
			hc_acme_problem_clear(&p);
		hc_fetch_response_clear(resp);
		return rc;
	}
}

hc_rc hc_acme_client_new(const hc_acme_client_params *params, const hc_acme_key *key,
			 hc_acme_client **out, hc_error *err)
{
	hc_acme_client *c = calloc(1, sizeof(*c));
	hc_fetch_response resp = {0};
	hc_rc rc;

	*out = NULL;
	if (!c)
		return hc_fail(err, HC_IO, "out of memory");
	c->key = key;
	c->poll_timeout_s = params->poll_timeout_s > 0 ? params->poll_timeout_s : 300;
	if (!(c->directory_url = strdup(params->directory_url)) ||
	    (params->ca_file && !(c->ca_file = strdup(params->ca_file)))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto fail;
	}
	if ((rc = hc_acme_thumbprint(key->pub, &c->thumbprint, err)) != HC_OK)
		goto fail;
	if ((rc = http(c, c->directory_url, false, NULL, &resp, err)) != HC_OK)
		goto fail;
	if (resp.status != 200) {
		rc = answer_fail(&resp, c->directory_url, NULL, err);
		goto fail;
	}
	if ((rc = hc_acme_directory_parse((const char *)resp.body, resp.body_len, &c->dir, err)) !=
	    HC_OK) {
		hc_error_prefix(err, "%s", c->directory_url);
		goto fail;
	}
	hc_fetch_response_clear(&resp);
	*out = c;
	return HC_OK;
fail:
	hc_fetch_response_clear(&resp);
	hc_acme_client_free(c);
	return rc;
}

void hc_acme_client_free(hc_acme_client *c)
{
	if (!c)
		return;
	free(c->directory_url);
	free(c->ca_file);
	hc_acme_directory_clear(&c->dir);
	free(c->nonce);
	free(c->kid);
	free(c->thumbprint);
	free(c);
}

const hc_acme_directory *hc_acme_client_directory(const hc_acme_client *c)
{
	return &c->dir;
}

const char *hc_acme_account_url(const hc_acme_client *c)
{
	return c->kid;
}

/* ---- account ------------------------------------------------------------- */

static hc_rc take_account(hc_acme_client *c, const hc_fetch_response *resp, hc_error *err)
{
	const char *loc = hc_fetch_response_header(resp, "Location");
	char *status = NULL;
	hc_rc rc;

	if (!loc || (strncasecmp(loc, "https://", 8) != 0 && strncasecmp(loc, "http://", 7) != 0))
		return hc_fail(err, HC_IO, "the ACME server gave no account URL (Location)");
	if ((rc = hc_acme_account_parse((const char *)resp->body, resp->body_len, &status, err)) !=
	    HC_OK)
		return rc;
	if (strcmp(status, "valid") != 0)
		rc = hc_fail(err, HC_CHECK, "the ACME account %s is %s, not valid", loc, status);
	else if (!(c->kid = strdup(loc)))
		rc = hc_fail(err, HC_IO, "out of memory");
	free(status);
	return rc;
}

hc_rc hc_acme_account(hc_acme_client *c, const hc_acme_account_params *params, bool *created,
		      hc_error *err)
{
	hc_fetch_response resp = {0};
	hc_acme_problem p = {0};
	json_t *req = NULL, *contacts = NULL, *eab = NULL;
	char *payload = NULL;
	hc_rc rc;

	*created = false;
	free(c->kid);
	c->kid = NULL;
	/* Found by the key: no state file (RFC 8555 7.3.1). */
	rc = post(c, c->dir.new_account, "{\"onlyReturnExisting\":true}", "finding the account",
		  &resp, &p, err);
	if (rc == HC_OK) {
		rc = take_account(c, &resp, err);
		goto out;
	}
	if (!p.type || strcmp(hc_acme_problem_short(&p), "accountDoesNotExist") != 0)
		goto out;
	hc_error_clear(err);

	if (c->dir.terms_of_service && !params->agree_tos) {
		rc = hc_error_hint(err, HC_HINT_AGREE_TOS,
				   hc_fail(err, HC_USAGE,
					   "the ACME server requires agreeing to its terms of "
					   "service (%s) before an account is created (nothing "
					   "was created)",
					   c->dir.terms_of_service));
		goto out;
	}
	if (c->dir.eab_required && !params->eab_kid) {
		rc = hc_error_hint(err, HC_HINT_ACME_EAB,
				   hc_fail(err, HC_USAGE,
					   "the ACME server requires an external account binding "
					   "(a key id and HMAC key the CA gives you) to create an "
					   "account"));
		goto out;
	}
	if (!(req = json_object()) ||
	    (params->agree_tos && json_object_set_new(req, "termsOfServiceAgreed", json_true())))
		goto oom;
	if (params->contacts && params->contacts[0]) {
		if (!(contacts = json_array()))
			goto oom;
		for (const char *const *m = params->contacts; *m; m++)
			if (json_array_append_new(contacts, json_string(*m)) != 0)
				goto oom;
		if (json_object_set_new(req, "contact", contacts) != 0) {
			contacts = NULL;
			goto oom;
		}
		contacts = NULL;
	}
	if (params->eab_kid) {
		if ((rc = hc_acme_eab(params->eab_kid, params->eab_hmac, params->eab_hmac_len,
				      c->dir.new_account, c->key->pub, &eab, err)) != HC_OK)
			goto out;
		if (json_object_set_new(req, "externalAccountBinding", eab) != 0) {
			eab = NULL;
			goto oom;
		}
		eab = NULL;
	}
	if (!(payload = json_dumps(req, JSON_COMPACT)))
		goto oom;
	if ((rc = post(c, c->dir.new_account, payload, "creating the account", &resp, NULL, err)) !=
	    HC_OK)
		goto out;
	if ((rc = take_account(c, &resp, err)) == HC_OK)
		*created = true;
	goto out;
oom:
	rc = hc_fail(err, HC_IO, "out of memory");
out:
	json_decref(contacts);
	json_decref(eab);
	json_decref(req);
	free(payload);
	hc_acme_problem_clear(&p);
	hc_fetch_response_clear(&resp);
	return rc;
}

/* ---- orders ---------------------------------------------------------------- */

static void wait_s(long seconds)
{
	struct timespec ts = {.tv_sec = seconds, .tv_nsec = seconds ? 0 : 250 * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* How long to wait before asking again: Retry-After, within [0, 10] s; 1 s without it. */
static long retry_delay(const hc_fetch_response *resp, int attempt)
{
	long d = hc_acme_retry_after(hc_fetch_response_header(resp, "Retry-After"), time(NULL));

	if (d < 0)
		return attempt < 4 ? 0 : 1; /* a quick server is asked again soon */
	return d > 10 ? 10 : d;
}

static bool past(time_t deadline)
{
	return time(NULL) > deadline;
}

static hc_rc fetch_order(hc_acme_client *c, const char *url, hc_acme_order *order,
			 hc_fetch_response *resp, hc_error *err)
{
	hc_rc rc;

	hc_acme_order_clear(order);
	if ((rc = post(c, url, NULL, "reading the order", resp, NULL, err)) != HC_OK)
		return rc;
	return hc_acme_order_parse((const char *)resp->body, resp->body_len, order, err);
}

/* Wait while the order is `while_status` (pending or processing), bounded. */
static hc_rc order_wait(hc_acme_client *c, const char *url, const char *while_status,
			hc_acme_order *order, hc_error *err)
{
	time_t deadline = time(NULL) + c->poll_timeout_s;
	hc_fetch_response resp = {0};
	hc_rc rc = HC_OK;

	for (int attempt = 0; strcmp(order->status, while_status) == 0; attempt++) {
		if (past(deadline))
			return hc_fail(err, HC_IO,
				       "the ACME order %s is still %s after %ld s; try again later",
				       url, while_status, c->poll_timeout_s);
		wait_s(retry_delay(&resp, attempt));
		hc_fetch_response_clear(&resp);
		if ((rc = fetch_order(c, url, order, &resp, err)) != HC_OK)
			break;
	}
	hc_fetch_response_clear(&resp);
	return rc;
}

static hc_rc order_failed(const hc_acme_order *order, const char *url, hc_error *err)
{
	if (order->error.type)
		return problem_fail(&order->error, "the ACME order failed", err);
	return hc_fail(err, HC_CHECK, "the ACME order %s is %s", url, order->status);
}

struct presented {
	char **tokens;
	size_t count;
};

static void cleanup_presented(const hc_acme_solver *solver, struct presented *p)
{
	for (size_t i = 0; i < p->count; i++)
		solver->cleanup(solver->ctx, p->tokens[i]);
	hc_acme_strings_free(p->tokens, p->count);
	memset(p, 0, sizeof(*p));
}

/* A challenge token goes into a URL path and a file name: base64url only (RFC 8555 8.1). */
static bool token_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n >= 16 && n <= 256 &&
	       strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static hc_rc challenge_failed(const hc_acme_authz *a, const hc_acme_challenge *ch, hc_error *err)
{
	char what[512];

	snprintf(what, sizeof(what), "the %s challenge for %s (%s) failed",
		 ch ? ch->type : "http-01", a->id_value, ch ? ch->url : "no challenge");
	if (ch && ch->error.type)
		return problem_fail(&ch->error, what, err);
	return hc_fail(err, HC_CHECK, "%s: the authorization is %s", what, a->status);
}

static hc_rc solve_authz(hc_acme_client *c, const char *url, const hc_acme_solver *solver,
			 struct presented *presented, size_t *solved, hc_error *err)
{
	time_t deadline = time(NULL) + c->poll_timeout_s;
	hc_fetch_response resp = {0};
	hc_acme_authz a = {0};
	const hc_acme_challenge *ch = NULL;
	char *keyauth = NULL, **grown, *chal_url = NULL;
	hc_rc rc;

	if ((rc = post(c, url, NULL, "reading the authorization", &resp, NULL, err)) != HC_OK ||
	    (rc = hc_acme_authz_parse((const char *)resp.body, resp.body_len, &a, err)) != HC_OK)
		goto out;
	if (strcmp(a.status, "valid") == 0)
		goto out; /* authorized earlier for this account */
	if (strcmp(a.status, "pending") != 0) {
		rc = challenge_failed(&a, NULL, err);
		goto out;
	}
	for (size_t i = 0; i < a.challenge_count; i++)
		if (strcmp(a.challenges[i].type, "http-01") == 0)
			ch = &a.challenges[i];
	if (!ch) {
		rc = hc_fail(err, HC_CHECK,
			     "the ACME server offers no http-01 challenge for %s (%zu other "
			     "challenge types)",
			     a.id_value, a.challenge_count);
		goto out;
	}
	if (!token_ok(ch->token)) {
		rc = hc_fail(err, HC_IO,
			     "the ACME server's http-01 challenge for %s has no usable "
			     "token (base64url, 16-256 characters)",
			     a.id_value);
		goto out;
	}
	if (asprintf(&keyauth, "%s.%s", ch->token, c->thumbprint) < 0) {
		keyauth = NULL;
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if ((rc = solver->present(solver->ctx, ch->token, keyauth, err)) != HC_OK)
		goto out;
	if (!(grown = realloc(presented->tokens, (presented->count + 1) * sizeof(char *))) ||
	    !(grown[presented->count] = strdup(ch->token))) {
		if (grown)
			presented->tokens = grown;
		solver->cleanup(solver->ctx, ch->token);
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	presented->tokens = grown;
	presented->count++;
	(*solved)++;
	if (!(chal_url = strdup(ch->url))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	/* "{}": ready to be validated (RFC 8555 7.5.1). */
	hc_fetch_response_clear(&resp);
	if ((rc = post(c, chal_url, "{}", "starting the http-01 challenge", &resp, NULL, err)) !=
	    HC_OK)
		goto out;
	for (int attempt = 0;; attempt++) {
		long delay = retry_delay(&resp, attempt);
		hc_acme_authz_clear(&a);
		hc_fetch_response_clear(&resp);
		if ((rc = post(c, url, NULL, "reading the authorization", &resp, NULL, err)) !=
			    HC_OK ||
		    (rc = hc_acme_authz_parse((const char *)resp.body, resp.body_len, &a, err)) !=
			    HC_OK)
			goto out;
		if (strcmp(a.status, "valid") == 0)
			goto out;
		ch = NULL;
		for (size_t i = 0; i < a.challenge_count; i++)
			if (strcmp(a.challenges[i].url, chal_url) == 0)
				ch = &a.challenges[i];
		/*
		 * Invalid, or back to "pending" with an error: the attempt failed
		 * (step-ca then waits for the client to ask again). A server that
		 * retries by itself says "processing" (RFC 8555 8.2): wait for it.
		 */
		if (strcmp(a.status, "pending") != 0 ||
		    (ch && ch->error.type && strcmp(ch->status, "processing") != 0)) {
			rc = challenge_failed(&a, ch, err);
			goto out;
		}
		if (past(deadline)) {
			rc = hc_fail(err, HC_IO,
				     "the http-01 challenge for %s is still pending after %ld s",
				     a.id_value, c->poll_timeout_s);
			goto out;
		}
		wait_s(delay);
	}
out:
	free(keyauth);
	free(chal_url);
	hc_acme_authz_clear(&a);
	hc_fetch_response_clear(&resp);
	return rc;
}

static hc_rc order_payload(const hc_altnames *names, char **out, hc_error *err)
{
	json_t *ids = json_array(), *req = NULL;

	*out = NULL;
	for (size_t i = 0; ids && i < names->count; i++) {
		const hc_altname *n = &names->items[i];
		if (n->type != HC_ALTNAME_DNS && n->type != HC_ALTNAME_IP) {
			json_decref(ids);
			return hc_fail(err, HC_USAGE,
				       "ACME certifies DNS names and IP addresses only; '%s' is %s",
				       n->value, hc_altname_type_name(n->type));
		}
		if (json_array_append_new(ids, json_pack("{s:s, s:s}", "type",
							 n->type == HC_ALTNAME_DNS ? "dns" : "ip",
							 "value", n->value)) != 0) {
			json_decref(ids);
			return hc_fail(err, HC_IO, "out of memory");
		}
	}
	if (!ids || !(req = json_pack("{s:o}", "identifiers", ids)) ||
	    !(*out = json_dumps(req, JSON_COMPACT))) {
		json_decref(req);
		return hc_fail(err, HC_IO, "out of memory");
	}
	json_decref(req);
	return HC_OK;
}

hc_rc hc_acme_download(hc_acme_client *c, const char *url, char **pem, size_t *len, hc_error *err)
{
	hc_fetch_response resp = {0};
	hc_rc rc;

	*pem = NULL;
	*len = 0;
	if ((rc = post(c, url, NULL, "downloading the certificate", &resp, NULL, err)) != HC_OK)
		return rc;
	if (!resp.body || resp.body_len == 0 || !strstr((const char *)resp.body, "-----BEGIN ")) {
		hc_fetch_response_clear(&resp);
		return hc_fail(err, HC_IO, "%s: the ACME server's certificate is not a PEM chain",
			       url);
	}
	*pem = (char *)resp.body;
	*len = resp.body_len;
	resp.body = NULL;
	hc_fetch_response_clear(&resp);
	return HC_OK;
}

hc_rc hc_acme_issue(hc_acme_client *c, const hc_altnames *names, const unsigned char *csr_der,
		    size_t csr_len, const hc_acme_solver *solver, hc_acme_issued *out,
		    hc_error *err)
{
	hc_fetch_response resp = {0};
	struct presented presented = {0};
	hc_acme_order order = {0};
	char *payload = NULL, *csr64 = NULL;
	const char *loc;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	if (!c->kid)
		return hc_fail(err, HC_USAGE, "no ACME account: find or create it first");
	if ((rc = order_payload(names, &payload, err)) != HC_OK)
		return rc;
	if ((rc = post(c, c->dir.new_order, payload, "creating the order", &resp, NULL, err)) !=
	    HC_OK)
		goto out;
	loc = hc_fetch_response_header(&resp, "Location");
	if (!loc || (strncasecmp(loc, "https://", 8) != 0 && strncasecmp(loc, "http://", 7) != 0)) {
		rc = hc_fail(err, HC_IO, "the ACME server gave no order URL (Location)");
		goto out;
	}
	if (!(out->order_url = strdup(loc))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if ((rc = hc_acme_order_parse((const char *)resp.body, resp.body_len, &order, err)) !=
	    HC_OK)
		goto out;
	for (size_t i = 0; i < order.authz_count; i++)
		if ((rc = solve_authz(c, order.authorizations[i], solver, &presented,
				      &out->challenges_solved, err)) != HC_OK)
			goto out;
	cleanup_presented(solver, &presented);

	hc_fetch_response_clear(&resp);
	if ((rc = fetch_order(c, out->order_url, &order, &resp, err)) != HC_OK ||
	    (rc = order_wait(c, out->order_url, "pending", &order, err)) != HC_OK)
		goto out;
	if (strcmp(order.status, "ready") == 0) {
		free(payload);
		payload = NULL;
		if (!(csr64 = hc_b64url_encode(csr_der, csr_len)) ||
		    asprintf(&payload, "{\"csr\":\"%s\"}", csr64) < 0) {
			payload = NULL;
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
		hc_fetch_response_clear(&resp);
		if ((rc = post(c, order.finalize, payload, "finalizing the order", &resp, NULL,
			       err)) != HC_OK)
			goto out;
		hc_fetch_response_clear(&resp);
		if ((rc = fetch_order(c, out->order_url, &order, &resp, err)) != HC_OK ||
		    (rc = order_wait(c, out->order_url, "processing", &order, err)) != HC_OK)
			goto out;
	}
	if (strcmp(order.status, "valid") != 0 || !order.certificate) {
		rc = order_failed(&order, out->order_url, err);
		goto out;
	}
	hc_fetch_response_clear(&resp);
	if ((rc = post(c, order.certificate, NULL, "downloading the certificate", &resp, NULL,
		       err)) != HC_OK)
		goto out;
	if (!resp.body || !strstr((const char *)resp.body, "-----BEGIN CERTIFICATE-----")) {
		rc = hc_fail(err, HC_IO, "%s: the ACME server's certificate is not a PEM chain",
			     order.certificate);
		goto out;
	}
	for (size_t i = 0; i < resp.header_count; i++)
		if (strcmp(resp.headers[i].name, "Link") == 0 &&
		    (rc = hc_acme_link_parse(resp.headers[i].value, "alternate", &out->alternates,
					     &out->alternate_count, err)) != HC_OK)
			goto out;
	out->chain_pem = (char *)resp.body;
	out->chain_len = resp.body_len;
	resp.body = NULL;
out:
	cleanup_presented(solver, &presented);
	if (rc != HC_OK)
		hc_acme_issued_clear(out);
	hc_acme_order_clear(&order);
	hc_fetch_response_clear(&resp);
	free(payload);
	free(csr64);
	return rc;
}

void hc_acme_issued_clear(hc_acme_issued *issued)
{
	free(issued->order_url);
	free(issued->chain_pem);
	hc_acme_strings_free(issued->alternates, issued->alternate_count);
	memset(issued, 0, sizeof(*issued));
}
