/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "mbx: not built yet\n");
	return 1;
}
