/* CKR_/CKA_/CKM_/CKK_ names for messages, from the pkcs11.h we build against. */
#include "hsmcert/p11.h"

#include <stdio.h>
#include <string.h>

struct hc_name {
	unsigned long value;
	const char *name;
};

#define HC_NAME(n) {(unsigned long)(n), #n},
static const struct hc_name all_names[] = {
#include "p11_names.inc"
};
#undef HC_NAME

static const char *lookup(const char *prefix, unsigned long value)
{
	static _Thread_local char unknown[40];
	size_t plen = strlen(prefix);

	for (size_t i = 0; i < sizeof(all_names) / sizeof(all_names[0]); i++) {
		if (all_names[i].value == value && strncmp(all_names[i].name, prefix, plen) == 0)
			return all_names[i].name;
	}
	snprintf(unknown, sizeof(unknown), "%s0x%lx", prefix, value);
	return unknown;
}

const char *hc_ckr_name(CK_RV rv)
{
	return lookup("CKR_", rv);
}

const char *hc_cka_name(CK_ATTRIBUTE_TYPE type)
{
	return lookup("CKA_", type);
}

const char *hc_ckm_name(CK_MECHANISM_TYPE mech)
{
	/* PKCS#11 3.0, newer than p11-kit 0.24's pkcs11.h. */
	if (mech == HC_CKM_AES_KEY_WRAP_KWP)
		return "CKM_AES_KEY_WRAP_KWP";
	return lookup("CKM_", mech);
}

const char *hc_ckk_name(CK_KEY_TYPE type)
{
	return lookup("CKK_", type);
}

void hc_p11_string(const CK_UTF8CHAR *field, size_t field_len, char *out, size_t out_len)
{
	size_t n = field_len;

	if (out_len == 0)
		return;
	while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0'))
		n--;
	if (n >= out_len)
		n = out_len - 1;
	memcpy(out, field, n);
	out[n] = '\0';
}
