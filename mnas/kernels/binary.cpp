// Bit-packed binary convolution for CPUs: signs packed 64 to a word along the channel axis,
// dot products by xor and popcount. Built by mnas/kernels/build.py as a PyTorch extension;
// the ops appear as torch.ops.mnas_kernels.*.
//
// Layouts (all words uint64 stored in int64 tensors):
//   float activations   N x C x H x W, contiguous or channels-last (either is packed; the
//                       convolution writes either)
//   packed activations  [N, H, W, G, Wg]    Wg = ceil(Cg / 64), Cg = C / G channels per group
//   packed weights      [G, KH*KW, Wg, Op]  Op = Og rounded up to a multiple of 8
// Bit b of word j of group g is channel g*Cg + 64*j + b; it is 1 where the value is -1, that is
// where !(x >= 0) (sign(x) = +1 for x >= 0, as mnas binarises; NaN counts as -1). Unused bits
// and padded output columns are 0, so they never count.
//
// Exactness: a tap inside the image contributes Cg - 2 * popcount(x ^ w) to the dot product;
// a tap in the zero padding contributes 0 (0 * +-1), so only the taps inside the image are
// visited and the result is Cg * (valid taps) - 2 * sum of popcounts: the integer the float
// simulation computes. Padding with +1 or -1 (`pad_value`) is a +-1 value: such taps are
// visited with a constant word (all bits clear, or all set) standing for the border. It is converted to float (exact below 2^24), then multiplied by
// `scale` and added to `bias` per channel, in that order and without fused multiply-add
// (built with -ffp-contract=off), as the float simulation does.
//
// Code paths, chosen at run time (`path` argument 0) or forced (1 portable, 2 AVX2,
// 3 AVX-512 with VPOPCNTDQ): the same loops with different popcount and packing instructions.

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define MNAS_X86 1
#endif

