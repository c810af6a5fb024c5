/* SPEC: deploy nginx|apache. Everything is validated and every text made before a file is written.
 */
#include "internal.h"

#include "hsmcert/file.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

hc_rc hc_deploy_server_parse(const char *name, hc_deploy_server *out, hc_error *err)
{
	if (name && strcmp(name, "nginx") == 0)
		*out = HC_DEPLOY_NGINX;
	else if (name && (strcmp(name, "apache") == 0 || strcmp(name, "apache2") == 0))
		*out = HC_DEPLOY_APACHE;
	else
		return hc_fail(err, HC_USAGE, "unknown server '%s': deploy knows nginx and apache",
			       name ? name : "");
	return HC_OK;
}

const char *hc_deploy_server_name(hc_deploy_server server)
{
	return server == HC_DEPLOY_NGINX ? "nginx" : "apache";
}

/*
 * Characters that need no quoting in either server's configuration nor in a
 * shell command line: paths and names with others are refused, not escaped.
 */
static bool plain(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("/._-+,@=~", *s) || strchr(extra, *s)))
			return false;
	return true;
}

static hc_rc check_server_name(const char *name, hc_error *err)
{
	if (!*name || strlen(name) > 253 || !plain(name, "*") || strpbrk(name, "/=~+,@"))
		return hc_fail(err, HC_USAGE,
			       "server name '%s' is not a host name (letters, digits, '-', '.', a "
			       "leading '*.')",
			       name);
	return HC_OK;
}

/* "443", "ADDR:443", "[::1]:443": the port is 1-65535 and the address plain. */
static hc_rc parse_listen(const char *listen, char **vhost, hc_error *err)
{
	const char *colon = strrchr(listen, ':'), *port = colon ? colon + 1 : listen;
	char *end;
	long v;

	errno = 0;
	v = strtol(port, &end, 10);
	if (!*port || *end || errno || v < 1 || v > 65535 || !plain(listen, ":[]") ||
	    (colon && colon == listen))
		return hc_fail(err, HC_USAGE,
			       "listen address '%s' is not PORT or ADDRESS:PORT (port 1-65535)",
			       listen);
	if (asprintf(vhost, colon ? "%s" : "*:%s", listen) < 0)
		return hc_fail(err, HC_IO, "out of memory");
	return HC_OK;
}

/* The folder, created when missing (with its parents), as an absolute path. */
static hc_rc make_dir(const char *dir, char **abs, hc_error *err)
{
	char *copy = strdup(dir), resolved[PATH_MAX];
	hc_rc rc = HC_OK;

	if (!copy)
		return hc_fail(err, HC_IO, "out of memory");
	for (char *s = copy + 1; rc == HC_OK; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST)
			rc = hc_fail(err, HC_IO, "creating %s: %s", copy, strerror(errno));
		if (last)
			break;
		*s = '/';
	}
	free(copy);
	if (rc != HC_OK)
		return rc;
	if (!realpath(dir, resolved))
		return hc_fail(err, HC_IO, "%s: %s", dir, strerror(errno));
	if (!plain(resolved, ""))
		return hc_fail(err, HC_USAGE,
			       "output folder '%s' has characters the server configurations would "
			       "need quoted: use letters, digits and / . _ - + , @ = ~",
			       resolved);
	if (!(*abs = strdup(resolved)))
		return hc_fail(err, HC_IO, "out of memory");
	return HC_OK;
}

/* The key's URI as the servers read it: characters outside the safe set %-encoded, pin-source
 * added. */
static char *server_key_uri(const hc_deploy_params *p, const hc_key_info *key, const char *pin_file)
{
	char *uri = hc_uri_for_object(p->token, CKO_PRIVATE_KEY, key->label, key->id, key->id_len);
	char *out = NULL;
	size_t n = 0, cap;

	if (!uri)
		return NULL;
	cap = strlen(uri) * 3 + (pin_file ? strlen(pin_file) + 32 : 0) + 1;
	if ((out = malloc(cap))) {
		for (const unsigned char *s = (const unsigned char *)uri; *s; s++) {
			/* '$' is a variable to nginx, '"' ends the string, ' ' the word. */
			if (plain((char[]){(char)*s, 0}, ":;%") || *s == '&' || *s == '?')
				out[n++] = (char)*s;
			else
				n += (size_t)snprintf(out + n, cap - n, "%%%02X", *s);
		}
		out[n] = '\0';
		if (pin_file)
			snprintf(out + n, cap - n, "?pin-source=file:%s", pin_file);
	}
	free(uri);
	return out;
}

