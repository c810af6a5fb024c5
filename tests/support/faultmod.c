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
 *   HSMCERT_FAULT_UNWRAP_REQUIRE_ATTR=0xTYPE C_UnwrapKey of an EC private key answers
 *                                          CKR_TEMPLATE_INCOMPLETE without TYPE, and
 *                                          forwards the template without it (NSS
 *                                          softoken and its CKA_NSS_DB)
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
 *   HSMCERT_FAULT_STOP_AT_INVALID=1        C_GetAttributeValue stops at the first
 *                                          attribute it cannot give (invalid, sensitive,
 *                                          too small), marks it and returns, leaving the
 *                                          later ones as the caller set them (a token
 *                                          not as PKCS#11 says: it must answer each)
 *   HSMCERT_FAULT_OK_UNWRITTEN=0xA         C_GetAttributeValue never writes attribute A
 *                                          and leaves it as the caller set it, answering
 *                                          for the others (CKR_OK when they are; a token
 *                                          not as PKCS#11 says)
 *   HSMCERT_FAULT_FIND_MAX=N               C_FindObjects gives at most N handles a call,
 *                                          however many were asked (as PKCS#11 allows:
 *                                          only an empty answer ends a search)
 *
 * The sweep (tests/e2e/test_sweep.c) counts every call this module forwards,
 * whatever its function, per process, from 1:
 *
 *   HSMCERT_FAULT_NTH=N[=0xRV]             call N fails with RV (default
 *                                          CKR_DEVICE_ERROR); the others work
 *   HSMCERT_FAULT_DIE=N                    the token "dies": call N and every later
 *                                          one answer CKR_DEVICE_REMOVED
 *   HSMCERT_FAULT_KILL=N                   the process gets SIGKILL before call N
 *                                          reaches the token (power loss, kill -9)
 *   HSMCERT_FAULT_KILL_AT=C_Name:N         SIGKILL before the Nth call of C_Name
 *                                          (a point that stays put when the other
 *                                          calls vary, as ACME polls do)
 *   HSMCERT_FAULT_TRACE=PATH               append "N C_Name" per counted call
 *   HSMCERT_FAULT_BAD_LENGTHS=1            C_GetAttributeValue answers
 *                                          CKR_BUFFER_TOO_SMALL without marking which
 *                                          attribute (a non-compliant token)
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

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

/* ---- the sweep: one counter for every call of the process ------------ */

static unsigned long all_calls, named_calls;

/* HSMCERT_FAULT_KILL_AT=C_Name:N names this call: count it, true at the Nth. */
static bool kill_named(const char *name)
{
	const char *spec = getenv("HSMCERT_FAULT_KILL_AT"), *colon;
	unsigned long n;

	if (!spec || !(colon = strchr(spec, ':')) || (size_t)(colon - spec) != strlen(name) ||
	    strncmp(spec, name, strlen(name)) != 0)
		return false;
	pthread_mutex_lock(&lock);
	n = ++named_calls;
	pthread_mutex_unlock(&lock);
	return n >= strtoul(colon + 1, NULL, 10);
}

static unsigned long env_ulong(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? strtoul(v, NULL, 0) : 0;
}

/* Count `name`; kill the process or answer a fault as the sweep asks. */
static CK_RV counted(const char *name)
{
	unsigned long kill_at = env_ulong("HSMCERT_FAULT_KILL");
	unsigned long die_at = env_ulong("HSMCERT_FAULT_DIE");
	const char *nth = getenv("HSMCERT_FAULT_NTH");
	const char *trace = getenv("HSMCERT_FAULT_TRACE");
	unsigned long n;

	pthread_mutex_lock(&lock);
	n = ++all_calls;
	pthread_mutex_unlock(&lock);
	if (trace && *trace) {
		char line[96];
		int fd = open(trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		int len = snprintf(line, sizeof(line), "%lu %s\n", n, name);
		if (fd >= 0) {
			if (write(fd, line, (size_t)len) != len)
				abort();
			close(fd);
		}
	}
	if ((kill_at && n >= kill_at) || kill_named(name))
		kill(getpid(), SIGKILL);
	if (die_at && n >= die_at)
		return CKR_DEVICE_REMOVED;
	if (nth && *nth) {
		char *end;
		unsigned long at = strtoul(nth, &end, 10);
		if (at == n)
			return *end == '=' ? strtoul(end + 1, NULL, 0) : CKR_DEVICE_ERROR;
	}
	return CKR_OK;
}

#define FAIL_IF_ASKED(name)                                                                        \
	do {                                                                                       \
		CK_RV injected_rv = counted(#name);                                                \
		if (injected_rv == CKR_OK)                                                         \
			injected_rv = injected(#name);                                             \
		if (injected_rv != CKR_OK)                                                         \
			return injected_rv;                                                        \
	} while (0)

static bool mechanism_listed(const char *var, CK_MECHANISM_TYPE mech);

/* Calls that only pass through, counted so the sweep can fail each of them. */
#define COUNTED(ret_name, call)                                                                    \
	do {                                                                                       \
		CK_RV injected_rv = counted(ret_name);                                             \
		if (injected_rv == CKR_OK)                                                         \
			injected_rv = injected(ret_name);                                          \
		if (injected_rv != CKR_OK)                                                         \
			return injected_rv;                                                        \
		return call;                                                                       \
	} while (0)

static CK_RV f_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	COUNTED("C_GetSlotList", real->C_GetSlotList(present, list, count));
}

static CK_RV f_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	COUNTED("C_GetSlotInfo", real->C_GetSlotInfo(slot, info));
}

static CK_RV f_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	COUNTED("C_GetTokenInfo", real->C_GetTokenInfo(slot, info));
}

static CK_RV f_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR o, CK_ULONG ol, CK_UTF8CHAR_PTR n,
		      CK_ULONG nl)
{
	COUNTED("C_SetPIN", real->C_SetPIN(s, o, ol, n, nl));
}

static CK_RV f_CloseSession(CK_SESSION_HANDLE s)
{
	COUNTED("C_CloseSession", real->C_CloseSession(s));
}

static CK_RV f_GetSessionInfo(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info)
{
	COUNTED("C_GetSessionInfo", real->C_GetSessionInfo(s, info));
}

static CK_RV f_Logout(CK_SESSION_HANDLE s)
{
	COUNTED("C_Logout", real->C_Logout(s));
}

static CK_RV f_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o, CK_ULONG max,
			   CK_ULONG_PTR n)
{
	unsigned long most = env_ulong("HSMCERT_FAULT_FIND_MAX");

	COUNTED("C_FindObjects", real->C_FindObjects(s, o, most && most < max ? most : max, n));
}

