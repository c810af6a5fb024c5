/* Loading a PKCS#11 module through p11-kit, and listing its slots. */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <p11-kit/p11-kit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool is_proxy(const char *path)
{
	const char *base = strrchr(path, '/');
	return strcmp(base ? base + 1 : path, "p11-kit-proxy.so") == 0;
}

static CK_RV load_failed(hc_module *mod, hc_error *err)
{
	const char *why = p11_kit_message();

	hc_fail(err, HC_USAGE, "cannot load PKCS#11 module %s: %s", mod->path,
		why ? why : "not a PKCS#11 module");
	return CKR_GENERAL_ERROR;
}

/* C_Initialize on a module we hold raw; one that someone else initialised is not ours to finalise.
 */
static CK_RV initialize(hc_module *mod, CK_C_INITIALIZE_ARGS *args, hc_error *err)
{
	CK_RV rv = mod->fn->C_Initialize(args);

	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return CKR_OK;
	if (rv != CKR_OK) {
		hc_fail_p11(err, "C_Initialize", rv, "initialising module %s", mod->path);
		return rv;
	}
	mod->finalize = true;
	return CKR_OK;
}

/* Named modules: through p11-kit, managed (see below). Returns CKR_OK or fills err. */
static CK_RV load_managed(hc_module *mod, hc_error *err)
{
	CK_RV rv;

	/*
	 * Managed loading: p11-kit gives this handle its own reference-counted
	 * C_Initialize/C_Finalize, so other users of the same module in this
	 * process (libp11 for TLS) are not finalised under us, and we under them.
	 */
	mod->fn = p11_kit_module_load(mod->path, 0);
	if (!mod->fn)
		return load_failed(mod, err);
	mod->via_p11kit = mod->managed = true;
	rv = p11_kit_module_initialize(mod->fn);
	if (rv != CKR_OK) {
		hc_fail_p11(err, "C_Initialize", rv, "initialising module %s", mod->path);
		return rv;
	}
	mod->finalize = true;
	return CKR_OK;
}

/*
 * HC_MODULE_ONE_THREAD: the raw module, initialised with no arguments (the
 * application will not call it from several threads), so it takes no locks.
 */
static CK_RV load_one_thread(hc_module *mod, hc_error *err)
{
	mod->fn = p11_kit_module_load(mod->path, P11_KIT_MODULE_UNMANAGED);
	if (!mod->fn)
		return load_failed(mod, err);
	mod->via_p11kit = true;
	return initialize(mod, NULL, err);
}

/* The p11-kit proxy (every registered module): p11-kit refuses to load it as a module. */
static CK_RV load_proxy(hc_module *mod, bool one_thread, hc_error *err)
{
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_C_GetFunctionList get;
	CK_RV rv;

	mod->dl = dlopen(mod->path, RTLD_NOW | RTLD_LOCAL);
	if (!mod->dl) {
		hc_fail(err, HC_USAGE, "cannot load PKCS#11 module %s: %s", mod->path, dlerror());
		return CKR_GENERAL_ERROR;
	}
	get = (CK_C_GetFunctionList)dlsym(mod->dl, "C_GetFunctionList");
	if (!get) {
		hc_fail(err, HC_USAGE, "%s is not a PKCS#11 module (no C_GetFunctionList)",
			mod->path);
		return CKR_GENERAL_ERROR;
	}
	rv = get(&mod->fn);
	if (rv != CKR_OK || !mod->fn) {
		mod->fn = NULL;
		hc_fail_p11(err, "C_GetFunctionList", rv, "module %s", mod->path);
		return rv ? rv : CKR_GENERAL_ERROR;
	}
	return initialize(mod, one_thread ? NULL : &args, err);
}

/*
 * A p11-kit module file (`module:` and `x-init-reserved:` lines), the way a
 * module that needs C_Initialize arguments (NSS softoken: its database) is
 * described. p11-kit reads such files only from its configured directories,
 * and not per-user ones for root, so a file the user names is read here.
 */
