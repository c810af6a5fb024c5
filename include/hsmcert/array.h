/* Growing arrays: one helper for every list and buffer the library builds up. */
#ifndef HSMCERT_ARRAY_H
#define HSMCERT_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Make room in *array (a pointer to the array pointer, `elem`-sized entries,
 * `*cap` allocated) for `need` entries in all: the capacity doubles from 16
 * until it holds them, so appending costs amortised O(1). A *cap below what
 * the array really has (0 for one allocated elsewhere) is safe, only slower.
 * False when out of memory or the size would overflow; *array and *cap are
 * then unchanged.
 */
bool hc_array_reserve(void *array, size_t *cap, size_t need, size_t elem);

/* Room for one more entry after `count`: hc_array_reserve(count + 1). */
bool hc_array_grow(void *array, size_t *cap, size_t count, size_t elem);

#endif