/* The refusal when hc_check_key found something wrong with the key. */
static hc_rc refuse_checked(const hc_check_result *c, hc_error *err)
{
	for (size_t i = 0; i < c->item_count; i++)
		if (c->items[i].outcome == HC_CHECK_FAIL)
			return hc_fail(err, HC_CHECK, "not deployed: %s check failed: %s",
				       c->items[i].name,
				       c->items[i].detail ? c->items[i].detail : "");
	return hc_fail(err, HC_CHECK, "not deployed: key '%s' has no certificate on the token",
		       c->key.label ? c->key.label : "");
}

static char *chain_pem(const hc_check_result *c, size_t *count)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long len;

	if (!b)
		return NULL;
	bool ok = PEM_write_bio_X509(b, c->cert) == 1;
	for (int i = 0; ok && c->served && i < sk_X509_num(c->served); i++)
		ok = PEM_write_bio_X509(b, sk_X509_value(c->served, i)) == 1;
	len = BIO_get_mem_data(b, &data);
	if (ok && len > 0 && (out = malloc((size_t)len + 1))) {
		memcpy(out, data, (size_t)len);
		out[len] = '\0';
		*count = 1 + (c->served ? (size_t)sk_X509_num(c->served) : 0);
	}
	BIO_free(b);
	return out;
}

static hc_rc add_file(hc_deploy_result *r, const char *dir, const char *name, const char *role,
		      mode_t mode, hc_error *err)
{
	hc_deploy_file *f = &r->files[r->file_count];

	if (r->file_count == HC_DEPLOY_MAX_FILES || asprintf(&f->path, "%s/%s", dir, name) < 0)
		return hc_fail(err, HC_IO, "out of memory");
	f->role = role;
	f->mode = mode;
	r->file_count++;
	return HC_OK;
}

/* The texts in the order of r->files (the page last: it is written only when missing). */
enum { F_CHAIN, F_OPENSSL, F_SITE, F_CONFIG, F_PAGE, F_PIN, F_COUNT };

static hc_rc write_all(const hc_deploy_params *params, hc_deploy_result *r, char **texts,
		       gid_t pin_gid, hc_error *err)
{
	bool wrote[F_COUNT] = {false}, existed[F_COUNT] = {false};
	char *sub = NULL;
	hc_rc rc = HC_OK;

	for (size_t i = 0; i < r->file_count; i++)
		if (i != F_PAGE &&
		    (rc = hc_file_check_writable(r->files[i].path, params->force, err)) != HC_OK)
			return rc;
	for (const char *const *d = (const char *const[]){DEPLOY_PAGE_DIR, DEPLOY_RUN_DIR, NULL};
	     *d; d++) {
		if (asprintf(&sub, "%s/%s", r->out_dir, *d) < 0)
			return hc_fail(err, HC_IO, "out of memory");
		if (mkdir(sub, 0755) != 0 && errno != EEXIST)
			rc = hc_fail(err, HC_IO, "creating %s: %s", sub, strerror(errno));
		free(sub);
		if (rc != HC_OK)
			return rc;
	}
	for (size_t i = 0; i < r->file_count && rc == HC_OK; i++) {
		const hc_deploy_file *f = &r->files[i];
		struct stat st;
		existed[i] = lstat(f->path, &st) == 0;
		if (i == F_PAGE && existed[i])
			continue; /* the page may be the user's own by now */
		rc = hc_file_write_atomic(f->path, texts[i], strlen(texts[i]), f->mode,
					  params->force, err);
		wrote[i] = rc == HC_OK;
		/* The PIN file: the service user's group may read it, nobody else. */
		if (rc == HC_OK && i == F_PIN && pin_gid != (gid_t)-1 &&
		    chown(f->path, (uid_t)-1, pin_gid) != 0)
			rc = hc_fail(err, HC_IO, "giving %s to group %u: %s", f->path,
				     (unsigned)pin_gid, strerror(errno));
	}
	if (rc != HC_OK) {
		/* No partial deployment: what this call wrote goes again (replaced files stay
		 * replaced). */
		for (size_t i = 0; i < r->file_count; i++)
			if (wrote[i] && !existed[i])
				unlink(r->files[i].path);
	}
	return rc;
}

