/*
 * A PKCS#11 module for failure-path tests: it forwards every call to the
 * real module (HSMCERT_FAULT_TARGET, default SoftHSM2) and misbehaves on
 * request, configured by environment variables read at each call:
 *
 *   HSMCERT_FAULT_FAIL=C_Name[@N][=0xRV]  C_Name returns RV (default
 *                                          CKR_DEVICE_ERROR) from its Nth call on;
 *                                          several, comma-separated, fail each
 *   HSMCERT_FAULT_ONCE=1                   ...only the Nth call fails, later ones
 *                                          work (to test a rollback after a failure)
 *   HSMCERT_FAULT_REJECT_ATTR=0xTYPE       C_GenerateKeyPair refuses a private-key
 *                                          template holding TYPE
 *   HSMCERT_FAULT_UNWRAP_REJECT_ATTR=0xTYPE C_UnwrapKey refuses a template holding TYPE
 *   HSMCERT_FAULT_EXTRACTABLE_DEFAULT=1    generated private keys are extractable
 *                                          unless the template says otherwise
 *   HSMCERT_FAULT_NO_SET_EXTRACTABLE=1     C_SetAttributeValue refuses CKA_EXTRACTABLE
 *   HSMCERT_FAULT_NO_MECH=0xM[,0xM...]     C_SignInit answers CKR_MECHANISM_INVALID for
 *                                          these mechanisms (a token without them)
 *   HSMCERT_FAULT_PAD_MODULUS=1            C_GetAttributeValue returns CKA_MODULUS with a
 *                                          leading zero byte, as tokens that give it a
 *                                          fixed width do
 *   HSMCERT_FAULT_HIDE_MECH=0xM[,0xM...]   a token that does not have them at all: left
 *                                          out of C_GetMechanismList, CKR_MECHANISM_INVALID
 *                                          from C_GetMechanismInfo, C_GenerateKeyPair
 *                                          and C_SignInit
 */
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CK_FUNCTION_LIST *real;
static CK_FUNCTION_LIST ours;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct counter {
	const char *name;
	unsigned long calls;
};
static struct counter counters[64];

/* Should this call of `name` fail? Returns the CK_RV to return, or CKR_OK. */
static CK_RV injected(const char *name)
{
	const char *spec = getenv("HSMCERT_FAULT_FAIL");
	size_t len = strlen(name);
	unsigned long nth = 1, calls = 0;
	CK_RV rv = CKR_DEVICE_ERROR;
	const char *p;

	/* The entry for `name` in "C_Sign,C_DestroyObject@2"; strchr also matches the NUL. */
	for (; spec; spec = strchr(spec, ',') ? strchr(spec, ',') + 1 : NULL)
		if (strncmp(spec, name, len) == 0 && strchr(",@=", spec[len]))
			break;
	if (!spec)
		return CKR_OK;
	p = spec + len;
	if (*p == '@')
		nth = strtoul(p + 1, (char **)&p, 10);
	if (*p == '=')
		rv = strtoul(p + 1, NULL, 0);
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		if (!counters[i].name || strcmp(counters[i].name, name) == 0) {
			counters[i].name = name;
			calls = ++counters[i].calls;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	if (getenv("HSMCERT_FAULT_ONCE"))
		return calls == nth ? rv : CKR_OK;
	return calls >= nth ? rv : CKR_OK;
}

#define FAIL_IF_ASKED(name)                                                                      \
	do {                                                                                     \
		CK_RV injected_rv = injected(#name);                                             \
		if (injected_rv != CKR_OK)                                                       \
			return injected_rv;                                                      \
	} while (0)

static bool mechanism_listed(const char *var, CK_MECHANISM_TYPE mech);

static CK_RV f_Login(CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	FAIL_IF_ASKED(C_Login);
	return real->C_Login(s, u, pin, len);
}

static CK_RV f_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
			   CK_SESSION_HANDLE_PTR out)
{
	FAIL_IF_ASKED(C_OpenSession);
	return real->C_OpenSession(slot, flags, app, notify, out);
}

static CK_RV f_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub,
			       CK_ULONG npub, CK_ATTRIBUTE_PTR priv, CK_ULONG npriv,
			       CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	const char *reject = getenv("HSMCERT_FAULT_REJECT_ATTR");
	const char *extractable = getenv("HSMCERT_FAULT_EXTRACTABLE_DEFAULT");
	CK_ATTRIBUTE tmpl[64];
	CK_BBOOL yes = CK_TRUE;
	bool has_extractable = false;

	FAIL_IF_ASKED(C_GenerateKeyPair);
	if (m && mechanism_listed("HSMCERT_FAULT_HIDE_MECH", m->mechanism))
		return CKR_MECHANISM_INVALID;
	if (npriv >= 63)
		return CKR_TEMPLATE_INCONSISTENT;
	for (CK_ULONG i = 0; i < npriv; i++) {
		if (reject && priv[i].type == strtoul(reject, NULL, 0))
			return CKR_ATTRIBUTE_TYPE_INVALID;
		if (priv[i].type == CKA_EXTRACTABLE)
			has_extractable = true;
		tmpl[i] = priv[i];
	}
	if (extractable && !has_extractable)
		tmpl[npriv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &yes, sizeof(yes)};
	return real->C_GenerateKeyPair(s, m, pub, npub, tmpl, npriv, hpub, hpriv);
}

