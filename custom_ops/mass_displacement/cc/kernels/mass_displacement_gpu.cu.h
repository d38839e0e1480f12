// CUDA kernels and launchers of mass-displacement voting, free of TensorFlow
// types: the TF GPU OpKernel and the standalone harness both call
// GpuLauncher<T, Acc>, declared in mass_displacement_math.h. The per-vote math
// is the same inline code the CPU kernel runs; only the scatter differs
// (atomics, since votes of many threads land on one pixel).
//
// Accumulation, per output pixel (8 bytes of sums + 4 bytes of counts):
//   additive  float/double atomicAdd of v                (order-dependent)
//   noisy-OR  int64 sum of round(log(1 - v) * 2^shift) and an int count of
//             zero factors (NoisyOrFixedTerm, mass_displacement_math.h):
//             integer atomics only, so the result does not depend on the
//             order the votes land in: bit-identical from run to run
//   max       integer atomicMax on the bits of v > 0 (exact), then a second
//             pass counts the taps equal to the maximum (backward only)
//
// Two scatter strategies, same results up to float-add order (additive) and
// bit-identical otherwise:
//   direct  one thread per vote (b, i, j, e) in grid-stride loops (e fastest,
//           coalesced loads), one global atomic per tap;
//   tiled   a 256-thread block takes a 16x16 tile of source pixels of one
//           (b, e); taps landing in the 48x48 window around the tile go to
//           shared memory (32-bit integer atomics for noisy-OR and max ties,
//           native on sm_60+), the rest to global memory, and the block then
//           flushes each touched cell with one global atomic. Used for the
//           Gaussian kernels (25-169+ taps per vote, heavily overlapping).
// The backward pass recomputes the statistics with the same scatter, packs
// (upstream gradient, statistic, count) per output pixel into one 16-byte
// record, and gathers dL/dv per vote (no atomics), then reduces the heatmap
// gradient per (pixel, source map) in edge order (no atomics).
//
// Compile with --fmad=false so values round like the CPU kernel's.
#ifndef MDN_TF_MASS_DISPLACEMENT_GPU_CU_H_
#define MDN_TF_MASS_DISPLACEMENT_GPU_CU_H_

#include <cuda_runtime.h>

#include "mass_displacement_math.h"

namespace mdn {
namespace gpu {

// Host-side override of the scatter strategy, for benchmarks and tests:
// 0 auto (tiled for Gaussian kernels, direct for bilinear), 1 direct, 2 tiled.
inline int g_scatter_strategy = 0;

enum ScatterMode : int { kModeAdd = 0, kModeLog = 1, kModeMax = 2, kModeTies = 3 };

// Per-output accumulators. `value` and `fixed` alias one 8-byte-per-output
// region: additive sums and maxima use `value`, noisy-OR log sums `fixed`.
template <typename Acc>
struct Accumulators {
  Acc* value;
  unsigned long long* fixed;
  int* count;        // noisy-OR zero-factor count word, max tie count
  Acc log_scale;     // 2^shift (noisy-OR)
};

// What the gradient gather reads per output pixel (noisy-OR and max): one
// aligned 16-byte (float) or 32-byte (double) record instead of three arrays.
template <typename Acc>
struct alignas(16) GradStat {
  Acc grad;   // upstream gradient dL/dm
  Acc stat;   // noisy-OR: product P of the non-zero factors; max: the maximum
  int count;  // noisy-OR: zero factors; max: taps reaching the maximum
};

// Max of non-negative values: their IEEE bit patterns order like signed
// integers, so integer atomicMax is exact. Callers pass only v > 0 into a
// buffer initialised to +0.
__device__ __forceinline__ void AtomicMaxPositive(float* address, float v) {
  atomicMax(reinterpret_cast<int*>(address), __float_as_int(v));
}

__device__ __forceinline__ void AtomicMaxPositive(double* address, double v) {
  atomicMax(reinterpret_cast<long long*>(address), __double_as_longlong(v));
}

#define MDN_GRID_STRIDE(n, count)                                                   \
  for (int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; \
       n < (count); n += static_cast<int64_t>(blockDim.x) * gridDim.x)

// The parameters with the kernel type and combine rule fixed at compile time,
// so AxisWeight, LocateAxis, HeatValue, ... fold their branches.
template <int kKernel, int kCombine>
__device__ __forceinline__ VoteParams Specialize(const VoteParams& params) {
  VoteParams p = params;
  p.kernel = kKernel;
  p.combine = kCombine;
  if (kKernel == kBilinear) p.kernel_size = 2;
  return p;
}

// Calls fn(kx, ky, wx, wy, dwx, dwy) for the on-map taps of a located vote,
// ky outer and kx inner, both increasing (the order of the previous kernels).
// kMaxTaps > 0: the weights (and derivatives) of both axes are computed once
// per vote into arrays by FillAxisWeights, the function the CPU loops use, so
// a vote's tap values have the CPU's bits (max mode's winners among votes
// tied to within an ulp depend on them); needs taps <= kMaxTaps.
// kMaxTaps == 0 (Gaussian windows wider than 63 taps): the direct formula per
// tap, a few ulps from the CPU's weights.
template <int kMaxTaps, bool kDerivatives, typename Acc, typename F>
__device__ __forceinline__ void ForEachTap(const VoteParams& p, const Footprint<Acc>& f, F&& fn) {
  if (kMaxTaps > 0) {
    constexpr int kN = kMaxTaps > 0 ? kMaxTaps : 1;
    Acc wx[kN], dwx[kN], wy[kN], dwy[kN];
    FillAxisWeights<kDerivatives>(p, f.x, f.kx_begin, f.kx_end, wx, dwx);
    FillAxisWeights<kDerivatives>(p, f.y, f.ky_begin, f.ky_end, wy, dwy);
    for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
      for (int kx = f.kx_begin; kx < f.kx_end; ++kx) {
        fn(kx, ky, wx[kx], wy[ky], kDerivatives ? dwx[kx] : Acc(0),
           kDerivatives ? dwy[ky] : Acc(0));
      }
    }
  } else {
    for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
      Acc dwy = Acc(0);
      const Acc wy = AxisWeight(p, f.y, ky, &dwy);
      for (int kx = f.kx_begin; kx < f.kx_end; ++kx) {
        Acc dwx = Acc(0);
        const Acc wx = AxisWeight(p, f.x, kx, &dwx);
        fn(kx, ky, wx, wy, dwx, dwy);
      }
    }
  }
}

