/*
 * SPEC: deploy --test. The server's own configuration test on what deploy
 * wrote (nginx -t loads the key through the engine, so it also proves the
 * token, the PIN file and the URI; apache2 -t checks the syntax), run with
 * the environment the commands name, its output kept, bounded in time.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_TIMEOUT_MS 60000
#define TEST_OUTPUT_MAX 65536

extern char **environ;

/* The server's binary: PATH, then /usr/sbin and /sbin (not in a user's PATH on Debian). */
static char *find_binary(const char *name)
{
	const char *path = getenv("PATH");
	char *dirs = NULL, *save = NULL, *full = NULL;

	if (asprintf(&dirs, "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin") < 0)
		return NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (asprintf(&full, "%s/%s", d, name) < 0) {
			full = NULL;
			break;
		}
		if (access(full, X_OK) == 0)
			break;
		free(full);
		full = NULL;
	}
	free(dirs);
	return full;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run argv with OPENSSL_CONF (and SOFTHSM2_CONF) set; output into *out; status or -signal. */
static hc_rc run(char *const argv[], const char *openssl_conf, const char *softhsm2_conf,
		 char **out, int *status, hc_error *err)
{
	int pipefd[2];
	pid_t pid;
	size_t len = 0;
	long long deadline = now_ms() + TEST_TIMEOUT_MS;
	bool timed_out = false;
	char *buf = malloc(TEST_OUTPUT_MAX + 1);

	if (!buf)
		return hc_fail(err, HC_IO, "out of memory");
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		free(buf);
		return hc_fail(err, HC_IO, "pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		free(buf);
		return hc_fail(err, HC_IO, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		setenv("OPENSSL_CONF", openssl_conf, 1);
		if (softhsm2_conf)
			setenv("SOFTHSM2_CONF", softhsm2_conf, 1);
		execve(argv[0], argv, environ);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t n;
		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = read(pipefd[0], buf + len, len < TEST_OUTPUT_MAX ? TEST_OUTPUT_MAX - len : 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < TEST_OUTPUT_MAX)
			len += (size_t)n;
	}
	close(pipefd[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	buf[len] = '\0';
	*out = buf;
	if (timed_out)
		return hc_fail(err, HC_CHECK, "%s did not finish its test in %d seconds", argv[0],
			       TEST_TIMEOUT_MS / 1000);
	return HC_OK;
}

hc_rc hc_deploy_test(const hc_deploy_params *params, hc_deploy_result *r, hc_error *err)
{
	const char *name = params->server == HC_DEPLOY_NGINX ? "nginx" : "apache2";
	char *bin = find_binary(name), *openssl_conf = NULL, *conf = NULL, *prefix = NULL,
	     *errlog = NULL;
	int status = 0;
	hc_rc rc;

	if (!bin)
		return hc_fail(err, HC_IO, "%s is not installed (not in PATH nor /usr/sbin)", name);
	if (asprintf(&openssl_conf, "%s/%s", r->out_dir, DEPLOY_OPENSSL_FILE) < 0 ||
	    asprintf(&conf, "%s/%s", r->out_dir, deploy_config_name(params->server)) < 0 ||
	    asprintf(&prefix, "%s/", r->out_dir) < 0 ||
	    asprintf(&errlog, "%s/error.log", r->out_dir) < 0) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if (params->server == HC_DEPLOY_NGINX) {
		char *argv[] = {bin, "-t", "-p", prefix, "-e", errlog, "-c", conf, NULL};
		rc = run(argv, openssl_conf, params->softhsm2_conf, &r->test_output, &status, err);
	} else {
		char *argv[] = {bin, "-t", "-d", r->out_dir, "-f", conf, NULL};
		rc = run(argv, openssl_conf, params->softhsm2_conf, &r->test_output, &status, err);
	}
	r->tested = true;
	if (rc != HC_OK)
		goto out;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && r->test_output[0] == '\0')
		rc = hc_fail(err, HC_IO, "cannot run %s", bin);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		r->test_passed = true;
	else if (WIFSIGNALED(status))
		/* libp11's engine crashes on a wrong PIN or a missing key (PITFALLS). */
		rc = hc_fail(err, HC_CHECK,
			     "%s's configuration test crashed (signal %d) while "
			     "loading the key",
			     name, WTERMSIG(status));
	else
		rc = hc_fail(err, HC_CHECK, "%s's configuration test failed (exit %d)", name,
			     WEXITSTATUS(status));
out:
	free(bin);
	free(openssl_conf);
	free(conf);
	free(prefix);
	free(errlog);
	return rc;
}