namespace {

enum Path : int64_t { kAuto = 0, kPortable = 1, kAvx2 = 2, kAvx512 = 3 };

bool cpu_supports(int64_t path) {
  if (path == kPortable) return true;
#ifdef MNAS_X86
  __builtin_cpu_init();
  if (path == kAvx2) return __builtin_cpu_supports("avx2");
  if (path == kAvx512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
#endif
  return false;
}

int64_t resolve(int64_t path) {
  if (path == kAuto) {
    for (int64_t p : {kAvx512, kAvx2})
      if (cpu_supports(p)) return p;
    return kPortable;
  }
  TORCH_CHECK(path >= kPortable && path <= kAvx512, "mnas_kernels: unknown path ", path);
  TORCH_CHECK(cpu_supports(path), "mnas_kernels: this CPU cannot run path ", path);
  return path;
}

int64_t words(int64_t bits) { return (bits + 63) / 64; }

// Work below which a parallel task is not worth a thread: words (or floats) per task.
constexpr int64_t kGrainWords = 1 << 16;

// ---- sign packing --------------------------------------------------------------------------

struct PackArgs {
  const float* x;   // [N, C, P]
  uint64_t* out;    // [N, P, G, Wg]
  int64_t N, C, P, G, Cg, Wg;
};

// Words [p0, p1) of one (n, g, j): pixels along the fast axis of x, channels along the bits.
inline void pack_portable(const PackArgs& a, int64_t n, int64_t g, int64_t j, int64_t p0,
                          int64_t p1) {
  const int64_t c0 = g * a.Cg + 64 * j, nb = std::min<int64_t>(64, a.Cg - 64 * j);
  const float* x = a.x + (n * a.C + c0) * a.P;
  for (int64_t p = p0; p < p1; ++p) {
    uint64_t word = 0;
    for (int64_t b = 0; b < nb; ++b) word |= uint64_t(!(x[b * a.P + p] >= 0.0f)) << b;
    a.out[((n * a.P + p) * a.G + g) * a.Wg + j] = word;
  }
}

#ifdef MNAS_X86
__attribute__((target("avx2"))) void pack_avx2(const PackArgs& a, int64_t n, int64_t g,
                                                int64_t j, int64_t p0, int64_t p1) {
  const int64_t c0 = g * a.Cg + 64 * j, nb = std::min<int64_t>(64, a.Cg - 64 * j);
  const float* x = a.x + (n * a.C + c0) * a.P;
  const __m128 zero = _mm_setzero_ps();
  int64_t p = p0;
  alignas(32) uint64_t tmp[4];
  for (; p + 4 <= p1; p += 4) {
    __m256i acc = _mm256_setzero_si256();
    for (int64_t b = 0; b < nb; ++b) {
      __m128 v = _mm_loadu_ps(x + b * a.P + p);
      __m256i neg = _mm256_cvtepi32_epi64(_mm_castps_si128(_mm_cmp_ps(v, zero, _CMP_NGE_UQ)));
      acc = _mm256_or_si256(acc, _mm256_and_si256(neg, _mm256_set1_epi64x(int64_t(1ULL << b))));
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), acc);
    for (int i = 0; i < 4; ++i) a.out[((n * a.P + p + i) * a.G + g) * a.Wg + j] = tmp[i];
  }
  pack_portable(a, n, g, j, p, p1);
}

__attribute__((target("avx512f"))) void pack_avx512(const PackArgs& a, int64_t n, int64_t g,
                                                     int64_t j, int64_t p0, int64_t p1) {
  const int64_t c0 = g * a.Cg + 64 * j, nb = std::min<int64_t>(64, a.Cg - 64 * j);
  const float* x = a.x + (n * a.C + c0) * a.P;
  const __m512 zero = _mm512_setzero_ps();
  alignas(64) uint64_t tmp[16];
  for (int64_t p = p0; p < p1; p += 16) {    // 16 pixels at a time, the last ones masked
    const int64_t live = std::min<int64_t>(16, p1 - p);
    const __mmask16 load = live == 16 ? __mmask16(0xffff) : __mmask16((1u << live) - 1);
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    for (int64_t b = 0; b < nb; ++b) {
      const __mmask16 neg = _mm512_mask_cmp_ps_mask(
          load, _mm512_maskz_loadu_ps(load, x + b * a.P + p), zero, _CMP_NGE_UQ);
      const __m512i bit = _mm512_set1_epi64(int64_t(1ULL << b));
      lo = _mm512_mask_or_epi64(lo, __mmask8(neg & 0xff), lo, bit);
      hi = _mm512_mask_or_epi64(hi, __mmask8(neg >> 8), hi, bit);
    }
    _mm512_store_si512(tmp, lo);
    _mm512_store_si512(tmp + 8, hi);
    for (int64_t i = 0; i < live; ++i) a.out[((n * a.P + p + i) * a.G + g) * a.Wg + j] = tmp[i];
  }
}
#endif

// Channels-last input ([N, P, C] floats): each word is up to 64 consecutive floats. Pixels
// [t0, t1) of the flattened N * P.
inline uint64_t word_portable(const float* x, int64_t nb) {
  uint64_t word = 0;
  for (int64_t b = 0; b < nb; ++b) word |= uint64_t(!(x[b] >= 0.0f)) << b;
  return word;
}

void pack_nhwc_portable(const PackArgs& a, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; ++t)
    for (int64_t g = 0; g < a.G; ++g)
      for (int64_t j = 0; j < a.Wg; ++j)
        a.out[(t * a.G + g) * a.Wg + j] =
            word_portable(a.x + t * a.C + g * a.Cg + 64 * j, std::min<int64_t>(64, a.Cg - 64 * j));
}

#ifdef MNAS_X86
__attribute__((target("avx2"))) void pack_nhwc_avx2(const PackArgs& a, int64_t t0,
                                                     int64_t t1) {
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t g = 0; g < a.G; ++g) {
      for (int64_t j = 0; j < a.Wg; ++j) {
        const float* x = a.x + t * a.C + g * a.Cg + 64 * j;
        const int64_t nb = std::min<int64_t>(64, a.Cg - 64 * j);
        uint64_t word = 0;
        int64_t b = 0;
        for (; b + 8 <= nb; b += 8) {
          const __m256 neg = _mm256_cmp_ps(_mm256_loadu_ps(x + b), zero, _CMP_NGE_UQ);
          word |= uint64_t(uint32_t(_mm256_movemask_ps(neg))) << b;
        }
        if (b < nb) word |= word_portable(x + b, nb - b) << b;
        a.out[(t * a.G + g) * a.Wg + j] = word;
      }
    }
  }
}