static CK_RV f_SetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
				 CK_ULONG n)
{
	FAIL_IF_ASKED(C_SetAttributeValue);
	if (getenv("HSMCERT_FAULT_NO_SET_EXTRACTABLE"))
		for (CK_ULONG i = 0; i < n; i++)
			if (t[i].type == CKA_EXTRACTABLE)
				return CKR_ATTRIBUTE_READ_ONLY;
	return real->C_SetAttributeValue(s, o, t, n);
}

/* CKA_MODULUS as a fixed-width integer: one zero byte in front of the real module's value. */
static CK_RV pad_modulus(CK_ATTRIBUTE_PTR t, CK_ULONG n, const CK_ULONG *given, CK_RV rv)
{
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ULONG len = t[i].ulValueLen;
		if (t[i].type != CKA_MODULUS || len == CK_UNAVAILABLE_INFORMATION)
			continue;
		if (!t[i].pValue) {
			t[i].ulValueLen = len + 1;
		} else if (given[i] > len) {
			memmove((unsigned char *)t[i].pValue + 1, t[i].pValue, len);
			*(unsigned char *)t[i].pValue = 0;
			t[i].ulValueLen = len + 1;
		} else {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (rv == CKR_OK)
				rv = CKR_BUFFER_TOO_SMALL;
		}
	}
	return rv;
}

static CK_RV f_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
				 CK_ULONG n)
{
	CK_ULONG *given;
	CK_RV rv;

	FAIL_IF_ASKED(C_GetAttributeValue);
	if (!getenv("HSMCERT_FAULT_PAD_MODULUS"))
		return real->C_GetAttributeValue(s, o, t, n);
	given = calloc(n ? n : 1, sizeof(*given));
	if (!given)
		return CKR_HOST_MEMORY;
	for (CK_ULONG i = 0; i < n; i++)
		given[i] = t[i].ulValueLen;
	rv = real->C_GetAttributeValue(s, o, t, n);
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL || rv == CKR_ATTRIBUTE_SENSITIVE ||
	    rv == CKR_ATTRIBUTE_TYPE_INVALID)
		rv = pad_modulus(t, n, given, rv);
	free(given);
	return rv;
}

static CK_RV f_CreateObject(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
			    CK_OBJECT_HANDLE_PTR o)
{
	FAIL_IF_ASKED(C_CreateObject);
	return real->C_CreateObject(s, t, n, o);
}

static CK_RV f_DestroyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
	FAIL_IF_ASKED(C_DestroyObject);
	return real->C_DestroyObject(s, o);
}

static CK_RV f_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	FAIL_IF_ASKED(C_FindObjectsInit);
	return real->C_FindObjectsInit(s, t, n);
}

/* Is `mech` in the comma-separated list of the variable `var`? */
static bool mechanism_listed(const char *var, CK_MECHANISM_TYPE mech)
{
	const char *p = getenv(var);
	char *end;

	while (p && *p) {
		if (strtoul(p, &end, 0) == mech)
			return true;
		p = *end == ',' ? end + 1 : NULL;
	}
	return false;
}

static bool mechanism_removed(CK_MECHANISM_TYPE mech)
{
	return mechanism_listed("HSMCERT_FAULT_NO_MECH", mech) ||
	       mechanism_listed("HSMCERT_FAULT_HIDE_MECH", mech);
}

