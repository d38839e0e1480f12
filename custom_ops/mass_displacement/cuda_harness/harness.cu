// Standalone check of the CUDA kernels, without TensorFlow.
//
//  1. Agreement: every combine x kernel (bilinear, Gaussian kf=5, 13, 17) x
//     edges (within, cross-part) x votes (random, converged) x size (2x9x11,
//     2x37x45: several 16x16 tiles) x scatter strategy (direct, tiled) x dtype
//     on random inputs (including off-map, integer, NaN, +-inf and 1e30
//     offsets, NaN heatmaps and heatmaps outside [0, 1]) through the GPU
//     launchers and through the CPU loops of mass_displacement_cpu.h.
//  2. Determinism: every case runs forward and backward twice on the same
//     inputs; each output is compared bit for bit. Noisy-OR and max are
//     deterministic by construction (integer atomics), and every backward
//     output is (gathers only); a difference there is a FAIL. The additive
//     forward adds floats with atomics: reported, not failed.
//  3. Timing (B=32, J=16, 64x64, float32, CUDA-event medians) of every
//     combine x (bilinear, Gaussian kf=5, 13) x (random, converged votes):
//     the kernels with their default scatter strategy and with the other one,
//     each checked against the CPU loops and for determinism at that size.
//     (The first kernels, timed beside these in
//     benchmarks/results/cuda_device_check_h200.log, are in the history:
//     git show 7a452a1:custom_ops/mass_displacement/cc/kernels/mass_displacement_gpu.cu.h)
//  4. --dump DIR: writes the benchmark inputs (float32 raw, meta.json) and the
//     new kernels' forward outputs for benchmarks/gpu/torch_splat_peer.py.
//
// Converged votes are what a trained MDN casts: every pixel within eps_c of
// an edge's source joint points exactly at the edge's target joint (the
// training targets of mdn_tf/data/targets.py), so about 29 votes per edge
// land on the same 1-4 pixels, where the atomics contend. Random votes spread
// out and hide that contention.
//
//   make -C custom_ops harness && custom_ops/build/mdn_cuda_harness [flags]
//   flags: --no-timing  --quick (2x9x11 random votes, kf 2 and 13 only: for
//          compute-sanitizer)
//          --dump DIR
//
// Exit status: 0 all cases agree (and claimed-deterministic outputs are),
// 1 a case disagrees or CUDA failed, 77 no CUDA device (skipped).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "harness_problems.h"
#include "mass_displacement_cpu.h"
#include "mass_displacement_gpu.cu.h"

namespace mdn {
template struct GpuLauncher<float, float>;
template struct GpuLauncher<double, double>;
}  // namespace mdn