__attribute__((target("avx512f"))) void pack_nhwc_avx512(const PackArgs& a, int64_t t0,
                                                          int64_t t1) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t g = 0; g < a.G; ++g) {
      for (int64_t j = 0; j < a.Wg; ++j) {
        const float* x = a.x + t * a.C + g * a.Cg + 64 * j;
        const int64_t nb = std::min<int64_t>(64, a.Cg - 64 * j);
        uint64_t word = 0;
        for (int64_t b = 0; b < nb; b += 16) {
          const __mmask16 live =
              nb - b >= 16 ? __mmask16(0xffff) : __mmask16((1u << (nb - b)) - 1);
          const __m512 v = _mm512_maskz_loadu_ps(live, x + b);
          word |= uint64_t(_mm512_mask_cmp_ps_mask(live, v, zero, _CMP_NGE_UQ)) << b;
        }
        a.out[(t * a.G + g) * a.Wg + j] = word;
      }
    }
  }
}
#endif

at::Tensor pack_signs(const at::Tensor& input, int64_t groups, int64_t path) {
  TORCH_CHECK(input.scalar_type() == at::kFloat, "pack_signs: expected float32, got ",
              input.scalar_type());
  TORCH_CHECK(input.dim() == 4 || input.dim() == 2, "pack_signs: expected N x C x H x W or N x C");
  TORCH_CHECK(groups >= 1 && input.size(1) % groups == 0, "pack_signs: groups ", groups,
              " does not divide ", input.size(1), " channels");
  path = resolve(path);
  const bool nhwc = input.dim() == 4 && !input.is_contiguous() &&
                    input.is_contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor x = nhwc ? input : input.contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  const int64_t H = x.dim() == 4 ? x.size(2) : 1, W = x.dim() == 4 ? x.size(3) : 1;
  const int64_t Cg = C / groups, Wg = words(Cg);
  at::Tensor out = at::empty({N, H, W, groups, Wg}, x.options().dtype(at::kLong));
  PackArgs a{x.data_ptr<float>(), reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>()), N, C,
             H * W, groups, Cg, Wg};
  const int64_t grain = std::max<int64_t>(1, kGrainWords / std::max<int64_t>(1, C));
  if (nhwc) {
    at::parallel_for(0, N * a.P, grain, [&](int64_t begin, int64_t end) {
#ifdef MNAS_X86
      if (path == kAvx512) return pack_nhwc_avx512(a, begin, end);
      if (path == kAvx2) return pack_nhwc_avx2(a, begin, end);
#endif
      pack_nhwc_portable(a, begin, end);
    });
    return out;
  }
  const int64_t chunk = 256, chunks = (a.P + chunk - 1) / chunk;
  const int64_t task_floats = 64 * std::min<int64_t>(chunk, a.P);
  at::parallel_for(0, N * groups * Wg * chunks,
                   std::max<int64_t>(1, kGrainWords / task_floats), [&](int64_t begin,
                                                                     int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t c = t % chunks, j = (t / chunks) % Wg, g = (t / chunks / Wg) % groups,
                    n = t / chunks / Wg / groups;
      const int64_t p0 = c * chunk, p1 = std::min(a.P, p0 + chunk);
#ifdef MNAS_X86
      if (path == kAvx512) { pack_avx512(a, n, g, j, p0, p1); continue; }
      if (path == kAvx2) { pack_avx2(a, n, g, j, p0, p1); continue; }
#endif
      pack_portable(a, n, g, j, p0, p1);
    }
  });
  return out;
}

// ---- convolution ---------------------------------------------------------------------------

struct ConvArgs {
  const uint64_t* x;  // [N, H, W, G, Wg]
  const uint64_t* w;  // [G, KH*KW, Wg, Op]
  float* out;         // [N, O, OH, OW], or [N, OH, OW, O] when channels_last
  const float* scale;
  const float* bias;
  const uint64_t* pad;  // [G, Wg] words of a padded tap (+-1 padding), or null (zero padding)
  int64_t N, H, W, G, Wg, Cg, Og, Op, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
  bool channels_last;
};

