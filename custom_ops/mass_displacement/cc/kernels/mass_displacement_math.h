// Mass-displacement voting math shared by the CPU kernel, the CUDA kernels and
// the standalone CUDA harness. Free of TensorFlow types on purpose: plain
// pointers, sizes and inline functions, so the CPU and GPU paths cannot drift
// apart and the CUDA kernels can be built and tested without TensorFlow.
//
// Layout (channels last, row-major):
//   heatmaps  [B, H, W, J]   offsets_x, offsets_y [B, H, W, E]   output [B, H, W, T]
// Pixel (row i, column j) is the point (x=j, y=i). The vote of pixel (i, j)
// along edge e (source s_e, target t_e) lands at
//   x' = j + scale * offsets_x[b, i, j, e],   y' = i + scale * offsets_y[b, i, j, e]
// and carries v = K * c, c = heatmaps[b, i, j, s_e] (clipped to [0, 1] for
// noisy-OR). The footprint of a vote is separable: K = wx(xt) * wy(yt), and
// every kernel evaluates v as wx * (wy * c) so that the forward pass, the
// statistics of the backward pass and the gradient pass see bit-identical
// values (max mode relies on `v == m`).
#ifndef MDN_TF_MASS_DISPLACEMENT_MATH_H_
#define MDN_TF_MASS_DISPLACEMENT_MATH_H_

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#if defined(__CUDACC__)
#define MDN_HD __host__ __device__ __forceinline__
#else
#define MDN_HD inline
#endif

namespace mdn {

enum Combine : int { kAdditive = 0, kNoisyOr = 1, kMax = 2 };
enum KernelType : int { kBilinear = 0, kGaussian = 1 };

// Everything a kernel needs besides the tensors. Filled on the host.
struct VoteParams {
  int64_t batch = 0, height = 0, width = 0;
  int64_t num_maps = 0;     // J
  int64_t num_edges = 0;    // E
  int64_t num_targets = 0;  // T
  int combine = kAdditive;
  int kernel = kBilinear;
  int kernel_size = 2;  // taps per axis: 2 for bilinear, kf (odd) for Gaussian
  double scale = 1.0;   // displacement_scale s
  // 1/sigma^2, 1/(2 sigma^2) and exp(-1/sigma^2), precomputed once by
  // SetSigma (Gaussian only).
  double inv_var = 0.0;
  double inv_two_var = 0.0;
  double ratio_step = 0.0;

