/* Growing arrays (see array.h). */
#include "hsmcert/array.h"

#include <stdint.h>
#include <stdlib.h>

bool hc_array_reserve(void *array, size_t *cap, size_t need, size_t elem)
{
	void **p = array;
	size_t n;
	void *bigger;

	if (need <= *cap)
		return true;
	/* At least double, and up to `need` whatever *cap said. */
	for (n = *cap ? *cap : 16; n < need; n *= 2)
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

bool hc_array_grow(void *array, size_t *cap, size_t count, size_t elem)
{
	return count < SIZE_MAX && hc_array_reserve(array, cap, count + 1, elem);
}
