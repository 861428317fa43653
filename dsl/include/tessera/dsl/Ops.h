//===- Ops.h - The DSL's operations on tiles and scalars --------*- C++ -*-===//
#ifndef TESSERA_DSL_OPS_H
#define TESSERA_DSL_OPS_H

#include "tessera/dsl/KernelBuilder.h"

#include <functional>

namespace tessera::dsl {

enum class Padding { Zero, NaN };

// --- Program ids -----------------------------------------------------------
Scalar program_id(int axis, SourceLoc loc = SourceLoc::current());
Scalar num_programs(int axis, SourceLoc loc = SourceLoc::current());

// --- Scalars ---------------------------------------------------------------
Scalar operator+(const Scalar &a, const Scalar &b);
Scalar operator-(const Scalar &a, const Scalar &b);
Scalar operator*(const Scalar &a, const Scalar &b);
/// Integer division rounding toward zero; float division for f32.
Scalar operator/(const Scalar &a, const Scalar &b);
Scalar operator%(const Scalar &a, const Scalar &b);
Scalar min(const Scalar &a, const Scalar &b);
Scalar max(const Scalar &a, const Scalar &b);
/// ceil(a / b) for non-negative i32 scalars.
Scalar cdiv(const Scalar &a, const Scalar &b);
Scalar f32(double v);
Scalar to_f32(const Scalar &a);
/// Comparisons of scalars (i32 signed; f32 ordered): boolean scalars, the
/// conditions of if_.
Scalar operator<(const Scalar &a, const Scalar &b);
Scalar operator<=(const Scalar &a, const Scalar &b);
Scalar operator>(const Scalar &a, const Scalar &b);
Scalar operator>=(const Scalar &a, const Scalar &b);
Scalar operator==(const Scalar &a, const Scalar &b);
Scalar operator!=(const Scalar &a, const Scalar &b);
/// cond ? a : b for scalars (a boolean condition; a and b of one type, or
/// an i32 and an f32, which becomes f32).
Scalar where(const Scalar &cond, const Scalar &a, const Scalar &b);

// --- Memory ----------------------------------------------------------------
/// Loads the block of `shape` whose first element is at `offsets` of `t`;
/// elements outside `t` read as `padding`.
Tile load(const TensorArg &t, const std::vector<Scalar> &offsets, const std::vector<int64_t> &shape,
          Padding padding = Padding::Zero, SourceLoc loc = SourceLoc::current());
/// Gathers rows of the 2-D tensor `t`: row r of the (rows' length) x `width`
/// result is `t`'s row rows[r] from column `col` on. Rows outside `t` (an
/// index of -1, say) and columns past it read as `padding`.
Tile gather_rows(const TensorArg &t, const Tile &rows, const Scalar &col, int64_t width,
                 Padding padding = Padding::Zero, SourceLoc loc = SourceLoc::current());
/// Stores `value` at `offsets` of `t`; elements outside `t` are not written.
void store(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
           SourceLoc loc = SourceLoc::current());
/// As Triton's masked load and store: elements whose `mask` (boolean,
/// broadcast to the block) is false read `other` (in `t`'s dtype) or are not
/// written. Elements outside `t` read 0 where the mask is true.
Tile load(const TensorArg &t, const std::vector<Scalar> &offsets, const std::vector<int64_t> &shape,
          const Tile &mask, double other, SourceLoc loc = SourceLoc::current());
void store(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
           const Tile &mask, SourceLoc loc = SourceLoc::current());
/// Adds the f32 `value` into the f32 tensor `t` at `offsets`, each element
/// atomically: programs may add into the same elements (a gradient summed
/// over programs). Elements outside `t` are dropped; the order of the adds
/// between programs is unspecified, so sums may differ in the last bits.
void atomic_add(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
                SourceLoc loc = SourceLoc::current());

/// Read-modify-writes of `t` at `offsets`, each element atomically (relaxed,
/// GPU scope), returning the old values: the element becomes the maximum,
/// the minimum or the sum of it and `value`'s, or (xchg) `value`'s. f32 or
/// i32 tiles into tensors of the same dtype (max and min of i32 signed).
/// Elements outside `t` are not touched and return 0. As Triton's
/// tl.atomic_max and friends.
Tile atomic_max(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
                SourceLoc loc = SourceLoc::current());
Tile atomic_min(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
                SourceLoc loc = SourceLoc::current());
Tile atomic_xchg(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
                 SourceLoc loc = SourceLoc::current());
Tile atomic_fetch_add(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
                      SourceLoc loc = SourceLoc::current());
/// Compare-and-swap of the i32 tensor `t` at `offsets`: each element equal
/// to `cmp`'s becomes `value`'s, atomically; returns the old values (a swap
/// won where old == cmp). Elements outside `t` are not touched and return 0.
Tile atomic_cas(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &cmp,
                const Tile &value, SourceLoc loc = SourceLoc::current());

// --- Construction ----------------------------------------------------------
/// [0, 1, ..., n-1] as i32.
Tile arange(int64_t n, SourceLoc loc = SourceLoc::current());
Tile full(const std::vector<int64_t> &shape, double value, DType dtype,
          SourceLoc loc = SourceLoc::current());
Tile zeros(const std::vector<int64_t> &shape, DType dtype, SourceLoc loc = SourceLoc::current());
/// A tile of `shape` filled with a run-time scalar.
Tile splat(const Scalar &s, const std::vector<int64_t> &shape,
           SourceLoc loc = SourceLoc::current());

// --- Shape -----------------------------------------------------------------
Tile expand_dims(const Tile &t, int axis, SourceLoc loc = SourceLoc::current());
Tile broadcast_to(const Tile &t, const std::vector<int64_t> &shape,
                  SourceLoc loc = SourceLoc::current());
Tile trans(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile cast(const Tile &t, DType to, SourceLoc loc = SourceLoc::current());
/// The f32 tile rounded to the nearest tf32 value, ties away from zero (as
/// cvt.rna.tf32.f32): the low 13 mantissa bits cleared after adding half of
/// the lowest kept one. For tensors written for TensorArg::assumeRoundedToTf32.
Tile round_to_tf32(const Tile &t, SourceLoc loc = SourceLoc::current());

// --- Random numbers ----------------------------------------------------------
/// Philox4x32-10 of each offset under `seed`: 32 random bits per element (an
/// i32 tile of `offsets`' shape), the same on every GPU and the interpreter,
/// and a pure function of (seed, offset) as Triton's tl.randint: a kernel
/// and its backward regenerate the same numbers. tessera::testkit::philox
/// computes them on the host.
Tile randint(const Scalar &seed, const Tile &offsets, SourceLoc loc = SourceLoc::current());
/// Uniform f32 in [0, 1) from randint's top 24 bits (as Triton's tl.rand).
Tile rand(const Scalar &seed, const Tile &offsets, SourceLoc loc = SourceLoc::current());

// --- Elementwise (shapes broadcast as in NumPy) ------------------------------
Tile operator+(const Tile &a, const Tile &b);
Tile operator-(const Tile &a, const Tile &b);
Tile operator*(const Tile &a, const Tile &b);
Tile operator/(const Tile &a, const Tile &b);
Tile operator-(const Tile &a);
Tile operator+(const Tile &a, const Scalar &b);
Tile operator-(const Tile &a, const Scalar &b);
Tile operator*(const Tile &a, const Scalar &b);
Tile operator/(const Tile &a, const Scalar &b);
Tile operator+(const Scalar &a, const Tile &b);
Tile operator-(const Scalar &a, const Tile &b);
Tile operator*(const Scalar &a, const Tile &b);
/// Tile with a C++ constant, in the tile's dtype.
Tile operator+(const Tile &a, double b);
Tile operator-(const Tile &a, double b);
Tile operator*(const Tile &a, double b);
Tile operator/(const Tile &a, double b);
Tile operator<(const Tile &a, const Tile &b);
Tile operator<=(const Tile &a, const Tile &b);
Tile operator>(const Tile &a, const Tile &b);
Tile operator>=(const Tile &a, const Tile &b);
Tile operator==(const Tile &a, const Tile &b);
Tile operator!=(const Tile &a, const Tile &b);
Tile operator<(const Tile &a, const Scalar &b);
Tile operator>=(const Tile &a, const Scalar &b);
/// Bitwise on i32 or i1 tiles.
Tile operator&(const Tile &a, const Tile &b);
Tile operator|(const Tile &a, const Tile &b);
Tile operator^(const Tile &a, const Tile &b);
/// Shifts of i32 tiles (>> keeps the sign), the count taken modulo 32.
Tile operator<<(const Tile &a, const Tile &b);
Tile operator>>(const Tile &a, const Tile &b);
/// Remainder with the dividend's sign (C's % and fmod).
Tile operator%(const Tile &a, const Tile &b);
/// cond ? a : b, elementwise.
Tile where(const Tile &cond, const Tile &a, const Tile &b, SourceLoc loc = SourceLoc::current());
Tile maximum(const Tile &a, const Tile &b, SourceLoc loc = SourceLoc::current());
Tile minimum(const Tile &a, const Tile &b, SourceLoc loc = SourceLoc::current());
Tile exp(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile exp2(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile log(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile log2(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile sqrt(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile rsqrt(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile abs(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile tanh(const Tile &t, SourceLoc loc = SourceLoc::current());
/// sin and cos: reduced to [-pi, pi] (Cody-Waite, two constants), then the
/// hardware's approximation (absolute error about 1e-6 there); larger
/// arguments lose what the reduction loses (|x| up to about 1e5 is fine).
Tile sin(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile cos(const Tile &t, SourceLoc loc = SourceLoc::current());
/// The error function, absolute error below 2e-6 (Abramowitz & Stegun
/// 7.1.26, 1.5e-7, computed in f32 with the hardware's exp2 and an
/// approximate reciprocal; near 0, 1 - t·P(t)·e^(-x²) cancels).
Tile erf(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile floor(const Tile &t, SourceLoc loc = SourceLoc::current());
Tile ceil(const Tile &t, SourceLoc loc = SourceLoc::current());
/// 1 / (1 + e^-t), computed in f32.
Tile sigmoid(const Tile &t, SourceLoc loc = SourceLoc::current());
/// a·b + c with one rounding (shapes broadcast).
Tile fma(const Tile &a, const Tile &b, const Tile &c, SourceLoc loc = SourceLoc::current());
/// 1/t within 2 ulp, as an approximate division (arith.divf with fastmath
/// afn: rcp.approx / div.approx). NVIDIA GPUs have no IEEE division
/// instruction; ptxas expands one into a subroutine call, and any call makes
/// it serialize every wgmma of the kernel (C7509). For f32 tiles.
Tile reciprocal(const Tile &t, SourceLoc loc = SourceLoc::current());
/// x[i, j]·factor[i]: the rows of a 2-D float tile scaled by a factor that
/// is mostly exactly 1, like the online softmax's exp2(m_old - m_new) once
/// the row maxima settle. The result of x * expand_dims(factor, 1), with the
/// multiply marked (tile::kSkipUnitFactorAttr) so that each warp whose
/// factors are all 1 skips it: x·1 is x for every float.
Tile rescale_rows(const Tile &x, const Tile &factor, SourceLoc loc = SourceLoc::current());

// --- Reductions ------------------------------------------------------------
/// Reduce along `axis`; the result has the operand's shape without it (a 1-D
/// operand reduces to a tile of shape [1]).
Tile reduce_sum(const Tile &t, int axis, SourceLoc loc = SourceLoc::current());
Tile reduce_max(const Tile &t, int axis, SourceLoc loc = SourceLoc::current());
Tile reduce_min(const Tile &t, int axis, SourceLoc loc = SourceLoc::current());
/// The index (i32) along `axis` of the largest / smallest element, the first
/// of equal ones, as Triton's tl.argmax / tl.argmin; the shape of
/// reduce_max's. 1- and 2-D tiles; for rows holding NaN the index is the
/// axis' length.
Tile argmax(const Tile &t, int axis, SourceLoc loc = SourceLoc::current());
Tile argmin(const Tile &t, int axis, SourceLoc loc = SourceLoc::current());

/// A combine function of reduce and associative_scan: two scalars of the
/// tile's element type in (f32 for f16 and bf16 tiles, which combine in f32
/// and round once at the end), one of that type out. Built from scalar
/// operations only (+, *, min, max, comparisons, where).
using Combine = std::function<Scalar(const Scalar &, const Scalar &)>;
/// Reduce along `axis` with `combine`, which must be associative and
/// commutative: elements meet in an order of the compiler's choosing (as
/// Triton's tl.reduce). The shape of reduce_sum's.
Tile reduce(const Tile &t, int axis, const Combine &combine, SourceLoc loc = SourceLoc::current());
/// The inclusive scan along `axis`: result[i] = t[0] ⊕ t[1] ⊕ ... ⊕ t[i],
/// combined in that order (`combine` must be associative, need not be
/// commutative); with `reverse`, result[i] = t[i] ⊕ ... ⊕ t[n-1] from the
/// end. The shape of `t` (as Triton's tl.associative_scan).
Tile associative_scan(const Tile &t, int axis, const Combine &combine, bool reverse = false,
                      SourceLoc loc = SourceLoc::current());
/// Several tiles of one shape reduced or scanned together (a value and its
/// index; Welford's count, mean and M2): the combine function takes the
/// elements of each tile from the left and from the right, and returns one
/// per tile. As Triton's tuple reductions and scans.
using CombineN =
    std::function<std::vector<Scalar>(const std::vector<Scalar> &, const std::vector<Scalar> &)>;
std::vector<Tile> reduce(const std::vector<Tile> &ts, int axis, const CombineN &combine,
                         SourceLoc loc = SourceLoc::current());
std::vector<Tile> associative_scan(const std::vector<Tile> &ts, int axis, const CombineN &combine,
                                   bool reverse = false, SourceLoc loc = SourceLoc::current());
/// Running sums and products along `axis` (scans with + and *).
Tile cumsum(const Tile &t, int axis, bool reverse = false, SourceLoc loc = SourceLoc::current());
Tile cumprod(const Tile &t, int axis, bool reverse = false, SourceLoc loc = SourceLoc::current());

// --- Matrix product --------------------------------------------------------
/// How f32 operands are multiplied (16-bit ones always run on tensor cores):
/// `ieee` in full f32, `tf32` rounded to TF32 on tensor cores (Triton's
/// input_precision; ~1e-3 relative error per product, 8x the throughput).
enum class DotPrecision { ieee, tf32 };

/// a (MxK) · b (KxN) + acc (MxN, f32).
Tile dot(const Tile &a, const Tile &b, const Tile &acc, SourceLoc loc = SourceLoc::current());
Tile dot(const Tile &a, const Tile &b, SourceLoc loc = SourceLoc::current());
Tile dot(const Tile &a, const Tile &b, const Tile &acc, DotPrecision precision,
         SourceLoc loc = SourceLoc::current());
Tile dot(const Tile &a, const Tile &b, DotPrecision precision,
         SourceLoc loc = SourceLoc::current());

// --- Control flow ----------------------------------------------------------
/// for (i = lo; i < hi; i += step) carried = body(i, carried); returns the
/// final carried tiles. The body must return tiles of the same types.
std::vector<Tile>
for_range(const Scalar &lo, const Scalar &hi, const Scalar &step, const std::vector<Tile> &init,
          const std::function<std::vector<Tile>(Scalar, const std::vector<Tile> &)> &body,
          SourceLoc loc = SourceLoc::current());

/// Prints each element of `t` (or the scalar) from the device, one line per
/// element: `prefix pid (x, y, z) idx (i, j): value`, as Triton's
/// tl.device_print; on the interpreter in order, on the GPU in any order.
void device_print(const std::string &prefix, const Tile &t, SourceLoc loc = SourceLoc::current());
void device_print(const std::string &prefix, const Scalar &s, SourceLoc loc = SourceLoc::current());

/// Stops the kernel where an element of the boolean `cond` (or the scalar)
/// is false, with `message`, the file and line of the call, and the block
/// and thread, as Triton's tl.device_assert; the launch then fails with
/// CUDA_ERROR_ASSERT and the CUDA context is lost (the interpreter throws,
/// naming the program and element). Only in debug builds: with
/// TESSERA_DEBUG=1 in the process's environment (or after setDebug(true)),
/// else nothing is emitted.
void device_assert(const Tile &cond, const std::string &message,
                   SourceLoc loc = SourceLoc::current());
void device_assert(const Scalar &cond, const std::string &message,
                   SourceLoc loc = SourceLoc::current());
/// Whether device_assert emits its checks: TESSERA_DEBUG=1, read once, until
/// setDebug changes it. Debug kernels are cached apart from the others
/// (their Jit keys say so), so either kind may be launched after a change.
bool debugEnabled();
void setDebug(bool on);

/// if (cond) then(); else otherwise(); for a boolean scalar (a comparison).
/// The branches act through stores and atomics: tiles made in one stay in
/// it (to pick between tiles, use where).
void if_(const Scalar &cond, const std::function<void()> &then,
         const std::function<void()> &otherwise = nullptr, SourceLoc loc = SourceLoc::current());

} // namespace tessera::dsl

#endif
