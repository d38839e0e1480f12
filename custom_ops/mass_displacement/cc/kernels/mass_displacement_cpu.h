// CPU voting loops, free of TensorFlow types (the TF kernel and the CUDA
// harness both call them). The unit of work is one output map (b, t): it owns
// out[b, :, :, t] and the offset gradients of every edge that targets t, so
// units run in parallel without races and each unit adds its votes in a fixed
// order; results are identical run to run whatever the thread count.
//
// Speed comes from the separable footprint: a vote is visited row by row
// (contiguous taps, loops the compiler vectorises), and in the backward pass
// sum_taps K * g = sum_rows wy * sum_cols wx * g. Bilinear votes whose four
// taps are all on the map take a straight-line path.
#ifndef MDN_TF_MASS_DISPLACEMENT_CPU_H_
#define MDN_TF_MASS_DISPLACEMENT_CPU_H_

#include <algorithm>
#include <vector>

#include "mass_displacement_math.h"

// The per-tap lambdas below are called four times per bilinear vote; GCC would
// otherwise keep the larger ones out of line (a call per tap).
#define MDN_INLINE __attribute__((always_inline))

namespace mdn {

// Per-worker buffers: three H*W planes and five tap arrays, reused by every
// unit the worker runs.
template <typename Acc>
struct MapScratch {
  explicit MapScratch(const VoteParams& p)
      : taps(TapsPerAxis(p)),
        planes(2 * static_cast<size_t>(p.height * p.width)),
        counts(static_cast<size_t>(p.height * p.width)),
        tap_arrays(5 * static_cast<size_t>(taps)) {}
  Acc* plane_a() { return planes.data(); }  // forward sums / backward upstream gradient
  Acc* plane_b() { return planes.data() + counts.size(); }  // noisy-OR product or max
  int* plane_count() { return counts.data(); }  // noisy-OR zero factors or max ties
  Acc* wx() { return tap_arrays.data(); }
  Acc* dwx() { return tap_arrays.data() + taps; }
  Acc* wy() { return tap_arrays.data() + 2 * taps; }
  Acc* dwy() { return tap_arrays.data() + 3 * taps; }
  Acc* tap_grad() { return tap_arrays.data() + 4 * taps; }

