#include "hsmcert/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
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

static const char *file_kind(mode_t mode)
{
	return S_ISDIR(mode)	? "a directory"
	       : S_ISCHR(mode)	? "a character device"
	       : S_ISBLK(mode)	? "a block device"
	       : S_ISFIFO(mode) ? "a named pipe"
	       : S_ISSOCK(mode) ? "a socket"
				: "not a regular file";
}

hc_rc hc_file_check_writable(const char *path, bool force, hc_error *err)
{
	struct stat st;

	if (strcmp(path, "-") == 0 || lstat(path, &st) != 0)
		return HC_OK;
	/*
	 * Being forced replaces a file, never a device or a directory (as root,
	 * replacing /dev/null by force would have replaced /dev/null). A symbolic
	 * link is replaced itself, never written through.
	 */
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return hc_fail(err, HC_CHECK, "%s is %s: hsmcert writes only regular files", path,
			       file_kind(st.st_mode));
	if (!force)
		return hc_error_hint(err, HC_HINT_FORCE_REPLACE,
				     hc_fail(err, HC_CHECK, "%s exists", path));
	return HC_OK;
}

/* ---- temporary files a later run can find ------------------------------ */

/*
 * "DIR/.hsmcert-HASH-PID.XXXXXX": HASH (16 hex digits of SHA-256 of the
 * target's name) ties the file to its target and PID to the run that made
 * it, and the name has the same length whatever the target's, so a target
 * name up to the file system's limit still works. A run killed before its
 * rename leaves such a file; the next write of the same target removes the
 * ones whose process is gone (issue 14.5).
 */
#define TEMP_PREFIX ".hsmcert-"

static char *temp_prefix(const char *path, char **dir_out)
{
	char *copy = strdup(path), *copy2 = strdup(path), *prefix = NULL;
	unsigned char md[SHA256_DIGEST_LENGTH];
	const char *base, *dir;

	*dir_out = NULL;
	if (!copy || !copy2)
		goto out;
	base = basename(copy);
	dir = dirname(copy2);
	SHA256((const unsigned char *)base, strlen(base), md);
	if (asprintf(&prefix, TEMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x-", md[0], md[1], md[2],
		     md[3], md[4], md[5], md[6], md[7]) < 0)
		prefix = NULL;
	else if (!(*dir_out = strdup(dir))) {
		free(prefix);
		prefix = NULL;
	}
out:
	free(copy);
	free(copy2);
	return prefix;
}

/* Remove the temporary files of `prefix` in `dir` that a dead process left. */
static void remove_stale_temps(const char *dir, const char *prefix)
{
	size_t plen = strlen(prefix);
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end, full[4096];
		long pid;
		struct stat st;

		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		pid = strtol(de->d_name + plen, &end, 10);
		if (*end != '.' || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		if (snprintf(full, sizeof(full), "%s/%s", dir, de->d_name) >= (int)sizeof(full) ||
		    lstat(full, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		unlink(full);
	}
	closedir(d);
}

static mode_t process_umask;

static void read_umask(void)
{
	process_umask = umask(0);
	umask(process_umask);
}

/* Public outputs honour the umask; key material and backups never exceed 0600. */
static mode_t effective_mode(mode_t mode)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, read_umask);
	return mode & ~process_umask;
}

hc_rc hc_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool force,
			   hc_error *err)
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

	{
		char *dir = NULL, *prefix = temp_prefix(path, &dir);
		if (prefix)
			remove_stale_temps(dir, prefix);
		if (!prefix || asprintf(&tmp, "%s/%s%ld.XXXXXX", dir, prefix, (long)getpid()) < 0)
			tmp = NULL;
		free(prefix);
		free(dir);
		if (!tmp)
			return hc_fail(err, HC_IO, "out of memory");
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = hc_fail(err, HC_IO, "creating %s: %s", path, strerror(errno));
		free(tmp);
		return rc;
	}
	if (fchmod(fd, effective_mode(mode)) != 0) {
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
				     : hc_fail(err, HC_IO, "creating %s: %s", path,
					       strerror(errno));
			goto fail;
		}
		unlink(tmp);
	} else if ((rc = hc_file_check_writable(path, true, err)) != HC_OK) {
		goto fail; /* something else took the name meanwhile */
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

hc_rc hc_file_read(const char *path, size_t max, unsigned char **data, size_t *len, hc_error *err)
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
