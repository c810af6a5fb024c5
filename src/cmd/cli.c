/* The CLI's shared parts (see cli.h): options, messages, secrets, opening tokens. */
#include "cli.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static void emit_error_document(const struct cli *cli, hc_rc rc, const char *message,
				const hc_error *err);

/*
 * getopt has told stderr what was wrong; the JSON document needs the same in
 * words, rebuilt from the argument getopt stopped at.
 */
static int bad_option(const struct cli *cli)
{
	const char *arg = optind >= 1 && optind <= cli->argc && cli->argv ? cli->argv[optind - 1]
									   : NULL;
	int name_len = arg ? (int)strcspn(arg, "=") : 0; /* "--name" of "--name=value" */
	char message[256];

	if (!arg || arg[0] != '-')
		snprintf(message, sizeof(message), "invalid option");
	else if (arg[1] != '-')
		snprintf(message, sizeof(message), "invalid option '-%c', or its value is missing",
			 optopt > 0 && optopt < 0x80 ? optopt : arg[1]);
	else if (optopt == 0)
		snprintf(message, sizeof(message), "unrecognised or ambiguous option '%.*s'",
			 name_len, arg);
	else if (arg[name_len] == '=')
		snprintf(message, sizeof(message), "option '%.*s' takes no value", name_len, arg);
	else
		snprintf(message, sizeof(message), "option '%s' needs a value", arg);
	/* getopt already wrote its own message to stderr. */
	fprintf(stderr, "Try 'hsmcert %s%s--help'.\n", cli->command ? cli->command : "",
		cli->command ? " " : "");
	if (cli->json || cli->json_requested)
		emit_error_document(cli, HC_USAGE, message, NULL);
	return HC_USAGE;
}

int cli_common_option(struct cli *cli, int opt, const char *arg, cli_usage_fn usage)
{
	switch (opt) {
	case CLI_OPT_MODULE:
		cli->module_path = arg;
		return CLI_NEXT;
	case CLI_OPT_TOKEN:
		cli->token_uri = arg;
		cli->token_from_env = false;
		return CLI_NEXT;
	case CLI_OPT_PIN_SOURCE:
		cli->pin_source = arg;
		return CLI_NEXT;
	case CLI_OPT_SO_PIN_SOURCE:
		cli->so_pin_source = arg;
		return CLI_NEXT;
	case CLI_OPT_PASSPHRASE_SOURCE:
		cli->passphrase_source = arg;
		return CLI_NEXT;
	case CLI_OPT_JSON:
		cli->json = true;
		return CLI_NEXT;
	case CLI_OPT_HELP:
		usage(stdout);
		return 0;
	case ':':
	case '?':
		return bad_option(cli);
	default:
		return cli_usage_error(cli, "unhandled option %d", opt);
	}
}

/* --json, an abbreviation getopt_long would take for it (--js...), or a misused --json=X. */
static bool is_json_option(const char *arg)
{
	size_t n = strlen(arg);

	if (strncmp(arg, "--json=", 7) == 0)
		return true;
	return n >= 4 && n <= 6 && strncmp(arg, "--json", n) == 0;
}

void cli_set_arguments(struct cli *cli, int argc, char **argv)
{
	const char *v = getenv("HSMCERT_JSON");

	cli->argc = argc;
	cli->argv = argv;
	if (v && *v && strcmp(v, "0") != 0)
		cli->json_requested = true;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (is_json_option(argv[i]))
			cli->json_requested = true;
}

void cli_apply_environment(struct cli *cli)
{
	const char *v;

	if (!cli->module_path && (v = getenv("HSMCERT_MODULE")) && *v)
		cli->module_path = v;
	if (!cli->token_uri && (v = getenv("HSMCERT_TOKEN")) && *v) {
		cli->token_uri = v;
		cli->token_from_env = true;
	}
	if (!cli->json && (v = getenv("HSMCERT_JSON")) && *v && strcmp(v, "0") != 0)
		cli->json = true;
}

static void vmessage(const struct cli *cli, const char *kind, const char *fmt, va_list ap)
{
	fprintf(stderr, "hsmcert%s%s: %s", cli && cli->command ? " " : "",
		cli && cli->command ? cli->command : "", kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_errorf(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, "error: ", fmt, ap);
	va_end(ap);
}

void cli_warnf(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, "warning: ", fmt, ap);
	va_end(ap);
}

