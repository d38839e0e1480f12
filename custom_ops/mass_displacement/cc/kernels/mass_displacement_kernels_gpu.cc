// GPU kernels of Mdn>MassDisplacement and Mdn>MassDisplacementGrad: a thin
// TensorFlow wrapper (checks, allocation, stream) over the TF-free launchers
// of mass_displacement_gpu.cu.h, compiled by nvcc in
// mass_displacement_kernels_gpu.cu.cc.
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include <cuda_runtime_api.h>

#include <vector>

#include "mass_displacement_op_common.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/util/determinism.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace mdn {

using ::tensorflow::DEVICE_GPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Status;
using ::tensorflow::Tensor;
using GPUDevice = Eigen::GpuDevice;

namespace {

// Copies the edge table (sources, targets, edges per source) to the device.
// cudaMemcpyAsync from pageable memory returns once the bytes are staged, so
// the host vector may go out of scope right after.
Status UploadEdgeTable(OpKernelContext* ctx, const VotingAttrs& attrs, const VoteParams& p,
                       Tensor* table) {
  const std::vector<int> host =
      BuildEdgeTable(attrs.sources().data(), attrs.targets().data(), p.num_edges, p.num_maps);
  TF_RETURN_IF_ERROR(ctx->allocate_temp(tensorflow::DT_INT32,
                                        tensorflow::TensorShape({int64_t(host.size())}), table));
  ctx->eigen_device<GPUDevice>().memcpyHostToDevice(table->flat<int>().data(), host.data(),
                                                    host.size() * sizeof(int));
  return Status();
}

Status AllocateScratch(OpKernelContext* ctx, size_t bytes, Tensor* scratch) {
  return ctx->allocate_temp(tensorflow::DT_INT8,
                            tensorflow::TensorShape({int64_t(bytes > 0 ? bytes : 1)}), scratch);
}

Status CheckLaunch(int err) {
  if (err == 0) return Status();
  return tensorflow::errors::Internal("MassDisplacement CUDA kernel launch failed: ",
                                      cudaGetErrorString(static_cast<cudaError_t>(err)));
}

void* StreamOf(OpKernelContext* ctx) {
  return static_cast<void*>(ctx->eigen_device<GPUDevice>().stream());
}

// The CUDA kernels scatter with atomics (atomicAdd, compare-and-swap
// products, integer atomicMax), so sums and noisy-OR products depend on the
// order in which threads land. Under op determinism TensorFlow promises the
// same bits on every run, and its own GPU ops without a deterministic
// algorithm refuse with Unimplemented; these do too. mdn_tf's Python
// dispatcher already routes "auto" to stock TensorFlow ops in that case; this
// check also covers graphs traced before determinism was enabled, SavedModels
// and anything else that places the op on a GPU without asking mdn_tf.
// Checked on every call: determinism can be enabled after the kernel exists.
Status CheckDeterminismNotRequired(const char* op_name) {
  if (!tensorflow::OpDeterminismRequired()) return Status();
  return tensorflow::errors::Unimplemented(
      op_name,
      " has no deterministic GPU kernel (its CUDA kernels accumulate votes with atomics), "
      "and op determinism is enabled (tf.config.experimental.enable_op_determinism() or "
      "TF_DETERMINISTIC_OPS=1). Build the graph with mdn_tf's implementation=\"auto\" or "
      "\"tf\" (stock TensorFlow ops, deterministic on the GPU), or place the op and its "
      "gradient on the CPU, whose kernel is deterministic.");
}

}  // namespace

template <typename T>
class MassDisplacementGpuOp : public OpKernel {
 public:
  using Acc = typename AccumulatorType<T>::type;

