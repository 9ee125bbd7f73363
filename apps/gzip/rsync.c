/* SPDX-License-Identifier: MIT */
/*
 * rsync.c - where --rsyncable cuts the input: content-defined chunk ends for the reader and
 * content-defined segments inside a chunk for the kernel (docs/format.md, "--rsyncable").
 *
 * Both come from a gear hash (h = 2h + G[byte], as FastCDC): after 64 bytes a byte has been
 * shifted out of h, so h at a position depends on the 64 bytes before it and nothing else, and
 * a point where its top bits are zero is found again wherever the same bytes are, whatever came
 * before them. A cut is therefore at the same place of the content in the old and the new file
 * once it is more than 64 bytes away from an edit, and the cuts after it follow the same way.
 */
#include "gzip_internal.h"

/* 256 values of splitmix64 seeded with "octoray": fixed forever, the cuts are part of the
 * output. */
static const uint64_t gear[256] = {
	0xab8dfbc2815856cdull, 0x6616dd24e8076145ull, 0x003748e11f9fb79bull,
	0x19997a91ddbb038dull, 0x3569754607213ab8ull, 0xca60dd6b70c28254ull,
	0x94c86be7154a750full, 0x103c09b16052a4d1ull, 0x4b6e569ff4308443ull,
	0xcffc1ac5c51c8c07ull, 0x28c6e68e366dec4aull, 0x679e697c6188f7daull,
	0xfac8872fbd727ddfull, 0xc1e84d2b88fbe6feull, 0xb951ba4662c2b742ull,
	0x94714a0689395ef1ull, 0x22cfb09d759990c2ull, 0xf7ddcd0063a7daafull,
	0xbe65710abb0eddd8ull, 0xc5a935aca14650a6ull, 0x1d5af41260f0d916ull,
	0x825cb872c9363de2ull, 0xec6d1473adba83f9ull, 0xd7a6d224c1544dcfull,
	0x4382dd38c825661full, 0x04a29d272e61bcafull, 0xd6898c3c28bdf52full,
	0xac44269f494032a9ull, 0x7cde07db26c5e2a7ull, 0x7d021fc75e66aeafull,
	0xc2e6e82abc9aa751ull, 0xdcffb8ac802a6527ull, 0x6c7a9dc30e815a91ull,
	0x2e8566c45b3eac93ull, 0x2630ecd9be24c926ull, 0x67ac1d970a704380ull,
	0x6718e9d9ea6d4969ull, 0x13dbe7cd2cd155e1ull, 0xead7b76ee61de26dull,
	0x9653e423f2d90c5bull, 0x317ea9c24a0591d8ull, 0xa83efedfc319c4e0ull,
	0xef36b893a04ebaa9ull, 0xc39ba2b2e229c852ull, 0x34ab64ca4e023370ull,
	0xa303cb47fa475426ull, 0xb169d8a164878be5ull, 0xdcb986025cc5cf2eull,
	0x6052d5eb2ab5760bull, 0x1b737661896c13e7ull, 0x8e3018207da1658cull,
	0x8e376b131a5b780bull, 0x3e018ddea0d42d47ull, 0xa7c957701c72ae99ull,
	0x276b06771694a848ull, 0x65c34dd5a51d8648ull, 0x335ce6d0a707240cull,
	0x1b1c1014ca3b9d3full, 0x4e77d86e64cb044aull, 0x2622f474c40d3a8aull,
	0x970a3ff5cffcdceeull, 0x65fd8bd406dc1562ull, 0x6fa6a26ea27941c5ull,
	0xaec9717c75184225ull, 0x23e939fda044ef0dull, 0xfd7f6c57cdcac433ull,
	0xe5bba5c9b965226aull, 0xbc7e54c80e16f66aull, 0x2dd1bb2d490b3f95ull,
	0x897efebc62566544ull, 0x1dbb2c115e39e74bull, 0x5a3e481e89cb34bdull,
	0x3857263f5e2b6f27ull, 0x0111e366f84da9f8ull, 0xb35e16de1a47d5d6ull,
	0xd337d5bd1314c425ull, 0x539a1fc95f656af2ull, 0x6451b317e25a8b24ull,
	0x3f03f8007820d38full, 0x47f27d8f6e035cbcull, 0x37ba8df64731d4d7ull,
	0x38e45fff45e1214eull, 0x39c156c168d728f7ull, 0x0a07d0d4bb52b559ull,
	0x429ea7b948db04ccull, 0xdff9603ebd186f91ull, 0x9c1e66d5a2bc541bull,
	0x916128052ee42826ull, 0xf91c6b6105b4291cull, 0xeaabdc1c124214cbull,
	0xc83b5cfeb3b96c45ull, 0x0231dc31c96b1732ull, 0xc058821eadea70caull,
	0x6b8b27d66ed5441bull, 0xc422ee2be8218662ull, 0xf46696dbc9179fc2ull,
	0xde0289ed3064efdeull, 0xcd0a724f148c27f0ull, 0x7c15b29981c5182full,
	0xd24bdcc1d39c537eull, 0x5b08fd0d6958c292ull, 0x6ee5ce9f107df3c9ull,
	0xec995d42e348f5fdull, 0x6bf0c8a98fcfd684ull, 0x1054490bbfe405c9ull,
	0xc94db44bc59159baull, 0xd31d85f64095b008ull, 0xe9a2f3053f09c43eull,
	0x821018356fd13492ull, 0x7d36772adefb4c16ull, 0x705896ce35b53b8dull,
	0x7409b0bca0591ec7ull, 0x5eef4ab3bf37c544ull, 0xaedc88195967cca3ull,
	0xaf06f470f85ab629ull, 0x2f98e0cd5927eb6eull, 0xfeaa864820be9e8dull,
	0xff76462a506ab051ull, 0x2f061848acf8a1deull, 0xa747c3046036e347ull,
	0x6396ef9ea00da3ffull, 0x09575e2cbe1a2034ull, 0xeccbe8835f60bae4ull,
	0xce3c85ad201ebabfull, 0x2e25faa1de28a8c6ull, 0x89fce8a92f07cc88ull,
	0xf3bf6561b7b37e19ull, 0x83a3338de622167cull, 0x5d01d448776c81d6ull,
	0x72270a625f540568ull, 0x4631e3b97508818dull, 0x6b3fa5bfb952889cull,
	0x11e9c33cbba7fdfbull, 0xb9f2a28756aeefc9ull, 0x88a0ab271866b8c1ull,
	0x4e07bf58e64e75f3ull, 0x9b0d6a9940b6a398ull, 0xc2eb6a93e4771217ull,
	0x2183639bc9062f73ull, 0x4e3750a1bc1875fdull, 0x946edd700afd7462ull,
	0xe95b750bc43c4d1eull, 0xdba44288e24c5f61ull, 0x60bdd7b5eef5b46cull,
	0xb04a44e9bda0ce3eull, 0x6a4e3a2f94889a9dull, 0x5b29a18c1e839f2aull,
	0x0a268c2e60e67fabull, 0xf04e9e6115c32fdfull, 0xfd0b7f3aadf4edd1ull,
	0x52a580d42d7b5625ull, 0x840c0d7eeec9734full, 0x8693fc6b63bebfa0ull,
	0xa45f75f1debac5c6ull, 0x406703fcbc9a5c75ull, 0x6c3424ac487d2781ull,
	0x3238a03c60587ea4ull, 0xd11d7295db2ac3d5ull, 0x90b911354e154120ull,
	0x04c8aeb3e3b99c6dull, 0xbd83b44a5eb88ebcull, 0x08c8a75d89ed51d8ull,
	0x64cd710b427e4b19ull, 0x94af32a72e874666ull, 0x62b06a18abaebe16ull,
	0x5147385710701b58ull, 0x2b45b8bdf8d2b89dull, 0x56df2afc09084406ull,
	0xbe010398ac9582dbull, 0xd10d74253bd8193full, 0x5e2052f0a4c2e399ull,
	0x7e9222e9f3a35868ull, 0xe37aeb41b18c73efull, 0x67d8e72a3ebef1a3ull,
	0x0aa32109ffa1aef9ull, 0x84630e0fc2fb4e61ull, 0x6cb22b68a09b97b8ull,
	0xe607174c79db29d1ull, 0x17b8ef8c15bd9433ull, 0x601eaf40270a996bull,
	0xb62b0d7c13d45088ull, 0xeb154e3b0215a821ull, 0xaa6610cf74c6524bull,
	0xb5260139aebb2c69ull, 0x73784097aac8971eull, 0xccc79849188c4069ull,
	0xd3da1c0ae0b287e8ull, 0x65f98ba4556782eaull, 0x55afb0c9bfff10a3ull,
	0xff029dafa7ab3892ull, 0xcf416562accde6bbull, 0xcbb369f6e47f3533ull,
	0x44d2aa9fc80b5e67ull, 0x867a0145394c79fcull, 0x55ca8936bccb75f7ull,
	0x33ffcaf91cbb7866ull, 0xc4b3aaa840b851c6ull, 0x5bb782d23a37eb19ull,
	0x5f11e1ea003423ddull, 0xd572bbc6caa7cb8full, 0x4e9d49bbd3da5147ull,
	0x89f2526ac77c0bcdull, 0x3a6ba866b2b0f805ull, 0xd71069a40c9a1469ull,
	0x563573e8b9918f42ull, 0xca6f1dd3553ff092ull, 0x4da76e815f83545bull,
	0xe8baa9d2e1ac86edull, 0x0e78290881fcd4f6ull, 0xf63ead07363e34f8ull,
	0xef2e7eb9b75177d1ull, 0xb7ab85aab0a7f7a1ull, 0xd6ed74bcd013cb76ull,
	0xe20aad70a6380740ull, 0xb82f47dbde120ee7ull, 0x3642004360940cebull,
	0xba10209502d1b859ull, 0x2cce5abb3f89c31full, 0xd7b3e5acf32c78faull,
	0xa287044bb89d7f22ull, 0x4e847d8d59646880ull, 0x8555c6038edfbcf8ull,
	0x52b5a2a5f1182fc2ull, 0x23844bf15177f31cull, 0x8e981cbc6f6dcfa6ull,
	0x52a0069e215ed7ecull, 0x6d9c22e77f824cf5ull, 0x5d6452ab23318d89ull,
	0x655a59d6d76bb800ull, 0xc7a015f1d329460cull, 0x2d01327278a95cf1ull,
	0x238c510f9377413cull, 0x2ae3823a962fe110ull, 0xef725975b7f1e625ull,
	0x5e393c498d944d9cull, 0xa808525b0e51b320ull, 0xab70d7f8ed8aa8b9ull,
	0xcca474c48db6b331ull, 0xe125f18114edb36full, 0x7952f42bf1d93b2aull,
	0xbb634ba392ca0437ull, 0x56221b7363a2e3f8ull, 0xe5c2b1fd85776108ull,
	0x7acfed8a91c6d408ull, 0x3e34015105fed540ull, 0xddcabff07bd9ff10ull,
	0xf79e61ce9beb4833ull, 0xaa11fb56e6fe34f6ull, 0x8b982c937d07b2dfull,
	0x32069183f01953b4ull, 0xb1f5e94361261895ull, 0x0f0d8cb92cebae17ull,
	0xd615e479b9e57df2ull, 0xc7944acda4c7d38cull, 0x2c42c97068c12bebull,
	0xcb64a0785fd5e87bull,
};