  int taps;
  std::vector<Acc> planes;
  std::vector<int> counts;
  std::vector<Acc> tap_arrays;
};

// Edges that vote into map t, in increasing edge order.
struct MapEdges {
  const int* edges;
  int count;
};

// p.combine/p.kernel are overwritten with the template arguments so the
// compiler sees constants and drops the branches of the shared helpers.
template <int kCombine, int kKernel>
inline VoteParams Specialise(const VoteParams& params) {
  VoteParams p = params;
  p.combine = kCombine;
  p.kernel = kKernel;
  return p;
}

// Weights (and derivatives) of taps [begin, end) along one axis. The Gaussian
// uses exp() twice and a multiplicative recurrence outward from the centre
// tap, w(d + 1) = w(d) * r(d) with r(d) = exp(-(2d + 1) / (2 sigma^2)) and
// r(d + 1) = r(d) * exp(-1/sigma^2); leftward ratios are exp(-1/sigma^2) /
// r(d0). A few ulps from the direct formula, and far fewer exp() calls.
template <bool kDerivatives, typename Acc>
inline void FillAxisWeights(const VoteParams& p, const Axis<Acc>& a, int begin, int end,
                            Acc* w, Acc* dw) {
  if (p.kernel == kBilinear) {
    for (int k = begin; k < end; ++k) w[k] = AxisWeight(p, a, k, &dw[k]);
    return;
  }
  const Acc alpha = static_cast<Acc>(p.inv_two_var), inv_var = static_cast<Acc>(p.inv_var);
  const int centre = p.kernel_size / 2;
  const Acc d0 = static_cast<Acc>(a.first + centre) - a.pos;  // in [-0.5, 0.5]
  const Acc w0 = Exp(-(d0 * d0) * alpha);
  const Acc step_sq = static_cast<Acc>(p.ratio_step);
  const Acc right = Exp(-(Acc(2) * d0 + Acc(1)) * alpha);
  if (centre >= begin && centre < end) w[centre] = w0;
  Acc weight = w0, ratio = right;
  for (int k = centre + 1; k < end; ++k) {  // d = d0 + (k - centre) grows
    weight *= ratio;
    ratio *= step_sq;
    if (k >= begin) w[k] = weight;
  }
  weight = w0, ratio = step_sq / right;  // exp((2 d0 - 1) / (2 sigma^2))
  for (int k = centre - 1; k >= begin; --k) {  // d shrinks
    weight *= ratio;
    ratio *= step_sq;
    if (k < end) w[k] = weight;
  }
  if (!kDerivatives) return;
  for (int k = begin; k < end; ++k) {
    dw[k] = w[k] * (static_cast<Acc>(a.first + k) - a.pos) * inv_var;
  }
}

// Visits the taps of the vote landing at (lx, ly); returns false when the
// vote is dropped. Interior bilinear votes call tap(q, wx, wy, dwx, dwy) four
// times (q = y * W + x, an index into one output plane). Every other vote
// fills wx/dwx for its on-map columns and calls
// row(q_of_column_0, kx_begin, kx_end, wy, dwy) once per on-map row (dwx, dwy
// only when kDerivatives). Both
// give a tap the same weights, so a vote's values do not depend on the path.
template <int kKernel, bool kDerivatives, typename Acc, typename TapFn, typename RowFn>
MDN_INLINE inline bool VisitVote(const VoteParams& p, Acc lx, Acc ly, MapScratch<Acc>& s, TapFn&& tap,
                      RowFn&& row) {
  const int64_t W = p.width;
  // For lx >= 0 truncation is floor; NaN fails the test and is dropped below.
  if (kKernel == kBilinear && lx >= Acc(0) && lx < static_cast<Acc>(W - 1) && ly >= Acc(0) &&
      ly < static_cast<Acc>(p.height - 1)) {
    const int64_t x0 = static_cast<int64_t>(lx), y0 = static_cast<int64_t>(ly);
    const Acc fx = lx - static_cast<Acc>(x0), fy = ly - static_cast<Acc>(y0);
    const Acc gx = Acc(1) - fx, gy = Acc(1) - fy;
    const int64_t q = y0 * W + x0;
    tap(q, gx, gy, Acc(-1), Acc(-1));
    tap(q + 1, fx, gy, Acc(1), Acc(-1));
    tap(q + W, gx, fy, Acc(-1), Acc(1));
    tap(q + W + 1, fx, fy, Acc(1), Acc(1));
    return true;
  }
  Footprint<Acc> f;
  if (!LocateLanding(p, lx, ly, &f)) return false;
  if (f.kx_begin >= f.kx_end) return true;  // located, but no tap on the map
  Acc* wy = s.wy();
  Acc* dwy = s.dwy();
  FillAxisWeights<kDerivatives>(p, f.x, f.kx_begin, f.kx_end, s.wx(), s.dwx());
  FillAxisWeights<kDerivatives>(p, f.y, f.ky_begin, f.ky_end, wy, dwy);
  for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
    row((f.y.first + ky) * W + f.x.first, f.kx_begin, f.kx_end, wy[ky],
        kDerivatives ? dwy[ky] : Acc(0));
  }
  return true;
}

