/* The modules behind p11-kit's proxy, so that `tokens` can name them. */
#include "internal.h"

#include <dirent.h>
#include <p11-kit/p11-kit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Whether a module file keeps its module out of p11-kit's proxy: a
 * `disable-in:` list that names p11-kit-proxy, or an `enable-in:` list that
 * does not. p11-kit's API lists only the modules it loads, so the files in its
 * configuration directory are read for the others.
 */
static bool disabled_for_proxy(const char *path, char **library)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	bool disabled = false;

	*library = NULL;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');
		if (!v)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		v[strcspn(v, "\r\n")] = '\0';
		if (strcmp(line, "disable-in") == 0 && strstr(v, "p11-kit-proxy"))
			disabled = true;
		else if (strcmp(line, "enable-in") == 0 && !strstr(v, "p11-kit-proxy"))
			disabled = true;
		else if (strcmp(line, "module") == 0 && !*library)
			*library = strdup(v);
	}
	fclose(f);
	return disabled;
}

static size_t add_disabled(hc_registered_module **list, size_t n)
{
	DIR *d = opendir(HSMCERT_P11KIT_MODULE_CONFIGS);
	struct dirent *e;

	if (!d)
		return n;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char path[4096], *library = NULL;
		hc_registered_module *grown;
		if (len < 8 || strcmp(e->d_name + len - 7, ".module") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", HSMCERT_P11KIT_MODULE_CONFIGS, e->d_name);
		bool known = false;
		if (!disabled_for_proxy(path, &library)) {
			free(library);
			continue;
		}
		/* p11-kit's own listing includes it when asked outside the proxy: mark it. */
		for (size_t i = 0; i < n; i++) {
			if ((*list)[i].name && strlen((*list)[i].name) == len - 7 &&
			    strncmp((*list)[i].name, e->d_name, len - 7) == 0) {
				(*list)[i].disabled = known = true;
			}
		}
		if (known || !(grown = realloc(*list, (n + 1) * sizeof(**list)))) {
			free(library);
			continue;
		}
		*list = grown;
		grown[n] = (hc_registered_module){strndup(e->d_name, len - 7), library, true,
						  CKR_OK};
		n++;
	}
	closedir(d);
	return n;
}

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
		CK_RV rv;
		list[i].name = p11_kit_module_get_name(mods[i]);
		list[i].path = p11_kit_module_get_filename(mods[i]);
		/*
		 * The proxy leaves out a module whose C_Initialize fails: ask it
		 * again, so `tokens` can say why its slots are missing. Already
		 * initialised (by the proxy, in this process) is fine.
		 */
		rv = p11_kit_module_initialize(mods[i]);
		list[i].init_rv = rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? CKR_OK : rv;
		if (rv == CKR_OK)
			p11_kit_module_finalize(mods[i]);
	}
	p11_kit_modules_release(mods);
	n = add_disabled(&list, n);
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
