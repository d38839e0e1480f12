// Host-only check of the GPU noisy-OR arithmetic, no CUDA needed: emulates
// the new kernels' fixed-point log sums (NoisyOrFixedTerm / NoisyOrProduct of
// mass_displacement_math.h, the same inline functions the kernels call) in
// both scatter strategies (direct: one int64 add per tap; tiled: the 16x16
// tile's 48x48 window of 32-bit hi/lo words flushed into int64), the
// GradStat gather and the heatmap-gradient reduction, and compares them with
// the CPU loops of mass_displacement_cpu.h at the harness tolerances
// (float32 1e-4, float64 1e-9), including NaN heatmaps, certain votes (zero
// factors), off-map and non-finite offsets. Also checks that both strategies
// give bit-identical integer sums and that the window words cannot overflow.
//
//   g++ -O2 -std=c++17 -ffp-contract=off -pthread -I../cc/kernels host_emulation.cc -o /tmp/emu && /tmp/emu
//
// (tests/test_cuda_semantics_on_host.py runs it in CI.)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "harness_problems.h"
#include "mass_displacement_cpu.h"

namespace {

using harness::CpuBackward;
using harness::CpuForward;
using harness::Disagreement;
using harness::Problem;
using mdn::VoteParams;

template <typename T>
Problem<T> Make(unsigned seed, int kernel, int kf, bool cross, int64_t H, int64_t W, int64_t J,
                double sd, bool converge_some) {
  Problem<T> pr;
  VoteParams& p = pr.p;
  p.batch = 2, p.height = H, p.width = W, p.num_maps = J;
  p.combine = mdn::kNoisyOr, p.kernel = kernel, p.scale = 1.25;
  p.kernel_size = kernel == mdn::kGaussian ? kf : 2;
  p.SetSigma(kf / 6.0);
  for (int j = 0; j < J; ++j) pr.sources.push_back(j), pr.targets.push_back(j);
  if (cross) {
    for (int j = 1; j < J; ++j) pr.sources.push_back(j), pr.targets.push_back((j - 1) / 2);
  }
  p.num_edges = static_cast<int64_t>(pr.sources.size());
  p.num_targets = J;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> heat(-0.2, 1.2);
  std::normal_distribution<double> offset(0.0, sd);
  for (int64_t n = 0; n < 2 * H * W * J; ++n) pr.heat.push_back(T(heat(rng)));
  for (int64_t n = 0; n < 2 * H * W * p.num_edges; ++n) {
    double x = offset(rng), y = offset(rng);
    if (n % 7 == 0) x = std::round(x), y = std::round(y);
    if (converge_some && n % 3 == 0) {  // many votes on one pixel: long products
      const int64_t pix = n / p.num_edges;
      x = (W / 2 - pix % W) / p.scale, y = (H / 2 - (pix / W) % H) / p.scale;
    }
    pr.ox.push_back(T(x));
    pr.oy.push_back(T(y));
  }
  for (int64_t n = 0; n < 2 * H * W * J; ++n) pr.grad.push_back(T(offset(rng)));
  pr.ox[1] = T(NAN), pr.oy[2] = T(INFINITY), pr.ox[3] = T(-1e30), pr.ox[6] = T(40);
  pr.heat[5] = T(NAN);
  pr.heat[37] = T(NAN);
  return pr;
}

// Calls fn(b, i, j, e, n, f, c, raw, t) for each located vote, in vote order.
template <typename T, typename F>
void ForEachVote(const Problem<T>& pr, F fn) {
  const VoteParams& p = pr.p;
  auto one = [&](int64_t b, int64_t i, int64_t j, int64_t e) {
    const int64_t pix = (b * p.height + i) * p.width + j, n = pix * p.num_edges + e;
    mdn::Footprint<T> f;
    if (!mdn::LocateVote(p, i, j, pr.ox[n], pr.oy[n], &f)) return;
    const T raw = pr.heat[pix * p.num_maps + pr.sources[e]];
    fn(b, i, j, e, n, f, mdn::HeatValue(p.combine, raw), raw, int64_t(pr.targets[e]));
  };
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t i = 0; i < p.height; ++i)
      for (int64_t j = 0; j < p.width; ++j)
        for (int64_t e = 0; e < p.num_edges; ++e) one(b, i, j, e);
}

