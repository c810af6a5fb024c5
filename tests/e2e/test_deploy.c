/*
 * deploy nginx|apache against Debian's real servers: what deploy wrote is
 * started unchanged (its printed start command, in the foreground), as
 * www-data, on a free 127.0.0.1 port; curl fetches a page verifying the
 * chain; the served leaf carries the token key, which is non-extractable
 * (so the handshake was signed through PKCS#11); check --connect passes and
 * fails for a wrong root or another key's certificate. Servers are stopped
 * by PID in the suite's fini, failures included.
 */
#include "certtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t server_pid = -1;

static void stop_server(void)
{
	struct timespec tick = {0, 20 * 1000 * 1000};
	int status;

	if (server_pid <= 0)
		return;
	/* The server leads its own process group: the master and its workers. */
	kill(-server_pid, SIGTERM);
	for (int i = 0; i < 500; i++) { /* bounded: 10 s */
		if (waitpid(server_pid, &status, WNOHANG) == server_pid)
			break;
		if (i == 499) {
			kill(-server_pid, SIGKILL);
			waitpid(server_pid, &status, 0);
		}
		nanosleep(&tick, NULL);
	}
	/* Workers that outlived the master (none expected) go too. */
	kill(-server_pid, SIGKILL);
	server_pid = -1;
}

static void fini(void)
{
	stop_server();
	ts_teardown();
}

/* A token key "web" (non-extractable, as keygen makes it) with its certificate and the Sub CA. */
static void world(void)
{
	ts_setup_token();
	/* www-data must pass through the test's folder to the token, the PIN and the page. */
	cr_assert_eq(chmod(ts_dir, 0711), 0);
	ct_pki();
	ct_keygen("web", "ec:P-256");
	ct_leaf("web", "web.crt", "now-1", "now+365");
	free(ts_sh("$HSMCERT import --cert web.crt --chain pki/sub.crt >/dev/null"));
}

/* The token's files are the service user's, as deploy's access check asks. */
static void world_for_www_data(void)
{
	world();
	free(ts_sh("chown -R www-data:www-data tokens"));
}

TestSuite(deploy, .init = world_for_www_data, .fini = fini);
TestSuite(deploy_input, .init = world, .fini = fini);

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		  getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Start `command` (a shell line) in its own process group; wait (bounded) for the port. */
static void start_server(const char *command, int port, const char *log)
{
	struct timespec tick = {0, 20 * 1000 * 1000};
	int status;

	server_pid = fork();
	cr_assert(server_pid >= 0);
	if (server_pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	setpgid(server_pid, server_pid);
	for (int i = 0; i < 1000; i++) { /* bounded: 20 s */
		if (port_open(port))
			return;
		if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
			char *text = ts_read(log, NULL);
			server_pid = -1;
			cr_assert_fail("the server exited (status %d) before it listened:\n%s",
				       status, text ? text : "(no log)");
		}
		nanosleep(&tick, NULL);
	}
	cr_assert_fail("nothing listened on 127.0.0.1:%d within 20 s", port);
}

static json_t *deploy(const char *server, int port, const char *extra)
{
	char args[1024];

	snprintf(args, sizeof(args),
		 "deploy %s --key pkcs11:object=web --out-dir %s/site --listen 127.0.0.1:%d "
		 "--roots pki/root.crt %s",
		 server, ts_dir, port, extra);
	return ct_run_json(0, args);
}

/* The public key of the certificate a server at `port` sends, as PEM (openssl s_client). */
static char *served_public_key(int port)
{
	return ts_sh("openssl s_client -connect 127.0.0.1:%d -servername www.example.test "
		     "</dev/null 2>/dev/null | openssl x509 -noout -pubkey",
		     port);
}

/* The token key's public key as PEM, read with pkcs11-tool (not hsmcert). */
static char *token_public_key(const char *label)
{
	return ts_sh("pkcs11-tool --module %s --token-label test --read-object --type pubkey "
		     "--label %s -o pub.der >/dev/null 2>&1 && openssl pkey -pubin -inform DER -in "
		     "pub.der",
		     TS_SOFTHSM, label);
}

