/*
 * http-01 (RFC 8555 8.3): the key authorization published at
 * http://NAME/.well-known/acme-challenge/TOKEN, either by a small built-in
 * responder that listens only while an order runs, or as files under a
 * running web server's document root, removed afterwards.
 */
#include "hsmcert/acme.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "/.well-known/acme-challenge/"
#define MAX_TOKENS 64

struct entry {
	char *token, *keyauth;
};

struct hc_acme_responder {
	int fd4, fd6;
	int stop[2]; /* a byte on stop[1] ends the thread */
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	struct entry entries[MAX_TOKENS];
	size_t count;
};

/* One request, read with a deadline; one answer; the connection closed. */
static void serve_one(hc_acme_responder *r, int fd)
{
	char req[2048], *path, *sp, *answer = NULL;
	size_t used = 0;
	int n = -1;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (used + 1 < sizeof(req) && !memmem(req, used, "\r\n\r\n", 4) &&
	       !memmem(req, used, "\n\n", 2)) {
		ssize_t got;
		if (poll(&p, 1, 5000) <= 0)
			return; /* slow or silent client */
		got = read(fd, req + used, sizeof(req) - 1 - used);
		if (got <= 0)
			return;
		used += (size_t)got;
	}
	req[used] = '\0';
	if (strncmp(req, "GET ", 4) == 0 || strncmp(req, "HEAD ", 5) == 0) {
		bool head = req[0] == 'H';
		path = req + (head ? 5 : 4);
		if ((sp = strpbrk(path, " \r\n")))
			*sp = '\0';
		pthread_mutex_lock(&r->lock);
		for (size_t i = 0; i < r->count; i++) {
			if (strncmp(path, PREFIX, sizeof(PREFIX) - 1) == 0 &&
			    strcmp(path + sizeof(PREFIX) - 1, r->entries[i].token) == 0) {
				n = asprintf(&answer,
					     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
					     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
					     strlen(r->entries[i].keyauth),
					     head ? "" : r->entries[i].keyauth);
				break;
			}
		}
		pthread_mutex_unlock(&r->lock);
	}
	if (n < 0) {
		answer = NULL;
		n = asprintf(&answer, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
				      "Connection: close\r\n\r\n");
	}
	if (n > 0 && answer)
		(void)!write(fd, answer, (size_t)n);
	free(answer);
}

