/* Secrets and questions: PIN sources, no-echo prompts, confirmation (see prompt.h). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

/* One line from the terminal, without its end; longer input is cut to cap - 1 bytes. */
static size_t read_tty_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n' || c == '\r')
			break;
		if (n < cap - 1)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return n;
}

/* Read one line from the terminal with echo off. */
static hc_rc prompt_tty(const char *prompt, hc_secret **out, hc_error *err)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	struct termios old, quiet;
	char buf[1024];
	size_t n = 0;
	hc_rc rc = HC_OK;

	*out = NULL;
	if (fd < 0)
		return hc_fail(err, HC_USAGE, "no terminal to ask for the %s", prompt);
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return hc_fail(err, HC_USAGE, "no terminal to ask for the %s", prompt);
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (dprintf(fd, "%s: ", prompt) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		close(fd);
		return hc_fail(err, HC_IO, "cannot use the terminal: %s", strerror(errno));
	}
	n = read_tty_line(fd, buf, sizeof(buf));
	tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	*out = hc_secret_new(buf, n);
	if (!*out)
		rc = hc_fail(err, HC_IO, "out of memory");
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

hc_rc cli_confirm(const struct cli *cli, const char *question, const char *yes_option, bool *yes,
		  hc_error *err)
{
	char answer[16] = "";
	int fd;

	*yes = false;
	if (!isatty(STDIN_FILENO) || (fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
		return hc_fail(err, HC_USAGE,
			       "hsmcert %s needs confirmation and there is no terminal to ask: "
			       "add %s to proceed without asking",
			       cli->command ? cli->command : "", yes_option);
	dprintf(fd, "%s [y/N] ", question);
	read_tty_line(fd, answer, sizeof(answer));
	close(fd);
	*yes = strcasecmp(answer, "y") == 0 || strcasecmp(answer, "yes") == 0;
	return HC_OK;
}

static const struct {
	const char *name, *env, *option;
} secret_kinds[] = {
	[CLI_USER_PIN] = {"user PIN", "HSMCERT_PIN", "--pin-source"},
	[CLI_SO_PIN] = {"SO PIN", "HSMCERT_SO_PIN", "--so-pin-source"},
	[CLI_PASSPHRASE] = {"passphrase", "HSMCERT_PASSPHRASE", "--passphrase-source"},
};

static const char *secret_source(const struct cli *cli, enum cli_secret_kind kind)
{
	return kind == CLI_USER_PIN ? cli->pin_source
	       : kind == CLI_SO_PIN ? cli->so_pin_source
				    : cli->passphrase_source;
}

bool cli_secret_given(const struct cli *cli, enum cli_secret_kind kind)
{
	return secret_source(cli, kind) || getenv(secret_kinds[kind].env);
}

hc_rc cli_secret(const struct cli *cli, enum cli_secret_kind kind, const hc_uri *uri, bool confirm,
		 hc_secret **out, hc_error *err)
{
	const char *name = secret_kinds[kind].name;
	const char *source = secret_source(cli, kind);
	const char *value;
	hc_secret *again = NULL;
	char prompt[128];
	hc_rc rc;

	*out = NULL;
	if (source || (kind == CLI_USER_PIN && uri && hc_uri_pin_source(uri))) {
		rc = hc_secret_from_source(source ? source : hc_uri_pin_source(uri), name, out,
					   err);
		if (rc == HC_OK && (*out)->warning)
			cli_warnf(cli, "%s", (*out)->warning);
		return rc;
	}
	if ((value = getenv(secret_kinds[kind].env)) != NULL) {
		*out = hc_secret_new(value, strlen(value));
		return *out ? HC_OK : hc_fail(err, HC_IO, "out of memory");
	}
	if (!isatty(STDIN_FILENO))
		return hc_fail(err, HC_USAGE,
			       "the %s is needed and there is no terminal to ask: use %s "
			       "env:VAR|file:PATH|fd:N or set %s",
			       name, secret_kinds[kind].option, secret_kinds[kind].env);
	snprintf(prompt, sizeof(prompt), "%s%s", confirm ? "New " : "", name);
	if ((rc = prompt_tty(prompt, out, err)) != HC_OK || !confirm)
		return rc;
	snprintf(prompt, sizeof(prompt), "Repeat the %s", name);
	if ((rc = prompt_tty(prompt, &again, err)) != HC_OK)
		goto fail;
	if (again->len != (*out)->len || memcmp(again->data, (*out)->data, again->len) != 0) {
		rc = hc_fail(err, HC_USAGE, "the two %ss differ", name);
		goto fail;
	}
	hc_secret_free(again);
	return HC_OK;
fail:
	hc_secret_free(again);
	hc_secret_free(*out);
	*out = NULL;
	return rc;
}

/* ---- passphrases for PKCS#12 inputs ----------------------------------- */

static hc_rc passphrase_on_demand(void *ctx, const char *name, const hc_secret **out, hc_error *err)
{
	struct cli_passphrase *p = ctx;
	hc_rc rc;

	(void)name;
	if (!p->secret && (rc = cli_secret(p->cli, CLI_PASSPHRASE, NULL, false, &p->secret, err)))
		return rc;
	*out = p->secret;
	return HC_OK;
}

void cli_passphrase_init(struct cli_passphrase *p, const struct cli *cli)
{
	memset(p, 0, sizeof(*p));
	p->cli = cli;
	p->ask.fn = passphrase_on_demand;
	p->ask.ctx = p;
}

void cli_passphrase_clear(struct cli_passphrase *p)
{
	hc_secret_free(p->secret);
	p->secret = NULL;
}
