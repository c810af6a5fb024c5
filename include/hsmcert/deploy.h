/*
 * SPEC: deploy nginx|apache. The token key's certificate put in service: a
 * folder with the chain, an OpenSSL configuration that loads the libp11
 * engine for the token's module, a site for the server whose key is the
 * token key's pkcs11: URI with a pin-source, a complete configuration that
 * runs as is, and the PIN file. Then: can the service user reach the token
 * and the files, and does the server's own configuration test accept it?
 */
#ifndef HSMCERT_DEPLOY_H
#define HSMCERT_DEPLOY_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <sys/types.h>

#include "hsmcert/check.h"
#include "hsmcert/p11.h"

typedef enum hc_deploy_server {
	HC_DEPLOY_NGINX,
	HC_DEPLOY_APACHE,
} hc_deploy_server;

/* "nginx" or "apache"; anything else is HC_USAGE naming the kinds. */
hc_rc hc_deploy_server_parse(const char *name, hc_deploy_server *out, hc_error *err);
const char *hc_deploy_server_name(hc_deploy_server server);

/* Debian's packaged servers run their workers as this user. */
#define HC_DEPLOY_SERVICE_USER "www-data"
#define HC_DEPLOY_LISTEN "443"

typedef struct hc_deploy_params {
	hc_deploy_server server;
	const char *out_dir;
	const char *server_name;  /* NULL: the certificate's first DNS name */
	const char *listen;	  /* "PORT", "ADDR:PORT", "[V6]:PORT"; NULL: 443 */
	const char *service_user; /* NULL: www-data */
	const char *module_path;  /* the module the token was reached through */
	const CK_TOKEN_INFO *token;
	/*
	 * hc_check_key's result for the key: its certificate, and the chain
	 * verified (what a server sends after the leaf). A failed check refuses.
	 */
	const hc_check_result *checked;
	const hc_secret *pin; /* NULL: the token needs no login, no PIN file */
	/* The SoftHSM2 configuration the module reads (SOFTHSM2_CONF); NULL: its default. */
	const char *softhsm2_conf;
	bool force;
} hc_deploy_params;

/* A file written, with its role: "chain", "openssl_conf", "pin", "site", "config", "page". */
typedef struct hc_deploy_file {
	char *path;
	const char *role;
	mode_t mode;
} hc_deploy_file;

#define HC_DEPLOY_MAX_FILES 8

/* Something the service user cannot do, and the exact change that lets it. */
typedef struct hc_deploy_problem {
	char *path;
	char *problem;
	char *fix; /* a command line */
} hc_deploy_problem;

#define HC_DEPLOY_MAX_PROBLEMS 8

typedef struct hc_deploy_result {
	char *out_dir;	   /* absolute */
	char *key_uri;	   /* the key as the server names it, pin-source included */
	char *pin_file;	   /* NULL without a PIN */
	char *server_name; /* the name served */
	char *listen;	   /* as written in the configuration */
	char *service_user;
	hc_deploy_file files[HC_DEPLOY_MAX_FILES];
	size_t file_count;
	size_t chain_count; /* certificates in chain.pem, the leaf included */
	/* How to run it: environment, start, test, reload, stop; and the systemd drop-in. */
	char *environment; /* "OPENSSL_CONF=... SOFTHSM2_CONF=..." */
	char *start_command;
	char *test_command;
	char *reload_command;
	char *stop_command;
	char *systemd_unit;   /* "nginx.service" */
	char *systemd_dropin; /* the drop-in file's text */
	char *install_note;   /* what the packaged server's own configuration needs */
	hc_deploy_problem problems[HC_DEPLOY_MAX_PROBLEMS];
	size_t problem_count;
	bool token_files_checked; /* a software token whose files could be checked */
	bool tested;		  /* the server's configuration test ran */
	bool test_passed;
	char *test_output;
} hc_deploy_result;

/*
 * Validate everything, then write the files into out_dir (created when
 * missing). Nothing is written when anything is wrong (a failed check of the
 * key, an existing file without force, a bad name); a failure while writing
 * removes the files this call wrote. The service user's access is checked
 * afterwards into result->problems (not an error here: the caller decides).
 */
hc_rc hc_deploy_write(const hc_deploy_params *params, hc_deploy_result *out, hc_error *err);

/*
 * Run the server's own configuration test on what was written (nginx -t,
 * apache2 -t) with the environment it needs, bounded in time. HC_OK when it
 * passed, HC_CHECK when it failed (result->test_output says why), HC_IO when
 * the server cannot be run.
 */
hc_rc hc_deploy_test(const hc_deploy_params *params, hc_deploy_result *result, hc_error *err);

void hc_deploy_result_clear(hc_deploy_result *result);

#endif