static bool is_module_file(const char *path)
{
	size_t n = strlen(path);
	return n > 7 && strcmp(path + n - 7, ".module") == 0;
}

static char *trimmed(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static CK_RV read_module_file(hc_module *mod, hc_error *err)
{
	FILE *f = fopen(mod->path, "r");
	char line[4096];

	if (!f) {
		hc_fail(err, HC_IO, "module file %s: %s", mod->path, strerror(errno));
		return CKR_GENERAL_ERROR;
	}
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *key = trimmed(line), *value;
		char **slot = NULL;

		if (*key == '#' || !colon)
			continue;
		*colon = '\0';
		value = trimmed(colon + 1);
		key = trimmed(key);
		if (strcmp(key, "module") == 0)
			slot = &mod->library;
		else if (strcmp(key, "x-init-reserved") == 0)
			slot = &mod->init_args;
		if (slot && !*slot && !(*slot = strdup(value))) {
			fclose(f);
			hc_fail(err, HC_IO, "out of memory");
			return CKR_HOST_MEMORY;
		}
	}
	fclose(f);
	if (!mod->library || !*mod->library) {
		hc_fail(err, HC_USAGE, "module file %s has no 'module:' line naming the library",
			mod->path);
		return CKR_GENERAL_ERROR;
	}
	if (mod->library[0] != '/') {
		/* p11-kit's rule: a bare name is in its module directory. */
		char *full = malloc(strlen(HSMCERT_P11KIT_MODULE_DIR) + strlen(mod->library) + 2);
		if (!full) {
			hc_fail(err, HC_IO, "out of memory");
			return CKR_HOST_MEMORY;
		}
		sprintf(full, "%s/%s", HSMCERT_P11KIT_MODULE_DIR, mod->library);
		free(mod->library);
		mod->library = full;
	}
	return CKR_OK;
}

/* The library a module file names, initialised with the file's arguments. */
static CK_RV load_module_file(hc_module *mod, hc_error *err)
{
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = read_module_file(mod, err);

	if (rv != CKR_OK)
		return rv;
	mod->fn = p11_kit_module_load(mod->library, P11_KIT_MODULE_UNMANAGED);
	if (!mod->fn) {
		const char *why = p11_kit_message();
		hc_fail(err, HC_USAGE, "cannot load PKCS#11 module %s (from %s): %s", mod->library,
			mod->path, why ? why : "not a PKCS#11 module");
		return CKR_GENERAL_ERROR;
	}
	mod->via_p11kit = true;
	args.pReserved = mod->init_args;
	return initialize(mod, &args, err);
}

/* PATH under the working directory, symbolic links kept as the user named them. */
static char *absolute(const char *path)
{
	char *cwd = getcwd(NULL, 0), *abs = NULL;

	if (cwd && (abs = malloc(strlen(cwd) + strlen(path) + 2)))
		sprintf(abs, "%s/%s", cwd, path);
	free(cwd);
	return abs;
}

hc_rc hc_module_open(const char *path, unsigned flags, hc_module **out, hc_error *err)
{
	hc_module *mod;
	CK_RV rv;

	*out = NULL;
	if (!path || !*path)
		path = HSMCERT_P11KIT_PROXY;
	/* A bare name is looked up in p11-kit's module directory; a path must exist. */
	if (strchr(path, '/') && access(path, R_OK) != 0)
		return hc_fail(err, HC_USAGE, "PKCS#11 module %s: %s", path, strerror(errno));

	mod = calloc(1, sizeof(*mod));
	/*
	 * A relative path is made absolute: p11-kit would look for it under its
	 * own module directory (--module ./lib.so would name another file).
	 */
	if (!mod ||
	    !(mod->path = strchr(path, '/') && path[0] != '/' ? absolute(path) : strdup(path))) {
		free(mod);
		return hc_fail(err, HC_IO, "out of memory");
	}
	if (is_module_file(mod->path))
		rv = load_module_file(mod, err);
	else if (is_proxy(mod->path))
		rv = load_proxy(mod, flags & HC_MODULE_ONE_THREAD, err);
	else if (flags & HC_MODULE_ONE_THREAD)
		rv = load_one_thread(mod, err);
	else
		rv = load_managed(mod, err);
	if (rv != CKR_OK)
		goto fail;
	rv = mod->fn->C_GetInfo(&mod->info);
	if (rv != CKR_OK) {
		hc_fail_p11(err, "C_GetInfo", rv, "module %s", path);
		goto fail;
	}
	*out = mod;
	return HC_OK;

fail:
	hc_module_close(mod);
	return err ? err->rc : HC_TOKEN;
}

