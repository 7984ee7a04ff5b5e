/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mbx/bufpool.h"

static void exhaust_and_return(void **state)
{
	(void)state;
	struct mbx_bufpool *p = mbx_bufpool_create(100, 3);
	assert_non_null(p);
	assert_true(mbx_bufpool_bufsize(p) >= 100);
	void *a = mbx_bufpool_get(p), *b = mbx_bufpool_get(p), *c = mbx_bufpool_get(p);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_ptr_not_equal(a, b);
	assert_null(mbx_bufpool_get(p));
	assert_int_equal(mbx_bufpool_available(p), 0);
	memset(a, 0xaa, 100);
	memset(b, 0xbb, 100); /* buffers must not overlap */
	assert_int_equal(((uint8_t *)a)[99], 0xaa);
	mbx_bufpool_put(p, b);
	mbx_bufpool_put(p, NULL);
	assert_int_equal(mbx_bufpool_available(p), 1);
	assert_ptr_equal(mbx_bufpool_get(p), b);
	mbx_bufpool_destroy(p);
	mbx_bufpool_destroy(NULL);
}

static void bad_sizes(void **state)
{
	(void)state;
	errno = 0;
	assert_null(mbx_bufpool_create(0, 3));
	assert_int_equal(errno, EINVAL);
	assert_null(mbx_bufpool_create(16, 0));
	assert_null(mbx_bufpool_create(SIZE_MAX / 2, 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exhaust_and_return),
		cmocka_unit_test(bad_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
