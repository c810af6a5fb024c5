/*
 * SPEC: check --tls. Server and client in one thread over a loopback TCP
 * connection with non-blocking sockets: each side is stepped until it needs
 * the other, and poll() waits for whichever can move, so a stalled peer ends
 * at the deadline instead of hanging.
 */
#include "hsmcert/tls.h"

#include "hsmcert/x509.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- loopback ------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline)
{
	long long left = deadline - now_ms();
	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* A connected pair of non-blocking sockets over 127.0.0.1; nothing else can reach it. */
static hc_rc loopback_pair(int *server, int *client, int *port, long long deadline, hc_error *err)
{
	struct sockaddr_in addr = {.sin_family = AF_INET}, mine;
	socklen_t len = sizeof(addr), mine_len = sizeof(mine);
	struct pollfd pfd;
	int lfd = -1;
	hc_rc rc = HC_OK;

	*server = *client = -1;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(lfd, 1) != 0 || getsockname(lfd, (struct sockaddr *)&addr, &len) != 0) {
		rc = hc_fail(err, HC_IO, "cannot listen on 127.0.0.1: %s", strerror(errno));
		goto out;
	}
	*port = ntohs(addr.sin_port);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*client < 0 || (connect(*client, (struct sockaddr *)&addr, sizeof(addr)) != 0 &&
			    errno != EINPROGRESS)) {
		rc = hc_fail(err, HC_IO, "cannot connect to 127.0.0.1:%d: %s", *port,
			     strerror(errno));
		goto out;
	}
	if (getsockname(*client, (struct sockaddr *)&mine, &mine_len) != 0) {
		rc = hc_fail(err, HC_IO, "loopback socket: %s", strerror(errno));
		goto out;
	}
	/*
	 * Only our own client may be served: another local process that raced to
	 * the port would otherwise get a handshake signed with the token key.
	 */
	for (;;) {
		struct sockaddr_in peer;
		socklen_t peer_len = sizeof(peer);

		errno = 0;
		pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
		if (poll(&pfd, 1, remaining_ms(deadline)) != 1 ||
		    (*server = accept4(lfd, (struct sockaddr *)&peer, &peer_len,
				       SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
			rc = hc_fail(err, HC_IO, "the loopback connection was not accepted: %s",
				     errno ? strerror(errno) : "timed out");
			break;
		}
		if (peer.sin_port == mine.sin_port && peer.sin_addr.s_addr == mine.sin_addr.s_addr)
			break;
		close(*server);
		*server = -1;
	}
out:
	if (lfd >= 0)
		close(lfd);
	if (rc != HC_OK) {
		if (*client >= 0)
			close(*client);
		*client = -1;
	}
	return rc;
}

/* ---- TLS ------------------------------------------------------------ */

struct side {
	SSL *ssl;
	int fd;
	short events; /* what it waits for */
	bool done;
	bool failed;
	char error[256]; /* the OpenSSL reason when it failed */
};

/* One step of an operation; 1 done, 0 must wait (events set), -1 failed. */
static int settle(struct side *s, int r)
{
	int e = SSL_get_error(s->ssl, r);
	unsigned long code;

	if (r > 0)
		return 1;
	if (e == SSL_ERROR_WANT_READ) {
		s->events = POLLIN;
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		s->events = POLLOUT;
		return 0;
	}
	s->failed = true;
	code = ERR_peek_error();
	if (code)
		ERR_error_string_n(code, s->error, sizeof(s->error));
	else
		snprintf(s->error, sizeof(s->error), "%s",
			 e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL
				 ? "the connection was closed"
				 : "TLS error");
	ERR_clear_error();
	return -1;
}

/* Wait until one of the sides that still has work can move; false at the deadline. */
static bool wait_sides(struct side *a, struct side *b, long long deadline)
{
	struct pollfd p[2];
	nfds_t n = 0;

	if (!a->done)
		p[n++] = (struct pollfd){.fd = a->fd, .events = a->events};
	if (!b->done)
		p[n++] = (struct pollfd){.fd = b->fd, .events = b->events};
	return n == 0 || poll(p, n, remaining_ms(deadline)) > 0;
}

static bool handshake(struct side *server, struct side *client, long long deadline)
{
	while (!(server->done && client->done)) {
		struct side *sides[2] = {server, client};
		for (int i = 0; i < 2; i++) {
			struct side *s = sides[i];
			int r;
			if (s->done)
				continue;
			r = settle(s, SSL_do_handshake(s->ssl));
			if (r < 0)
				return false;
			s->done = r == 1;
		}
		if (server->done && client->done)
			break;
		if (now_ms() >= deadline || !wait_sides(server, client, deadline))
			return false;
	}
	return true;
}

/* Move `len` bytes from one side to the other: a write, then the read that gets them. */
static bool transfer(struct side *from, struct side *to, const char *data, int len,
		     long long deadline)
{
	char buf[64];
	int got = 0;

	from->done = to->done = false;
	while (!from->done) {
		int r = settle(from, SSL_write(from->ssl, data, len));
		if (r < 0)
			return false;
		from->done = r == 1;
		if (!from->done && !wait_sides(from, to, deadline))
			return false;
	}
	while (got < len) {
		int n = SSL_read(to->ssl, buf, (int)sizeof(buf));
		int r = settle(to, n);
		if (r < 0)
			return false;
		if (r == 1) {
			if (n > len - got || memcmp(buf, data + got, (size_t)n) != 0)
				return false;
			got += n;
			continue;
		}
		if (now_ms() >= deadline || !wait_sides(to, to, deadline))
			return false;
	}
	return true;
}

static void describe_session(SSL *client, hc_tls_result *out)
{
	STACK_OF(X509) *chain = SSL_get0_verified_chain(client);
	int n = chain ? sk_X509_num(chain) : 0;
	int type = NID_undef, md = NID_undef;
	const char *alg;

	snprintf(out->protocol, sizeof(out->protocol), "%s", SSL_get_version(client));
	snprintf(out->cipher, sizeof(out->cipher), "%s", SSL_get_cipher_name(client));
	SSL_get_peer_signature_type_nid(client, &type);
	SSL_get_peer_signature_nid(client, &md);
	alg = type == EVP_PKEY_RSA_PSS ? "RSA-PSS"
	      : type == EVP_PKEY_RSA   ? "RSA-PKCS1"
	      : type == EVP_PKEY_EC    ? "ECDSA"
	      : type != NID_undef      ? OBJ_nid2sn(type)
				       : "unknown";
	snprintf(out->signature, sizeof(out->signature), "%s+%s", alg,
		 md != NID_undef ? OBJ_nid2sn(md) : "none");
	/* The chain's length is known: one allocation, not one per entry. */
	if (n <= 0 || !(out->verified_chain = calloc((size_t)n, sizeof(*out->verified_chain))))
		return;
	for (int i = 0; i < n; i++)
		out->verified_chain[i] = hc_x509_name_text(
			X509_get_subject_name(sk_X509_value(chain, i)));
	out->verified_count = (size_t)n;
}

static hc_rc make_contexts(const hc_tls_params *p, EVP_PKEY *pkey, SSL_CTX **sctx, SSL_CTX **cctx,
			   hc_error *err)
{
	*sctx = SSL_CTX_new(TLS_server_method());
	*cctx = SSL_CTX_new(TLS_client_method());
	if (!*sctx || !*cctx)
		return hc_fail_ssl(err, HC_IO, "cannot set up TLS");
	SSL_CTX_set_min_proto_version(*sctx, TLS1_2_VERSION);
	SSL_CTX_set_min_proto_version(*cctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate(*sctx, p->leaf) != 1)
		return hc_fail_ssl(err, HC_CHECK, "the server cannot use the certificate");
	if (SSL_CTX_use_PrivateKey(*sctx, pkey) != 1)
		return hc_fail_ssl(err, HC_CHECK,
				   "the server cannot use the token key with the "
				   "certificate");
	for (int i = 0; p->chain && i < sk_X509_num(p->chain); i++)
		if (SSL_CTX_add1_chain_cert(*sctx, sk_X509_value(p->chain, i)) != 1)
			return hc_fail_ssl(err, HC_IO, "cannot add a chain certificate");
	SSL_CTX_set_verify(*cctx, SSL_VERIFY_PEER, NULL);
	if (!X509_STORE_up_ref(p->roots))
		return hc_fail(err, HC_IO, "out of memory");
	SSL_CTX_set_cert_store(*cctx, p->roots);
	return HC_OK;
}

/* The failure of a handshake, in the words of the side that saw it first. */
static hc_rc handshake_failure(const struct side *server, const struct side *client,
			       hc_tls_result *out, hc_error *err)
{
	out->verify_code = SSL_get_verify_result(client->ssl);
	if (out->verify_code != X509_V_OK) {
		snprintf(out->verify_error, sizeof(out->verify_error), "%s",
			 X509_verify_cert_error_string(out->verify_code));
		return hc_fail(err, HC_CHECK,
			       "TLS handshake failed: the client did not accept the server: %s",
			       out->verify_error);
	}
	if (server->failed)
		return hc_fail(err, HC_CHECK, "TLS handshake failed on the server side: %s",
			       server->error);
	if (client->failed)
		return hc_fail(err, HC_CHECK, "TLS handshake failed on the client side: %s",
			       client->error);
	return hc_fail(err, HC_CHECK, "TLS handshake did not finish in time");
}

hc_rc hc_tls_check(const hc_tls_params *p, hc_tls_result *out, hc_error *err)
{
	static const char ping[] = "hsmcert check --tls\n";
	long long deadline = now_ms() + (p->timeout_ms > 0 ? p->timeout_ms : HC_TLS_TIMEOUT_MS);
	hc_evp_key *tk = NULL;
	struct side server = {.fd = -1}, client = {.fd = -1};
	SSL_CTX *sctx = NULL, *cctx = NULL;
	sigset_t pipe_set, old_mask;
	struct timespec zero = {0, 0};
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->verify_code = X509_V_OK;
	/* A peer that hangs up mid-write must be an error here, not a SIGPIPE. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	ERR_clear_error();

	/* libp11 is given what is left of the bound: it may wait forever for a session. */
	if ((rc = hc_evp_key_open(&p->key, (long)(deadline - now_ms()), &tk, err)) != HC_OK ||
	    (rc = make_contexts(p, hc_evp_key_pkey(tk), &sctx, &cctx, err)) != HC_OK ||
	    (rc = loopback_pair(&server.fd, &client.fd, &out->port, deadline, err)) != HC_OK)
		goto out;
	server.ssl = SSL_new(sctx);
	client.ssl = SSL_new(cctx);
	if (!server.ssl || !client.ssl || !SSL_set_fd(server.ssl, server.fd) ||
	    !SSL_set_fd(client.ssl, client.fd) ||
	    !SSL_set_tlsext_host_name(client.ssl, p->server_name) ||
	    !SSL_set1_host(client.ssl, p->server_name)) {
		rc = hc_fail_ssl(err, HC_IO, "cannot set up the TLS connection");
		goto out;
	}
	SSL_set_accept_state(server.ssl);
	SSL_set_connect_state(client.ssl);

	if (!handshake(&server, &client, deadline)) {
		rc = handshake_failure(&server, &client, out, err);
		goto out;
	}
	out->handshake = true;
	out->verify_code = SSL_get_verify_result(client.ssl);
	out->verified = out->verify_code == X509_V_OK;
	describe_session(client.ssl, out);
	if (!out->verified) {
		snprintf(out->verify_error, sizeof(out->verify_error), "%s",
			 X509_verify_cert_error_string(out->verify_code));
		rc = hc_fail(err, HC_CHECK, "the client did not verify the server: %s",
			     out->verify_error);
		goto out;
	}
	/* Application data both ways: the session keys work, not only the handshake. */
	if (!transfer(&client, &server, ping, (int)strlen(ping), deadline) ||
	    !transfer(&server, &client, ping, (int)strlen(ping), deadline)) {
		rc = hc_fail(err, HC_CHECK, "TLS data exchange failed: %s",
			     server.failed   ? server.error
			     : client.failed ? client.error
					     : "timed out");
		goto out;
	}
	out->data_exchanged = true;
	SSL_shutdown(client.ssl);
	SSL_shutdown(server.ssl);
out:
	SSL_free(server.ssl);
	SSL_free(client.ssl);
	if (server.fd >= 0)
		close(server.fd);
	if (client.fd >= 0)
		close(client.fd);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	hc_evp_key_close(tk);
	ERR_clear_error();
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	return rc;
}

void hc_tls_result_clear(hc_tls_result *result)
{
	if (!result)
		return;
	for (size_t i = 0; i < result->verified_count; i++)
		free(result->verified_chain[i]);
	free(result->verified_chain);
	memset(result, 0, sizeof(*result));
}