  explicit MassDisplacementGpuOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    OP_REQUIRES_OK(ctx, CheckDeterminismNotRequired("Mdn>MassDisplacement"));
    const Tensor& heatmaps = ctx->input(0);
    const Tensor& offsets_x = ctx->input(1);
    const Tensor& offsets_y = ctx->input(2);
    VoteParams p;
    OP_REQUIRES_OK(ctx, attrs_.CheckInputs(heatmaps, offsets_x, offsets_y, &p));
    Tensor* output = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, attrs_.OutputShape(p), &output));
    // The GPU backward pass recomputes its statistics: nothing is saved.
    Tensor *saved_stat = nullptr, *saved_count = nullptr;
    OP_REQUIRES_OK(ctx, attrs_.AllocateSavedStatistics(ctx, p, /*keep=*/false, &saved_stat,
                                                       &saved_count));
    if (output->NumElements() == 0) return;
    Tensor table, scratch;
    OP_REQUIRES_OK(ctx, UploadEdgeTable(ctx, attrs_, p, &table));
    OP_REQUIRES_OK(ctx,
                   AllocateScratch(ctx, GpuLauncher<T, Acc>::ForwardScratchBytes(p), &scratch));
    OP_REQUIRES_OK(ctx, CheckLaunch(GpuLauncher<T, Acc>::Forward(
                            p, table.flat<int>().data(), heatmaps.flat<T>().data(),
                            offsets_x.flat<T>().data(), offsets_y.flat<T>().data(),
                            output->flat<T>().data(), scratch.flat<int8_t>().data(),
                            StreamOf(ctx))));
  }

 private:
  VotingAttrs attrs_;
};

template <typename T>
class MassDisplacementGradGpuOp : public OpKernel {
 public:
  using Acc = typename AccumulatorType<T>::type;

  explicit MassDisplacementGradGpuOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    OP_REQUIRES_OK(ctx, CheckDeterminismNotRequired("Mdn>MassDisplacementGrad"));
    const Tensor& grad = ctx->input(0);
    const Tensor& heatmaps = ctx->input(1);
    const Tensor& offsets_x = ctx->input(2);
    const Tensor& offsets_y = ctx->input(3);
    VoteParams p;
    OP_REQUIRES_OK(ctx, attrs_.CheckInputs(heatmaps, offsets_x, offsets_y, &p));
    OP_REQUIRES_OK(ctx, attrs_.CheckGradOutput(grad, p));
    bool kept = false;  // saved statistics (from a CPU forward pass) are not used here
    OP_REQUIRES_OK(ctx, attrs_.CheckSavedStatistics(ctx->input(4), ctx->input(5), p, &kept));
    Tensor *grad_heat = nullptr, *grad_ox = nullptr, *grad_oy = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, heatmaps.shape(), &grad_heat));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, offsets_x.shape(), &grad_ox));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, offsets_y.shape(), &grad_oy));
    if (grad_heat->NumElements() == 0 && grad_ox->NumElements() == 0) return;
    Tensor table, scratch;
    OP_REQUIRES_OK(ctx, UploadEdgeTable(ctx, attrs_, p, &table));
    OP_REQUIRES_OK(ctx,
                   AllocateScratch(ctx, GpuLauncher<T, Acc>::BackwardScratchBytes(p), &scratch));
    OP_REQUIRES_OK(ctx, CheckLaunch(GpuLauncher<T, Acc>::Backward(
                            p, table.flat<int>().data(), grad.flat<T>().data(),
                            heatmaps.flat<T>().data(), offsets_x.flat<T>().data(),
                            offsets_y.flat<T>().data(), grad_heat->flat<T>().data(),
                            grad_ox->flat<T>().data(), grad_oy->flat<T>().data(),
                            scratch.flat<int8_t>().data(), StreamOf(ctx))));
  }

 private:
  VotingAttrs attrs_;
};

#define MDN_REGISTER_GPU(T)                                                            \
  REGISTER_KERNEL_BUILDER(                                                             \
      Name("Mdn>MassDisplacement").Device(DEVICE_GPU).TypeConstraint<T>("T"),          \
      MassDisplacementGpuOp<T>);                                                       \
  REGISTER_KERNEL_BUILDER(                                                             \
      Name("Mdn>MassDisplacementGrad").Device(DEVICE_GPU).TypeConstraint<T>("T"),      \
      MassDisplacementGradGpuOp<T>);

MDN_REGISTER_GPU(Eigen::half);
MDN_REGISTER_GPU(Eigen::bfloat16);
MDN_REGISTER_GPU(float);
MDN_REGISTER_GPU(double);
#undef MDN_REGISTER_GPU

}  // namespace mdn

#endif  // GOOGLE_CUDA
