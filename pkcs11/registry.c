/* The modules behind p11-kit's proxy, so that `tokens` can name them. */
#include "internal.h"

#include <p11-kit/p11-kit.h>
#include <stdlib.h>
#include <string.h>

hc_rc hc_module_registered(const hc_module *mod, hc_registered_module **out, size_t *count,
			   hc_error *err)
{
	CK_FUNCTION_LIST **mods;
	hc_registered_module *list;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	if (!mod->dl)
		return HC_OK; /* a module named by path: nothing behind it */
	/* Loaded, not initialised: only their configuration is read. */
	mods = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
	if (!mods) {
		const char *why = p11_kit_message();
		return hc_fail(err, HC_TOKEN, "p11-kit: cannot load its registered modules: %s",
			       why ? why : "unknown reason");
	}
	while (mods[n])
		n++;
	list = calloc(n ? n : 1, sizeof(*list));
	if (!list) {
		p11_kit_modules_release(mods);
		return hc_fail(err, HC_IO, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		list[i].name = p11_kit_module_get_name(mods[i]);
		list[i].path = p11_kit_module_get_filename(mods[i]);
	}
	p11_kit_modules_release(mods);
	*out = list;
	*count = n;
	return HC_OK;
}

void hc_registered_modules_free(hc_registered_module *list, size_t count)
{
	for (size_t i = 0; list && i < count; i++) {
		free(list[i].name);
		free(list[i].path);
	}
	free(list);
}