static void serve_and_prove(const char *server, const char *foreground, const char *greeting)
{
	int port;
	json_t *doc, *audit, *key;
	char command[2048], log[600], url[128], *page, *served, *ours, *users;
	struct ts_result r;

	/*
	 * Another key with its own certificate and another root, made before the
	 * server starts: token files written later would be root's, out of the
	 * workers' reach.
	 */
	free(ts_sh(CT_TESTPKI " ca pki other 'Other Root' now-1 now+30 self"));
	ct_keygen("web2", "ec:P-256");
	ct_leaf("web2", "web2.crt", "now-1", "now+365");
	free(ts_sh("$HSMCERT import --cert web2.crt >/dev/null && chown -R www-data:www-data "
		   "tokens"));
	port = free_port();
	doc = deploy(server, port, "--test");

	cr_assert(json_is_true(json_object_get(json_object_get(doc, "test"), "passed")));
	cr_assert_eq(json_array_size(json_object_get(doc, "access_problems")), 0);
	/* The printed start command, as is, in the foreground so the test holds the PID. */
	snprintf(command, sizeof(command), "exec env %s %s", ct_str(doc, "commands.start"),
		 foreground);
	snprintf(log, sizeof(log), "%s/site/error.log", ts_dir);
	start_server(command, port, log);

	/* A verifying client gets the page. */
	snprintf(url, sizeof(url), "https://www.example.test:%d/", port);
	page = ts_sh(
		"curl -sS --fail --cacert pki/root.crt --resolve www.example.test:%d:127.0.0.1 "
		"%s",
		port, url);
	cr_assert(strstr(page, greeting), "%s", page);

	/*
	 * Workers run as the service user. A worker the server has just forked
	 * is root until it drops its privileges, so a sample may catch one: ask
	 * again (bounded) until one sample sees only settled workers; a worker
	 * that stays root fails the test.
	 */
	users = NULL;
	for (int i = 0; i < 100; i++) { /* bounded: 100 samples, 50 ms apart */
		struct timespec tick = {0, 50 * 1000 * 1000};

		free(users);
		users = ts_sh("ps -o user= --ppid %d | sort -u | tr -d '\\n'", (int)server_pid);
		if (strcmp(users, "www-data") == 0)
			break;
		nanosleep(&tick, NULL);
	}
	cr_assert_str_eq(users, "www-data");

	/* The served leaf carries the token key, which cannot leave the token. */
	served = served_public_key(port);
	ours = token_public_key("web");
	cr_assert_str_eq(served, ours);
	audit = ct_run_json(0, "audit");
	key = ct_find(json_object_get(audit, "keys"), "label", "web");
	cr_assert_not_null(key);
	cr_assert(
		json_is_false(json_object_get(json_object_get(key, "attributes"), "extractable")));
	cr_assert(json_is_true(
		json_object_get(json_object_get(key, "attributes"), "never_extractable")));
	free(ts_sh("pkcs11-tool --module %s --token-label test --login --pin %s --list-objects "
		   "--type privkey 2>/dev/null | grep -q 'never extractable'",
		   TS_SOFTHSM, TS_PIN));

	/* check --connect: the same proof from hsmcert's own client. */
	ts_run(&r,
	       "$HSMCERT check --key pkcs11:object=web --roots pki/root.crt --connect "
	       "127.0.0.1:%d --json",
	       port);
	ts_assert_status(&r, 0);
	{
		json_t *c = ct_json(&r), *conn = json_object_get(c, "connect");
		cr_assert(json_is_true(json_object_get(conn, "verified")));
		cr_assert(json_is_true(json_object_get(conn, "leaf_matches_key")));
		cr_assert(json_is_true(json_object_get(conn, "same_certificate")));
		cr_assert_str_eq(json_string_value(json_object_get(conn, "signature")),
				 "ECDSA+SHA256");
		json_decref(c);
	}
	ts_result_free(&r);

	/* A wrong root: exit 1, said why. */
	ts_run(&r,
	       "$HSMCERT check --key pkcs11:object=web --roots pki/other.crt --connect "
	       "127.0.0.1:%d",
	       port);
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "does not verify against the roots"), "%s", r.out);
	ts_result_free(&r);

	/* Another key's certificate: what the server sends is not key web2's. */
	ts_run(&r,
	       "$HSMCERT check --key pkcs11:object=web2 --roots pki/root.crt --connect "
	       "127.0.0.1:%d",
	       port);
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.out, "serves a certificate for another key"), "%s", r.out);
	ts_result_free(&r);

	stop_server();
	/* Stopped: nothing listens any more, and check --connect says it cannot reach it. */
	cr_assert(!port_open(port));
	ts_run(&r,
	       "$HSMCERT check --key pkcs11:object=web --roots pki/root.crt --connect "
	       "127.0.0.1:%d",
	       port);
	ts_assert_status(&r, 4);
	ts_result_free(&r);
	free(page);
	free(users);
	free(served);
	free(ours);
	json_decref(audit);
	json_decref(doc);
}

Test(deploy, nginx_serves_the_token_key, .timeout = 240)
{
	if (access("/usr/sbin/nginx", X_OK) != 0)
		cr_assert_fail("nginx is not installed (scripts/deps.sh installs it)");
	serve_and_prove("nginx", "-g 'daemon off;'", "served by nginx");
}

