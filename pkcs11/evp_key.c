/*
 * A token's private key as an OpenSSL EVP_PKEY, through libp11: the only
 * place hsmcert uses libp11 (for TLS, where OpenSSL must sign through the
 * key). Everything else signs through C_Sign (sign.c): libp11 signs RSA-PSS
 * with raw RSA, which many HSMs forbid, and finalises the module it loaded.
 *
 * libp11's work runs in a thread of its own, so that a caller's bound holds:
 * libp11 0.4.12 waits forever for a session when the module refuses to open
 * one (CKR_SESSION_COUNT, which real HSMs answer). The job owns copies of
 * everything it reads; a job given up at the bound frees itself if libp11
 * ever returns.
 */
#include "internal.h"

#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hc_evp_key {
	PKCS11_CTX *ctx;
	bool loaded;
	PKCS11_SLOT *slots;
	unsigned int nslots;
	EVP_PKEY *pkey;
};

/*
 * What libp11 is doing, to name it when it fails or does not return:
 * libp11 reports a module's CK_RV on OpenSSL's error queue ("PKCS#11
 * module" errors whose reason is the CKR_ value) but not which C_ function
 * answered, so the error names the libp11 call and the C_ functions it makes.
 */
static const char *const phase_names[][2] = {
	{"PKCS11_CTX_load", "C_Initialize"},
	{"PKCS11_enumerate_slots", "C_GetSlotList, C_GetTokenInfo"},
	{"PKCS11_login", "C_OpenSession, C_Login"},
	{"PKCS11_enumerate_keys", "C_FindObjects, C_GetAttributeValue"},
	{"PKCS11_get_private_key", "C_GetAttributeValue"},
};
enum { PHASE_LOAD, PHASE_SLOTS, PHASE_LOGIN, PHASE_KEYS, PHASE_KEY };

struct libp11_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done, abandoned;
	int phase;
	hc_rc rc;
	hc_error err;
	hc_evp_key *tk;
	char *module_path, *init_args, *serial, *label, *key_label, *pin;
	unsigned char *key_id;
	size_t key_id_len;
};

static PKCS11_SLOT *find_slot(const struct libp11_job *job)
{
	for (unsigned int i = 0; i < job->tk->nslots; i++) {
		PKCS11_TOKEN *t = job->tk->slots[i].token;
		if (t && t->initialized && t->serialnr && t->label &&
		    strcmp(t->serialnr, job->serial) == 0 && strcmp(t->label, job->label) == 0)
			return &job->tk->slots[i];
	}
	return NULL;
}

static PKCS11_KEY *find_key(const struct libp11_job *job, PKCS11_KEY *keys, unsigned int n)
{
	PKCS11_KEY *by_id = NULL;

	for (unsigned int i = 0; i < n; i++) {
		if (keys[i].id_len != job->key_id_len ||
		    (job->key_id_len && memcmp(keys[i].id, job->key_id, job->key_id_len) != 0))
			continue;
		if (!by_id)
			by_id = &keys[i];
		if (job->key_label && keys[i].label && strcmp(keys[i].label, job->key_label) == 0)
			return &keys[i];
	}
	return by_id;
}

/* libp11 failed in `phase`: name the call and the module's CKR_ when the queue has one. */
static hc_rc libp11_failed(struct libp11_job *job, const char *what)
{
	const char *const *ph = phase_names[job->phase];
	unsigned long code;

	while ((code = ERR_get_error()) != 0) {
		const char *lib = ERR_lib_error_string(code);
		if (lib && strcmp(lib, "PKCS#11 module") == 0) {
			ERR_clear_error();
			hc_fail_p11(&job->err, ph[0], ERR_GET_REASON(code), "libp11 %s (%s)", what,
				    ph[1]);
			return HC_TOKEN;
		}
	}
	return hc_fail(&job->err, HC_TOKEN, "libp11 %s: %s failed without a PKCS#11 error (%s)",
		       what, ph[0], ph[1]);
}

static hc_rc open_key(struct libp11_job *job)
{
	hc_evp_key *tk = job->tk;
	PKCS11_SLOT *slot;
	PKCS11_KEY *keys = NULL, *key;
	unsigned int nkeys = 0;
	char what[256];

	tk->ctx = PKCS11_CTX_new();
	if (!tk->ctx)
		return hc_fail(&job->err, HC_IO, "out of memory");
	if (job->init_args)
		PKCS11_CTX_init_args(tk->ctx, job->init_args);
	job->phase = PHASE_LOAD;
	if (PKCS11_CTX_load(tk->ctx, job->module_path) < 0) {
		snprintf(what, sizeof(what), "cannot load the module %s", job->module_path);
		return libp11_failed(job, what);
	}
	tk->loaded = true;
	job->phase = PHASE_SLOTS;
	if (PKCS11_enumerate_slots(tk->ctx, &tk->slots, &tk->nslots) < 0) {
		snprintf(what, sizeof(what), "cannot list the slots of %s", job->module_path);
		return libp11_failed(job, what);
	}
	slot = find_slot(job);
	if (!slot)
		return hc_fail(&job->err, HC_TOKEN,
			       "libp11 does not see token '%s' (serial %s) in %s", job->label,
			       job->serial, job->module_path);
	job->phase = PHASE_LOGIN;
	if (slot->token->loginRequired && PKCS11_login(slot, 0, job->pin) < 0) {
		snprintf(what, sizeof(what), "cannot log in to token '%s'", job->label);
		return libp11_failed(job, what);
	}
	job->phase = PHASE_KEYS;
	if (PKCS11_enumerate_keys(slot->token, &keys, &nkeys) < 0) {
		snprintf(what, sizeof(what), "cannot list the keys of token '%s'", job->label);
		return libp11_failed(job, what);
	}
	key = find_key(job, keys, nkeys);
	if (!key)
		return hc_fail(&job->err, HC_TOKEN,
			       "libp11 does not find the key '%s' on token '%s'",
			       job->key_label ? job->key_label : "", job->label);
	job->phase = PHASE_KEY;
	tk->pkey = PKCS11_get_private_key(key);
	if (!tk->pkey) {
		snprintf(what, sizeof(what), "cannot use the key '%s'",
			 job->key_label ? job->key_label : "");
		return libp11_failed(job, what);
	}
	return HC_OK;
}

