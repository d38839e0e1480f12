// HARNESS ONLY: a frozen copy of the CUDA kernels before issue 21 (noisy-OR by
// compare-and-swap products, one global atomic per tap), as GpuLauncherV1, so
// that one harness run can time old and new kernels side by side. Not used by
// the TensorFlow op.
// CUDA kernels and launchers of mass-displacement voting, free of TensorFlow
// types: the TF GPU OpKernel and the standalone harness both call
// GpuLauncher<T, Acc>, declared in mass_displacement_math.h. The per-vote math
// is the same inline code the CPU kernel runs; only the scatter differs
// (atomics, since votes of many threads land on one pixel).
//
// One thread handles one vote (b, i, j, e) in grid-stride loops. Launch sizes
// come from cudaOccupancyMaxPotentialBlockSize for the current device. Compile
// with --fmad=false so values round like the CPU kernel's.
#ifndef MDN_TF_MASS_DISPLACEMENT_GPU_V1_CU_H_
#define MDN_TF_MASS_DISPLACEMENT_GPU_V1_CU_H_

#include <cuda_runtime.h>

#include "mass_displacement_math.h"

namespace mdn {
// The previous launchers, same interface as GpuLauncher.
template <typename T, typename Acc>
struct GpuLauncherV1 {
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

namespace mdn {
namespace gpu_v1 {

// Product accumulation (noisy-OR) by compare-and-swap; CUDA has no atomicMul.
__device__ inline void AtomicMul(float* address, float factor) {
  unsigned int* bits = reinterpret_cast<unsigned int*>(address);
  unsigned int old = *bits, assumed;
  do {
    assumed = old;
    old = atomicCAS(bits, assumed, __float_as_uint(__uint_as_float(assumed) * factor));
  } while (assumed != old);
}

__device__ inline void AtomicMul(double* address, double factor) {
  unsigned long long* bits = reinterpret_cast<unsigned long long*>(address);
  unsigned long long old = *bits, assumed;
  do {
    assumed = old;
    old = atomicCAS(bits, assumed,
                    static_cast<unsigned long long>(__double_as_longlong(
                        __longlong_as_double(static_cast<long long>(assumed)) * factor)));
  } while (assumed != old);
}

// Max of non-negative values: their IEEE bit patterns order like signed
// integers, so integer atomicMax is exact. Callers pass only v > 0 into a
// buffer initialised to +0.
__device__ inline void AtomicMaxPositive(float* address, float v) {
  atomicMax(reinterpret_cast<int*>(address), __float_as_int(v));
}

__device__ inline void AtomicMaxPositive(double* address, double v) {
  atomicMax(reinterpret_cast<long long*>(address), __double_as_longlong(v));
}

#define MDN_GRID_STRIDE(n, count)                                                   \
  for (int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; \
       n < (count); n += static_cast<int64_t>(blockDim.x) * gridDim.x)

// Flat vote index n = ((b * H + i) * W + j) * E + e, the offsets' layout.
struct VoteIndex {
  int64_t b, i, j, e, pix;
};

__device__ inline VoteIndex SplitVote(const VoteParams& p, int64_t n) {
  VoteIndex v;
  v.e = n % p.num_edges;
  v.pix = n / p.num_edges;
  v.j = v.pix % p.width;
  v.i = (v.pix / p.width) % p.height;
  v.b = v.pix / (p.width * p.height);
  return v;
}

// Output index of tap (kx, ky) of a located vote.
template <typename Acc>
__device__ inline int64_t TapIndex(const VoteParams& p, const VoteIndex& v, int64_t t,
                                   const Footprint<Acc>& f, int kx, int ky) {
  return ((v.b * p.height + f.y.first + ky) * p.width + f.x.first + kx) * p.num_targets + t;
}

template <typename Acc>
__global__ void FillKernel(int64_t count, Acc value, Acc* buffer) {
  MDN_GRID_STRIDE(n, count) { buffer[n] = value; }
}

template <typename T, typename Acc>
__global__ void ForwardScatterKernel(VoteParams p, const int* table, const T* heatmaps,
                                     const T* offsets_x, const T* offsets_y, Acc* acc) {
  const EdgeTableView edges = ViewEdgeTable(table, p.num_edges, p.num_maps);
  MDN_GRID_STRIDE(n, p.batch * p.height * p.width * p.num_edges) {
    const VoteIndex v = SplitVote(p, n);
    Footprint<Acc> f;
    if (!LocateVote(p, v.i, v.j, static_cast<Acc>(offsets_x[n]), static_cast<Acc>(offsets_y[n]),
                    &f)) {
      continue;
    }
    const Acc c = HeatValue(
        p.combine, static_cast<Acc>(heatmaps[v.pix * p.num_maps + edges.sources[v.e]]));
    const int64_t t = edges.targets[v.e];
    for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
      const Acc wy = AxisWeight(p, f.y, ky);
      for (int kx = f.kx_begin; kx < f.kx_end; ++kx) {
        const Acc value = TapValue(AxisWeight(p, f.x, kx), wy, c);
        Acc* dst = acc + TapIndex(p, v, t, f, kx, ky);
        if (p.combine == kAdditive) {
          atomicAdd(dst, value);
        } else if (p.combine == kNoisyOr) {
          AtomicMul(dst, Acc(1) - value);
        } else if (value > Acc(0)) {
          AtomicMaxPositive(dst, value);
        }
      }
    }
  }
}

template <typename T, typename Acc>
__global__ void FinalizeKernel(int64_t count, int combine, const Acc* acc, T* output) {
  MDN_GRID_STRIDE(n, count) { output[n] = static_cast<T>(FinalValue(combine, acc[n])); }
}

// Per-pixel statistics the backward pass needs. Noisy-OR (phase 0): number of
// zero factors and product of the non-zero ones. Max: phase 0 the maximum,
// phase 1 the number of votes that reach it.
template <typename T, typename Acc>
__global__ void BackwardStatsKernel(VoteParams p, const int* table, const T* heatmaps,
                                    const T* offsets_x, const T* offsets_y, int phase, Acc* stat,
                                    int* count) {
  const EdgeTableView edges = ViewEdgeTable(table, p.num_edges, p.num_maps);
  MDN_GRID_STRIDE(n, p.batch * p.height * p.width * p.num_edges) {
    const VoteIndex v = SplitVote(p, n);
    Footprint<Acc> f;
    if (!LocateVote(p, v.i, v.j, static_cast<Acc>(offsets_x[n]), static_cast<Acc>(offsets_y[n]),
                    &f)) {
      continue;
    }
    const Acc c = HeatValue(
        p.combine, static_cast<Acc>(heatmaps[v.pix * p.num_maps + edges.sources[v.e]]));
    const int64_t t = edges.targets[v.e];
    for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
      const Acc wy = AxisWeight(p, f.y, ky);
      for (int kx = f.kx_begin; kx < f.kx_end; ++kx) {
        const Acc value = TapValue(AxisWeight(p, f.x, kx), wy, c);
        const int64_t q = TapIndex(p, v, t, f, kx, ky);
        if (p.combine == kNoisyOr) {
          const Acc factor = Acc(1) - value;
          if (factor == Acc(0)) {
            atomicAdd(count + q, 1);
          } else {
            AtomicMul(stat + q, factor);
          }
        } else if (phase == 0) {
          if (value > Acc(0)) AtomicMaxPositive(stat + q, value);
        } else if (value > Acc(0) && value == stat[q]) {
          atomicAdd(count + q, 1);
        }
      }
    }
  }
}

// Gathers dL/dv over the taps of each vote: no atomics, each thread owns the
// offset gradients of its vote and its edge's share of the heatmap gradient.
template <typename T, typename Acc>
__global__ void BackwardGradKernel(VoteParams p, const int* table, const T* grad_output,
                                   const T* heatmaps, const T* offsets_x, const T* offsets_y,
                                   const Acc* stat, const int* count, T* grad_offsets_x,
                                   T* grad_offsets_y, Acc* grad_edges) {
  const EdgeTableView edges = ViewEdgeTable(table, p.num_edges, p.num_maps);
  const Acc scale = static_cast<Acc>(p.scale);
  MDN_GRID_STRIDE(n, p.batch * p.height * p.width * p.num_edges) {
    const VoteIndex v = SplitVote(p, n);
    Footprint<Acc> f;
    Acc dc = 0, dx = 0, dy = 0, mask = 0, c = 0;
    if (LocateVote(p, v.i, v.j, static_cast<Acc>(offsets_x[n]), static_cast<Acc>(offsets_y[n]),
                   &f)) {
      const Acc raw = static_cast<Acc>(heatmaps[v.pix * p.num_maps + edges.sources[v.e]]);
      c = HeatValue(p.combine, raw);
      mask = HeatGradMask(p.combine, raw);
      const int64_t t = edges.targets[v.e];
      for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
        Acc dwy;
        const Acc wy = AxisWeight(p, f.y, ky, &dwy);
        for (int kx = f.kx_begin; kx < f.kx_end; ++kx) {
          Acc dwx;
          const Acc wx = AxisWeight(p, f.x, kx, &dwx);
          const int64_t q = TapIndex(p, v, t, f, kx, ky);
          Acc gv = static_cast<Acc>(grad_output[q]);
          if (p.combine == kNoisyOr) {
            gv *= NoisyOrDmDv(Acc(1) - TapValue(wx, wy, c), count[q], stat[q]);
          } else if (p.combine == kMax) {
            const bool wins = stat[q] > Acc(0) && TapValue(wx, wy, c) == stat[q];
            gv = wins ? gv / static_cast<Acc>(count[q]) : Acc(0);
          }
          dc += wx * wy * gv;
          dx += dwx * wy * gv;
          dy += wx * dwy * gv;
        }
      }
    }
    grad_offsets_x[n] = static_cast<T>(scale * c * dx);
    grad_offsets_y[n] = static_cast<T>(scale * c * dy);
    grad_edges[n] = dc * mask;
  }
}

// grad_heatmaps[pix, s] = sum of the edges leaving s, in edge order.
template <typename T, typename Acc>
__global__ void ReduceHeatmapGradKernel(VoteParams p, const int* table, const Acc* grad_edges,
                                        T* grad_heatmaps) {
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

// Launches `kernel` over `count` items with the block size that maximises
// occupancy on the current device and at most one device-full of blocks (the
// grid-stride loops cover the rest).
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

#define MDN_RETURN_IF_CUDA_ERROR(expr)    \
  do {                                    \
    const cudaError_t err_ = (expr);      \
    if (err_ != cudaSuccess) return err_; \
  } while (0)

}  // namespace gpu_v1

template <typename T, typename Acc>
size_t GpuLauncherV1<T, Acc>::ForwardScratchBytes(const VoteParams& p) {
  return gpu_v1::AlignUp(sizeof(Acc) * p.batch * p.height * p.width * p.num_targets);
}

template <typename T, typename Acc>
size_t GpuLauncherV1<T, Acc>::BackwardScratchBytes(const VoteParams& p) {
  const size_t outputs = p.batch * p.height * p.width * p.num_targets;
  const size_t votes = p.batch * p.height * p.width * p.num_edges;
  return gpu_v1::AlignUp(sizeof(Acc) * outputs) + gpu_v1::AlignUp(sizeof(int) * outputs) +
         gpu_v1::AlignUp(sizeof(Acc) * votes);
}

template <typename T, typename Acc>
int GpuLauncherV1<T, Acc>::Forward(const VoteParams& p, const int* edge_table, const T* heatmaps,
                                 const T* offsets_x, const T* offsets_y, T* output,
                                 void* scratch, void* stream_handle) {
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
  const int64_t outputs = p.batch * p.height * p.width * p.num_targets;
  const int64_t votes = p.batch * p.height * p.width * p.num_edges;
  Acc* acc = static_cast<Acc*>(scratch);
  MDN_RETURN_IF_CUDA_ERROR(gpu_v1::Launch(gpu_v1::FillKernel<Acc>, outputs, stream, outputs,
                                       InitialAccumulator<Acc>(p.combine), acc));
  MDN_RETURN_IF_CUDA_ERROR(gpu_v1::Launch(gpu_v1::ForwardScatterKernel<T, Acc>, votes, stream, p,
                                       edge_table, heatmaps, offsets_x, offsets_y, acc));
  MDN_RETURN_IF_CUDA_ERROR(gpu_v1::Launch(gpu_v1::FinalizeKernel<T, Acc>, outputs, stream, outputs,
                                       p.combine, static_cast<const Acc*>(acc), output));
  return cudaSuccess;
}

template <typename T, typename Acc>
int GpuLauncherV1<T, Acc>::Backward(const VoteParams& p, const int* edge_table,
                                  const T* grad_output, const T* heatmaps, const T* offsets_x,
                                  const T* offsets_y, T* grad_heatmaps, T* grad_offsets_x,
                                  T* grad_offsets_y, void* scratch, void* stream_handle) {
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
  const int64_t outputs = p.batch * p.height * p.width * p.num_targets;
  const int64_t votes = p.batch * p.height * p.width * p.num_edges;
  const int64_t heat = p.batch * p.height * p.width * p.num_maps;
  char* base = static_cast<char*>(scratch);
  Acc* stat = reinterpret_cast<Acc*>(base);
  base += gpu_v1::AlignUp(sizeof(Acc) * outputs);
  int* count = reinterpret_cast<int*>(base);
  base += gpu_v1::AlignUp(sizeof(int) * outputs);
  Acc* grad_edges = reinterpret_cast<Acc*>(base);

  if (p.combine != kAdditive && votes > 0) {
    MDN_RETURN_IF_CUDA_ERROR(gpu_v1::Launch(gpu_v1::FillKernel<Acc>, outputs, stream, outputs,
                                         InitialAccumulator<Acc>(p.combine), stat));
    MDN_RETURN_IF_CUDA_ERROR(cudaMemsetAsync(count, 0, sizeof(int) * outputs, stream));
    const int phases = p.combine == kMax ? 2 : 1;
    for (int phase = 0; phase < phases; ++phase) {
      MDN_RETURN_IF_CUDA_ERROR(gpu_v1::Launch(gpu_v1::BackwardStatsKernel<T, Acc>, votes, stream, p,
                                           edge_table, heatmaps, offsets_x, offsets_y, phase,
                                           stat, count));
    }
  }
  MDN_RETURN_IF_CUDA_ERROR(gpu_v1::Launch(gpu_v1::BackwardGradKernel<T, Acc>, votes, stream, p,
                                       edge_table, grad_output, heatmaps, offsets_x, offsets_y,
                                       static_cast<const Acc*>(stat),
                                       static_cast<const int*>(count), grad_offsets_x,
                                       grad_offsets_y, grad_edges));
  MDN_RETURN_IF_CUDA_ERROR(gpu_v1::Launch(gpu_v1::ReduceHeatmapGradKernel<T, Acc>, heat, stream, p,
                                       edge_table, static_cast<const Acc*>(grad_edges),
                                       grad_heatmaps));
  return cudaSuccess;
}

#undef MDN_RETURN_IF_CUDA_ERROR

}  // namespace mdn

#endif  // MDN_TF_MASS_DISPLACEMENT_GPU_V1_CU_H_
