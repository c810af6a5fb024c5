/* Shared by src/deploy/: what the configuration texts are made from. */
#ifndef HSMCERT_DEPLOY_INTERNAL_H
#define HSMCERT_DEPLOY_INTERNAL_H

#include "hsmcert/deploy.h"

#include <stdio.h>

/* Everything the texts name, settled and validated before any text is made. */
struct deploy_plan {
	hc_deploy_server server;
	const char *dir; /* absolute, no trailing slash */
	const char *server_name;
	const char *listen;	  /* as the server's listen directive takes it */
	const char *vhost;	  /* Apache's <VirtualHost> address: "*:443" or ADDR:PORT */
	const char *user, *group; /* the service user and its primary group */
	uid_t uid;
	gid_t gid;
	const char *module_path;
	const char *engine_path;   /* libp11's engine (pkcs11.so) */
	const char *softhsm2_conf; /* to pass to the server; NULL: none */
	const char *key_uri;	   /* with the pin-source */
	const char *key_label, *token_label;
};

/* The texts (caller frees): the engine's OpenSSL config, the site, the complete config. */
char *deploy_openssl_cnf(const struct deploy_plan *p);
char *deploy_site(const struct deploy_plan *p);
char *deploy_config(const struct deploy_plan *p);
char *deploy_page(const struct deploy_plan *p);

/* A formatted string (caller frees); NULL when out of memory. */
char *deploy_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* File names in the folder. */
const char *deploy_site_name(hc_deploy_server server);
const char *deploy_config_name(hc_deploy_server server);

/* The commands, drop-in and install note, into the result. */
hc_rc deploy_describe_run(const struct deploy_plan *p, hc_deploy_result *r, hc_error *err);

/* The service user's access to the token's files, the PIN file and the folder. */
void deploy_check_access(const struct deploy_plan *p, const hc_deploy_params *params,
			 hc_deploy_result *r);

#define DEPLOY_PIN_FILE "token.pin"
#define DEPLOY_CHAIN_FILE "chain.pem"
#define DEPLOY_OPENSSL_FILE "openssl.cnf"
#define DEPLOY_PAGE_DIR "www"
#define DEPLOY_RUN_DIR "run"

#endif