/* Key first, then slots, then the module: libp11 finalises the module on unload. */
void hc_evp_key_close(hc_evp_key *tk)
{
	if (!tk)
		return;
	EVP_PKEY_free(tk->pkey);
	if (tk->slots)
		PKCS11_release_all_slots(tk->ctx, tk->slots, tk->nslots);
	if (tk->loaded)
		PKCS11_CTX_unload(tk->ctx);
	if (tk->ctx)
		PKCS11_CTX_free(tk->ctx);
	free(tk);
}

static void job_free(struct libp11_job *job)
{
	hc_evp_key_close(job->tk);
	free(job->module_path);
	free(job->init_args);
	free(job->serial);
	free(job->label);
	free(job->key_label);
	free(job->key_id);
	if (job->pin)
		OPENSSL_clear_free(job->pin, strlen(job->pin));
	pthread_mutex_destroy(&job->lock);
	pthread_cond_destroy(&job->cond);
	free(job);
}

static void *libp11_worker(void *arg)
{
	struct libp11_job *job = arg;
	hc_rc rc = open_key(job);
	bool abandoned;

	ERR_clear_error();
	/*
	 * OpenSSL keeps an error queue per thread: this one's goes before the
	 * result is handed over, so that it is gone when the process exits.
	 */
	OPENSSL_thread_stop();
	pthread_mutex_lock(&job->lock);
	job->rc = rc;
	job->done = true;
	abandoned = job->abandoned;
	pthread_cond_signal(&job->cond);
	pthread_mutex_unlock(&job->lock);
	if (abandoned) {
		job_free(job);
		OPENSSL_thread_stop();
	}
	return NULL;
}

static struct libp11_job *job_new(const hc_evp_key_params *p)
{
	struct libp11_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	pthread_mutex_init(&job->lock, NULL);
	pthread_cond_init(&job->cond, NULL);
	job->tk = calloc(1, sizeof(*job->tk));
	job->module_path = strdup(p->module_path);
	job->init_args = p->init_args ? strdup(p->init_args) : NULL;
	job->serial = strdup(p->token_serial);
	job->label = strdup(p->token_label);
	job->key_label = p->key_label ? strdup(p->key_label) : NULL;
	job->key_id = malloc(p->key_id_len ? p->key_id_len : 1);
	job->key_id_len = p->key_id_len;
	job->pin = p->pin ? OPENSSL_strndup(p->pin->data, p->pin->len) : NULL;
	if (!job->tk || !job->module_path || !job->serial || !job->label || !job->key_id ||
	    (p->key_label && !job->key_label) || (p->init_args && !job->init_args) ||
	    (p->pin && !job->pin)) {
		job_free(job);
		return NULL;
	}
	if (p->key_id_len)
		memcpy(job->key_id, p->key_id, p->key_id_len);
	return job;
}

hc_rc hc_evp_key_open(const hc_evp_key_params *params, long timeout_ms, hc_evp_key **out,
		      hc_error *err)
{
	struct libp11_job *job = job_new(params);
	struct timespec until;
	pthread_t thread;
	hc_rc rc;

	*out = NULL;
	if (!job)
		return hc_fail(err, HC_IO, "out of memory");
	if (pthread_create(&thread, NULL, libp11_worker, job) != 0) {
		job_free(job);
		return hc_fail(err, HC_IO, "cannot start a thread for libp11");
	}
	if (timeout_ms < 1)
		timeout_ms = 1;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&job->lock);
	while (!job->done)
		if (pthread_cond_timedwait(&job->cond, &job->lock, &until) != 0)
			break;
	if (!job->done) {
		const char *const *ph = phase_names[job->phase];
		job->abandoned = true;
		pthread_mutex_unlock(&job->lock);
		pthread_detach(thread);
		return hc_fail(err, HC_TOKEN,
			       "libp11 did not return from %s (%s) within %ld.%03ld seconds: the "
			       "module may refuse libp11 a session (CKR_SESSION_COUNT: close other "
			       "applications' sessions) or not answer",
			       ph[0], ph[1], timeout_ms / 1000, timeout_ms % 1000);
	}
	pthread_mutex_unlock(&job->lock);
	/*
	 * The worker is done: wait for it to end, so that what glibc keeps per
	 * thread (dlerror's buffer, libp11 loads the module with dlopen) is freed
	 * before this process can exit. A leak checker saw it otherwise.
	 */
	pthread_join(thread, NULL);
	rc = job->rc;
	if (rc != HC_OK) {
		*err = job->err;
		job_free(job);
		return rc;
	}
	*out = job->tk;
	job->tk = NULL;
	job_free(job);
	return HC_OK;
}

EVP_PKEY *hc_evp_key_pkey(const hc_evp_key *key)
{
	return key->pkey;
}
