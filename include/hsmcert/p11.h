/*
 * The token layer: the only code that calls C_* functions.
 * Module loading (p11-kit), token selection by PKCS#11 URI (RFC 7512),
 * sessions and login, secrets (PINs), object search and attributes, key
 * generation, and CKR_/CKA_/CKM_ names for messages.
 */
#ifndef HSMCERT_P11_H
#define HSMCERT_P11_H

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <stdbool.h>
#include <stddef.h>

#include "hsmcert/error.h"

/* ---- names ---------------------------------------------------------- */

/* "CKR_PIN_INCORRECT"; unknown values as "CKR_0x..." (thread-local buffer). */
const char *hc_ckr_name(CK_RV rv);
const char *hc_cka_name(CK_ATTRIBUTE_TYPE type);
const char *hc_ckm_name(CK_MECHANISM_TYPE mech);
const char *hc_ckk_name(CK_KEY_TYPE type);

/* Copy a blank-padded CK_UTF8CHAR field into a C string, trailing blanks removed. */
void hc_p11_string(const CK_UTF8CHAR *field, size_t field_len, char *out, size_t out_len);
#define HC_P11_STRING(field, out) hc_p11_string((field), sizeof(field), (out), sizeof(out))

/* ---- secrets -------------------------------------------------------- */

/* A PIN or passphrase; wiped with OPENSSL_cleanse when freed. NUL-terminated. */
typedef struct hc_secret {
	char *data;
	size_t len;
	/*
	 * Set when the source deserves a warning (a file other users can read):
	 * what is wrong and how to fix it. The secret is still given.
	 */
	char *warning;
} hc_secret;

hc_secret *hc_secret_new(const char *data, size_t len);
void hc_secret_free(hc_secret *secret);

/*
 * Read a secret from a source: "env:VAR", "file:PATH" or "fd:N". A bare
 * absolute path is taken as a file (the form RFC 7512's pin-source uses).
 * One trailing newline (LF or CRLF) is removed. `what` names it in errors.
 */
hc_rc hc_secret_from_source(const char *source, const char *what, hc_secret **out, hc_error *err);

/* ---- modules and slots ---------------------------------------------- */

typedef struct hc_module hc_module;

/*
 * How the module will be called. The default is from any number of threads:
 * loaded managed by p11-kit, which hands the module its locking. A caller
 * that uses the module from one thread only, and shares it with no other
 * library in the process, can say so: the module is then initialised
 * without locking (as pkcs11-tool does), which on SoftHSM2 saves a lock
 * and unlock for every attribute of every object read.
 */
enum {
	HC_MODULE_ONE_THREAD = 1 << 0,
};

/*
 * Load and initialise a module; NULL path means the p11-kit proxy. A path
 * ending in ".module" is a p11-kit module file: the library its `module:`
 * line names, initialised with its `x-init-reserved:` string (NSS softoken).
 */
hc_rc hc_module_open(const char *path, unsigned flags, hc_module **out, hc_error *err);
void hc_module_close(hc_module *mod);
const char *hc_module_path(const hc_module *mod);
const CK_INFO *hc_module_info(const hc_module *mod);
/* The library itself (a module file's `module:`), and its C_Initialize pReserved or NULL. */
const char *hc_module_library(const hc_module *mod);
const char *hc_module_init_args(const hc_module *mod);

/* A module p11-kit has registered: its configured name and the library's path (either may be NULL).
 */
typedef struct hc_registered_module {
	char *name;
	char *path;
	bool disabled; /* its module file keeps it out of the proxy (enable-in/disable-in) */
	CK_RV init_rv; /* C_Initialize's answer: CKR_OK, or why the proxy has no slots of it */
} hc_registered_module;

/*
 * The registered modules behind `mod` when it is p11-kit's proxy (the
 * default module), in p11-kit's order; none for a module named by path.
 */
