/*
 * SPEC provision: everything that can be checked before a key is generated
 * is checked first — the output folders, and the token's mechanisms for the
 * key types and signatures the plan asks for — so no key is generated for an
 * entry that cannot be completed (on an HSM, minutes of key generation).
 */
#include "hsmcert/provision.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folder a request goes to: "." for a bare name, "/" for a file at the root. */
static void folder_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, len, ".");
	else if (slash == path)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(slash - path), path);
}

static hc_rc check_folder(const hc_plan_entry *e, const char *dir, hc_error *err)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return hc_fail(err, HC_IO,
			       "entry '%s': the folder of %s cannot be used (%s: %s); nothing was "
			       "generated",
			       e->label, e->csr_path, dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return hc_fail(err, HC_IO,
			       "entry '%s': %s is not a folder (for %s); nothing was generated",
			       e->label, dir, e->csr_path);
	if (access(dir, W_OK | X_OK) != 0)
		return hc_fail(err, HC_IO,
			       "entry '%s': the folder %s is not writable (%s); nothing was "
			       "generated",
			       e->label, dir, strerror(errno));
	return HC_OK;
}

/* Consecutive entries usually share a folder: check each run of them once (linear). */
static hc_rc check_folders(const hc_provision_plan *plan, hc_error *err)
{
	char dir[4096], last[4096] = "";
	hc_rc rc;

	for (size_t i = 0; i < plan->count; i++) {
		folder_of(plan->entries[i].csr_path, dir, sizeof(dir));
		if (i && strcmp(dir, last) == 0)
			continue;
		if ((rc = check_folder(&plan->entries[i], dir, err)) != HC_OK)
			return rc;
		memcpy(last, dir, sizeof(last));
	}
	return HC_OK;
}

static const CK_MECHANISM_INFO *find(const hc_mechanism *m, size_t n, CK_MECHANISM_TYPE type,
				     CK_FLAGS flag)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].type == type && (m[i].info.flags & flag))
			return &m[i].info;
	return NULL;
}

/* Can the token make and sign with this entry's key? */
static hc_rc check_entry_mechanisms(const hc_plan_entry *e, const hc_mechanism *m, size_t n,
				    const char *token, hc_error *err)
{
	bool rsa = e->type.ckk == CKK_RSA;
	CK_MECHANISM_TYPE gen = rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN;
	const CK_MECHANISM_INFO *info = find(m, n, gen, CKF_GENERATE_KEY_PAIR);
	char type[32];

	hc_keytype_format(&e->type, type, sizeof(type));
	if (!info)
		return hc_fail(err, HC_TOKEN,
			       "entry '%s': token '%s' cannot generate %s keys (it lists no %s "
			       "for key pair generation); nothing was generated",
			       e->label, token, type, hc_ckm_name(gen));
	/* Sizes are bits for RSA and EC alike (PKCS#11 2.40); 0 means not said. */
	if ((info->ulMinKeySize && e->type.bits < info->ulMinKeySize) ||
	    (info->ulMaxKeySize && e->type.bits > info->ulMaxKeySize))
		return hc_fail(err, HC_TOKEN,
			       "entry '%s': token '%s' generates %s keys of %lu to %lu bits, not "
			       "%s; nothing was generated",
			       e->label, token, rsa ? "RSA" : "EC",
			       (unsigned long)info->ulMinKeySize, (unsigned long)info->ulMaxKeySize,
			       type);
	/* The request is signed on the token: some signature mechanism must be there. */
	if (rsa ? !(e->csr.pss ? find(m, n, CKM_SHA256_RSA_PKCS_PSS, CKF_SIGN) ||
					 find(m, n, CKM_SHA384_RSA_PKCS_PSS, CKF_SIGN) ||
					 find(m, n, CKM_SHA512_RSA_PKCS_PSS, CKF_SIGN) ||
					 find(m, n, CKM_RSA_PKCS_PSS, CKF_SIGN)
			       : find(m, n, CKM_SHA256_RSA_PKCS, CKF_SIGN) ||
					 find(m, n, CKM_SHA384_RSA_PKCS, CKF_SIGN) ||
					 find(m, n, CKM_SHA512_RSA_PKCS, CKF_SIGN) ||
					 find(m, n, CKM_RSA_PKCS, CKF_SIGN))
		: !find(m, n, CKM_ECDSA, CKF_SIGN))
		return hc_fail(err, HC_TOKEN,
			       "entry '%s': token '%s' lists no %s signature mechanism to sign the "
			       "request with; nothing was generated",
			       e->label, token,
			       rsa ? (e->csr.pss ? "RSA-PSS" : "RSA PKCS#1 v1.5") : "ECDSA");
	return HC_OK;
}

hc_rc hc_provision_preflight(hc_session *s, const hc_provision_plan *plan, hc_error *err)
{
	const hc_slot *slot = hc_session_slot(s);
	hc_mechanism *mechs = NULL;
	size_t n = 0;
	char token[33];
	hc_rc rc;

	if ((rc = check_folders(plan, err)) != HC_OK)
		return rc;
	/* A token that will not list its mechanisms gets no verdict here: keygen will tell. */
	if (hc_slot_mechanisms(hc_session_module(s), slot->id, &mechs, &n, NULL) != HC_OK || !n) {
		free(mechs);
		return HC_OK;
	}
	HC_P11_STRING(slot->token.label, token);
	for (size_t i = 0; rc == HC_OK && i < plan->count; i++) {
		const hc_plan_entry *e = &plan->entries[i];
		bool seen = false;
		/* One verdict per kind of entry: types and PSS are few, entries many. */
		for (size_t j = 0; j < i && !seen && j < 16; j++)
			seen = memcmp(&plan->entries[j].type, &e->type, sizeof(e->type)) == 0 &&
			       plan->entries[j].csr.pss == e->csr.pss;
		if (!seen)
			rc = check_entry_mechanisms(e, mechs, n, token, err);
	}
	free(mechs);
	return rc;
}
