/* The one table from library conditions to command-line advice (see advice.h). */
#include "advice.h"

#include <stdio.h>

/* Appended to the library's message. */
static const char *const hint_text[] = {
	[HC_HINT_NONE] = "",
	[HC_HINT_FORCE_REPLACE] = "; use --force to replace it",
	[HC_HINT_FORCE_ERASE] = ": use --force to erase it",
	[HC_HINT_FORCE_RESTORE] = "; --force replaces it once the restored key is proved",
	[HC_HINT_IF_MISSING] = "; choose another label, or --if-missing to accept it",
	[HC_HINT_RECIPIENT_TYPE] = ": use --type rsa:2048 or larger",
	[HC_HINT_ROOTS] = ": use --roots",
	[HC_HINT_SUBJECT_EXAMPLE] = ", e.g. --subject 'CN=www.example.hk,O=My Org,C=HK'",
	[HC_HINT_HOST_NAME] = ": give CN= in the subject, --cn, --san or --wildcard",
	[HC_HINT_NAME_KEY] = ": name it with --key",
	[HC_HINT_NAME_LABEL] = ": name the key with --label",
	[HC_HINT_SERVER_NAME] = ": give --servername",
	[HC_HINT_DEPLOY_NAME] = ": give --server-name",
	[HC_HINT_PIN_SOURCE] = "; use pin-source=file:PATH or --pin-source",
	[HC_HINT_TOKEN_URI] = "; name one with --token pkcs11:token=LABEL (or serial=)",
	[HC_HINT_AGREE_TOS] = "; --agree-tos agrees to them",
	[HC_HINT_ACME_EAB] = ": give --eab-kid and --eab-hmac-source",
	[HC_HINT_HTTP_01] = "; or use --http-port N or --webroot DIR",
	[HC_HINT_REUSE_KEY] = ", or renew with --reuse-key",
};
_Static_assert(sizeof(hint_text) / sizeof(hint_text[0]) == HC_HINT_COUNT,
	       "every hc_hint has its advice");

/* The flag that gave the input, put before the message. */
static const char *const input_flag[] = {
	[HC_INPUT_NONE] = NULL,		[HC_INPUT_CHAIN] = "--chain",
	[HC_INPUT_ROOTS] = "--roots",	[HC_INPUT_CACHE] = "--cache",
	[HC_INPUT_CONFIG] = "--config", [HC_INPUT_SUBJECT] = "--subject",
	[HC_INPUT_LABEL] = "--label",	[HC_INPUT_POLICY] = "--policy",
	[HC_INPUT_RECIPIENT] = "--to",	[HC_INPUT_WILDCARD] = "--wildcard",
};
_Static_assert(sizeof(input_flag) / sizeof(input_flag[0]) == HC_INPUT_COUNT,
	       "every hc_input has its flag");

const char *cli_error_text(const hc_error *err, char *buf, size_t size)
{
	const char *flag = err->input > 0 && err->input < HC_INPUT_COUNT ? input_flag[err->input]
									 : NULL;
	const char *hint = err->hint > 0 && err->hint < HC_HINT_COUNT ? hint_text[err->hint] : NULL;

	snprintf(buf, size, "%s%s%s%s", flag ? flag : "", flag ? ": " : "",
		 err->message[0] ? err->message : "failed", hint ? hint : "");
	return buf;
}
