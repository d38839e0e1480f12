// CPU kernels of Mdn>MassDisplacement and Mdn>MassDisplacementGrad: input
// checks, then the TF-free loops of mass_displacement_cpu.h run on the
// TensorFlow thread pool: forward units are (batch item, group of target
// maps), backward units (batch item, target map).
#define EIGEN_USE_THREADS

#include <algorithm>
#include <functional>
#include <type_traits>
#include <vector>

#include "mass_displacement_cpu.h"
#include "mass_displacement_op_common.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/platform/threadpool.h"

#ifndef MDN_TF_BUILT_AGAINST
#define MDN_TF_BUILT_AGAINST "unknown"
#endif
#ifndef MDN_TF_WITH_CUDA
#define MDN_TF_WITH_CUDA 0
#endif
#define MDN_STRINGIFY_(x) #x
#define MDN_STRINGIFY(x) MDN_STRINGIFY_(x)

// Read from the file (never by loading it) by mdn_tf/ops/custom_op.py, which
// refuses a library built for another TensorFlow version.
extern "C" __attribute__((used, visibility("default"))) const char mdn_tf_build_stamp[] =
    "mdn_tf-build-stamp:tensorflow=" MDN_TF_BUILT_AGAINST
    ";cuda=" MDN_STRINGIFY(MDN_TF_WITH_CUDA) ";";

namespace mdn {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;

namespace {

// Runs fn(begin, end) over `units` units of equal cost in one block per pool
// thread, so that the blocks end together. (The cost-based split of
// ParallelFor(total, cost) left one straggling block on a 2-core machine.)
void ForEachUnit(tensorflow::thread::ThreadPool* pool, int64_t units,
                 const std::function<void(int64_t, int64_t)>& fn) {
  if (units <= 0) return;
  const int64_t threads = std::max(1, pool->NumThreads());
  const int64_t block = (units + threads - 1) / threads;
  pool->ParallelFor(units, tensorflow::thread::ThreadPool::SchedulingParams::Fixed(block), fn);
}

// Forward units are (batch item, group of target maps). Whole batch items
// (one group) read each pixel's channels once; smaller groups are used only
// when the batch alone would leave threads idle. The grouping never changes
// the result (see AccumulateGroup).
int64_t ForwardGroupCount(const VoteParams& p, int num_threads) {
  const int64_t wanted_units = 2 * static_cast<int64_t>(num_threads);
  const int64_t groups = (wanted_units + p.batch - 1) / std::max<int64_t>(p.batch, 1);
  return std::max<int64_t>(1, std::min(groups, p.num_targets));
}

}  // namespace

template <typename T>
class MassDisplacementCpuOp : public OpKernel {
 public:
  using Acc = typename AccumulatorType<T>::type;

  explicit MassDisplacementCpuOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& heatmaps = ctx->input(0);
    const Tensor& offsets_x = ctx->input(1);
    const Tensor& offsets_y = ctx->input(2);
    VoteParams p;
    OP_REQUIRES_OK(ctx, attrs_.CheckInputs(heatmaps, offsets_x, offsets_y, &p));
    Tensor* output = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, attrs_.OutputShape(p), &output));
    // Noisy-OR/max statistics are kept for the backward pass when they fit the
    // output dtype exactly (float32, float64); half types recompute them. A
    // graph that never takes the gradient (inference) leaves them unconsumed,
    // and skipping them saves writing an output-sized array. A backward pass
    // that receives them empty recomputes them, so the result is the same.
    const bool keep = p.combine != kAdditive && std::is_same<T, Acc>::value &&
                      (ctx->output_required(1) || ctx->output_required(2));
    Tensor *saved_stat = nullptr, *saved_count = nullptr;
    OP_REQUIRES_OK(ctx, attrs_.AllocateSavedStatistics(ctx, p, keep, &saved_stat, &saved_count));
    if (output->NumElements() == 0) return;

    auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
    const TargetGroups groups(attrs_.sources().data(), attrs_.targets().data(), p.num_edges,
                              p.num_targets, ForwardGroupCount(p, pool->NumThreads()));
    const ForwardFn<T, Acc> fn = PickForward<T, Acc>(p.combine, p.kernel);
    T* stat_out = keep ? saved_stat->flat<T>().data() : nullptr;
    int* count_out = keep && p.combine == kMax ? saved_count->flat<int>().data() : nullptr;
    const T* heat = heatmaps.flat<T>().data();
    const T* ox = offsets_x.flat<T>().data();
    const T* oy = offsets_y.flat<T>().data();
    T* out = output->flat<T>().data();
    const int64_t units = p.batch * groups.count();
    ForEachUnit(pool, units, [&](int64_t begin, int64_t end) {
                        MapScratch<Acc> scratch(p, groups.max_size());
                        for (int64_t unit = begin; unit < end; ++unit) {
                          const int64_t b = unit / groups.count();
                          fn(p, groups[unit % groups.count()], heat, ox, oy, b, scratch, out,
                             stat_out, count_out);
                        }
                      });
  }

 private:
  VotingAttrs attrs_;
};

