/*
 * The floor an audit is measured against: a PKCS#11 client that does only
 * the calls an audit cannot avoid, and nothing else (no URIs, no report).
 *
 *   p11floor MODULE TOKEN-LABEL PIN load   initialise and finalise the module:
 *                                          its own time and memory for the token
 *   p11floor MODULE TOKEN-LABEL PIN keys   log in, one search for private keys,
 *                                          one C_GetAttributeValue per key (the
 *                                          twelve audited attributes, type, label, id)
 *   p11floor MODULE TOKEN-LABEL PIN all    log in, one search for every object,
 *                                          one C_GetAttributeValue per object with
 *                                          the same attributes plus the class and
 *                                          the public parts (RSA modulus and exponent,
 *                                          EC parameters and point): what an audit that
 *                                          also pairs certificates and public keys
 *                                          cannot avoid
 *
 * Built by scripts/bench.d/audit.sh for the benchmark only; never part of
 * hsmcert. Prints the number of objects read.
 */
#include "p11bench.h"

static unsigned long read_objects(CK_SESSION_HANDLE s, int all)
{
	static CK_OBJECT_HANDLE handles[1 << 16];
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE want = {CKA_CLASS, &cls, sizeof(cls)};
	CK_ULONG n = 0, got;

	check(p11->C_FindObjectsInit(s, &want, all ? 0 : 1), "C_FindObjectsInit");
	while (n < sizeof(handles) / sizeof(handles[0]) &&
	       p11->C_FindObjects(s, handles + n, sizeof(handles) / sizeof(handles[0]) - n, &got) ==
		       CKR_OK &&
	       got)
		n += got;
	check(p11->C_FindObjectsFinal(s), "C_FindObjectsFinal");
	for (CK_ULONG i = 0; i < n; i++) {
		CK_BBOOL b[12];
		CK_ULONG type, mech, klass;
		unsigned char label[256], id[256], modulus[1024], exponent[16], params[64],
			point[160];
		CK_ATTRIBUTE a[] = {
			{CKA_SENSITIVE, &b[0], 1},
			{CKA_EXTRACTABLE, &b[1], 1},
			{CKA_ALWAYS_SENSITIVE, &b[2], 1},
			{CKA_NEVER_EXTRACTABLE, &b[3], 1},
			{CKA_LOCAL, &b[4], 1},
			{CKA_PRIVATE, &b[5], 1},
			{CKA_MODIFIABLE, &b[6], 1},
			{CKA_COPYABLE, &b[7], 1},
			{CKA_DESTROYABLE, &b[8], 1},
			{CKA_WRAP_WITH_TRUSTED, &b[9], 1},
			{CKA_ALWAYS_AUTHENTICATE, &b[10], 1},
			{CKA_KEY_GEN_MECHANISM, &mech, sizeof(mech)},
			{CKA_KEY_TYPE, &type, sizeof(type)},
			{CKA_LABEL, label, sizeof(label)},
			{CKA_ID, id, sizeof(id)},
			{CKA_CLASS, &klass, sizeof(klass)},
			{CKA_MODULUS, modulus, sizeof(modulus)},
			{CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)},
			{CKA_EC_PARAMS, params, sizeof(params)},
			{CKA_EC_POINT, point, sizeof(point)},
		};
		CK_ULONG count = sizeof(a) / sizeof(a[0]) - (all ? 0 : 5);
		(void)p11->C_GetAttributeValue(s, handles[i], a, count);
	}
	return n;
}

int main(int argc, char **argv)
{
	CK_SESSION_HANDLE s;
	unsigned long n = 0;

	if (argc != 5 || (strcmp(argv[4], "load") != 0 && strcmp(argv[4], "keys") != 0 &&
			  strcmp(argv[4], "all") != 0)) {
		fprintf(stderr, "usage: p11floor MODULE TOKEN-LABEL PIN load|keys|all\n");
		return 2;
	}
	p11bench_load("p11floor", argv[1]);
	if (strcmp(argv[4], "load") != 0) {
		s = p11bench_login(argv[2], argv[3], 0);
		n = read_objects(s, strcmp(argv[4], "all") == 0);
		p11->C_Logout(s);
		p11->C_CloseSession(s);
	}
	p11->C_Finalize(NULL);
	printf("%lu\n", n);
	return 0;
}
