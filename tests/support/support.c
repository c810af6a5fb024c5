#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char ts_dir[256];

static void setup_world(void)
{
	char path[512], conf[1024];
	const char *bin = getenv("HSMCERT_BIN");

	snprintf(ts_dir, sizeof(ts_dir), "/tmp/hsmcert-test.XXXXXX");
	cr_assert_not_null(mkdtemp(ts_dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/tokens", ts_dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(
		conf, sizeof(conf),
		"directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
		ts_dir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", ts_dir);
	ts_write(path, conf);
	setenv("SOFTHSM2_CONF", path, 1);
	setenv("HSMCERT_MODULE", TS_SOFTHSM, 1);
	setenv("HSMCERT_SOFTHSM2_MODULE", TS_SOFTHSM, 1); /* scripts/testpki.sh leaf */
	setenv("HSMCERT_FAULT_TARGET", TS_SOFTHSM, 1);
	setenv("HSMCERT_PIN", TS_PIN, 1);
	setenv("HSMCERT_SO_PIN", TS_SO_PIN, 1);
	setenv("PIN", TS_PIN, 1);
	setenv("SO_PIN", TS_SO_PIN, 1);
	setenv("TEST_DIR", ts_dir, 1);
	unsetenv("HSMCERT_TOKEN");
	unsetenv("HSMCERT_JSON");
	unsetenv("HSMCERT_PASSPHRASE");
	cr_assert_not_null(bin, "HSMCERT_BIN is not set (run the tests through ctest)");
	if (getenv("HSMCERT_VALGRIND")) {
		/* scripts/valgrind.sh: every run of the binary under memcheck; errors exit 99. */
		char wrapped[1024];
		snprintf(wrapped, sizeof(wrapped),
			 "valgrind -q --error-exitcode=99 --leak-check=full "
			 "--errors-for-leak-kinds=definite --show-leak-kinds=definite "
			 "--suppressions=%s/tests/support/valgrind.supp %s",
			 getenv("HSMCERT_SOURCE_DIR"), bin);
		setenv("HSMCERT", wrapped, 1);
	} else {
		setenv("HSMCERT", bin, 1);
	}
	cr_assert_eq(chdir(ts_dir), 0);
}

void ts_setup_empty(void)
{
	setup_world();
}

void ts_add_token(const char *label)
{
	struct ts_result r;
	ts_run(&r, "softhsm2-util --init-token --free --label '%s' --so-pin %s --pin %s", label,
	       TS_SO_PIN, TS_PIN);
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

void ts_setup_token(void)
{
	setup_world();
	ts_add_token(TS_TOKEN);
}

void ts_use_testpki(void)
{
	const char *src = getenv("HSMCERT_SOURCE_DIR"), *bin = getenv("HSMCERT_BIN");
	char dir[1024], script[1024], *bin_dir;
	struct ts_result r;

	cr_assert_not_null(src, "HSMCERT_SOURCE_DIR is not set (run the tests through ctest)");
	cr_assert_not_null(bin);
	bin_dir = strdup(bin);
	*strrchr(bin_dir, '/') = '\0';
	snprintf(dir, sizeof(dir), "%s/testpki/shared", bin_dir);
	free(bin_dir);
	snprintf(script, sizeof(script), "%s/scripts/testpki.sh", src);
	setenv("PKI", dir, 1);
	setenv("TESTPKI", script, 1);
	ts_run(&r, "\"$TESTPKI\" build \"$PKI\" 8080");
	ts_assert_status(&r, 0);
	ts_result_free(&r);
}

int ts_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void ts_use_stepca(void)
{
	char bin[4096], dir[4096], buf[512];
	int port;

	snprintf(bin, sizeof(bin), "%s", getenv("HSMCERT_BIN"));
	snprintf(dir, sizeof(dir), "%s/stepca", dirname(bin));
	port = ts_free_port();
	setenv("STEPCA", dir, 1);
	/* Built once per build folder (cached), then a CA of this test's own. */
	free(ts_sh("\"$HSMCERT_SOURCE_DIR/scripts/stepca.sh\" build \"$STEPCA/step-ca\" && "
		   "\"$HSMCERT_SOURCE_DIR/scripts/stepca.sh\" config ca %d 24h && "
		   "\"$HSMCERT_SOURCE_DIR/scripts/stepca.sh\" eab \"$STEPCA/step-ca\" ca > eab && "
		   "\"$HSMCERT_SOURCE_DIR/scripts/stepca.sh\" start \"$STEPCA/step-ca\" ca",
		   port));
	snprintf(buf, sizeof(buf), "%d", port);
	setenv("STEPCA_PORT", buf, 1);
	snprintf(buf, sizeof(buf), "https://127.0.0.1:%d/acme/acme/directory", port);
	setenv("ACME", buf, 1);
	snprintf(buf, sizeof(buf), "https://127.0.0.1:%d/acme/long/directory", port);
	setenv("ACME_LONG", buf, 1);
	snprintf(buf, sizeof(buf), "https://127.0.0.1:%d/acme/eab/directory", port);
	setenv("ACME_EAB", buf, 1);
	snprintf(buf, sizeof(buf), "%s/ca/root.crt", ts_dir);
	setenv("ROOTS", buf, 1);
	/*
	 * Port 80 is one per machine: a test holds the lock while its responder or web
	 * server runs. The lock file is in the build folder, so the suite leaves
	 * nothing behind; who runs the suites of several build folders at once
	 * names one lock file for all of them in HSMCERT_PORT80_LOCK ($P80 is
	 * expanded unquoted: paths without spaces).
	 */
	if (getenv("HSMCERT_PORT80_LOCK") && *getenv("HSMCERT_PORT80_LOCK"))
		snprintf(buf, sizeof(buf), "flock %s", getenv("HSMCERT_PORT80_LOCK"));
	else
		snprintf(buf, sizeof(buf), "flock %s/port80.lock", dir);
	setenv("P80", buf, 1);
}

void ts_stop_stepca(void)
{
	if (ts_dir[0])
		free(ts_sh("\"$HSMCERT_SOURCE_DIR/scripts/stepca.sh\" stop ca; true"));
}

void ts_teardown(void)
{
	char cmd[512];

	if (!ts_dir[0] || getenv("HSMCERT_KEEP_TEST_DIRS"))
		return;
	if (chdir("/") != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ts_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", ts_dir);
}

char *ts_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

bool ts_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

void ts_write(const char *path, const char *content)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(content, 1, strlen(content), f), strlen(content));
	cr_assert_eq(fclose(f), 0);
}

int ts_run(struct ts_result *r, const char *fmt, ...)
{
	char *cmd = NULL, *full = NULL, out[512], err[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	cr_assert(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	snprintf(out, sizeof(out), "%s/.stdout", ts_dir);
	snprintf(err, sizeof(err), "%s/.stderr", ts_dir);
	cr_assert(asprintf(&full, "( %s ) >'%s' 2>'%s' </dev/null", cmd, out, err) >= 0);
	st = system(full);
	free(full);
	free(cmd);
	if (WIFEXITED(st))
		r->status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		r->status = 128 + WTERMSIG(st);
	else
		r->status = -1;
	r->out = ts_read(out, NULL);
	r->err = ts_read(err, NULL);
	if (!r->out)
		r->out = strdup("");
	if (!r->err)
		r->err = strdup("");
	unlink(out);
	unlink(err);
	return r->status;
}

void ts_result_free(struct ts_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

bool ts_text_has(const char *text, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);

	for (const char *line = text; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *p = line + strspn(line, " \t");
		if (strncmp(p, name, nlen) != 0 || (p[nlen] != ' ' && p[nlen] != '\t'))
			continue;
		p += nlen;
		p += strspn(p, " \t");
		if (strncmp(p, value, vlen) == 0)
			return true;
	}
	return false;
}

json_t *ts_json_at(json_t *doc, const char *path)
{
	char *copy = strdup(path), *save = NULL;
	json_t *at = doc;

	cr_assert_not_null(copy);
	for (char *part = strtok_r(copy, "/", &save); at && part;
	     part = strtok_r(NULL, "/", &save)) {
		char *end;
		unsigned long i = strtoul(part, &end, 10);
		if (json_is_array(at) && *part && !*end)
			at = json_array_get(at, i);
		else
			at = json_object_get(at, part);
	}
	free(copy);
	return at;
}

const char *ts_json_str(json_t *doc, const char *path)
{
	return json_string_value(ts_json_at(doc, path));
}

char *ts_sh(const char *fmt, ...)
{
	struct ts_result r;
	char *cmd = NULL, *out;
	va_list ap;

	va_start(ap, fmt);
	cr_assert(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	ts_run(&r, "%s", cmd);
	cr_assert_eq(r.status, 0, "command failed (%d): %s\nstdout:\n%s\nstderr:\n%s", r.status,
		     cmd, r.out, r.err);
	free(cmd);
	out = r.out;
	free(r.err);
	return out;
}

int ts_count_objects(const char *token_label)
{
	char *out = ts_sh("pkcs11-tool --module %s --token-label '%s' --login --pin %s "
			  "--list-objects 2>/dev/null | grep -c 'Object;' || true",
			  TS_SOFTHSM, token_label, TS_PIN);
	int n = atoi(out);
	free(out);
	return n;
}

void ts_store_cert(const char *key_label, const char *id_hex, const char *label, const char *cn,
		   int days)
{
	char *out;
	char pub[512];

	if (key_label)
		snprintf(pub, sizeof(pub),
			 "pkcs11-tool --module %s --token-label %s --login --pin %s --read-object "
			 "--type pubkey --label '%s' -o '%s.pub.der' >/dev/null 2>&1 && "
			 "openssl pkey -pubin -inform DER -in '%s.pub.der' -out '%s.pub.pem'",
			 TS_SOFTHSM, TS_TOKEN, TS_PIN, key_label, label, label, label);
	else
		snprintf(pub, sizeof(pub),
			 "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
			 "-out '%s.absent.pem' && openssl pkey -in '%s.absent.pem' -pubout "
			 "-out '%s.pub.pem'",
			 label, label, label);
	out = ts_sh("set -e; %s; "
		    "[ -f ts-ca.key ] || openssl genpkey -algorithm EC "
		    "-pkeyopt ec_paramgen_curve:P-256 -out ts-ca.key 2>/dev/null; "
		    "[ -f ts-ca.crt ] || openssl req -x509 -new -key ts-ca.key -subj '/CN=Test CA' "
		    "-days 3650 -out ts-ca.crt; "
		    "printf 'basicConstraints=CA:FALSE\\nsubjectAltName=DNS:%s\\n' >'%s.ext'; "
		    "openssl x509 -new -subj '/CN=%s' -CA ts-ca.crt -CAkey ts-ca.key "
		    "-force_pubkey '%s.pub.pem' -extfile '%s.ext' -days %d -outform DER "
		    "-out '%s.crt.der'; "
		    "pkcs11-tool --module %s --token-label %s --login --pin %s --write-object "
		    "'%s.crt.der' --type cert --id %s --label '%s' >/dev/null 2>&1",
		    pub, cn, label, cn, label, label, days, label, TS_SOFTHSM, TS_TOKEN, TS_PIN,
		    label, id_hex, label);
	free(out);
}

/*
 * The test binaries themselves keep fixture strings until the forked test
 * ends; LeakSanitizer is for the hsmcert binary they run, not for them.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