hc_rc hc_module_registered(const hc_module *mod, hc_registered_module **out, size_t *count,
			   hc_error *err);
void hc_registered_modules_free(hc_registered_module *list, size_t count);

typedef struct hc_slot {
	CK_SLOT_ID id;
	CK_SLOT_INFO info;
	CK_TOKEN_INFO token; /* valid when has_token */
	bool has_token;
} hc_slot;

/*
 * Whether several threads of one process may create objects on this token
 * at once. SoftHSM2 (2.6) may not: its file store indexes new object files
 * while another thread is still writing one. Measured: provisioning 300
 * EC keys from two sessions of one process, 6 C_GenerateKeyPair calls
 * failed with CKR_GENERAL_ERROR and left half-made objects (no label, an
 * invalid EC point). Separate processes are safe.
 */
bool hc_token_threads_safe(const hc_slot *slot);

/*
 * False for a token with no security officer of its own (NSS softoken): its
 * C_InitToken and SO login take an empty PIN, and an SO PIN given is unused.
 */
bool hc_token_has_so_pin(const hc_slot *slot);

hc_rc hc_slots_list(hc_module *mod, bool token_present, hc_slot **slots, size_t *count,
		    hc_error *err);
hc_rc hc_slot_refresh(hc_module *mod, hc_slot *slot, hc_error *err);

typedef struct hc_mechanism {
	CK_MECHANISM_TYPE type;
	CK_MECHANISM_INFO info;
} hc_mechanism;

hc_rc hc_slot_mechanisms(hc_module *mod, CK_SLOT_ID slot, hc_mechanism **mechs, size_t *count,
			 hc_error *err);

/* ---- URIs ----------------------------------------------------------- */

typedef struct hc_uri hc_uri;

/* Parse an RFC 7512 URI; over-long or unknown attributes are an error, not ignored. */
hc_rc hc_uri_parse(const char *text, hc_uri **out, hc_error *err);
void hc_uri_free(hc_uri *uri);
const char *hc_uri_text(const hc_uri *uri);
bool hc_uri_matches_slot(const hc_uri *uri, const hc_module *mod, const hc_slot *slot);
/* True when the URI names anything about a token, slot or module. */
bool hc_uri_names_token(const hc_uri *uri);
const char *hc_uri_pin_source(const hc_uri *uri);
const char *hc_uri_module_path(const hc_uri *uri);

/* The object attributes the URI names (class, label, id), for a search. */
CK_ATTRIBUTE *hc_uri_object_template(const hc_uri *uri, CK_ULONG *count);
bool hc_uri_names_object(const hc_uri *uri);

/* Format URIs for what we report; the caller frees the string. */
char *hc_uri_for_token(const CK_TOKEN_INFO *token);
char *hc_uri_for_object(const CK_TOKEN_INFO *token, CK_OBJECT_CLASS cls, const char *label,
			const unsigned char *id, size_t id_len);

/*
 * Token selection, one place for every command (pkcs11/select.c). A query
 * names slots by the state of their token, a slot ID, a URI (each optional).
 */
typedef enum hc_token_state {
	HC_TOKEN_INITIALISED,	/* tokens ready to use (the default) */
	HC_TOKEN_PRESENT,	/* any slot holding a token */
	HC_TOKEN_UNINITIALISED, /* tokens that still need C_InitToken */
	HC_TOKEN_ANY_SLOT,	/* every slot, with or without a token */
} hc_token_state;

typedef struct hc_token_query {
	const hc_uri *uri; /* NULL: any */
	bool by_slot_id;
	CK_SLOT_ID slot_id;
	hc_token_state state;
} hc_token_query;

bool hc_token_query_matches(const hc_token_query *query, const hc_module *mod, const hc_slot *slot);
/* Every slot the query matches, in the module's order. Caller frees *slots. */
hc_rc hc_token_find(hc_module *mod, const hc_token_query *query, hc_slot **slots, size_t *count,
		    hc_error *err);