constexpr int64_t kMaxTaps = 128;

// The taps of one output pixel that fall inside the image, as runs of words that lie one
// after the other in both the packed input and the packed weights (the taps of a kernel row
// form one run when there is one group and no dilation), so the inner loops are long.
struct Taps {
  int64_t taps = 0;     // taps inside the image
  int64_t count = 0;    // runs
  const uint64_t* x[kMaxTaps];  // a run's first word (of group 0) in x, or the padding
  int64_t w[kMaxTaps];  // offset of its first word in w, relative to the group
  int64_t len[kMaxTaps];  // words in the run
};

// Up to 64 outputs [o0, o0 + 8 * nv) of one pixel and group: sum of popcounts per output.
inline void dot_portable(const ConvArgs& a, int64_t goff, const uint64_t* w,
                         const Taps& taps, int64_t o0, int64_t nv, int64_t* acc) {
  const int64_t no = 8 * nv;
  std::fill(acc, acc + no, 0);
  for (int64_t t = 0; t < taps.count; ++t) {
    const uint64_t* xr = taps.x[t] + goff;
    const uint64_t* wr = w + taps.w[t] + o0;
    for (int64_t j = 0; j < taps.len[t]; ++j) {
      const uint64_t xv = xr[j];
      const uint64_t* wj = wr + j * a.Op;
      for (int64_t o = 0; o < no; ++o) acc[o] += __builtin_popcountll(xv ^ wj[o]);
    }
  }
}

#ifdef MNAS_X86
template <int NV>
__attribute__((target("avx512f,avx512vpopcntdq"))) void dot_avx512_n(
    const ConvArgs& a, int64_t goff, const uint64_t* w, const Taps& taps, int64_t o0,
    int64_t* acc) {
  __m512i sum[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) sum[v] = _mm512_setzero_si512();
  for (int64_t t = 0; t < taps.count; ++t) {
    const uint64_t* xr = taps.x[t] + goff;
    const uint64_t* wr = w + taps.w[t] + o0;
    for (int64_t j = 0; j < taps.len[t]; ++j) {
      const __m512i xv = _mm512_set1_epi64(int64_t(xr[j]));
      const uint64_t* wj = wr + j * a.Op;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v)
        sum[v] = _mm512_add_epi64(
            sum[v], _mm512_popcnt_epi64(_mm512_xor_si512(xv, _mm512_loadu_si512(wj + 8 * v))));
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) _mm512_storeu_si512(acc + 8 * v, sum[v]);
}

__attribute__((target("avx512f,avx512vpopcntdq"))) void dot_avx512(
    const ConvArgs& a, int64_t goff, const uint64_t* w, const Taps& taps, int64_t o0,
    int64_t nv, int64_t* acc) {
  switch (nv) {
    case 1: return dot_avx512_n<1>(a, goff, w, taps, o0, acc);
    case 2: return dot_avx512_n<2>(a, goff, w, taps, o0, acc);
    case 3: return dot_avx512_n<3>(a, goff, w, taps, o0, acc);
    case 4: return dot_avx512_n<4>(a, goff, w, taps, o0, acc);
    case 5: return dot_avx512_n<5>(a, goff, w, taps, o0, acc);
    case 6: return dot_avx512_n<6>(a, goff, w, taps, o0, acc);
    case 7: return dot_avx512_n<7>(a, goff, w, taps, o0, acc);
    default: return dot_avx512_n<8>(a, goff, w, taps, o0, acc);
  }
}

