// CPU voting loops, free of TensorFlow types (the TF kernel and the CUDA
// harness both call them). The unit of work is one output map (b, t): it owns
// out[b, :, :, t] and the offset gradients of every edge that targets t, so
// units run in parallel without races and each unit adds its votes in a fixed
// order; results are identical run to run whatever the thread count.
#ifndef MDN_TF_MASS_DISPLACEMENT_CPU_H_
#define MDN_TF_MASS_DISPLACEMENT_CPU_H_

#include <algorithm>

#include "mass_displacement_math.h"

namespace mdn {

template <int kCombine, typename Acc>
inline void Accumulate(Acc& acc, Acc v) {
  if (kCombine == kAdditive) {
    acc += v;
  } else if (kCombine == kNoisyOr) {
    acc *= Acc(1) - v;
  } else if (v > acc) {  // max; NaN never wins
    acc = v;
  }
}

// Buffers one unit needs, each `plane` = H*W long except the tap weights
// (`taps` = TapsPerAxis long). Owned by the caller so a worker reuses them.
template <typename Acc>
struct MapScratch {
  Acc* plane_a;      // forward accumulator / backward upstream gradient
  Acc* plane_b;      // backward: noisy-OR product of non-zero factors, or max
  int* plane_count;  // backward: noisy-OR zero factors, or max ties
  Acc* wx;
  Acc* dwx;
  Acc* wy;
  Acc* dwy;
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

template <typename T, typename Acc, int kCombine, int kKernel>
void ForwardMap(const VoteParams& params, const int* sources, MapEdges map_edges,
                const T* heatmaps, const T* offsets_x, const T* offsets_y, int64_t b,
                int64_t t, const MapScratch<Acc>& s, T* output) {
  const VoteParams p = Specialise<kCombine, kKernel>(params);
  const int64_t H = p.height, W = p.width, J = p.num_maps, E = p.num_edges;
  const int64_t plane = H * W;
  Acc* acc = s.plane_a;
  std::fill(acc, acc + plane, InitialAccumulator<Acc>(kCombine));
  for (int n = 0; n < map_edges.count; ++n) {
    const int e = map_edges.edges[n];
    const int source = sources[e];
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        const int64_t pix = (b * H + i) * W + j;
        Footprint<Acc> f;
        if (!LocateVote(p, i, j, static_cast<Acc>(offsets_x[pix * E + e]),
                        static_cast<Acc>(offsets_y[pix * E + e]), &f)) {
          continue;
        }
        const Acc c = HeatValue(kCombine, static_cast<Acc>(heatmaps[pix * J + source]));
        for (int k = f.kx_begin; k < f.kx_end; ++k) s.wx[k] = AxisWeight(p, f.x, k);
        for (int k = f.ky_begin; k < f.ky_end; ++k) s.wy[k] = AxisWeight(p, f.y, k);
        for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
          const int64_t row = (f.y.first + ky) * W + f.x.first;
          for (int kx = f.kx_begin; kx < f.kx_end; ++kx) {
            Accumulate<kCombine>(acc[row + kx], TapValue(s.wx[kx], s.wy[ky], c));
          }
        }
      }
    }
  }
  const int64_t T_ = p.num_targets;
  for (int64_t q = 0; q < plane; ++q) {
    output[(b * plane + q) * T_ + t] = static_cast<T>(FinalValue(kCombine, acc[q]));
  }
}