#define GEAR_SPAN 64  /* bytes that make up h */

static inline bool gear_hit(uint64_t h, unsigned bits)
{
	return (h >> (64 - bits)) == 0;
}

/* Where the hash is smallest in the window's final eighth: chunks stay close to the chunk size
 * (the parallel grain and the pool's buffers) and start where the content says. The smallest
 * value moves only when an edit brings a smaller one into that eighth or pushes it out across
 * an edge, so an insertion of k bytes moves the cut with a chance of about k / (n/8) (a rule
 * like "the last hit" would depend on the window's end k / spacing of the time). */
size_t gzip_rsync_cut(const uint8_t *p, size_t n)
{
	size_t w = n / 8;
	if (w < 2 * GEAR_SPAN)
		return n;
	uint64_t h = 0, best = UINT64_MAX;
	size_t cut = n;
	for (size_t i = n - w - GEAR_SPAN; i < n - w; i++)
		h = (h << 1) + gear[p[i]];
	for (size_t i = n - w; i < n; i++) {
		h = (h << 1) + gear[p[i]];
		if (h < best) {
			best = h;
			cut = i + 1;
		}
	}
	return cut;
}

/* A hit ends a segment when no other hit came in the GZIP_SEG_GAP bytes before it: a rule that
 * looks only at the bytes just before the hit (not at where the segment started), so after an
 * edit the very next such hit is where the old file had one, and segments are at least
 * GZIP_SEG_GAP bytes apart. A minimum length counted from the segment's start would instead
 * keep the old and new cuts apart for many segments. GZIP_SEG_MAX bytes at most. */
size_t gzip_rsync_segment(const uint8_t *p, size_t n, size_t start, int64_t *last_hit)
{
	size_t i = start >= GEAR_SPAN ? start - GEAR_SPAN : 0;
	size_t end = n - start < GZIP_SEG_MAX ? n : start + GZIP_SEG_MAX;
	uint64_t h = 0;
	for (; i < start; i++)
		h = (h << 1) + gear[p[i]];
	for (; i < end; i++) {
		h = (h << 1) + gear[p[i]];
		if (gear_hit(h, GZIP_SEG_BITS) && i >= GEAR_SPAN) {
			bool keep = (int64_t)i - *last_hit >= (int64_t)GZIP_SEG_GAP;
			*last_hit = (int64_t)i;
			if (keep)
				return i + 1;
		}
	}
	return end;
}
