/* Certificates in reports: see certview.h. */
#include "certview.h"

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *cli_json_cert(const hc_cert_info *info, time_t now)
{
	char not_before[21], not_after[21];
	json_t *sans = cli_json_sans(info->sans, info->san_count);

	hc_time_iso8601(info->not_before, not_before);
	hc_time_iso8601(info->not_after, not_after);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:s, s:b, s:o}",
			 "subject", info->subject, "issuer", info->issuer, "serial", info->serial,
			 "not_before", not_before, "not_after", not_after, "days_left",
			 (json_int_t)hc_days_until(info->not_after, now), "sha1", info->sha1,
			 "sha256", info->sha256, "key_type", info->key_type, "key_bits",
			 (json_int_t)info->key_bits, "signature_algorithm",
			 info->signature_algorithm, "is_ca", info->is_ca, "sans", sans);
}

json_t *cli_json_sans(const hc_san *sans, size_t count)
{
	json_t *list = json_array();

	for (size_t i = 0; i < count; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "type", sans[i].type,
						      "value", sans[i].value, "ulabel",
						      cli_json_string(sans[i].ulabel)));
	return list;
}

char *cli_sans_list_text(const hc_san *sans, size_t count)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		fprintf(f, "%s%s:%s", i ? ", " : "", sans[i].type, sans[i].value);
		if (sans[i].ulabel)
			fprintf(f, " (%s)", sans[i].ulabel);
	}
	fclose(f);
	return text;
}

char *cli_sans_text(const hc_cert_info *info)
{
	return cli_sans_list_text(info->sans, info->san_count);
}

void cli_print_cert(const hc_cert_info *info, time_t now, int indent)
{
	char not_after[21];
	char *sans = cli_sans_text(info);
	long days = hc_days_until(info->not_after, now);

	hc_time_iso8601(info->not_after, not_after);
	printf("%*s%-20s%s\n", indent, "", "Subject", cli_text(info->subject));
	if (sans && *sans)
		printf("%*s%-20s%s\n", indent, "", "SANs", cli_text(sans));
	printf("%*s%-20s%s\n", indent, "", "Issuer", cli_text(info->issuer));
	printf("%*s%-20s%s (%ld day%s %s)\n", indent, "", "Not after", not_after,
	       days < 0 ? -days : days, (days == 1 || days == -1) ? "" : "s",
	       days < 0 ? "ago" : "left");
	printf("%*s%-20s%s\n", indent, "", "SHA-1", info->sha1);
	printf("%*s%-20s%s\n", indent, "", "SHA-256", info->sha256);
	free(sans);
}
