// AVX-512 backward passes of one map (float32), chosen at run time like the
// forward paths of mass_displacement_cpu_avx512.h.
//
// Bilinear (BackwardBilinearAvx512): the gradients of 16 interior votes
// lane-wise, with the portable path's bits.
//
// Gaussian (up to 16 taps per axis): BackwardMapBody's gradients, with 16 votes
// (16 consecutive pixels of one edge) located and weighted lane-wise by
// LocateGaussianLanes, then each footprint row of a vote as one masked
// 16-lane operation.
//
// The Gaussian tap sums of a vote are kept per lane across its rows and
// reduced once, an order that differs from the portable path's (four partial
// sums per row): the two paths agree to rounding, and each gives the same
// bits run to run. Every other quantity (landing, taps, weights, dm/dv) has
// the portable path's bits.
//
// Included by mass_displacement_cpu.h after PrepareBackwardPlanes and BackwardVote.
#ifndef MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_BACKWARD_H_
#define MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_BACKWARD_H_

#ifdef MDN_HAVE_AVX512_PATH

namespace mdn {

// dL/dv = upstream * dm/dv of 16 taps (TapGrad and TapDmDv lane by lane),
// from their tap values v and their output pixels' upstream gradient,
// statistics `product` and counts (read only for max, and for noisy-OR when
// `counted`: some output pixel of the map has a zero factor). Lanes whose
// inputs are 0 give 0.
template <int kCombine>
__attribute__((target("avx512f,avx512dq"))) inline __m512 TapGradLanes(__m512 upstream,
                                                                     __m512 product,
                                                                     __m512i counts, __m512 v,
                                                                     bool counted) {
  if (kCombine == kAdditive) return upstream;
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.f);
  if (kCombine == kNoisyOr) {
    const __m512 factor = _mm512_sub_ps(one, v);
    if (!counted) {
      // NoisyOrDmDv with no zero factor counted: P / (1 - v), and 0 for a
      // factor that is 0 all the same (possible when a NaN heat value made
      // the saved product NaN, which drops the counts: see DecodeNoisyOr).
      const __mmask16 nonzero = _mm512_cmp_ps_mask(factor, zero, _CMP_NEQ_UQ);
      return _mm512_mul_ps(upstream, _mm512_maskz_div_ps(nonzero, product, factor));
    }
    const __m512i zeros = counts;
    const __mmask16 is_zero = _mm512_cmp_ps_mask(factor, zero, _CMP_EQ_OQ);
    const __m512 without_this = _mm512_div_ps(product, _mm512_mask_mov_ps(factor, is_zero, one));
    const __m512 if_zero = _mm512_maskz_mov_ps(
        _mm512_cmpeq_epi32_mask(zeros, _mm512_set1_epi32(1)), product);
    const __m512 if_nonzero = _mm512_maskz_mov_ps(
        _mm512_cmpeq_epi32_mask(zeros, _mm512_setzero_si512()), without_this);
    return _mm512_mul_ps(upstream, _mm512_mask_mov_ps(if_nonzero, is_zero, if_zero));
  }
  // max: the winners (v == m > 0) share the gradient (TapDmDv).
  const __m512i ties = counts;
  const __m512 share = _mm512_div_ps(
      one, _mm512_cvtepi32_ps(_mm512_max_epi32(ties, _mm512_set1_epi32(1))));
  const __mmask16 wins = _mm512_cmp_ps_mask(product, zero, _CMP_GT_OQ) &
                         _mm512_cmp_ps_mask(v, product, _CMP_EQ_OQ);
  return _mm512_mul_ps(upstream, _mm512_maskz_mov_ps(wins, share));
}

// TapGradLanes for the on-map taps of one footprint row (`taps`: the lanes
// on the map, read contiguously from g, stat and count).
template <int kCombine>
__attribute__((target("avx512f,avx512dq"))) inline __m512 RowTapGrad(
    __mmask16 taps, const float* g, const float* stat, const int* count, __m512 v,
    bool counted) {
  const bool need_counts = kCombine == kMax || (kCombine == kNoisyOr && counted);
  return TapGradLanes<kCombine>(
      _mm512_maskz_loadu_ps(taps, g),
      kCombine == kAdditive ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(taps, stat),
      need_counts ? _mm512_maskz_loadu_epi32(taps, count) : _mm512_setzero_si512(), v, counted);
}

