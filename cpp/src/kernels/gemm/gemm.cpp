// GEMM framework, BLIS style: the portable part (blocking loops, packing, edge tiles, threads, the
// tiny-matrix path). The arithmetic that matters runs in the micro-kernels chosen at run time
// (ukernel.h); this file is compiled with the project's ordinary flags.
//
// Loop nest (BLIS's five loops; row-major C):
//   jc: N in blocks of NC      (a B block KC x NC stays in L3)
//    pc: K in blocks of KC     (pack B block: micro-panels KC x NR, shared by the team)
//     ic: M in blocks of MC    (pack A block: micro-panels MR x KC, per thread, stays in L2)
//      jr: NR columns          (one B micro-panel stays in L1)
//       ir: MR rows            -> micro-kernel, MR x NR tile of C in registers
// Transposed operands are read in their stored layout by the packers, so A^T B and A B^T (matmul's
// VJPs) never materialize a transpose.
//
// Threads split M (tiles of MR) and N (micro-panels of NR) only. Every C element is computed by
// the same kernel, over the same KC blocks, in the same order whatever the thread count, so
// results are bit-identical for 1 or N threads.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <type_traits>
#include <vector>

#include "../threadpool.h"
#include "tapegrad/gemm.h"
#include "ukernel.h"

namespace tg::kernels {
namespace {

using gemm_detail::DirectGemm;
using gemm_detail::GemmKernelTable;
using gemm_detail::kMaxMR;
using gemm_detail::kMaxNR;
using gemm_detail::kPackAlign;
using gemm_detail::UkernelEpilogue;

// ---- tuning constants -----------------------------------------------------------------------
// Below this many multiply-adds (M*N*K) the unpacked direct loops win: packing and the per-tile
// epilogue cost about as much as the arithmetic (e.g. the seed's 32x8x128 and 32x128x1).
constexpr std::int64_t kDirectMaxWork = 16 * 1024;
// Up to this many multiply-adds, and K up to kSupMaxK, a float GEMM with B not transposed skips
// packing when the ISA has an unpacked ("sup") kernel: at 64^3 packing A and B took ~15% of the
// time. The unpacked kernel re-reads a K x NR column strip of B in place for every row tile; with
// B's rows a power-of-two apart that strip maps to a few L1 sets, so a long K (128^3: K = 128
// lines in 8 of 64 sets) thrashes L1, and packing wins again (figures: docs/performance.md).
// It is one-thread only: with more threads, products from kHelperMinWork go to the helper path.
constexpr std::int64_t kSupMaxWork = std::int64_t(1) << 21;
constexpr std::int64_t kSupMaxK = 96;
// Below this many multiply-adds the team path (gemm_team_member, for products too large for the
// helper path) stays on one thread: its barriers wait for every member, a sleeping worker's wake-up
// costs as much as a small product (docs/performance.md), and on a busy 2-core machine the second
// member may not be scheduled for a whole time slice.
constexpr std::int64_t kThreadMinWork = std::int64_t(1) << 22;
// From this many multiply-adds, with more than one thread, products whose packed B fits a quarter
// of L3 go to gemm_helper_shared (Note [Helper-shared GEMM]), where a worker that is not awake
// costs nothing, so threads pay off from half a 128^3 product (docs/performance.md).
constexpr std::int64_t kHelperMinWork = std::int64_t(1) << 20;

// ---- blocking from cache sizes ----------------------------------------------------------------
struct CacheSizes {
  std::int64_t l1, l2, l3;
};

CacheSizes cache_sizes() {
  static const CacheSizes sizes = [] {
    auto query = [](int name, long fallback) -> std::int64_t {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
      const long v = sysconf(name);
      if (v > 0) return v;
#endif
      return fallback;
    };
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    CacheSizes s{query(_SC_LEVEL1_DCACHE_SIZE, 32 << 10), query(_SC_LEVEL2_CACHE_SIZE, 512 << 10),
                 query(_SC_LEVEL3_CACHE_SIZE, 8 << 20)};
#else
    CacheSizes s{32 << 10, 512 << 10, 8 << 20};
#endif
    // Guard against odd reports (VMs): clamp to sane ranges.
    s.l1 = std::clamp<std::int64_t>(s.l1, 16 << 10, 128 << 10);
    s.l2 = std::clamp<std::int64_t>(s.l2, 128 << 10, 4 << 20);
    s.l3 = std::clamp<std::int64_t>(s.l3, 1 << 20, 64 << 20);
    return s;
  }();
  return sizes;
}

// The largest packed B (bytes) gemm_helper_shared takes: a quarter of L3, as the team path's
// KC x NC block of B (the whole 1024^2 float B, the 784-1024-1024 MLP's; not 2048^2, where the
// team path measured 5% faster).
std::int64_t gemm_helper_max_packed_b() { return cache_sizes().l3 / 4; }

struct Blocking {
  std::int64_t mc, kc, nc;
};

// After the analytical model of Low et al. ("Analytical modeling is enough for high-performance
// BLIS"), simplified: a KC x NR micro-panel of B takes 3/4 of L1 (6 of 8 ways; the rest streams
// A's MR x KC micro-panels and C), an MC x KC block of A a quarter of L2 (it is re-read from L2
// once per B micro-panel; the rest of L2 holds B panels on their way in), a KC x NC block of B a
// quarter of L3. A long KC amortizes the C tile's load/store per kernel call. On Zen 3 (32 KiB L1,
// 512 KiB L2) this gives f32 KC 384 / MC 84, f64 KC 384 / MC 42: measured within noise of the best
// of a small sweep (KC 256..512, MC 72..252) at n = 1024.
Blocking blocking_for(int mr, int nr, std::int64_t elem_bytes) {
  const CacheSizes cs = cache_sizes();
  Blocking b;
  b.kc = (cs.l1 * 3 / 4) / (nr * elem_bytes);
  b.kc = std::clamp<std::int64_t>(b.kc / 8 * 8, 64, 1024);
  b.mc = (cs.l2 / 4) / (b.kc * elem_bytes);
  b.mc = std::max<std::int64_t>(b.mc / mr * mr, mr);
  b.nc = (cs.l3 / 4) / (b.kc * elem_bytes);
  b.nc = std::clamp<std::int64_t>(b.nc / nr * nr, nr, 4096 / nr * nr);
  return b;
}

// ---- per-dtype view of the kernel table --------------------------------------------------------
template <class T>
struct Ukernel;
template <>
struct Ukernel<float> {
  static auto fn(const GemmKernelTable& t) { return t.ukernel_f32; }
  static auto direct(const GemmKernelTable& t) { return t.direct_f32; }
  static int mr(const GemmKernelTable& t) { return t.mr_f32; }
  static int nr(const GemmKernelTable& t) { return t.nr_f32; }
};
template <>
struct Ukernel<double> {
  static auto fn(const GemmKernelTable& t) { return t.ukernel_f64; }
  static auto direct(const GemmKernelTable& t) { return t.direct_f64; }
  static int mr(const GemmKernelTable& t) { return t.mr_f64; }
  static int nr(const GemmKernelTable& t) { return t.nr_f64; }
};

// ---- packing buffers ----------------------------------------------------------------------------
// One per thread, grown on demand and kept: no allocation per call once warm. Pool workers are
// persistent, so theirs live as long as the process.
struct PackBuffer {
  void* data = nullptr;
  std::size_t bytes = 0;
  void* ensure(std::size_t n) {
    if (n > bytes) {
      std::free(data);
      bytes = (n + kPackAlign - 1) / kPackAlign * kPackAlign;
      data = std::aligned_alloc(kPackAlign, bytes);
      if (data == nullptr) {
        bytes = 0;
        throw std::bad_alloc();
      }
    }
    return data;
  }
  ~PackBuffer() { std::free(data); }
};
thread_local PackBuffer tls_pack_a;  // this thread's A block
thread_local PackBuffer tls_pack_b;  // the team's shared B block (owned by the calling thread)

// ---- packing --------------------------------------------------------------------------------------
// The register-block sizes are template parameters so the per-k copies unroll into straight-line
// moves; pack_a/pack_b switch on the run-time MR/NR of the dispatched kernel table.
// Both packers walk their SOURCE in storage order (k-major for a row-major B, row by row for a
// transposed B, ...), so reads stream through whole cache lines and the hardware prefetcher helps.

// op(A) rows [i0, i0+mc), columns [p0, p0+kc) into micro-panels of MR rows: dst[p*MR + r].
// Rows past mc are zero (the kernel computes them; the edge path drops them).
template <int MR, class T>
void pack_a_mr(bool trans_a, const T* A, std::int64_t lda, std::int64_t i0, std::int64_t mc,
               std::int64_t p0, std::int64_t kc, T* dst) {
  for (std::int64_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    const int m = static_cast<int>(std::min<std::int64_t>(MR, mc - ir));
    if (!trans_a) {  // A(i, p) = A[i*lda + p]: MR row streams, each read contiguously
      const T* rows[MR];
      for (int r = 0; r < MR; ++r) rows[r] = A + (i0 + ir + (r < m ? r : 0)) * lda + p0;
      if (m == MR) {
        for (std::int64_t p = 0; p < kc; ++p)
          for (int r = 0; r < MR; ++r) dst[p * MR + r] = rows[r][p];
      } else {
        for (std::int64_t p = 0; p < kc; ++p)
          for (int r = 0; r < MR; ++r) dst[p * MR + r] = r < m ? rows[r][p] : T(0);
      }
    } else {  // A stored K x M: A(i, p) = A[p*lda + i], MR contiguous values per p
      for (std::int64_t p = 0; p < kc; ++p) {
        const T* src = A + (p0 + p) * lda + i0 + ir;
        T* d = dst + p * MR;
        if (m == MR) {
          std::memcpy(d, src, sizeof(T) * MR);
        } else {
          for (int r = 0; r < MR; ++r) d[r] = r < m ? src[r] : T(0);
        }
      }
    }
  }
}

// op(B) rows [p0, p0+kc), the micro-panels [panel0, panel1) of NR columns starting at column j0:
// panel q holds columns j0 + q*NR ..., dst[q*NR*kc + p*NR + j]. Columns past N are zero.
template <int NR, class T>
void pack_b_nr(bool trans_b, const T* B, std::int64_t ldb, std::int64_t N, std::int64_t j0,
               std::int64_t panel0, std::int64_t panel1, std::int64_t p0, std::int64_t kc, T* dst) {
  if (!trans_b) {  // B(p, j) = B[p*ldb + j]: walk each row of B once, across all panels
    for (std::int64_t p = 0; p < kc; ++p) {
      const T* src_row = B + (p0 + p) * ldb;
      for (std::int64_t q = panel0; q < panel1; ++q) {
        const std::int64_t j = j0 + q * NR;
        const T* src = src_row + j;
        T* d = dst + q * NR * kc + p * NR;
        if (j + NR <= N) {
          std::memcpy(d, src, sizeof(T) * NR);  // one fixed-size copy: whole vector moves
        } else {
          const std::int64_t n = N - j;
          for (int c = 0; c < NR; ++c) d[c] = c < n ? src[c] : T(0);
        }
      }
    }
    return;
  }
  // B stored N x K: B(p, j) = B[j*ldb + p]: NR column streams, each read contiguously
  for (std::int64_t q = panel0; q < panel1; ++q) {
    T* d = dst + q * NR * kc;
    const std::int64_t j = j0 + q * NR;
    const int n = static_cast<int>(std::min<std::int64_t>(NR, N - j));
    const T* cols[NR];
    for (int c = 0; c < NR; ++c) cols[c] = B + (j + (c < n ? c : 0)) * ldb + p0;
    if (n == NR) {
      for (std::int64_t p = 0; p < kc; ++p)
        for (int c = 0; c < NR; ++c) d[p * NR + c] = cols[c][p];
    } else {
      for (std::int64_t p = 0; p < kc; ++p)
        for (int c = 0; c < NR; ++c) d[p * NR + c] = c < n ? cols[c][p] : T(0);
    }
  }
}

template <class T>
void pack_a(bool trans_a, const T* A, std::int64_t lda, std::int64_t i0, std::int64_t mc,
            std::int64_t p0, std::int64_t kc, int mr, T* dst) {
  switch (mr) {
    case 4: return pack_a_mr<4>(trans_a, A, lda, i0, mc, p0, kc, dst);
    case 6: return pack_a_mr<6>(trans_a, A, lda, i0, mc, p0, kc, dst);
    case 12: return pack_a_mr<12>(trans_a, A, lda, i0, mc, p0, kc, dst);
    default: std::abort();  // a kernel table declared an MR this file was not taught
  }
}

template <class T>
void pack_b(bool trans_b, const T* B, std::int64_t ldb, std::int64_t N, std::int64_t j0,
            std::int64_t panel0, std::int64_t panel1, std::int64_t p0, std::int64_t kc, int nr,
            T* dst) {
  switch (nr) {
    case 4: return pack_b_nr<4>(trans_b, B, ldb, N, j0, panel0, panel1, p0, kc, dst);
    case 8: return pack_b_nr<8>(trans_b, B, ldb, N, j0, panel0, panel1, p0, kc, dst);
    case 16: return pack_b_nr<16>(trans_b, B, ldb, N, j0, panel0, panel1, p0, kc, dst);
    case 32: return pack_b_nr<32>(trans_b, B, ldb, N, j0, panel0, panel1, p0, kc, dst);
    default: std::abort();
  }
}

// ---- the problem, as every team member sees it ------------------------------------------------
template <class T>
struct GemmProblem {
  bool trans_a = false, trans_b = false;
  std::int64_t M = 0, N = 0, K = 0;
  T alpha = T(1);
  const T* A = nullptr;
  std::int64_t lda = 0;
  const T* B = nullptr;
  std::int64_t ldb = 0;
  T beta = T(0);
  T* C = nullptr;
  std::int64_t ldc = 0;
  const T* bias = nullptr;  // N values or nullptr
  bool relu = false;
  // Chosen by gemm_impl for the packed path.
  typename std::conditional<std::is_same<T, float>::value, gemm_detail::UkernelF32,
                            gemm_detail::UkernelF64>::type ukernel = nullptr;
  int mr = 0, nr = 0;
  // The ISA's packers for a non-transposed A and for full panels of a transposed B, if it has them.
  void (*pack_a_isa)(const T* a, std::int64_t lda, std::int64_t mc, std::int64_t kc,
                     T* dst) = nullptr;
  void (*pack_b_trans_isa)(const T* b, std::int64_t ldb, std::int64_t kc, T* dst) = nullptr;
  Blocking blk{};
  T* packed_b = nullptr;  // the team's shared B block, kc x nc
  TeamBarrier* barrier = nullptr;
};

// One MR x NR tile, full or at the matrix edge (m < mr or n < nr). Edge tiles go through a scratch
// tile so the kernel always sees a full tile and the edge gets the very same arithmetic.
template <class T>
void compute_tile(const GemmProblem<T>& pr, std::int64_t kc, const T* a, const T* b, std::int64_t i,
                  std::int64_t j, const UkernelEpilogue<T>& ep) {
  const int m = static_cast<int>(std::min<std::int64_t>(pr.mr, pr.M - i));
  const int n = static_cast<int>(std::min<std::int64_t>(pr.nr, pr.N - j));
  T* c = pr.C + i * pr.ldc + j;
  UkernelEpilogue<T> tile_ep = ep;
  if (ep.bias) tile_ep.bias = ep.bias + j;
  if (m == pr.mr && n == pr.nr) {
    pr.ukernel(kc, a, b, c, pr.ldc, &tile_ep);
    return;
  }
  alignas(kPackAlign) T scratch[kMaxMR * kMaxNR];
  alignas(kPackAlign) T bias_pad[kMaxNR];
  const int ld = pr.nr;
  if (ep.beta != T(0)) {
    for (int r = 0; r < m; ++r)
      for (int col = 0; col < n; ++col) scratch[r * ld + col] = c[r * pr.ldc + col];
  }
  if (ep.bias) {
    for (int col = 0; col < pr.nr; ++col) bias_pad[col] = col < n ? tile_ep.bias[col] : T(0);
    tile_ep.bias = bias_pad;
  }
  // Rows/columns outside the matrix hold garbage when beta != 0; they are computed and dropped.
  pr.ukernel(kc, a, b, scratch, ld, &tile_ep);
  for (int r = 0; r < m; ++r)
    for (int col = 0; col < n; ++col) c[r * pr.ldc + col] = scratch[r * ld + col];
}

// Splits a team of nt threads into tm x tn (tm over M tiles, tn over N panels), minimizing the most
// tiles any thread gets; ties go to the larger tm (then A is packed once and B shared).
void split_team(int nt, std::int64_t m_tiles, std::int64_t n_panels, int* tm, int* tn) {
  std::int64_t best_cost = -1;
  for (int cand = nt; cand >= 1; --cand) {
    if (nt % cand) continue;
    const std::int64_t cost =
        ((m_tiles + cand - 1) / cand) * ((n_panels + nt / cand - 1) / (nt / cand));
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      *tm = cand;
      *tn = nt / cand;
    }
  }
}

// Packs the B micro-panels [q0, q1) of the block at columns jc, rows [pc, pc+kc) into dst (panel q
// at dst + q*nr*kc), with the ISA's packer for full panels of a transposed B when it has one.
template <class T>
void pack_b_panels(const GemmProblem<T>& pr, std::int64_t jc, std::int64_t q0, std::int64_t q1,
                   std::int64_t pc, std::int64_t kc, T* dst) {
  if (!(pr.pack_b_trans_isa && pr.trans_b)) {
    pack_b(pr.trans_b, pr.B, pr.ldb, pr.N, jc, q0, q1, pc, kc, pr.nr, dst);
    return;
  }
  for (std::int64_t q = q0; q < q1; ++q) {
    const std::int64_t j = jc + q * pr.nr;
    if (j + pr.nr <= pr.N)
      pr.pack_b_trans_isa(pr.B + j * pr.ldb + pc, pr.ldb, kc, dst + q * pr.nr * kc);
    else
      pack_b(true, pr.B, pr.ldb, pr.N, jc, q, q + 1, pc, kc, pr.nr, dst);
  }
}

// Packs op(A) rows [ic, ic+mc), columns [pc, pc+kc) into dst (the ISA's packer when it has one).
template <class T>
void pack_a_block(const GemmProblem<T>& pr, std::int64_t ic, std::int64_t mc, std::int64_t pc,
                  std::int64_t kc, T* dst) {
  if (pr.pack_a_isa && !pr.trans_a)
    pr.pack_a_isa(pr.A + ic * pr.lda + pc, pr.lda, mc, kc, dst);
  else
    pack_a(pr.trans_a, pr.A, pr.lda, ic, mc, pc, kc, pr.mr, dst);
}

// The epilogue of K block [pc, pc+kc): later K blocks accumulate onto the first's result, and bias
// and relu wait for the last.
template <class T>
UkernelEpilogue<T> block_epilogue(const GemmProblem<T>& pr, std::int64_t pc, std::int64_t kc) {
  const bool last_k_block = pc + kc == pr.K;
  UkernelEpilogue<T> ep;
  ep.alpha = pr.alpha;
  ep.beta = pc == 0 ? pr.beta : T(1);
  ep.bias = last_k_block ? pr.bias : nullptr;
  ep.relu = last_k_block && pr.relu;
  return ep;
}

// The tiles of rows [ic, ic+mc) (packed in packed_a) times one packed B micro-panel b at column j.
// Full tiles call the kernel directly (the common case, kept free of per-tile work); edge tiles go
// through compute_tile's scratch tile. Each tile also prefetches a slice of [next, next_end), the
// caller's next B micro-panel (see gemm_team_member).
template <class T>
void panel_tiles(const GemmProblem<T>& pr, const T* packed_a, std::int64_t ic, std::int64_t mc,
                 const T* b, std::int64_t j, std::int64_t kc, const UkernelEpilogue<T>& ep,
                 const char* next, const char* next_end, std::int64_t slice) {
  const int mr = pr.mr;
  UkernelEpilogue<T> tile_ep = ep;
  if (ep.bias) tile_ep.bias = ep.bias + j;
  const bool full_cols = j + pr.nr <= pr.N;
  for (std::int64_t ir = 0, t = 0; ir < mc; ir += mr, ++t) {
    const char* pf = next + t * slice;
    const char* pf_end = std::min(pf + slice, next_end);
    for (; pf < pf_end; pf += 64) __builtin_prefetch(pf, 0, 2);
    const std::int64_t i = ic + ir;
    if (full_cols && i + mr <= pr.M)
      pr.ukernel(kc, packed_a + ir * kc, b, pr.C + i * pr.ldc + j, pr.ldc, &tile_ep);
    else
      compute_tile(pr, kc, packed_a + ir * kc, b, i, j, ep);
  }
}

// The loop nest run by each member tid of a team of nt (nt == 1: the whole GEMM on this thread).
template <class T>
void gemm_team_member(const GemmProblem<T>& pr, int tid, int nt) {
  const Blocking& blk = pr.blk;
  const int mr = pr.mr, nr = pr.nr;
  T* packed_a =
      static_cast<T*>(tls_pack_a.ensure(sizeof(T) * (blk.mc * blk.kc + gemm_detail::kPackSlack)));
  const std::int64_t m_tiles = (pr.M + mr - 1) / mr;

  for (std::int64_t jc = 0; jc < pr.N; jc += blk.nc) {
    const std::int64_t nc = std::min(blk.nc, pr.N - jc);
    const std::int64_t n_panels = (nc + nr - 1) / nr;
    int tm = 1, tn = 1;
    split_team(nt, m_tiles, n_panels, &tm, &tn);
    const int ti = tid % tm, tj = tid / tm;
    const std::int64_t tile0 = m_tiles * ti / tm, tile1 = m_tiles * (ti + 1) / tm;
    const std::int64_t panel0 = n_panels * tj / tn, panel1 = n_panels * (tj + 1) / tn;

    for (std::int64_t pc = 0; pc < pr.K; pc += blk.kc) {
      const std::int64_t kc = std::min(blk.kc, pr.K - pc);
      const UkernelEpilogue<T> ep = block_epilogue(pr, pc, kc);

      // Every member packs a slice of the shared B block, then waits for the others' slices.
      pack_b_panels(pr, jc, n_panels * tid / nt, n_panels * (tid + 1) / nt, pc, kc, pr.packed_b);
      pr.barrier->arrive_and_wait();

      for (std::int64_t t = tile0; t < tile1; t += blk.mc / mr) {
        const std::int64_t ic = t * mr;
        const std::int64_t mc = std::min({blk.mc, pr.M - ic, (tile1 - t) * mr});
        pack_a_block(pr, ic, mc, pc, kc, packed_a);
        // The next B micro-panel is in L3 (a large B block does not fit L2); pull it toward L2 a
        // slice per tile while this panel's tiles run, so the next panel's first tile does not
        // stall on it (as BLIS's kernels prefetch their next panel). A panel is kc*nr elements,
        // spread over the mc/mr tiles. On the shared 2-core Zen 3 it measured within noise of
        // none (1024^3: +0..5% median thread-CPU time); it costs ~1 instruction per 64 FMAs.
        const std::int64_t panel_bytes = kc * nr * std::int64_t(sizeof(T));
        const std::int64_t tiles_here = (mc + mr - 1) / mr;
        const std::int64_t slice = (panel_bytes / 64 + tiles_here - 1) / tiles_here * 64;
        for (std::int64_t q = panel0; q < panel1; ++q) {
          const T* b = pr.packed_b + q * nr * kc;
          const char* next = reinterpret_cast<const char*>(b + nr * kc);
          const char* next_end = q + 1 < panel1 ? next + panel_bytes : next;
          panel_tiles(pr, packed_a, ic, mc, b, jc + q * nr, kc, ep, next, next_end, slice);
        }
      }
      pr.barrier->arrive_and_wait();  // nobody repacks B while another member still reads it
    }
  }
}

// ---- mid-size products: work shared out to helpers ---------------------------------------------
// Note [Helper-shared GEMM]: from kHelperMinWork multiply-adds, with more than one thread, up to
// products whose whole packed B fits in a quarter of L3, the team is run_helpers's: no member waits
// for another to arrive, so a worker that is not awake costs the caller nothing; it joins when it
// wakes, or never. That matters on small VMs: a worker idle for a while starts late after it is
// woken (its vCPU has halted), as late as a whole 256^3 product takes, and the team path's barriers
// then stall the caller (docs/performance.md); the dynamic tasks also balance a core slowed by its
// neighbours. The work is two queues drawn from shared counters: first the B micro-panels of every
// K block (packed once, into one buffer, each marked ready when done), then tasks of rows x panel
// groups (each packs its own A rows, then runs its tiles, waiting only for panels another running
// member is packing at that moment). Every tile gets the same kernel, K blocks and epilogues as in
// gemm_team_member (and the unpacked kernel's arithmetic), so the results are bit-identical to the
// other paths and to any team.
template <class T>
void gemm_helper_shared(const GemmProblem<T>& pr) {
  const Blocking& blk = pr.blk;
  const int mr = pr.mr, nr = pr.nr;
  const std::int64_t n_panels = (pr.N + nr - 1) / nr;
  const std::int64_t m_tiles = (pr.M + mr - 1) / mr;
  const std::int64_t k_blocks = (pr.K + blk.kc - 1) / blk.kc;
  const std::int64_t block_stride = blk.kc * nr * n_panels;  // elements between K blocks' panels
  T* packed_b = static_cast<T*>(tls_pack_b.ensure(sizeof(T) * block_stride * k_blocks));
  const int nt = num_threads();
  // Tasks: row blocks of whole A rows when there are enough row tiles, 16 per thread, so the member
  // that finishes first waits at most a short task for the other (2 threads, 256^3 .. 1024^3 and
  // the MLP's products: 4-6% faster than 4 per thread; 32 the same). Else groups of panels, 4 per
  // thread: each packs all of the (short) A again, a cost of groups / N of the arithmetic.
  const std::int64_t row_blocks = m_tiles >= 2 * nt ? std::min<std::int64_t>(m_tiles, 16 * nt) : 1;
  const std::int64_t panel_groups = row_blocks > 1 ? 1 : std::min<std::int64_t>(n_panels, 4 * nt);
  const std::int64_t n_tasks = row_blocks * panel_groups;
  const std::int64_t n_packs = k_blocks * n_panels;
  std::vector<std::atomic<int>> ready(static_cast<std::size_t>(n_packs));  // zero: not packed
  std::atomic<std::int64_t> next_pack{0}, next_task{0};

  run_helpers(nt, [&](int, int) {
    for (std::int64_t i = next_pack.fetch_add(1); i < n_packs; i = next_pack.fetch_add(1)) {
      const std::int64_t pc = i / n_panels * blk.kc, q = i % n_panels;
      pack_b_panels(pr, 0, q, q + 1, pc, std::min(blk.kc, pr.K - pc),
                    packed_b + i / n_panels * block_stride);
      ready[i].store(1, std::memory_order_release);
    }
    // A task's rows pack in MC-row pieces, as in gemm_team_member.
    T* packed_a =
        static_cast<T*>(tls_pack_a.ensure(sizeof(T) * (blk.mc * blk.kc + gemm_detail::kPackSlack)));
    for (std::int64_t task = next_task.fetch_add(1); task < n_tasks;
         task = next_task.fetch_add(1)) {
      const std::int64_t rb = task / panel_groups, g = task % panel_groups;
      const std::int64_t tile0 = m_tiles * rb / row_blocks, tile1 = m_tiles * (rb + 1) / row_blocks;
      const std::int64_t q0 = n_panels * g / panel_groups, q1 = n_panels * (g + 1) / panel_groups;
      for (std::int64_t pc = 0, kb = 0; pc < pr.K; pc += blk.kc, ++kb) {
        const std::int64_t kc = std::min(blk.kc, pr.K - pc);
        const UkernelEpilogue<T> ep = block_epilogue(pr, pc, kc);
        for (std::int64_t t = tile0; t < tile1; t += blk.mc / mr) {
          const std::int64_t ic = t * mr;
          const std::int64_t mc = std::min({blk.mc, pr.M - ic, (tile1 - t) * mr});
          pack_a_block(pr, ic, mc, pc, kc, packed_a);
          for (std::int64_t q = q0; q < q1; ++q) {
            const std::int64_t i = kb * n_panels + q;
            for (int spin = 0; ready[i].load(std::memory_order_acquire) == 0; ++spin) {
              if (spin >= 4096) std::this_thread::yield();  // its packer was preempted
            }
            const T* b = packed_b + kb * block_stride + q * nr * kc;
            panel_tiles(pr, packed_a, ic, mc, b, q * nr, kc, ep, nullptr, nullptr, 0);
          }
        }
      }
    }
  });
}

// ---- small cases ------------------------------------------------------------------------------
// apply_epilogue, rows_update and the direct path for tiny products (also compiled per ISA).
#include "gemm_direct.inc"

// K == 0 or alpha == 0: C = act(beta*C + bias); A and B are not read (as BLAS does).
template <class T>
void scale_c(std::int64_t M, std::int64_t N, T beta, T* C, std::int64_t ldc, const T* bias,
             bool relu) {
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j)
      C[i * ldc + j] = apply_epilogue(T(0), T(0), beta, C + i * ldc + j, bias, j, relu);
}

