/*
 * Which mechanism gives RFC 5649 (AES key wrap with padding) on this token,
 * proven by a known-answer test (SPEC: mechanisms are chosen by what the
 * token lists and proven where tokens disagree on their meaning).
 * SoftHSM2's CKM_AES_KEY_WRAP_PAD (0x210A) is RFC 5649 and it rejects
 * CKM_AES_KEY_WRAP_KWP (0x210B); NSS softoken's 0x210A is RFC 3394 over
 * PKCS#7-padded input and its 0x210B is RFC 5649.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/*
 * Fixed test vectors: a KEK and a 24-byte secret. 24 is a multiple of 8, so
 * SoftHSM2's zero padding before RFC 5649 adds nothing, while RFC 3394 over
 * PKCS#7 padding adds a block: the two meanings give different lengths.
 */
static const unsigned char kat_kek[32] = {0x58, 0x40, 0xdf, 0x6e, 0x29, 0xb0, 0x2a, 0xf1,
					  0xab, 0x49, 0x3b, 0x70, 0x5b, 0xf1, 0x6e, 0xa1,
					  0xae, 0x83, 0x38, 0xf4, 0xdc, 0xc1, 0x76, 0xa8,
					  0x58, 0x40, 0xdf, 0x6e, 0x29, 0xb0, 0x2a, 0xf1};
static const unsigned char kat_secret[24] = {0xc3, 0x7b, 0x7e, 0x64, 0x92, 0x58, 0x43, 0x40,
					     0xbe, 0xd1, 0x22, 0x07, 0x80, 0x89, 0x41, 0x15,
					     0x50, 0x68, 0xf7, 0x38, 0x0f, 0x1e, 0x2d, 0x3c};

/* What OpenSSL makes of the vectors: RFC 5649, or RFC 3394 over PKCS#7 padding. */
static int host_wrap(bool rfc5649, unsigned char *out)
{
	unsigned char padded[32];
	const unsigned char *in = kat_secret;
	int inl = sizeof(kat_secret), n = 0, m = 0, ok;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return -1;
	if (!rfc5649) {
		memcpy(padded, kat_secret, sizeof(kat_secret));
		memset(padded + sizeof(kat_secret), 8, 8); /* PKCS#7: a whole block of 8s */
		in = padded;
		inl = sizeof(kat_secret) + 8;
	}
	ok = EVP_EncryptInit_ex(ctx, rfc5649 ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap(), NULL,
				kat_kek, NULL) == 1 &&
	     EVP_EncryptUpdate(ctx, out, &n, in, inl) == 1 &&
	     EVP_EncryptFinal_ex(ctx, out + n, &m) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? n + m : -1;
}

CK_RV hc_p11_session_secret(hc_session *s, CK_KEY_TYPE kt, const unsigned char *value, CK_ULONG len,
			    bool kek, CK_OBJECT_HANDLE *out)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_TOKEN, &no, sizeof(no)}, /* a session object: gone with the session */
		{CKA_VALUE, (void *)value, len},
		{kek ? CKA_WRAP : CKA_EXTRACTABLE, &yes, sizeof(yes)},
		{kek ? CKA_UNWRAP : CKA_SENSITIVE, kek ? &yes : &no, sizeof(CK_BBOOL)},
	};
	return s->fn->C_CreateObject(s->handle, t, sizeof(t) / sizeof(t[0]), out);
}

static bool listed(const hc_mechanism *m, size_t n, CK_MECHANISM_TYPE type, CK_FLAGS flag)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].type == type)
			return (m[i].info.flags & flag) != 0;
	return false;
}

const char *hc_wrap_meaning_name(hc_wrap_meaning m)
{
	switch (m) {
	case HC_WRAP_RFC5649: return "RFC 5649";
	case HC_WRAP_RFC3394_PKCS7: return "RFC 3394 over PKCS#7 padding";
	case HC_WRAP_UNKNOWN: return "neither RFC 5649 nor RFC 3394+PKCS#7";
	case HC_WRAP_REFUSED: return "refused";
	default: return "not listed";
	}
}