void hc_module_close(hc_module *mod)
{
	if (!mod)
		return;
	if (mod->managed && mod->finalize)
		p11_kit_module_finalize(mod->fn);
	else if (mod->fn && mod->finalize)
		mod->fn->C_Finalize(NULL);
	if (mod->via_p11kit)
		p11_kit_module_release(mod->fn);
	if (mod->dl)
		dlclose(mod->dl);
	free(mod->library);
	free(mod->init_args);
	free(mod->path);
	free(mod);
}

const char *hc_module_library(const hc_module *mod)
{
	return mod->library ? mod->library : mod->path;
}

const char *hc_module_init_args(const hc_module *mod)
{
	return mod->init_args;
}

const char *hc_module_path(const hc_module *mod)
{
	return mod->path;
}

const CK_INFO *hc_module_info(const hc_module *mod)
{
	return &mod->info;
}

hc_rc hc_slot_refresh(hc_module *mod, hc_slot *slot, hc_error *err)
{
	CK_RV rv = mod->fn->C_GetSlotInfo(slot->id, &slot->info);

	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_GetSlotInfo", rv, "slot %lu", slot->id);
	slot->has_token = false;
	if (slot->info.flags & CKF_TOKEN_PRESENT) {
		rv = mod->fn->C_GetTokenInfo(slot->id, &slot->token);
		if (rv == CKR_OK)
			slot->has_token = true;
		else if (rv != CKR_TOKEN_NOT_PRESENT && rv != CKR_TOKEN_NOT_RECOGNIZED)
			return hc_fail_p11(err, "C_GetTokenInfo", rv, "slot %lu", slot->id);
	}
	return HC_OK;
}

hc_rc hc_slots_list(hc_module *mod, bool token_present, hc_slot **slots, size_t *count,
		    hc_error *err)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0;
	hc_slot *list = NULL;
	hc_rc rc = HC_OK;
	CK_RV rv;

	*slots = NULL;
	*count = 0;
	/* The list can grow between the two calls (hot-plug): retry on BUFFER_TOO_SMALL. */
	for (;;) {
		rv = mod->fn->C_GetSlotList(token_present, NULL, &n);
		if (rv != CKR_OK)
			return hc_fail_p11(err, "C_GetSlotList", rv, "listing slots");
		free(ids);
		ids = calloc(n ? n : 1, sizeof(*ids));
		if (!ids)
			return hc_fail(err, HC_IO, "out of memory");
		rv = mod->fn->C_GetSlotList(token_present, ids, &n);
		if (rv != CKR_BUFFER_TOO_SMALL)
			break;
	}
	if (rv != CKR_OK) {
		rc = hc_fail_p11(err, "C_GetSlotList", rv, "listing slots");
		goto out;
	}
	list = calloc(n ? n : 1, sizeof(*list));
	if (!list) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		list[i].id = ids[i];
		rc = hc_slot_refresh(mod, &list[i], err);
		if (rc != HC_OK)
			goto out;
	}
	*slots = list;
	*count = n;
	list = NULL;
out:
	free(list);
	free(ids);
	return rc;
}