static CK_RV f_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	CK_MECHANISM_TYPE all[512];
	CK_ULONG n = 512, kept = 0;
	CK_RV rv;

	if (!getenv("HSMCERT_FAULT_HIDE_MECH"))
		return real->C_GetMechanismList(slot, list, count);
	if ((rv = real->C_GetMechanismList(slot, all, &n)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n; i++)
		if (!mechanism_listed("HSMCERT_FAULT_HIDE_MECH", all[i]))
			all[kept++] = all[i];
	if (list && *count < kept) {
		*count = kept;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (list)
		memcpy(list, all, kept * sizeof(*all));
	*count = kept;
	return CKR_OK;
}

static CK_RV f_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE m, CK_MECHANISM_INFO_PTR info)
{
	if (mechanism_listed("HSMCERT_FAULT_HIDE_MECH", m))
		return CKR_MECHANISM_INVALID;
	return real->C_GetMechanismInfo(slot, m, info);
}

static CK_RV f_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	FAIL_IF_ASKED(C_SignInit);
	if (m && mechanism_removed(m->mechanism))
		return CKR_MECHANISM_INVALID;
	return real->C_SignInit(s, m, k);
}

static CK_RV f_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR sig,
		    CK_ULONG_PTR sl)
{
	CK_RV rv;

	/* A length query neither counts nor fails: it does not end the operation. */
	if (!sig)
		return real->C_Sign(s, d, dl, sig, sl);
	/*
	 * A real C_Sign that fails ends the signing operation; let the token
	 * finish it so the session is in the state a failing device leaves.
	 */
	rv = injected("C_Sign");
	if (rv != CKR_OK) {
		real->C_Sign(s, d, dl, sig, sl);
		return rv;
	}
	return real->C_Sign(s, d, dl, sig, sl);
}

static CK_RV f_WrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w,
		       CK_OBJECT_HANDLE k, CK_BYTE_PTR out, CK_ULONG_PTR len)
{
	FAIL_IF_ASKED(C_WrapKey);
	return real->C_WrapKey(s, m, w, k, out, len);
}

static CK_RV f_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u,
			 CK_BYTE_PTR w, CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n,
			 CK_OBJECT_HANDLE_PTR k)
{
	const char *reject = getenv("HSMCERT_FAULT_UNWRAP_REJECT_ATTR");

	FAIL_IF_ASKED(C_UnwrapKey);
	for (CK_ULONG i = 0; reject && i < n; i++)
		if (t[i].type == strtoul(reject, NULL, 0))
			return CKR_ATTRIBUTE_TYPE_INVALID;
	return real->C_UnwrapKey(s, m, u, w, wl, t, n, k);
}

static CK_RV f_GenerateKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t,
			   CK_ULONG n, CK_OBJECT_HANDLE_PTR k)
{
	FAIL_IF_ASKED(C_GenerateKey);
	return real->C_GenerateKey(s, m, t, n, k);
}

static CK_RV f_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label)
{
	FAIL_IF_ASKED(C_InitToken);
	return real->C_InitToken(slot, pin, len, label);
}

static CK_RV f_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	FAIL_IF_ASKED(C_InitPIN);
	return real->C_InitPIN(s, pin, len);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (!real) {
		const char *target = getenv("HSMCERT_FAULT_TARGET");
		void *h = dlopen(target ? target : TS_SOFTHSM,
				 RTLD_NOW | RTLD_LOCAL);
		CK_C_GetFunctionList get;
		if (!h)
			return CKR_GENERAL_ERROR;
		get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
		if (!get || get(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		ours = *real;
		ours.C_Login = f_Login;
		ours.C_OpenSession = f_OpenSession;
		ours.C_GenerateKeyPair = f_GenerateKeyPair;
		ours.C_SetAttributeValue = f_SetAttributeValue;
		ours.C_GetAttributeValue = f_GetAttributeValue;
		ours.C_CreateObject = f_CreateObject;
		ours.C_DestroyObject = f_DestroyObject;
		ours.C_FindObjectsInit = f_FindObjectsInit;
		ours.C_SignInit = f_SignInit;
		ours.C_Sign = f_Sign;
		ours.C_WrapKey = f_WrapKey;
		ours.C_UnwrapKey = f_UnwrapKey;
		ours.C_GenerateKey = f_GenerateKey;
		ours.C_InitToken = f_InitToken;
		ours.C_InitPIN = f_InitPIN;
		ours.C_GetMechanismList = f_GetMechanismList;
		ours.C_GetMechanismInfo = f_GetMechanismInfo;
	}
	*list = &ours;
	return CKR_OK;
}
