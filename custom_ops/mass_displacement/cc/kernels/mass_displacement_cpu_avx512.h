// AVX-512 paths of the CPU forward pass for float32, chosen at run time on
// CPUs with AVX-512 F/VL/BW/DQ (MDN_TF_CPU_SIMD=sse2 turns them off): the
// bilinear vote loop, the Gaussian footprint rows and the output writes.
//
// Bilinear: the 16 votes of a pixel in a 512-bit vector are located and
// weighted together (16 lanes amortise the float->int conversions, compares
// and products that dominate the scalar loop); then their taps are applied
// one vote at a time in edge order, exactly as the scalar path applies them,
// so the result is bit-identical to it: lane-wise IEEE arithmetic, and the
// build passes -ffp-contract=off so no product and sum are fused into an
// FMA. (On the AMD Zen 4 this was tuned on, scalar tap updates beat
// gather/scatter: 5.7 against 6.8 ns per noisy-OR vote.) Votes near the
// border stay on this path (off-map taps go to a spare accumulator); only
// noisy-OR votes with c = 1, whose factors may be 0 and need counting (and
// votes with NaN heat), go through AddBilinearVote.
//
// Included by mass_displacement_cpu.h after AddBilinearVote and AddInteriorTaps.
#ifndef MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_H_
#define MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_H_

#if defined(__x86_64__) && !defined(__CUDACC__) && (defined(__GNUC__) || defined(__clang__))
#define MDN_HAVE_AVX512_PATH 1

#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace mdn {

// True when this CPU has AVX-512 F, VL, BW and DQ (every AVX-512 CPU since
// Skylake-SP; the backward build uses all four) and MDN_TF_CPU_SIMD is not
// "sse2" (which forces the portable path, for comparisons). Read once.
inline bool UseAvx512() {
  static const bool use = [] {
    const char* forced = std::getenv("MDN_TF_CPU_SIMD");
    if (forced != nullptr && std::strcmp(forced, "sse2") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  }();
  return use;
}

// Lane k of a chunk of 16 edges: its offset channel, heatmap channel and
// target slot; `contiguous`: channel k = channel 0 + k (one load, no gather).
struct EdgeChunk {
  alignas(64) int32_t edge[16], source[16], slot[16];
  int count;
  bool contiguous_edges, contiguous_sources;
};

inline std::vector<EdgeChunk> MakeEdgeChunks(const TargetGroup& group) {
  std::vector<EdgeChunk> chunks;
  for (int first = 0; first < group.num_edges; first += 16) {
    EdgeChunk chunk{};
    chunk.count = std::min(16, group.num_edges - first);
    chunk.contiguous_edges = chunk.contiguous_sources = true;
    for (int k = 0; k < 16; ++k) {
      const GroupEdge& edge = group.edges[first + (k < chunk.count ? k : 0)];
      chunk.edge[k] = edge.edge;
      chunk.source[k] = edge.source;
      chunk.slot[k] = edge.slot;
      if (k < chunk.count) {
        chunk.contiguous_edges &= edge.edge == chunk.edge[0] + k;
        chunk.contiguous_sources &= edge.source == chunk.source[0] + k;
      }
    }
    chunks.push_back(chunk);
  }
  return chunks;
}

// Whether every chunk reads contiguous channels (within-part voting), so the
// vote loops can be compiled for that case.
inline bool AllContiguous(const std::vector<EdgeChunk>& chunks) {
  bool contiguous = true;
  for (const EdgeChunk& chunk : chunks) {
    contiguous &= chunk.contiguous_edges && chunk.contiguous_sources;
  }
  return contiguous;
}

template <bool kContiguous>
__attribute__((target("avx512f"))) inline __m512 LoadLanes(const float* base,
                                                           const int32_t* channels,
                                                           __mmask16 valid) {
  if (kContiguous) return _mm512_maskz_loadu_ps(valid, base + channels[0]);
  const __m512i index = _mm512_load_si512(channels);
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid, index, base, 4);
}

