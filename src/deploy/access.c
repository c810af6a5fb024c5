/*
 * SPEC: deploy checks that the service user can reach the token: the
 * server's workers run as that user and sign through the module after the
 * master forked them, so a software token's files (SoftHSM2: "Object handle
 * invalid" when they are root's), the PIN file and the served folder must be
 * within its reach. Permissions are read from the file system (owner, group,
 * the user's groups, mode bits), nothing is changed: each problem comes with
 * the exact command that fixes it.
 */
#include "internal.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct who {
	uid_t uid;
	gid_t groups[64];
	int ngroups;
	const char *user, *group;
};

static bool in_groups(const struct who *w, gid_t gid)
{
	for (int i = 0; i < w->ngroups; i++)
		if (w->groups[i] == gid)
			return true;
	return false;
}

/* Does `w` have all of `want` (4 read, 2 write, 1 search/execute) on this file? */
static bool allowed(const struct who *w, const struct stat *st, unsigned want)
{
	unsigned bits;

	if (w->uid == 0)
		return true;
	if (st->st_uid == w->uid)
		bits = (st->st_mode >> 6) & 7;
	else if (in_groups(w, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return (bits & want) == want;
}

static void problem(hc_deploy_result *r, const char *path, char *text, char *fix)
{
	hc_deploy_problem *p;

	for (size_t i = 0; i < r->problem_count; i++)
		if (strcmp(r->problems[i].path, path) == 0)
			goto drop; /* one problem per path is enough */
	if (r->problem_count == HC_DEPLOY_MAX_PROBLEMS || !text || !fix)
		goto drop;
	p = &r->problems[r->problem_count];
	if (!(p->path = strdup(path)))
		goto drop;
	p->problem = text;
	p->fix = fix;
	r->problem_count++;
	return;
drop:
	free(text);
	free(fix);
}

/* Every folder above `path` must let the user through (x). */
static void check_path(const struct who *w, const char *path, hc_deploy_result *r)
{
	char *copy = strdup(path);
	struct stat st;

	if (!copy)
		return;
	for (char *s = strchr(copy + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (stat(copy, &st) == 0 && !allowed(w, &st, 1))
			problem(r, copy, deploy_text("%s cannot pass through the folder", w->user),
				deploy_text("chmod o+x %s", copy));
		*s = '/';
	}
	free(copy);
}

/* The file (or folder) itself with `want`; the fix makes it the user's group's. */
static void check_file(const struct who *w, const char *path, unsigned want, const char *what,
		       bool recursive, hc_deploy_result *r)
{
	struct stat st;
	const char *rights = want == 4 ? "read" : want == 6 ? "read and write" : "read";

	check_path(w, path, r);
	if (stat(path, &st) != 0) {
		problem(r, path, deploy_text("%s is missing", what), deploy_text("check %s", path));
		return;
	}
	if (S_ISDIR(st.st_mode))
		want |= 1;
	if (!allowed(w, &st, want))
		problem(r, path, deploy_text("%s cannot %s %s", w->user, rights, what),
			recursive ? deploy_text("chown -R %s:%s %s", w->user, w->group, path)
			: S_ISDIR(st.st_mode)
				? deploy_text("chgrp %s %s && chmod g+rx %s", w->group, path, path)
				: deploy_text("chgrp %s %s && chmod g+r %s", w->group, path, path));
}

/* directories.tokendir from a SoftHSM2 configuration; NULL when it names none. */
static char *softhsm_tokendir(const char *conf)
{
	FILE *f = fopen(conf, "r");
	char line[4096], *dir = NULL;

	if (!f)
		return NULL;
	while (!dir && fgets(line, sizeof(line), f)) {
		char *s = line, *e;
		while (*s == ' ' || *s == '\t')
			s++;
		if (strncmp(s, "directories.tokendir", 20) != 0)
			continue;
		s += 20;
		s += strspn(s, " \t");
		if (*s++ != '=')
			continue;
		s += strspn(s, " \t");
		e = s + strcspn(s, "\r\n");
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s)
			dir = strndup(s, (size_t)(e - s));
	}
	fclose(f);
	return dir;
}

/* SoftHSM2 names a token's folder by a UUID whose last 16 hex digits are the serial. */
static char *softhsm_token_folder(const char *tokendir, const char *serial)
{
	DIR *d = opendir(tokendir);
	struct dirent *e;
	char *found = NULL;

	if (!d)
		return NULL;
	while (!found && (e = readdir(d)) != NULL) {
		char hex[64];
		size_t n = 0;
		for (const char *s = e->d_name; *s && n < sizeof(hex) - 1; s++)
			if (*s != '-')
				hex[n++] = *s;
		hex[n] = '\0';
		if (n >= 16 && strlen(serial) == 16 && strcmp(hex + n - 16, serial) == 0 &&
		    asprintf(&found, "%s/%s", tokendir, e->d_name) < 0)
			found = NULL;
	}
	closedir(d);
	return found;
}

/* The token folder and each of its files: the user reads and writes them (locks). */
static void check_token_folder(const struct who *w, const char *folder, hc_deploy_result *r)
{
	DIR *d;
	struct dirent *e;

	check_file(w, folder, 6, "the token's folder", true, r);
	if (r->problem_count && strcmp(r->problems[r->problem_count - 1].path, folder) == 0)
		return;
	if (!(d = opendir(folder)))
		return;
	while ((e = readdir(d)) != NULL) {
		char *path;
		struct stat st;
		if (e->d_name[0] == '.' || asprintf(&path, "%s/%s", folder, e->d_name) < 0)
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && !allowed(w, &st, 6)) {
			problem(r, folder,
				deploy_text(
					"%s cannot read and write the token's files (%s is %s's, mode "
					"%03o)",
					w->user, path,
					getpwuid(st.st_uid) ? getpwuid(st.st_uid)->pw_name
							    : "another user's",
					(unsigned)(st.st_mode & 0777)),
				deploy_text("chown -R %s:%s %s", w->user, w->group, folder));
			free(path);
			break;
		}
		free(path);
	}
	closedir(d);
}

static void check_softhsm(const struct who *w, const hc_deploy_params *params, hc_deploy_result *r)
{
	const char *conf = params->softhsm2_conf ? params->softhsm2_conf
						 : "/etc/softhsm/softhsm2.conf";
	char serial[17], *tokendir = NULL, *folder = NULL;

	HC_P11_STRING(params->token->serialNumber, serial);
	check_file(w, conf, 4, "the SoftHSM2 configuration", false, r);
	if (!(tokendir = softhsm_tokendir(conf)))
		return;
	r->token_files_checked = true;
	check_file(w, tokendir, 4, "SoftHSM2's token folder", false, r);
	folder = softhsm_token_folder(tokendir, serial);
	check_token_folder(w, folder ? folder : tokendir, r);
	free(folder);
	free(tokendir);
}

void deploy_check_access(const struct deploy_plan *p, const hc_deploy_params *params,
			 hc_deploy_result *r)
{
	struct who w = {.user = p->user, .group = p->group, .ngroups = 64, .uid = p->uid};
	char manufacturer[33], *page = NULL;

	if (getgrouplist(p->user, p->gid, w.groups, &w.ngroups) < 0)
		w.ngroups = 0;
	if (r->pin_file) {
		struct stat st;
		check_file(&w, r->pin_file, 4, "the PIN file", false, r);
		if (stat(r->pin_file, &st) == 0 && (st.st_mode & 07))
			problem(r, r->pin_file,
				deploy_text("the PIN file is readable by every user"),
				deploy_text("chmod o-rwx %s", r->pin_file));
	}
	if (asprintf(&page, "%s/%s/index.html", r->out_dir, DEPLOY_PAGE_DIR) >= 0)
		check_file(&w, page, 4, "the served page", false, r);
	free(page);
	HC_P11_STRING(params->token->manufacturerID, manufacturer);
	if (strcmp(manufacturer, "SoftHSM project") == 0)
		check_softhsm(&w, params, r);
}