// Loads vote n = ((b * H + i) * W + j) * E + e: its footprint and the heat
// value c it carries (clipped for noisy-OR). False when the vote is dropped.
template <typename T, typename Acc>
__device__ __forceinline__ bool LoadVote(const VoteParams& p, const EdgeTableView& edges,
                                         const T* __restrict__ heatmaps,
                                         const T* __restrict__ offsets_x,
                                         const T* __restrict__ offsets_y, int64_t n,
                                         int64_t pix, int64_t i, int64_t j, int64_t e,
                                         Footprint<Acc>* f, Acc* c, Acc* raw) {
  if (!LocateVote(p, i, j, static_cast<Acc>(offsets_x[n]), static_cast<Acc>(offsets_y[n]), f)) {
    return false;
  }
  *raw = static_cast<Acc>(heatmaps[pix * p.num_maps + edges.sources[e]]);
  *c = HeatValue(p.combine, *raw);
  return true;
}

__device__ __forceinline__ int64_t OutputIndex(const VoteParams& p, int64_t b, int64_t y,
                                               int64_t x, int64_t t) {
  return ((b * p.height + y) * p.width + x) * p.num_targets + t;
}

// A noisy-OR tap's factor 1 - v: the rare certain (0) and NaN factors go
// straight to the global counts; an ordinary factor returns its fixed-point
// log term (0 when it rounds away) for the caller to accumulate.
template <typename Acc>
__device__ __forceinline__ long long NoisyOrTermOrCount(const Accumulators<Acc>& acc, int64_t q,
                                                        Acc v) {
  const Acc factor = Acc(1) - v;
  if (factor == Acc(0)) {
    atomicAdd(acc.count + q, 1);
    return 0;
  }
  if (factor != factor) {
    atomicOr(acc.count + q, kNoisyOrNanBit);
    return 0;
  }
  return NoisyOrFixedTerm(factor, acc.log_scale);
}

// One tap into the global accumulators.
template <int kMode, typename Acc>
__device__ __forceinline__ void GlobalAccumulate(const Accumulators<Acc>& acc, int64_t q, Acc v) {
  if (kMode == kModeAdd) {
    atomicAdd(acc.value + q, v);
  } else if (kMode == kModeLog) {
    const long long term = NoisyOrTermOrCount(acc, q, v);
    if (term != 0) atomicAdd(acc.fixed + q, static_cast<unsigned long long>(term));
  } else if (kMode == kModeMax) {
    if (v > Acc(0)) AtomicMaxPositive(acc.value + q, v);
  } else {  // ties: the maximum is complete (previous kernel)
    if (v > Acc(0) && v == acc.value[q]) atomicAdd(acc.count + q, 1);
  }
}

