// AVX-512 backward pass of one Gaussian map (float32, up to 16 taps per
// axis), chosen at run time like the forward paths of
// mass_displacement_cpu_avx512.h: BackwardMapBody's gradients, with 16 votes
// (16 consecutive pixels of one edge) located and weighted lane-wise by
// LocateGaussianLanes, then each footprint row of a vote as one masked
// 16-lane operation.
//
// The tap sums of a vote are kept per lane across its rows and reduced once,
// an order that differs from the portable path's (four partial sums per
// row): the two paths agree to rounding, and each gives the same bits run to
// run. Every other quantity (landing, taps, weights, dm/dv) has the portable
// path's bits.
//
// Included by mass_displacement_cpu.h after PrepareBackwardPlanes.
#ifndef MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_BACKWARD_H_
#define MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_BACKWARD_H_

#ifdef MDN_HAVE_AVX512_PATH

namespace mdn {

// dL/dv of the on-map taps of one footprint row (TapGrad lane by lane):
// upstream gradient g, statistics stat/count, tap values v. `counted`:
// some output pixel of the map has a zero noisy-OR factor.
template <int kCombine>
__attribute__((target("avx512f,avx512dq"))) inline __m512 RowTapGrad(
    __mmask16 taps, const float* g, const float* stat, const int* count, __m512 v,
    bool counted) {
  const __m512 upstream = _mm512_maskz_loadu_ps(taps, g);
  if (kCombine == kAdditive) return upstream;
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.f);
  const __m512 product = _mm512_maskz_loadu_ps(taps, stat);
  if (kCombine == kNoisyOr) {
    const __m512 factor = _mm512_sub_ps(one, v);
    if (!counted) {  // NoisyOrDmDv with no zero factor anywhere: P / (1 - v)
      return _mm512_mul_ps(upstream, _mm512_div_ps(product, factor));
    }
    const __m512i zeros = _mm512_maskz_loadu_epi32(taps, count);
    const __mmask16 is_zero = _mm512_cmp_ps_mask(factor, zero, _CMP_EQ_OQ);
    const __m512 without_this = _mm512_div_ps(product, _mm512_mask_mov_ps(factor, is_zero, one));
    const __m512 if_zero = _mm512_maskz_mov_ps(
        _mm512_cmpeq_epi32_mask(zeros, _mm512_set1_epi32(1)), product);
    const __m512 if_nonzero = _mm512_maskz_mov_ps(
        _mm512_cmpeq_epi32_mask(zeros, _mm512_setzero_si512()), without_this);
    return _mm512_mul_ps(upstream, _mm512_mask_mov_ps(if_nonzero, is_zero, if_zero));
  }
  // max: the winners (v == m > 0) share the gradient (TapDmDv).
  const __m512i ties = _mm512_maskz_loadu_epi32(taps, count);
  const __m512 share = _mm512_div_ps(
      one, _mm512_cvtepi32_ps(_mm512_max_epi32(ties, _mm512_set1_epi32(1))));
  const __mmask16 wins = _mm512_cmp_ps_mask(product, zero, _CMP_GT_OQ) &
                         _mm512_cmp_ps_mask(v, product, _CMP_EQ_OQ);
  return _mm512_mul_ps(upstream, _mm512_maskz_mov_ps(wins, share));
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
  bool counted = false;  // any zero noisy-OR factor in this map
  if (kCombine == kNoisyOr) {
    int zeros = 0;
    for (int64_t q = 0; q < H * W; ++q) zeros |= count[q];
    counted = zeros != 0;
  }
  const float scale = static_cast<float>(p.scale);
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.f);
  const __m512 scale_v = _mm512_set1_ps(scale);
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i offset_index = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(E)));
  const __m512i heat_index = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(J)));
  GaussianLanes f;
  alignas(64) float c_lanes[16], raw_lanes[16];
  for (int n = 0; n < group.num_edges; ++n) {
    const int e = group.edges[n].edge;
    const int source = group.edges[n].source;
    for (int64_t i = 0; i < H; ++i) {
      const __m512 y = _mm512_set1_ps(static_cast<float>(i));
      for (int64_t j0 = 0; j0 < W; j0 += 16) {
        const int lanes = static_cast<int>(std::min<int64_t>(16, W - j0));
        const __mmask16 valid = static_cast<__mmask16>((1u << lanes) - 1u);
        const int64_t pix0 = (b * H + i) * W + j0;
        const __m512 ox = _mm512_mask_i32gather_ps(zero, valid, offset_index,
                                                   offsets_x + pix0 * E + e, 4);
        const __m512 oy = _mm512_mask_i32gather_ps(zero, valid, offset_index,
                                                   offsets_y + pix0 * E + e, 4);
        const __m512 raw = _mm512_mask_i32gather_ps(zero, valid, heat_index,
                                                    heatmaps + pix0 * J + source, 4);
        __m512 c = raw;
        if (kCombine == kNoisyOr) {  // HeatValue: clip to [0, 1], NaN stays NaN
          c = _mm512_mask_mov_ps(c, _mm512_cmp_ps_mask(c, zero, _CMP_LT_OQ), zero);
          c = _mm512_mask_mov_ps(c, _mm512_cmp_ps_mask(c, one, _CMP_GT_OQ), one);
        }
        _mm512_store_ps(c_lanes, c);
        _mm512_store_ps(raw_lanes, raw);
        const __m512 x = _mm512_cvtepi32_ps(_mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(j0))));
        LocateGaussianLanes<true>(p, _mm512_add_ps(x, _mm512_mul_ps(scale_v, ox)),
                                  _mm512_add_ps(y, _mm512_mul_ps(scale_v, oy)), valid, &f);
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

}  // namespace mdn

#endif  // MDN_HAVE_AVX512_PATH
#endif  // MDN_TF_MASS_DISPLACEMENT_CPU_AVX512_BACKWARD_H_
