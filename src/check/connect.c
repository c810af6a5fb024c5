/*
 * SPEC: check --connect HOST:PORT. The client side of check --tls against a
 * running server: the served chain must verify against the roots for the
 * server name, and the served leaf must carry the token key's public key.
 * When it does, the server's handshake signature was made with that key, and
 * a non-extractable key can only sign inside its token.
 */
#include "hsmcert/certstore.h"
#include "hsmcert/x509.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 20000

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "host:port", "[v6]:port" into its parts (host without brackets). */
static hc_rc split_address(const char *address, char *host, size_t host_len, char *port,
			   size_t port_len, hc_error *err)
{
	const char *colon, *h = address;
	size_t hl;

	if (address[0] == '[') {
		const char *close = strchr(address, ']');
		if (!close || close[1] != ':')
			goto bad;
		h = address + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(address, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - address);
	}
	if (hl == 0 || hl >= host_len || !colon[1] || strlen(colon + 1) >= port_len ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) < 1 ||
	    atoi(colon + 1) > 65535)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, port_len, "%s", colon + 1);
	return HC_OK;
bad:
	return hc_fail(err, HC_USAGE, "'%s' is not HOST:PORT (port 1-65535; [IPv6]:PORT)", address);
}

/* A connected TCP socket to the first address that answers, within the deadline. */
static hc_rc dial(const char *address, long long deadline, int *out, hc_error *err)
{
	char host[256], port[8];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int e, fd = -1, last = 0;
	hc_rc rc;

	if ((rc = split_address(address, host, sizeof(host), port, sizeof(port), err)) != HC_OK)
		return rc;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0)
		return hc_fail(err, HC_IO, "%s: %s", address, gai_strerror(e));
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		struct pollfd p;
		socklen_t len = sizeof(last);
		long long left = deadline - now_ms();

		fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
			last = errno;
		} else {
			p = (struct pollfd){.fd = fd, .events = POLLOUT};
			if (poll(&p, 1, left > 0 ? (int)left : 0) != 1)
				last = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &last, &len) != 0)
				last = errno;
			if (last == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return hc_fail(err, HC_IO, "cannot connect to %s: %s", address,
			       strerror(last ? last : ECONNREFUSED));
	*out = fd;
	return HC_OK;
}

/* Blocking from here on, each read and write bounded by what is left. */
static void bound_socket(int fd, long long deadline)
{
	long long left = deadline - now_ms();
	struct timeval tv = {.tv_sec = left > 0 ? left / 1000 : 0,
			     .tv_usec = left > 0 ? (left % 1000) * 1000 : 1000};

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void describe(SSL *ssl, hc_connect_result *c)
{
	int type = NID_undef, md = NID_undef;
	STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);

	snprintf(c->protocol, sizeof(c->protocol), "%s", SSL_get_version(ssl));
	snprintf(c->cipher, sizeof(c->cipher), "%s", SSL_get_cipher_name(ssl));
	SSL_get_peer_signature_type_nid(ssl, &type);
	SSL_get_peer_signature_nid(ssl, &md);
	snprintf(c->signature, sizeof(c->signature), "%s+%s",
		 type == EVP_PKEY_RSA_PSS ? "RSA-PSS"
		 : type == EVP_PKEY_RSA	  ? "RSA-PKCS1"
		 : type == EVP_PKEY_EC	  ? "ECDSA"
		 : type != NID_undef	  ? OBJ_nid2sn(type)
					  : "unknown",
		 md != NID_undef ? OBJ_nid2sn(md) : "none");
	c->served_count = sent ? (size_t)sk_X509_num(sent) : 0;
}

