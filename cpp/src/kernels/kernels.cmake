# Kernel sources. Per-ISA translation units get their own flags here and nowhere else
# (they share no inline code with the portable files, so older CPUs never meet their instructions).
set(_k ${CMAKE_CURRENT_LIST_DIR})
set(TAPEGRAD_KERNEL_SOURCES
  ${_k}/elementwise.cpp
  ${_k}/movement.cpp
  ${_k}/typed.cpp
  ${_k}/sparse_xent.cpp
  ${_k}/reduce.cpp
  ${_k}/loss.cpp
  ${_k}/classification.cpp
  ${_k}/simd/ew_scalar.cpp
  ${_k}/gemm/gemm.cpp
  ${_k}/gemm/gemm_ukernel_ref.cpp
  ${_k}/dispatch.cpp
  ${_k}/threadpool.cpp)

# x86-64 only: the AVX2 and AVX-512 micro-kernels, each file with its own ISA flags. Elsewhere
# (aarch64) they are not compiled and dispatch.cpp offers the portable kernels only.
if(TAPEGRAD_X86_64)
  set(_avx2_ukernels ${_k}/gemm/gemm_ukernel_avx2_6x16.cpp)
  set(_avx512_ukernels ${_k}/gemm/gemm_ukernel_avx512_12x32.cpp)
  set_source_files_properties(${_avx2_ukernels} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(${_avx512_ukernels} PROPERTIES
    COMPILE_OPTIONS "-mavx512f;-mavx512vl;-mavx512bw;-mavx512dq;-mfma")
  list(APPEND TAPEGRAD_KERNEL_SOURCES ${_avx2_ukernels} ${_avx512_ukernels})
endif()

# The elementwise loops (simd/ew_body.inc), once per ISA with that ISA's flags; the portable copy
# (ew_scalar.cpp) is in the list above. -ffp-contract=off: no FMA contraction, so the AVX2 and
# AVX-512 loops round exactly like the portable ones. -fno-trapping-math (no effect on any
# result, only on FP exception flags nobody reads): lets the compiler turn the selects of the
# classification loops' exp and log1p into blends, so those loops vectorize. -fno-math-errno
# (errno is never read either): sqrt becomes the exact sqrt instruction, with no call for
# negative arguments beside it, so Adam's update vectorizes.
set_source_files_properties(${_k}/simd/ew_scalar.cpp PROPERTIES
  COMPILE_OPTIONS "-fno-trapping-math;-fno-math-errno")
if(TAPEGRAD_X86_64)
  set_source_files_properties(${_k}/simd/ew_avx2.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-ffp-contract=off;-fno-trapping-math;-fno-math-errno")
  set_source_files_properties(${_k}/simd/ew_avx512.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx512f;-mavx512vl;-mavx512bw;-mavx512dq;-mfma;-ffp-contract=off;-fno-trapping-math;-fno-math-errno")
  list(APPEND TAPEGRAD_KERNEL_SOURCES ${_k}/simd/ew_avx2.cpp ${_k}/simd/ew_avx512.cpp)
endif()
