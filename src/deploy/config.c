/*
 * SPEC: deploy. The configuration texts, as Debian 12's nginx 1.22 and
 * Apache 2.4 take them (measured: ../shared/PITFALLS.md, nginx/Apache):
 * - nginx initialises OpenSSL before it reads nginx.conf, so OPENSSL_CONF
 *   must be in its environment when it starts (and for `-s stop|reload`,
 *   which load the key again); `env OPENSSL_CONF;` passes it to the workers,
 *   which nginx otherwise starts with an empty environment.
 * - nginx names an engine key "engine:ENGINE:ID": the ID is the whole
 *   pkcs11: URI, so the value reads "engine:pkcs11:pkcs11:...".
 * - Apache takes the pkcs11: URI itself with SSLCryptoDevice pkcs11.
 * - The workers run as the service user (`user` / `User`): a root master
 *   loads the key, the workers sign with it after the fork, so the token's
 *   files must be theirs to read.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *deploy_site_name(hc_deploy_server server)
{
	return server == HC_DEPLOY_NGINX ? "nginx-site.conf" : "apache-site.conf";
}

const char *deploy_config_name(hc_deploy_server server)
{
	return server == HC_DEPLOY_NGINX ? "nginx.conf" : "apache2.conf";
}

/* A text built with stdio; NULL when out of memory. */
#define TEXT_BEGIN(f, text, len)                                                                   \
	char *text = NULL;                                                                         \
	size_t len = 0;                                                                            \
	FILE *f = open_memstream(&text, &len);                                                     \
	(void)len;                                                                                 \
	if (!f)                                                                                    \
	return NULL

/* Close the stream: its buffer is final only after fclose. */
static char *text_end(FILE *f, char **text)
{
	bool failed = ferror(f) != 0;

	if (fclose(f) != 0 || failed) {
		free(*text);
		return NULL;
	}
	return *text;
}

char *deploy_openssl_cnf(const struct deploy_plan *p)
{
	TEXT_BEGIN(f, text, len);
	fprintf(f,
		"# Written by hsmcert deploy. The server reads it through OPENSSL_CONF=%s/%s\n"
		"# in its environment: it loads libp11's PKCS#11 engine for the token's module,\n"
		"# so the server can name the key by its pkcs11: URI. It replaces the system's\n"
		"# OpenSSL configuration for that server only.\n"
		"openssl_conf = hsmcert_init\n\n"
		"[hsmcert_init]\n"
		"engines = hsmcert_engines\n\n"
		"[hsmcert_engines]\n"
		"pkcs11 = hsmcert_pkcs11\n\n"
		"[hsmcert_pkcs11]\n"
		"engine_id = pkcs11\n"
		"dynamic_path = %s\n"
		"MODULE_PATH = %s\n",
		p->dir, DEPLOY_OPENSSL_FILE, p->engine_path, p->module_path);
	return text_end(f, &text);
}

static void env_lines(FILE *f, const struct deploy_plan *p, const char *indent)
{
	fprintf(f, "%sOPENSSL_CONF=%s/%s", indent, p->dir, DEPLOY_OPENSSL_FILE);
	if (p->softhsm2_conf)
		fprintf(f, " SOFTHSM2_CONF=%s", p->softhsm2_conf);
}