// Noisy-OR statistics of one tap: zero factors are counted, not multiplied in
// (see NoisyOrDmDv). Max: the maximum and how many taps reach it.
template <int kCombine, typename Acc>
MDN_INLINE inline void AddTapStatistics(Acc v, Acc& stat, int& count) {
  if (kCombine == kNoisyOr) {
    const Acc factor = Acc(1) - v;
    // A certain vote (factor 0) is rare: a predictable branch is cheaper here
    // than the select the row loops use.
    if (__builtin_expect(factor == Acc(0), 0)) {
      ++count;
    } else {
      stat *= factor;
    }
  } else {
    // max. Which vote wins is data-dependent, so this is written as integer
    // arithmetic and a maxss-shaped select: GCC turned ?: into a branch here.
    const int wins = static_cast<int>(v > stat);
    const int ties = static_cast<int>(v == stat);
    count = wins | ((1 - wins) * (count + ties));
    stat = stat < v ? v : stat;  // NaN never wins
  }
}

// Noisy-OR and max: per-pixel statistics of map (b, t) into stat/count
// (noisy-OR: product of the non-zero factors 1 - v and number of zero factors;
// max: maximum and number of taps reaching it). The forward pass derives m
// from them and keeps them for the backward pass.
template <typename T, typename Acc, int kCombine, int kKernel>
void AccumulateStatistics(const VoteParams& p, const int* sources, MapEdges map_edges,
                          const T* heatmaps, const T* offsets_x, const T* offsets_y, int64_t b,
                          MapScratch<Acc>& s, Acc* stat, int* count) {
  const int64_t H = p.height, W = p.width, J = p.num_maps, E = p.num_edges;
  const Acc* wx = s.wx();
  Acc* tap_scratch = s.tap_grad();
  std::fill(stat, stat + H * W, kCombine == kNoisyOr ? Acc(1) : Acc(0));
  std::fill(count, count + H * W, 0);
  for (int n = 0; n < map_edges.count; ++n) {
    const int e = map_edges.edges[n];
    const int source = sources[e];
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        const int64_t pix = (b * H + i) * W + j;
        const Acc c = HeatValue(kCombine, static_cast<Acc>(heatmaps[pix * J + source]));
        VisitVote<kKernel, false>(
            p, Land(p, j, static_cast<Acc>(offsets_x[pix * E + e])),
            Land(p, i, static_cast<Acc>(offsets_y[pix * E + e])), s,
            [&](int64_t q, Acc tx, Acc ty, Acc, Acc) MDN_INLINE {
              AddTapStatistics<kCombine>(TapValue(tx, ty, c), stat[q], count[q]);
            },
            [&](int64_t q, int begin, int end, Acc wy, Acc) MDN_INLINE {
              const Acc r = wy * c;
              if (kCombine == kNoisyOr) {
                Acc* __restrict product = stat + q;
                const Acc* __restrict weight = wx;
                if (r < Acc(1)) {
                  // Weights never exceed 1 and rounding is monotonic, so
                  // wx * r <= r < 1: no factor of this row is 0 (the usual
                  // case, one fused loop).
                  for (int k = begin; k < end; ++k) product[k] *= Acc(1) - weight[k] * r;
                  return;
                }
                // Split into simple loops (one type each) that vectorise;
                // same arithmetic as AddTapStatistics.
                Acc* __restrict factor = tap_scratch;
                for (int k = begin; k < end; ++k) factor[k] = Acc(1) - weight[k] * r;
                for (int k = begin; k < end; ++k) {
                  // A zero factor multiplies by 1 instead (factor + 1 == 1 exactly).
                  product[k] *= factor[k] + static_cast<Acc>(factor[k] == Acc(0));
                }
                for (int k = begin; k < end; ++k) {
                  if (factor[k] == Acc(0)) ++count[q + k];  // rare: certain votes
                }
              } else {
                for (int k = begin; k < end; ++k) {
                  AddTapStatistics<kCombine>(wx[k] * r, stat[q + k], count[q + k]);
                }
              }
            });
      }
    }
  }
}

