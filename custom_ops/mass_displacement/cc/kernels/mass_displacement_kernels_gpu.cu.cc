// Instantiates the CUDA launchers for the dtypes TensorFlow registers. Built
// by nvcc only when the CUDA kernels are requested (GOOGLE_CUDA=1).
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "mass_displacement_gpu.cu.h"
#include "unsupported/Eigen/CXX11/Tensor"  // Eigen::half, Eigen::bfloat16

namespace mdn {

// Half types accumulate in float32, as on the CPU.
template struct GpuLauncher<Eigen::half, float>;
template struct GpuLauncher<Eigen::bfloat16, float>;
template struct GpuLauncher<float, float>;
template struct GpuLauncher<double, double>;

}  // namespace mdn

#endif  // GOOGLE_CUDA