namespace {

using mdn::VoteParams;
using harness::CpuBackward;
using harness::CpuForward;
using harness::Disagreement;
using harness::MakeProblem;
using harness::Problem;

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

// mdn::gpu::g_scatter_strategy values.
const char* kStrategyNames[] = {"auto", "direct", "tiled"};

template <typename T>
struct DeviceProblem {
  int* table;
  T *heat, *ox, *oy, *grad, *out, *gh, *gx, *gy;
  void* scratch;
  size_t outputs, heats, votes, scratch_bytes;
  explicit DeviceProblem(const Problem<T>& pr) {
    const VoteParams& p = pr.p;
    table = ToDevice(mdn::BuildEdgeTable(pr.sources.data(), pr.targets.data(), p.num_edges,
                                         p.num_maps));
    heat = ToDevice(pr.heat), ox = ToDevice(pr.ox), oy = ToDevice(pr.oy);
    grad = ToDevice(pr.grad);
    outputs = pr.grad.size(), heats = pr.heat.size(), votes = pr.ox.size();
    out = ToDevice(std::vector<T>(outputs));
    gh = ToDevice(std::vector<T>(heats));
    gx = ToDevice(std::vector<T>(votes));
    gy = ToDevice(std::vector<T>(votes));
    const size_t bytes = std::max(mdn::GpuLauncher<T, T>::ForwardScratchBytes(p),
                                  mdn::GpuLauncher<T, T>::BackwardScratchBytes(p));
    scratch_bytes = std::max<size_t>(bytes, 1);
    CHECK_CUDA(cudaMalloc(&scratch, scratch_bytes));
  }
  ~DeviceProblem() {
    for (void* ptr : {static_cast<void*>(table), static_cast<void*>(heat), static_cast<void*>(ox),
                      static_cast<void*>(oy), static_cast<void*>(grad), static_cast<void*>(out),
                      static_cast<void*>(gh), static_cast<void*>(gx), static_cast<void*>(gy),
                      scratch}) {
      cudaFree(ptr);
    }
  }
  // Poisons the outputs and the scratch, so a run that leaves an element
  // unwritten (or reads stale scratch) cannot pass by accident.
  void Poison() {
    CHECK_CUDA(cudaMemset(out, 0xff, outputs * sizeof(T)));
    CHECK_CUDA(cudaMemset(gh, 0xff, heats * sizeof(T)));
    CHECK_CUDA(cudaMemset(gx, 0xff, votes * sizeof(T)));
    CHECK_CUDA(cudaMemset(gy, 0xff, votes * sizeof(T)));
    CHECK_CUDA(cudaMemset(scratch, 0xa5, scratch_bytes));
  }
  int Forward(const VoteParams& p) {
    return mdn::GpuLauncher<T, T>::Forward(p, table, heat, ox, oy, out, scratch, nullptr);
  }
  int Backward(const VoteParams& p) {
    return mdn::GpuLauncher<T, T>::Backward(p, table, grad, heat, ox, oy, gh, gx, gy, scratch,
                                            nullptr);
  }
  // Forward then backward; copies the four outputs to the host.
  void RunBoth(const VoteParams& p, std::vector<T> results[4]) {
    Poison();
    CHECK_CUDA(static_cast<cudaError_t>(Forward(p)));
    CHECK_CUDA(static_cast<cudaError_t>(Backward(p)));
    CHECK_CUDA(cudaDeviceSynchronize());
    results[0] = ToHost(out, outputs);
    results[1] = ToHost(gh, heats);
    results[2] = ToHost(gx, votes);
    results[3] = ToHost(gy, votes);
  }
};

template <typename T>
bool BitIdentical(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

const char* kCombineNames[] = {"additive", "noisy_or", "max"};
const char* kKernelNames[] = {"bilinear", "gaussian"};
const char* kOutputNames[] = {"forward", "d_heat", "d_ox", "d_oy"};

const char* VotesName(bool converged) { return converged ? "converged" : "random"; }

// Which outputs of the new kernels are claimed bit-identical from run to run:
// all but the additive forward (float atomics in landing order).
bool ClaimedDeterministic(int combine, int output) {
  return !(combine == mdn::kAdditive && output == 0);
}

struct Tally {
  int passed = 0, failed = 0;
  void Add(bool ok) { (ok ? passed : failed)++; }
};

// Determinism summary: "forward=same d_heat=same ..." and whether a claimed
// output differed.
template <typename T>
bool DeterminismReport(int combine, std::vector<T> first[4], std::vector<T> second[4],
                       std::string* text) {
  bool ok = true;
  for (int k = 0; k < 4; ++k) {
    const bool same = BitIdentical(first[k], second[k]);
    *text += std::string(" ") + kOutputNames[k] + (same ? "=same" : "=DIFF");
    if (!same && ClaimedDeterministic(combine, k)) {
      ok = false;
      *text += "(unexpected)";
    }
  }
  return ok;
}

template <typename T>
bool RunCase(unsigned seed, int combine, int kernel, int kf, bool cross, bool converged,
             int64_t H, int64_t W, int64_t J, int strategy, double tolerance,
             const char* dtype) {
  const Problem<T> pr =
      MakeProblem<T>(seed, combine, kernel, kf, cross, 2, H, W, J, 1.25, true, converged);
  std::vector<T> cpu[4];
  CpuForward(pr, &cpu[0]);
  CpuBackward(pr, &cpu[1], &cpu[2], &cpu[3]);
  DeviceProblem<T> dev(pr);
  mdn::gpu::g_scatter_strategy = strategy;
  std::vector<T> gpu[4], again[4];
  dev.RunBoth(pr.p, gpu);
  dev.RunBoth(pr.p, again);
  mdn::gpu::g_scatter_strategy = 0;
  double errors[4];
  for (int k = 0; k < 4; ++k) errors[k] = Disagreement(cpu[k], gpu[k]);
  const double worst = *std::max_element(errors, errors + 4);
  std::string det;
  const bool det_ok = DeterminismReport(combine, gpu, again, &det);
  const bool ok = worst <= tolerance && det_ok;
  std::printf(
      "%s %-8s %-8s kf=%-2d %-10s %-9s %2lldx%-2lld %-6s %-7s forward %.2e  d_heat %.2e  d_ox "
      "%.2e  d_oy %.2e | DET%s\n",
      ok ? "PASS" : "FAIL", kCombineNames[combine], kKernelNames[kernel],
      kernel == mdn::kGaussian ? kf : 0, cross ? "cross-part" : "within", VotesName(converged),
      static_cast<long long>(H), static_cast<long long>(W), kStrategyNames[strategy], dtype,
      errors[0], errors[1], errors[2], errors[3], det.c_str());
  return ok;
}

Problem<float> BenchmarkProblem(int combine, int kernel, int kf, bool converged) {
  return MakeProblem<float>(7, combine, kernel, kf, false, 32, 64, 64, 16, 1.0, false,
                            converged);
}

// Median of CUDA-event times of `reps` runs after `warmup` runs.
template <typename F>
float MedianMs(F run, int warmup = 5, int reps = 21) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  std::vector<float> times;
  for (int rep = 0; rep < warmup + reps; ++rep) {
    CHECK_CUDA(cudaEventRecord(start));
    run();
    CHECK_CUDA(cudaEventRecord(stop));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    if (rep >= warmup) times.push_back(ms);
  }
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Times one scatter strategy at the benchmark size and prints machine-readable
// TIME lines (benchmarks/gpu/torch_splat_peer.py reads them): impl=new for the
// default strategy, new_alt for the other.
void TimeOne(DeviceProblem<float>& dev, const Problem<float>& pr, int strategy,
             const char* case_name) {
  mdn::gpu::g_scatter_strategy = strategy;
  const VoteParams& p = pr.p;
  const char* strat = strategy == 0 ? (mdn::gpu::UseTiles(p) ? "tiled" : "direct")
                                    : kStrategyNames[strategy];
  const char* impl = strategy == 0 ? "new" : "new_alt";
  const float fwd = MedianMs([&] { CHECK_CUDA(static_cast<cudaError_t>(dev.Forward(p))); });
  const float both = MedianMs([&] {
    CHECK_CUDA(static_cast<cudaError_t>(dev.Forward(p)));
    CHECK_CUDA(static_cast<cudaError_t>(dev.Backward(p)));
  });
  std::printf("TIME impl=%s strategy=%s %s pass=forward ms=%.4f\n", impl, strat, case_name, fwd);
  std::printf("TIME impl=%s strategy=%s %s pass=forward+backward ms=%.4f\n", impl, strat,
              case_name, both);
  std::fflush(stdout);
  mdn::gpu::g_scatter_strategy = 0;
}

// Benchmark-size case: agreement with the CPU loops and run-to-run
// determinism of the new kernels (default strategy), then timings.
bool BenchmarkCase(int combine, int kernel, int kf, bool converged, bool timing) {
  const Problem<float> pr = BenchmarkProblem(combine, kernel, kf, converged);
  DeviceProblem<float> dev(pr);
  char case_name[160];
  std::snprintf(case_name, sizeof(case_name),
                "combine=%s kernel=%s kf=%d votes=%s B=32 J=16 64x64 float32",
                kCombineNames[combine], kKernelNames[kernel], kernel == mdn::kGaussian ? kf : 0,
                VotesName(converged));
  std::vector<float> cpu[4], gpu[4], again[4];
  dev.RunBoth(pr.p, gpu);
  dev.RunBoth(pr.p, again);
  CpuForward(pr, &cpu[0]);
  CpuBackward(pr, &cpu[1], &cpu[2], &cpu[3]);
  double worst = 0;
  for (int k = 0; k < 4; ++k) worst = std::max(worst, Disagreement(cpu[k], gpu[k]));
  std::string det;
  const bool det_ok = DeterminismReport(combine, gpu, again, &det);
  const bool ok = worst <= 1e-4 && det_ok;
  std::printf("%s BENCH %s GPU vs CPU loops: %.2e | DET%s\n", ok ? "PASS" : "FAIL", case_name,
              worst, det.c_str());
  std::fflush(stdout);
  if (timing) {
    TimeOne(dev, pr, 0, case_name);
    TimeOne(dev, pr, mdn::gpu::UseTiles(pr.p) ? 1 : 2, case_name);
  }
  return ok;
}

bool WriteFile(const std::string& path, const void* data, size_t bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(data, 1, bytes, f) == bytes;
  return std::fclose(f) == 0 && ok;
}

// Writes DIR/<votes>/{heatmaps,offsets_x,offsets_y,grad}.f32 and meta.json
// (the inputs do not depend on the combine rule or kernel: MakeProblem draws
// the same numbers), and DIR/<votes>/out_<combine>_<kernel><kf>.f32, the new
// kernels' forward outputs, for benchmarks/gpu/torch_splat_peer.py.
bool Dump(const std::string& dir) {
  bool ok = true;
  for (const bool converged : {false, true}) {
    const std::string sub = dir + "/" + VotesName(converged);
    ok &= std::system(("mkdir -p '" + sub + "'").c_str()) == 0;
    const Problem<float> pr = BenchmarkProblem(mdn::kAdditive, mdn::kBilinear, 2, converged);
    const VoteParams& p = pr.p;
    ok &= WriteFile(sub + "/heatmaps.f32", pr.heat.data(), pr.heat.size() * 4);
    ok &= WriteFile(sub + "/offsets_x.f32", pr.ox.data(), pr.ox.size() * 4);
    ok &= WriteFile(sub + "/offsets_y.f32", pr.oy.data(), pr.oy.size() * 4);
    ok &= WriteFile(sub + "/grad.f32", pr.grad.data(), pr.grad.size() * 4);
    std::string meta = "{\n  \"dtype\": \"float32\", \"layout\": \"channels last, row-major\",\n";
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "  \"batch\": %lld, \"height\": %lld, \"width\": %lld, \"num_maps\": %lld,\n"
                  "  \"num_edges\": %lld, \"num_targets\": %lld, \"scale\": %.17g,\n",
                  (long long)p.batch, (long long)p.height, (long long)p.width,
                  (long long)p.num_maps, (long long)p.num_edges, (long long)p.num_targets,
                  p.scale);
    meta += buf;
    meta += "  \"sigma_rule\": \"kf / 6\", \"votes\": \"";
    meta += VotesName(converged);
    meta += "\",\n  \"sources\": [";
    for (size_t e = 0; e < pr.sources.size(); ++e) meta += (e ? ", " : "") + std::to_string(pr.sources[e]);
    meta += "],\n  \"targets\": [";
    for (size_t e = 0; e < pr.targets.size(); ++e) meta += (e ? ", " : "") + std::to_string(pr.targets[e]);
    meta += "],\n  \"files\": {\"heatmaps\": \"[B, H, W, J]\", \"offsets_x\": \"[B, H, W, E]\", "
            "\"offsets_y\": \"[B, H, W, E]\", \"grad\": \"[B, H, W, T]\", "
            "\"out_<combine>_<kernel><kf>\": \"[B, H, W, T]\"}\n}\n";
    ok &= WriteFile(sub + "/meta.json", meta.data(), meta.size());
    for (int combine = 0; combine < 3; ++combine) {
      for (const int kf : {2, 5, 13}) {
        const int kernel = kf == 2 ? mdn::kBilinear : mdn::kGaussian;
        const Problem<float> q = BenchmarkProblem(combine, kernel, kf, converged);
        if (!BitIdentical(q.heat, pr.heat) || !BitIdentical(q.ox, pr.ox) ||
            !BitIdentical(q.oy, pr.oy) || !BitIdentical(q.grad, pr.grad)) {
          std::printf("FAIL dump: inputs differ between cases\n");
          return false;
        }
        DeviceProblem<float> dev(q);
        CHECK_CUDA(static_cast<cudaError_t>(dev.Forward(q.p)));
        CHECK_CUDA(cudaDeviceSynchronize());
        const std::vector<float> out = ToHost(dev.out, dev.outputs);
        const std::string name = sub + "/out_" + kCombineNames[combine] + "_" +
                                 (kf == 2 ? std::string("bilinear") : "gaussian" + std::to_string(kf)) +
                                 ".f32";
        ok &= WriteFile(name, out.data(), out.size() * 4);
      }
    }
  }
  std::printf("%s dump to %s\n", ok ? "PASS" : "FAIL", dir.c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  bool timing = true, quick = false;
  std::string dump_dir;
  for (int k = 1; k < argc; ++k) {
    const std::string arg = argv[k];
    if (arg == "--no-timing") {
      timing = false;
    } else if (arg == "--quick") {
      quick = true, timing = false;
    } else if (arg == "--dump" && k + 1 < argc) {
      dump_dir = argv[++k];
    } else {
      std::printf("unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  Tally tally;
  unsigned seed = 1;
  struct Size { int64_t H, W, J; };
  const std::vector<Size> sizes = quick ? std::vector<Size>{{9, 11, 4}}
                                        : std::vector<Size>{{9, 11, 4}, {37, 45, 5}};
  const std::vector<int> kfs = quick ? std::vector<int>{2, 13} : std::vector<int>{2, 5, 13, 17};
  const std::vector<bool> vote_kinds = quick ? std::vector<bool>{false} : std::vector<bool>{false, true};
  for (const bool converged : vote_kinds) {
    for (int combine = 0; combine < 3; ++combine) {
      for (const int kf : kfs) {
        const int kernel = kf == 2 ? mdn::kBilinear : mdn::kGaussian;
        for (int cross = 0; cross < 2; ++cross) {
          for (const Size& size : sizes) {
            for (const int strategy : {1, 2}) {
              // float32: atomics add in a different order than the CPU loop.
              tally.Add(RunCase<float>(seed, combine, kernel, kf, cross, converged, size.H,
                                       size.W, size.J, strategy, 1e-4, "float32"));
              tally.Add(RunCase<double>(seed, combine, kernel, kf, cross, converged, size.H,
                                        size.W, size.J, strategy, 1e-9, "float64"));
            }
            ++seed;
          }
        }
      }
    }
  }
  std::printf("agreement: %d passed, %d failed\n", tally.passed, tally.failed);
  std::fflush(stdout);
  if (!quick) {
    for (const bool converged : {false, true}) {
      for (int combine = 0; combine < 3; ++combine) {
        for (const int kf : {2, 5, 13}) {
          const int kernel = kf == 2 ? mdn::kBilinear : mdn::kGaussian;
          tally.Add(BenchmarkCase(combine, kernel, kf, converged, timing));
        }
      }
    }
  }
  if (!dump_dir.empty()) tally.Add(Dump(dump_dir));
  std::printf("%d passed, %d failed\n", tally.passed, tally.failed);
  return tally.failed == 0 ? 0 : 1;
}