struct Check {
  int failed = 0;
  void Expect(bool ok, const char* what) {
    if (!ok) ++failed, std::printf("FAIL %s\n", what);
  }
};

constexpr int kTile = 16, kHalo = 16, kWindow = kTile + 2 * kHalo, kCells = kWindow * kWindow;

// Emulated GPU noisy-OR statistics: int64 fixed sums and count words.
template <typename T>
void EmulateStats(const Problem<T>& pr, bool tiled, std::vector<unsigned long long>* fixed,
                  std::vector<int>* count, Check* check) {
  const VoteParams& p = pr.p;
  const size_t outputs = p.batch * p.height * p.width * p.num_targets;
  fixed->assign(outputs, 0);
  count->assign(outputs, 0);
  const T scale = static_cast<T>(ldexp(1.0, mdn::NoisyOrFixedShift(p)));
  auto index = [&](int64_t b, int64_t y, int64_t x, int64_t t) {
    return ((b * p.height + y) * p.width + x) * p.num_targets + t;
  };
  // Returns true (and the term) for a tap that goes to the sums.
  auto term_of = [&](T v, int64_t q, long long* term) {
    const T factor = T(1) - v;
    if (factor == T(0)) {
      (*count)[q] += 1;
      return false;
    }
    if (factor != factor) {
      (*count)[q] |= mdn::kNoisyOrNanBit;
      return false;
    }
    *term = mdn::NoisyOrFixedTerm(factor, scale);
    check->Expect(*term <= 0, "term <= 0");
    return *term != 0;
  };
  if (!tiled) {
    ForEachVote(pr, [&](int64_t b, int64_t, int64_t, int64_t, int64_t,
                        const mdn::Footprint<T>& f, T c, T, int64_t t) {
      harness::ForEachTap(p, f, [&](int kx, int ky, T wx, T wy, T, T) {
        const int64_t q = index(b, f.y.first + ky, f.x.first + kx, t);
        long long term;
        if (term_of(mdn::TapValue(wx, wy, c), q, &term)) {
          (*fixed)[q] += static_cast<unsigned long long>(term);
        }
      });
    });
    return;
  }
  const int64_t tx = (p.width + kTile - 1) / kTile, ty = (p.height + kTile - 1) / kTile;
  std::vector<long long> hi(kCells), lo(kCells);  // wide, to detect 32-bit overflow
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t e = 0; e < p.num_edges; ++e) {
      for (int64_t tile = 0; tile < tx * ty; ++tile) {
        std::fill(hi.begin(), hi.end(), 0), std::fill(lo.begin(), lo.end(), 0);
        const int64_t y0 = tile / tx * kTile, x0 = tile % tx * kTile;
        const int64_t wy0 = y0 - kHalo, wx0 = x0 - kHalo, t = pr.targets[e];
        for (int64_t i = y0; i < std::min(y0 + kTile, p.height); ++i) {
          for (int64_t j = x0; j < std::min(x0 + kTile, p.width); ++j) {
            const int64_t pix = (b * p.height + i) * p.width + j, n = pix * p.num_edges + e;
            mdn::Footprint<T> f;
            if (!mdn::LocateVote(p, i, j, pr.ox[n], pr.oy[n], &f)) continue;
            const T c = mdn::HeatValue(p.combine, pr.heat[pix * p.num_maps + pr.sources[e]]);
            harness::ForEachTap(p, f, [&](int kx, int ky, T wx, T wy, T, T) {
              const int64_t y = f.y.first + ky, x = f.x.first + kx, q = index(b, y, x, t);
              long long term;
              if (!term_of(mdn::TapValue(wx, wy, c), q, &term)) return;
              const int64_t ry = y - wy0, rx = x - wx0;
              if (ry >= 0 && ry < kWindow && rx >= 0 && rx < kWindow) {
                hi[ry * kWindow + rx] += static_cast<int>(term >> 24);
                lo[ry * kWindow + rx] += static_cast<unsigned>(term & 0xFFFFFF);
              } else {
                (*fixed)[q] += static_cast<unsigned long long>(term);
              }
            });
          }
        }
        for (int cell = 0; cell < kCells; ++cell) {
          check->Expect(hi[cell] >= INT32_MIN && hi[cell] <= INT32_MAX, "hi word fits int32");
          check->Expect(lo[cell] >= 0 && lo[cell] <= UINT32_MAX, "lo word fits uint32");
          const int64_t y = wy0 + cell / kWindow, x = wx0 + cell % kWindow;
          if (y < 0 || y >= p.height || x < 0 || x >= p.width) {
            check->Expect(hi[cell] == 0 && lo[cell] == 0, "off-map cell untouched");
            continue;
          }
          const long long total = static_cast<long long>(static_cast<int>(hi[cell])) * (1LL << 24) +
                                  static_cast<long long>(static_cast<unsigned>(lo[cell]));
          (*fixed)[index(b, y, x, t)] += static_cast<unsigned long long>(total);
        }
      }
    }
  }
}

