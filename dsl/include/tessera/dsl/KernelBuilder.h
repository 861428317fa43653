//===- KernelBuilder.h - Writing tile kernels in C++ ------------*- C++ -*-===//
//
// Tessera's front end. A kernel is a C++ function that, given a
// KernelBuilder, declares its parameters and computes over whole tiles:
//
//   void vector_add(KernelBuilder &kb) {
//     TensorArg x = kb.tensor("x", DType::F32, 1), y = ..., out = ...;
//     Scalar start = program_id(0) * 1024;
//     store(out, {start}, load(x, {start}, {1024}) + load(y, {start}, {1024}));
//   }
//
// Values are `Tile` (a whole tile, a tensor in `tile` IR) and `Scalar` (one
// i32 or f32 per program). Compile-time constants are plain C++ values: they
// shape the IR, so each set of them is its own specialised kernel. The
// builder produces `tile` IR and nothing else. Shape errors that can be
// caught while building throw tessera::dsl::Error naming the op.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_DSL_KERNELBUILDER_H
#define TESSERA_DSL_KERNELBUILDER_H

#include "tessera/Support/DType.h"
#include "tessera/Support/Error.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace tessera::dsl {

/// Thrown for kernels that cannot be built (bad shapes, mixed dtypes, ...).
class Error : public tessera::Error {
public:
  using tessera::Error::Error;
};

/// Where in the user's source an op was written: becomes the op's location.
struct SourceLoc {
  const char *file;
  int line;
  static SourceLoc current(const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return {file, line};
  }
};

class KernelBuilder;

/// A parameter as the kernel declared it: what a launch must pass for it.
struct ParamDecl {
  enum class Kind { Tensor, I32, F32 };
  std::string name;
  Kind kind = Kind::I32;
  /// A tensor's element type; I32 or F32 for a scalar.
  DType dtype = DType::I32;
  /// A tensor's rank (0 for a scalar).
  unsigned rank = 0;
};

/// One value per program: an i32 (indices, sizes) or an f32.
class Scalar {
public:
  Scalar() = default;
  explicit Scalar(mlir::Value v) : value(v) {}
  /// An i32 constant.
  Scalar(int v);
  Scalar(int64_t v);

  mlir::Value getValue() const { return value; }
  bool isFloat() const;

private:
  mlir::Value value;
};

/// A whole tile: a statically shaped tensor of one dtype.
class Tile {
public:
  Tile() = default;
  explicit Tile(mlir::Value v) : value(v) {}

  mlir::Value getValue() const { return value; }
  mlir::RankedTensorType type() const;
  std::vector<int64_t> shape() const;
  DType dtype() const;
  int64_t rank() const { return type().getRank(); }

private:
  mlir::Value value;
};

/// A tensor parameter: a global pointer with run-time sizes and strides (in
/// elements), passed as ptr, sizes..., strides... (i32).
class TensorArg {
public:
  TensorArg() = default;
  TensorArg(std::string name, DType dtype, mlir::Value ptr, std::vector<Scalar> sizes,
            std::vector<Scalar> strides)
      : name(std::move(name)), elementType(dtype), ptr(ptr), sizes(std::move(sizes)),
        strides(std::move(strides)) {}

  const std::string &getName() const { return name; }
  DType dtype() const { return elementType; }
  unsigned rank() const { return sizes.size(); }
  mlir::Value basePointer() const { return ptr; }
  const Scalar &size(unsigned dim) const;
  const Scalar &stride(unsigned dim) const;

  /// The sub-tensor at fixed indices of the leading dimensions:
  /// `q.at({b, h})` of a (batch, heads, seq, dim) tensor is the (seq, dim)
  /// matrix of batch b, head h.
  TensorArg at(const std::vector<Scalar> &leading, SourceLoc loc = SourceLoc::current()) const;
  /// The same elements with the last two dimensions swapped (sizes and
  /// strides): a (seq, dim) matrix seen as (dim, seq), so that a tile
  /// computed transposed is stored or added where it belongs.
  TensorArg transposed() const;

  /// Promises that every element is a tf32 value already (f32 rounded to
  /// nearest tf32 by the kernel that wrote it): tf32 dots of the blocks
  /// loaded from it skip rounding them in shared memory. Kept by at() and
  /// transposed().
  TensorArg &assumeRoundedToTf32();
  bool roundedToTf32() const { return tf32Values; }

  /// Promises that the programs of a cluster (KernelBuilder::setClusterSize)
  /// load the same blocks of this tensor (a matmul's B for the row blocks of
  /// one column): TMA copies of them fetch each once per cluster and
  /// multicast it. Kept by at().
  TensorArg &sameBlocksInCluster();
  bool clusterShared() const { return sharedInCluster; }

  /// The launch found the tensor aligned for 16-byte vectors (base a multiple
  /// of 16 bytes, unit last stride, the other strides multiples of 16 bytes;
  /// KernelBuilder::setAlignedTensors): its loads and stores need no run-time
  /// check and no element-by-element path. Kept by at(), not by transposed().
  bool aligned() const { return vectorAligned; }

private:
  friend class KernelBuilder;
  std::string name;
  DType elementType = DType::F32;
  mlir::Value ptr;
  std::vector<Scalar> sizes, strides;
  bool tf32Values = false;
  bool sharedInCluster = false;
  bool vectorAligned = false;
};

