// Host side of the CUDA harness, without CUDA: the test problems (random and
// converged votes), the CPU loops' forward and backward on them, the
// disagreement measure, and the kernels' tap loop for host emulations.
// Included by harness.cu and by the host programs host_emulation.cc and
// host_max_ties.cc, which run on machines without a GPU (and in CI).
#ifndef MDN_TF_HARNESS_PROBLEMS_H_
#define MDN_TF_HARNESS_PROBLEMS_H_

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "mass_displacement_cpu.h"

namespace harness {

using mdn::VoteParams;

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
    // NaN heat: NaN votes must propagate (noisy-OR: P is NaN, m is NaN unless
    // a zero factor makes it 1), as in the CPU loops.
    pr.heat[5] = T(NAN);
    if (pr.heat.size() > 40) pr.heat[37] = T(NAN);
  }
  return pr;
}


// Runs fn(b) for every batch item on all cores (the CPU reference at the
// benchmark size would take minutes on one).
template <typename F>
void ParallelOverBatch(int64_t batch, F fn) {
  const int64_t threads =
      std::max<int64_t>(1, std::min<int64_t>(batch, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int64_t k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      for (int64_t b = k; b < batch; b += threads) fn(b);
    });
  }
  for (auto& th : pool) th.join();
}

template <typename T>
void CpuForward(const Problem<T>& pr, std::vector<T>* out) {
  const VoteParams& p = pr.p;
  out->assign(p.batch * p.height * p.width * p.num_targets, T(0));
  const mdn::TargetGroups groups(pr.sources.data(), pr.targets.data(), p.num_edges,
                                 p.num_targets, 1);
  auto fn = mdn::PickForward<T, T>(p.combine, p.kernel);
  ParallelOverBatch(p.batch, [&](int64_t b) {
    mdn::MapScratch<T> s(p, groups.max_size());
    fn(p, groups[0], pr.heat.data(), pr.ox.data(), pr.oy.data(), b, s, out->data(), nullptr,
       nullptr);
  });
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
  auto fn = mdn::PickBackward<T, T>(p.combine, p.kernel);
  const std::vector<int> table =
      mdn::BuildEdgeTable(pr.sources.data(), pr.targets.data(), p.num_edges, p.num_maps);
  const mdn::EdgeTableView view = mdn::ViewEdgeTable(table.data(), p.num_edges, p.num_maps);
  ParallelOverBatch(p.batch, [&](int64_t b) {
    mdn::MapScratch<T> s(p, 1);
    for (int64_t t = 0; t < p.num_targets; ++t) {
      fn(p, maps[t], pr.grad.data(), pr.heat.data(), pr.ox.data(), pr.oy.data(), nullptr,
         nullptr, b, s, gx->data(), gy->data(), nullptr, edges_grad.data());
    }
    const int64_t plane = p.height * p.width;
    for (int64_t pix = b * plane; pix < (b + 1) * plane; ++pix) {
      mdn::ReduceHeatmapGradient(p, view, edges_grad.data(), pix, gh->data());
    }
  });
}

// Largest |gpu - cpu| / max(1, |cpu|); NaN or infinity in one and not the
// other counts as infinite disagreement.
template <typename T>
double Disagreement(const std::vector<T>& cpu, const std::vector<T>& gpu) {
  double worst = 0;
  for (size_t n = 0; n < cpu.size(); ++n) {
    const double a = cpu[n], b = gpu[n];
    if (std::isnan(a) || std::isnan(b)) {
      if (std::isnan(a) != std::isnan(b)) return INFINITY;
      continue;
    }
    if (std::isinf(a) || std::isinf(b)) {
      if (a != b) return INFINITY;
      continue;
    }
    worst = std::max(worst, std::fabs(a - b) / std::max(1.0, std::fabs(a)));
  }
  return worst;
}

// The CUDA kernels' tap loop (ForEachTap of mass_displacement_gpu.cu.h), on
// the host: both axes weighed once per vote by FillAxisWeights, then
// fn(kx, ky, wx, wy, dwx, dwy) for every on-map tap.
template <typename T, typename F>
void ForEachTap(const VoteParams& p, const mdn::Footprint<T>& f, F&& fn) {
  const int taps = mdn::TapsPerAxis(p);
  std::vector<T> wx(taps), dwx(taps), wy(taps), dwy(taps);
  mdn::FillAxisWeights<true>(p, f.x, f.kx_begin, f.kx_end, wx.data(), dwx.data());
  mdn::FillAxisWeights<true>(p, f.y, f.ky_begin, f.ky_end, wy.data(), dwy.data());
  for (int ky = f.ky_begin; ky < f.ky_end; ++ky) {
    for (int kx = f.kx_begin; kx < f.kx_end; ++kx) fn(kx, ky, wx[kx], wy[ky], dwx[kx], dwy[ky]);
  }
}

}  // namespace harness

#endif  // MDN_TF_HARNESS_PROBLEMS_H_