// AVX2 has no vector popcount: count nibbles with a table lookup (vpshufb), add the byte
// counts for up to 31 words (8 * 31 < 256), then widen them to 64-bit lanes (vpsadbw).
template <int NV>
__attribute__((target("avx2"))) void dot_avx2_n(const ConvArgs& a, int64_t goff,
                                                const uint64_t* w, const Taps& taps, int64_t o0,
                                                int64_t* acc) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i nibble = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
  __m256i wide[NV], bytes[NV];
  for (int v = 0; v < NV; ++v) wide[v] = bytes[v] = zero;
  int pending = 0;
  for (int64_t t = 0; t < taps.count; ++t) {
    const uint64_t* xr = taps.x[t] + goff;
    const uint64_t* wr = w + taps.w[t] + o0;
    for (int64_t j = 0; j < taps.len[t]; ++j) {
      const __m256i xv = _mm256_set1_epi64x(int64_t(xr[j]));
      const uint64_t* wj = wr + j * a.Op;
      for (int v = 0; v < NV; ++v) {
        const __m256i d = _mm256_xor_si256(
            xv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wj + 4 * v)));
        const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(d, nibble));
        const __m256i hi =
            _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(d, 4), nibble));
        bytes[v] = _mm256_add_epi8(bytes[v], _mm256_add_epi8(lo, hi));
      }
      if (++pending == 31) {
        for (int v = 0; v < NV; ++v) {
          wide[v] = _mm256_add_epi64(wide[v], _mm256_sad_epu8(bytes[v], zero));
          bytes[v] = zero;
        }
        pending = 0;
      }
    }
  }
  for (int v = 0; v < NV; ++v) {
    wide[v] = _mm256_add_epi64(wide[v], _mm256_sad_epu8(bytes[v], zero));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 4 * v), wide[v]);
  }
}

// nv counts 8-output blocks; AVX2 vectors hold 4 outputs, so run 16 at a time.
__attribute__((target("avx2"))) void dot_avx2(const ConvArgs& a, int64_t goff,
                                              const uint64_t* w, const Taps& taps, int64_t o0,
                                              int64_t nv, int64_t* acc) {
  for (int64_t v = 0; v < nv; v += 2) {
    if (nv - v >= 2)
      dot_avx2_n<4>(a, goff, w, taps, o0 + 8 * v, acc + 8 * v);
    else
      dot_avx2_n<2>(a, goff, w, taps, o0 + 8 * v, acc + 8 * v);
  }
}
#endif

// Integer dot products -> floats: valid - 2 * popcounts, then * scale, then + bias.
inline void finish_portable(const int64_t* acc, int64_t valid, const float* scale,
                            const float* bias, int64_t no, float* dst) {
  for (int64_t i = 0; i < no; ++i) {
    float y = float(valid - 2 * acc[i]);
    if (scale) y = y * scale[i];
    if (bias) y = y + bias[i];
    dst[i] = y;
  }
}

#ifdef MNAS_X86
__attribute__((target("avx512f"))) void finish_avx512(const int64_t* acc, int64_t valid,
                                                       const float* scale, const float* bias,
                                                       int64_t no, float* dst) {
  const __m512i v = _mm512_set1_epi64(valid);
  int64_t i = 0;
  for (; i + 8 <= no; i += 8) {
    const __m512i d = _mm512_sub_epi64(v, _mm512_slli_epi64(_mm512_loadu_si512(acc + i), 1));
    __m256 y = _mm256_cvtepi32_ps(_mm512_cvtepi64_epi32(d));
    if (scale) y = _mm256_mul_ps(y, _mm256_loadu_ps(scale + i));
    if (bias) y = _mm256_add_ps(y, _mm256_loadu_ps(bias + i));
    _mm256_storeu_ps(dst + i, y);
  }
  finish_portable(acc + i, valid, scale ? scale + i : nullptr, bias ? bias + i : nullptr,
                  no - i, dst + i);
}
#endif

void find_taps(const ConvArgs& a, const uint64_t* xn, int64_t oh, int64_t ow, Taps& taps) {
  taps.taps = taps.count = 0;
  const bool merge = a.G == 1 && a.dw == 1;
  for (int64_t kh = 0; kh < a.KH; ++kh) {
    const int64_t ih = oh * a.sh - a.ph + kh * a.dh;
    bool open = false;
    for (int64_t kw = 0; kw < a.KW; ++kw) {
      const int64_t iw = ow * a.sw - a.pw + kw * a.dw;
      const bool inside = ih >= 0 && ih < a.H && iw >= 0 && iw < a.W;
      if (!inside && !a.pad) {   // zero padding: the tap adds 0
        open = false;
        continue;
      }
      ++taps.taps;
      if (inside && merge && open) {
        taps.len[taps.count - 1] += a.Wg;
        continue;
      }
      taps.x[taps.count] = inside ? xn + (ih * a.W + iw) * a.G * a.Wg : a.pad;
      taps.w[taps.count] = (kh * a.KW + kw) * a.Wg * a.Op;
      taps.len[taps.count] = a.Wg;
      ++taps.count;
      open = inside;
    }
  }
}