/*
 * The one slot the query names (with `first`: the first of several). No
 * match: HC_USAGE when a URI or slot ID named nothing, HC_TOKEN when the
 * module has no such token; several: HC_USAGE naming them.
 */
hc_rc hc_token_pick(hc_module *mod, const hc_token_query *query, bool first, hc_slot *out,
		    hc_error *err);
/* hc_token_pick of the one initialised token `uri` names (uri NULL: the only one). */
hc_rc hc_token_select(hc_module *mod, const hc_uri *uri, hc_slot *out, hc_error *err);

/* C_InitToken: label is blank-padded to 32 bytes here. Longer labels: HC_USAGE. */
hc_rc hc_token_initialize(hc_module *mod, CK_SLOT_ID slot, const hc_secret *so_pin,
			  const char *label, hc_error *err);

/* ---- sessions ------------------------------------------------------- */

typedef struct hc_session hc_session;

hc_rc hc_session_open(hc_module *mod, const hc_slot *slot, bool rw, hc_session **out,
		      hc_error *err);
void hc_session_close(hc_session *session);
CK_SESSION_HANDLE hc_session_handle(const hc_session *session);
const hc_slot *hc_session_slot(const hc_session *session);
hc_module *hc_session_module(const hc_session *session);

/*
 * Log in once. A wrong PIN is never retried: the error carries the CKR_ name
 * and the token's PIN flags read right after the failure.
 * pin NULL is allowed for a protected authentication path.
 */
hc_rc hc_session_login(hc_session *session, CK_USER_TYPE user, const hc_secret *pin, hc_error *err);
hc_rc hc_session_logout(hc_session *session, hc_error *err);
/* True after a successful hc_session_login (private objects are visible). */
bool hc_session_logged_in(const hc_session *session);
/* C_InitPIN in an SO session: set the user PIN. */
hc_rc hc_session_init_pin(hc_session *session, const hc_secret *pin, hc_error *err);

/* The token's user-PIN state as words: "locked", "final try", "count low", or NULL. */
const char *hc_pin_flags_text(CK_FLAGS token_flags, CK_USER_TYPE user);

/* ---- objects and attributes ----------------------------------------- */

/* All objects matching the template, searched in batches. */
hc_rc hc_objects_find(hc_session *session, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		      CK_OBJECT_HANDLE **objects, size_t *found, hc_error *err);

/*
 * Fetch attributes in one C_GetAttributeValue. Set each .type; pValue must be
 * NULL. Values are allocated here and freed with hc_attrs_release. An attribute
 * the token does not have, or will not reveal, comes back with pValue NULL and
 * ulValueLen CK_UNAVAILABLE_INFORMATION.
 */
hc_rc hc_attrs_get(hc_session *session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
		   CK_ULONG count, hc_error *err);
void hc_attrs_release(CK_ATTRIBUTE *attrs, CK_ULONG count);
/*
 * Whether an object, judged by the attributes that did come back (its class
 * and key type), can have attribute `type` at all.
 */
typedef bool (*hc_attr_applicable_fn)(const CK_ATTRIBUTE *attrs, CK_ULONG count,
				      CK_ATTRIBUTE_TYPE type);
/*
 * hc_attrs_get for templates that span object classes: a variable-size value
 * that came back unavailable is asked for again (its size may have outgrown
 * the first buffer) only when `applicable` says the object can have it, or
 * the token answered CKR_BUFFER_TOO_SMALL. NULL: always ask again.
 */
hc_rc hc_attrs_get_applicable(hc_session *session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
			      CK_ULONG count, hc_attr_applicable_fn applicable, hc_error *err);
/* Raw C_GetAttributeValue on a caller-owned template (for probing): the CK_RV. */
CK_RV hc_attrs_probe(hc_session *session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
		     CK_ULONG count);