void cli_notef(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	char message[sizeof(((hc_error *)0)->message)];
	va_list ap, again;

	va_start(ap, fmt);
	va_copy(again, ap);
	vmessage(cli, "", fmt, ap);
	vsnprintf(message, sizeof(message), fmt, again);
	va_end(again);
	va_end(ap);
	if (cli && cli->command)
		fprintf(stderr, "Try 'hsmcert %s --help'.\n", cli->command);
	else
		fprintf(stderr, "Try 'hsmcert --help'.\n");
	if (cli && (cli->json || cli->json_requested))
		emit_error_document(cli, HC_USAGE, message, NULL);
	return HC_USAGE;
}

int cli_no_arguments(const struct cli *cli, int argc, char **argv)
{
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	return CLI_NEXT;
}

/* {"error": {message, exit_code, command[, function, ckr]}} on stdout (docs/json.md). */
static void emit_error_document(const struct cli *cli, hc_rc rc, const char *message,
				const hc_error *err)
{
	json_t *e = json_pack("{s:s, s:i, s:s}", "message", message, "exit_code", (int)rc,
			      "command", cli && cli->command ? cli->command : "");

	if (e && err && err->has_ckr) {
		json_object_set_new(e, "function", json_string(err->function));
		json_object_set_new(e, "ckr", json_string(hc_ckr_name(err->ckr)));
	}
	cli_json_emit(json_pack("{s:o}", "error", e ? e : json_null()));
}

int cli_fail(const struct cli *cli, const hc_error *err)
{
	hc_rc rc = err->rc ? err->rc : HC_TOKEN;

	cli_errorf(cli, "%s", err->message[0] ? err->message : "failed");
	/*
	 * The pre-scan only guesses (in 'keygen --label --json' the word is a
	 * label): past parsing, only a usage error trusts it.
	 */
	if (cli->json || (cli->json_requested && rc == HC_USAGE))
		emit_error_document(cli, rc, err->message, err);
	return (int)rc;
}

int cli_json_emit(json_t *doc)
{
	int rc = 0;

	if (!doc)
		return HC_IO;
	if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		rc = HC_IO;
	json_decref(doc);
	return rc;
}

json_t *cli_json_tristate(int value)
{
	return value < 0 ? json_null() : json_boolean(value);
}

json_t *cli_json_string(const char *s)
{
	return s ? json_string(s) : json_null();
}

const char *cli_yes_no(int value)
{
	return value < 0 ? "unknown" : value ? "yes" : "no";
}

/* ---- secrets --------------------------------------------------------- */

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

hc_rc cli_confirm(const struct cli *cli, const char *question, const char *yes_option,
		  bool *yes, hc_error *err)
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