hc_rc hc_slot_mechanisms(hc_module *mod, CK_SLOT_ID slot, hc_mechanism **mechs, size_t *count,
			 hc_error *err)
{
	CK_MECHANISM_TYPE *types = NULL;
	hc_mechanism *list = NULL;
	CK_ULONG n = 0;
	hc_rc rc = HC_OK;
	CK_RV rv;

	*mechs = NULL;
	*count = 0;
	rv = mod->fn->C_GetMechanismList(slot, NULL, &n);
	if (rv != CKR_OK)
		return hc_fail_p11(err, "C_GetMechanismList", rv, "slot %lu", slot);
	/*
	 * p11-kit 0.24's RPC client counts only the mechanisms it can forward,
	 * then writes the server's whole list into the buffer: measured, a heap
	 * overflow. Room to spare, and the count it returns, keep us safe.
	 */
	n += 512;
	types = calloc(n, sizeof(*types));
	list = calloc(n, sizeof(*list));
	if (!types || !list) {
		rc = hc_fail(err, HC_IO, "out of memory");
		goto out;
	}
	rv = mod->fn->C_GetMechanismList(slot, types, &n);
	if (rv != CKR_OK) {
		rc = hc_fail_p11(err, "C_GetMechanismList", rv, "slot %lu", slot);
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		list[i].type = types[i];
		rv = mod->fn->C_GetMechanismInfo(slot, types[i], &list[i].info);
		if (rv != CKR_OK) {
			rc = hc_fail_p11(err, "C_GetMechanismInfo", rv, "%s on slot %lu",
					 hc_ckm_name(types[i]), slot);
			goto out;
		}
	}
	*mechs = list;
	*count = n;
	list = NULL;
out:
	free(list);
	free(types);
	return rc;
}

hc_rc hc_token_initialize(hc_module *mod, CK_SLOT_ID slot, const hc_secret *so_pin,
			  const char *label, hc_error *err)
{
	/*
	 * 32 blank-padded bytes, and a NUL after them: p11-kit 0.24's RPC client
	 * sends the label with strlen() (measured: it reads past 32 bytes).
	 */
	CK_UTF8CHAR padded[33] = {0};
	size_t n = strlen(label);
	CK_RV rv;

	if (n == 0 || n > 32)
		return hc_fail(err, HC_USAGE, "token label '%s' must be 1 to 32 bytes", label);
	memset(padded, ' ', 32);
	memcpy(padded, label, n);
	rv = mod->fn->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin->data, so_pin->len, padded);
	if (rv != CKR_OK) {
		hc_fail_p11(err, "C_InitToken", rv, "initialising token '%s' in slot %lu", label,
			    slot);
		/* A wrong SO PIN is reported with the tries it leaves, as at C_Login. */
		hc_p11_note_pin_state(mod->fn, slot, CKU_SO, rv, NULL, err);
		return HC_TOKEN;
	}
	return HC_OK;
}

bool hc_token_threads_safe(const hc_slot *slot)
{
	static const char softhsm[] = "SoftHSM";

	/* By the token, not the module: behind p11-kit's proxy the module is the proxy. */
	return !(slot->has_token &&
		 memcmp(slot->token.manufacturerID, softhsm, sizeof(softhsm) - 1) == 0);
}

bool hc_token_has_so_pin(const hc_slot *slot)
{
	static const char mozilla[] = "Mozilla Foundation", nss[] = "NSS ";

	/*
	 * NSS softoken has no SO: its C_InitToken takes an empty SO PIN, and the
	 * SO logs in with an empty PIN, in a read-write session, only while the
	 * database has no password (NSC_InitToken, NSC_Login).
	 */
	return !(slot->has_token &&
		 memcmp(slot->token.manufacturerID, mozilla, sizeof(mozilla) - 1) == 0 &&
		 memcmp(slot->token.model, nss, sizeof(nss) - 1) == 0);
}