template <typename T, typename Acc, int kKernel, int kMaxTaps, int kMode>
__global__ void ScatterDirectKernel(VoteParams params, const int* __restrict__ table,
                                    const T* __restrict__ heatmaps,
                                    const T* __restrict__ offsets_x,
                                    const T* __restrict__ offsets_y, Accumulators<Acc> acc) {
  const VoteParams p =
      Specialize<kKernel, kMode == kModeLog ? kNoisyOr : (kMode == kModeAdd ? kAdditive : kMax)>(
          params);
  const EdgeTableView edges = ViewEdgeTable(table, p.num_edges, p.num_maps);
  MDN_GRID_STRIDE(n, p.batch * p.height * p.width * p.num_edges) {
    const int64_t e = n % p.num_edges, pix = n / p.num_edges;
    const int64_t j = pix % p.width, i = (pix / p.width) % p.height;
    const int64_t b = pix / (p.width * p.height);
    Footprint<Acc> f;
    Acc c, raw;
    if (!LoadVote(p, edges, heatmaps, offsets_x, offsets_y, n, pix, i, j, e, &f, &c, &raw)) {
      continue;
    }
    const int64_t t = edges.targets[e];
    ForEachTap<kMaxTaps, false>(p, f, [&](int kx, int ky, Acc wx, Acc wy, Acc, Acc) {
      GlobalAccumulate<kMode>(acc, OutputIndex(p, b, f.y.first + ky, f.x.first + kx, t),
                              TapValue(wx, wy, c));
    });
  }
}

constexpr int kTile = 16;                     // source tile: kTile x kTile pixels
constexpr int kTileThreads = kTile * kTile;   // one vote per thread; <= 256 (see below)
constexpr int kHalo = 16;                     // window margin around the tile
constexpr int kWindow = kTile + 2 * kHalo;    // 48
constexpr int kWindowCells = kWindow * kWindow;
static_assert(kTileThreads <= 256, "noisy-OR low words: 256 * (2^24 - 1) < 2^32");

// One tap into the block's shared window (cell) or, for the rare noisy-OR
// zero and NaN factors, straight into the global counts. Shared layout:
//   add   Acc[cells];  max  int/long long bits[cells];  ties  int[cells]
//   log   int hi[cells] then unsigned lo[cells]: term = hi * 2^24 + lo with
//         lo in [0, 2^24). A block adds at most one tap per vote to a cell
//         (a vote's taps are distinct pixels), so <= 256 terms per cell: the
//         lo sum stays below 2^32 and, with |term| <= 38 * 2^40, the hi sum
//         below 2^31 (kNoisyOrMaxShift). Integer adds: order-independent.
template <int kMode, typename Acc>
__device__ __forceinline__ void SharedAccumulate(const Accumulators<Acc>& acc, void* window,
                                                 int cell, int64_t q, Acc v) {
  if (kMode == kModeAdd) {
    atomicAdd(static_cast<Acc*>(window) + cell, v);
  } else if (kMode == kModeLog) {
    const long long term = NoisyOrTermOrCount(acc, q, v);
    if (term != 0) {
      atomicAdd(static_cast<int*>(window) + cell, static_cast<int>(term >> 24));
      atomicAdd(static_cast<unsigned*>(window) + kWindowCells + cell,
                static_cast<unsigned>(term & 0xFFFFFF));
    }
  } else if (kMode == kModeMax) {
    if (v > Acc(0)) {
      if (sizeof(Acc) == 4) {
        atomicMax(static_cast<int*>(window) + cell, __float_as_int(static_cast<float>(v)));
      } else {
        atomicMax(static_cast<long long*>(window) + cell,
                  __double_as_longlong(static_cast<double>(v)));
      }
    }
  } else {
    if (v > Acc(0) && v == acc.value[q]) atomicAdd(static_cast<int*>(window) + cell, 1);
  }
}

// Moves one window cell to the global accumulators (nothing when untouched).
template <int kMode, typename Acc>
__device__ __forceinline__ void FlushCell(const Accumulators<Acc>& acc, const void* window,
                                          int cell, int64_t q) {
  if (kMode == kModeAdd) {
    const Acc s = static_cast<const Acc*>(window)[cell];
    if (s != Acc(0)) atomicAdd(acc.value + q, s);  // NaN != 0: flushed
  } else if (kMode == kModeLog) {
    const long long total =
        static_cast<long long>(static_cast<const int*>(window)[cell]) * (1LL << 24) +
        static_cast<long long>(static_cast<const unsigned*>(window)[kWindowCells + cell]);
    if (total != 0) atomicAdd(acc.fixed + q, static_cast<unsigned long long>(total));
  } else if (kMode == kModeMax) {
    if (sizeof(Acc) == 4) {
      const int bits = static_cast<const int*>(window)[cell];
      if (bits > 0) atomicMax(reinterpret_cast<int*>(acc.value) + q, bits);
    } else {
      const long long bits = static_cast<const long long*>(window)[cell];
      if (bits > 0) atomicMax(reinterpret_cast<long long*>(acc.value) + q, bits);
    }
  } else {
    const int ties = static_cast<const int*>(window)[cell];
    if (ties != 0) atomicAdd(acc.count + q, ties);
  }
}