// TapGradLanes for one tap of 16 bilinear votes: `active` lanes read output
// pixel q[lane] of g, stat and count.
template <int kCombine>
__attribute__((target("avx512f,avx512dq"))) inline __m512 GatherTapGrad(
    __mmask16 active, __m512i q, const float* g, const float* stat, const int* count, __m512 v,
    bool counted) {
  const __m512 zero = _mm512_setzero_ps();
  const bool need_counts = kCombine == kMax || (kCombine == kNoisyOr && counted);
  return TapGradLanes<kCombine>(
      _mm512_mask_i32gather_ps(zero, active, q, g, 4),
      kCombine == kAdditive ? zero : _mm512_mask_i32gather_ps(zero, active, q, stat, 4),
      need_counts ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), active, q, count, 4)
                  : _mm512_setzero_si512(),
      v, counted);
}

// The votes of edge e (heatmap channel `source`) from the pixels (i, j0 + l),
// flat index pix0 + l, of the lanes in `valid`: offsets and heat sit a
// channel stride apart, so they are gathered.
template <int kCombine>
__attribute__((target("avx512f"))) inline VoteLanes PixelRowVotes(
    const VoteParams& p, const float* heatmaps, const float* offsets_x, const float* offsets_y,
    int64_t pix0, int64_t i, int64_t j0, int e, int source, __mmask16 valid) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i offset_index =
      _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(p.num_edges)));
  const __m512i heat_index =
      _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(p.num_maps)));
  const __m512 x =
      _mm512_cvtepi32_ps(_mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(j0))));
  return MakeVoteLanes<kCombine>(
      p, x, _mm512_set1_ps(static_cast<float>(i)),
      _mm512_mask_i32gather_ps(zero, valid, offset_index, offsets_x + pix0 * p.num_edges + e, 4),
      _mm512_mask_i32gather_ps(zero, valid, offset_index, offsets_y + pix0 * p.num_edges + e, 4),
      _mm512_mask_i32gather_ps(zero, valid, heat_index, heatmaps + pix0 * p.num_maps + source,
                               4));
}

// Noisy-OR: whether any output pixel of the map has a zero factor.
inline bool AnyZeroFactor(const int* count, int64_t size) {
  int zeros = 0;
  for (int64_t q = 0; q < size; ++q) zeros |= count[q];
  return zeros != 0;
}

template <int kCombine>
__attribute__((target("avx512f,avx512dq"))) void BackwardGaussianAvx512(
    const VoteParams& params, const TargetGroup& group, const float* grad_output,
    const float* heatmaps, const float* offsets_x, const float* offsets_y,
    const float* saved_stat, const int* saved_count, int64_t b, MapScratch<float>& s,
    float* grad_offsets_x, float* grad_offsets_y, float* grad_heatmaps, float* grad_edges) {
  const VoteParams p = Specialise<kCombine, kGaussian>(params);
  const int64_t H = p.height, W = p.width, J = p.num_maps, E = p.num_edges;
  PrepareBackwardPlanes<float, float, kCombine, kGaussian>(
      p, group, grad_output, heatmaps, offsets_x, offsets_y, saved_stat, saved_count, b, s);
  const float* g = s.plane_a();
  const float* stat = s.plane_b();
  const int* count = s.plane_count();
  const bool counted = kCombine == kNoisyOr && AnyZeroFactor(count, H * W);
  const float scale = static_cast<float>(p.scale);
  const __m512 zero = _mm512_setzero_ps();
  GaussianLanes f;
  alignas(64) float c_lanes[16], raw_lanes[16];
  for (int n = 0; n < group.num_edges; ++n) {
    const int e = group.edges[n].edge;
    const int source = group.edges[n].source;
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j0 = 0; j0 < W; j0 += 16) {
        const int lanes = static_cast<int>(std::min<int64_t>(16, W - j0));
        const __mmask16 valid = static_cast<__mmask16>((1u << lanes) - 1u);
        const int64_t pix0 = (b * H + i) * W + j0;
        const VoteLanes votes = PixelRowVotes<kCombine>(p, heatmaps, offsets_x, offsets_y, pix0,
                                                        i, j0, e, source, valid);
        _mm512_store_ps(c_lanes, votes.c);
        _mm512_store_ps(raw_lanes, votes.raw);
        LocateGaussianLanes<true>(p, votes.lx, votes.ly, valid, &f);
        for (int l = 0; l < lanes; ++l) {
          const float c_l = c_lanes[l];
          // dc = sum K * dL/dv, dx = sum dK/dx' * dL/dv (and y), over the taps.
          float dc = 0.f, dx = 0.f, dy = 0.f;
          if ((f.has_taps >> l) & 1u) {
            const int kx_begin = f.kx_begin[l];
            const __mmask16 taps = static_cast<__mmask16>((1u << (f.kx_end[l] - kx_begin)) - 1u);
            const __m512 wx = LaneWeights(f.wx, l, kx_begin, taps);
            const __m512 dwx = LaneWeights(f.dwx, l, kx_begin, taps);
            __m512 sum_c = zero, sum_x = zero, sum_y = zero;
            for (int ky = f.ky_begin[l]; ky < f.ky_end[l]; ++ky) {
              const int64_t q = (f.first_y[l] + ky) * W + f.first_x[l] + kx_begin;
              const float wy = f.wy[ky * 16 + l], dwy = f.dwy[ky * 16 + l];
              const __m512 v = _mm512_mul_ps(wx, _mm512_set1_ps(wy * c_l));  // TapValue
              const __m512 gv = RowTapGrad<kCombine>(taps, g + q, stat + q, count + q, v, counted);
              const __m512 along = _mm512_mul_ps(wx, gv), slope = _mm512_mul_ps(dwx, gv);
              sum_c = _mm512_add_ps(sum_c, _mm512_mul_ps(_mm512_set1_ps(wy), along));
              sum_x = _mm512_add_ps(sum_x, _mm512_mul_ps(_mm512_set1_ps(wy), slope));
              sum_y = _mm512_add_ps(sum_y, _mm512_mul_ps(_mm512_set1_ps(dwy), along));
            }
            dc = _mm512_reduce_add_ps(sum_c);
            dx = _mm512_reduce_add_ps(sum_x);
            dy = _mm512_reduce_add_ps(sum_y);
          }
          // v = K(x') * c and x' = x + s * o: chain rule for the three inputs.
          // A dropped vote has no gradient at all.
          const bool located = (f.located >> l) & 1u;
          const int64_t pix = pix0 + l, pe = pix * E + e;
          const float mask = located ? HeatGradMask(kCombine, raw_lanes[l]) : 0.f;
          grad_offsets_x[pe] = located ? scale * c_l * dx : 0.f;
          grad_offsets_y[pe] = located ? scale * c_l * dy : 0.f;
          if (grad_heatmaps != nullptr) {
            grad_heatmaps[pix * J + source] = dc * mask;
          } else {
            grad_edges[pe] = dc * mask;
          }
        }
      }
    }
  }
}

