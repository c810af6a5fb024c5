/* A one-line progress bar on standard error, for long runs on a terminal (provision, backup). */
#ifndef HSMCERT_PROGRESS_H
#define HSMCERT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether standard error is a terminal a bar can be redrawn on. */
bool cli_progress_wanted(void);
/* Redraw the bar: "[=====     ] 12/40 label"; a newline once done == total. */
void cli_progress_draw(size_t done, size_t total, const char *label);
/* Erase the bar's line, so a message can be printed in its place. */
void cli_progress_clear(void);

#endif