static void *serve(void *arg)
{
	hc_acme_responder *r = arg;
	struct pollfd fds[3] = {{.fd = r->stop[0], .events = POLLIN},
				{.fd = r->fd4, .events = POLLIN},
				{.fd = r->fd6, .events = POLLIN}};

	for (;;) {
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents)
			break;
		for (int i = 1; i < 3; i++) {
			int c;
			if (fds[i].fd < 0 || !(fds[i].revents & POLLIN))
				continue;
			if ((c = accept4(fds[i].fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
				continue;
			serve_one(r, c);
			close(c);
		}
	}
	return NULL;
}

static int listen_on(int family, unsigned port, int *error)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_ANY_INIT};
	struct sockaddr_in a4 = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_ANY)};

	if (fd < 0) {
		*error = errno;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((family == AF_INET6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
				: bind(fd, (struct sockaddr *)&a4, sizeof(a4))) != 0 ||
	    listen(fd, 16) != 0) {
		*error = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static hc_rc responder_present(void *ctx, const char *token, const char *keyauth, hc_error *err)
{
	hc_acme_responder *r = ctx;
	hc_rc rc = HC_OK;

	pthread_mutex_lock(&r->lock);
	if (r->count >= MAX_TOKENS) {
		rc = hc_fail(err, HC_IO, "more than %d challenges at once", MAX_TOKENS);
	} else if (!(r->entries[r->count].token = strdup(token)) ||
		   !(r->entries[r->count].keyauth = strdup(keyauth))) {
		free(r->entries[r->count].token);
		r->entries[r->count].token = NULL;
		rc = hc_fail(err, HC_IO, "out of memory");
	} else {
		r->count++;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static void responder_cleanup(void *ctx, const char *token)
{
	hc_acme_responder *r = ctx;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->count; i++) {
		if (strcmp(r->entries[i].token, token) != 0)
			continue;
		free(r->entries[i].token);
		free(r->entries[i].keyauth);
		r->entries[i] = r->entries[--r->count];
		break;
	}
	pthread_mutex_unlock(&r->lock);
}

hc_rc hc_acme_responder_start(unsigned port, hc_acme_responder **out, hc_error *err)
{
	hc_acme_responder *r;
	int e4 = 0, e6 = 0;

	*out = NULL;
	if (port == 0 || port > 65535)
		return hc_fail(err, HC_USAGE, "http-01 port %u is not a TCP port", port);
	if (!(r = calloc(1, sizeof(*r))))
		return hc_fail(err, HC_IO, "out of memory");
	r->stop[0] = r->stop[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	r->fd4 = listen_on(AF_INET, port, &e4);
	r->fd6 = listen_on(AF_INET6, port, &e6);
	if (r->fd4 < 0) { /* IPv4 is what CAs reach; IPv6 is a bonus where the host has it */
		hc_acme_responder_stop(r);
		return hc_error_hint(
			err, HC_HINT_HTTP_01,
			hc_fail(err, HC_IO, "cannot listen on port %u for http-01: %s%s", port,
				strerror(e4),
				e4 == EACCES
					? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
				: e4 == EADDRINUSE ? " (a web server runs there: publish the "
						     "challenge in its document root instead)"
						   : ""));
	}
	if (pipe2(r->stop, O_CLOEXEC) != 0 || pthread_create(&r->thread, NULL, serve, r) != 0) {
		hc_acme_responder_stop(r);
		return hc_fail(err, HC_IO, "cannot start the http-01 responder: %s",
			       strerror(errno));
	}
	r->running = true;
	*out = r;
	return HC_OK;
}

hc_acme_solver hc_acme_responder_solver(hc_acme_responder *r)
{
	return (hc_acme_solver){responder_present, responder_cleanup, r};
}

void hc_acme_responder_stop(hc_acme_responder *r)
{
	if (!r)
		return;
	if (r->running) {
		(void)!write(r->stop[1], "x", 1);
		pthread_join(r->thread, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (r->stop[i] >= 0)
			close(r->stop[i]);
	if (r->fd4 >= 0)
		close(r->fd4);
	if (r->fd6 >= 0)
		close(r->fd6);
	for (size_t i = 0; i < r->count; i++) {
		free(r->entries[i].token);
		free(r->entries[i].keyauth);
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- webroot -------------------------------------------------------------- */

struct hc_acme_webroot {
	char *dir;
	bool made_wellknown, made_challenge; /* folders this run created, removed at close */
};

static hc_rc make_dir(const char *path, bool *made, hc_error *err)
{
	if (mkdir(path, 0755) == 0) {
		*made = true;
		return HC_OK;
	}
	if (errno == EEXIST)
		return HC_OK;
	return hc_fail(err, HC_IO, "creating %s: %s", path, strerror(errno));
}

static hc_rc webroot_present(void *ctx, const char *token, const char *keyauth, hc_error *err)
{
	hc_acme_webroot *w = ctx;
	char *path = NULL, *d1 = NULL, *d2 = NULL;
	hc_rc rc = HC_OK;
	FILE *f = NULL;

	if (asprintf(&d1, "%s/.well-known", w->dir) < 0 ||
	    asprintf(&d2, "%s/.well-known/acme-challenge", w->dir) < 0 ||
	    asprintf(&path, "%s/.well-known/acme-challenge/%s", w->dir, token) < 0) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	if ((rc = make_dir(d1, &w->made_wellknown, err)) != HC_OK ||
	    (rc = make_dir(d2, &w->made_challenge, err)) != HC_OK)
		goto out;
	/* Readable by the web server's user; it holds nothing secret. */
	if (!(f = fopen(path, "wx")) || fputs(keyauth, f) < 0 || fclose(f) != 0) {
		rc = hc_fail(err, HC_IO, "writing %s: %s", path, strerror(errno));
		if (f)
			unlink(path);
		f = NULL;
		goto out;
	}
	chmod(path, 0644);
out:
	free(d1);
	free(d2);
	free(path);
	return rc;
}

static void webroot_cleanup(void *ctx, const char *token)
{
	hc_acme_webroot *w = ctx;
	char *path = NULL;

	if (asprintf(&path, "%s/.well-known/acme-challenge/%s", w->dir, token) >= 0)
		unlink(path);
	free(path);
}

hc_rc hc_acme_webroot_open(const char *dir, hc_acme_webroot **out, hc_error *err)
{
	struct stat st;

	*out = NULL;
	if (stat(dir, &st) != 0)
		return hc_fail(err, HC_IO, "web root %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return hc_fail(err, HC_USAGE, "web root %s is not a folder", dir);
	if (!(*out = calloc(1, sizeof(**out))) || !((*out)->dir = strdup(dir))) {
		free(*out);
		*out = NULL;
		return hc_fail(err, HC_IO, "out of memory");
	}
	return HC_OK;
}

hc_acme_solver hc_acme_webroot_solver(hc_acme_webroot *w)
{
	return (hc_acme_solver){webroot_present, webroot_cleanup, w};
}

void hc_acme_webroot_close(hc_acme_webroot *w)
{
	char *path = NULL;

	if (!w)
		return;
	/* Only folders this run made, and only when empty (rmdir refuses otherwise). */
	if (w->made_challenge && asprintf(&path, "%s/.well-known/acme-challenge", w->dir) >= 0) {
		rmdir(path);
		free(path);
		path = NULL;
	}
	if (w->made_wellknown && asprintf(&path, "%s/.well-known", w->dir) >= 0) {
		rmdir(path);
		free(path);
	}
	free(w->dir);
	free(w);
}