char *deploy_site(const struct deploy_plan *p)
{
	TEXT_BEGIN(f, text, len);
	fprintf(f,
		"# Written by hsmcert deploy: %s with key '%s' on token '%s'.\n"
		"# The key never leaves the token: the server signs through the PKCS#11 engine,\n"
		"# which needs in the server's environment when it starts:\n",
		p->server_name, p->key_label, p->token_label);
	env_lines(f, p, "#   ");
	fprintf(f, "\n");
	if (p->server == HC_DEPLOY_NGINX) {
		fprintf(f,
			"# and in the main context of nginx.conf: env OPENSSL_CONF;%s\n"
			"# A server block for http {}.\n"
			"server {\n"
			"    listen %s ssl;\n"
			"    server_name %s;\n"
			"    ssl_certificate %s/%s;\n"
			"    ssl_certificate_key \"engine:pkcs11:%s\";\n"
			"    ssl_protocols TLSv1.2 TLSv1.3;\n"
			"    root %s/%s;\n"
			"}\n",
			p->softhsm2_conf ? " env SOFTHSM2_CONF;" : "", p->listen, p->server_name,
			p->dir, DEPLOY_CHAIN_FILE, p->key_uri, p->dir, DEPLOY_PAGE_DIR);
	} else {
		fprintf(f,
			"# and mod_ssl enabled (a2enmod ssl), Listen %s (ports.conf).\n"
			"SSLCryptoDevice pkcs11\n\n"
			"<VirtualHost %s>\n"
			"    ServerName %s\n"
			"    DocumentRoot %s/%s\n"
			"    <Directory %s/%s>\n"
			"        Require all granted\n"
			"    </Directory>\n"
			"    SSLEngine on\n"
			"    SSLProtocol -all +TLSv1.2 +TLSv1.3\n"
			"    SSLCertificateFile %s/%s\n"
			"    SSLCertificateKeyFile \"%s\"\n"
			"</VirtualHost>\n",
			p->listen, p->vhost, p->server_name, p->dir, DEPLOY_PAGE_DIR, p->dir,
			DEPLOY_PAGE_DIR, p->dir, DEPLOY_CHAIN_FILE, p->key_uri);
	}
	return text_end(f, &text);
}

static void nginx_config(FILE *f, const struct deploy_plan *p)
{
	const char *d = p->dir, *run = DEPLOY_RUN_DIR;

	fprintf(f,
		"# nginx initialises OpenSSL before it reads this file: the variables must be\n"
		"# in its environment when it starts, and for -s reload|stop too.\n"
		"user %s %s;\n"
		"worker_processes 1;\n"
		"pid %s/%s/nginx.pid;\n"
		"error_log %s/error.log;\n"
		"env OPENSSL_CONF;\n"
		"%s"
		"events {\n"
		"    worker_connections 256;\n"
		"}\n"
		"http {\n"
		"    default_type text/html;\n"
		"    access_log %s/access.log;\n"
		"    client_body_temp_path %s/%s/client_body;\n"
		"    proxy_temp_path %s/%s/proxy;\n"
		"    fastcgi_temp_path %s/%s/fastcgi;\n"
		"    uwsgi_temp_path %s/%s/uwsgi;\n"
		"    scgi_temp_path %s/%s/scgi;\n"
		"    include %s/%s;\n"
		"}\n",
		p->user, p->group, d, run, d, p->softhsm2_conf ? "env SOFTHSM2_CONF;\n" : "", d, d,
		run, d, run, d, run, d, run, d, run, d, deploy_site_name(p->server));
}

static void apache_config(FILE *f, const struct deploy_plan *p)
{
	static const char *const modules[] = {"mpm_event", "authz_core", "dir", "socache_shmcb",
					      "ssl"};
	const char *d = p->dir, *run = DEPLOY_RUN_DIR;

	fprintf(f,
		"ServerRoot %s\n"
		"DefaultRuntimeDir %s/%s\n"
		"PidFile %s/%s/apache2.pid\n"
		"ErrorLog %s/error.log\n"
		"LogLevel warn\n"
		"User %s\n"
		"Group %s\n",
		d, d, run, d, run, d, p->user, p->group);
	for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++)
		fprintf(f, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", modules[i],
			modules[i]);
	fprintf(f,
		"ServerName %s\n"
		"DirectoryIndex index.html\n"
		"Listen %s\n"
		"SSLSessionCache shmcb:%s/%s/ssl_scache(512000)\n"
		"Include %s/%s\n",
		p->server_name, p->listen, d, run, d, deploy_site_name(p->server));
}

char *deploy_config(const struct deploy_plan *p)
{
	TEXT_BEGIN(f, text, len);
	fprintf(f,
		"# Written by hsmcert deploy: a complete configuration around %s,\n"
		"# to try the site before copying it into the server's own. Run it with:\n",
		deploy_site_name(p->server));
	env_lines(f, p, "#   ");
	if (p->server == HC_DEPLOY_NGINX) {
		fprintf(f, " nginx -p %s/ -e %s/error.log -c %s/%s\n", p->dir, p->dir, p->dir,
			deploy_config_name(p->server));
		nginx_config(f, p);
	} else {
		fprintf(f, " apache2 -d %s -f %s/%s -k start\n", p->dir, p->dir,
			deploy_config_name(p->server));
		apache_config(f, p);
	}
	return text_end(f, &text);
}