// 16 votes as the vote loops see them: landing points (Land) and heat, raw
// and as the combine uses it (HeatValue: noisy-OR clips to [0, 1], NaN stays
// NaN).
struct VoteLanes {
  __m512 lx, ly, raw, c;
};

template <int kCombine>
__attribute__((target("avx512f"))) inline VoteLanes MakeVoteLanes(const VoteParams& p, __m512 x,
                                                                  __m512 y, __m512 ox,
                                                                  __m512 oy, __m512 raw) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.f);
  const __m512 scale = _mm512_set1_ps(static_cast<float>(p.scale));
  __m512 c = raw;
  if (kCombine == kNoisyOr) {
    c = _mm512_mask_mov_ps(c, _mm512_cmp_ps_mask(c, zero, _CMP_LT_OQ), zero);
    c = _mm512_mask_mov_ps(c, _mm512_cmp_ps_mask(c, one, _CMP_GT_OQ), one);
  }
  return VoteLanes{_mm512_add_ps(x, _mm512_mul_ps(scale, ox)),
                   _mm512_add_ps(y, _mm512_mul_ps(scale, oy)), raw, c};
}

// The votes of one chunk of edges from pixel (i, j) of flat index pix.
template <int kCombine, bool kContiguous>
__attribute__((target("avx512f"))) inline VoteLanes ChunkVotes(
    const VoteParams& p, const EdgeChunk& chunk, const float* heatmaps, const float* offsets_x,
    const float* offsets_y, int64_t pix, int64_t i, int64_t j) {
  const __mmask16 valid = static_cast<__mmask16>((1u << chunk.count) - 1u);
  return MakeVoteLanes<kCombine>(
      p, _mm512_set1_ps(static_cast<float>(j)), _mm512_set1_ps(static_cast<float>(i)),
      LoadLanes<kContiguous>(offsets_x + pix * p.num_edges, chunk.edge, valid),
      LoadLanes<kContiguous>(offsets_y + pix * p.num_edges, chunk.edge, valid),
      LoadLanes<kContiguous>(heatmaps + pix * p.num_maps, chunk.source, valid));
}

