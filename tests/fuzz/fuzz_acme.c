/*
 * libFuzzer harness for the ACME response parsers (src/acme/parse.c): what
 * a hostile or broken ACME server can send. The first byte picks the parser,
 * the rest is the answer's body (or header value). Every input must give
 * HC_OK or a clear error, never a crash, a leak or undefined behaviour.
 *
 *   CC=clang cmake -B build-fuzz -DHSMCERT_FUZZ=ON -DHSMCERT_TESTS=OFF
 *   cmake --build build-fuzz --target fuzz_acme
 *   build-fuzz/tests/fuzz/fuzz_acme tests/fuzz/corpus/acme
 */
#include "hsmcert/acme.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parser's answer must be a clear one: success, or HC_IO with a message. */
static void clear_answer(hc_rc rc, const hc_error *err)
{
	if (rc != HC_OK && (rc != HC_IO || !err->message[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	hc_error err = {0};
	char *text;

	if (size == 0)
		return 0;
	switch (data[0] % 8) {
	case 0: {
		hc_acme_directory d;
		hc_rc rc = hc_acme_directory_parse(body, len, &d, &err);
		clear_answer(rc, &err);
		if (rc == HC_OK)
			hc_acme_directory_clear(&d);
		break;
	}
	case 1: {
		hc_acme_problem p;
		hc_rc rc = hc_acme_problem_parse(body, len, &p, &err);
		clear_answer(rc, &err);
		if (rc == HC_OK) {
			(void)hc_acme_problem_short(&p);
			hc_acme_problem_clear(&p);
		}
		break;
	}
	case 2: {
		hc_acme_order o;
		hc_rc rc = hc_acme_order_parse(body, len, &o, &err);
		clear_answer(rc, &err);
		if (rc == HC_OK)
			hc_acme_order_clear(&o);
		break;
	}
	case 3: {
		hc_acme_authz a;
		hc_rc rc = hc_acme_authz_parse(body, len, &a, &err);
		clear_answer(rc, &err);
		if (rc == HC_OK)
			hc_acme_authz_clear(&a);
		break;
	}
	case 4: {
		hc_acme_challenge c;
		hc_rc rc = hc_acme_challenge_parse(body, len, &c, &err);
		clear_answer(rc, &err);
		if (rc == HC_OK)
			hc_acme_challenge_clear(&c);
		break;
	}
	case 5: {
		char *status = NULL;
		clear_answer(hc_acme_account_parse(body, len, &status, &err), &err);
		free(status);
		break;
	}
	default:
		/* Header values are NUL-terminated strings. */
		if (!(text = malloc(len + 1)))
			return 0;
		memcpy(text, body, len);
		text[len] = '\0';
		if (data[0] % 8 == 6) {
			char **urls = NULL;
			size_t n = 0;
			clear_answer(hc_acme_link_parse(text, "alternate", &urls, &n, &err), &err);
			hc_acme_strings_free(urls, n);
		} else {
			(void)hc_acme_retry_after(text, 784111767);
		}
		free(text);
	}
	return 0;
}