// Forward pass of one output map. For noisy-OR and max, `saved_stat` /
// `saved_count` ([B, H, W, T], or null) receive the statistics so the
// backward pass need not recompute them.
template <typename T, typename Acc, int kCombine, int kKernel>
void ForwardMap(const VoteParams& params, const int* sources, MapEdges map_edges,
                const T* heatmaps, const T* offsets_x, const T* offsets_y, int64_t b,
                int64_t t, MapScratch<Acc>& s, T* output, T* saved_stat, int* saved_count) {
  const VoteParams p = Specialise<kCombine, kKernel>(params);
  const int64_t H = p.height, W = p.width, J = p.num_maps, E = p.num_edges;
  const int64_t plane = H * W, T_ = p.num_targets;
  Acc* acc = s.plane_a();
  int* count = s.plane_count();
  if (kCombine != kAdditive) {
    AccumulateStatistics<T, Acc, kCombine, kKernel>(p, sources, map_edges, heatmaps, offsets_x,
                                                    offsets_y, b, s, acc, count);
    for (int64_t q = 0; q < plane; ++q) {
      const int64_t out = (b * plane + q) * T_ + t;
      // Noisy-OR: m = 1 - prod(1 - v), which is 1 as soon as one factor is 0.
      const Acc m = kCombine == kMax ? acc[q] : (count[q] > 0 ? Acc(1) : Acc(1) - acc[q]);
      output[out] = static_cast<T>(m);
      if (saved_stat != nullptr) {
        saved_stat[out] = static_cast<T>(acc[q]);
        saved_count[out] = count[q];
      }
    }
    return;
  }
  const Acc* wx = s.wx();
  std::fill(acc, acc + plane, Acc(0));
  for (int n = 0; n < map_edges.count; ++n) {
    const int e = map_edges.edges[n];
    const int source = sources[e];
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        const int64_t pix = (b * H + i) * W + j;
        const Acc c = static_cast<Acc>(heatmaps[pix * J + source]);
        VisitVote<kKernel, false>(
            p, Land(p, j, static_cast<Acc>(offsets_x[pix * E + e])),
            Land(p, i, static_cast<Acc>(offsets_y[pix * E + e])), s,
            [&](int64_t q, Acc tx, Acc ty, Acc, Acc) MDN_INLINE {
              acc[q] += TapValue(tx, ty, c);
            },
            [&](int64_t q, int begin, int end, Acc wy, Acc) MDN_INLINE {
              const Acc r = wy * c;  // TapValue(wx, wy, c) = wx * (wy * c)
              Acc* out_row = acc + q;
              for (int k = begin; k < end; ++k) out_row[k] += wx[k] * r;
            });
      }
    }
  }
  for (int64_t q = 0; q < plane; ++q) {
    output[(b * plane + q) * T_ + t] = static_cast<T>(acc[q]);
  }
}

// dm/dv of one tap, from the statistics of its output pixel.
template <int kCombine, typename Acc>
MDN_INLINE inline Acc TapDmDv(Acc v, Acc stat, int count) {
  if (kCombine == kAdditive) return Acc(1);
  if (kCombine == kNoisyOr) return NoisyOrDmDv(Acc(1) - v, count, stat);
  // max: the winners (v == m > 0) share the gradient. Unconditional division
  // (count >= 1 wherever it matters) and no && keep the row loop vectorisable.
  const Acc share = Acc(1) / static_cast<Acc>(count > 0 ? count : 1);
  return ((stat > Acc(0)) & (v == stat)) ? share : Acc(0);
}

// dL/dv of one tap: the upstream gradient times dm/dv.
template <int kCombine, typename Acc>
MDN_INLINE inline Acc TapGrad(Acc upstream, Acc v, Acc stat, int count) {
  return kCombine == kAdditive ? upstream : upstream * TapDmDv<kCombine>(v, stat, count);
}

