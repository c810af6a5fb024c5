/*
 * The ACME parsers' libFuzzer harness (tests/fuzz/fuzz_acme.c) run in the
 * ordinary suite, under ASan and UBSan: every file of its corpus, then
 * bounded, reproducible mutations of them (byte flips, truncations,
 * insertions). A crash, leak or UB report fails the test; builds without
 * clang get the coverage of the corpus too.
 */
#include "support.h"

#include "../fuzz/fuzz_acme.c"

#include <dirent.h>
#include <stdint.h>

static uint64_t state = 0x9e3779b97f4a7c15ULL;

static uint32_t next(void)
{
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 0x2545F4914F6CDD1DULL) >> 32);
}

Test(fuzz_acme, corpus_and_mutations)
{
	char dir[4096];
	const char *src = getenv("HSMCERT_SOURCE_DIR");
	struct dirent *e;
	size_t files = 0, rounds = getenv("HSMCERT_FUZZ_ROUNDS")
					   ? strtoul(getenv("HSMCERT_FUZZ_ROUNDS"), NULL, 10)
					   : 20;
	DIR *d;

	cr_assert_not_null(src, "HSMCERT_SOURCE_DIR is not set (run through ctest)");
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/acme", src);
	cr_assert_not_null(d = opendir(dir), "%s", dir);
	while ((e = readdir(d))) {
		char path[4400];
		unsigned char *data;
		size_t len = 0;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cr_assert_not_null(data = (unsigned char *)ts_read(path, &len), "%s", path);
		LLVMFuzzerTestOneInput(data, len);
		for (size_t r = 0; r < rounds && len > 0; r++) {
			unsigned char *m = malloc(len + 8);
			size_t mlen = len;
			memcpy(m, data, len);
			switch (next() % 3) {
			case 0: m[next() % mlen] ^= (unsigned char)(1u << (next() % 8)); break;
			case 1: mlen = next() % mlen + 1; break;
			default: {
				size_t at = next() % mlen;
				memmove(m + at + 1, m + at, mlen - at);
				m[at] = "{}[]\",:\\\x00"[next() % 10];
				mlen++;
			}
			}
			LLVMFuzzerTestOneInput(m, mlen);
			free(m);
		}
		free(data);
		files++;
	}
	closedir(d);
	cr_assert(files >= 8, "only %zu corpus files in %s", files, dir);
}
