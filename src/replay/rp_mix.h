/* SPDX-License-Identifier: Apache-2.0 */
/* SplitMix64 (Steele, Lea, Flood 2014; constants as in Vigna's splitmix64.c):
 * the generator behind replay keys and values. Its output function is a
 * bijection of the 64-bit state, which is what makes keys injective. */
#ifndef MBX_RP_MIX_H
#define MBX_RP_MIX_H

#include <stdint.h>

#define MBX_RP_GAMMA 0x9e3779b97f4a7c15ULL

static inline uint64_t mbx_rp_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t mbx_rp_splitmix64(uint64_t *state)
{
	*state += MBX_RP_GAMMA;
	return mbx_rp_mix64(*state);
}

#endif
