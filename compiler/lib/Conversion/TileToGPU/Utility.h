//===- Utility.h - Shared pieces of the tile-to-GPU lowering ----*- C++ -*-===//
#ifndef TESSERA_LIB_CONVERSION_TILETOGPU_UTILITY_H
#define TESSERA_LIB_CONVERSION_TILETOGPU_UTILITY_H

#include "tessera/Conversion/TileToGPU/TileToGPU.h"
#include "tessera/Dialect/Tile/IR/Layout.h"

namespace tessera::tilegpu {

using namespace mlir;

/// Attribute on a kernel recording the dynamic shared memory it needs, in bytes.
inline constexpr llvm::StringLiteral kSharedMemoryAttr = "tile.shared_memory";

/// Tiles become the vector of elements one thread holds; pointers become LLVM
/// global pointers; descriptors become a struct {ptr, sizes..., strides...}.
class TileTypeConverter : public TypeConverter {
public:
  explicit TileTypeConverter(MLIRContext *ctx);
};

/// Which elements of a tile one thread holds, in the order of its vector:
/// a multi-index over the tile's dimensions, last dimension fastest.
class ThreadElements {
public:
  explicit ThreadElements(RankedTensorType type);

  int64_t size() const { return numElements; }
  unsigned rank() const { return shape.size(); }
  /// Per-dimension counts (the vector is their row-major product).
  ArrayRef<int64_t> countsPerDim() const { return perDim; }
  SmallVector<int64_t> multiIndex(int64_t element) const;
  int64_t flatten(ArrayRef<int64_t> multiIndex) const;

  /// The coordinates (i32) of every element this thread holds, element-major.
  SmallVector<SmallVector<Value>> emitCoords(OpBuilder &b, Location loc) const;

private:
  RankedTensorType type;
  tile::BlockedLayoutAttr blocked;
  SmallVector<unsigned> parentDims; // parent layout dimension of each tile dimension
  SmallVector<int64_t> shape, perDim;
  int64_t numElements;
};

Value constI32(OpBuilder &b, Location loc, int64_t v);
Value constIndex(OpBuilder &b, Location loc, int64_t v);
Value toIndex(OpBuilder &b, Location loc, Value i32);

/// Row-major linear index (i32) of `coords` in a tile of `shape`.
Value linearIndex(OpBuilder &b, Location loc, ArrayRef<Value> coords, ArrayRef<int64_t> shape);

/// A view of the kernel's dynamic shared memory as `numElements` of `elementType`,
/// starting `byteOffset` bytes in. i1 is kept as i8.
Value sharedScratch(OpBuilder &b, Location loc, Type elementType, int64_t numElements,
                    int64_t byteOffset);

/// Element type as stored in memory (i1 as i8).
Type memoryType(Type elementType);
/// Converts a register value to its memory type and back.
Value toMemory(OpBuilder &b, Location loc, Value v);
Value fromMemory(OpBuilder &b, Location loc, Value v, Type elementType);

/// The elements of a thread's vector as scalars.
SmallVector<Value> unpack(OpBuilder &b, Location loc, Value vec);
Value pack(OpBuilder &b, Location loc, VectorType type, ArrayRef<Value> elements);

/// Shared memory (bytes) the lowering of `op` needs, 0 for none.
int64_t sharedMemoryNeeded(Operation *op);

void populateMemoryOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
void populateElementwiseOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
void populateSharedMemoryOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);

} // namespace tessera::tilegpu

#endif
