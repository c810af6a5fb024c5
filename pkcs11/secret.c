/* PINs and passphrases from env:, file: and fd: sources (SPEC: Global behaviour). */
#include "hsmcert/p11.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longer than any PIN or passphrase a person types; bounds what we read. */
#define HC_SECRET_MAX 4096

hc_secret *hc_secret_new(const char *data, size_t len)
{
	hc_secret *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->data = malloc(len + 1);
	if (!s->data) {
		free(s);
		return NULL;
	}
	memcpy(s->data, data, len);
	s->data[len] = '\0';
	s->len = len;
	return s;
}

void hc_secret_free(hc_secret *secret)
{
	if (!secret)
		return;
	if (secret->data) {
		OPENSSL_cleanse(secret->data, secret->len);
		free(secret->data);
	}
	free(secret->warning);
	free(secret);
}

/* Read up to the first newline or EOF from fd into buf; returns length or -1. */
static ssize_t read_line(int fd, char *buf, size_t cap, bool *too_long)
{
	size_t n = 0;

	*too_long = false;
	while (n < cap) {
		ssize_t r = read(fd, buf + n, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0 || buf[n] == '\n')
			break;
		n++;
	}
	if (n == cap)
		*too_long = true;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	return (ssize_t)n;
}

static hc_rc secret_from_fd(int fd, const char *what, const char *source, hc_secret **out,
			    hc_error *err)
{
	char buf[HC_SECRET_MAX];
	bool too_long;
	ssize_t n = read_line(fd, buf, sizeof(buf), &too_long);
	hc_rc rc = HC_OK;

	if (n < 0)
		rc = hc_fail(err, HC_IO, "%s source %s: %s", what, source, strerror(errno));
	else if (too_long)
		rc = hc_fail(err, HC_USAGE, "%s source %s: longer than %d bytes", what, source,
			     HC_SECRET_MAX - 1);
	else if ((*out = hc_secret_new(buf, (size_t)n)) == NULL)
		rc = hc_fail(err, HC_IO, "out of memory");
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/*
 * A secret's file holds one line (a final newline allowed): more is an
 * error, never cut silently (a passphrase with a second line would not be
 * the one the user meant). A file other users can read or write is
 * reported with the fix (issue 14.8).
 */
static hc_rc file_checks(int fd, const char *path, const char *what, hc_secret *secret,
			 hc_error *err)
{
	struct stat st;
	char more;
	ssize_t r;

	while ((r = read(fd, &more, 1)) < 0 && errno == EINTR)
		;
	if (r > 0)
		return hc_fail(err, HC_USAGE,
			       "%s file %s has more than one line: the %s is the whole first "
			       "line; remove the others",
			       what, path, what);
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)) &&
	    asprintf(&secret->warning,
		     "%s file %s can be read or written by every user of this host (mode %04o); "
		     "make it private: chmod 600 %s",
		     what, path, (unsigned)(st.st_mode & 07777), path) < 0)
		secret->warning = NULL;
	return HC_OK;
}

hc_rc hc_secret_from_source(const char *source, const char *what, hc_secret **out, hc_error *err)
{
	*out = NULL;
	if (!source || !*source)
		return hc_fail(err, HC_USAGE, "empty %s source", what);

	if (strncmp(source, "env:", 4) == 0) {
		const char *name = source + 4, *value;
		if (!*name)
			return hc_fail(err, HC_USAGE, "%s source 'env:' names no variable", what);
		value = getenv(name);
		if (!value)
			return hc_fail(err, HC_USAGE, "%s source %s: variable %s is not set", what,
				       source, name);
		*out = hc_secret_new(value, strlen(value));
		return *out ? HC_OK : hc_fail(err, HC_IO, "out of memory");
	}

	if (strncmp(source, "fd:", 3) == 0) {
		char *end;
		long fd;
		errno = 0;
		fd = strtol(source + 3, &end, 10);
		if (source[3] == '\0' || *end || errno || fd < 0 || fd > INT_MAX)
			return hc_fail(err, HC_USAGE,
				       "%s source %s: fd: takes a file descriptor number", what,
				       source);
		return secret_from_fd((int)fd, what, source, out, err);
	}

	if (strncmp(source, "file:", 5) == 0 || source[0] == '/') {
		const char *path = source[0] == '/' ? source : source + 5;
		hc_rc rc;
		int fd;
		/* RFC 8089 form file:///path and file:/path both name /path. */
		if (strncmp(path, "//", 2) == 0)
			path += 2;
		if (!*path)
			return hc_fail(err, HC_USAGE, "%s source 'file:' names no file", what);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return hc_fail(err, HC_IO, "%s file %s: %s", what, path, strerror(errno));
		rc = secret_from_fd(fd, what, source, out, err);
		if (rc == HC_OK)
			rc = file_checks(fd, path, what, *out, err);
		close(fd);
		if (rc != HC_OK) {
			hc_secret_free(*out);
			*out = NULL;
		}
		return rc;
	}

	/* Not echoed: a PIN typed where its source belongs must not reach logs. */
	return hc_fail(err, HC_USAGE, "unknown %s source: use env:VAR, file:PATH or fd:N", what);
}