char *deploy_page(const struct deploy_plan *p)
{
	TEXT_BEGIN(f, text, len);
	fprintf(f,
		"<!DOCTYPE html>\n<html><head><title>%s</title></head>\n"
		"<body><p>%s is served by %s with a key that stays on its PKCS#11 token.</p>"
		"</body></html>\n",
		p->server_name, p->server_name, hc_deploy_server_name(p->server));
	return text_end(f, &text);
}

/* ---- how to run it ----------------------------------------------------- */

char *deploy_text(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The commands: nginx takes -t first and -s last; apache2 -k last. */
#define NGINX_COMMAND "%s nginx%s -p %s/ -e %s/error.log -c %s/%s%s"
#define APACHE_COMMAND "%s apache2%s -d %s -f %s/%s%s"

hc_rc deploy_describe_run(const struct deploy_plan *p, hc_deploy_result *r, hc_error *err)
{
	const char *d = p->dir, *conf = deploy_config_name(p->server);
	const char *unit = p->server == HC_DEPLOY_NGINX ? "nginx" : "apache2";
	char *env = deploy_text("OPENSSL_CONF=%s/%s%s%s", d, DEPLOY_OPENSSL_FILE,
				p->softhsm2_conf ? " SOFTHSM2_CONF=" : "",
				p->softhsm2_conf ? p->softhsm2_conf : "");

	if (!env)
		return hc_fail(err, HC_IO, "out of memory");
	r->environment = env;
	if (p->server == HC_DEPLOY_NGINX) {
		r->start_command = deploy_text(NGINX_COMMAND, env, "", d, d, d, conf, "");
		r->test_command = deploy_text(NGINX_COMMAND, env, " -t", d, d, d, conf, "");
		r->reload_command = deploy_text(NGINX_COMMAND, env, "", d, d, d, conf,
						" -s reload");
		r->stop_command = deploy_text(NGINX_COMMAND, env, "", d, d, d, conf, " -s stop");
		r->install_note = deploy_text(
			"cp %s/%s /etc/nginx/sites-available/%s && ln -s ../sites-available/%s "
			"/etc/nginx/sites-enabled/%s; add 'env OPENSSL_CONF;'%s to the main context of "
			"/etc/nginx/nginx.conf; install the drop-in; systemctl daemon-reload && "
			"systemctl restart nginx",
			d, deploy_site_name(p->server), p->server_name, p->server_name,
			p->server_name, p->softhsm2_conf ? " and 'env SOFTHSM2_CONF;'" : "");
	} else {
		r->start_command = deploy_text(APACHE_COMMAND, env, "", d, d, conf, " -k start");
		r->test_command = deploy_text(APACHE_COMMAND, env, " -t", d, d, conf, "");
		r->reload_command = deploy_text(APACHE_COMMAND, env, "", d, d, conf,
						" -k graceful");
		r->stop_command = deploy_text(APACHE_COMMAND, env, "", d, d, conf, " -k stop");
		r->install_note = deploy_text(
			"cp %s/%s /etc/apache2/sites-available/%s.conf && a2enmod ssl && a2ensite %s; "
			"make sure ports.conf has 'Listen %s'; install the drop-in; systemctl "
			"daemon-reload && systemctl restart apache2",
			d, deploy_site_name(p->server), p->server_name, p->server_name, p->listen);
	}
	r->systemd_unit = deploy_text("%s.service", unit);
	r->systemd_dropin = deploy_text(
		"# /etc/systemd/system/%s.service.d/hsmcert.conf\n"
		"[Service]\n"
		"Environment=OPENSSL_CONF=%s/%s\n"
		"%s%s%s",
		unit, d, DEPLOY_OPENSSL_FILE, p->softhsm2_conf ? "Environment=SOFTHSM2_CONF=" : "",
		p->softhsm2_conf ? p->softhsm2_conf : "", p->softhsm2_conf ? "\n" : "");
	if (!r->start_command || !r->test_command || !r->reload_command || !r->stop_command ||
	    !r->install_note || !r->systemd_unit || !r->systemd_dropin)
		return hc_fail(err, HC_IO, "out of memory");
	return HC_OK;
}
