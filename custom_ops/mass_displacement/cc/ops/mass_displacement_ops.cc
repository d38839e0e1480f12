// Registration of Mdn>MassDisplacement and its backward op (kernels live in
// ../kernels). The gradient is attached in Python with tf.RegisterGradient.
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace mdn {
namespace {

using ::tensorflow::Status;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

// Checks the ranks and the static dims the three inputs share, starting at
// input `first` (0 for the forward op, 1 for the backward op whose input 0 is
// the upstream gradient). Returns the merged [B, H, W] prefix in *bhw.
Status CheckVotingInputs(InferenceContext* c, int first, ShapeHandle* heatmaps,
                         ShapeHandle* offsets, ShapeHandle* bhw) {
  TF_RETURN_IF_ERROR(c->WithRank(c->input(first), 4, heatmaps));
  ShapeHandle offsets_x, offsets_y;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(first + 1), 4, &offsets_x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(first + 2), 4, &offsets_y));
  TF_RETURN_IF_ERROR(c->Merge(offsets_x, offsets_y, offsets));

  std::vector<int64_t> sources;
  TF_RETURN_IF_ERROR(c->GetAttr("sources", &sources));
  DimensionHandle num_edges;
  TF_RETURN_IF_ERROR(c->WithValue(c->Dim(*offsets, 3), sources.size(), &num_edges));

  ShapeHandle heat_bhw, offsets_bhw;
  TF_RETURN_IF_ERROR(c->Subshape(*heatmaps, 0, 3, &heat_bhw));
  TF_RETURN_IF_ERROR(c->Subshape(*offsets, 0, 3, &offsets_bhw));
  TF_RETURN_IF_ERROR(c->Merge(heat_bhw, offsets_bhw, bhw));

  const DimensionHandle num_maps = c->Dim(*heatmaps, 3);
  if (c->ValueKnown(num_maps)) {
    for (int64_t s : sources) {
      if (s < 0 || s >= c->Value(num_maps)) {
        return tensorflow::errors::InvalidArgument(
            "sources must lie in [0, J) with J = ", c->Value(num_maps),
            " heatmap channels; got source ", s);
      }
    }
  }
  return absl::OkStatus();
}

Status ForwardShape(InferenceContext* c) {
  ShapeHandle heatmaps, offsets, bhw;
  TF_RETURN_IF_ERROR(CheckVotingInputs(c, 0, &heatmaps, &offsets, &bhw));
  int64_t num_targets;
  TF_RETURN_IF_ERROR(c->GetAttr("num_targets", &num_targets));
  ShapeHandle out;
  TF_RETURN_IF_ERROR(c->Concatenate(bhw, c->Vector(num_targets), &out));
  c->set_output(0, out);
  // Saved statistics: [B, H, W, T] when the CPU kernel keeps them, else [0].
  c->set_output(1, c->UnknownShapeOfRank(4));
  c->set_output(2, c->UnknownShapeOfRank(4));
  return absl::OkStatus();
}

Status BackwardShape(InferenceContext* c) {
  ShapeHandle heatmaps, offsets, bhw;
  TF_RETURN_IF_ERROR(CheckVotingInputs(c, 1, &heatmaps, &offsets, &bhw));
  int64_t num_targets;
  TF_RETURN_IF_ERROR(c->GetAttr("num_targets", &num_targets));
  ShapeHandle grad, expected;
  TF_RETURN_IF_ERROR(c->Concatenate(bhw, c->Vector(num_targets), &expected));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &grad));
  TF_RETURN_IF_ERROR(c->Merge(grad, expected, &grad));
  c->set_output(0, c->input(1));
  c->set_output(1, offsets);
  c->set_output(2, offsets);
  return absl::OkStatus();
}

}  // namespace
}  // namespace mdn

// Attrs shared by both ops. `sources`/`targets` list the voting edges (one
// displacement channel each); within-part voting is sources = targets = [0..J).
// TensorFlow float attrs are 32-bit; the kernels use sigma + sigma_residual
// (and likewise for displacement_scale), where the Python wrapper sets the
// residual to float32(x - float32(x)), so float64 inputs see the user's double
// to ~1e-14 while the graph still shows the readable value.
#define MDN_VOTING_ATTRS                                   \
  Attr("T: {half, bfloat16, float, double}")               \
      .Attr("combine: {'additive', 'noisy_or', 'max'}")    \
      .Attr("kernel: {'bilinear', 'gaussian'}")            \
      .Attr("kernel_size: int >= 1")                       \
      .Attr("sigma: float = 0.0")                          \
      .Attr("sigma_residual: float = 0.0")                 \
      .Attr("sources: list(int) >= 0")                     \
      .Attr("targets: list(int) >= 0")                     \
      .Attr("num_targets: int >= 0")                       \
      .Attr("displacement_scale: float = 1.0")             \
      .Attr("displacement_scale_residual: float = 0.0")

REGISTER_OP("Mdn>MassDisplacement")
    .Input("heatmaps: T")
    .Input("offsets_x: T")
    .Input("offsets_y: T")
    .Output("output: T")
    .Output("saved_stat: T")
    .Output("saved_count: int32")
    .MDN_VOTING_ATTRS
    .SetShapeFn(mdn::ForwardShape)
    .Doc(R"doc(
Mass-displacement voting (Neverova & Kokkinos, BMVC 2018).

heatmaps: [B, H, W, J] confidence maps.
offsets_x: [B, H, W, E] horizontal displacement of each edge's votes.
offsets_y: [B, H, W, E] vertical displacement of each edge's votes.
output: [B, H, W, num_targets] voted maps.
saved_stat: for the backward op only. Noisy-OR: the product P of the non-zero
  factors 1 - v per output pixel, stored as P, -P or -inf for zero, one or
  more zero factors; max: the maximum. [B, H, W, T] when kept (CPU,
  float32/float64), else [0, 0, 0, 0] and the backward op recomputes.
saved_count: for the backward op only. Max: the number of votes that reach
  the maximum, [B, H, W, T] when kept; otherwise [0, 0, 0, 0].
)doc");

REGISTER_OP("Mdn>MassDisplacementGrad")
    .Input("grad_output: T")
    .Input("heatmaps: T")
    .Input("offsets_x: T")
    .Input("offsets_y: T")
    .Input("saved_stat: T")
    .Input("saved_count: int32")
    .Output("grad_heatmaps: T")
    .Output("grad_offsets_x: T")
    .Output("grad_offsets_y: T")
    .MDN_VOTING_ATTRS
    .SetShapeFn(mdn::BackwardShape)
    .Doc(R"doc(
Gradient of Mdn>MassDisplacement with respect to its three inputs.

saved_stat, saved_count: the forward op's saved statistics; empty tensors make
the kernel recompute them.
)doc");