Test(deploy, apache_serves_the_token_key, .timeout = 240)
{
	if (access("/usr/sbin/apache2", X_OK) != 0)
		cr_assert_fail("apache2 is not installed (scripts/deps.sh installs it)");
	serve_and_prove("apache", "-DFOREGROUND", "served by apache");
}

Test(deploy, files_modes_and_pin_file)
{
	json_t *doc = deploy("nginx", 8443, "");
	char pin_path[600], *pin, *owner, *site, *cnf, *chain;
	size_t len = 0;

	snprintf(pin_path, sizeof(pin_path), "%s/site/token.pin", ts_dir);
	pin = ts_read(pin_path, &len);
	cr_assert_not_null(pin);
	/* No newline: libp11 keeps it as part of the PIN. */
	cr_assert_eq(len, strlen(TS_PIN));
	cr_assert_eq(memcmp(pin, TS_PIN, len), 0);
	owner = ts_sh("stat -c '%%a %%U %%G' site/token.pin | tr -d '\\n'");
	cr_assert_str_eq(owner, "640 root www-data");
	cr_assert_str_eq(ct_str(doc, "pin_file"), pin_path);
	site = ts_sh("cat site/nginx-site.conf");
	cr_assert(strstr(site, "ssl_certificate_key \"engine:pkcs11:pkcs11:"), "%s", site);
	cr_assert(strstr(site, "?pin-source=file:"), "%s", site);
	cr_assert(strstr(site, "listen 127.0.0.1:8443 ssl;"), "%s", site);
	cr_assert(strstr(site, "server_name www.example.test;"), "%s", site);
	cnf = ts_sh("cat site/nginx.conf site/openssl.cnf");
	cr_assert(strstr(cnf, "env OPENSSL_CONF;"));
	cr_assert(strstr(cnf, "env SOFTHSM2_CONF;"));
	cr_assert(strstr(cnf, "user www-data www-data;"));
	cr_assert(strstr(cnf, "MODULE_PATH = " TS_SOFTHSM));
	/* chain.pem: the leaf and the Sub CA, verified by openssl against the root. */
	chain = ts_sh("grep -c 'BEGIN CERTIFICATE' site/chain.pem | tr -d '\\n'");
	cr_assert_str_eq(chain, "2");
	free(ts_sh("openssl verify -CAfile pki/root.crt -untrusted site/chain.pem site/chain.pem "
		   ">/dev/null"));
	cr_assert(strstr(ct_str(doc, "systemd.dropin"), "Environment=OPENSSL_CONF="));
	free(pin);
	free(owner);
	free(site);
	free(cnf);
	free(chain);
	json_decref(doc);
}

/* The files in `dir` under ts_dir, sorted, one line each ("" when none or missing). */
static char *files_in(const char *dir)
{
	return ts_sh("find %s -type f 2>/dev/null | sort", dir);
}

Test(deploy_input, unknown_server_kind)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT deploy lighttpd --key pkcs11:object=web --out-dir site");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "unknown server 'lighttpd'"), "%s", r.err);
	cr_assert(!ts_exists("site"));
	ts_result_free(&r);
}

Test(deploy_input, key_without_certificate)
{
	struct ts_result r;
	char *files;

	ct_keygen("bare", "ec:P-256");
	ts_run(&r, "$HSMCERT deploy nginx --key pkcs11:object=bare --out-dir site "
		   "--roots pki/root.crt");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "no certificate"), "%s", r.err);
	files = files_in("site");
	cr_assert_str_eq(files, "");
	ts_result_free(&r);
	free(files);
}

Test(deploy_input, existing_files_need_force)
{
	struct ts_result r;
	char *before, *after;

	free(ts_sh("chown -R www-data:www-data tokens"));
	free(ts_sh("$HSMCERT deploy apache --key pkcs11:object=web --out-dir site --roots "
		   "pki/root.crt >/dev/null"));
	free(ts_sh("echo mine >> site/apache-site.conf"));
	before = ts_sh("cat site/*.conf site/chain.pem site/token.pin | sha256sum");
	ts_run(&r, "$HSMCERT deploy apache --key pkcs11:object=web --out-dir site --roots "
		   "pki/root.crt --listen 8444");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "nothing written: "), "%s", r.err);
	cr_assert(strstr(r.err, "exists; use --force to replace it"), "%s", r.err);
	after = ts_sh("cat site/*.conf site/chain.pem site/token.pin | sha256sum");
	cr_assert_str_eq(before, after);
	free(after);
	after = files_in("site");
	cr_assert(!strstr(after, ".tmp."), "%s", after);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT deploy apache --key pkcs11:object=web --out-dir site --roots "
		   "pki/root.crt --listen 8444 --force");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
	free(after);
	after = ts_sh("grep -c 'Listen 8444' site/apache2.conf | tr -d '\\n'");
	cr_assert_str_eq(after, "1");
	free(before);
	free(after);
}

