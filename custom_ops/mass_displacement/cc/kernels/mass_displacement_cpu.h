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
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "mass_displacement_math.h"

// The per-tap lambdas below are called four times per bilinear vote; GCC would
// otherwise keep the larger ones out of line (a call per tap).
#define MDN_INLINE __attribute__((always_inline))

namespace mdn {

// Gaussian accumulators of one unit (and the backward's planes): one H*W
// plane per target map, the planes PlaneStride apart. The padding keeps
// planes from sitting exactly 4 KiB multiples apart, where stores to one
// plane and loads from another falsely alias in the CPU's store buffer.
// Bilinear accumulators are interleaved (InterleavedRowStride).
inline int64_t PlaneStride(const VoteParams& p) { return p.height * p.width + 16; }

// Row stride of the interleaved (bilinear) accumulators of a group of G maps:
// the accumulator of slot s at pixel (y, x) is acc[y * stride + x * G + s].
// Without padding, 64 x 16 float maps make rows exactly 4 KiB apart, so the
// rows of one column all fall into one set of the 8-way L1 data cache, and
// the ~20 rows that a pixel's votes reach evict each other; 32 spare elements
// per row spread them over the sets (the bilinear forward ran 15% faster). A
// single map (G = 1) keeps an output plane's layout, which the backward pass
// reads.
inline int64_t InterleavedRowStride(const VoteParams& p, int64_t G) {
  return G > 1 ? p.width * G + 32 : p.width;
}

// Accumulators of one unit of G maps: G planes (Gaussian), or H interleaved
// rows and one spare entry past them (bilinear, see AccumulateBilinearAvx512).
inline int64_t AccumulatorsPerUnit(const VoteParams& p, int64_t G) {
  return std::max(PlaneStride(p) * G, p.height * InterleavedRowStride(p, G) + 1);
}

// Per-worker buffers, reused by every unit the worker runs: two accumulator
// arrays and a count array for G maps (G: target maps per unit, see
// AccumulatorsPerUnit) and five tap arrays.
template <typename Acc>
struct MapScratch {
  MapScratch(const VoteParams& p, int64_t group_size)
      : taps(TapsPerAxis(p)),
        planes(2 * static_cast<size_t>(AccumulatorsPerUnit(p, group_size))),
        counts(static_cast<size_t>(AccumulatorsPerUnit(p, group_size))),
        tap_arrays(5 * static_cast<size_t>(taps)) {}
  Acc* plane_a() { return planes.data(); }  // forward accumulators / backward upstream gradient
  Acc* plane_b() { return planes.data() + counts.size(); }  // backward: noisy-OR product or max
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

// Noisy-OR zero-factor counts that are zero-filled only when the first
// certain vote (c = 1, the only kind with a zero factor; votes with NaN heat
// take the same path) needs them; until then `counts` is null and nothing is
// counted.
struct LazyCounts {
  int* scratch;
  int64_t size;
  int* counts = nullptr;
  int* Get() {
    if (counts == nullptr) {
      std::fill(scratch, scratch + size, 0);
      counts = scratch;
    }
    return counts;
  }
};

// An edge as a unit of work sees it: its offset channel, its source heatmap
// channel and the slot of its target map within the unit's group.
struct GroupEdge {
  int edge, source, slot;
};

// Consecutive target maps [first_target, first_target + size) and the edges
// voting into them, ordered by target and then by edge.
struct TargetGroup {
  int64_t first_target, size;
  const GroupEdge* edges;
  int num_edges;
};

// The T target maps split into `num_groups` groups of consecutive maps (as
// equal as possible). A unit of work is (batch item, group): it owns those
// output maps, so units never write the same element.
class TargetGroups {
 public:
  TargetGroups(const int* sources, const int* targets, int64_t num_edges, int64_t num_targets,
               int64_t num_groups)
      : first_(num_groups + 1), edge_begin_(num_groups + 1, 0) {
    for (int64_t g = 0; g <= num_groups; ++g) first_[g] = g * num_targets / num_groups;
    for (int64_t g = 0; g < num_groups; ++g) {
      // Target by target, so a target's edges stay in increasing edge order.
      for (int64_t t = first_[g]; t < first_[g + 1]; ++t) {
        for (int64_t e = 0; e < num_edges; ++e) {
          if (targets[e] != t) continue;
          edges_.push_back(GroupEdge{static_cast<int>(e), sources[e],
                                     static_cast<int>(t - first_[g])});
        }
      }
      edge_begin_[g + 1] = edges_.size();
      max_size_ = std::max(max_size_, first_[g + 1] - first_[g]);
    }
  }
  int64_t count() const { return static_cast<int64_t>(first_.size()) - 1; }
  int64_t max_size() const { return max_size_; }
  TargetGroup operator[](int64_t g) const {
    return TargetGroup{first_[g], first_[g + 1] - first_[g], edges_.data() + edge_begin_[g],
                       static_cast<int>(edge_begin_[g + 1] - edge_begin_[g])};
  }