// Accumulates the bilinear votes of batch item b into the interleaved
// accumulators acc[y * row + x * G + slot] (see InterleavedRowStride),
// already initialised. Noisy-OR counts go to `count`, or, when `lazy` is not
// null, to lazy->Get() (zero-filled on the first certain vote). Requires H * row < 2^31 (int32 lanes) and one spare
// entry past the rows (acc[H * row], and count[H * row] when count is not
// null; see AccumulatorsPerUnit).
// kContiguous: every chunk reads contiguous channels (within-part voting);
// a constant, so the pixel loop has no per-chunk branch on it.
template <int kCombine, bool kContiguous>
__attribute__((target("avx512f"))) void AccumulateBilinearAvx512(
    const VoteParams& p, const TargetGroup& group, const std::vector<EdgeChunk>& chunks,
    const float* heatmaps, const float* offsets_x, const float* offsets_y, int64_t b, float* acc,
    int* count, LazyCounts* lazy) {
  const int64_t H = p.height, W = p.width, G = group.size;
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 minus_one = _mm512_set1_ps(-1.f);
  const __m512 width_f = _mm512_set1_ps(static_cast<float>(W));
  const __m512 height_f = _mm512_set1_ps(static_cast<float>(H));
  const __m512i zero_i = _mm512_setzero_si512();
  const __m512i last_column = _mm512_set1_epi32(static_cast<int32_t>(W - 1));
  const __m512i last_row = _mm512_set1_epi32(static_cast<int32_t>(H - 1));
  const int64_t row = InterleavedRowStride(p, G);
  const __m512i group_size = _mm512_set1_epi32(static_cast<int32_t>(G));
  const __m512i row_i = _mm512_set1_epi32(static_cast<int32_t>(row));
  // The spare accumulator: index H * row, inside the scratch arrays.
  const __m512i spare = _mm512_set1_epi32(static_cast<int32_t>(H * row));
  alignas(64) float lx_lanes[16], ly_lanes[16], c_lanes[16];
  alignas(64) float w00[16], w01[16], w10[16], w11[16];
  alignas(64) int32_t corner[16], tap00[16], tap01[16], tap10[16], tap11[16];
  for (int64_t i = 0; i < H; ++i) {
    for (int64_t j = 0; j < W; ++j) {
      const int64_t pix = (b * H + i) * W + j;
      for (const EdgeChunk& chunk : chunks) {
        const __mmask16 valid = static_cast<__mmask16>((1u << chunk.count) - 1u);
        const VoteLanes votes = ChunkVotes<kCombine, kContiguous>(p, chunk, heatmaps, offsets_x,
                                                                  offsets_y, pix, i, j);
        const __m512 lx = votes.lx, ly = votes.ly, c = votes.c;
        // Lanes with a tap on the map: landing in [-1, W) x [-1, H) (NaN fails).
        const __mmask16 reach = valid & _mm512_cmp_ps_mask(lx, minus_one, _CMP_GE_OQ) &
                                _mm512_cmp_ps_mask(lx, width_f, _CMP_LT_OQ) &
                                _mm512_cmp_ps_mask(ly, minus_one, _CMP_GE_OQ) &
                                _mm512_cmp_ps_mask(ly, height_f, _CMP_LT_OQ);
        // Noisy-OR votes with c = 1 may have zero factors to count: scalar.
        const __mmask16 simple =
            kCombine == kNoisyOr ? reach & _mm512_cmp_ps_mask(c, one, _CMP_LT_OQ) : reach;
        // floor (exact in the reach); the lanes outside are never used.
        const __m512 x0f = _mm512_roundscale_ps(lx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m512 y0f = _mm512_roundscale_ps(ly, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m512i x0 = _mm512_cvttps_epi32(x0f), y0 = _mm512_cvttps_epi32(y0f);
        const __m512 fx = _mm512_sub_ps(lx, x0f), fy = _mm512_sub_ps(ly, y0f);
        const __m512 gx = _mm512_sub_ps(one, fx), gy = _mm512_sub_ps(one, fy);
        const __m512 gyc = _mm512_mul_ps(gy, c), fyc = _mm512_mul_ps(fy, c);
        // TapValue(wx, wy, c) = wx * (wy * c).
        __m512 v00 = _mm512_mul_ps(gx, gyc), v01 = _mm512_mul_ps(fx, gyc);
        __m512 v10 = _mm512_mul_ps(gx, fyc), v11 = _mm512_mul_ps(fx, fyc);
        const __m512i slot = _mm512_load_si512(chunk.slot);
        const __m512i q = _mm512_add_epi32(
            _mm512_add_epi32(_mm512_mullo_epi32(y0, row_i), _mm512_mullo_epi32(x0, group_size)),
            slot);
        if (kCombine == kNoisyOr) {  // noisy-OR multiplies by the factors 1 - v
          v00 = _mm512_sub_ps(one, v00);
          v01 = _mm512_sub_ps(one, v01);
          v10 = _mm512_sub_ps(one, v10);
          v11 = _mm512_sub_ps(one, v11);
        }
        // Which of the four taps are on the map; interior votes have all four.
        const __mmask16 left = _mm512_cmpge_epi32_mask(x0, zero_i);
        const __mmask16 right = _mm512_cmplt_epi32_mask(x0, last_column);
        const __mmask16 top = _mm512_cmpge_epi32_mask(y0, zero_i);
        const __mmask16 bottom = _mm512_cmplt_epi32_mask(y0, last_row);
        const __mmask16 inside = simple & left & right & top & bottom;
        _mm512_store_si512(corner, q);
        _mm512_store_ps(w00, v00);
        _mm512_store_ps(w01, v01);
        _mm512_store_ps(w10, v10);
        _mm512_store_ps(w11, v11);
        const __mmask16 other = reach & static_cast<__mmask16>(~simple);
        if (kCombine != kMax && other == 0) {
          // Every vote of the chunk applies four taps, those off the map (or
          // of votes with no tap on it) to the spare accumulator, without a
          // branch per vote: border votes would mispredict one.
          _mm512_store_si512(tap00, _mm512_mask_mov_epi32(spare, simple & left & top, q));
          _mm512_store_si512(tap01, _mm512_mask_mov_epi32(spare, simple & right & top,
                                                          _mm512_add_epi32(q, group_size)));
          _mm512_store_si512(tap10, _mm512_mask_mov_epi32(spare, simple & left & bottom,
                                                          _mm512_add_epi32(q, row_i)));
          _mm512_store_si512(tap11, _mm512_mask_mov_epi32(
                                        spare, simple & right & bottom,
                                        _mm512_add_epi32(q, _mm512_add_epi32(row_i, group_size))));
          for (int k = 0; k < chunk.count; ++k) {
            float* a00 = acc + tap00[k];
            float* a01 = acc + tap01[k];
            float* a10 = acc + tap10[k];
            float* a11 = acc + tap11[k];
            const float t00 = *a00, t01 = *a01, t10 = *a10, t11 = *a11;
            if (kCombine == kNoisyOr) {
              *a00 = t00 * w00[k], *a01 = t01 * w01[k], *a10 = t10 * w10[k], *a11 = t11 * w11[k];
            } else {
              *a00 = t00 + w00[k], *a01 = t01 + w01[k], *a10 = t10 + w10[k], *a11 = t11 + w11[k];
            }
          }
          continue;
        }
        const __mmask16 partial = simple & static_cast<__mmask16>(~inside);
        if (partial != 0) {
          // Taps off the map go to a spare accumulator past the maps, whose
          // value is never read: the vote then needs no per-tap branches.
          _mm512_store_si512(tap00, _mm512_mask_mov_epi32(spare, left & top, q));
          _mm512_store_si512(tap01, _mm512_mask_mov_epi32(spare, right & top,
                                                          _mm512_add_epi32(q, group_size)));
          _mm512_store_si512(tap10, _mm512_mask_mov_epi32(spare, left & bottom,
                                                          _mm512_add_epi32(q, row_i)));
          _mm512_store_si512(tap11, _mm512_mask_mov_epi32(
                                        spare, right & bottom,
                                        _mm512_add_epi32(q, _mm512_add_epi32(row_i, group_size))));
        }
        if (other != 0) {
          _mm512_store_ps(lx_lanes, lx);
          _mm512_store_ps(ly_lanes, ly);
          _mm512_store_ps(c_lanes, c);
        }
        // The votes one by one, in edge order (as the scalar path adds them);
        // a vote with no tap on the map adds nothing.
        for (int k = 0; k < chunk.count; ++k) {
          if (__builtin_expect(((inside >> k) & 1u) == 0, 0)) {
            if ((partial >> k) & 1u) {
              // Same taps and order as AddBilinearVote's border path.
              const int32_t taps[4] = {tap00[k], tap01[k], tap10[k], tap11[k]};
              const float values[4] = {w00[k], w01[k], w10[k], w11[k]};
              for (int t = 0; t < 4; ++t) {
                if (kCombine == kNoisyOr) {
                  acc[taps[t]] *= values[t];  // a factor 1 - v > 0 (c < 1)
                } else if (kCombine == kAdditive) {
                  acc[taps[t]] += values[t];
                } else {
                  AddTap<kCombine>(values[t], acc[taps[t]], count + taps[t]);
                }
              }
            } else if ((other >> k) & 1u) {
              AddBilinearVote<kCombine>(p, G, chunk.slot[k], lx_lanes[k], ly_lanes[k], c_lanes[k],
                                        acc, lazy != nullptr ? lazy->Get() : count);
            }
            continue;
          }
          AddInteriorTaps<kCombine>(acc + corner[k],
                                    kCombine == kMax ? count + corner[k] : nullptr, G, row,
                                    w00[k], w01[k], w10[k], w11[k]);
        }
      }
    }
  }
}

// WriteOutputs for float32 with streaming stores: the outputs are written
// once and not read here, so their cache lines need not be fetched first.
// Noisy-OR only without zero factors (count null): m = 1 - P, saved P.
template <int kCombine>
__attribute__((target("avx512f"))) void StreamOutputsAvx512(const float* acc, const int* count,
                                                            int64_t size, float* out,
                                                            float* saved_stat,
                                                            int* saved_count) {
  const __m512 one = _mm512_set1_ps(1.f);
  // Scalar until `out` is 64-byte aligned (the saved outputs have the same
  // offset from their own 64-byte aligned TensorFlow buffers).
  auto scalar = [&](int64_t n) {
    out[n] = kCombine == kNoisyOr ? 1.f - acc[n] : acc[n];
    if (kCombine == kAdditive || saved_stat == nullptr) return;
    saved_stat[n] = acc[n];
    if (kCombine == kMax) saved_count[n] = count[n];
  };
  int64_t n = 0;
  for (; n < size && (reinterpret_cast<uintptr_t>(out + n) % 64) != 0; ++n) scalar(n);
  const bool aligned = saved_stat == nullptr ||
                       ((reinterpret_cast<uintptr_t>(saved_stat + n) % 64) == 0 &&
                        (kCombine != kMax || reinterpret_cast<uintptr_t>(saved_count + n) % 64 == 0));
  if (aligned) {
    for (; n + 16 <= size; n += 16) {
      const __m512 a = _mm512_loadu_ps(acc + n);
      _mm512_stream_ps(out + n, kCombine == kNoisyOr ? _mm512_sub_ps(one, a) : a);
      if (kCombine == kAdditive || saved_stat == nullptr) continue;
      _mm512_stream_ps(saved_stat + n, a);
      if (kCombine == kMax) {
        _mm512_stream_si512(reinterpret_cast<__m512i*>(saved_count + n),
                            _mm512_loadu_si512(count + n));
      }
    }
  }
  for (; n < size; ++n) scalar(n);
  _mm_sfence();  // streaming stores are weakly ordered: publish them
}

// Exp (mass_displacement_math.h) lane by lane: the same operations in the
// same order, so each lane has the scalar function's bits.
__attribute__((target("avx512f,avx512dq"))) inline __m512 ExpAvx512(__m512 x) {
  const __m512 lowest = _mm512_set1_ps(-87.f), highest = _mm512_set1_ps(88.f);
  const __m512 magic = _mm512_set1_ps(12582912.f);
  const __m512 n = _mm512_sub_ps(
      _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), magic), magic);
  const __m512 r = _mm512_sub_ps(_mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f))),
                                 _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
  __m512 poly = _mm512_set1_ps(1.9875691500e-4f);
  poly = _mm512_add_ps(_mm512_mul_ps(poly, r), _mm512_set1_ps(1.3981999507e-3f));
  poly = _mm512_add_ps(_mm512_mul_ps(poly, r), _mm512_set1_ps(8.3334519073e-3f));
  poly = _mm512_add_ps(_mm512_mul_ps(poly, r), _mm512_set1_ps(4.1665795894e-2f));
  poly = _mm512_add_ps(_mm512_mul_ps(poly, r), _mm512_set1_ps(1.6666665459e-1f));
  poly = _mm512_add_ps(_mm512_mul_ps(poly, r), _mm512_set1_ps(5.0000001201e-1f));
  const __m512 e_r = _mm512_add_ps(
      _mm512_add_ps(_mm512_mul_ps(poly, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.f));
  // Lanes outside [-87, 88] get their exponent from a clamped n (no
  // overflow in the shift) and are replaced below.
  const __m512i n_i = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(n, _mm512_set1_ps(-126.f)),
                                                        _mm512_set1_ps(127.f)));
  const __m512 two_n = _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_add_epi32(n_i, _mm512_set1_epi32(127)), 23));
  __m512 result = _mm512_mul_ps(e_r, two_n);
  const __mmask16 inside = _mm512_cmp_ps_mask(x, lowest, _CMP_GE_OQ) &
                           _mm512_cmp_ps_mask(x, highest, _CMP_LE_OQ);
  const __mmask16 above = _mm512_cmp_ps_mask(x, highest, _CMP_GT_OQ);
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  result = _mm512_mask_mov_ps(result, static_cast<__mmask16>(~inside), _mm512_setzero_ps());
  result = _mm512_mask_mov_ps(result, above, _mm512_set1_ps(INFINITY));
  return _mm512_mask_mov_ps(result, nan, x);
}