// Backward of one output map. Writes the offset gradients of its edges and
// either the heatmap gradient directly (`grad_heatmaps`, when no two edges
// share a source so this unit owns those channels) or each edge's heatmap
// gradient into `grad_edges` [B, H, W, E] for ReduceHeatmapGradient.
template <typename T, typename Acc, int kCombine, int kKernel>
void BackwardMap(const VoteParams& params, const int* sources, MapEdges map_edges,
                 const T* grad_output, const T* heatmaps, const T* offsets_x,
                 const T* offsets_y, const T* saved_stat, const int* saved_count, int64_t b,
                 int64_t t, MapScratch<Acc>& s, T* grad_offsets_x, T* grad_offsets_y,
                 T* grad_heatmaps, Acc* grad_edges) {
  const VoteParams p = Specialise<kCombine, kKernel>(params);
  const int64_t H = p.height, W = p.width, J = p.num_maps, E = p.num_edges;
  const int64_t plane = H * W, T_ = p.num_targets;
  Acc* g = s.plane_a();
  Acc* stat = s.plane_b();
  int* count = s.plane_count();
  const Acc* wx = s.wx();
  const Acc* dwx = s.dwx();
  for (int64_t q = 0; q < plane; ++q) {
    g[q] = static_cast<Acc>(grad_output[(b * plane + q) * T_ + t]);
  }

  // Statistics per output pixel that the gradient of one vote depends on:
  // those the forward pass saved, or recomputed (GPU forward, half types).
  if (kCombine != kAdditive) {
    if (saved_stat != nullptr) {
      for (int64_t q = 0; q < plane; ++q) {
        stat[q] = static_cast<Acc>(saved_stat[(b * plane + q) * T_ + t]);
        count[q] = saved_count[(b * plane + q) * T_ + t];
      }
    } else {
      AccumulateStatistics<T, Acc, kCombine, kKernel>(p, sources, map_edges, heatmaps,
                                                      offsets_x, offsets_y, b, s, stat, count);
    }
  }

  const Acc scale = static_cast<Acc>(p.scale);
  for (int n = 0; n < map_edges.count; ++n) {
    const int e = map_edges.edges[n];
    const int source = sources[e];
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        const int64_t pix = (b * H + i) * W + j;
        const int64_t pe = pix * E + e;
        const Acc raw = static_cast<Acc>(heatmaps[pix * J + source]);
        const Acc c = HeatValue(kCombine, raw);
        // dc = sum K * dL/dv, dx = sum dK/dx' * dL/dv (and y), over the taps.
        Acc dc = 0, dx = 0, dy = 0;
        const bool located = VisitVote<kKernel, true>(
            p, Land(p, j, static_cast<Acc>(offsets_x[pe])),
            Land(p, i, static_cast<Acc>(offsets_y[pe])), s,
            [&](int64_t q, Acc tx, Acc ty, Acc dtx, Acc dty) MDN_INLINE {
              const Acc gv = g[q] * TapDmDv<kCombine>(TapValue(tx, ty, c), stat[q], count[q]);
              dc += tx * ty * gv;
              dx += dtx * ty * gv;
              dy += tx * dty * gv;
            },
            [&](int64_t q, int begin, int end, Acc wy, Acc dwy) MDN_INLINE {
              // sum_cols wx * dL/dv and sum_cols dwx * dL/dv in one pass with
              // four fixed partial sums (deterministic; no store-then-reload
              // of the per-tap gradients).
              const Acc r = wy * c;
              Acc along[4] = {0, 0, 0, 0}, slope[4] = {0, 0, 0, 0};
              int k = begin;
              for (; k + 4 <= end; k += 4) {
                for (int l = 0; l < 4; ++l) {
                  const Acc gv = TapGrad<kCombine>(g[q + k + l], wx[k + l] * r, stat[q + k + l],
                                                   count[q + k + l]);
                  along[l] += wx[k + l] * gv;
                  slope[l] += dwx[k + l] * gv;
                }
              }
              Acc along_tail = 0, slope_tail = 0;
              for (; k < end; ++k) {
                const Acc gv = TapGrad<kCombine>(g[q + k], wx[k] * r, stat[q + k], count[q + k]);
                along_tail += wx[k] * gv;
                slope_tail += dwx[k] * gv;
              }
              const Acc along_x = ((along[0] + along[1]) + (along[2] + along[3])) + along_tail;
              const Acc slope_x = ((slope[0] + slope[1]) + (slope[2] + slope[3])) + slope_tail;
              dc += wy * along_x;
              dx += wy * slope_x;
              dy += dwy * along_x;
            });
        // v = K(x') * c and x' = x + s * o: chain rule for the three inputs.
        // A dropped vote has no gradient at all.
        const Acc mask = located ? HeatGradMask(kCombine, raw) : Acc(0);
        grad_offsets_x[pe] = static_cast<T>(located ? scale * c * dx : Acc(0));
        grad_offsets_y[pe] = static_cast<T>(located ? scale * c * dy : Acc(0));
        if (grad_heatmaps != nullptr) {
          grad_heatmaps[pix * J + source] = static_cast<T>(dc * mask);
        } else {
          grad_edges[pe] = dc * mask;
        }
      }
    }
  }
}