 private:
  std::vector<int64_t> first_;
  std::vector<size_t> edge_begin_;
  std::vector<GroupEdge> edges_;
  int64_t max_size_ = 0;
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
// `count` is only touched by a noisy-OR zero factor (and by max), so it may
// be null for noisy-OR votes with c < 1.
template <int kCombine, typename Acc>
MDN_INLINE inline void AddTapStatistics(Acc v, Acc& stat, int* count) {
  if (kCombine == kNoisyOr) {
    const Acc factor = Acc(1) - v;
    // A certain vote (factor 0) is rare: a predictable branch is cheaper here
    // than the select the row loops use.
    if (__builtin_expect(factor == Acc(0), 0)) {
      ++*count;
    } else {
      stat *= factor;
    }
  } else {
    // max. Which vote wins is data-dependent, so this is written as integer
    // arithmetic and a maxss-shaped select: GCC turned ?: into a branch here.
    const int wins = static_cast<int>(v > stat);
    const int ties = static_cast<int>(v == stat);
    *count = wins | ((1 - wins) * (*count + ties));
    stat = stat < v ? v : stat;  // NaN never wins
  }
}

// Adds one vote's value v to the accumulator a (and count) of its tap.
// Additive: sums; noisy-OR: product of the non-zero factors 1 - v and the
// number of zero factors (see NoisyOrDmDv); max: maximum and the number of
// taps reaching it.
template <int kCombine, typename Acc>
MDN_INLINE inline void AddTap(Acc v, Acc& a, int* count) {
  if (kCombine == kAdditive) {
    a += v;
  } else {
    AddTapStatistics<kCombine>(v, a, count);
  }
}

// Adds one footprint row of a vote, r = wy * c, to accumulators `row` /
// `cnt_row` (tap k at row[k * step]): taps [begin, end) with weights w[k].
template <int kCombine, typename Acc>
MDN_INLINE inline void AccumulateRow(Acc* __restrict row, int* cnt_row,
                                     const Acc* __restrict weight, Acc r, int begin, int end,
                                     int64_t step, Acc* __restrict tap_scratch) {
  if (kCombine == kAdditive) {
    for (int k = begin; k < end; ++k) row[k * step] += weight[k] * r;
  } else if (kCombine == kNoisyOr) {
    if (r < Acc(1)) {
      // Weights never exceed 1 and rounding is monotonic, so wx * r <= r < 1:
      // no factor of this row is 0 (the usual case, one fused loop).
      for (int k = begin; k < end; ++k) row[k * step] *= Acc(1) - weight[k] * r;
      return;
    }
    // Split into simple loops (one type each) that vectorise; same arithmetic
    // as AddTapStatistics.
    Acc* __restrict factor = tap_scratch;
    for (int k = begin; k < end; ++k) factor[k] = Acc(1) - weight[k] * r;
    for (int k = begin; k < end; ++k) {
      // A zero factor multiplies by 1 instead (factor + 1 == 1 exactly).
      row[k * step] *= factor[k] + static_cast<Acc>(factor[k] == Acc(0));
    }
    for (int k = begin; k < end; ++k) {
      if (factor[k] == Acc(0)) ++cnt_row[k * step];  // rare: certain votes
    }
  } else {
    for (int k = begin; k < end; ++k) {
      AddTapStatistics<kCombine>(weight[k] * r, row[k * step], cnt_row + k * step);
    }
  }
}

// Adds the taps of one vote, landing at (lx, ly) with heat c, to the
// accumulators `a` / `cnt` of its target map, where pixel q sits at a[q * step].
template <int kCombine, int kKernel, typename Acc>
inline void AccumulateVote(const VoteParams& p, Acc lx, Acc ly, Acc c, MapScratch<Acc>& s,
                           Acc* a, int64_t step, int* cnt) {
  VisitVote<kKernel, false>(
      p, lx, ly, s,
      [&](int64_t q, Acc tx, Acc ty, Acc, Acc) MDN_INLINE {
        AddTap<kCombine>(TapValue(tx, ty, c), a[q * step], cnt + q * step);
      },
      [&](int64_t q, int begin, int end, Acc wy, Acc) MDN_INLINE {
        // TapValue(wx, wy, c) = wx * (wy * c)
        AccumulateRow<kCombine>(a + q * step, cnt + q * step, s.wx(), wy * c, begin, end, step,
                                s.tap_grad());
      });
}

// Adds one bilinear vote (landing at lx, ly, heat c) to the interleaved
// accumulators of its target slot (acc[y * row + x * G + slot], see
// InterleavedRowStride), so the maps of a group are read out row by row in
// the output's layout. VisitVote's arithmetic, written out: the taps are the hot
// loop of the forward pass, and through VisitVote's lambdas it ran at half
// this speed.
template <int kCombine, typename Acc>
MDN_INLINE inline void AddBilinearVote(const VoteParams& p, int64_t G, int64_t slot, Acc lx,
                                       Acc ly, Acc c, Acc* acc, int* count) {
  const int64_t W = p.width, row = InterleavedRowStride(p, G);
  const Acc x_end = static_cast<Acc>(W - 1), y_end = static_cast<Acc>(p.height - 1);
  if (__builtin_expect(!(lx >= Acc(0) && lx < x_end && ly >= Acc(0) && ly < y_end), 0)) {
    // Near or off the border: the taps on the map, one by one. NaN and
    // landings with no tap on the map are dropped (written as !(inside)).
    if (!(lx >= Acc(-1) && lx < x_end + Acc(1) && ly >= Acc(-1) && ly < y_end + Acc(1))) return;
    const int64_t x0 = FloorToInt(lx), y0 = FloorToInt(ly);
    const Acc fx = lx - static_cast<Acc>(x0), fy = ly - static_cast<Acc>(y0);
    const Acc wx[2] = {Acc(1) - fx, fx}, wy[2] = {Acc(1) - fy, fy};
    for (int ky = 0; ky < 2; ++ky) {
      if (y0 + ky < 0 || y0 + ky >= p.height) continue;
      for (int kx = 0; kx < 2; ++kx) {
        if (x0 + kx < 0 || x0 + kx >= W) continue;
        const int64_t q = (y0 + ky) * row + (x0 + kx) * G + slot;
        AddTap<kCombine>(TapValue(wx[kx], wy[ky], c), acc[q],
                         kCombine == kAdditive || count == nullptr ? nullptr : count + q);
      }
    }
    return;
  }
  const int64_t x0 = static_cast<int64_t>(lx), y0 = static_cast<int64_t>(ly);
  const Acc fx = lx - static_cast<Acc>(x0), fy = ly - static_cast<Acc>(y0);
  const Acc gx = Acc(1) - fx, gy = Acc(1) - fy;
  const int64_t q = y0 * row + x0 * G + slot;
  Acc* a = acc + q;
  int* cnt = kCombine == kAdditive || count == nullptr ? nullptr : count + q;
  AddTap<kCombine>(TapValue(gx, gy, c), a[0], cnt);
  AddTap<kCombine>(TapValue(fx, gy, c), a[G], cnt + G);
  AddTap<kCombine>(TapValue(gx, fy, c), a[row], cnt + row);
  AddTap<kCombine>(TapValue(fx, fy, c), a[row + G], cnt + row + G);
}

// The four taps of an interior bilinear vote whose terms are precomputed
// (noisy-OR: the factors 1 - v, known to be > 0; otherwise v), at
// accumulators a[0], a[G], a[row], a[row + G]; `cnt` (max only) likewise.
template <int kCombine, typename Acc>
MDN_INLINE inline void AddInteriorTaps(Acc* a, int* cnt, int64_t G, int64_t row, Acc t00,
                                       Acc t01, Acc t10, Acc t11) {
  if (kCombine == kMax) {
    AddTap<kCombine>(t00, a[0], cnt);
    AddTap<kCombine>(t01, a[G], cnt + G);
    AddTap<kCombine>(t10, a[row], cnt + row);
    AddTap<kCombine>(t11, a[row + G], cnt + row + G);
    return;
  }
  // All four loads before the stores: rows may be 4 KiB apart (G = 1), and
  // a load issued after a store to an address 4 KiB away waits on it.
  const Acc a00 = a[0], a01 = a[G], a10 = a[row], a11 = a[row + G];
  if (kCombine == kNoisyOr) {
    a[0] = a00 * t00, a[G] = a01 * t01, a[row] = a10 * t10, a[row + G] = a11 * t11;
  } else {
    a[0] = a00 + t00, a[G] = a01 + t01, a[row] = a10 + t10, a[row + G] = a11 + t11;
  }
}

// 16-byte SIMD vectors (SSE2, part of every x86-64 CPU) through the GCC/Clang
// vector extensions. Lane-wise IEEE arithmetic: each lane rounds exactly like
// the scalar code. The CUDA front end sees only the scalar code.
#if !defined(__CUDACC__) && (defined(__GNUC__) || defined(__clang__))
#define MDN_HAVE_VECTOR_EXTENSIONS 1
template <typename Acc>
struct Lanes;
template <>
struct Lanes<float> {
  typedef float Value __attribute__((vector_size(16)));
  typedef int32_t Index __attribute__((vector_size(16)));
  typedef int32_t IndexScalar;
};
template <>
struct Lanes<double> {
  typedef double Value __attribute__((vector_size(16)));
  typedef int64_t Index __attribute__((vector_size(16)));
  typedef int64_t IndexScalar;
};

// Lane k = values[edges[k].*channel]: built in registers, since storing the
// lanes one by one and loading them as a vector stalls store forwarding.
template <typename V, typename Scalar, typename T, size_t... K>
MDN_INLINE inline V GatherLanes(const T* values, const GroupEdge* edges, int GroupEdge::*channel,
                                std::index_sequence<K...>) {
  return V{static_cast<Scalar>(values[edges[K].*channel])...};
}

template <typename V, size_t... K>
MDN_INLINE inline V SlotLanes(const GroupEdge* edges, std::index_sequence<K...>) {
  return V{static_cast<decltype(V{}[0])>(edges[K].slot)...};
}

// Bilinear votes of one pixel, one vector of edges at a time: the votes are
// located and weighted lane-wise; then, vote by vote, the four taps of an
// interior vote are applied, and every other vote (near the border, NaN, or a
// noisy-OR vote with c = 1 whose factors may be 0) goes through
// AddBilinearVote. Returns the number of edges done (whole vectors only).
template <typename T, typename Acc, int kCombine>
MDN_INLINE inline int AccumulateBilinearLanes(const VoteParams& p, const TargetGroup& group,
                                              int64_t i, int64_t j, const T* heat_px,
                                              const T* ox_px, const T* oy_px, Acc* acc,
                                              int* count) {
  using V = typename Lanes<Acc>::Value;
  using I = typename Lanes<Acc>::Index;
  using IndexScalar = typename Lanes<Acc>::IndexScalar;
  constexpr int kWidth = sizeof(V) / sizeof(Acc);
  constexpr auto kLaneIndices = std::make_index_sequence<kWidth>();
  const int64_t G = group.size, row = InterleavedRowStride(p, G);
  const V zero = V{} + Acc(0), one = zero + Acc(1);
  const V x = zero + static_cast<Acc>(j), y = zero + static_cast<Acc>(i);
  const Acc scale = static_cast<Acc>(p.scale);
  const Acc x_end = static_cast<Acc>(p.width - 1), y_end = static_cast<Acc>(p.height - 1);
  alignas(16) Acc w00[kWidth], w01[kWidth], w10[kWidth], w11[kWidth];
  alignas(16) IndexScalar corner[kWidth], fast[kWidth];
  int n = 0;
  for (; n + kWidth <= group.num_edges; n += kWidth) {
    const GroupEdge* edges = group.edges + n;
    const V ox = GatherLanes<V, Acc>(ox_px, edges, &GroupEdge::edge, kLaneIndices);
    const V oy = GatherLanes<V, Acc>(oy_px, edges, &GroupEdge::edge, kLaneIndices);
    V c = GatherLanes<V, Acc>(heat_px, edges, &GroupEdge::source, kLaneIndices);
    if (kCombine == kNoisyOr) {  // HeatValue: clip to [0, 1], NaN stays NaN
      c = c < zero ? zero : c;
      c = c > one ? one : c;
    }
    const V slot = SlotLanes<V>(edges, kLaneIndices);
    const V lx = x + scale * ox, ly = y + scale * oy;  // = Land()
    I inside = (lx >= zero) & (lx < x_end) & (ly >= zero) & (ly < y_end);
    if (kCombine == kNoisyOr) inside &= c < one;  // no factor 1 - v can be 0
    // Other lanes are set to 0 so that every lane converts to an integer.
    const V cx = inside ? lx : zero, cy = inside ? ly : zero;
    const V x0 = __builtin_convertvector(__builtin_convertvector(cx, I), V);  // floor
    const V y0 = __builtin_convertvector(__builtin_convertvector(cy, I), V);
    const V fx = cx - x0, fy = cy - y0;
    const V gx = one - fx, gy = one - fy;
    const V v00 = gx * (gy * c), v01 = fx * (gy * c);  // TapValue(wx, wy, c)
    const V v10 = gx * (fy * c), v11 = fx * (fy * c);
    // Noisy-OR multiplies by the factors 1 - v.
    const V t00 = kCombine == kNoisyOr ? one - v00 : v00;
    const V t01 = kCombine == kNoisyOr ? one - v01 : v01;
    const V t10 = kCombine == kNoisyOr ? one - v10 : v10;
    const V t11 = kCombine == kNoisyOr ? one - v11 : v11;
    // The tap index in floating point, exact below 2^24 (float; see
    // `vectorised` in AccumulateGroup): SSE2 has no 32-bit integer multiply.
    const I q = __builtin_convertvector(
        y0 * static_cast<Acc>(row) + x0 * static_cast<Acc>(G) + slot, I);
    std::memcpy(w00, &t00, sizeof(V));
    std::memcpy(w01, &t01, sizeof(V));
    std::memcpy(w10, &t10, sizeof(V));
    std::memcpy(w11, &t11, sizeof(V));
    std::memcpy(corner, &q, sizeof(I));
    std::memcpy(fast, &inside, sizeof(I));
    for (int k = 0; k < kWidth; ++k) {
      if (__builtin_expect(fast[k] == 0, 0)) {
        AddBilinearVote<kCombine>(p, G, edges[k].slot, lx[k], ly[k], c[k], acc, count);
        continue;
      }
      AddInteriorTaps<kCombine>(acc + corner[k], kCombine == kMax ? count + corner[k] : nullptr,
                                G, row, w00[k], w01[k], w10[k], w11[k]);
    }
  }
  return n;
}
#endif  // MDN_HAVE_VECTOR_EXTENSIONS

// The bilinear votes of pixel (i, j) into the group, see AddBilinearVote.
// `vectorised`: tap indices of the group fit the int32 lanes of
// AccumulateBilinearLanes.
template <typename T, typename Acc, int kCombine>
MDN_INLINE inline void AccumulateBilinearPixel(const VoteParams& p, const TargetGroup& group,
                                               int64_t i, int64_t j, const T* heat_px,
                                               const T* ox_px, const T* oy_px,
                                               bool vectorised, Acc* acc, int* count) {
  int n = 0;
#ifdef MDN_HAVE_VECTOR_EXTENSIONS
  if (vectorised) {
    n = AccumulateBilinearLanes<T, Acc, kCombine>(p, group, i, j, heat_px, ox_px, oy_px, acc,
                                                  count);
  }
#endif
  for (; n < group.num_edges; ++n) {
    const GroupEdge edge = group.edges[n];
    const Acc c = HeatValue(kCombine, static_cast<Acc>(heat_px[edge.source]));
    AddBilinearVote<kCombine>(p, group.size, edge.slot,
                              Land(p, j, static_cast<Acc>(ox_px[edge.edge])),
                              Land(p, i, static_cast<Acc>(oy_px[edge.edge])), c, acc, count);
  }
}

}  // namespace mdn
#include "mass_displacement_cpu_avx512.h"  // needs AddBilinearVote, AddInteriorTaps
namespace mdn {

// Where the accumulator of target slot `slot` at pixel (y, x) sits:
// interleaved for bilinear votes (see InterleavedRowStride); planar,
// slot * PlaneStride + y * W + x, for Gaussian votes, whose footprint rows are
// then contiguous and their loops vectorise.
template <int kKernel>
MDN_INLINE inline int64_t AccumulatorIndex(const VoteParams& p, int64_t group_size, int64_t y,
                                           int64_t x, int64_t slot) {
  return kKernel == kBilinear ? y * InterleavedRowStride(p, group_size) + x * group_size + slot
                              : slot * PlaneStride(p) + y * p.width + x;
}

// Noisy-OR: a factor 1 - v is 0 only when v = K * c = 1, which needs c >= 1
// (weights never exceed 1 and rounding is monotonic). Batch item b has no
// such vote when none of its heatmap values reaches 1; then no zero factors
// need counting.
template <typename T>
bool MayHaveZeroFactors(const VoteParams& p, const T* heatmaps, int64_t b) {
  const int64_t size = p.height * p.width * p.num_maps;
  const T* heat = heatmaps + b * size;
  // An integer count vectorises (a float max reduction does not, without
  // -ffast-math); NaN compares false, and its votes need no count either.
  int64_t certain = 0;
  for (int64_t n = 0; n < size; ++n) certain += static_cast<float>(heat[n]) >= 1.f;
  return certain > 0;
}

// Accumulates the votes of batch item b into the target maps of one group,
// `acc` / `count` laid out as AccumulatorIndex says (see AddTap for what they
// hold), and returns the count array used. `count` is unused (may be null)
// for additive. With `count_if_needed` (noisy-OR forward), `count` is
// scratch, zero-filled and used only when a vote may have a zero factor
// (AVX-512 bilinear path: on its first certain vote; otherwise when
// MayHaveZeroFactors); null is returned when it was not.
//
// Votes are visited pixel by pixel, and at each pixel edge by edge in the
// group's order: a pixel's heatmap and offset channels are contiguous
// (channels last), so each input cache line is read once per group. The
// votes into one target
// map are added in (pixel, edge) order whatever the grouping, so the result
// does not depend on the number of groups or threads.
template <typename T, typename Acc, int kCombine, int kKernel>
int* AccumulateGroup(const VoteParams& p, const TargetGroup& group, const T* heatmaps,
                     const T* offsets_x, const T* offsets_y, int64_t b, MapScratch<Acc>& s,
                     Acc* acc, int* count, bool count_if_needed = false) {
  const int64_t H = p.height, W = p.width, J = p.num_maps, E = p.num_edges;
  const int64_t stride = PlaneStride(p);
  const int64_t size =
      kKernel == kBilinear ? H * InterleavedRowStride(p, group.size) : stride * group.size;
  // Bilinear: and the spare accumulator past the rows (AccumulatorsPerUnit),
  // so that it never carries values over from another unit.
  const int64_t filled = size + (kKernel == kBilinear ? 1 : 0);
  std::fill(acc, acc + filled, InitialAccumulator<Acc>(kCombine));
  const bool vectorised = size < (int64_t{1} << 24);  // exact float tap indices
  bool bilinear_avx512 = false;
#ifdef MDN_HAVE_AVX512_PATH
  bilinear_avx512 = kKernel == kBilinear && std::is_same<T, float>::value &&
                    std::is_same<Acc, float>::value && vectorised && UseAvx512();
#endif
  LazyCounts lazy{count, size};
  if (count_if_needed && !bilinear_avx512) {
    count = MayHaveZeroFactors(p, heatmaps, b) ? lazy.Get() : nullptr;
  } else if (!count_if_needed && count != nullptr) {
    std::fill(count, count + filled, 0);
  }
#ifdef MDN_HAVE_AVX512_PATH
  if (kKernel == kGaussian && std::is_same<T, float>::value && std::is_same<Acc, float>::value &&
      TapsPerAxis(p) <= 16 && p.height < (int64_t{1} << 30) && p.width < (int64_t{1} << 30) &&
      UseAvx512()) {
    AccumulateGaussianAvx512<kCombine>(p, group, reinterpret_cast<const float*>(heatmaps),
                                       reinterpret_cast<const float*>(offsets_x),
                                       reinterpret_cast<const float*>(offsets_y), b,
                                       reinterpret_cast<MapScratch<float>&>(s),
                                       reinterpret_cast<float*>(acc), count);
    return count;
  }
  if (bilinear_avx512) {
    AccumulateBilinearAvx512<kCombine>(
        p, group, reinterpret_cast<const float*>(heatmaps),
        reinterpret_cast<const float*>(offsets_x), reinterpret_cast<const float*>(offsets_y), b,
        reinterpret_cast<float*>(acc), count_if_needed ? nullptr : count,
        count_if_needed ? &lazy : nullptr);
    return count_if_needed ? lazy.counts : count;
  }
#endif
  for (int64_t i = 0; i < H; ++i) {
    for (int64_t j = 0; j < W; ++j) {
      const int64_t pix = (b * H + i) * W + j;
      const T* heat_px = heatmaps + pix * J;
      const T* ox_px = offsets_x + pix * E;
      const T* oy_px = offsets_y + pix * E;
      if (kKernel == kBilinear) {
        AccumulateBilinearPixel<T, Acc, kCombine>(p, group, i, j, heat_px, ox_px, oy_px,
                                                  vectorised, acc, count);
        continue;
      }
      for (int n = 0; n < group.num_edges; ++n) {
        const GroupEdge edge = group.edges[n];
        const Acc c = HeatValue(kCombine, static_cast<Acc>(heat_px[edge.source]));
        AccumulateVote<kCombine, kKernel>(
            p, Land(p, j, static_cast<Acc>(ox_px[edge.edge])),
            Land(p, i, static_cast<Acc>(oy_px[edge.edge])), c, s, acc + edge.slot * stride, 1,
            kCombine == kAdditive || count == nullptr ? nullptr : count + edge.slot * stride);
      }
    }
  }
  return count;
}

// Writes `size` accumulators (and counts) of one unit: the output m and,
// when `saved_stat` is not null, the statistics for the backward pass (max:
// maxima and tie counts; noisy-OR: EncodeNoisyOr of products and counts).
// `count` is null when no count was kept (additive, noisy-OR without
// certain votes).
template <typename T, typename Acc, int kCombine>
void WriteOutputs(const Acc* __restrict acc, const int* __restrict count, int64_t size,
                  T* __restrict out, T* __restrict saved_stat, int* __restrict saved_count) {
#ifdef MDN_HAVE_AVX512_PATH
  if (std::is_same<T, float>::value && std::is_same<Acc, float>::value && UseAvx512() &&
      (kCombine != kNoisyOr || count == nullptr)) {
    StreamOutputsAvx512<kCombine>(reinterpret_cast<const float*>(acc), count, size,
                                  reinterpret_cast<float*>(out),
                                  reinterpret_cast<float*>(saved_stat), saved_count);
    return;
  }
#endif
  for (int64_t n = 0; n < size; ++n) {
    const int zeros = count == nullptr ? 0 : count[n];
    // Noisy-OR: m = 1 - prod(1 - v), which is 1 as soon as one factor is 0.
    const Acc m = kCombine == kNoisyOr ? (zeros > 0 ? Acc(1) : Acc(1) - acc[n]) : acc[n];
    out[n] = static_cast<T>(m);
    if (kCombine == kAdditive || saved_stat == nullptr) continue;
    saved_stat[n] = static_cast<T>(kCombine == kNoisyOr ? EncodeNoisyOr(acc[n], zeros) : acc[n]);
    if (kCombine == kMax) saved_count[n] = zeros;
  }
}

// Forward pass of one unit: batch item b, the target maps of `group`. When
// `saved_stat` ([B, H, W, T]) is not null it receives the statistics the
// backward pass needs: max, the maximum, with the tie counts in
// `saved_count`; noisy-OR, EncodeNoisyOr's value (no count array).
template <typename T, typename Acc, int kCombine, int kKernel>
void ForwardGroup(const VoteParams& params, const TargetGroup& group, const T* heatmaps,
                  const T* offsets_x, const T* offsets_y, int64_t b, MapScratch<Acc>& s,
                  T* output, T* saved_stat, int* saved_count) {
  const VoteParams p = Specialise<kCombine, kKernel>(params);
  const int64_t plane = p.height * p.width, T_ = p.num_targets, G = group.size;
  // Zero factors are counted in scratch, and only when there may be some.
  Acc* acc = s.plane_a();
  int* count = AccumulateGroup<T, Acc, kCombine, kKernel>(
      p, group, heatmaps, offsets_x, offsets_y, b, s, acc,
      kCombine == kAdditive ? nullptr : s.plane_count(), /*count_if_needed=*/kCombine == kNoisyOr);
  // The accumulators stay in this worker's scratch (cache-resident, reused
  // unit after unit) and are written out once. A row of interleaved
  // accumulators of all T maps has the layout of an output row [W, T]: one
  // flat pass per row.
  if (kKernel == kBilinear && G == T_) {
    const int64_t row = InterleavedRowStride(p, G), out_row = p.width * T_;
    for (int64_t y = 0; y < p.height; ++y) {
      const int64_t first = (b * p.height + y) * out_row;
      WriteOutputs<T, Acc, kCombine>(
          acc + y * row, count == nullptr ? nullptr : count + y * row, out_row, output + first,
          saved_stat == nullptr ? nullptr : saved_stat + first,
          saved_count == nullptr ? nullptr : saved_count + first);
    }
    return;
  }
  for (int64_t q = 0; q < plane; ++q) {
    const int64_t first = (b * plane + q) * T_ + group.first_target;
    for (int64_t slot = 0; slot < G; ++slot) {
      const int64_t a = AccumulatorIndex<kKernel>(p, G, q / p.width, q % p.width, slot);
      if (kCombine == kAdditive) {
        output[first + slot] = static_cast<T>(acc[a]);
        continue;
      }
      const int zeros = count == nullptr ? 0 : count[a];
      const Acc m = kCombine == kMax ? acc[a] : (zeros > 0 ? Acc(1) : Acc(1) - acc[a]);
      output[first + slot] = static_cast<T>(m);
      if (saved_stat == nullptr) continue;
      if (kCombine == kMax) {
        saved_stat[first + slot] = static_cast<T>(acc[a]);
        saved_count[first + slot] = zeros;
      } else {
        saved_stat[first + slot] = static_cast<T>(EncodeNoisyOr(acc[a], zeros));
      }
    }
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

// Backward pass, first step for output map t (`group` holds t alone): its
// upstream gradient into plane_a, and (noisy-OR, max) the statistics of its
// output pixels into plane_b / plane_count: those the forward pass saved, or
// recomputed (GPU forward, half types, inference graphs).
template <typename T, typename Acc, int kCombine, int kKernel>
inline void PrepareBackwardPlanes(const VoteParams& p, const TargetGroup& group,
                                  const T* grad_output, const T* heatmaps, const T* offsets_x,
                                  const T* offsets_y, const T* saved_stat, const int* saved_count,
                                  int64_t b, MapScratch<Acc>& s) {
  const int64_t plane = p.height * p.width, T_ = p.num_targets, t = group.first_target;
  Acc* g = s.plane_a();
  Acc* stat = s.plane_b();
  int* count = s.plane_count();
  for (int64_t q = 0; q < plane; ++q) {
    g[q] = static_cast<Acc>(grad_output[(b * plane + q) * T_ + t]);
  }
  if (kCombine == kAdditive) return;
  if (saved_stat == nullptr) {
    AccumulateGroup<T, Acc, kCombine, kKernel>(p, group, heatmaps, offsets_x, offsets_y, b, s,
                                               stat, count);
    return;
  }
  for (int64_t q = 0; q < plane; ++q) {
    const Acc saved = static_cast<Acc>(saved_stat[(b * plane + q) * T_ + t]);
    if (kCombine == kNoisyOr) {
      DecodeNoisyOr(saved, &stat[q], &count[q]);
    } else {
      stat[q] = saved;
      count[q] = saved_count[(b * plane + q) * T_ + t];
    }
  }
}

// Gradients of one vote, pixel (i, j) of batch item b (flat index pix) on
// edge e from heatmap channel `source`, into map t whose upstream gradient
// and statistics PrepareBackwardPlanes put in the scratch planes: the offset
// gradients of the vote and its heatmap gradient (see BackwardMapBody).
template <typename T, typename Acc, int kCombine, int kKernel>
MDN_INLINE inline void BackwardVote(const VoteParams& p, MapScratch<Acc>& s, const T* heatmaps,
                                    const T* offsets_x, const T* offsets_y, int64_t pix,
                                    int64_t i, int64_t j, int e, int source, T* grad_offsets_x,
                                    T* grad_offsets_y, T* grad_heatmaps, Acc* grad_edges) {
  const int64_t J = p.num_maps, E = p.num_edges;
  const Acc* g = s.plane_a();
  const Acc* stat = s.plane_b();
  const int* count = s.plane_count();
  const Acc* wx = s.wx();
  const Acc* dwx = s.dwx();
  const Acc scale = static_cast<Acc>(p.scale);
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

// Backward of one output map t (`group` holds t alone). Writes the offset
// gradients of its edges and
// either the heatmap gradient directly (`grad_heatmaps`, when no two edges
// share a source so this unit owns those channels) or each edge's heatmap
// gradient into `grad_edges` [B, H, W, E] for ReduceHeatmapGradient.
template <typename T, typename Acc, int kCombine, int kKernel>
MDN_INLINE inline void BackwardMapBody(const VoteParams& params, const TargetGroup& group,
                                       const T* grad_output,
                 const T* heatmaps, const T* offsets_x, const T* offsets_y,
                 const T* saved_stat, const int* saved_count, int64_t b, MapScratch<Acc>& s, T* grad_offsets_x, T* grad_offsets_y,
                 T* grad_heatmaps, Acc* grad_edges) {
  const VoteParams p = Specialise<kCombine, kKernel>(params);
  const int64_t H = p.height, W = p.width;
  PrepareBackwardPlanes<T, Acc, kCombine, kKernel>(p, group, grad_output, heatmaps, offsets_x,
                                                   offsets_y, saved_stat, saved_count, b, s);
  for (int n = 0; n < group.num_edges; ++n) {
    const int e = group.edges[n].edge;
    const int source = group.edges[n].source;
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        const int64_t pix = (b * H + i) * W + j;
        BackwardVote<T, Acc, kCombine, kKernel>(p, s, heatmaps, offsets_x, offsets_y, pix, i, j, e,
                                                source, grad_offsets_x, grad_offsets_y,
                                                grad_heatmaps, grad_edges);
      }
    }
  }
}

#define MDN_BACKWARD_PARAMS                                                                  \
  const VoteParams &params, const TargetGroup &group, const T *grad_output, const T *heatmaps, \
      const T *offsets_x, const T *offsets_y, const T *saved_stat, const int *saved_count,     \
      int64_t b, MapScratch<Acc> &s, T *grad_offsets_x, T *grad_offsets_y, T *grad_heatmaps,   \
      Acc *grad_edges
#define MDN_BACKWARD_ARGS                                                                   \
  params, group, grad_output, heatmaps, offsets_x, offsets_y, saved_stat, saved_count, b, s, \
      grad_offsets_x, grad_offsets_y, grad_heatmaps, grad_edges

// The portable backward pass of one map, and a build of the same body for
// CPUs with AVX-512, whose wider registers and masks the compiler uses in
// the bilinear vote loop; the latter now serves float64 bilinear maps
// (float32 has BackwardBilinearAvx512). The same IEEE operations in the same
// order (no FMA contraction, no reassociation), so both give the same bits.
template <typename T, typename Acc, int kCombine, int kKernel>
void BackwardMap(MDN_BACKWARD_PARAMS) {
  BackwardMapBody<T, Acc, kCombine, kKernel>(MDN_BACKWARD_ARGS);
}
#ifdef MDN_HAVE_AVX512_PATH
template <typename T, typename Acc, int kCombine, int kKernel>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,prefer-vector-width=512"))) void
BackwardMapAvx512(MDN_BACKWARD_PARAMS) {
  BackwardMapBody<T, Acc, kCombine, kKernel>(MDN_BACKWARD_ARGS);
}
#endif
}  // namespace mdn
#include "mass_displacement_cpu_avx512_backward.h"  // needs PrepareBackwardPlanes
namespace mdn {

// Whether tap coordinates (Gaussian) or pixel indices of a map (bilinear)
// fit the int32 lanes of the AVX-512 backward paths.
inline bool FitsInt32Lanes(const VoteParams& p, bool whole_map) {
  const int64_t limit = int64_t{1} << 30;
  return whole_map ? p.height * p.width < limit : p.height < limit && p.width < limit;
}

// Gaussian backward: the AVX-512 path for float32 footprints of up to 16
// taps per axis, the portable one otherwise.
template <typename T, typename Acc, int kCombine>
void BackwardMapGaussian(MDN_BACKWARD_PARAMS) {
#ifdef MDN_HAVE_AVX512_PATH
  if constexpr (std::is_same<T, float>::value && std::is_same<Acc, float>::value) {
    if (TapsPerAxis(params) <= 16 && FitsInt32Lanes(params, false) && UseAvx512()) {
      BackwardGaussianAvx512<kCombine>(MDN_BACKWARD_ARGS);
      return;
    }
  }
#endif
  BackwardMapBody<T, Acc, kCombine, kGaussian>(MDN_BACKWARD_ARGS);
}

// Bilinear backward: lane-wise AVX-512 for float32, the AVX-512 build of the
// portable loops for float64, the portable loops otherwise.
template <typename T, typename Acc, int kCombine>
void BackwardMapBilinear(MDN_BACKWARD_PARAMS) {
#ifdef MDN_HAVE_AVX512_PATH
  if (UseAvx512()) {
    if constexpr (std::is_same<T, float>::value && std::is_same<Acc, float>::value) {
      if (FitsInt32Lanes(params, true)) {
        BackwardBilinearAvx512<kCombine>(MDN_BACKWARD_ARGS);
        return;
      }
    }
    BackwardMapAvx512<T, Acc, kCombine, kBilinear>(MDN_BACKWARD_ARGS);
    return;
  }
#endif
  BackwardMap<T, Acc, kCombine, kBilinear>(MDN_BACKWARD_ARGS);
}
#undef MDN_BACKWARD_PARAMS
#undef MDN_BACKWARD_ARGS

template <typename T, typename Acc>
using ForwardFn = void (*)(const VoteParams&, const TargetGroup&, const T*, const T*, const T*,
                           int64_t, MapScratch<Acc>&, T*, T*, int*);
template <typename T, typename Acc>
using BackwardFn = void (*)(const VoteParams&, const TargetGroup&, const T*, const T*,
                            const T*, const T*, const T*, const int*, int64_t,
                            MapScratch<Acc>&, T*, T*, T*, Acc*);

// One instantiation per (combine, kernel), so the inner loops see constants;
// these pick the one matching the runtime attributes.
template <typename T, typename Acc>
ForwardFn<T, Acc> PickForward(int combine, int kernel) {
  const bool gauss = kernel == kGaussian;
  switch (combine) {
    case kAdditive:
      return gauss ? &ForwardGroup<T, Acc, kAdditive, kGaussian>
                   : &ForwardGroup<T, Acc, kAdditive, kBilinear>;
    case kNoisyOr:
      return gauss ? &ForwardGroup<T, Acc, kNoisyOr, kGaussian>
                   : &ForwardGroup<T, Acc, kNoisyOr, kBilinear>;
    default:
      return gauss ? &ForwardGroup<T, Acc, kMax, kGaussian> : &ForwardGroup<T, Acc, kMax, kBilinear>;
  }
}

template <typename T, typename Acc, int kCombine>
BackwardFn<T, Acc> PickBackwardFor(int kernel) {
  return kernel == kGaussian ? &BackwardMapGaussian<T, Acc, kCombine>
                             : &BackwardMapBilinear<T, Acc, kCombine>;
}

template <typename T, typename Acc>
BackwardFn<T, Acc> PickBackward(int combine, int kernel) {
  switch (combine) {
    case kAdditive:
      return PickBackwardFor<T, Acc, kAdditive>(kernel);
    case kNoisyOr:
      return PickBackwardFor<T, Acc, kNoisyOr>(kernel);
    default:
      return PickBackwardFor<T, Acc, kMax>(kernel);
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
