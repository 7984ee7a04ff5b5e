/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 4648 base64 (standard alphabet) decoding for meta protocol 'b' keys. */
#include "mbx/parser.h"

/* Value + 1 for alphabet bytes (1..64), 65 for '=', 0 for everything else. */
/* clang-format off */
static const uint8_t b64_tab[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
	['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
	['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
	['='] = 65,
};
/* clang-format on */

int mbx_base64_decode(const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap)
{
	size_t pad = 0, n, o = 0;

	/* Padding: at most two '=' and only with a length that is a multiple of 4. */
	while (pad < 2 && inlen > pad && in[inlen - 1 - pad] == '=')
		pad++;
	if (pad && inlen % 4 != 0)
		return -1;
	n = inlen - pad;
	if (n % 4 == 1)
		return -1;
	if (n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > outcap || n / 4 * 3 > (size_t)INT32_MAX)
		return -1;

	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		uint8_t a = b64_tab[in[i]] - 1u, b = b64_tab[in[i + 1]] - 1u,
			c = b64_tab[in[i + 2]] - 1u, d = b64_tab[in[i + 3]] - 1u;
		if ((a | b | c | d) & 0xc0)
			return -1; /* invalid byte (255) or '=' (64) in the middle */
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	if (n - i >= 2) {
		uint8_t a = b64_tab[in[i]] - 1u, b = b64_tab[in[i + 1]] - 1u;
		uint8_t c = n - i == 3 ? (uint8_t)(b64_tab[in[i + 2]] - 1u) : 0;
		if ((a | b | c) & 0xc0)
			return -1;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		out[o++] = (uint8_t)(v >> 16);
		if (n - i == 3)
			out[o++] = (uint8_t)(v >> 8);
	}
	return (int)o;
}