/* The PIN file's group: the service user's when we may give it (root, or a member). */
static gid_t pin_group(const struct passwd *pw)
{
	gid_t groups[256];
	int n;

	if (geteuid() == 0)
		return pw->pw_gid;
	if (getegid() == pw->pw_gid)
		return (gid_t)-1;
	n = getgroups(256, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == pw->pw_gid)
			return pw->pw_gid;
	return (gid_t)-1;
}

static const char *engine_path(char *buf, size_t len)
{
	const char *dir = OPENSSL_info(OPENSSL_INFO_ENGINES_DIR);

	snprintf(buf, len, "%s/pkcs11.so", dir ? dir : "/usr/lib/x86_64-linux-gnu/engines-3");
	return buf;
}

hc_rc hc_deploy_write(const hc_deploy_params *params, hc_deploy_result *r, hc_error *err)
{
	const hc_check_result *c = params->checked;
	struct deploy_plan plan = {.server = params->server};
	char *texts[F_COUNT] = {NULL}, *vhost = NULL, *group = NULL, engine[PATH_MAX], label[33];
	struct passwd *pw;
	struct group *gr;
	gid_t pin_gid = (gid_t)-1;
	struct stat st;
	hc_rc rc;

	memset(r, 0, sizeof(*r));
	if (!c->cert || c->failed)
		return refuse_checked(c, err);
	r->service_user = strdup(params->service_user ? params->service_user
						      : HC_DEPLOY_SERVICE_USER);
	r->listen = strdup(params->listen ? params->listen : HC_DEPLOY_LISTEN);
	r->server_name = params->server_name ? strdup(params->server_name)
					     : hc_check_server_name(c->cert, &c->cert_info);
	if (!r->service_user || !r->listen)
		return hc_fail(err, HC_IO, "out of memory");
	if (!r->server_name)
		return hc_error_hint(err, HC_HINT_DEPLOY_NAME,
				     hc_fail(err, HC_USAGE, "the certificate names no host"));
	if ((rc = check_server_name(r->server_name, err)) != HC_OK ||
	    (rc = parse_listen(r->listen, &vhost, err)) != HC_OK)
		goto out;
	errno = 0;
	if (!(pw = getpwnam(r->service_user)) || !plain(r->service_user, "")) {
		rc = hc_fail(err, HC_USAGE, "service user '%s': no such user on this machine",
			     r->service_user);
		goto out;
	}
	gr = getgrgid(pw->pw_gid);
	if (!gr || !plain(gr->gr_name, "")) {
		rc = hc_fail(err, HC_USAGE, "service user '%s': its group %u has no plain name",
			     r->service_user, (unsigned)pw->pw_gid);
		goto out;
	}
	/* getpwnam's buffer is reused by the next lookup: keep what is needed. */
	if (!(group = strdup(gr->gr_name))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	pin_gid = pin_group(pw);
	plan.uid = pw->pw_uid;
	plan.gid = pw->pw_gid;
	engine_path(engine, sizeof(engine));
	if (stat(engine, &st) != 0) {
		rc = hc_fail(err, HC_IO,
			     "libp11's PKCS#11 engine %s is not installed (Debian package "
			     "libengine-pkcs11-openssl): the servers load the token key through it",
			     engine);
		goto out;
	}
	if (!plain(params->module_path, "") ||
	    (params->softhsm2_conf && !plain(params->softhsm2_conf, ""))) {
		rc = hc_fail(err, HC_USAGE,
			     "module path %s or SoftHSM2 configuration %s has "
			     "characters the configurations would need quoted",
			     params->module_path,
			     params->softhsm2_conf ? params->softhsm2_conf : "(none)");
		goto out;
	}
	if (params->pin && memchr(params->pin->data, '\0', params->pin->len)) {
		rc = hc_fail(err, HC_USAGE, "the PIN has a NUL byte: a PIN file cannot hold it");
		goto out;
	}
	if ((rc = make_dir(params->out_dir, &r->out_dir, err)) != HC_OK)
		goto out;
	if (params->pin && asprintf(&r->pin_file, "%s/%s", r->out_dir, DEPLOY_PIN_FILE) < 0) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if (!(r->key_uri = server_key_uri(params, &c->key, r->pin_file))) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	HC_P11_STRING(params->token->label, label);
	plan = (struct deploy_plan){
		.server = params->server,
		.dir = r->out_dir,
		.server_name = r->server_name,
		.listen = r->listen,
		.vhost = vhost,
		.user = r->service_user,
		.group = group,
		.uid = plan.uid,
		.gid = plan.gid,
		.module_path = params->module_path,
		.engine_path = engine,
		.softhsm2_conf = params->softhsm2_conf,
		.key_uri = r->key_uri,
		.key_label = c->key.label ? c->key.label : "",
		.token_label = label,
	};
	texts[F_CHAIN] = chain_pem(c, &r->chain_count);
	texts[F_OPENSSL] = deploy_openssl_cnf(&plan);
	texts[F_SITE] = deploy_site(&plan);
	texts[F_CONFIG] = deploy_config(&plan);
	texts[F_PAGE] = deploy_page(&plan);
	if (params->pin && (texts[F_PIN] = malloc(params->pin->len + 1))) {
		/* No newline: libp11 would take it as part of the PIN. */
		memcpy(texts[F_PIN], params->pin->data, params->pin->len);
		texts[F_PIN][params->pin->len] = '\0';
	}
	for (int i = 0; i < F_COUNT; i++)
		if (!texts[i] && (i != F_PIN || params->pin)) {
			rc = hc_fail(err, HC_IO, "out of memory");
			goto out;
		}
	if ((rc = add_file(r, r->out_dir, DEPLOY_CHAIN_FILE, "chain", 0644, err)) ||
	    (rc = add_file(r, r->out_dir, DEPLOY_OPENSSL_FILE, "openssl_conf", 0644, err)) ||
	    (rc = add_file(r, r->out_dir, deploy_site_name(params->server), "site", 0644, err)) ||
	    (rc = add_file(r, r->out_dir, deploy_config_name(params->server), "config", 0644,
			   err)) ||
	    (rc = add_file(r, r->out_dir, DEPLOY_PAGE_DIR "/index.html", "page", 0644, err)))
		goto out;
	if (params->pin) {
		if ((rc = add_file(r, r->out_dir, DEPLOY_PIN_FILE, "pin",
				   pin_gid == (gid_t)-1 ? 0600 : 0640, err)))
			goto out;
	}
	if ((rc = deploy_describe_run(&plan, r, err)) != HC_OK ||
	    (rc = write_all(params, r, texts, pin_gid, err)) != HC_OK)
		goto out;
	deploy_check_access(&plan, params, r);
out:
	for (int i = 0; i < F_COUNT; i++) {
		if (i == F_PIN && texts[i])
			OPENSSL_cleanse(texts[i], strlen(texts[i]));
		free(texts[i]);
	}
	free(vhost);
	free(group);
	return rc;
}

void hc_deploy_result_clear(hc_deploy_result *r)
{
	if (!r)
		return;
	free(r->out_dir);
	free(r->key_uri);
	free(r->pin_file);
	free(r->server_name);
	free(r->listen);
	free(r->service_user);
	for (size_t i = 0; i < r->file_count; i++)
		free(r->files[i].path);
	free(r->environment);
	free(r->start_command);
	free(r->test_command);
	free(r->reload_command);
	free(r->stop_command);
	free(r->systemd_unit);
	free(r->systemd_dropin);
	free(r->install_note);
	for (size_t i = 0; i < r->problem_count; i++) {
		free(r->problems[i].path);
		free(r->problems[i].problem);
		free(r->problems[i].fix);
	}
	free(r->test_output);
	memset(r, 0, sizeof(*r));
}