/* A failed C_FindObjectsFinal leaves the search active, the worst a token can do. */
static CK_RV f_FindObjectsFinal(CK_SESSION_HANDLE s)
{
	COUNTED("C_FindObjectsFinal", real->C_FindObjectsFinal(s));
}

static CK_RV f_VerifyInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	COUNTED("C_VerifyInit", real->C_VerifyInit(s, m, k));
}

static CK_RV f_Verify(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR sig, CK_ULONG sl)
{
	COUNTED("C_Verify", real->C_Verify(s, d, dl, sig, sl));
}

static CK_RV f_EncryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	COUNTED("C_EncryptInit", real->C_EncryptInit(s, m, k));
}

static CK_RV f_Encrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o,
		       CK_ULONG_PTR ol)
{
	COUNTED("C_Encrypt", real->C_Encrypt(s, d, dl, o, ol));
}

static CK_RV f_DecryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	COUNTED("C_DecryptInit", real->C_DecryptInit(s, m, k));
}

static CK_RV f_Decrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o,
		       CK_ULONG_PTR ol)
{
	COUNTED("C_Decrypt", real->C_Decrypt(s, d, dl, o, ol));
}

static CK_RV f_GenerateRandom(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG len)
{
	COUNTED("C_GenerateRandom", real->C_GenerateRandom(s, out, len));
}

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
	/*
	 * A token that says "too small" and marks no attribute: every length is
	 * left as the caller set it and no value was written.
	 */
	if (getenv("HSMCERT_FAULT_BAD_LENGTHS"))
		for (CK_ULONG i = 0; i < n; i++)
			if (t[i].pValue)
				return CKR_BUFFER_TOO_SMALL;
	if (getenv("HSMCERT_FAULT_OK_UNWRITTEN")) {
		CK_ATTRIBUTE_TYPE skip = strtoul(getenv("HSMCERT_FAULT_OK_UNWRITTEN"), NULL, 0);
		CK_ATTRIBUTE *rest = calloc(n ? n : 1, sizeof(*rest));
		CK_ULONG m = 0;

		if (!rest)
			return CKR_HOST_MEMORY;
		for (CK_ULONG i = 0; i < n; i++)
			if (t[i].type != skip)
				rest[m++] = t[i];
		rv = m ? real->C_GetAttributeValue(s, o, rest, m) : CKR_OK;
		m = 0;
		for (CK_ULONG i = 0; i < n; i++)
			if (t[i].type != skip)
				t[i] = rest[m++];
		free(rest);
		return rv;
	}
	if (getenv("HSMCERT_FAULT_STOP_AT_INVALID")) {
		for (CK_ULONG i = 0; i < n; i++)
			if ((rv = real->C_GetAttributeValue(s, o, &t[i], 1)) != CKR_OK)
				return rv;
		return CKR_OK;
	}
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

	FAIL_IF_ASKED(C_GetMechanismList);
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
	FAIL_IF_ASKED(C_GetMechanismInfo);
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

	/* A length query does not count for HSMCERT_FAULT_FAIL: it does not end the operation. */
	rv = counted("C_Sign");
	if (rv == CKR_OK && !sig)
		return real->C_Sign(s, d, dl, sig, sl);
	/*
	 * A real C_Sign that fails ends the signing operation; let the token
	 * finish it so the session is in the state a failing device leaves.
	 */
	if (rv == CKR_OK)
		rv = injected("C_Sign");
	if (rv != CKR_OK && !sig) {
		unsigned char scratch[1024];
		CK_ULONG n = sizeof(scratch);
		real->C_Sign(s, d, dl, scratch, &n);
		return rv;
	}
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