bool hc_attr_available(const CK_ATTRIBUTE *attr);
/* 1 true, 0 false, -1 unavailable */
int hc_attr_bool(const CK_ATTRIBUTE *attr);
bool hc_attr_ulong(const CK_ATTRIBUTE *attr, CK_ULONG *out);
/* Find an attribute in a template by type, or NULL. */
const CK_ATTRIBUTE *hc_attr_find(const CK_ATTRIBUTE *attrs, CK_ULONG count, CK_ATTRIBUTE_TYPE t);

hc_rc hc_attrs_set(hc_session *session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
		   CK_ULONG count, hc_error *err);
hc_rc hc_object_destroy(hc_session *session, CK_OBJECT_HANDLE object, hc_error *err);
hc_rc hc_object_create(hc_session *session, CK_ATTRIBUTE *tmpl, CK_ULONG count,
		       CK_OBJECT_HANDLE *out, hc_error *err);
/*
 * C_CreateObject; when the token rejects the template's attributes
 * (CKR_ATTRIBUTE_TYPE_INVALID and the like), once more without the
 * `optional` ones. *dropped (may be NULL) says whether they were left out.
 */
hc_rc hc_object_create_optional(hc_session *session, CK_ATTRIBUTE *tmpl, CK_ULONG count,
				const CK_ATTRIBUTE_TYPE *optional, size_t optional_count,
				CK_OBJECT_HANDLE *out, bool *dropped, hc_error *err);

/* ---- templates ------------------------------------------------------- */

/*
 * A template built attribute by attribute. Values are the caller's (they
 * must outlive the template's use) or, for booleans, the builder's
 * constants. Adding beyond HC_TEMPLATE_MAX is a programming error: the
 * attribute is dropped and `overflow` set (templates built from input check it).
 */
#define HC_TEMPLATE_MAX 24
typedef struct hc_template {
	CK_ATTRIBUTE attrs[HC_TEMPLATE_MAX];
	CK_ULONG count;
	bool overflow;
} hc_template;

void hc_template_add(hc_template *t, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len);
void hc_template_bool(hc_template *t, CK_ATTRIBUTE_TYPE type, bool value);

/* What a session AES key is for (hc_template_session_aes). */
enum {
	HC_AES_WRAP = 1 << 0,
	HC_AES_UNWRAP = 1 << 1,
	HC_AES_EXTRACTABLE = 1 << 2,
	HC_AES_SENSITIVE = 1 << 3,
	HC_AES_PRIVATE = 1 << 4, /* CKA_PRIVATE: only in a logged-in session */
};
/*
 * The one template of the AES keys hsmcert makes for a moment (backup's
 * KEKs and MAC keys, restore's unwrapping keys, audit's and capability
 * probes): a session object (CKA_TOKEN false, so it is gone when the
 * session ends, even if we crash), with every usage and protection said
 * explicitly rather than left to the token's defaults. The caller adds
 * CKA_VALUE or CKA_VALUE_LEN.
 */
void hc_template_session_aes(hc_template *t, unsigned flags);

/* ---- key generation ------------------------------------------------- */

typedef struct hc_keypair_spec {
	CK_KEY_TYPE key_type; /* CKK_RSA or CKK_EC */
	CK_ULONG rsa_bits;
	const unsigned char *ec_params; /* DER OID of the curve */
	size_t ec_params_len;
	const char *label;
	const unsigned char *id; /* may be NULL: set later */
	size_t id_len;
	bool extractable;
	bool recipient; /* an RSA key that receives backups: unwrap (public: wrap), no signing */
	bool session;	/* session objects (CKA_TOKEN=false): probes that leave nothing */
} hc_keypair_spec;

#define HC_KEYPAIR_MAX_ADDED 9