// Block = (b, e, tile), flattened into blockIdx.x (tile fastest), exactly
// kTileThreads threads. Every thread reaches both __syncthreads.
template <typename T, typename Acc, int kKernel, int kMaxTaps, int kMode>
__global__ void __launch_bounds__(kTileThreads)
    ScatterTiledKernel(VoteParams params, const int* __restrict__ table,
                       const T* __restrict__ heatmaps, const T* __restrict__ offsets_x,
                       const T* __restrict__ offsets_y, Accumulators<Acc> acc, int64_t tiles_x,
                       int64_t tiles_y) {
  __shared__ __align__(16) unsigned int window_words[2 * kWindowCells];  // 8 bytes per cell
  void* window = window_words;
  const VoteParams p =
      Specialize<kKernel, kMode == kModeLog ? kNoisyOr : (kMode == kModeAdd ? kAdditive : kMax)>(
          params);
  const EdgeTableView edges = ViewEdgeTable(table, p.num_edges, p.num_maps);
  for (int k = threadIdx.x; k < 2 * kWindowCells; k += kTileThreads) window_words[k] = 0u;

  const int64_t tiles = tiles_x * tiles_y;
  const int64_t block = blockIdx.x;
  const int64_t tile = block % tiles, rest = block / tiles;
  const int64_t e = rest % p.num_edges, b = rest / p.num_edges;
  const int64_t y0 = (tile / tiles_x) * kTile, x0 = (tile % tiles_x) * kTile;
  const int64_t wy0 = y0 - kHalo, wx0 = x0 - kHalo;  // window origin (may be off-map)
  const int64_t i = y0 + threadIdx.x / kTile, j = x0 + threadIdx.x % kTile;
  const int64_t t = edges.targets[e];
  __syncthreads();

  if (i < p.height && j < p.width) {
    const int64_t pix = (b * p.height + i) * p.width + j;
    const int64_t n = pix * p.num_edges + e;
    Footprint<Acc> f;
    Acc c, raw;
    if (LoadVote(p, edges, heatmaps, offsets_x, offsets_y, n, pix, i, j, e, &f, &c, &raw)) {
      ForEachTap<kMaxTaps, false>(p, f, [&](int kx, int ky, Acc wx, Acc wy, Acc, Acc) {
        const int64_t y = f.y.first + ky, x = f.x.first + kx;
        const int64_t q = OutputIndex(p, b, y, x, t);
        const Acc v = TapValue(wx, wy, c);
        const int64_t ry = y - wy0, rx = x - wx0;
        if (ry >= 0 && ry < kWindow && rx >= 0 && rx < kWindow) {
          SharedAccumulate<kMode>(acc, window, static_cast<int>(ry * kWindow + rx), q, v);
        } else {
          GlobalAccumulate<kMode>(acc, q, v);
        }
      });
    }
  }
  __syncthreads();

  for (int cell = threadIdx.x; cell < kWindowCells; cell += kTileThreads) {
    const int64_t y = wy0 + cell / kWindow, x = wx0 + cell % kWindow;
    if (y < 0 || y >= p.height || x < 0 || x >= p.width) continue;  // never written
    FlushCell<kMode>(acc, window, cell, OutputIndex(p, b, y, x, t));
  }
}

// Output m from the accumulators.
template <typename T, typename Acc, int kCombine>
__global__ void FinalizeKernel(int64_t count, Accumulators<Acc> acc, double inv_scale,
                               T* __restrict__ output) {
  MDN_GRID_STRIDE(n, count) {
    Acc m;
    if (kCombine == kNoisyOr) {
      const int word = acc.count[n];
      // As the CPU loops: 1 as soon as one factor is 0, else 1 - P (NaN stays).
      m = NoisyOrZeros(word) > 0
              ? Acc(1)
              : Acc(1) - NoisyOrProduct<Acc>(static_cast<long long>(acc.fixed[n]), word,
                                             inv_scale);
    } else {
      m = acc.value[n];
    }
    output[n] = static_cast<T>(m);
  }
}