/* The known-answer test of one mechanism, under session objects destroyed here. */
static void kat_one(hc_session *s, hc_wrap_test *t)
{
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, secret = CK_INVALID_HANDLE;
	CK_MECHANISM mech = {t->mechanism, NULL, 0};
	unsigned char got[64], want[64];
	CK_ULONG len = sizeof(got);
	int n;

	t->rv = hc_p11_session_secret(s, CKK_AES, kat_kek, sizeof(kat_kek), true, &kek);
	if (t->rv == CKR_OK)
		t->rv = hc_p11_session_secret(s, CKK_GENERIC_SECRET, kat_secret, sizeof(kat_secret),
					      false, &secret);
	if (t->rv == CKR_OK)
		t->rv = s->fn->C_WrapKey(s->handle, &mech, kek, secret, got, &len);
	if (t->rv != CKR_OK)
		t->meaning = HC_WRAP_REFUSED;
	else if ((n = host_wrap(true, want)) > 0 && (CK_ULONG)n == len && !memcmp(got, want, len))
		t->meaning = HC_WRAP_RFC5649;
	else if ((n = host_wrap(false, want)) > 0 && (CK_ULONG)n == len && !memcmp(got, want, len))
		t->meaning = HC_WRAP_RFC3394_PKCS7;
	else
		t->meaning = HC_WRAP_UNKNOWN;
	if (secret != CK_INVALID_HANDLE)
		s->fn->C_DestroyObject(s->handle, secret);
	if (kek != CK_INVALID_HANDLE)
		s->fn->C_DestroyObject(s->handle, kek);
}

hc_rc hc_wrap_negotiate(hc_session *s, hc_wrap_choice *out, hc_error *err)
{
	static const CK_MECHANISM_TYPE candidates[] = {HC_CKM_AES_KEY_WRAP_KWP,
						       CKM_AES_KEY_WRAP_PAD};
	hc_mechanism *mechs = NULL;
	size_t n = 0;
	hc_rc rc;

	memset(out, 0, sizeof(*out));
	out->mechanism = CK_UNAVAILABLE_INFORMATION;
	rc = hc_slot_mechanisms(s->mod, s->slot.id, &mechs, &n, err);
	if (rc != HC_OK)
		return rc;
	out->cbc_pad_wrap = listed(mechs, n, CKM_AES_CBC_PAD, CKF_WRAP);
	out->cbc_pad_unwrap = listed(mechs, n, CKM_AES_CBC_PAD, CKF_UNWRAP);
	for (size_t i = 0; i < 2; i++) {
		hc_wrap_test *t = &out->tests[out->test_count++];
		t->mechanism = candidates[i];
		t->listed = listed(mechs, n, candidates[i], CKF_WRAP);
		t->unwrap_listed = listed(mechs, n, candidates[i], CKF_UNWRAP);
		t->meaning = HC_WRAP_NOT_LISTED;
		if (!t->listed)
			continue;
		kat_one(s, t);
		if (t->meaning == HC_WRAP_RFC5649 && out->mechanism == CK_UNAVAILABLE_INFORMATION)
			out->mechanism = t->mechanism;
	}
	free(mechs);
	return HC_OK;
}

bool hc_wrap_over_rpc(const hc_session *s)
{
	const char *lib = hc_module_library(s->mod), *base = strrchr(lib, '/');

	return strcmp(base ? base + 1 : lib, "p11-kit-client.so") == 0;
}

hc_rc hc_wrap_refusal(const hc_session *s, const hc_wrap_choice *c, const char *doing,
		      hc_error *err)
{
	char tried[256] = "";

	for (size_t i = 0; i < c->test_count; i++) {
		const hc_wrap_test *t = &c->tests[i];
		snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), "%s%s: %s%s%s",
			 i ? "; " : "", hc_ckm_name(t->mechanism), hc_wrap_meaning_name(t->meaning),
			 t->meaning == HC_WRAP_REFUSED ? " (known-answer C_WrapKey: " : "",
			 t->meaning == HC_WRAP_REFUSED ? hc_ckr_name(t->rv) : "");
		if (t->meaning == HC_WRAP_REFUSED)
			snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), ")");
	}
	if (hc_wrap_over_rpc(s))
		return hc_fail(
			err, HC_TOKEN,
			"%s needs RFC 5649 key wrapping inside the token, and over p11-kit's "
			"RPC (p11-kit-client.so) the key wrap mechanisms are not forwarded "
			"(%s). Run hsmcert on the host that holds the HSM (with its module "
			"directly), or ask its administrator for a backup there",
			doing, tried);
	return hc_fail(err, HC_TOKEN,
		       "%s needs RFC 5649 key wrapping inside the token, and this token has none "
		       "(%s). Use the HSM vendor's own backup, or a PKCS#12 file where the token "
		       "can wrap with CKM_AES_CBC_PAD",
		       doing, tried);
}