void finish(int64_t path, const ConvArgs& a, const int64_t* acc, int64_t valid, int64_t o,
            int64_t no, float* dst) {
  const float* scale = a.scale ? a.scale + o : nullptr;
  const float* bias = a.bias ? a.bias + o : nullptr;
#ifdef MNAS_X86
  if (path == kAvx512) return finish_avx512(acc, valid, scale, bias, no, dst);
#endif
  finish_portable(acc, valid, scale, bias, no, dst);
}

// One output row: dot products pixel by pixel into `row` ([OW, O]), which is the output row
// itself in channels-last memory; otherwise it is then stored channel by channel.
void conv_row(const ConvArgs& a, int64_t path, int64_t n, int64_t oh, float* row) {
  Taps taps;
  alignas(64) int64_t acc[64];
  const int64_t O = a.G * a.Og;
  const uint64_t* xn = a.x + n * a.H * a.W * a.G * a.Wg;
  for (int64_t ow = 0; ow < a.OW; ++ow) {
    find_taps(a, xn, oh, ow, taps);
    const int64_t valid = a.Cg * taps.taps;
    for (int64_t g = 0; g < a.G; ++g) {
      const uint64_t* wg = a.w + g * a.KH * a.KW * a.Wg * a.Op;
      for (int64_t o0 = 0; o0 < a.Og; o0 += 64) {
        const int64_t no = std::min<int64_t>(64, a.Og - o0), nv = (no + 7) / 8;
#ifdef MNAS_X86
        if (path == kAvx512)
          dot_avx512(a, g * a.Wg, wg, taps, o0, nv, acc);
        else if (path == kAvx2)
          dot_avx2(a, g * a.Wg, wg, taps, o0, nv, acc);
        else
#endif
          dot_portable(a, g * a.Wg, wg, taps, o0, nv, acc);
        finish(path, a, acc, valid, g * a.Og + o0, no, row + ow * O + g * a.Og + o0);
      }
    }
  }
  if (a.channels_last) return;  // `row` is the output row itself
  const int64_t plane = a.OH * a.OW;
  for (int64_t o = 0; o < O; ++o) {
    float* out = a.out + (n * O + o) * plane + oh * a.OW;
    for (int64_t ow = 0; ow < a.OW; ++ow) out[ow] = row[ow * O + o];
  }
}

std::optional<const float*> channel_values(const std::optional<at::Tensor>& t, int64_t count,
                                           const char* what, std::vector<at::Tensor>& keep) {
  if (!t.has_value() || !t->defined()) return std::nullopt;
  TORCH_CHECK(t->scalar_type() == at::kFloat && t->numel() == count, "binary_conv2d: ", what,
              " must hold ", count, " float32 values");
  keep.push_back(t->contiguous());
  return keep.back().data_ptr<float>();
}