Test(deploy_input, unreadable_pin_source)
{
	struct ts_result r;
	char *files;

	ts_run(&r,
	       "$HSMCERT deploy nginx --key pkcs11:object=web --out-dir site --roots "
	       "pki/root.crt --pin-source file:%s/no-such-pin",
	       ts_dir);
	ts_assert_status(&r, 4);
	cr_assert(strstr(r.err, "no-such-pin"), "%s", r.err);
	files = files_in("site");
	cr_assert_str_eq(files, "");
	ts_result_free(&r);
	free(files);
}

Test(deploy_input, wrong_pin_writes_nothing)
{
	struct ts_result r;
	char *files;

	ts_run(&r, "HSMCERT_PIN=0000 $HSMCERT deploy nginx --key pkcs11:object=web --out-dir site "
		   "--roots pki/root.crt");
	ts_assert_status(&r, 3);
	cr_assert(strstr(r.err, "CKR_PIN_INCORRECT"), "%s", r.err);
	files = files_in("site");
	cr_assert_str_eq(files, "");
	ts_result_free(&r);
	free(files);
}

Test(deploy_input, service_user_cannot_reach_the_token)
{
	struct ts_result r;

	/* The token's files are root's (0700): www-data's workers could not sign. */
	ts_run(&r, "$HSMCERT deploy nginx --key pkcs11:object=web --out-dir site --roots "
		   "pki/root.crt --json");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "www-data cannot read and write the token's folder"), "%s", r.err);
	cr_assert(strstr(r.err, "fix: chown -R www-data:www-data "), "%s", r.err);
	{
		json_t *doc = ct_json(&r), *p = json_object_get(doc, "access_problems");
		cr_assert_geq(json_array_size(p), 1);
		cr_assert(json_is_true(json_object_get(doc, "token_files_checked")));
		json_decref(doc);
	}
	ts_result_free(&r);
	/* After the fix it names, deploy is clean. */
	free(ts_sh("chown -R www-data:www-data tokens"));
	ts_run(&r, "$HSMCERT deploy nginx --key pkcs11:object=web --out-dir site --roots "
		   "pki/root.crt --force");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

Test(deploy_input, bad_listen_and_server_name)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT deploy nginx --key pkcs11:object=web --out-dir site --roots "
		   "pki/root.crt --listen 127.0.0.1:99999");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "99999"), "%s", r.err);
	ts_result_free(&r);
	ts_run(&r, "$HSMCERT deploy nginx --key pkcs11:object=web --out-dir site --roots "
		   "pki/root.crt --server-name 'a;b'");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "not a host name"), "%s", r.err);
	ts_result_free(&r);
	cr_assert(!ts_exists("site"));
}

Test(deploy_input, check_connect_bad_address)
{
	struct ts_result r;

	ts_run(&r, "$HSMCERT check --key pkcs11:object=web --roots pki/root.crt --connect "
		   "no-port-here");
	ts_assert_status(&r, 2);
	cr_assert(strstr(r.err, "is not HOST:PORT"), "%s", r.err);
	ts_result_free(&r);
}

/* --test reports the server's own verdict: a failed test and a crashed one are exit 1. */
Test(deploy_input, server_test_failure_is_reported)
{
	struct ts_result r;
	json_t *doc;

	free(ts_sh("chown -R www-data:www-data tokens && mkdir bin && printf '#!/bin/sh\\necho "
		   "\\\"nginx: [emerg] refused by the fake\\\" >&2\\nexit 1\\n' > bin/nginx && "
		   "chmod +x bin/nginx"));
	ts_run(&r, "PATH=$PWD/bin:$PATH $HSMCERT deploy nginx --key pkcs11:object=web --out-dir "
		   "site --roots pki/root.crt --test --json");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "configuration test failed (exit 1)"), "%s", r.err);
	doc = ct_json(&r);
	cr_assert(json_is_false(json_object_get(json_object_get(doc, "test"), "passed")));
	cr_assert(strstr(ct_str(doc, "test.output"), "refused by the fake"), "%s", r.out);
	json_decref(doc);
	ts_result_free(&r);

	free(ts_sh("printf '#!/bin/sh\\nkill -SEGV $$\\n' > bin/nginx"));
	ts_run(&r, "PATH=$PWD/bin:$PATH $HSMCERT deploy nginx --key pkcs11:object=web --out-dir "
		   "site --roots pki/root.crt --test --force");
	ts_assert_status(&r, 1);
	cr_assert(strstr(r.err, "crashed (signal 11)"), "%s", r.err);
	ts_result_free(&r);
}