static CK_RV f_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u, CK_BYTE_PTR w,
			 CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k)
{
	const char *reject = getenv("HSMCERT_FAULT_UNWRAP_REJECT_ATTR");
	const char *require = getenv("HSMCERT_FAULT_UNWRAP_REQUIRE_ATTR");

	FAIL_IF_ASKED(C_UnwrapKey);
	for (CK_ULONG i = 0; reject && i < n; i++)
		if (t[i].type == strtoul(reject, NULL, 0))
			return CKR_ATTRIBUTE_TYPE_INVALID;
	if (require) {
		CK_ATTRIBUTE kept[64];
		CK_ULONG nk = 0;
		bool ec = false, found = false;
		for (CK_ULONG i = 0; i < n && nk < 64; i++) {
			if (t[i].type == CKA_KEY_TYPE && t[i].ulValueLen == sizeof(CK_KEY_TYPE))
				ec = *(CK_KEY_TYPE *)t[i].pValue == CKK_EC;
			if (t[i].type == strtoul(require, NULL, 0))
				found = true;
			else
				kept[nk++] = t[i];
		}
		if (ec && !found)
			return CKR_TEMPLATE_INCOMPLETE;
		return real->C_UnwrapKey(s, m, u, w, wl, kept, nk, k);
	}
	return real->C_UnwrapKey(s, m, u, w, wl, t, n, k);
}

static CK_RV f_GenerateKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
			   CK_OBJECT_HANDLE_PTR k)
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
		void *h = dlopen(target ? target : TS_SOFTHSM, RTLD_NOW | RTLD_LOCAL);
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
		ours.C_GetSlotList = f_GetSlotList;
		ours.C_GetSlotInfo = f_GetSlotInfo;
		ours.C_GetTokenInfo = f_GetTokenInfo;
		ours.C_GetMechanismList = f_GetMechanismList;
		ours.C_GetMechanismInfo = f_GetMechanismInfo;
		ours.C_InitPIN = f_InitPIN;
		ours.C_SetPIN = f_SetPIN;
		ours.C_CloseSession = f_CloseSession;
		ours.C_GetSessionInfo = f_GetSessionInfo;
		ours.C_Logout = f_Logout;
		ours.C_FindObjects = f_FindObjects;
		ours.C_FindObjectsFinal = f_FindObjectsFinal;
		ours.C_VerifyInit = f_VerifyInit;
		ours.C_Verify = f_Verify;
		ours.C_EncryptInit = f_EncryptInit;
		ours.C_Encrypt = f_Encrypt;
		ours.C_DecryptInit = f_DecryptInit;
		ours.C_Decrypt = f_Decrypt;
		ours.C_GenerateRandom = f_GenerateRandom;
	}
	*list = &ours;
	return CKR_OK;
}
