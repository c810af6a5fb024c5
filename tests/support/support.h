/*
 * Test support: every test gets its own SoftHSM2 world (a temporary
 * directory, SOFTHSM2_CONF pointing at its config), and runs the real
 * binary through the shell with its output captured.
 */
#ifndef HSMCERT_TEST_SUPPORT_H
#define HSMCERT_TEST_SUPPORT_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * SoftHSM2's module, as tests/CMakeLists.txt found it; exported to commands as
 * $HSMCERT_SOFTHSM2_MODULE, which scripts/testpki.sh reads.
 */
#ifndef TS_SOFTHSM
#error "TS_SOFTHSM: build the tests through tests/CMakeLists.txt, which finds SoftHSM2"
#endif
#define TS_PIN "1234"
#define TS_SO_PIN "56781234"
#define TS_TOKEN "test"

/* The test's directory; files the test writes go here. */
extern char ts_dir[];

/*
 * Criterion .init functions. Both create ts_dir and a SoftHSM2 config and
 * export SOFTHSM2_CONF, HSMCERT_MODULE (SoftHSM2), HSMCERT_PIN, HSMCERT_SO_PIN,
 * PIN, SO_PIN, HSMCERT (the binary) and TEST_DIR for commands.
 * ts_setup_token also initialises a token labelled "test".
 */
void ts_setup_empty(void);
void ts_setup_token(void);
void ts_teardown(void);

/*
 * The shared test PKI of scripts/testpki.sh, built once beside the binary
 * under test and reused while the script is unchanged. Sets $PKI (its
 * directory) and $TESTPKI (the script) for commands. Tests only read it.
 */
void ts_use_testpki(void);

/*
 * A step-ca of this test's own (scripts/stepca.sh; the binary built once per
 * build folder) on a free loopback port. Sets $ACME, $ACME_LONG, $ACME_EAB
 * (directory URLs), $STEPCA_PORT, $ROOTS (its root), $STEPCA and $P80 (a
 * command prefix that holds the machine's port-80 lock, which http-01
 * validation needs).
 * ts_stop_stepca stops it; call it before ts_teardown.
 */
void ts_use_stepca(void);
void ts_stop_stepca(void);
/* A loopback port nobody listens on right now (the kernel's choice). */
int ts_free_port(void);

/* Initialise another token in the same world (softhsm2-util, independent of us). */
void ts_add_token(const char *label);

/* Run `sh -c CMD` in ts_dir; returns the exit status (128+signal if killed). */
struct ts_result {
	int status;
	char *out; /* stdout, NUL-terminated */
	char *err; /* stderr */
};
int ts_run(struct ts_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ts_result_free(struct ts_result *r);

/*
 * --json runs. ts_json(r) parses a run's stdout, asserting (at the caller's
 * line) that it is exactly one JSON document, with the parse error and both
 * streams in the message; ts_run_json(r, status, fmt, ...) runs, asserts the
 * exit status, then parses. The caller json_decref()s the document and
 * frees `r`.
 */
#define ts_json(r)                                                                                 \
	({                                                                                         \
		const struct ts_result *ts_r_ = (r);                                               \
		json_error_t ts_e_;                                                                \
		json_t *ts_doc_ = json_loads(ts_r_->out, 0, &ts_e_);                               \
		cr_assert_not_null(ts_doc_,                                                        \
				   "stdout is not one JSON document (%s, line %d)\nstdout:\n%s\n"  \
				   "stderr:\n%s",                                                  \
				   ts_e_.text, ts_e_.line, ts_r_->out, ts_r_->err);                \
		ts_doc_;                                                                           \
	})
#define ts_run_json(r, want_status, ...)                                                           \
	({                                                                                         \
		ts_run((r), __VA_ARGS__);                                                          \
		ts_assert_status((r), (want_status));                                              \
		ts_json(r);                                                                        \
	})

/*
 * A value inside a document by a path of object keys and array indexes
 * separated by '/': "path/1/serial", "error/exit_code". NULL when absent.
 */
json_t *ts_json_at(json_t *doc, const char *path);
/* The string at `path`, or NULL when absent or not a string. */
const char *ts_json_str(json_t *doc, const char *path);

/*
 * Text reports align their columns; tests do not pin the spacing. True when
 * a line of `text` holds `name`, then one or more blanks, then `value`
 * (leading blanks and what follows `value` do not matter):
 * ts_text_has(out, "Self-signed", "yes") matches "  Self-signed         yes".
 */
bool ts_text_has(const char *text, const char *name, const char *value);

/* Shell command output only (stdout), asserting exit 0. Caller frees. */
char *ts_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a file under ts_dir (or absolute); NULL if missing. Caller frees. */
char *ts_read(const char *path, size_t *len);
bool ts_exists(const char *path);
void ts_write(const char *path, const char *content);

/* Number of objects on token "test" as pkcs11-tool counts them (independent check). */
int ts_count_objects(const char *token_label);

/*
 * Store an X.509 certificate on token "test" with pkcs11-tool --write-object
 * (independent of us). Its public key is that of the token's key labelled
 * `key_label`, or of a fresh key that is not on the token when key_label is
 * NULL (an orphan). Issued by a throwaway CA, valid `days` days from now,
 * subject CN=`cn`; stored with CKA_ID `id_hex` and CKA_LABEL `label`.
 * The DER certificate is left in ts_dir as `label`.crt.der.
 */
void ts_store_cert(const char *key_label, const char *id_hex, const char *label, const char *cn,
		   int days);

/* Assert the run exited with `status`, printing its output when it did not. */
#define ts_assert_status(r, want)                                                                  \
	cr_assert_eq((r)->status, (want), "exit %d, want %d\nstdout:\n%s\nstderr:\n%s",            \
		     (r)->status, (want), (r)->out, (r)->err)

#endif
