// Standalone check of the CUDA kernels, without TensorFlow: runs every
// combine x kernel x edges case on random inputs (including off-map, integer,
// NaN, +-inf and 1e30 offsets, and heatmaps outside [0, 1]) and on converged
// votes (below) through the GPU launchers and through the CPU loops of
// mass_displacement_cpu.h, compares forward and backward, then times the
// benchmark size on the GPU with random and with converged votes.
//
// Converged votes are what a trained MDN casts: every pixel within eps_c of
// an edge's source joint points exactly at the edge's target joint (the
// training targets of mdn_tf/data/targets.py), so about 29 votes per edge
// land on the same 1-4 pixels, where the atomics contend. Random votes spread
// out and hide that contention.
//
//   make -C custom_ops harness && custom_ops/build/mdn_cuda_harness
//
// Exit status: 0 all cases agree, 1 a case disagrees or CUDA failed, 77 no
// CUDA device (skipped).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "mass_displacement_cpu.h"
#include "mass_displacement_gpu.cu.h"

namespace mdn {
template struct GpuLauncher<float, float>;
template struct GpuLauncher<double, double>;
}  // namespace mdn

namespace {

using mdn::VoteParams;

#define CHECK_CUDA(expr)                                                         \
  do {                                                                           \
    const cudaError_t err_ = (expr);                                             \
    if (err_ != cudaSuccess) {                                                   \
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(err_), __FILE__, \
                  __LINE__);                                                     \
      std::exit(1);                                                              \
    }                                                                            \
  } while (0)

template <typename T>
struct Problem {
  VoteParams p;
  std::vector<int> sources, targets;
  std::vector<T> heat, ox, oy, grad;
};

// eps_c: mdn_tf.data.targets.HEATMAP_RADIUS, in map pixels (12 input pixels
// at stride 4), the same default as the training targets and the CPU
// benchmark (benchmarks/bench_mass_displacement.py).
constexpr double kConvergedRadius = 3.0;
// A trained heatmap's logit: 0 on the rim of the eps_c disk, rising by
// kHeatSlope per pixel inwards (c = 0.9975 at the joint), floored at a
// confident background (c = 3.4e-4): the sigmoid of a model trained on the
// disk targets is near 1 inside, near 0 outside, and exactly neither.
constexpr double kHeatSlope = 2.0;
constexpr double kBackgroundLogit = -8.0;

// Turns random votes into converged ones: joint j of batch item b sits at a
// uniform random point of the map; heatmap j is a trained model's disk
// around it; pixels within eps_c of edge e's source joint get offsets that
// land exactly on e's target joint (up to rounding). Other offsets, which
// the training loss does not constrain, keep their random values.
template <typename T>
void MakeVotesConverge(std::mt19937* rng, Problem<T>* pr) {
  const VoteParams& p = pr->p;
  std::uniform_real_distribution<double> joint_x(0.0, double(p.width - 1));
  std::uniform_real_distribution<double> joint_y(0.0, double(p.height - 1));
  std::vector<double> jx(p.batch * p.num_maps), jy(p.batch * p.num_maps);
  for (size_t n = 0; n < jx.size(); ++n) jx[n] = joint_x(*rng), jy[n] = joint_y(*rng);
  const double r2 = kConvergedRadius * kConvergedRadius;
  for (int64_t b = 0; b < p.batch; ++b) {
    const double* bx = jx.data() + b * p.num_maps;
    const double* by = jy.data() + b * p.num_maps;
    for (int64_t y = 0; y < p.height; ++y) {
      for (int64_t x = 0; x < p.width; ++x) {
        const int64_t pixel = (b * p.height + y) * p.width + x;
        for (int64_t j = 0; j < p.num_maps; ++j) {
          const double d = std::hypot(x - bx[j], y - by[j]);
          const double logit = std::max(kHeatSlope * (kConvergedRadius - d), kBackgroundLogit);
          pr->heat[pixel * p.num_maps + j] = T(1.0 / (1.0 + std::exp(-logit)));
        }
        for (int64_t e = 0; e < p.num_edges; ++e) {
          const int s = pr->sources[e], t = pr->targets[e];
          const double dx = x - bx[s], dy = y - by[s];
          if (dx * dx + dy * dy > r2) continue;  // the vicinity is inclusive, as in targets.py
          pr->ox[pixel * p.num_edges + e] = T((bx[t] - x) / p.scale);
          pr->oy[pixel * p.num_edges + e] = T((by[t] - y) / p.scale);
        }
      }
    }
  }
}