// AVX-512 backward pass of one bilinear map (float32): 16 votes (16
// consecutive pixels of one edge) at a time, the interior ones (all four taps
// on the map) lane-wise with BackwardVote's operations in its order (tap by
// tap, dc += (tx * ty) * gv and so on), so each vote gets the portable path's
// bits; the others (near the border, dropped) go through BackwardVote.
template <int kCombine>
__attribute__((target("avx512f,avx512dq"))) void BackwardBilinearAvx512(
    const VoteParams& params, const TargetGroup& group, const float* grad_output,
    const float* heatmaps, const float* offsets_x, const float* offsets_y,
    const float* saved_stat, const int* saved_count, int64_t b, MapScratch<float>& s,
    float* grad_offsets_x, float* grad_offsets_y, float* grad_heatmaps, float* grad_edges) {
  const VoteParams p = Specialise<kCombine, kBilinear>(params);
  const int64_t H = p.height, W = p.width, J = p.num_maps, E = p.num_edges;
  PrepareBackwardPlanes<float, float, kCombine, kBilinear>(
      p, group, grad_output, heatmaps, offsets_x, offsets_y, saved_stat, saved_count, b, s);
  const float* g = s.plane_a();
  const float* stat = s.plane_b();
  const int* count = s.plane_count();
  const bool counted = kCombine == kNoisyOr && AnyZeroFactor(count, H * W);
  const float scale = static_cast<float>(p.scale);
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.f);
  const __m512 minus_one = _mm512_set1_ps(-1.f);
  const __m512 x_end = _mm512_set1_ps(static_cast<float>(W - 1));
  const __m512 y_end = _mm512_set1_ps(static_cast<float>(H - 1));
  const __m512i width = _mm512_set1_epi32(static_cast<int32_t>(W));
  const __m512i one_i = _mm512_set1_epi32(1);
  alignas(64) float dc_lanes[16], dx_lanes[16], dy_lanes[16], c_lanes[16], raw_lanes[16];
  for (int n = 0; n < group.num_edges; ++n) {
    const int e = group.edges[n].edge;
    const int source = group.edges[n].source;
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j0 = 0; j0 < W; j0 += 16) {
        const int lanes = static_cast<int>(std::min<int64_t>(16, W - j0));
        const __mmask16 valid = static_cast<__mmask16>((1u << lanes) - 1u);
        const int64_t pix0 = (b * H + i) * W + j0;
        const VoteLanes votes = PixelRowVotes<kCombine>(p, heatmaps, offsets_x, offsets_y, pix0,
                                                        i, j0, e, source, valid);
        const __m512 lx = votes.lx, ly = votes.ly, c = votes.c, raw = votes.raw;
        // VisitVote's interior test (NaN fails it).
        const __mmask16 interior = valid & _mm512_cmp_ps_mask(lx, zero, _CMP_GE_OQ) &
                                   _mm512_cmp_ps_mask(lx, x_end, _CMP_LT_OQ) &
                                   _mm512_cmp_ps_mask(ly, zero, _CMP_GE_OQ) &
                                   _mm512_cmp_ps_mask(ly, y_end, _CMP_LT_OQ);
        if (interior != 0) {
          const __m512 lxs = _mm512_maskz_mov_ps(interior, lx);
          const __m512 lys = _mm512_maskz_mov_ps(interior, ly);
          const __m512i x0 = _mm512_cvttps_epi32(lxs), y0 = _mm512_cvttps_epi32(lys);
          const __m512 fx = _mm512_sub_ps(lxs, _mm512_cvtepi32_ps(x0));
          const __m512 fy = _mm512_sub_ps(lys, _mm512_cvtepi32_ps(y0));
          const __m512 gx = _mm512_sub_ps(one, fx), gy = _mm512_sub_ps(one, fy);
          const __m512i q = _mm512_add_epi32(_mm512_mullo_epi32(y0, width), x0);
          __m512 dc = zero, dx = zero, dy = zero;
          // VisitVote's four taps, in its order: (q, gx, gy, -1, -1),
          // (q + 1, fx, gy, 1, -1), (q + W, gx, fy, -1, 1), (q + W + 1, fx, fy, 1, 1).
          const __m512i tap_q[4] = {q, _mm512_add_epi32(q, one_i), _mm512_add_epi32(q, width),
                                    _mm512_add_epi32(_mm512_add_epi32(q, width), one_i)};
          const __m512 tap_x[4] = {gx, fx, gx, fx}, tap_y[4] = {gy, gy, fy, fy};
          const __m512 tap_dx[4] = {minus_one, one, minus_one, one};
          const __m512 tap_dy[4] = {minus_one, minus_one, one, one};
          for (int t = 0; t < 4; ++t) {
            const __m512 tx = tap_x[t], ty = tap_y[t];
            const __m512 v = _mm512_mul_ps(tx, _mm512_mul_ps(ty, c));  // TapValue
            const __m512 gv =
                GatherTapGrad<kCombine>(interior, tap_q[t], g, stat, count, v, counted);
            dc = _mm512_add_ps(dc, _mm512_mul_ps(_mm512_mul_ps(tx, ty), gv));
            dx = _mm512_add_ps(dx, _mm512_mul_ps(_mm512_mul_ps(tap_dx[t], ty), gv));
            dy = _mm512_add_ps(dy, _mm512_mul_ps(_mm512_mul_ps(tx, tap_dy[t]), gv));
          }
          _mm512_store_ps(dc_lanes, dc);
          _mm512_store_ps(dx_lanes, dx);
          _mm512_store_ps(dy_lanes, dy);
          _mm512_store_ps(c_lanes, c);
          _mm512_store_ps(raw_lanes, raw);
        }
        for (int l = 0; l < lanes; ++l) {
          const int64_t pix = pix0 + l;
          if (((interior >> l) & 1u) == 0) {
            BackwardVote<float, float, kCombine, kBilinear>(
                p, s, heatmaps, offsets_x, offsets_y, pix, i, j0 + l, e, source, grad_offsets_x,
                grad_offsets_y, grad_heatmaps, grad_edges);
            continue;
          }
          // An interior vote is located: BackwardVote's chain rule.
          const int64_t pe = pix * E + e;
          const float mask = HeatGradMask(kCombine, raw_lanes[l]);
          grad_offsets_x[pe] = scale * c_lanes[l] * dx_lanes[l];
          grad_offsets_y[pe] = scale * c_lanes[l] * dy_lanes[l];
          if (grad_heatmaps != nullptr) {
            grad_heatmaps[pix * J + source] = dc_lanes[l] * mask;
          } else {
            grad_edges[pe] = dc_lanes[l] * mask;
          }
        }
      }
    }
  }
}

}  // namespace mdn

#endif  // MDN_HAVE_AVX512_PATH
#endif  // MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_BACKWARD_H_
