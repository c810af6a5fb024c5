/* The progress bar of provision and backup --all (see progress.h). */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

bool cli_progress_wanted(void)
{
	return isatty(STDERR_FILENO);
}

void cli_progress_draw(size_t done, size_t total, const char *label)
{
	const int width = 30;
	int filled = total ? (int)(done * (size_t)width / total) : width;

	/* Labels come from the token: control characters must not redraw the terminal. */
	fprintf(stderr, "\r[%.*s%*s] %zu/%zu ", filled,
		"==============================", width - filled, "", done, total);
	for (const char *c = label ? label : ""; *c; c++)
		fputc((unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c, stderr);
	fputs("\033[K", stderr);
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

void cli_progress_clear(void)
{
	fprintf(stderr, "\r\033[K");
}