// Packs (dL/dm, statistic, count) per output pixel for the gather.
template <typename T, typename Acc, int kCombine>
__global__ void PrepareGradKernel(int64_t count, const T* __restrict__ grad_output,
                                  Accumulators<Acc> acc, double inv_scale,
                                  GradStat<Acc>* __restrict__ packed) {
  MDN_GRID_STRIDE(n, count) {
    GradStat<Acc> s;
    s.grad = static_cast<Acc>(grad_output[n]);
    if (kCombine == kNoisyOr) {
      const int word = acc.count[n];
      s.stat = NoisyOrProduct<Acc>(static_cast<long long>(acc.fixed[n]), word, inv_scale);
      s.count = NoisyOrZeros(word);
    } else {
      s.stat = acc.value[n];
      s.count = acc.count[n];
    }
    packed[n] = s;
  }
}

// Gathers dL/dv over the taps of each vote: no atomics, each thread owns the
// offset gradients of its vote and its edge's share of the heatmap gradient.
template <typename T, typename Acc, int kKernel, int kMaxTaps, int kCombine>
__global__ void BackwardGradKernel(VoteParams params, const int* __restrict__ table,
                                   const T* __restrict__ grad_output,
                                   const GradStat<Acc>* __restrict__ packed,
                                   const T* __restrict__ heatmaps,
                                   const T* __restrict__ offsets_x,
                                   const T* __restrict__ offsets_y, T* __restrict__ grad_offsets_x,
                                   T* __restrict__ grad_offsets_y, Acc* __restrict__ grad_edges) {
  const VoteParams p = Specialize<kKernel, kCombine>(params);
  const EdgeTableView edges = ViewEdgeTable(table, p.num_edges, p.num_maps);
  const Acc scale = static_cast<Acc>(p.scale);
  MDN_GRID_STRIDE(n, p.batch * p.height * p.width * p.num_edges) {
    const int64_t e = n % p.num_edges, pix = n / p.num_edges;
    const int64_t j = pix % p.width, i = (pix / p.width) % p.height;
    const int64_t b = pix / (p.width * p.height);
    Footprint<Acc> f;
    Acc dc = 0, dx = 0, dy = 0, mask = 0, c = 0, raw = 0;
    if (LoadVote(p, edges, heatmaps, offsets_x, offsets_y, n, pix, i, j, e, &f, &c, &raw)) {
      mask = HeatGradMask(p.combine, raw);
      const int64_t t = edges.targets[e];
      ForEachTap<kMaxTaps, true>(p, f, [&](int kx, int ky, Acc wx, Acc wy, Acc dwx, Acc dwy) {
        const int64_t q = OutputIndex(p, b, f.y.first + ky, f.x.first + kx, t);
        Acc gv;
        if (kCombine == kAdditive) {
          gv = static_cast<Acc>(grad_output[q]);
        } else {
          const GradStat<Acc> s = packed[q];
          const Acc v = TapValue(wx, wy, c);
          if (kCombine == kNoisyOr) {
            gv = s.grad * NoisyOrDmDv(Acc(1) - v, s.count, s.stat);
          } else {
            const bool wins = s.stat > Acc(0) && v == s.stat;
            gv = wins ? s.grad / static_cast<Acc>(s.count) : Acc(0);
          }
        }
        dc += wx * wy * gv;
        dx += dwx * wy * gv;
        dy += wx * dwy * gv;
      });
    }
    grad_offsets_x[n] = static_cast<T>(scale * c * dx);
    grad_offsets_y[n] = static_cast<T>(scale * c * dy);
    grad_edges[n] = dc * mask;
  }
}

// grad_heatmaps[pix, s] = sum of the edges leaving s, in edge order.
template <typename T, typename Acc>
__global__ void ReduceHeatmapGradKernel(VoteParams p, const int* __restrict__ table,
                                        const Acc* __restrict__ grad_edges,
                                        T* __restrict__ grad_heatmaps) {
  const EdgeTableView edges = ViewEdgeTable(table, p.num_edges, p.num_maps);
  MDN_GRID_STRIDE(n, p.batch * p.height * p.width * p.num_maps) {
    const int64_t pix = n / p.num_maps, source = n % p.num_maps;
    Acc sum = 0;
    for (int k = edges.source_offsets[source]; k < edges.source_offsets[source + 1]; ++k) {
      sum += grad_edges[pix * p.num_edges + edges.source_edges[k]];
    }
    grad_heatmaps[n] = static_cast<T>(sum);
  }
}

#undef MDN_GRID_STRIDE