/// Builds one kernel's `tile` IR. While a builder is alive on a thread, the
/// free functions of the DSL (`load`, `dot`, operators, ...) build into it.
class KernelBuilder {
public:
  KernelBuilder(mlir::MLIRContext &ctx, const std::string &name, unsigned numWarps = 4);
  ~KernelBuilder();
  KernelBuilder(const KernelBuilder &) = delete;
  KernelBuilder &operator=(const KernelBuilder &) = delete;

  /// Parameters, in the order the kernel receives them.
  TensorArg tensor(const std::string &name, DType dtype, unsigned rank);
  Scalar scalarI32(const std::string &name);
  Scalar scalarF32(const std::string &name);

  /// Records a compile-time constant on the kernel (for dumps and keys) and
  /// returns it.
  int64_t constant(const std::string &name, int64_t value);
  /// Shared buffers per asynchronously copied tile of a loop: S = 2 (default)
  /// to 4 copy the tiles of the next S - 1 iterations during this one's dots;
  /// 1 refills the one buffer right after its last reader.
  void setNumStages(int64_t stages);
  /// false: the dots stay on mma.sync on sm_90a too (default true: wgmma
  /// wherever the layouts allow it).
  void setWarpgroupMma(bool enabled);
  /// true: on sm_90a, pipelined loops copy their tiles with the Tensor Memory
  /// Accelerator where the tensors allow it (aligned 2-D, 16-bit): one thread
  /// issues each tile, mbarriers count it in, and the launch passes a tensor
  /// map per copied tensor. Other tensors and chips keep cp.async.
  void setTensorMemoryAccelerator(bool enabled);
  /// true (with the Tensor Memory Accelerator): a pipelined loop's copies are
  /// issued by a producer warpgroup of their own, 4 warps beyond num_warps,
  /// which refills each buffer once the kernel's warps release it, instead
  /// of by the kernel's warps between their dots.
  void setWarpSpecialize(bool enabled);
  /// `ctas` (1 to 4) CTAs of the kernel share an SM (PTX .minnctapersm, as
  /// CUDA's __launch_bounds__): each thread's registers are fitted to that
  /// share, and with a producer warpgroup the producer's are handed to the
  /// consumers within it (1: no bound, the whole SM with a producer).
  void setCtasPerSm(int64_t ctas);
  /// With a producer warpgroup and two consumer warpgroups (8 warps): they
  /// take turns issuing the first product of each loop iteration
  /// (FlashAttention-3's ping-pong), so that one's softmax runs under the
  /// other's matmul instead of both waiting on the same copies in step.
  void setPingPong(bool enabled);
  /// Programs 2i, 2i + 1, ... (a power of two up to 8 of them; 1: none) run
  /// as one cluster of CTAs on sm_90a (PTX .reqnctapercluster; the grid
  /// must be a multiple), which multicast the TMA copies of the tensors they
  /// read the same blocks of (TensorArg::sameBlocksInCluster).
  void setClusterSize(int64_t ctas);
  /// true (with the Tensor Memory Accelerator): a block the kernel stores
  /// after its pipelined loops (a matmul's C) goes out through a shared
  /// staging tile and TMA bulk stores, where its tensor allows (aligned 2-D,
  /// 16-bit, whole 64-column panels); otherwise straight from registers.
  void setTensorMemoryAcceleratorStores(bool enabled);
  /// The tensor parameters a launch found aligned for 16-byte vectors (bit i:
  /// the i-th tensor declared; TensorArg::aligned). The kernel is specialised
  /// on them, as Triton specialises on divisibility by 16: set before the
  /// first tensor() (the kernels layer does, from the launch's arguments).
  void setAlignedTensors(uint64_t mask);

  /// Ends the kernel and hands over its module.
  mlir::OwningOpRef<mlir::ModuleOp> finish();

  const std::string &getName() const { return name; }
  unsigned getNumWarps() const { return numWarps; }
  /// The parameters declared so far, in order (a tensor is one entry here and
  /// 1 + 2·rank arguments of the kernel function).
  const std::vector<ParamDecl> &parameters() const { return declared; }

  // --- for the DSL's own functions ---------------------------------------
  static KernelBuilder &current();
  mlir::OpBuilder &builder() { return b; }
  mlir::MLIRContext *context() { return b.getContext(); }
  mlir::Location loc(SourceLoc where) const;
  mlir::Location loc() const;
  mlir::Type mlirType(DType t);

private:
  mlir::Value addParam(mlir::Type type, const std::string &name);
  /// Records a parameter; throws if its name is taken.
  void declare(ParamDecl param);
  /// Sets the kernel's i32 attribute `attr` to `ctas` (1, the default: none),
  /// 1 to `max` (a power of two where asked); throws naming `method`.
  void setCtaCount(llvm::StringRef attr, llvm::StringRef method, int64_t ctas, int64_t max,
                   bool powerOfTwo);

  std::string name;
  unsigned numWarps;
  mlir::OpBuilder b;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::Operation *func = nullptr;
  mlir::Block *entry = nullptr;
  std::vector<std::string> paramNames;
  std::vector<ParamDecl> declared;
  uint64_t alignedTensors = 0;
  unsigned tensorsDeclared = 0;
  KernelBuilder *previous = nullptr;
  bool finished = false;
};

} // namespace tessera::dsl

#endif
