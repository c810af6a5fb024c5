/* hc_array_grow (src/core/array.c): the one helper every growing list uses. */
#include "support.h"

#include "hsmcert/array.h"

#include <stdlib.h>

TestSuite(array);

Test(array, grows_by_doubling_and_keeps_the_entries)
{
	int *a = NULL;
	size_t cap = 0, n = 0;

	for (int i = 0; i < 1000; i++) {
		cr_assert(hc_array_grow(&a, &cap, n, sizeof(*a)));
		cr_assert_gt(cap, n);
		a[n++] = i;
	}
	cr_assert_eq(cap, 1024); /* 16, 32, ... 1024 */
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(a[i], i);
	free(a);
}

Test(array, a_count_past_the_capacity_still_gets_room)
{
	char *a = malloc(40);
	size_t cap = 0; /* an array allocated elsewhere, its capacity unknown */

	cr_assert(hc_array_grow(&a, &cap, 40, 1));
	cr_assert_gt(cap, 40);
	a[40] = 'x';
	free(a);
}

Test(array, overflow_is_refused_and_leaves_the_array)
{
	char *a = NULL;
	size_t cap = 0;

	cr_assert_not(hc_array_grow(&a, &cap, (size_t)-1 / 2, 4));
	cr_assert_null(a);
	cr_assert_eq(cap, 0);
}