// The footprints of 16 Gaussian votes, lane l = vote l: LocateLanding and
// FillAxisWeights lane by lane, with the same operations (Exp as ExpAvx512),
// so every vote gets the scalar path's taps and weights. Weights are stored
// tap-major, w[k * 16 + l]. Needs TapsPerAxis(p) <= 16.
struct GaussianLanes {
  alignas(64) float wx[256], wy[256], dwx[256], dwy[256];
  alignas(64) int32_t first_x[16], first_y[16], kx_begin[16], kx_end[16], ky_begin[16],
      ky_end[16];
  __mmask16 located;  // LocateLanding succeeded
  __mmask16 has_taps;  // located, with at least one tap column on the map
};

// One axis of LocateLanding and FillAxisWeights for 16 landing coordinates;
// returns the lanes located (LocateAxis).
template <bool kDerivatives>
__attribute__((target("avx512f,avx512dq"))) inline __mmask16 LocateAxisLanes(
    const VoteParams& p, __m512 pos, int64_t size, __mmask16 valid, float* w, float* dw,
    int32_t* first_out, int32_t* begin_out, int32_t* end_out) {
  const int reach = Reach(p), taps = TapsPerAxis(p), centre = p.kernel_size / 2;
  const __m512 r = _mm512_set1_ps(static_cast<float>(reach));
  const __m512 one = _mm512_set1_ps(1.f), sign = _mm512_set1_ps(-0.f);
  const __mmask16 located =
      valid &
      _mm512_cmp_ps_mask(pos, _mm512_xor_ps(_mm512_add_ps(r, one), sign), _CMP_GE_OQ) &
      _mm512_cmp_ps_mask(pos, _mm512_add_ps(_mm512_set1_ps(static_cast<float>(size)), r),
                         _CMP_LE_OQ);
  pos = _mm512_maskz_mov_ps(located, pos);  // other lanes: any finite value
  // first = floor(pos + 0.5) - R; the begin/end clamps of LocateLanding.
  const __m512i first = _mm512_sub_epi32(
      _mm512_cvttps_epi32(_mm512_roundscale_ps(_mm512_add_ps(pos, _mm512_set1_ps(0.5f)),
                                               _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)),
      _mm512_set1_epi32(reach));
  const __m512i zero_i = _mm512_setzero_si512(), taps_i = _mm512_set1_epi32(taps);
  const __m512i begin = _mm512_min_epi32(_mm512_max_epi32(_mm512_sub_epi32(zero_i, first), zero_i), taps_i);
  const __m512i end = _mm512_min_epi32(
      _mm512_max_epi32(_mm512_sub_epi32(_mm512_set1_epi32(static_cast<int32_t>(size)), first),
                       zero_i),
      taps_i);
  _mm512_store_si512(first_out, first);
  _mm512_store_si512(begin_out, begin);
  _mm512_store_si512(end_out, end);
  // FillAxisWeights: w(centre) and the ratios from two exps, then the
  // recurrences outward.
  const __m512 alpha = _mm512_set1_ps(static_cast<float>(p.inv_two_var));
  const __m512 step_sq = _mm512_set1_ps(static_cast<float>(p.ratio_step));
  const __m512 d0 = _mm512_sub_ps(
      _mm512_cvtepi32_ps(_mm512_add_epi32(first, _mm512_set1_epi32(centre))), pos);
  const __m512 w0 = ExpAvx512(_mm512_mul_ps(_mm512_xor_ps(_mm512_mul_ps(d0, d0), sign), alpha));
  const __m512 right = ExpAvx512(_mm512_mul_ps(
      _mm512_xor_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(2.f), d0), one), sign), alpha));
  _mm512_store_ps(w + centre * 16, w0);
  __m512 weight = w0, ratio = right;
  for (int k = centre + 1; k < taps; ++k) {
    weight = _mm512_mul_ps(weight, ratio);
    ratio = _mm512_mul_ps(ratio, step_sq);
    _mm512_store_ps(w + k * 16, weight);
  }
  weight = w0, ratio = _mm512_div_ps(step_sq, right);
  for (int k = centre - 1; k >= 0; --k) {
    weight = _mm512_mul_ps(weight, ratio);
    ratio = _mm512_mul_ps(ratio, step_sq);
    _mm512_store_ps(w + k * 16, weight);
  }
  if (kDerivatives) {
    const __m512 inv_var = _mm512_set1_ps(static_cast<float>(p.inv_var));
    for (int k = 0; k < taps; ++k) {
      const __m512 d = _mm512_sub_ps(
          _mm512_cvtepi32_ps(_mm512_add_epi32(first, _mm512_set1_epi32(k))), pos);
      _mm512_store_ps(dw + k * 16, _mm512_mul_ps(_mm512_mul_ps(_mm512_load_ps(w + k * 16), d), inv_var));
    }
  }
  return located;
}