hc_rc cli_secret(const struct cli *cli, enum cli_secret_kind kind, const hc_uri *uri,
		 bool confirm, hc_secret **out, hc_error *err)
{
	const char *name = secret_kinds[kind].name;
	const char *source = kind == CLI_USER_PIN	? cli->pin_source
			     : kind == CLI_SO_PIN	? cli->so_pin_source
							: cli->passphrase_source;
	const char *value;
	hc_secret *again = NULL;
	char prompt[128];
	hc_rc rc;

	*out = NULL;
	if (source)
		return hc_secret_from_source(source, name, out, err);
	if (kind == CLI_USER_PIN && uri && hc_uri_pin_source(uri))
		return hc_secret_from_source(hc_uri_pin_source(uri), name, out, err);
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

/* ---- tokens ---------------------------------------------------------- */

hc_rc cli_token_open(const struct cli *cli, const char *object_uri, unsigned flags,
		     struct cli_token *t, hc_error *err)
{
	hc_uri *object = NULL;
	const char *module = cli->module_path;
	hc_secret *pin = NULL;
	hc_rc rc;

	memset(t, 0, sizeof(*t));
	if (object_uri && (rc = hc_uri_parse(object_uri, &object, err)) != HC_OK)
		return rc;
	if (cli->token_uri) {
		if ((rc = hc_uri_parse(cli->token_uri, &t->uri, err)) != HC_OK)
			goto fail;
	} else if (object && hc_uri_names_token(object)) {
		t->uri = object;
		object = NULL;
	}
	/* A module-path= in the URI names the module when --module does not. */
	if (!module && t->uri && hc_uri_module_path(t->uri))
		module = hc_uri_module_path(t->uri);

	if ((rc = hc_module_open(module, flags & CLI_TOKEN_ONE_THREAD ? HC_MODULE_ONE_THREAD : 0,
				   &t->module, err)) != HC_OK)
		goto fail;
	if ((rc = hc_token_select(t->module, t->uri, &t->slot, err)) != HC_OK)
		goto fail;
	/* --token and an object URI that names a token must agree, or we act on the wrong one. */
	if (object && hc_uri_names_token(object) &&
	    !hc_uri_matches_slot(object, t->module, &t->slot)) {
		char label[33];
		HC_P11_STRING(t->slot.token.label, label);
		rc = hc_fail(err, HC_USAGE,
			     "%s names another token than the one selected by %s ('%s')",
			     hc_uri_text(object),
			     cli->token_from_env ? "HSMCERT_TOKEN" : "--token", label);
		goto fail;
	}
	HC_P11_STRING(t->slot.token.label, t->label);
	t->token_uri = hc_uri_for_token(&t->slot.token);
	if ((rc = hc_session_open(t->module, &t->slot, flags & CLI_TOKEN_RW, &t->session, err)))
		goto fail;
	if ((flags & CLI_TOKEN_LOGIN) && (t->slot.token.flags & CKF_LOGIN_REQUIRED)) {
		bool pad = t->slot.token.flags & CKF_PROTECTED_AUTHENTICATION_PATH;
		if (!pad || cli->pin_source || getenv("HSMCERT_PIN")) {
			const hc_uri *pin_uri =
				t->uri && hc_uri_pin_source(t->uri) ? t->uri : object;
			rc = cli_secret(cli, CLI_USER_PIN, pin_uri, false, &pin, err);
			if (rc != HC_OK)
				goto fail;
		}
		rc = hc_session_login(t->session, CKU_USER, pin, err);
		if (rc == HC_OK && (flags & CLI_TOKEN_KEEP_PIN))
			t->pin = pin;
		else
			hc_secret_free(pin);
		if (rc != HC_OK)
			goto fail;
	}
	hc_uri_free(object);
	return HC_OK;
fail:
	hc_uri_free(object);
	cli_token_close(t);
	return rc;
}

void cli_token_close(struct cli_token *t)
{
	hc_session_close(t->session);
	hc_module_close(t->module);
	hc_uri_free(t->uri);
	free(t->token_uri);
	hc_secret_free(t->pin);
	memset(t, 0, sizeof(*t));
}

json_t *cli_json_token(const struct cli_token *t)
{
	char serial[17], manufacturer[33], model[17];

	HC_P11_STRING(t->slot.token.serialNumber, serial);
	HC_P11_STRING(t->slot.token.manufacturerID, manufacturer);
	HC_P11_STRING(t->slot.token.model, model);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "label", t->label, "serial", serial,
			 "manufacturer", manufacturer, "model", model, "uri",
			 cli_json_string(t->token_uri), "module", hc_module_path(t->module));
}

/* ---- keys ------------------------------------------------------------ */

#include "hsmcert/hex.h"

static const struct {
	const char *name;
	size_t offset;
} key_flags[] = {
	{"token", offsetof(hc_key_info, token)},
	{"private", offsetof(hc_key_info, private_)},
	{"sensitive", offsetof(hc_key_info, sensitive)},
	{"extractable", offsetof(hc_key_info, extractable)},
	{"always_sensitive", offsetof(hc_key_info, always_sensitive)},
	{"never_extractable", offsetof(hc_key_info, never_extractable)},
	{"local", offsetof(hc_key_info, local)},
	{"modifiable", offsetof(hc_key_info, modifiable)},
	{"copyable", offsetof(hc_key_info, copyable)},
	{"destroyable", offsetof(hc_key_info, destroyable)},
	{"wrap_with_trusted", offsetof(hc_key_info, wrap_with_trusted)},
	{"always_authenticate", offsetof(hc_key_info, always_authenticate)},
};
#define KEY_FLAG(k, i) (*(const int *)((const char *)(k) + key_flags[i].offset))

