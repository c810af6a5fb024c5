/*
 * What the benchmark's own small PKCS#11 clients (p11floor.c, p11gen.c)
 * share: load a module by path, fail loudly, find a token by label, log in.
 * For the benchmark only; never part of hsmcert.
 */
#ifndef P11BENCH_H
#define P11BENCH_H

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CK_FUNCTION_LIST_PTR p11;
static const char *p11bench_name;

static void check(CK_RV rv, const char *what)
{
	if (rv != CKR_OK) {
		fprintf(stderr, "%s: %s failed: 0x%lx\n", p11bench_name, what, (unsigned long)rv);
		exit(1);
	}
}

/* dlopen the module and C_Initialize it into p11. */
static void p11bench_load(const char *name, const char *module)
{
	CK_C_GetFunctionList get;
	void *lib;

	p11bench_name = name;
	if (!(lib = dlopen(module, RTLD_NOW)) ||
	    !(get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList"))) {
		fprintf(stderr, "%s: %s\n", name, dlerror());
		exit(1);
	}
	check(get(&p11), "C_GetFunctionList");
	check(p11->C_Initialize(NULL), "C_Initialize");
}

static CK_SLOT_ID find_slot(const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	size_t len = strlen(label);

	check(p11->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK || len > sizeof(ti.label))
			continue;
		if (memcmp(ti.label, label, len) == 0 &&
		    (len == sizeof(ti.label) || ti.label[len] == ' '))
			return slots[i];
	}
	fprintf(stderr, "%s: no token '%s'\n", p11bench_name, label);
	exit(1);
}

/* A session on the token with this label, logged in as the user. */
static CK_SESSION_HANDLE p11bench_login(const char *label, const char *pin, CK_FLAGS flags)
{
	CK_SESSION_HANDLE s;

	check(p11->C_OpenSession(find_slot(label), CKF_SERIAL_SESSION | flags, NULL, NULL, &s),
	      "C_OpenSession");
	check(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), "C_Login");
	return s;
}

#endif
