/*
 * The twelve boolean attributes reported for every key (SPEC: keygen,
 * audit), listed once. Each X(field, cka, name, column) gives the
 * hc_key_info field, the PKCS#11 attribute, the name in JSON and text
 * (the attribute without its CKA_ prefix, lowercase) and the audit table's
 * column header (NULL: not a column). The order is the order of reports:
 * what audit's non-exportable policy reads first.
 */
#ifndef HSMCERT_KEY_FLAGS_H
#define HSMCERT_KEY_FLAGS_H

#define HC_KEY_FLAGS(X)                                                                            \
	X(token, CKA_TOKEN, "token", NULL)                                                         \
	X(sensitive, CKA_SENSITIVE, "sensitive", "SENS")                                           \
	X(extractable, CKA_EXTRACTABLE, "extractable", "EXTR")                                     \
	X(always_sensitive, CKA_ALWAYS_SENSITIVE, "always_sensitive", "ASENS")                     \
	X(never_extractable, CKA_NEVER_EXTRACTABLE, "never_extractable", "NEXTR")                  \
	X(local, CKA_LOCAL, "local", "LOCAL")                                                      \
	X(private_, CKA_PRIVATE, "private", "PRIV")                                                \
	X(modifiable, CKA_MODIFIABLE, "modifiable", "MOD")                                         \
	X(copyable, CKA_COPYABLE, "copyable", "COPY")                                              \
	X(destroyable, CKA_DESTROYABLE, "destroyable", "DESTR")                                    \
	X(wrap_with_trusted, CKA_WRAP_WITH_TRUSTED, "wrap_with_trusted", "WWT")                    \
	X(always_authenticate, CKA_ALWAYS_AUTHENTICATE, "always_authenticate", "AAUTH")

#define HC_KEY_FLAG_COUNT_ONE(field, cka, name, column) +1
enum { HC_KEY_FLAG_COUNT = 0 HC_KEY_FLAGS(HC_KEY_FLAG_COUNT_ONE) };

/*
 * The usages (SPEC audit, restore): what the token lets a key do, listed
 * once. X(field, cka, name, secret_only): wrap and encrypt are reported for
 * secret keys only (a private key neither wraps nor encrypts).
 */
#define HC_KEY_USAGES(X)                                                                           \
	X(sign, CKA_SIGN, "sign", false)                                                           \
	X(decrypt, CKA_DECRYPT, "decrypt", false)                                                  \
	X(unwrap, CKA_UNWRAP, "unwrap", false)                                                     \
	X(derive, CKA_DERIVE, "derive", false)                                                     \
	X(wrap, CKA_WRAP, "wrap", true)                                                            \
	X(encrypt, CKA_ENCRYPT, "encrypt", true)

#define HC_KEY_USAGE_COUNT_ONE(field, cka, name, secret_only) +1
enum { HC_KEY_USAGE_COUNT = 0 HC_KEY_USAGES(HC_KEY_USAGE_COUNT_ONE) };

#endif