template <bool kDerivatives>
__attribute__((target("avx512f,avx512dq"))) inline void LocateGaussianLanes(
    const VoteParams& p, __m512 lx, __m512 ly, __mmask16 valid, GaussianLanes* f) {
  const __mmask16 on_x = LocateAxisLanes<kDerivatives>(p, lx, p.width, valid, f->wx, f->dwx,
                                                       f->first_x, f->kx_begin, f->kx_end);
  const __mmask16 on_y = LocateAxisLanes<kDerivatives>(p, ly, p.height, valid, f->wy, f->dwy,
                                                       f->first_y, f->ky_begin, f->ky_end);
  f->located = on_x & on_y;
  f->has_taps = f->located & _mm512_cmplt_epi32_mask(_mm512_load_si512(f->kx_begin),
                                                     _mm512_load_si512(f->kx_end));
}

// Along-x weights (tap-major, see GaussianLanes) of vote `lane`, shifted so
// that vector lane t holds tap kx_begin + t; lanes outside `taps` are 0.
__attribute__((target("avx512f"))) inline __m512 LaneWeights(const float* w, int lane,
                                                             int kx_begin, __mmask16 taps) {
  const __m512i tap = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i index = _mm512_slli_epi32(_mm512_add_epi32(tap, _mm512_set1_epi32(kx_begin)), 4);
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), taps, index, w + lane, 4);
}

