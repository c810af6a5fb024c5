/*
 * Certificates in reports (import, list, check): one JSON shape and one text
 * layout from the same hc_cert_info, so the two never disagree.
 */
#ifndef HSMCERT_CMD_CERTVIEW_H
#define HSMCERT_CMD_CERTVIEW_H

#include <jansson.h>
#include <time.h>

#include "hsmcert/x509.h"

/*
 * {subject, issuer, serial, not_before, not_after, days_left, sha1, sha256,
 *  key_type, key_bits, signature_algorithm, is_ca, sans:[{type, value, ulabel}]}
 */
json_t *cli_json_cert(const hc_cert_info *info, time_t now);

/* "DNS:www.example.hk, DNS:example.hk" (U-labels in brackets); caller frees. */
char *cli_sans_text(const hc_cert_info *info);

/* The same for any list of SANs (requests too): [{type, value, ulabel}] and text. */
json_t *cli_json_sans(const hc_san *sans, size_t count);
char *cli_sans_list_text(const hc_san *sans, size_t count);

/* Aligned lines: Subject, SANs, Issuer, Not after (days left), SHA-1, SHA-256. */
void cli_print_cert(const hc_cert_info *info, time_t now, int indent);

#endif