template <typename T, typename Acc>
using ForwardFn = void (*)(const VoteParams&, const int*, MapEdges, const T*, const T*,
                           const T*, int64_t, int64_t, MapScratch<Acc>&, T*, T*, int*);
template <typename T, typename Acc>
using BackwardFn = void (*)(const VoteParams&, const int*, MapEdges, const T*, const T*,
                            const T*, const T*, const T*, const int*, int64_t, int64_t,
                            MapScratch<Acc>&, T*, T*, T*, Acc*);

// One instantiation per (combine, kernel), so the inner loops see constants;
// these pick the one matching the runtime attributes.
template <typename T, typename Acc>
ForwardFn<T, Acc> PickForward(int combine, int kernel) {
  const bool gauss = kernel == kGaussian;
  switch (combine) {
    case kAdditive:
      return gauss ? &ForwardMap<T, Acc, kAdditive, kGaussian>
                   : &ForwardMap<T, Acc, kAdditive, kBilinear>;
    case kNoisyOr:
      return gauss ? &ForwardMap<T, Acc, kNoisyOr, kGaussian>
                   : &ForwardMap<T, Acc, kNoisyOr, kBilinear>;
    default:
      return gauss ? &ForwardMap<T, Acc, kMax, kGaussian> : &ForwardMap<T, Acc, kMax, kBilinear>;
  }
}

template <typename T, typename Acc>
BackwardFn<T, Acc> PickBackward(int combine, int kernel) {
  const bool gauss = kernel == kGaussian;
  switch (combine) {
    case kAdditive:
      return gauss ? &BackwardMap<T, Acc, kAdditive, kGaussian>
                   : &BackwardMap<T, Acc, kAdditive, kBilinear>;
    case kNoisyOr:
      return gauss ? &BackwardMap<T, Acc, kNoisyOr, kGaussian>
                   : &BackwardMap<T, Acc, kNoisyOr, kBilinear>;
    default:
      return gauss ? &BackwardMap<T, Acc, kMax, kGaussian>
                   : &BackwardMap<T, Acc, kMax, kBilinear>;
  }
}

// grad_heatmaps[pix, s] = sum over the edges leaving s of their gradient, in
// edge order (deterministic). `pix` is a flat (b, i, j) index.
template <typename T, typename Acc>
inline void ReduceHeatmapGradient(const VoteParams& p, const EdgeTableView& table,
                                  const Acc* grad_edges, int64_t pix, T* grad_heatmaps) {
  for (int64_t source = 0; source < p.num_maps; ++source) {
    Acc sum = 0;
    for (int k = table.source_offsets[source]; k < table.source_offsets[source + 1]; ++k) {
      sum += grad_edges[pix * p.num_edges + table.source_edges[k]];
    }
    grad_heatmaps[pix * p.num_maps + source] = static_cast<T>(sum);
  }
}

}  // namespace mdn

#undef MDN_INLINE

#endif  // MDN_TF_MASS_DISPLACEMENT_CPU_H_
