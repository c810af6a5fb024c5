#include "hsmcert/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static hc_rc write_all(int fd, const void *data, size_t len, const char *path, hc_error *err)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return hc_fail(err, HC_IO, "writing %s: %s", path, strerror(errno));
		}
		p += w;
		len -= (size_t)w;
	}
	return HC_OK;
}

hc_rc hc_file_check_writable(const char *path, bool force, hc_error *err)
{
	struct stat st;

	if (strcmp(path, "-") == 0 || force)
		return HC_OK;
	if (lstat(path, &st) == 0)
		return hc_error_hint(err, HC_HINT_FORCE_REPLACE,
				     hc_fail(err, HC_CHECK, "%s exists", path));
	return HC_OK;
}

hc_rc hc_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   bool force, hc_error *err)
{
	char *tmp = NULL, *dircopy = NULL;
	int fd = -1, dfd;
	hc_rc rc;

	if (strcmp(path, "-") == 0) {
		rc = write_all(STDOUT_FILENO, data, len, "standard output", err);
		return rc;
	}
	rc = hc_file_check_writable(path, force, err);
	if (rc != HC_OK)
		return rc;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return hc_fail(err, HC_IO, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = hc_fail(err, HC_IO, "creating %s: %s", path, strerror(errno));
		free(tmp);
		return rc;
	}
	if (fchmod(fd, mode) != 0) {
		rc = hc_fail(err, HC_IO, "setting mode of %s: %s", path, strerror(errno));
		goto fail;
	}
	if ((rc = write_all(fd, data, len, path, err)) != HC_OK)
		goto fail;
	if (fsync(fd) != 0) {
		rc = hc_fail(err, HC_IO, "syncing %s: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = hc_fail(err, HC_IO, "closing %s: %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	/* Without --force, link() refuses to replace a file created meanwhile. */
	if (!force) {
		if (link(tmp, path) != 0) {
			rc = errno == EEXIST
				     ? hc_error_hint(err, HC_HINT_FORCE_REPLACE,
						     hc_fail(err, HC_CHECK, "%s exists", path))
				     : hc_fail(err, HC_IO, "creating %s: %s", path, strerror(errno));
			goto fail;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		rc = hc_fail(err, HC_IO, "renaming into %s: %s", path, strerror(errno));
		goto fail;
	}
	dircopy = strdup(path);
	if (dircopy && (dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dircopy);
	free(tmp);
	return HC_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

hc_rc hc_file_read(const char *path, size_t max, unsigned char **data, size_t *len,
		   hc_error *err)
{
	bool is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;
	hc_rc rc = HC_OK;

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return hc_fail(err, HC_IO, "%s: %s", path, strerror(errno));
	for (;;) {
		ssize_t r;
		if (n == cap) {
			unsigned char *grown;
			cap = cap ? cap * 2 : 65536;
			if (cap > max + 1)
				cap = max + 1;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				rc = hc_fail(err, HC_IO, "out of memory reading %s", path);
				break;
			}
			buf = grown;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = hc_fail(err, HC_IO, "reading %s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = hc_fail(err, HC_USAGE, "%s is larger than %zu bytes", path, max);
			break;
		}
	}
	if (!is_stdin)
		close(fd);
	if (rc != HC_OK) {
		free(buf);
		return rc;
	}
	if (!buf && !(buf = malloc(1)))
		return hc_fail(err, HC_IO, "out of memory");
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return HC_OK;
}

char *hc_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *out = NULL;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	while (*name == '/')
		name++;
	if (asprintf(&out, "%.*s%s%s", (int)n, dir, n && dir[n - 1] == '/' ? "" : "/", name) < 0)
		return NULL;
	return out;
}