at::Tensor binary_conv2d(const at::Tensor& x_packed, const at::Tensor& w_packed,
                         int64_t in_channels, int64_t out_channels, at::IntArrayRef kernel,
                         at::IntArrayRef stride, at::IntArrayRef padding,
                         at::IntArrayRef dilation, const std::optional<at::Tensor>& scale,
                         const std::optional<at::Tensor>& bias, double pad_value,
                         bool channels_last, int64_t path) {
  TORCH_CHECK(x_packed.scalar_type() == at::kLong && x_packed.dim() == 5,
              "binary_conv2d: input must be packed signs [N, H, W, G, Wg] (int64)");
  TORCH_CHECK(w_packed.scalar_type() == at::kLong && w_packed.dim() == 4,
              "binary_conv2d: weights must be packed [G, KH*KW, Wg, Op] (int64)");
  TORCH_CHECK(kernel.size() == 2 && stride.size() == 2 && padding.size() == 2 &&
                  dilation.size() == 2,
              "binary_conv2d: kernel, stride, padding and dilation take two values");
  path = resolve(path);
  const at::Tensor x = x_packed.contiguous(), w = w_packed.contiguous();
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), G = x.size(3), Wg = x.size(4);
  TORCH_CHECK(G >= 1 && in_channels % G == 0 && out_channels % G == 0,
              "binary_conv2d: groups ", G, " must divide ", in_channels, " and ", out_channels);
  const int64_t Cg = in_channels / G, Og = out_channels / G, Op = (Og + 7) / 8 * 8;
  TORCH_CHECK(Wg == words(Cg), "binary_conv2d: input holds ", Wg, " words per group, ",
              in_channels, " channels need ", words(Cg));
  TORCH_CHECK(w.size(0) == G && w.size(1) == kernel[0] * kernel[1] && w.size(2) == Wg &&
                  w.size(3) == Op,
              "binary_conv2d: packed weights do not match the input, kernel and channels");
  TORCH_CHECK(kernel[0] * kernel[1] <= kMaxTaps, "binary_conv2d: kernels of more than ",
              kMaxTaps, " taps are not supported");
  for (int i = 0; i < 2; ++i)
    TORCH_CHECK(kernel[i] >= 1 && stride[i] >= 1 && dilation[i] >= 1 && padding[i] >= 0,
                "binary_conv2d: kernel, stride and dilation must be >= 1, padding >= 0");
  const int64_t OH = (H + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1;
  const int64_t OW = (W + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1;
  TORCH_CHECK(OH >= 1 && OW >= 1, "binary_conv2d: the output would be empty");
  TORCH_CHECK(pad_value == 0.0 || pad_value == 1.0 || pad_value == -1.0,
              "binary_conv2d: the padding value must be 0, 1 or -1, not ", pad_value);
  std::vector<uint64_t> pad(pad_value == 0.0 ? 0 : G * Wg);
  for (int64_t j = 0; j < Wg && pad_value < 0; ++j) {  // -1: every channel's bit set
    const int64_t nb = std::min<int64_t>(64, Cg - 64 * j);
    for (int64_t g = 0; g < G; ++g) pad[g * Wg + j] = nb == 64 ? ~0ULL : (1ULL << nb) - 1;
  }
  std::vector<at::Tensor> keep;
  const auto sc = channel_values(scale, out_channels, "scale", keep);
  const auto bi = channel_values(bias, out_channels, "bias", keep);
  at::Tensor out = at::empty({N, out_channels, OH, OW},
                             x.options().dtype(at::kFloat).memory_format(
                                 channels_last ? at::MemoryFormat::ChannelsLast
                                               : at::MemoryFormat::Contiguous));
  ConvArgs a{reinterpret_cast<const uint64_t*>(x.data_ptr<int64_t>()),
             reinterpret_cast<const uint64_t*>(w.data_ptr<int64_t>()),
             out.data_ptr<float>(),
             sc.value_or(nullptr),
             bi.value_or(nullptr),
             pad.empty() ? nullptr : pad.data(),
             N, H, W, G, Wg, Cg, Og, Op, kernel[0], kernel[1], OH, OW,
             stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
             channels_last};
  // rows per task: enough xor-popcount words (about 10 us) to pay for waking a thread
  const int64_t row_words = OW * G * Op * kernel[0] * kernel[1] * Wg;
  const int64_t grain = std::max<int64_t>(1, kGrainWords / std::max<int64_t>(1, row_words));
  at::parallel_for(0, N * OH, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> buffer(channels_last ? 0 : OW * out_channels);
    for (int64_t r = begin; r < end; ++r) {
      float* row = channels_last ? a.out + r * OW * out_channels : buffer.data();
      conv_row(a, path, r / OH, r % OH, row);
    }
  });
  return out;
}

int64_t best_path() { return resolve(kAuto); }

}  // namespace

TORCH_LIBRARY(mnas_kernels, m) {
  m.def("cpu_supports(int path) -> bool", &cpu_supports);
  m.def("best_path() -> int", &best_path);
  m.def("pack_signs(Tensor x, int groups, int path) -> Tensor", &pack_signs);
  m.def("binary_conv2d(Tensor x, Tensor w, int in_channels, int out_channels, int[] kernel, "
        "int[] stride, int[] padding, int[] dilation, Tensor? scale, Tensor? bias, "
        "float pad_value, bool channels_last, int path) -> Tensor",
        &binary_conv2d);
}