json_t *cli_json_key(const hc_key_info *key)
{
	char type[32];
	char *id = hc_hex_encode(key->id ? key->id : (const unsigned char *)"", key->id_len);
	json_t *attrs = json_object(), *j;

	hc_keytype_format(&key->type, type, sizeof(type));
	for (size_t i = 0; i < sizeof(key_flags) / sizeof(key_flags[0]); i++)
		json_object_set_new(attrs, key_flags[i].name, cli_json_tristate(KEY_FLAG(key, i)));
	json_object_set_new(attrs, "key_gen_mechanism",
			    key->key_gen_mechanism == CK_UNAVAILABLE_INFORMATION
				    ? json_null()
				    : json_string(hc_ckm_name(key->key_gen_mechanism)));
	j = json_pack("{s:s, s:o, s:o, s:s, s:I, s:o}", "label", key->label, "id",
		      cli_json_string(id), "uri", cli_json_string(key->uri), "type", type, "bits",
		      (json_int_t)key->type.bits, "attributes", attrs);
	free(id);
	return j;
}

void cli_print_key(const hc_key_info *key, int indent)
{
	char type[32];
	char *id = hc_hex_encode(key->id ? key->id : (const unsigned char *)"", key->id_len);

	hc_keytype_format(&key->type, type, sizeof(type));
	printf("%*s%-20s%s\n", indent, "", "Label", key->label);
	printf("%*s%-20s%s\n", indent, "", "ID", id ? id : "");
	printf("%*s%-20s%s\n", indent, "", "Type", type);
	printf("%*s%-20s%s\n", indent, "", "URI", key->uri);
	for (size_t i = 0; i < sizeof(key_flags) / sizeof(key_flags[0]); i++)
		printf("%*s%-20s%s\n", indent, "", key_flags[i].name,
		       cli_yes_no(KEY_FLAG(key, i)));
	if (key->key_gen_mechanism != CK_UNAVAILABLE_INFORMATION)
		printf("%*s%-20s%s\n", indent, "", "key_gen_mechanism",
		       hc_ckm_name(key->key_gen_mechanism));
	free(id);
}

bool cli_keygen_option(struct cli_keygen *k, int c, const char *arg)
{
	switch (c) {
	case CLI_OPT_LABEL: k->params.label = arg; return true;
	case CLI_OPT_ID: k->id_arg = arg; return true;
	case CLI_OPT_TYPE: k->type_arg = arg; return true;
	case CLI_OPT_EXPORTABLE: k->params.exportable = true; return true;
	case CLI_OPT_IF_MISSING: k->params.if_missing = true; return true;
	default: return false;
	}
}

json_t *cli_json_generated(const hc_keygen_result *result)
{
	json_t *key = cli_json_key(&result->key);

	json_object_set_new(key, "public_uri", cli_json_string(result->public_uri));
	return key;
}

void cli_keygen_warnings(const struct cli *cli, const hc_keygen_result *result)
{
	if (result->notes.minimal_template)
		cli_warnf(cli, "the token refused the full key template (%s); generated with the "
			       "minimal one and checked the result",
			  hc_ckr_name(result->notes.full_template_rv));
	if (result->notes.extractable_cleared)
		cli_warnf(cli, "the token made the key extractable by default; CKA_EXTRACTABLE "
			       "was set to false (the key will not show never_extractable)");
	if (result->notes.sensitive_set)
		cli_warnf(cli, "the token made the key non-sensitive by default; CKA_SENSITIVE was "
			       "set to true (the key will not show always_sensitive)");
}

/* ---- passphrases for PKCS#12 inputs ----------------------------------- */

static hc_rc passphrase_on_demand(void *ctx, const char *name, const hc_secret **out,
				  hc_error *err)
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

json_t *cli_json_unreadable(const hc_inventory *inv)
{
	json_t *list = json_array();

	for (size_t i = 0; i < inv->unreadable_count; i++)
		json_array_append_new(list, json_pack("{s:I, s:s}", "handle",
						      (json_int_t)inv->unreadable[i].handle, "ckr",
						      hc_ckr_name(inv->unreadable[i].rv)));
	return list;
}

void cli_print_unreadable(const hc_inventory *inv)
{
	for (size_t i = 0; i < inv->unreadable_count; i++)
		printf("%sObject the token could not describe (it may be a key): handle %lu: %s\n",
		       i ? "" : "\n", (unsigned long)inv->unreadable[i].handle,
		       hc_ckr_name(inv->unreadable[i].rv));
}

const char *cli_printable(const char *text, char *buf, size_t len)
{
	size_t n = 0;

	for (; text && *text && n + 1 < len; text++)
		buf[n++] = (unsigned char)*text < 0x20 || *text == 0x7f ? '?' : *text;
	buf[n] = '\0';
	return buf;
}
