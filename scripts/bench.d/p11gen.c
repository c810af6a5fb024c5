/*
 * Fills a benchmark token with key pairs, fast: one process, one session,
 * one C_GenerateKeyPair per pair. (hsmcert keygen is one process per key;
 * SoftHSM2 reads every object of the token at each C_Initialize, so that
 * way costs O(n^2) and hours for thousands of keys.)
 *
 *   p11gen MODULE TOKEN-LABEL PIN COUNT ec|rsa
 *
 * Each pair is what `hsmcert keygen --label keyNNNNN` makes: token objects,
 * the private half private, sensitive, not extractable, sign only; the
 * public half verify only; label keyNNNNN on both halves and a 20-byte
 * CKA_ID of its own (hsmcert derives it from the public key with SHA-1; here
 * it is the pair's number, which is as unique and costs nothing). EC keys
 * are P-256, RSA keys 2048 bits with exponent 65537.
 *
 * Built by scripts/bench.d/audit.sh for the benchmark only; never part of
 * hsmcert. Prints the number of pairs made.
 */
#include "p11bench.h"

static void generate(CK_SESSION_HANDLE s, unsigned long i, int ec)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	/* DER OID 1.2.840.10045.3.1.7 (prime256v1) */
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static CK_BYTE f4[] = {0x01, 0x00, 0x01};
	CK_ULONG bits = 2048;
	char label[16];
	CK_BYTE id[20] = "hsmcert-bench-";
	CK_MECHANISM mech = {ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub, priv;

	snprintf(label, sizeof(label), "key%05lu", i);
	for (int b = 0; b < 6; b++)
		id[19 - b] = (CK_BYTE)(i >> (8 * b));
	CK_ATTRIBUTE pt[] = {
		{CKA_TOKEN, &yes, 1},
		{CKA_VERIFY, &yes, 1},
		{CKA_PRIVATE, &no, 1},
		{CKA_ENCRYPT, &no, 1},
		{CKA_WRAP, &no, 1},
		{CKA_VERIFY_RECOVER, &no, 1},
		{CKA_LABEL, label, strlen(label)},
		{CKA_ID, id, sizeof(id)},
		{ec ? CKA_EC_PARAMS : CKA_MODULUS_BITS, ec ? (void *)p256 : (void *)&bits,
		 ec ? sizeof(p256) : sizeof(bits)},
		{CKA_PUBLIC_EXPONENT, f4, sizeof(f4)},
	};
	CK_ATTRIBUTE kt[] = {
		{CKA_TOKEN, &yes, 1},	    {CKA_PRIVATE, &yes, 1},
		{CKA_SENSITIVE, &yes, 1},   {CKA_SIGN, &yes, 1},
		{CKA_EXTRACTABLE, &no, 1},  {CKA_DECRYPT, &no, 1},
		{CKA_UNWRAP, &no, 1},	    {CKA_DERIVE, &no, 1},
		{CKA_SIGN_RECOVER, &no, 1}, {CKA_LABEL, label, strlen(label)},
		{CKA_ID, id, sizeof(id)},
	};
	CK_ULONG npt = sizeof(pt) / sizeof(pt[0]) - (ec ? 1 : 0);

	check(p11->C_GenerateKeyPair(s, &mech, pt, npt, kt, sizeof(kt) / sizeof(kt[0]), &pub,
				     &priv),
	      "C_GenerateKeyPair");
}

int main(int argc, char **argv)
{
	CK_SESSION_HANDLE s;
	unsigned long count;
	int ec;

	if (argc != 6 || (strcmp(argv[5], "ec") != 0 && strcmp(argv[5], "rsa") != 0)) {
		fprintf(stderr, "usage: p11gen MODULE TOKEN-LABEL PIN COUNT ec|rsa\n");
		return 2;
	}
	count = strtoul(argv[4], NULL, 10);
	ec = strcmp(argv[5], "ec") == 0;
	p11bench_load("p11gen", argv[1]);
	s = p11bench_login(argv[2], argv[3], CKF_RW_SESSION);
	for (unsigned long i = 0; i < count; i++)
		generate(s, i, ec);
	p11->C_Logout(s);
	p11->C_CloseSession(s);
	p11->C_Finalize(NULL);
	printf("%lu\n", count);
	return 0;
}