// Launches a grid-stride `kernel` over `count` items with the block size that
// maximises occupancy on the current device and at most one device-full of
// blocks (the grid-stride loops cover the rest).
template <typename... KernelArgs, typename... Args>
cudaError_t Launch(void (*kernel)(KernelArgs...), int64_t count, cudaStream_t stream,
                   Args... args) {
  if (count <= 0) return cudaSuccess;
  int min_grid = 0, block = 0;
  cudaError_t err = cudaOccupancyMaxPotentialBlockSize(&min_grid, &block, kernel, 0, 0);
  if (err != cudaSuccess) return err;
  const int64_t needed = (count + block - 1) / block;
  const int grid = static_cast<int>(needed < min_grid ? needed : min_grid);
  kernel<<<grid > 0 ? grid : 1, block, 0, stream>>>(args...);
  return cudaGetLastError();
}

inline size_t AlignUp(size_t bytes) { return (bytes + 255) / 256 * 256; }

inline int64_t TilesAlong(int64_t size) { return (size + kTile - 1) / kTile; }

inline bool UseTiles(const VoteParams& p) {
  const int64_t blocks =
      p.batch * p.num_edges * TilesAlong(p.height) * TilesAlong(p.width);
  if (blocks <= 0 || blocks > 0x7fffffffLL) return false;
  if (g_scatter_strategy == 1) return false;
  if (g_scatter_strategy == 2) return true;
  return p.kernel == kGaussian;
}

template <typename T, typename Acc, int kKernel, int kMaxTaps, int kMode>
cudaError_t LaunchScatterFor(const VoteParams& p, const int* table, const T* heatmaps,
                             const T* offsets_x, const T* offsets_y, const Accumulators<Acc>& acc,
                             cudaStream_t stream) {
  const int64_t votes = p.batch * p.height * p.width * p.num_edges;
  if (votes <= 0) return cudaSuccess;
  if (UseTiles(p)) {
    const int64_t tx = TilesAlong(p.width), ty = TilesAlong(p.height);
    const int64_t blocks = p.batch * p.num_edges * tx * ty;
    ScatterTiledKernel<T, Acc, kKernel, kMaxTaps, kMode>
        <<<static_cast<unsigned>(blocks), kTileThreads, 0, stream>>>(
            p, table, heatmaps, offsets_x, offsets_y, acc, tx, ty);
    return cudaGetLastError();
  }
  return Launch(ScatterDirectKernel<T, Acc, kKernel, kMaxTaps, kMode>, votes, stream, p, table,
                heatmaps, offsets_x, offsets_y, acc);
}

// Kernel-size buckets: weight arrays sized for bilinear and Gaussian kf <= 7,
// 15, 63 (the CPU's weights); per-tap direct weights beyond.
template <typename T, typename Acc, int kMode>
cudaError_t LaunchScatter(const VoteParams& p, const int* table, const T* heatmaps,
                          const T* offsets_x, const T* offsets_y, const Accumulators<Acc>& acc,
                          cudaStream_t stream) {
  if (p.kernel == kBilinear) {
    return LaunchScatterFor<T, Acc, kBilinear, 2, kMode>(p, table, heatmaps, offsets_x,
                                                         offsets_y, acc, stream);
  }
  if (p.kernel_size <= 7) {
    return LaunchScatterFor<T, Acc, kGaussian, 7, kMode>(p, table, heatmaps, offsets_x,
                                                         offsets_y, acc, stream);
  }
  if (p.kernel_size <= 15) {
    return LaunchScatterFor<T, Acc, kGaussian, 15, kMode>(p, table, heatmaps, offsets_x,
                                                          offsets_y, acc, stream);
  }
  if (p.kernel_size <= 63) {
    return LaunchScatterFor<T, Acc, kGaussian, 63, kMode>(p, table, heatmaps, offsets_x,
                                                          offsets_y, acc, stream);
  }
  return LaunchScatterFor<T, Acc, kGaussian, 0, kMode>(p, table, heatmaps, offsets_x, offsets_y,
                                                       acc, stream);
}