template <typename T>
int RunCase(unsigned seed, int kernel, int kf, bool cross, int64_t H, int64_t W, double sd,
            bool converge_some, double tolerance, const char* dtype) {
  Check check;
  const Problem<T> pr = Make<T>(seed, kernel, kf, cross, H, W, 5, sd, converge_some);
  const VoteParams& p = pr.p;
  std::vector<unsigned long long> fixed, fixed_tiled;
  std::vector<int> count, count_tiled;
  EmulateStats(pr, false, &fixed, &count, &check);
  EmulateStats(pr, true, &fixed_tiled, &count_tiled, &check);
  check.Expect(fixed == fixed_tiled && count == count_tiled,
               "direct and tiled integer sums bit-identical");
  const double inv_scale = ldexp(1.0, -mdn::NoisyOrFixedShift(p));
  const size_t outputs = fixed.size();
  // Forward (FinalizeKernel).
  std::vector<T> out(outputs), cpu_out;
  for (size_t n = 0; n < outputs; ++n) {
    out[n] = mdn::NoisyOrZeros(count[n]) > 0
                 ? T(1)
                 : T(1) - mdn::NoisyOrProduct<T>(static_cast<long long>(fixed[n]), count[n],
                                                 inv_scale);
  }
  CpuForward(pr, &cpu_out);
  const double e_fwd = Disagreement(cpu_out, out);
  // Backward (PrepareGradKernel + BackwardGradKernel + ReduceHeatmapGradKernel).
  std::vector<T> stat(outputs);
  std::vector<int> zeros(outputs);
  for (size_t n = 0; n < outputs; ++n) {
    stat[n] = mdn::NoisyOrProduct<T>(static_cast<long long>(fixed[n]), count[n], inv_scale);
    zeros[n] = mdn::NoisyOrZeros(count[n]);
  }
  const size_t votes = pr.ox.size();
  std::vector<T> gx(votes, T(0)), gy(votes, T(0)), ge(votes, T(0)), gh(pr.heat.size());
  ForEachVote(pr, [&](int64_t b, int64_t, int64_t, int64_t, int64_t n,
                      const mdn::Footprint<T>& f, T c, T raw, int64_t t) {
    T dc = 0, dx = 0, dy = 0;
    harness::ForEachTap(p, f, [&](int kx, int ky, T wx, T wy, T dwx, T dwy) {
      const int64_t q =
          ((b * p.height + f.y.first + ky) * p.width + f.x.first + kx) * p.num_targets + t;
      const T gv = pr.grad[q] * mdn::NoisyOrDmDv(T(1) - mdn::TapValue(wx, wy, c), zeros[q], stat[q]);
      dc += wx * wy * gv, dx += dwx * wy * gv, dy += wx * dwy * gv;
    });
    const T scale = static_cast<T>(p.scale);
    gx[n] = scale * c * dx, gy[n] = scale * c * dy;
    ge[n] = dc * mdn::HeatGradMask(p.combine, raw);
  });
  const std::vector<int> table =
      mdn::BuildEdgeTable(pr.sources.data(), pr.targets.data(), p.num_edges, p.num_maps);
  const mdn::EdgeTableView view = mdn::ViewEdgeTable(table.data(), p.num_edges, p.num_maps);
  for (int64_t pix = 0; pix < p.batch * p.height * p.width; ++pix) {
    mdn::ReduceHeatmapGradient(p, view, ge.data(), pix, gh.data());
  }
  std::vector<T> cgh, cgx, cgy;
  CpuBackward(pr, &cgh, &cgx, &cgy);
  const double errors[] = {e_fwd, Disagreement(cgh, gh), Disagreement(cgx, gx),
                           Disagreement(cgy, gy)};
  const double worst = *std::max_element(errors, errors + 4);
  int zero_factors = 0, nans = 0;
  for (int w : count) zero_factors += mdn::NoisyOrZeros(w) > 0, nans += (w & mdn::kNoisyOrNanBit) != 0;
  const bool ok = worst <= tolerance && check.failed == 0;
  std::printf("%s noisy_or %-8s kf=%-2d %-10s %2lldx%-2lld sd=%.1f%s %-7s shift=%d forward %.2e "
              "d_heat %.2e d_ox %.2e d_oy %.2e (pixels with zero factors %d, NaN %d)\n",
              ok ? "PASS" : "FAIL", kernel ? "gaussian" : "bilinear", kernel ? kf : 0,
              cross ? "cross-part" : "within", (long long)H, (long long)W, sd,
              converge_some ? " converging" : "", dtype, mdn::NoisyOrFixedShift(p), errors[0],
              errors[1], errors[2], errors[3], zero_factors, nans);
  return ok ? 0 : 1;
}

}  // namespace