template <typename T>
Problem<T> MakeProblem(unsigned seed, int combine, int kernel, int kf, bool cross, int64_t B,
                       int64_t H, int64_t W, int64_t J, double scale, bool specials,
                       bool converged = false) {
  Problem<T> pr;
  VoteParams& p = pr.p;
  p.batch = B, p.height = H, p.width = W, p.num_maps = J;
  p.combine = combine, p.kernel = kernel, p.scale = scale;
  p.kernel_size = kernel == mdn::kGaussian ? kf : 2;
  const double sigma = kf / 6.0;
  p.SetSigma(sigma);
  for (int j = 0; j < J; ++j) pr.sources.push_back(j), pr.targets.push_back(j);
  if (cross) {  // a tree: every map but the root also votes for its parent
    for (int j = 1; j < J; ++j) pr.sources.push_back(j), pr.targets.push_back((j - 1) / 2);
  }
  p.num_edges = static_cast<int64_t>(pr.sources.size());
  p.num_targets = J;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> heat(-0.2, 1.2);
  std::normal_distribution<double> offset(0.0, 2.5);
  for (int64_t n = 0; n < B * H * W * J; ++n) pr.heat.push_back(T(heat(rng)));
  for (int64_t n = 0; n < B * H * W * p.num_edges; ++n) {
    double x = offset(rng), y = offset(rng);
    if (n % 7 == 0) x = std::round(x), y = std::round(y);  // integer landings
    pr.ox.push_back(T(x));
    pr.oy.push_back(T(y));
  }
  for (int64_t n = 0; n < B * H * W * p.num_targets; ++n) pr.grad.push_back(T(offset(rng)));
  if (converged) MakeVotesConverge(&rng, &pr);
  if (specials && pr.ox.size() > 8) {
    pr.ox[1] = T(NAN);
    pr.oy[2] = T(INFINITY);
    pr.ox[3] = T(-INFINITY);
    pr.oy[4] = T(1e30);
    pr.ox[5] = T(-1e30);
    pr.ox[6] = T(40);
  }
  return pr;
}

template <typename T>
void CpuForward(const Problem<T>& pr, std::vector<T>* out) {
  const VoteParams& p = pr.p;
  out->assign(p.batch * p.height * p.width * p.num_targets, T(0));
  const mdn::TargetGroups groups(pr.sources.data(), pr.targets.data(), p.num_edges,
                                 p.num_targets, 1);
  mdn::MapScratch<T> s(p, groups.max_size());
  auto fn = mdn::PickForward<T, T>(p.combine, p.kernel);
  for (int64_t b = 0; b < p.batch; ++b) {
    fn(p, groups[0], pr.heat.data(), pr.ox.data(), pr.oy.data(), b, s, out->data(), nullptr,
       nullptr);
  }
}

template <typename T>
void CpuBackward(const Problem<T>& pr, std::vector<T>* gh, std::vector<T>* gx,
                 std::vector<T>* gy) {
  const VoteParams& p = pr.p;
  const int64_t pixels = p.batch * p.height * p.width;
  gh->assign(pixels * p.num_maps, T(0));
  gx->assign(pixels * p.num_edges, T(0));
  gy->assign(pixels * p.num_edges, T(0));
  std::vector<T> edges_grad(pixels * p.num_edges);
  const mdn::TargetGroups maps(pr.sources.data(), pr.targets.data(), p.num_edges,
                               p.num_targets, p.num_targets);
  mdn::MapScratch<T> s(p, 1);
  auto fn = mdn::PickBackward<T, T>(p.combine, p.kernel);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t t = 0; t < p.num_targets; ++t) {
      fn(p, maps[t], pr.grad.data(), pr.heat.data(), pr.ox.data(), pr.oy.data(), nullptr,
         nullptr, b, s, gx->data(), gy->data(), nullptr, edges_grad.data());
    }
  }
  const std::vector<int> table =
      mdn::BuildEdgeTable(pr.sources.data(), pr.targets.data(), p.num_edges, p.num_maps);
  const mdn::EdgeTableView view = mdn::ViewEdgeTable(table.data(), p.num_edges, p.num_maps);
  for (int64_t pix = 0; pix < pixels; ++pix) {
    mdn::ReduceHeatmapGradient(p, view, edges_grad.data(), pix, gh->data());
  }
}