// Small float products through the unpacked kernel: B's column panels outer (a K x NR panel stays
// in L1 across the row tiles), A's row tiles inner. Edge tiles read zero-padded copies of the last
// rows of A / columns of B (built once) and write through a scratch tile, so the kernel always sees
// a full tile and the edges get the very same arithmetic.
void gemm_sup_f32(const GemmProblem<float>& pr, gemm_detail::UkernelSupF32 sup, int mr, int nr) {
  const std::int64_t M = pr.M, N = pr.N, K = pr.K;
  const std::int64_t rs_a = pr.trans_a ? 1 : pr.lda, cs_a = pr.trans_a ? pr.lda : 1;
  const std::int64_t m_edge = M % mr, n_edge = N % nr;
  float* a_pad = nullptr;  // the last m_edge rows of op(A), then zero rows: mr x K, row-major
  float* b_pad = nullptr;  // the last n_edge columns of B, then zero columns: K x nr
  if (m_edge) {
    a_pad = static_cast<float*>(tls_pack_a.ensure(sizeof(float) * mr * K));
    const float* a_last = pr.A + (M - m_edge) * rs_a;
    for (int r = 0; r < mr; ++r)
      for (std::int64_t p = 0; p < K; ++p)
        a_pad[r * K + p] = r < m_edge ? a_last[r * rs_a + p * cs_a] : 0.0f;
  }
  if (n_edge) {
    b_pad = static_cast<float*>(tls_pack_b.ensure(sizeof(float) * K * nr));
    const float* b_last = pr.B + (N - n_edge);
    for (std::int64_t p = 0; p < K; ++p)
      for (int c = 0; c < nr; ++c) b_pad[p * nr + c] = c < n_edge ? b_last[p * pr.ldb + c] : 0.0f;
  }
  alignas(kPackAlign) float scratch[kMaxMR * kMaxNR];
  alignas(kPackAlign) float bias_pad[kMaxNR];
  for (std::int64_t j = 0; j < N; j += nr) {
    const int n = static_cast<int>(std::min<std::int64_t>(nr, N - j));
    const float* b = n == nr ? pr.B + j : b_pad;
    const std::int64_t ldb = n == nr ? pr.ldb : nr;
    UkernelEpilogue<float> ep{pr.alpha, pr.beta, nullptr, pr.relu};
    if (pr.bias && n == nr) {
      ep.bias = pr.bias + j;
    } else if (pr.bias) {
      for (int c = 0; c < nr; ++c) bias_pad[c] = c < n ? pr.bias[j + c] : 0.0f;
      ep.bias = bias_pad;
    }
    for (std::int64_t i = 0; i < M; i += mr) {
      const int m = static_cast<int>(std::min<std::int64_t>(mr, M - i));
      const float* a = m == mr ? pr.A + i * rs_a : a_pad;
      const std::int64_t rs = m == mr ? rs_a : K, cs = m == mr ? cs_a : 1;
      float* c = pr.C + i * pr.ldc + j;
      if (m == mr && n == nr) {
        sup(K, a, rs, cs, b, ldb, c, pr.ldc, &ep);
        continue;
      }
      if (pr.beta != 0.0f)
        for (int r = 0; r < m; ++r)
          for (int col = 0; col < n; ++col) scratch[r * nr + col] = c[r * pr.ldc + col];
      sup(K, a, rs, cs, b, ldb, scratch, nr, &ep);
      for (int r = 0; r < m; ++r)
        for (int col = 0; col < n; ++col) c[r * pr.ldc + col] = scratch[r * nr + col];
    }
  }
}