int main() {
  int failed = 0, cases = 0;
  unsigned seed = 1;
  for (const int kf : {2, 5, 13, 17}) {
    const int kernel = kf == 2 ? mdn::kBilinear : mdn::kGaussian;
    for (const bool cross : {false, true}) {
      for (const bool converge : {false, true}) {
        for (const double sd : {2.5, 12.0}) {
          failed += RunCase<float>(seed, kernel, kf, cross, 37, 45, sd, converge, 1e-4, "float32");
          failed += RunCase<double>(seed, kernel, kf, cross, 37, 45, sd, converge, 1e-9, "float64");
          cases += 2, ++seed;
        }
      }
    }
  }
  // Fixed-point corner cases.
  {
    // The worst sum (every vote of every pixel on one output, each at the
    // clamp) stays below 2^62 at the chosen shift.
    struct Size { int64_t side, edges; };
    for (const Size size : {Size{64, 16}, Size{1024, 64}}) {
      VoteParams p;
      p.height = p.width = size.side, p.num_edges = size.edges;
      const int shift = mdn::NoisyOrFixedShift(p);
      const double bound = double(size.side) * size.side * size.edges * mdn::kNoisyOrLogFloor *
                           ldexp(1.0, shift);
      const bool fits = bound < ldexp(1.0, 62);
      std::printf("%s shift(%lldx%lld, E=%lld) = %d, worst |sum| %.3g < 2^62\n",
                  fits ? "PASS" : "FAIL", (long long)size.side, (long long)size.side,
                  (long long)size.edges, shift, bound);
      failed += !fits;
    }
    // Smallest non-zero factors: their terms stay above -38 * 2^40.
    const float f32 = 1.0f - nextafterf(1.0f, 0.0f);  // 2^-24
    const double f64 = 1.0 - nextafter(1.0, 0.0);     // 2^-53
    const long long t32 = mdn::NoisyOrFixedTerm(f32, ldexpf(1.0f, mdn::kNoisyOrMaxShift));
    const long long t64 = mdn::NoisyOrFixedTerm(f64, ldexp(1.0, mdn::kNoisyOrMaxShift));
    const bool in_range = t32 >= -38LL * (1LL << 40) && t64 >= -38LL * (1LL << 40) && t32 < 0 && t64 < 0;
    std::printf("%s smallest factors: terms %lld, %lld\n", in_range ? "PASS" : "FAIL", t32, t64);
    failed += !in_range;
    // exp of the decoded sum: P = 1 exactly for an empty sum.
    const bool one = mdn::NoisyOrProduct<float>(0, 0, 1.0) == 1.0f &&
                     mdn::NoisyOrProduct<double>(0, 0, 1.0) == 1.0 &&
                     std::isnan(mdn::NoisyOrProduct<float>(0, mdn::kNoisyOrNanBit | 3, 1.0)) &&
                     mdn::NoisyOrZeros(mdn::kNoisyOrNanBit | 3) == 3;
    std::printf("%s empty product is 1, NaN bit decodes\n", one ? "PASS" : "FAIL");
    failed += !one;
  }
  std::printf("%d emulated cases, %d failed\n", cases, failed);
  return failed ? 1 : 0;
}