// Backward of one output map. Writes the offset gradients of its edges and
// either the heatmap gradient directly (`grad_heatmaps`, when no two edges
// share a source so this unit owns those channels) or each edge's heatmap
// gradient into `grad_edges` [B, H, W, E] for ReduceHeatmapGradient.
template <typename T, typename Acc, int kCombine, int kKernel>
void BackwardMap(const VoteParams& params, const int* sources, MapEdges map_edges,
                 const T* grad_output, const T* heatmaps, const T* offsets_x,
                 const T* offsets_y, int64_t b, int64_t t, const MapScratch<Acc>& s,
                 T* grad_offsets_x, T* grad_offsets_y, T* grad_heatmaps, Acc* grad_edges) {
  const VoteParams p = Specialise<kCombine, kKernel>(params);
  const int64_t H = p.height, W = p.width, J = p.num_maps, E = p.num_edges;
  const int64_t plane = H * W, T_ = p.num_targets;
  Acc* g = s.plane_a;
  Acc* stat = s.plane_b;
  int* count = s.plane_count;
  for (int64_t q = 0; q < plane; ++q) {
    g[q] = static_cast<Acc>(grad_output[(b * plane + q) * T_ + t]);
  }

  // Statistics per output pixel that the gradient of one vote depends on.
  if (kCombine != kAdditive) {
    std::fill(stat, stat + plane, kCombine == kNoisyOr ? Acc(1) : Acc(0));
    std::fill(count, count + plane, 0);
    for (int n = 0; n < map_edges.count; ++n) {
      const int e = map_edges.edges[n];
      const int source = sources[e];
      for (int64_t i = 0; i < H; ++i) {
        for (int64_t j = 0; j < W; ++j) {
          const int64_t pix = (b * H + i) * W + j;
          Footprint<Acc> f;
          if (!LocateVote(p, i, j, static_cast<Acc>(offsets_x[pix * E + e]),
                          static_cast<Acc>(offsets_y[pix * E + e]), &f)) {
            continue;
          }
          const Acc c = HeatValue(kCombine, static_cast<Acc>(heatmaps[pix * J + source]));
          for (int k = f.kx_begin; k < f.kx_end; ++k) s.wx[k] = AxisWeight(p, f.x, k);
          for (int k = f.ky_begin; k < f.ky_end; ++k) s.wy[k] = AxisWeight(p, f.y, k);
          for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
            const int64_t row = (f.y.first + ky) * W + f.x.first;
            for (int kx = f.kx_begin; kx < f.kx_end; ++kx) {
              const Acc v = TapValue(s.wx[kx], s.wy[ky], c);
              const int64_t q = row + kx;
              if (kCombine == kNoisyOr) {
                // Zero factors are counted, not multiplied in (see NoisyOrDmDv).
                const Acc factor = Acc(1) - v;
                if (factor == Acc(0)) {
                  ++count[q];
                } else {
                  stat[q] *= factor;
                }
              } else if (v > stat[q]) {  // max and its number of ties
                stat[q] = v;
                count[q] = 1;
              } else if (v == stat[q]) {
                ++count[q];
              }
            }
          }
        }
      }
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
        Footprint<Acc> f;
        Acc dc = 0, dx = 0, dy = 0, mask = 0, c = 0;
        if (LocateVote(p, i, j, static_cast<Acc>(offsets_x[pe]),
                       static_cast<Acc>(offsets_y[pe]), &f)) {
          const Acc raw = static_cast<Acc>(heatmaps[pix * J + source]);
          c = HeatValue(kCombine, raw);
          mask = HeatGradMask(kCombine, raw);
          for (int k = f.kx_begin; k < f.kx_end; ++k) s.wx[k] = AxisWeight(p, f.x, k, &s.dwx[k]);
          for (int k = f.ky_begin; k < f.ky_end; ++k) s.wy[k] = AxisWeight(p, f.y, k, &s.dwy[k]);
          for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
            const int64_t row = (f.y.first + ky) * W + f.x.first;
            for (int kx = f.kx_begin; kx < f.kx_end; ++kx) {
              const int64_t q = row + kx;
              Acc gv = g[q];  // dL/dv of this tap
              if (kCombine == kNoisyOr) {
                gv *= NoisyOrDmDv(Acc(1) - TapValue(s.wx[kx], s.wy[ky], c), count[q], stat[q]);
              } else if (kCombine == kMax) {
                const bool wins =
                    stat[q] > Acc(0) && TapValue(s.wx[kx], s.wy[ky], c) == stat[q];
                gv = wins ? gv / static_cast<Acc>(count[q]) : Acc(0);
              }
              dc += s.wx[kx] * s.wy[ky] * gv;
              dx += s.dwx[kx] * s.wy[ky] * gv;
              dy += s.wx[kx] * s.dwy[ky] * gv;
            }
          }
        }
        // v = K(x') * c and x' = x + s * o: chain rule for the three inputs.
        grad_offsets_x[pe] = static_cast<T>(scale * c * dx);
        grad_offsets_y[pe] = static_cast<T>(scale * c * dy);
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
                           const T*, int64_t, int64_t, const MapScratch<Acc>&, T*);
template <typename T, typename Acc>
using BackwardFn = void (*)(const VoteParams&, const int*, MapEdges, const T*, const T*,
                            const T*, const T*, int64_t, int64_t, const MapScratch<Acc>&, T*,
                            T*, T*, Acc*);

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

#endif  // MDN_TF_MASS_DISPLACEMENT_CPU_H_