template <typename T>
class MassDisplacementGradCpuOp : public OpKernel {
 public:
  using Acc = typename AccumulatorType<T>::type;

  explicit MassDisplacementGradCpuOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& grad = ctx->input(0);
    const Tensor& heatmaps = ctx->input(1);
    const Tensor& offsets_x = ctx->input(2);
    const Tensor& offsets_y = ctx->input(3);
    VoteParams p;
    OP_REQUIRES_OK(ctx, attrs_.CheckInputs(heatmaps, offsets_x, offsets_y, &p));
    OP_REQUIRES_OK(ctx, attrs_.CheckGradOutput(grad, p));
    const Tensor& saved_stat = ctx->input(4);
    const Tensor& saved_count = ctx->input(5);
    bool kept = false;
    OP_REQUIRES_OK(ctx, attrs_.CheckSavedStatistics(saved_stat, saved_count, p, &kept));
    const T* stat_in = kept ? saved_stat.flat<T>().data() : nullptr;
    const int* count_in = kept && p.combine == kMax ? saved_count.flat<int>().data() : nullptr;
    Tensor *grad_heat = nullptr, *grad_ox = nullptr, *grad_oy = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, heatmaps.shape(), &grad_heat));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, offsets_x.shape(), &grad_ox));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, offsets_y.shape(), &grad_oy));
    T* gh = grad_heat->flat<T>().data();

    // When no two edges share a source map, the unit owning an edge also owns
    // that heatmap channel and writes it directly; otherwise each edge's share
    // goes to a [B, H, W, E] buffer summed per source afterwards, in edge order.
    std::vector<int> uses(p.num_maps, 0);
    bool direct = true;
    for (int s : attrs_.sources()) direct = ++uses[s] == 1 && direct;
    // Direct writes skip channels no edge votes from: they get zero gradient.
    if (direct && std::count(uses.begin(), uses.end(), 0) > 0) {
      std::fill(gh, gh + grad_heat->NumElements(), T(0));
    }
    if (grad_ox->NumElements() == 0) return;
    Tensor grad_edges;
    Acc* ge = nullptr;
    if (!direct) {
      OP_REQUIRES_OK(ctx, ctx->allocate_temp(tensorflow::DataTypeToEnum<Acc>::value,
                                             offsets_x.shape(), &grad_edges));
      ge = grad_edges.flat<Acc>().data();
    }

    // Backward units are (batch item, one target map).
    const TargetGroups maps(attrs_.sources().data(), attrs_.targets().data(), p.num_edges,
                            p.num_targets, p.num_targets);
    const BackwardFn<T, Acc> fn = PickBackward<T, Acc>(p.combine, p.kernel);
    const T* g = grad.flat<T>().data();
    const T* heat = heatmaps.flat<T>().data();
    const T* ox = offsets_x.flat<T>().data();
    const T* oy = offsets_y.flat<T>().data();
    T* gox = grad_ox->flat<T>().data();
    T* goy = grad_oy->flat<T>().data();
    auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
    ForEachUnit(pool, p.batch * p.num_targets, [&](int64_t begin, int64_t end) {
      MapScratch<Acc> scratch(p, 1);
      for (int64_t unit = begin; unit < end; ++unit) {
        const int64_t b = unit / p.num_targets;
        fn(p, maps[unit % p.num_targets], g, heat, ox, oy, stat_in, count_in, b, scratch, gox,
           goy, direct ? gh : nullptr, ge);
      }
    });
    if (direct) return;

    const std::vector<int> table = BuildEdgeTable(
        attrs_.sources().data(), attrs_.targets().data(), p.num_edges, p.num_maps);
    const EdgeTableView view = ViewEdgeTable(table.data(), p.num_edges, p.num_maps);
    ForEachUnit(pool, p.batch * p.height * p.width, [&](int64_t begin, int64_t end) {
                        for (int64_t pix = begin; pix < end; ++pix) {
                          ReduceHeatmapGradient(p, view, ge, pix, gh);
                        }
                      });
  }

 private:
  VotingAttrs attrs_;
};

#define MDN_REGISTER_CPU(T)                                                            \
  REGISTER_KERNEL_BUILDER(                                                             \
      Name("Mdn>MassDisplacement").Device(DEVICE_CPU).TypeConstraint<T>("T"),          \
      MassDisplacementCpuOp<T>);                                                       \
  REGISTER_KERNEL_BUILDER(                                                             \
      Name("Mdn>MassDisplacementGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"),      \
      MassDisplacementGradCpuOp<T>);

MDN_REGISTER_CPU(Eigen::half);
MDN_REGISTER_CPU(Eigen::bfloat16);
MDN_REGISTER_CPU(float);
MDN_REGISTER_CPU(double);
#undef MDN_REGISTER_CPU

}  // namespace mdn
