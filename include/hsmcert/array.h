/* Growing arrays: one helper for every list the library builds up. */
#ifndef HSMCERT_ARRAY_H
#define HSMCERT_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Make room in *array (a pointer to the array pointer, `elem`-sized entries,
 * `*cap` allocated, `count` used) for one more entry: the capacity doubles
 * from 16. False when out of memory or the size would overflow; *array is
 * then unchanged.
 */
bool hc_array_grow(void *array, size_t *cap, size_t count, size_t elem);

#endif