template <typename T, typename Acc, int kCombine>
cudaError_t LaunchGradFor(const VoteParams& p, int64_t votes, cudaStream_t stream,
                          const int* table, const T* grad_output, const GradStat<Acc>* packed,
                          const T* heatmaps, const T* offsets_x, const T* offsets_y, T* gx,
                          T* gy, Acc* grad_edges) {
  if (p.kernel == kBilinear) {
    return Launch(BackwardGradKernel<T, Acc, kBilinear, 2, kCombine>, votes, stream, p, table,
                  grad_output, packed, heatmaps, offsets_x, offsets_y, gx, gy, grad_edges);
  }
  if (p.kernel_size <= 7) {
    return Launch(BackwardGradKernel<T, Acc, kGaussian, 7, kCombine>, votes, stream, p, table,
                  grad_output, packed, heatmaps, offsets_x, offsets_y, gx, gy, grad_edges);
  }
  if (p.kernel_size <= 15) {
    return Launch(BackwardGradKernel<T, Acc, kGaussian, 15, kCombine>, votes, stream, p, table,
                  grad_output, packed, heatmaps, offsets_x, offsets_y, gx, gy, grad_edges);
  }
  if (p.kernel_size <= 63) {
    return Launch(BackwardGradKernel<T, Acc, kGaussian, 63, kCombine>, votes, stream, p, table,
                  grad_output, packed, heatmaps, offsets_x, offsets_y, gx, gy, grad_edges);
  }
  return Launch(BackwardGradKernel<T, Acc, kGaussian, 0, kCombine>, votes, stream, p, table,
                grad_output, packed, heatmaps, offsets_x, offsets_y, gx, gy, grad_edges);
}

// Scratch layout shared by both passes: [8-byte accumulators | int counts |
// (backward) GradStat records | (backward) per-vote heatmap gradients].
template <typename Acc>
struct ScratchLayout {
  Accumulators<Acc> acc;
  GradStat<Acc>* packed;
  Acc* grad_edges;
  double inv_scale;

  ScratchLayout(const VoteParams& p, void* scratch, bool backward) {
    const size_t outputs = p.batch * p.height * p.width * p.num_targets;
    char* base = static_cast<char*>(scratch);
    acc.value = reinterpret_cast<Acc*>(base);
    acc.fixed = reinterpret_cast<unsigned long long*>(base);
    base += AlignUp(8 * outputs);
    acc.count = reinterpret_cast<int*>(base);
    base += AlignUp(sizeof(int) * outputs);
    const int shift = NoisyOrFixedShift(p);
    acc.log_scale = static_cast<Acc>(ldexp(1.0, shift));
    inv_scale = ldexp(1.0, -shift);
    packed = nullptr;
    grad_edges = nullptr;
    if (backward) {
      if (p.combine != kAdditive) {
        packed = reinterpret_cast<GradStat<Acc>*>(base);
        base += AlignUp(sizeof(GradStat<Acc>) * outputs);
      }
      grad_edges = reinterpret_cast<Acc*>(base);
    }
  }

  static size_t Bytes(const VoteParams& p, bool backward) {
    const size_t outputs = p.batch * p.height * p.width * p.num_targets;
    const size_t votes = p.batch * p.height * p.width * p.num_edges;
    size_t bytes = AlignUp(8 * outputs) + AlignUp(sizeof(int) * outputs);
    if (backward) {
      if (p.combine != kAdditive) bytes += AlignUp(sizeof(GradStat<Acc>) * outputs);
      bytes += AlignUp(sizeof(Acc) * votes);
    }
    return bytes;
  }
};

// Zeroes the accumulators (0 is the initial value of every mode: sum, log
// sum, +0 maximum, counts) and scatters the votes for `combine`.
template <typename T, typename Acc>
cudaError_t Accumulate(const VoteParams& p, const int* table, const T* heatmaps,
                       const T* offsets_x, const T* offsets_y, const Accumulators<Acc>& acc,
                       bool with_ties, cudaStream_t stream) {
  const size_t outputs = p.batch * p.height * p.width * p.num_targets;
  cudaError_t err = cudaMemsetAsync(acc.value, 0, 8 * outputs, stream);
  if (err != cudaSuccess) return err;
  if (p.combine != kAdditive) {
    err = cudaMemsetAsync(acc.count, 0, sizeof(int) * outputs, stream);
    if (err != cudaSuccess) return err;
  }
  if (p.combine == kAdditive) {
    return LaunchScatter<T, Acc, kModeAdd>(p, table, heatmaps, offsets_x, offsets_y, acc, stream);
  }
  if (p.combine == kNoisyOr) {
    return LaunchScatter<T, Acc, kModeLog>(p, table, heatmaps, offsets_x, offsets_y, acc, stream);
  }
  err = LaunchScatter<T, Acc, kModeMax>(p, table, heatmaps, offsets_x, offsets_y, acc, stream);
  if (err != cudaSuccess || !with_ties) return err;
  return LaunchScatter<T, Acc, kModeTies>(p, table, heatmaps, offsets_x, offsets_y, acc, stream);
}

#define MDN_RETURN_IF_CUDA_ERROR(...)     \
  do {                                    \
    const cudaError_t err_ = (__VA_ARGS__); \
    if (err_ != cudaSuccess) return err_; \
  } while (0)

}  // namespace gpu

