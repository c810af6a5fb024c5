/* Growing arrays (see array.h). */
#include "hsmcert/array.h"

#include <stdint.h>
#include <stdlib.h>

bool hc_array_grow(void *array, size_t *cap, size_t count, size_t elem)
{
	void **p = array;
	size_t n;
	void *bigger;

	if (count < *cap)
		return true;
	/* At least double, and past `count` whatever *cap said. */
	for (n = *cap ? *cap : 16; n <= count; n *= 2)
		if (n > SIZE_MAX / 2)
			return false;
	if (elem && n > SIZE_MAX / elem)
		return false;
	if (!(bigger = realloc(*p, n * elem)))
		return false;
	*p = bigger;
	*cap = n;
	return true;
}