/* Compare the served leaf with the token key's certificate; fill the item. */
static void judge(hc_check_result *r, const char *address, X509 *leaf)
{
	hc_connect_result *c = &r->connect;
	unsigned char md[32];
	unsigned int len = 0;

	c->leaf_subject = hc_x509_name_text(X509_get_subject_name(leaf));
	if (X509_digest(leaf, EVP_sha256(), md, &len) == 1)
		for (unsigned i = 0; i < len; i++)
			snprintf(c->leaf_sha256 + 2 * i, 3, "%02x", md[i]);
	c->leaf_matches = hc_public_keys_equal(X509_get0_pubkey(leaf), X509_get0_pubkey(r->cert));
	c->same_certificate = X509_cmp(leaf, r->cert) == 0;
	if (!c->leaf_matches)
		check_add_item(r, "connect", HC_CHECK_FAIL,
			       "%s serves a certificate for another key ('%s', sha256 %s), not the "
			       "certificate of key '%s' on the token",
			       address, c->leaf_subject ? c->leaf_subject : "", c->leaf_sha256,
			       r->key.label);
	else if (!c->verified)
		check_add_item(r, "connect", HC_CHECK_FAIL,
			       "%s serves the key's certificate, but its chain does not verify "
			       "against the roots for %s: %s",
			       address, r->server_name, c->verify_error);
	else
		check_add_item(r, "connect", HC_CHECK_PASS,
			       "%s %s as %s verified; the served leaf is key '%s''s certificate%s, "
			       "so the server signed with the token key (%s)",
			       address, c->protocol, r->server_name, r->key.label,
			       c->same_certificate ? "" : " (another certificate for the same key)",
			       c->signature);
}

hc_rc hc_check_connect(hc_check_result *r, const char *address, const char *server_name,
		       int timeout_ms, hc_error *err)
{
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : CONNECT_TIMEOUT_MS);
	hc_connect_result *c = &r->connect;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *leaf = NULL;
	sigset_t pipe_set, old_mask;
	struct timespec zero = {0, 0};
	int fd = -1;
	hc_rc rc = HC_OK;

	memset(c, 0, sizeof(*c));
	c->verify_code = X509_V_OK;
	if (!r->cert) {
		check_add_item(r, "connect", HC_CHECK_SKIPPED, "no certificate to compare with");
		return HC_CHECK;
	}
	if (!r->server_name)
		r->server_name = server_name ? strdup(server_name)
					     : hc_check_server_name(r->cert, &r->cert_info);
	if (!r->server_name)
		return hc_error_hint(err, HC_HINT_SERVER_NAME,
				     hc_fail(err, HC_USAGE, "the certificate names no host"));
	/* A server that hangs up mid-write must be an error here, not a SIGPIPE. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	ERR_clear_error();

	if ((rc = dial(address, deadline, &fd, err)) != HC_OK)
		goto out;
	bound_socket(fd, deadline);
	if (!(ctx = SSL_CTX_new(TLS_client_method())) || !X509_STORE_up_ref(r->trust)) {
		rc = hc_fail_ssl(err, HC_IO, "cannot set up TLS");
		goto out;
	}
	SSL_CTX_set_cert_store(ctx, r->trust);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Verified, but not refused in the handshake: the leaf is compared either way. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (!(ssl = SSL_new(ctx)) || !SSL_set_fd(ssl, fd) ||
	    !SSL_set_tlsext_host_name(ssl, r->server_name) || !SSL_set1_host(ssl, r->server_name)) {
		rc = hc_fail_ssl(err, HC_IO, "cannot set up the TLS connection");
		goto out;
	}
	if (SSL_connect(ssl) != 1) {
		unsigned long e = ERR_peek_error();
		char why[256];
		if (e)
			ERR_error_string_n(e, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s",
				 now_ms() >= deadline ? "timed out" : "the connection was closed");
		check_add_item(r, "connect", HC_CHECK_FAIL, "TLS handshake with %s failed: %s",
			       address, why);
		goto out;
	}
	c->handshake = true;
	describe(ssl, c);
	c->verify_code = SSL_get_verify_result(ssl);
	c->verified = c->verify_code == X509_V_OK;
	if (!c->verified)
		snprintf(c->verify_error, sizeof(c->verify_error), "%s",
			 X509_verify_cert_error_string(c->verify_code));
	if (!(leaf = SSL_get1_peer_certificate(ssl))) {
		check_add_item(r, "connect", HC_CHECK_FAIL, "%s sent no certificate", address);
		goto out;
	}
	judge(r, address, leaf);
	SSL_shutdown(ssl);
out:
	r->connect_checked = rc == HC_OK;
	X509_free(leaf);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (rc != HC_OK)
		return rc;
	return r->failed ? HC_CHECK : HC_OK;
}
