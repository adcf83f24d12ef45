// Runtime ISA dispatch for the GEMM micro-kernels (BLIS cntx_init style): the table starts from the
// portable kernels and each ISA the CPU supports overrides it. CPUID is read once, on first use.
// TAPEGRAD_ISA=scalar|avx2|avx512 forces a path; asking for one the CPU lacks falls back, with a
// message on stderr, to the best one it has (never a SIGILL).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gemm/ukernel.h"
#include "tapegrad/gemm.h"

namespace tg::kernels {
namespace gemm_detail {
namespace {

const GemmKernelTable kScalarTable = {"scalar", 4, 8, sgemm_ref_4x8, 4, 4, dgemm_ref_4x4};

#if defined(__x86_64__) || defined(_M_X64)
const GemmKernelTable kAvx2Table = {"avx2",
                                    6,
                                    16,
                                    sgemm_avx2_6x16,
                                    6,
                                    8,
                                    dgemm_avx2_6x8,
                                    pack_a_avx2_6_f32,
                                    pack_b_trans_avx2_16_f32,
                                    pack_a_avx2_6_f64,
                                    pack_b_trans_avx2_8_f64,
                                    sgemm_sup_avx2_6x16,
                                    gemm_direct_avx2_f32,
                                    gemm_direct_avx2_f64};
// Every AVX-512 CPU runs AVX2, so the AVX2 direct path serves tiny products there too.
const GemmKernelTable kAvx512Table = {"avx512",
                                      12,
                                      32,
                                      sgemm_avx512_12x32,
                                      12,
                                      16,
                                      dgemm_avx512_12x16,
                                      nullptr,
                                      nullptr,
                                      nullptr,
                                      nullptr,
                                      sgemm_sup_avx512_12x32,
                                      gemm_direct_avx2_f32,
                                      gemm_direct_avx2_f64};
#endif

[[maybe_unused]] bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(_M_X64)
  // __builtin_cpu_supports also checks that the OS saves the YMM state (OSXSAVE/XCR0). The init
  // call makes it safe even if the first GEMM runs from another file's static constructor.
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

[[maybe_unused]] bool cpu_has_avx512() {
#if defined(TAPEGRAD_TEST_EMULATE_AVX512)
  // Test-only build (cpp/tests: test_gemm_avx512_emulated): the AVX-512 kernels were compiled
  // against an AVX2 emulation of their intrinsics, so they run wherever AVX2 does.
  return cpu_has_avx2();
#elif defined(__x86_64__) || defined(_M_X64)
  // The kernel uses AVX-512F only; it is compiled with VL/BW/DQ too, so require them all (every
  // AVX-512 CPU since Skylake-X has them) in case the compiler used one in the epilogue.
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

const GemmKernelTable* table_for(const char* isa) {
  if (std::strcmp(isa, "scalar") == 0) return &kScalarTable;
#if defined(__x86_64__) || defined(_M_X64)
  if (std::strcmp(isa, "avx2") == 0 && cpu_has_avx2()) return &kAvx2Table;
  if (std::strcmp(isa, "avx512") == 0 && cpu_has_avx512()) return &kAvx512Table;
#endif
  return nullptr;
}

const GemmKernelTable* best_table() {
  const GemmKernelTable* best = &kScalarTable;  // start from the portable kernels ...
#if defined(__x86_64__) || defined(_M_X64)
  if (cpu_has_avx2()) best = &kAvx2Table;  // ... and override with what the CPU runs
  if (cpu_has_avx512()) best = &kAvx512Table;
#endif
  return best;
}

const GemmKernelTable* initial_table() {
  const char* forced = std::getenv("TAPEGRAD_ISA");
  if (forced == nullptr || forced[0] == '\0') return best_table();
  if (const GemmKernelTable* t = table_for(forced)) return t;
  const GemmKernelTable* fallback = best_table();
  std::fprintf(stderr,
               "tapegrad: TAPEGRAD_ISA=%s is unknown or not supported by this CPU; using %s\n",
               forced, fallback->isa);
  return fallback;
}

// Read on every GEMM call; written at first use and by set_isa (tests only).
std::atomic<const GemmKernelTable*> g_table{nullptr};

}  // namespace

const GemmKernelTable& gemm_kernel_table() {
  const GemmKernelTable* t = g_table.load(std::memory_order_acquire);
  if (t == nullptr) {  // first use; racing initializers compute the same answer
    t = initial_table();
    g_table.store(t, std::memory_order_release);
  }
  return *t;
}

bool cpu_supports_isa(const char* isa) { return isa != nullptr && table_for(isa) != nullptr; }

}  // namespace gemm_detail

const char* isa_name() { return gemm_detail::gemm_kernel_table().isa; }

bool isa_supported(const char* isa) { return gemm_detail::cpu_supports_isa(isa); }

bool set_isa(const char* isa) {
  using namespace gemm_detail;
  const GemmKernelTable* t = isa ? table_for(isa) : nullptr;
  if (t == nullptr) return false;
  gemm_kernel_table();  // make sure the env default was applied (and reported) first
  g_table.store(t, std::memory_order_release);
  return true;
}

}  // namespace tg::kernels
