// Times the TF-free CPU voting loops of mass_displacement_cpu.h on one
// thread, without TensorFlow: the kernel's own cost per vote, free of the
// op's call overhead and of the other core's noise. A tool for kernel work;
// bench_mass_displacement.py measures the op as users call it.
//
//   make -C custom_ops cpu-micro
//   custom_ops/build/cpu_kernel_micro [combine] [kernel_size] [offset_sd]
//
// combine: additive, noisy_or (default) or max; kernel_size: 2 for bilinear
// (default), odd for Gaussian (sigma = kernel_size / 6, the layer's default);
// offsets ~ N(0, offset_sd) pixels (default 3), heatmaps ~ U(0, 1), J = 16
// maps of 64 x 64, within-part voting, float32, 8 batch items. Prints the
// best of several repetitions. MDN_TF_CPU_SIMD=sse2 times the portable path.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "mass_displacement_cpu.h"

namespace {

int ParseCombine(const char* name) {
  if (std::strcmp(name, "additive") == 0) return mdn::kAdditive;
  if (std::strcmp(name, "max") == 0) return mdn::kMax;
  if (std::strcmp(name, "noisy_or") == 0) return mdn::kNoisyOr;
  std::fprintf(stderr, "combine must be additive, noisy_or or max; got '%s'\n", name);
  std::exit(2);
}

template <typename Fn>
double BestMs(int repetitions, Fn&& fn) {
  double best = 1e30;
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int combine = ParseCombine(argc > 1 ? argv[1] : "noisy_or");
  const int kernel_size = argc > 2 ? std::atoi(argv[2]) : 2;
  const float offset_sd = argc > 3 ? static_cast<float>(std::atof(argv[3])) : 3.f;
  if (kernel_size != 2 && (kernel_size < 1 || kernel_size % 2 == 0)) {
    std::fprintf(stderr, "kernel_size must be 2 (bilinear) or odd (Gaussian); got %d\n",
                 kernel_size);
    return 2;
  }
  const int B = 8, H = 64, W = 64, J = 16;
  mdn::VoteParams p;
  p.batch = B, p.height = H, p.width = W;
  p.num_maps = p.num_edges = p.num_targets = J;
  p.combine = combine;
  p.kernel = kernel_size == 2 ? mdn::kBilinear : mdn::kGaussian;
  p.kernel_size = kernel_size;
  if (p.kernel == mdn::kGaussian) p.SetSigma(kernel_size / 6.0);
  std::vector<int> sources(J), targets(J);
  for (int j = 0; j < J; ++j) sources[j] = targets[j] = j;

  const size_t n = static_cast<size_t>(B) * H * W * J;
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> uniform(0.f, 1.f);
  std::normal_distribution<float> normal(0.f, offset_sd), unit(0.f, 1.f);
  std::vector<float> heat(n), ox(n), oy(n), upstream(n), out(n), stat(n);
  std::vector<float> grad_heat(n), grad_ox(n), grad_oy(n);
  std::vector<int> count(n);
  for (float& v : heat) v = uniform(rng);
  for (float& v : ox) v = normal(rng);
  for (float& v : oy) v = normal(rng);
  for (float& v : upstream) v = unit(rng);

  // All 16 maps in one unit per batch item, as the op does for large batches.
  const mdn::TargetGroups whole(sources.data(), targets.data(), J, J, 1);
  const mdn::TargetGroups single(sources.data(), targets.data(), J, J, J);
  mdn::MapScratch<float> scratch(p, J), scratch_one(p, 1);
  const auto forward = mdn::PickForward<float, float>(combine, p.kernel);
  const auto backward = mdn::PickBackward<float, float>(combine, p.kernel);
  int* saved_count = combine == mdn::kMax ? count.data() : nullptr;
  float* saved_stat = combine == mdn::kAdditive ? nullptr : stat.data();
  const auto run_forward = [&] {
    for (int b = 0; b < B; ++b) {
      forward(p, whole[0], heat.data(), ox.data(), oy.data(), b, scratch, out.data(), saved_stat,
              saved_count);
    }
  };
  const auto run_backward = [&] {
    for (int b = 0; b < B; ++b) {
      for (int t = 0; t < J; ++t) {
        backward(p, single[t], upstream.data(), heat.data(), ox.data(), oy.data(), saved_stat,
                 saved_count, b, scratch_one, grad_ox.data(), grad_oy.data(), grad_heat.data(),
                 nullptr);
      }
    }
  };
  const double forward_ms = BestMs(10, run_forward);
  const double backward_ms = BestMs(5, run_backward);
  const double votes = static_cast<double>(n);
  std::printf("%s, %s kf=%d, offsets N(0, %.1f), J=%d, %dx%d, one thread:\n",
              argc > 1 ? argv[1] : "noisy_or", p.kernel == mdn::kBilinear ? "bilinear" : "gaussian",
              kernel_size, offset_sd, J, H, W);
  std::printf("  forward   %7.3f ms per batch item  %7.2f ns per vote  (x32 items / 2 cores: %6.1f ms)\n",
              forward_ms / B, forward_ms * 1e6 / votes, forward_ms / B * 16);
  std::printf("  backward  %7.3f ms per batch item  %7.2f ns per vote  (x32 items / 2 cores: %6.1f ms)\n",
              backward_ms / B, backward_ms * 1e6 / votes, backward_ms / B * 16);
  return 0;
}