/* What keygen had to do to get a key the token accepts. */
typedef struct hc_keypair_notes {
	bool minimal_template;	  /* the full template was refused; a smaller one was used */
	bool extractable_cleared; /* token defaulted to extractable; we turned it off */
	bool sensitive_set;	  /* token defaulted to non-sensitive; we turned it on */
	CK_RV full_template_rv;
	/* Usages the token set although they were not asked (it ties them to those asked). */
	CK_ATTRIBUTE_TYPE added[HC_KEYPAIR_MAX_ADDED];
	size_t added_count;
} hc_keypair_notes;

/*
 * C_GenerateKeyPair with the security attributes asked for. If the token
 * refuses the template, retry with the smallest one that keeps them, then
 * read back and enforce sensitive / non-extractable. When a step after
 * C_GenerateKeyPair fails, *pub and *priv are still the new pair's handles
 * (CK_INVALID_HANDLE when nothing was generated): the caller removes it.
 */
hc_rc hc_keypair_generate(hc_session *session, const hc_keypair_spec *spec, CK_OBJECT_HANDLE *pub,
			  CK_OBJECT_HANDLE *priv, hc_keypair_notes *notes, hc_error *err);

/* ---- signing -------------------------------------------------------- */

/* C_SignInit + C_Sign with the two-call length protocol. *sig is malloc'd. */
hc_rc hc_sign(hc_session *session, CK_OBJECT_HANDLE key, CK_MECHANISM *mech,
	      const unsigned char *data, size_t data_len, unsigned char **sig, size_t *sig_len,
	      hc_error *err);
/*
 * As hc_sign; with `reauth` (a key with CKA_ALWAYS_AUTHENTICATE) the user PIN
 * the session logged in with is given again with C_Login(CKU_CONTEXT_SPECIFIC)
 * between C_SignInit and C_Sign.
 */
hc_rc hc_sign_reauth(hc_session *session, CK_OBJECT_HANDLE key, CK_MECHANISM *mech, bool reauth,
		     const unsigned char *data, size_t data_len, unsigned char **sig,
		     size_t *sig_len, hc_error *err);

/* ---- secret keys and wrapping --------------------------------------- */

/* C_GenerateKey (a secret key, e.g. a session AES key) from a caller's template. */
hc_rc hc_key_generate(hc_session *session, CK_MECHANISM *mech, CK_ATTRIBUTE *tmpl, CK_ULONG count,
		      CK_OBJECT_HANDLE *out, hc_error *err);

/*
 * C_WrapKey with the two-call length protocol. *wrapped is malloc'd; wipe it
 * (OPENSSL_clear_free) when done. A refusal fills err with C_WrapKey's CKR_.
 */
hc_rc hc_key_wrap(hc_session *session, CK_MECHANISM *mech, CK_OBJECT_HANDLE wrapping,
		  CK_OBJECT_HANDLE key, unsigned char **wrapped, size_t *wrapped_len,
		  hc_error *err);

/* C_UnwrapKey into a new object described by tmpl (CKA_KEY_TYPE included). */
hc_rc hc_key_unwrap(hc_session *session, CK_MECHANISM *mech, CK_OBJECT_HANDLE unwrapping,
		    const unsigned char *wrapped, size_t wrapped_len, CK_ATTRIBUTE *tmpl,
		    CK_ULONG count, CK_OBJECT_HANDLE *out, hc_error *err);

/*
 * C_UnwrapKey of a private key, negotiated: where the token says the template
 * is incomplete and public_value is given (an EC key's point, 04||X||Y), it is
 * asked again with the public value in the form the token files keys under
 * (NSS softoken). Nothing of the caller's template is dropped.
 */
hc_rc hc_key_unwrap_private(hc_session *session, CK_MECHANISM *mech, CK_OBJECT_HANDLE unwrapping,
			    const unsigned char *wrapped, size_t wrapped_len, CK_ATTRIBUTE *tmpl,
			    CK_ULONG count, const unsigned char *public_value, size_t public_len,
			    CK_OBJECT_HANDLE *out, hc_error *err);

/* ---- key wrap negotiation (pkcs11/kwp.c) ------------------------------ */