// Gaussian votes of batch item b into planar accumulators (see
// AccumulatorIndex), 16 votes of a pixel at a time: their footprints and
// weights lane-wise (LocateGaussianLanes), then, vote by vote in edge order,
// each footprint row by one masked 16-lane operation. Additive rows and
// noisy-OR rows without zero factors (r < 1) take it; the others go through
// AccumulateRow. Same lane-wise arithmetic as AccumulateRow, so the result
// has the scalar path's bits. Needs TapsPerAxis(p) <= 16.
template <int kCombine, bool kContiguous>
__attribute__((target("avx512f,avx512dq"))) void AccumulateGaussianAvx512(
    const VoteParams& p, const TargetGroup& group, const std::vector<EdgeChunk>& chunks,
    const float* heatmaps, const float* offsets_x, const float* offsets_y, int64_t b,
    MapScratch<float>& s, float* acc, int* count) {
  const int64_t H = p.height, W = p.width;
  const int64_t stride = PlaneStride(p);
  const __m512 one = _mm512_set1_ps(1.f);
  float* wx = s.wx();  // contiguous weights for AccumulateRow
  GaussianLanes f;
  alignas(64) float c_lanes[16];
  for (int64_t i = 0; i < H; ++i) {
    for (int64_t j = 0; j < W; ++j) {
      const int64_t pix = (b * H + i) * W + j;
      for (const EdgeChunk& chunk : chunks) {
        const __mmask16 valid = static_cast<__mmask16>((1u << chunk.count) - 1u);
        const VoteLanes votes = ChunkVotes<kCombine, kContiguous>(p, chunk, heatmaps, offsets_x,
                                                                  offsets_y, pix, i, j);
        _mm512_store_ps(c_lanes, votes.c);
        LocateGaussianLanes<false>(p, votes.lx, votes.ly, valid, &f);
        for (int k = 0; k < chunk.count; ++k) {
          if (((f.has_taps >> k) & 1u) == 0) continue;
          const int kx_begin = f.kx_begin[k], kx_end = f.kx_end[k];
          const __mmask16 taps = static_cast<__mmask16>((1u << (kx_end - kx_begin)) - 1u);
          const __m512 w = LaneWeights(f.wx, k, kx_begin, taps);
          const float ck = c_lanes[k];
          float* a = acc + chunk.slot[k] * stride;
          int* cnt = count == nullptr ? nullptr : count + chunk.slot[k] * stride;
          bool wx_stored = false;
          for (int ky = f.ky_begin[k]; ky < f.ky_end[k]; ++ky) {
            const int64_t q = (f.first_y[k] + ky) * W + f.first_x[k];
            const float r = f.wy[ky * 16 + k] * ck;  // TapValue = wx * (wy * c)
            if (kCombine == kMax || (kCombine == kNoisyOr && !(r < 1.f))) {
              if (!wx_stored) {  // AccumulateRow reads wx[kx] for kx in [begin, end)
                _mm512_mask_storeu_ps(wx + kx_begin, taps, w);
                wx_stored = true;
              }
              AccumulateRow<kCombine>(a + q, cnt == nullptr ? nullptr : cnt + q, wx, r, kx_begin,
                                      kx_end, 1, s.tap_grad());
              continue;
            }
            float* row = a + q + kx_begin;
            const __m512 v = _mm512_mul_ps(w, _mm512_set1_ps(r));
            const __m512 old = _mm512_maskz_loadu_ps(taps, row);
            const __m512 updated = kCombine == kNoisyOr
                                       ? _mm512_mul_ps(old, _mm512_sub_ps(one, v))
                                       : _mm512_add_ps(old, v);
            _mm512_mask_storeu_ps(row, taps, updated);
          }
        }
      }
    }
  }
}

