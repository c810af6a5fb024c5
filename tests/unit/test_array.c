/* hc_array_reserve / hc_array_grow (src/core/array.c): the one helper every growing list uses. */
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

Test(array, reserve_makes_room_for_a_batch_at_once)
{
	unsigned char *a = NULL;
	size_t cap = 0;

	cr_assert(hc_array_reserve(&a, &cap, 100, 1));
	cr_assert_eq(cap, 128); /* 16 doubled until it holds 100 */
	a[99] = 'x';
	cr_assert(hc_array_reserve(&a, &cap, 128, 1));
	cr_assert_eq(cap, 128); /* already fits: nothing moves */
	cr_assert(hc_array_reserve(&a, &cap, 129, 1));
	cr_assert_eq(cap, 256);
	cr_assert_eq(a[99], 'x');
	free(a);
}

Test(array, a_count_at_the_top_of_size_t_is_refused)
{
	char *a = NULL;
	size_t cap = 0;

	cr_assert_not(hc_array_grow(&a, &cap, (size_t)-1, 1));
	cr_assert_not(hc_array_reserve(&a, &cap, (size_t)-1, 2));
	cr_assert_null(a);
	cr_assert_eq(cap, 0);
}