/* RFC 5649 on some tokens (NSS); not in p11-kit 0.24's pkcs11.h. */
#define HC_CKM_AES_KEY_WRAP_KWP 0x210BUL

typedef enum hc_wrap_meaning {
	HC_WRAP_NOT_LISTED = 0,
	HC_WRAP_REFUSED,       /* listed, but the known-answer wrap was refused (rv says why) */
	HC_WRAP_RFC5649,       /* the output is OpenSSL's EVP_aes_256_wrap_pad */
	HC_WRAP_RFC3394_PKCS7, /* RFC 3394 over PKCS#7 padding (NSS's 0x210A) */
	HC_WRAP_UNKNOWN,       /* something else */
} hc_wrap_meaning;
const char *hc_wrap_meaning_name(hc_wrap_meaning m);

typedef struct hc_wrap_test {
	CK_MECHANISM_TYPE mechanism;
	bool listed;	    /* in the mechanism list with CKF_WRAP */
	bool unwrap_listed; /* ... with CKF_UNWRAP */
	CK_RV rv;	    /* the known-answer C_WrapKey's answer (session objects) */
	hc_wrap_meaning meaning;
} hc_wrap_test;

typedef struct hc_wrap_choice {
	/* The mechanism whose output is RFC 5649 here, or CK_UNAVAILABLE_INFORMATION. */
	CK_MECHANISM_TYPE mechanism;
	hc_wrap_test tests[2]; /* CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD */
	size_t test_count;
	bool cbc_pad_wrap, cbc_pad_unwrap; /* CKM_AES_CBC_PAD listed for wrap / unwrap */
} hc_wrap_choice;

/*
 * Find the mechanism that gives RFC 5649 on the session's token by a
 * known-answer wrap of a fixed secret under a fixed AES key (both session
 * objects, destroyed before returning), compared with OpenSSL.
 */
hc_rc hc_wrap_negotiate(hc_session *session, hc_wrap_choice *out, hc_error *err);
/* The session's module is p11-kit's RPC client (a remote token). */
bool hc_wrap_over_rpc(const hc_session *session);
/* The error when no RFC 5649 mechanism exists: what was tried, and what to do; HC_TOKEN. */
hc_rc hc_wrap_refusal(const hc_session *session, const hc_wrap_choice *choice, const char *doing,
		      hc_error *err);

/*
 * A token's private key as an OpenSSL EVP_PKEY (libp11, pkcs11/evp_key.c),
 * for TLS. libp11 loads the module itself and finalises it (C_Finalize, and
 * C_CloseAllSessions when it releases its slots) on close, which ends every
 * other session on that module in the process: close those first.
 */
typedef struct hc_evp_key hc_evp_key;
typedef struct hc_evp_key_params {
	const char *module_path;  /* the module the key is on (the p11-kit proxy too) */
	const char *init_args;	  /* its C_Initialize pReserved (NSS softoken), or NULL */
	const char *token_serial; /* the token, as CK_TOKEN_INFO reports it */
	const char *token_label;
	const unsigned char *key_id; /* the private key's CKA_ID */
	size_t key_id_len;
	const char *key_label; /* to tell keys apart that share an id */
	const hc_secret *pin;  /* NULL: protected authentication path */
} hc_evp_key_params;

/*
 * HC_TOKEN when libp11 cannot load the module, log in or find the key (named
 * by libp11 call, the C_ functions it makes and the module's CKR_), or does
 * not return within timeout_ms: libp11 runs in a thread of its own, which is
 * given up then and frees what it holds if libp11 ever returns.
 */
hc_rc hc_evp_key_open(const hc_evp_key_params *params, long timeout_ms, hc_evp_key **out,
		      hc_error *err);
/* Valid until hc_evp_key_close. */
EVP_PKEY *hc_evp_key_pkey(const hc_evp_key *key);
void hc_evp_key_close(hc_evp_key *key);

#endif