template <int kCombine>
void AccumulateGaussianAvx512(const VoteParams& p, const TargetGroup& group,
                              const float* heatmaps, const float* offsets_x,
                              const float* offsets_y, int64_t b, MapScratch<float>& s,
                              float* acc, int* count) {
  const std::vector<EdgeChunk> chunks = MakeEdgeChunks(group);
  const bool contiguous = AllContiguous(chunks);
  if (contiguous) {
    AccumulateGaussianAvx512<kCombine, true>(p, group, chunks, heatmaps, offsets_x, offsets_y, b,
                                             s, acc, count);
  } else {
    AccumulateGaussianAvx512<kCombine, false>(p, group, chunks, heatmaps, offsets_x, offsets_y,
                                              b, s, acc, count);
  }
}

template <int kCombine>
void AccumulateBilinearAvx512(const VoteParams& p, const TargetGroup& group,
                              const float* heatmaps, const float* offsets_x,
                              const float* offsets_y, int64_t b, float* acc, int* count,
                              LazyCounts* lazy) {
  const std::vector<EdgeChunk> chunks = MakeEdgeChunks(group);
  const bool contiguous = AllContiguous(chunks);
  if (contiguous) {
    AccumulateBilinearAvx512<kCombine, true>(p, group, chunks, heatmaps, offsets_x, offsets_y, b,
                                             acc, count, lazy);
  } else {
    AccumulateBilinearAvx512<kCombine, false>(p, group, chunks, heatmaps, offsets_x, offsets_y,
                                              b, acc, count, lazy);
  }
}

}  // namespace mdn

#endif  // x86-64, GCC or Clang, not CUDA
#endif  // MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_H_
