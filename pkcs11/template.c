/* Templates built attribute by attribute (see p11.h). */
#include "internal.h"

static const CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;
static const CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
static const CK_KEY_TYPE aes_type = CKK_AES;

void hc_template_add(hc_template *t, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len)
{
	if (t->count >= HC_TEMPLATE_MAX) {
		t->overflow = true;
		return;
	}
	t->attrs[t->count++] = (CK_ATTRIBUTE){type, (void *)value, len};
}

void hc_template_bool(hc_template *t, CK_ATTRIBUTE_TYPE type, bool value)
{
	hc_template_add(t, type, value ? &ck_true : &ck_false, sizeof(CK_BBOOL));
}

void hc_template_session_aes(hc_template *t, unsigned flags)
{
	hc_template_add(t, CKA_CLASS, &secret_class, sizeof(secret_class));
	hc_template_add(t, CKA_KEY_TYPE, &aes_type, sizeof(aes_type));
	hc_template_bool(t, CKA_TOKEN, false);
	if (flags & HC_AES_PRIVATE)
		hc_template_bool(t, CKA_PRIVATE, true);
	hc_template_bool(t, CKA_SENSITIVE, flags & HC_AES_SENSITIVE);
	hc_template_bool(t, CKA_EXTRACTABLE, flags & HC_AES_EXTRACTABLE);
	hc_template_bool(t, CKA_WRAP, flags & HC_AES_WRAP);
	hc_template_bool(t, CKA_UNWRAP, flags & HC_AES_UNWRAP);
}
