// TensorFlow-side pieces shared by the CPU and GPU OpKernels: attribute
// parsing and the checks every input goes through before any kernel runs.
#ifndef MDN_TF_MASS_DISPLACEMENT_OP_COMMON_H_
#define MDN_TF_MASS_DISPLACEMENT_OP_COMMON_H_

#include <cmath>
#include <string>
#include <vector>

#include "mass_displacement_math.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"

namespace mdn {

// Half types are accumulated in float32, the others in their own precision.
template <typename T>
struct AccumulatorType {
  using type = T;
};
template <>
struct AccumulatorType<Eigen::half> {
  using type = float;
};
template <>
struct AccumulatorType<Eigen::bfloat16> {
  using type = float;
};

// Attributes of both ops, checked once when the kernel is constructed.
class VotingAttrs {
 public:
  explicit VotingAttrs(tensorflow::OpKernelConstruction* ctx) {
    std::string combine, kernel;
    int64_t kernel_size = 0, num_targets = 0;
    float sigma_hi = 0.f, sigma_lo = 0.f, scale_hi = 1.f, scale_lo = 0.f;
    std::vector<int64_t> sources, targets;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("combine", &combine));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("kernel", &kernel));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("kernel_size", &kernel_size));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("sigma", &sigma_hi));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("sigma_residual", &sigma_lo));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("sources", &sources));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("targets", &targets));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("num_targets", &num_targets));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("displacement_scale", &scale_hi));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("displacement_scale_residual", &scale_lo));
    // float attrs are 32-bit: the residual restores a float64 value (see the op registration).
    const double sigma = static_cast<double>(sigma_hi) + static_cast<double>(sigma_lo);
    const double scale = static_cast<double>(scale_hi) + static_cast<double>(scale_lo);

    using tensorflow::errors::InvalidArgument;
    if (combine == "additive") {
      params_.combine = kAdditive;
    } else if (combine == "noisy_or") {
      params_.combine = kNoisyOr;
    } else if (combine == "max") {
      params_.combine = kMax;
    } else {
      ctx->CtxFailure(InvalidArgument(
          "combine must be 'additive', 'noisy_or' or 'max'; got '", combine, "'"));
      return;
    }
    if (kernel == "bilinear") {
      params_.kernel = kBilinear;
      params_.kernel_size = 2;
    } else if (kernel == "gaussian") {
      params_.kernel = kGaussian;
      // The bound keeps kf*kf tap loops and int tap indices far from overflow.
      OP_REQUIRES(ctx, kernel_size >= 1 && kernel_size % 2 == 1 && kernel_size <= 4095,
                  InvalidArgument("kernel_size must be an odd integer in [1, 4095] for "
                                  "the Gaussian kernel; got ",
                                  kernel_size));
      OP_REQUIRES(ctx, std::isfinite(sigma) && sigma > 0.0,
                  InvalidArgument("sigma must be a positive finite number for the "
                                  "Gaussian kernel; got ",
                                  sigma));
      params_.kernel_size = static_cast<int>(kernel_size);
      params_.SetSigma(sigma);
    } else {
      ctx->CtxFailure(
          InvalidArgument("kernel must be 'bilinear' or 'gaussian'; got '", kernel, "'"));
      return;
    }
    OP_REQUIRES(ctx, std::isfinite(scale),
                InvalidArgument("displacement_scale must be finite; got ", scale));
    params_.scale = scale;
    OP_REQUIRES(ctx, sources.size() == targets.size(),
                InvalidArgument("sources and targets must have the same length (one "
                                "entry per edge); got ",
                                sources.size(), " sources and ", targets.size(), " targets"));
    OP_REQUIRES(ctx, num_targets >= 0 && num_targets < (int64_t{1} << 31),
                InvalidArgument("num_targets must lie in [0, 2^31); got ", num_targets));
    params_.num_targets = num_targets;
    params_.num_edges = static_cast<int64_t>(sources.size());
    for (size_t e = 0; e < sources.size(); ++e) {
      OP_REQUIRES(ctx, sources[e] >= 0 && sources[e] < (int64_t{1} << 31),
                  InvalidArgument("sources must be non-negative; edge ", e, " has source ",
                                  sources[e]));
      OP_REQUIRES(ctx, targets[e] >= 0 && targets[e] < num_targets,
                  InvalidArgument("targets must lie in [0, num_targets) with num_targets = ",
                                  num_targets, "; edge ", e, " has target ", targets[e]));
      sources_.push_back(static_cast<int>(sources[e]));
      targets_.push_back(static_cast<int>(targets[e]));
    }
  }

  const VoteParams& params() const { return params_; }
  const std::vector<int>& sources() const { return sources_; }
  const std::vector<int>& targets() const { return targets_; }

  // Checks heatmaps [B, H, W, J] and offsets [B, H, W, E]; on success fills
  // the shape fields of *p. Every message states the expected layout and the
  // shapes received.
  tensorflow::Status CheckInputs(const tensorflow::Tensor& heatmaps,
                                 const tensorflow::Tensor& offsets_x,
                                 const tensorflow::Tensor& offsets_y, VoteParams* p) const {
    using tensorflow::errors::InvalidArgument;
    const auto& hs = heatmaps.shape();
    const auto& xs = offsets_x.shape();
    const auto& ys = offsets_y.shape();
    if (hs.dims() != 4) {
      return InvalidArgument("heatmaps must be a 4-D tensor [B, H, W, J]; got shape ",
                             hs.DebugString());
    }
    if (xs.dims() != 4) {
      return InvalidArgument("offsets_x must be a 4-D tensor [B, H, W, E]; got shape ",
                             xs.DebugString());
    }
    if (xs != ys) {
      return InvalidArgument(
          "offsets_x and offsets_y must have the same shape [B, H, W, E]; got ",
          xs.DebugString(), " and ", ys.DebugString());
    }
    if (hs.dim_size(0) != xs.dim_size(0) || hs.dim_size(1) != xs.dim_size(1) ||
        hs.dim_size(2) != xs.dim_size(2)) {
      return InvalidArgument(
          "heatmaps [B, H, W, J] and offsets [B, H, W, E] must share B, H and W; got "
          "heatmaps ",
          hs.DebugString(), " and offsets ", xs.DebugString());
    }
    if (xs.dim_size(3) != params_.num_edges) {
      return InvalidArgument("offsets must have one channel per edge, E = ",
                             params_.num_edges, "; got offsets shape ", xs.DebugString());
    }
    for (size_t e = 0; e < sources_.size(); ++e) {
      if (sources_[e] >= hs.dim_size(3)) {
        return InvalidArgument("edge ", e, " votes from heatmap channel ", sources_[e],
                               ", but heatmaps have J = ", hs.dim_size(3),
                               " channels; got heatmaps shape ", hs.DebugString());
      }
    }
    *p = params_;
    p->batch = hs.dim_size(0);
    p->height = hs.dim_size(1);
    p->width = hs.dim_size(2);
    p->num_maps = hs.dim_size(3);
    return tensorflow::Status();
  }

  tensorflow::TensorShape OutputShape(const VoteParams& p) const {
    return tensorflow::TensorShape({p.batch, p.height, p.width, p.num_targets});
  }

  // The backward op also receives the upstream gradient [B, H, W, T].
  tensorflow::Status CheckGradOutput(const tensorflow::Tensor& grad,
                                     const VoteParams& p) const {
    if (grad.shape() != OutputShape(p)) {
      return tensorflow::errors::InvalidArgument(
          "grad_output must have the output's shape [B, H, W, T] = ",
          OutputShape(p).DebugString(), "; got ", grad.shape().DebugString());
    }
    return tensorflow::Status();
  }

  // The forward op's saved statistics when `keep`: saved_stat [B, H, W, T],
  // and saved_count [B, H, W, T] for max (noisy-OR encodes its counts in
  // saved_stat, see EncodeNoisyOr). Otherwise both are empty [0, 0, 0, 0] and
  // the backward op recomputes them.
  tensorflow::Status AllocateSavedStatistics(tensorflow::OpKernelContext* ctx,
                                             const VoteParams& p, bool keep,
                                             tensorflow::Tensor** stat,
                                             tensorflow::Tensor** count) const {
    const tensorflow::TensorShape empty({0, 0, 0, 0});
    TF_RETURN_IF_ERROR(ctx->allocate_output(1, keep ? OutputShape(p) : empty, stat));
    return ctx->allocate_output(2, keep && p.combine == kMax ? OutputShape(p) : empty, count);
  }

  // Backward op inputs 4 and 5, as AllocateSavedStatistics makes them: both
  // empty (recompute, *kept = false), or saved_stat [B, H, W, T] with
  // saved_count [B, H, W, T] for max and empty for noisy-OR (*kept = true).
  tensorflow::Status CheckSavedStatistics(const tensorflow::Tensor& stat,
                                          const tensorflow::Tensor& count,
                                          const VoteParams& p, bool* kept) const {
    const bool empty = stat.NumElements() == 0 && count.NumElements() == 0;
    const bool count_ok = p.combine == kNoisyOr ? count.NumElements() == 0
                                                : count.shape() == OutputShape(p);
    *kept = !empty && p.combine != kAdditive && stat.shape() == OutputShape(p) && count_ok;
    if (!empty && !*kept) {
      return tensorflow::errors::InvalidArgument(
          "saved_stat and saved_count must both be empty, or saved_stat must have the "
          "output's shape [B, H, W, T] = ",
          OutputShape(p).DebugString(),
          " and saved_count that shape for max and be empty for noisy_or; got ",
          stat.shape().DebugString(), " and ", count.shape().DebugString());
    }
    return tensorflow::Status();
  }

 private:
  VoteParams params_;
  std::vector<int> sources_, targets_;
};

}  // namespace mdn

#endif  // MDN_TF_MASS_DISPLACEMENT_OP_COMMON_H_