  void SetSigma(double sigma) {
    inv_var = 1.0 / (sigma * sigma);
    inv_two_var = 0.5 * inv_var;
    ratio_step = exp(-inv_var);
  }
};

MDN_HD int TapsPerAxis(const VoteParams& p) {
  return p.kernel == kGaussian ? p.kernel_size : 2;
}

// R: how far (in pixels) beyond its landing point a vote can reach.
MDN_HD int Reach(const VoteParams& p) {
  return p.kernel == kGaussian ? p.kernel_size / 2 : 1;
}

// floor() for a value already known to lie well inside the int64 range.
// Truncate and step down for negative non-integers: exact, and far cheaper
// than a libm call on x86-64 without SSE4.1.
template <typename Acc>
MDN_HD int64_t FloorToInt(Acc x) {
  const int64_t truncated = static_cast<int64_t>(x);
  return x < static_cast<Acc>(truncated) ? truncated - 1 : truncated;
}
// exp() of the Gaussian weights. Float on the CPU: Cody-Waite range
// reduction and Cephes' degree-6 polynomial (within 1 ulp of the correctly
// rounded value over 2e7 arguments in [-87, 1]), in plain
// IEEE operations only, so the AVX-512 paths evaluate it lane by lane with the
// same bits (ExpAvx512) and no libm call sits in the vote loops; e^x below
// e^-87 (1.6e-38) flushes to 0. The GPU evaluates the same polynomial (built
// with --fmad=false: the same bits). float64 uses libm on the CPU and CUDA's
// exp on the GPU (both within an ulp, not always the same bits).
MDN_HD float Exp(float x) {
  if (!(x >= -87.f && x <= 88.f)) return x != x ? x : (x > 0.f ? INFINITY : 0.f);
  // n = round(x / ln 2) by the 1.5 * 2^23 trick (round to nearest even).
  const float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  // r = x - n ln 2, with ln 2 split so that n * 0.693359375 is exact.
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float poly = 1.9875691500e-4f;
  poly = poly * r + 1.3981999507e-3f;
  poly = poly * r + 8.3334519073e-3f;
  poly = poly * r + 4.1665795894e-2f;
  poly = poly * r + 1.6666665459e-1f;
  poly = poly * r + 5.0000001201e-1f;
  const float e_r = (poly * (r * r) + r) + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n in [-126, 127]
  float two_n;
  memcpy(&two_n, &bits, sizeof(two_n));
  return e_r * two_n;
}
MDN_HD double Exp(double x) { return exp(x); }

// Noisy-OR sees heatmaps clipped to [0, 1] so that m stays a probability.
// NaN stays NaN (it compares false both ways), like tf.clip_by_value.
template <typename Acc>
MDN_HD Acc HeatValue(int combine, Acc c) {
  if (combine != kNoisyOr) return c;
  return c < Acc(0) ? Acc(0) : (c > Acc(1) ? Acc(1) : c);
}

// Gradient mask of that clip: passes where 0 <= c <= 1 (inclusive).
template <typename Acc>
MDN_HD Acc HeatGradMask(int combine, Acc c) {
  if (combine != kNoisyOr) return Acc(1);
  return (c >= Acc(0) && c <= Acc(1)) ? Acc(1) : Acc(0);
}

// One axis of a vote's footprint: tap k sits at coordinate first + k.
template <typename Acc>
struct Axis {
  int64_t first;
  Acc pos;  // landing coordinate x' (or y')
};

// False when the landing coordinate is NaN, infinite or so far outside
// [0, size) that no tap can touch the map. Only a coordinate that passes this
// test is floored and cast to an integer, so no input value can produce an
// out-of-range index or an undefined float->int conversion. (A map wider than
// 2^24 pixels would need float64 inputs for exact coordinates anyway.)
template <typename Acc>
MDN_HD bool LocateAxis(const VoteParams& p, Acc pos, int64_t size, Axis<Acc>* a) {
  const Acc r = static_cast<Acc>(Reach(p));
  // Written as !(inside) so that NaN is dropped too.
  if (!(pos >= -(r + Acc(1)) && pos <= static_cast<Acc>(size) + r)) return false;
  a->first = p.kernel == kGaussian ? FloorToInt(pos + Acc(0.5)) - Reach(p) : FloorToInt(pos);
  a->pos = pos;
  return true;
}

// Weight of tap k along one axis and its derivative with respect to the
// landing coordinate. Bilinear: (1 - f, f) with derivatives (-1, +1), which is
// one-sided at integer landings (a zero-weight tap still carries the offset
// gradient). Gaussian: exp(-d^2 / (2 sigma^2)), d = tap - x', derivative
// w * d / sigma^2.
template <typename Acc>
MDN_HD Acc AxisWeight(const VoteParams& p, const Axis<Acc>& a, int k, Acc* dweight) {
  if (p.kernel == kBilinear) {
    const Acc frac = a.pos - static_cast<Acc>(a.first);
    if (k == 0) {
      *dweight = Acc(-1);
      return Acc(1) - frac;
    }
    *dweight = Acc(1);
    return frac;
  }
  const Acc d = static_cast<Acc>(a.first + k) - a.pos;
  const Acc w = Exp(-(d * d) * static_cast<Acc>(p.inv_two_var));
  *dweight = w * d * static_cast<Acc>(p.inv_var);
  return w;
}

template <typename Acc>
MDN_HD Acc AxisWeight(const VoteParams& p, const Axis<Acc>& a, int k) {
  Acc unused;
  return AxisWeight(p, a, k, &unused);
}

// Weights (and derivatives) of taps [begin, end) along one axis. The Gaussian
// uses exp() twice and a multiplicative recurrence outward from the centre
// tap, w(d + 1) = w(d) * r(d) with r(d) = exp(-(2d + 1) / (2 sigma^2)) and
// r(d + 1) = r(d) * exp(-1/sigma^2); leftward ratios are exp(-1/sigma^2) /
// r(d0). A few ulps from the direct formula (AxisWeight), and far fewer exp()
// calls. The CPU loops and the CUDA kernels both weigh taps with this
// function (and Exp below, the same polynomial on both), so a vote's tap
// values have the same bits on both: max mode's winners among votes tied to
// within an ulp, and so its gradient, agree between CPU and GPU.
template <bool kDerivatives, typename Acc>
MDN_HD void FillAxisWeights(const VoteParams& p, const Axis<Acc>& a, int begin, int end,
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

// A located vote and the range of its taps that fall on the map; off-map taps
// are dropped one by one (their share of the mass is lost, never clamped).
template <typename Acc>
struct Footprint {
  Axis<Acc> x, y;
  int kx_begin, kx_end, ky_begin, ky_end;
};

MDN_HD int ClampTap(int64_t v, int taps) {
  return v < 0 ? 0 : (v > taps ? taps : static_cast<int>(v));
}

// Landing point of the vote of pixel (i, j): x' = j + s * ox, y' = i + s * oy.
// Every path computes it with this one expression.
template <typename Acc>
MDN_HD Acc Land(const VoteParams& p, int64_t coordinate, Acc offset) {
  return static_cast<Acc>(coordinate) + static_cast<Acc>(p.scale) * offset;
}

template <typename Acc>
MDN_HD bool LocateLanding(const VoteParams& p, Acc lx, Acc ly, Footprint<Acc>* f) {
  if (!LocateAxis(p, lx, p.width, &f->x)) return false;
  if (!LocateAxis(p, ly, p.height, &f->y)) return false;
  const int taps = TapsPerAxis(p);
  f->kx_begin = ClampTap(-f->x.first, taps);
  f->kx_end = ClampTap(p.width - f->x.first, taps);
  f->ky_begin = ClampTap(-f->y.first, taps);
  f->ky_end = ClampTap(p.height - f->y.first, taps);
  return true;
}

template <typename Acc>
MDN_HD bool LocateVote(const VoteParams& p, int64_t i, int64_t j, Acc ox, Acc oy,
                       Footprint<Acc>* f) {
  return LocateLanding(p, Land(p, j, ox), Land(p, i, oy), f);
}

// The value a tap adds: v = wx * (wy * c). Every pass must use this order.
template <typename Acc>
MDN_HD Acc TapValue(Acc wx, Acc wy, Acc c) {
  return wx * (wy * c);
}

// d(noisy-OR)/dv_i = prod_{j != i} (1 - v_j), from the number of zero factors
// and the product of the non-zero ones. Never divides by a zero factor, so a
// vote with K*c = 1 gets a finite, exact gradient.
// Written with selects rather than branches so the CPU row loops vectorise;
// the divisor is never a zero factor.
template <typename Acc>
MDN_HD Acc NoisyOrDmDv(Acc factor, int zero_factors, Acc nonzero_product) {
  const bool is_zero = factor == Acc(0);
  const Acc without_this = nonzero_product / (is_zero ? Acc(1) : factor);
  const Acc if_zero = zero_factors == 1 ? nonzero_product : Acc(0);
  const Acc if_nonzero = zero_factors == 0 ? without_this : Acc(0);
  return is_zero ? if_zero : if_nonzero;
}

// The noisy-OR statistics of an output pixel kept for the backward pass in
// one value, so the forward pass writes no count array: the product P of the
// non-zero factors when no factor is 0; -P when exactly one is (P >= 0, and
// the sign bit tells -0.0 from 0.0); -inf when two or more are (every dm/dv
// is then 0). P lies in [0, 1] or is NaN (a NaN heatmap), which decodes as
// no zero factor.
template <typename Acc>
MDN_HD Acc EncodeNoisyOr(Acc product, int zero_factors) {
  if (zero_factors == 0) return product;
  return zero_factors == 1 ? -product : -static_cast<Acc>(INFINITY);
}

template <typename Acc>
MDN_HD void DecodeNoisyOr(Acc saved, Acc* product, int* zero_factors) {
  if (saved != saved || !signbit(saved)) {  // NaN or >= +0
    *product = saved, *zero_factors = 0;
  } else if (isinf(saved)) {
    *product = Acc(0), *zero_factors = 2;
  } else {
    *product = -saved, *zero_factors = 1;
  }
}

// --------------------------------------------------------------------------
// Noisy-OR on the GPU: the product of the non-zero factors f = 1 - v is kept
// as sum(log f) in fixed point (int64, 2^shift units), the zero factors as an
// integer count. Integer atomics are exact and commutative, so the GPU's
// noisy-OR statistics are bit-identical from run to run whatever order the
// votes land in, and no compare-and-swap loop is needed. Then
//   P = exp(sum * 2^-shift), m = 1 if any zero factor else 1 - P,
// the same definition as the CPU loops (which multiply the factors). Only used
// by the CUDA kernels; here so that host code can test it.
//
// A factor of a vote is f = 1 - v with v = wx * (wy * c) in [0, 1] (weights
// <= 1, c clipped to [0, 1]), so f is 0 or >= 2^-24 (float; 2^-53 double):
// log f >= -16.7 (-36.8). Each term is clamped at -kNoisyOrLogFloor anyway.
// Rounding each term to 2^-(shift+1) adds at most that much to log P per vote
// (about 5e-13 at shift 40): far below float32 rounding, and below 1e-9 for
// float64 unless thousands of votes reach a pixel.
// --------------------------------------------------------------------------
constexpr double kNoisyOrLogFloor = 38.0;
// Zero-factor count word: bits [0, 30) count zero factors, bit 30 flags a NaN
// factor (a NaN heatmap), which makes P NaN as in the CPU product.
constexpr int kNoisyOrNanBit = 1 << 30;
constexpr int kNoisyOrZeroMask = kNoisyOrNanBit - 1;
// Largest shift: the shared-memory tiles of the GPU split a term into a signed
// high part (term >> 24) and a low part (term & (2^24 - 1)) summed in 32-bit
// shared-memory words by at most 256 votes; the high part of 256 terms of
// magnitude <= 38 * 2^40 stays below 2^31.
constexpr int kNoisyOrMaxShift = 40;

// Shift for a problem: a pixel of one map receives at most one tap of each
// of the H * W * E votes, so |sum| <= H * W * E * 38 * 2^shift must fit in
// 62 bits (int64 with room): 39 at 64x64 with 16 edges, fewer fraction bits
// only for much bigger problems (34 at 256x256 with 31 edges).
inline int NoisyOrFixedShift(const VoteParams& p) {
  const double bound =
      static_cast<double>(p.height) * static_cast<double>(p.width) *
      static_cast<double>(p.num_edges > 0 ? p.num_edges : 1) * kNoisyOrLogFloor;
  int bits = 1;
  while (bits < 62 && ldexp(1.0, bits) <= bound) ++bits;
  int shift = 62 - bits;
  if (shift > kNoisyOrMaxShift) shift = kNoisyOrMaxShift;
  if (shift < 8) shift = 8;  // absurdly large problems: coarse, still no overflow below 2^54 votes
  return shift;
}

// Fixed-point term of a non-zero factor f in (0, 1] (NaN is handled by the
// caller): round(max(log f, -38) * 2^shift) <= 0. `scale` is 2^shift in Acc
// (exact), so the product is exact and only the rounding to an integer loses
// anything (float: log f is only float-accurate anyway).
MDN_HD float NoisyOrLog(float f) { return logf(f); }
MDN_HD double NoisyOrLog(double f) { return log(f); }

template <typename Acc>
MDN_HD long long NoisyOrFixedTerm(Acc factor, Acc scale) {
  Acc l = NoisyOrLog(factor);
  // Written so that a NaN log (a negative factor, which v <= 1 rules out)
  // clamps too: no float -> int64 conversion of NaN.
  l = l >= static_cast<Acc>(-kNoisyOrLogFloor) ? l : static_cast<Acc>(-kNoisyOrLogFloor);
#ifdef __CUDA_ARCH__
  return sizeof(Acc) == 4 ? __float2ll_rn(static_cast<float>(l * scale))
                          : __double2ll_rn(static_cast<double>(l * scale));
#else
  return llrint(static_cast<double>(l * scale));
#endif
}

// P = exp(sum * 2^-shift), or NaN when a NaN factor was seen.
template <typename Acc>
MDN_HD Acc NoisyOrProduct(long long fixed_sum, int count_word, double inv_scale) {
  if (count_word & kNoisyOrNanBit) return static_cast<Acc>(NAN);
  return Exp(static_cast<Acc>(static_cast<double>(fixed_sum) * inv_scale));
}

MDN_HD int NoisyOrZeros(int count_word) { return count_word & kNoisyOrZeroMask; }

// Initial value of an output accumulator: a sum, a product of (1 - v), a max.
template <typename Acc>
MDN_HD Acc InitialAccumulator(int combine) {
  return combine == kNoisyOr ? Acc(1) : Acc(0);
}

// Accumulator -> m. Max starts at 0, so m = max(0, max v) and a map without
// votes is 0 in every mode.
template <typename Acc>
MDN_HD Acc FinalValue(int combine, Acc acc) {
  return combine == kNoisyOr ? Acc(1) - acc : acc;
}

// Edge table shared by the CPU and GPU paths, one int array:
//   [0, E)            sources
//   [E, 2E)           targets
//   [2E, 2E+J+1)      CSR offsets of the edges leaving each source map
//   [2E+J+1, 3E+J+1)  those edges, in increasing edge order (so sums over the
//                     edges of a source are always added in the same order)
struct EdgeTableView {
  const int* sources;
  const int* targets;
  const int* source_offsets;
  const int* source_edges;
};

MDN_HD EdgeTableView ViewEdgeTable(const int* table, int64_t num_edges, int64_t num_maps) {
  EdgeTableView v;
  v.sources = table;
  v.targets = table + num_edges;
  v.source_offsets = table + 2 * num_edges;
  v.source_edges = table + 2 * num_edges + num_maps + 1;
  return v;
}

inline std::vector<int> BuildEdgeTable(const int* sources, const int* targets,
                                       int64_t num_edges, int64_t num_maps) {
  std::vector<int> table(3 * num_edges + num_maps + 1, 0);
  for (int64_t e = 0; e < num_edges; ++e) {
    table[e] = sources[e];
    table[num_edges + e] = targets[e];
  }
  int* offsets = table.data() + 2 * num_edges;
  int* edges = offsets + num_maps + 1;
  for (int64_t e = 0; e < num_edges; ++e) ++offsets[sources[e] + 1];
  for (int64_t s = 0; s < num_maps; ++s) offsets[s + 1] += offsets[s];
  std::vector<int> fill(offsets, offsets + num_maps);
  for (int64_t e = 0; e < num_edges; ++e) edges[fill[sources[e]]++] = static_cast<int>(e);
  return table;
}

// --------------------------------------------------------------------------
// CUDA launchers. Defined in mass_displacement_gpu.cu.h, instantiated in
// mass_displacement_kernels_gpu.cu.cc (for TensorFlow) and in the standalone
// harness. Device pointers only; `edge_table` is BuildEdgeTable's array copied
// to the device; `scratch` is at least *ScratchBytes(p) bytes of device memory;
// `stream` is a cudaStream_t. They return a cudaError_t (0 on success).
// --------------------------------------------------------------------------
template <typename T, typename Acc>
struct GpuLauncher {
  static size_t ForwardScratchBytes(const VoteParams& p);
  static size_t BackwardScratchBytes(const VoteParams& p);
  static int Forward(const VoteParams& p, const int* edge_table, const T* heatmaps,
                     const T* offsets_x, const T* offsets_y, T* output, void* scratch,
                     void* stream);
  static int Backward(const VoteParams& p, const int* edge_table, const T* grad_output,
                      const T* heatmaps, const T* offsets_x, const T* offsets_y,
                      T* grad_heatmaps, T* grad_offsets_x, T* grad_offsets_y, void* scratch,
                      void* stream);
};

}  // namespace mdn

#endif  // MDN_TF_MASS_DISPLACEMENT_MATH_H_
