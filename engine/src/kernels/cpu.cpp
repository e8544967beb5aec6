// CPU feature detection and the process-wide default kernel path.
#include <atomic>

#include "kernels_internal.h"

namespace rs::engine {

namespace {
std::atomic<KernelPath> g_default_path{KernelPath::kAuto};
}  // namespace

bool cpu_has_avx2_fma_f16c() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

bool cpu_has_avx512_vnni() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = cpu_has_avx2_fma_f16c() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

void set_default_kernel_path(KernelPath path) { g_default_path.store(path); }

KernelPath resolve_kernel_path(KernelPath path) {
  if (path == KernelPath::kAuto) path = g_default_path.load(std::memory_order_relaxed);
  if (path == KernelPath::kAuto) path = KernelPath::kAvx512;
  if (path == KernelPath::kAvx512 && !cpu_has_avx512_vnni()) path = KernelPath::kAvx2;
  if (path == KernelPath::kAvx2 && !cpu_has_avx2_fma_f16c()) path = KernelPath::kScalar;
  return path;
}

}  // namespace rs::engine