template <typename T, typename Acc>
size_t GpuLauncher<T, Acc>::ForwardScratchBytes(const VoteParams& p) {
  return gpu::ScratchLayout<Acc>::Bytes(p, false);
}

template <typename T, typename Acc>
size_t GpuLauncher<T, Acc>::BackwardScratchBytes(const VoteParams& p) {
  return gpu::ScratchLayout<Acc>::Bytes(p, true);
}

template <typename T, typename Acc>
int GpuLauncher<T, Acc>::Forward(const VoteParams& p, const int* edge_table, const T* heatmaps,
                                 const T* offsets_x, const T* offsets_y, T* output,
                                 void* scratch, void* stream_handle) {
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
  const int64_t outputs = p.batch * p.height * p.width * p.num_targets;
  if (outputs <= 0) return cudaSuccess;
  const gpu::ScratchLayout<Acc> s(p, scratch, false);
  MDN_RETURN_IF_CUDA_ERROR(gpu::Accumulate(p, edge_table, heatmaps, offsets_x, offsets_y, s.acc,
                                           /*with_ties=*/false, stream));
  if (p.combine == kNoisyOr) {
    MDN_RETURN_IF_CUDA_ERROR(gpu::Launch(gpu::FinalizeKernel<T, Acc, kNoisyOr>, outputs, stream,
                                         outputs, s.acc, s.inv_scale, output));
  } else {
    MDN_RETURN_IF_CUDA_ERROR(gpu::Launch(gpu::FinalizeKernel<T, Acc, kAdditive>, outputs, stream,
                                         outputs, s.acc, s.inv_scale, output));
  }
  return cudaSuccess;
}

template <typename T, typename Acc>
int GpuLauncher<T, Acc>::Backward(const VoteParams& p, const int* edge_table,
                                  const T* grad_output, const T* heatmaps, const T* offsets_x,
                                  const T* offsets_y, T* grad_heatmaps, T* grad_offsets_x,
                                  T* grad_offsets_y, void* scratch, void* stream_handle) {
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
  const int64_t outputs = p.batch * p.height * p.width * p.num_targets;
  const int64_t votes = p.batch * p.height * p.width * p.num_edges;
  const int64_t heat = p.batch * p.height * p.width * p.num_maps;
  const gpu::ScratchLayout<Acc> s(p, scratch, true);

  if (p.combine != kAdditive && votes > 0 && outputs > 0) {
    MDN_RETURN_IF_CUDA_ERROR(gpu::Accumulate(p, edge_table, heatmaps, offsets_x, offsets_y, s.acc,
                                             /*with_ties=*/true, stream));
    if (p.combine == kNoisyOr) {
      MDN_RETURN_IF_CUDA_ERROR(gpu::Launch(gpu::PrepareGradKernel<T, Acc, kNoisyOr>, outputs,
                                           stream, outputs, grad_output, s.acc, s.inv_scale,
                                           s.packed));
    } else {
      MDN_RETURN_IF_CUDA_ERROR(gpu::Launch(gpu::PrepareGradKernel<T, Acc, kMax>, outputs, stream,
                                           outputs, grad_output, s.acc, s.inv_scale, s.packed));
    }
  }
  const gpu::GradStat<Acc>* packed = s.packed;
  if (p.combine == kAdditive) {
    MDN_RETURN_IF_CUDA_ERROR(gpu::LaunchGradFor<T, Acc, kAdditive>(
        p, votes, stream, edge_table, grad_output, packed, heatmaps, offsets_x, offsets_y,
        grad_offsets_x, grad_offsets_y, s.grad_edges));
  } else if (p.combine == kNoisyOr) {
    MDN_RETURN_IF_CUDA_ERROR(gpu::LaunchGradFor<T, Acc, kNoisyOr>(
        p, votes, stream, edge_table, grad_output, packed, heatmaps, offsets_x, offsets_y,
        grad_offsets_x, grad_offsets_y, s.grad_edges));
  } else {
    MDN_RETURN_IF_CUDA_ERROR(gpu::LaunchGradFor<T, Acc, kMax>(
        p, votes, stream, edge_table, grad_output, packed, heatmaps, offsets_x, offsets_y,
        grad_offsets_x, grad_offsets_y, s.grad_edges));
  }
  MDN_RETURN_IF_CUDA_ERROR(gpu::Launch(gpu::ReduceHeatmapGradKernel<T, Acc>, heat, stream, p,
                                       edge_table, static_cast<const Acc*>(s.grad_edges),
                                       grad_heatmaps));
  return cudaSuccess;
}

#undef MDN_RETURN_IF_CUDA_ERROR

}  // namespace mdn

#endif  // MDN_TF_MASS_DISPLACEMENT_GPU_CU_H_