template <class T>
void gemm_impl(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
               const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
               std::int64_t ldc, const T* bias, bool relu) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc, bias, relu);
    return;
  }
  const GemmKernelTable& table = gemm_detail::gemm_kernel_table();
  GemmProblem<T> pr;
  pr.trans_a = trans_a;
  pr.trans_b = trans_b;
  pr.M = M;
  pr.N = N;
  pr.K = K;
  pr.alpha = alpha;
  pr.A = A;
  pr.lda = lda;
  pr.B = B;
  pr.ldb = ldb;
  pr.beta = beta;
  pr.C = C;
  pr.ldc = ldc;
  pr.bias = bias;
  pr.relu = relu;
  const std::int64_t work = M * N * K;
  if (work <= kDirectMaxWork || N == 1) {  // N == 1 is a matrix-vector product: nothing to reuse
    const DirectGemm<T> d{trans_a, trans_b, M,    N, K,   alpha, A,   lda,
                          B,       ldb,     beta, C, ldc, bias,  relu};
    if (const auto isa_direct = Ukernel<T>::direct(table))
      isa_direct(&d);
    else
      gemm_direct(d);
    return;
  }
  pr.ukernel = Ukernel<T>::fn(table);
  pr.mr = Ukernel<T>::mr(table);
  pr.nr = Ukernel<T>::nr(table);
  pr.blk = blocking_for(pr.mr, pr.nr, sizeof(T));
  if constexpr (std::is_same<T, float>::value) {
    pr.pack_a_isa = table.pack_a_f32;
    pr.pack_b_trans_isa = table.pack_b_trans_f32;
  } else {
    pr.pack_a_isa = table.pack_a_f64;
    pr.pack_b_trans_isa = table.pack_b_trans_f64;
  }

  const std::int64_t n_padded = (N + pr.nr - 1) / pr.nr * pr.nr;
  if (work >= kHelperMinWork && num_threads() > 1 && n_padded <= pr.blk.nc &&
      n_padded * K * std::int64_t(sizeof(T)) <= gemm_helper_max_packed_b()) {
    gemm_helper_shared(pr);
    return;
  }
  if constexpr (std::is_same<T, float>::value) {
    if (table.sup_f32 && !trans_b && work <= kSupMaxWork && K <= kSupMaxK) {
      gemm_sup_f32(pr, table.sup_f32, table.mr_f32, table.nr_f32);
      return;
    }
  }
  const std::int64_t nc_max = std::min(pr.blk.nc, n_padded);
  const std::int64_t kc_max = std::min(pr.blk.kc, K);
  pr.packed_b = static_cast<T*>(tls_pack_b.ensure(sizeof(T) * nc_max * kc_max));

  // Threads only pay off with enough work, and only up to one tile per thread.
  const std::int64_t tiles = ((M + pr.mr - 1) / pr.mr) * ((N + pr.nr - 1) / pr.nr);
  const int max_threads =
      work < kThreadMinWork ? 1 : static_cast<int>(std::min<std::int64_t>(num_threads(), tiles));
  // run_team answers with the full team or, when the pool is busy or we are inside a team, with a
  // team of one on this thread; the barrier must match whichever it is.
  TeamBarrier team_barrier(max_threads), solo_barrier(1);
  run_team(max_threads, [&](int tid, int team_size) {
    GemmProblem<T> member = pr;
    member.barrier = team_size == 1 ? &solo_barrier : &team_barrier;
    gemm_team_member(member, tid, team_size);
  });
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
          std::int64_t ldc) {
  gemm_impl<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nullptr, false);
}

template <class T>
void gemm_bias_act(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                   const T* A, std::int64_t lda, const T* B, std::int64_t ldb, const T* bias,
                   bool relu, T* C, std::int64_t ldc) {
  gemm_impl<T>(trans_a, trans_b, M, N, K, T(1), A, lda, B, ldb, T(0), C, ldc, bias, relu);
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                          std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double,
                           const double*, std::int64_t, const double*, std::int64_t, double,
                           double*, std::int64_t);
template void gemm_bias_act<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t,
                                   const float*, std::int64_t, const float*, std::int64_t,
                                   const float*, bool, float*, std::int64_t);
template void gemm_bias_act<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t,
                                    const double*, std::int64_t, const double*, std::int64_t,
                                    const double*, bool, double*, std::int64_t);

}  // namespace tg::kernels