template <typename T>
T* ToDevice(const std::vector<T>& host) {
  T* dev = nullptr;
  CHECK_CUDA(cudaMalloc(&dev, std::max<size_t>(1, host.size()) * sizeof(T)));
  if (!host.empty()) {
    CHECK_CUDA(cudaMemcpy(dev, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  return dev;
}

template <typename T>
std::vector<T> ToHost(const T* dev, size_t count) {
  std::vector<T> host(count);
  if (count) CHECK_CUDA(cudaMemcpy(host.data(), dev, count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

template <typename T>
struct DeviceProblem {
  int* table;
  T *heat, *ox, *oy, *grad, *out, *gh, *gx, *gy;
  void* scratch;
  explicit DeviceProblem(const Problem<T>& pr) {
    const VoteParams& p = pr.p;
    table = ToDevice(mdn::BuildEdgeTable(pr.sources.data(), pr.targets.data(), p.num_edges,
                                         p.num_maps));
    heat = ToDevice(pr.heat), ox = ToDevice(pr.ox), oy = ToDevice(pr.oy);
    grad = ToDevice(pr.grad);
    out = ToDevice(std::vector<T>(pr.grad.size()));
    gh = ToDevice(std::vector<T>(pr.heat.size()));
    gx = ToDevice(std::vector<T>(pr.ox.size()));
    gy = ToDevice(std::vector<T>(pr.oy.size()));
    const size_t bytes = std::max(mdn::GpuLauncher<T, T>::ForwardScratchBytes(p),
                                  mdn::GpuLauncher<T, T>::BackwardScratchBytes(p));
    CHECK_CUDA(cudaMalloc(&scratch, std::max<size_t>(bytes, 1)));
  }
  ~DeviceProblem() {
    for (void* ptr : {static_cast<void*>(table), static_cast<void*>(heat), static_cast<void*>(ox),
                      static_cast<void*>(oy), static_cast<void*>(grad), static_cast<void*>(out),
                      static_cast<void*>(gh), static_cast<void*>(gx), static_cast<void*>(gy),
                      scratch}) {
      cudaFree(ptr);
    }
  }
  int Forward(const VoteParams& p) {
    return mdn::GpuLauncher<T, T>::Forward(p, table, heat, ox, oy, out, scratch, nullptr);
  }
  int Backward(const VoteParams& p) {
    return mdn::GpuLauncher<T, T>::Backward(p, table, grad, heat, ox, oy, gh, gx, gy, scratch,
                                            nullptr);
  }
};

// Largest |gpu - cpu| / max(1, |cpu|); NaN in one and not the other counts as
// infinite disagreement.
template <typename T>
double Disagreement(const std::vector<T>& cpu, const std::vector<T>& gpu) {
  double worst = 0;
  for (size_t n = 0; n < cpu.size(); ++n) {
    const double a = cpu[n], b = gpu[n];
    if (std::isnan(a) || std::isnan(b)) {
      if (std::isnan(a) != std::isnan(b)) return INFINITY;
      continue;
    }
    worst = std::max(worst, std::fabs(a - b) / std::max(1.0, std::fabs(a)));
  }
  return worst;
}

const char* kCombineNames[] = {"additive", "noisy_or", "max"};
const char* kKernelNames[] = {"bilinear", "gaussian"};

const char* VotesName(bool converged) { return converged ? "converged" : "random"; }

template <typename T>
bool RunCase(unsigned seed, int combine, int kernel, int kf, bool cross, bool converged,
             double tolerance, const char* dtype) {
  const Problem<T> pr =
      MakeProblem<T>(seed, combine, kernel, kf, cross, 2, 9, 11, 4, 1.25, true, converged);
  std::vector<T> out, gh, gx, gy;
  CpuForward(pr, &out);
  CpuBackward(pr, &gh, &gx, &gy);
  DeviceProblem<T> dev(pr);
  CHECK_CUDA(static_cast<cudaError_t>(dev.Forward(pr.p)));
  CHECK_CUDA(static_cast<cudaError_t>(dev.Backward(pr.p)));
  CHECK_CUDA(cudaDeviceSynchronize());
  const double errors[] = {
      Disagreement(out, ToHost(dev.out, out.size())),
      Disagreement(gh, ToHost(dev.gh, gh.size())),
      Disagreement(gx, ToHost(dev.gx, gx.size())),
      Disagreement(gy, ToHost(dev.gy, gy.size())),
  };
  const double worst = *std::max_element(errors, errors + 4);
  const bool ok = worst <= tolerance;
  std::printf(
      "%s %-8s %-8s kf=%-2d %-11s %-9s %-7s forward %.2e  d_heat %.2e  d_ox %.2e  d_oy %.2e\n",
      ok ? "PASS" : "FAIL", kCombineNames[combine], kKernelNames[kernel],
      kernel == mdn::kGaussian ? kf : 0, cross ? "cross-part" : "within", VotesName(converged),
      dtype, errors[0], errors[1], errors[2], errors[3]);
  return ok;
}

// Times the benchmark size on the GPU and checks its result against the CPU
// loops at that size too (many more votes per output pixel collide in the
// atomics than in the small cases).
bool TimeBenchmark(int kernel, int kf, bool converged) {
  const Problem<float> pr = MakeProblem<float>(7, mdn::kNoisyOr, kernel, kf, false, 32, 64, 64,
                                               16, 1.0, false, converged);
  DeviceProblem<float> dev(pr);
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<float> times;
    for (int rep = 0; rep < 25; ++rep) {
      CHECK_CUDA(cudaEventRecord(start));
      CHECK_CUDA(static_cast<cudaError_t>(dev.Forward(pr.p)));
      if (pass == 1) CHECK_CUDA(static_cast<cudaError_t>(dev.Backward(pr.p)));
      CHECK_CUDA(cudaEventRecord(stop));
      CHECK_CUDA(cudaEventSynchronize(stop));
      float ms = 0;
      CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
      if (rep >= 5) times.push_back(ms);  // first runs warm up
    }
    std::sort(times.begin(), times.end());
    std::printf(
        "TIME noisy_or %-8s kf=%-2d %-9s votes B=32 J=16 64x64 float32 %-16s median %.3f ms\n",
        kKernelNames[kernel], kernel == mdn::kGaussian ? kf : 0, VotesName(converged),
        pass ? "forward+backward" : "forward", times[times.size() / 2]);
  }
  std::vector<float> out, gh, gx, gy;
  CpuForward(pr, &out);
  CpuBackward(pr, &gh, &gx, &gy);
  CHECK_CUDA(cudaDeviceSynchronize());
  const double worst = std::max(
      {Disagreement(out, ToHost(dev.out, out.size())), Disagreement(gh, ToHost(dev.gh, gh.size())),
       Disagreement(gx, ToHost(dev.gx, gx.size())), Disagreement(gy, ToHost(dev.gy, gy.size()))});
  const bool ok = worst <= 1e-4;
  std::printf(
      "%s noisy_or %-8s kf=%-2d %-9s votes B=32 J=16 64x64 float32 GPU vs CPU loops: %.2e\n",
      ok ? "PASS" : "FAIL", kKernelNames[kernel], kernel == mdn::kGaussian ? kf : 0,
      VotesName(converged), worst);
  return ok;
}

}  // namespace

// --no-timing: only the small agreement cases (for compute-sanitizer runs).
int main(int argc, char** argv) {
  const bool timing = !(argc > 1 && std::string(argv[1]) == "--no-timing");
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  int passed = 0, failed = 0;
  unsigned seed = 1;
  for (const bool converged : {false, true}) {
    for (int combine = 0; combine < 3; ++combine) {
      for (int kernel = 0; kernel < 2; ++kernel) {
        for (int cross = 0; cross < 2; ++cross) {
          const int kf = kernel == mdn::kGaussian ? 5 : 2;
          // float32: atomics add in a different order than the CPU loop.
          (RunCase<float>(seed, combine, kernel, kf, cross, converged, 1e-4, "float32")
               ? passed
               : failed)++;
          (RunCase<double>(seed, combine, kernel, kf, cross, converged, 1e-9, "float64")
               ? passed
               : failed)++;
          ++seed;
        }
      }
    }
  }
  if (timing) {
    for (const bool converged : {false, true}) {
      for (const int kf : {2, 5, 13}) {
        const int kernel = kf == 2 ? mdn::kBilinear : mdn::kGaussian;
        (TimeBenchmark(kernel, kf, converged) ? passed : failed)++;
      }
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
