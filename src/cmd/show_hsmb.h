/* show of a .hsmb backup (SPEC show), beside show's certificate formats. */
#ifndef HSMCERT_SHOW_HSMB_H
#define HSMCERT_SHOW_HSMB_H

#include "cli.h"

/* Describe the backup in data (text or --json); the exit status. */
int show_hsmb(const struct cli *cli, const char *path, const unsigned char *data, size_t len);

/*
 * When `path` is a .hsmb (by its magic), show it and set *shown; otherwise
 * leave the file to the certificate loader (*shown false, 0).
 */
int show_hsmb_if_backup(const struct cli *cli, const char *path, bool *shown);

#endif
