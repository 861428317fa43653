//===- TileOps.cpp - Verifiers, folders and syntax of the tile dialect ----===//

#include "tessera/Dialect/Tile/IR/Layout.h"
#include "tessera/Dialect/Tile/IR/TileDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace tessera::tile;

#include "tessera/Dialect/Tile/IR/TileDialect.cpp.inc"
#include "tessera/Dialect/Tile/IR/TileEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "tessera/Dialect/Tile/IR/TileAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "tessera/Dialect/Tile/IR/TileTypes.cpp.inc"

void TileDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "tessera/Dialect/Tile/IR/TileOps.cpp.inc"
      >();
  addTypes<
#define GET_TYPEDEF_LIST
#include "tessera/Dialect/Tile/IR/TileTypes.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "tessera/Dialect/Tile/IR/TileAttrs.cpp.inc"
      >();
}

LogicalResult TileDialect::verifyOperationAttribute(Operation *op, NamedAttribute attr) {
  StringRef name = attr.getName().strref();
  Attribute value = attr.getValue();
  auto expect = [&](bool ok, StringRef what) -> LogicalResult {
    if (ok)
      return success();
    return op->emitOpError() << "attribute '" << name << "' expects " << what << ", got " << value;
  };
  auto i32In = [&](int64_t lo, int64_t hi, bool powerOfTwo) {
    auto i = dyn_cast<IntegerAttr>(value);
    return i && i.getType().isInteger(32) && i.getInt() >= lo && i.getInt() <= hi &&
           (!powerOfTwo || llvm::isPowerOf2_64(i.getInt()));
  };
  if (name == kKernelAttr || name == kTmaAttr || name == kWarpSpecializeAttr ||
      name == kPingPongAttr || name == kTmaStoresAttr || name == kSkipUnitFactorAttr)
    return expect(isa<UnitAttr>(value), "a unit attribute");
  if (name.starts_with(kConstantAttrPrefix)) {
    auto i = dyn_cast<IntegerAttr>(value);
    return expect(i && i.getType().isInteger(64) && name.size() > kConstantAttrPrefix.size(),
                  "an i64 after a constant's name");
  }
  if (name == kNumWarpsAttr)
    return expect(i32In(1, 32, /*powerOfTwo=*/true), "an i32 power of two from 1 to 32");
  if (name == kNumStagesAttr)
    return expect(i32In(1, 4, /*powerOfTwo=*/false), "an i32 from 1 to 4");
  if (name == kClusterSizeAttr)
    return expect(i32In(1, 8, /*powerOfTwo=*/true), "an i32 power of two from 1 to 8");
  if (name == kCtasPerSmAttr)
    return expect(i32In(1, 4, /*powerOfTwo=*/false), "an i32 from 1 to 4");
  if (name == kWarpgroupMmaAttr)
    return expect(isa<BoolAttr>(value), "a bool");
  if (name == kTensorMapsAttr) {
    auto indices = dyn_cast<DenseI64ArrayAttr>(value);
    auto fn = dyn_cast<FunctionOpInterface>(op);
    bool ok = indices && fn && llvm::all_of(indices.asArrayRef(), [&](int64_t i) {
                return i >= 0 && i < int64_t(fn.getNumArguments());
              });
    return expect(ok, "argument indices of the function it is on");
  }
  return op->emitOpError() << "unknown attribute '" << name
                           << "' of the tile dialect (its attributes on other operations: "
                              "tile.kernel, tile.constant.NAME, tile.num_warps, tile.num_stages, "
                              "tile.warpgroup_mma, tile.tma, tile.warp_specialize, "
                              "tile.skip_unit_factor, tile.tensor_maps)";
}

unsigned tessera::tile::getNumWarps(Operation *func) {
  if (auto attr = func->getAttrOfType<IntegerAttr>(kNumWarpsAttr))
    return attr.getInt();
  return 4;
}

unsigned tessera::tile::getNumStages(Operation *func) {
  if (auto attr = func->getAttrOfType<IntegerAttr>(kNumStagesAttr))
    return attr.getInt();
  return 2;
}

llvm::Expected<func::FuncOp> tessera::tile::getKernel(ModuleOp module) {
  SmallVector<func::FuncOp> kernels;
  module.walk([&](func::FuncOp f) {
    if (f->hasAttr(kKernelAttr))
      kernels.push_back(f);
  });
  if (kernels.size() != 1)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "expected one tile.kernel function in the module, found " +
                                       llvm::Twine(kernels.size()));
  return kernels.front();
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  return s;
}

//===----------------------------------------------------------------------===//
// Types and attributes
//===----------------------------------------------------------------------===//

// !tile.desc<64x64xf16> or !tile.desc<64x64xf16, nan>
Type DescType::parse(AsmParser &parser) {
  SmallVector<int64_t> shape;
  Type elementType;
  if (parser.parseLess() || parser.parseDimensionList(shape, /*allowDynamic=*/false) ||
      parser.parseType(elementType))
    return {};
  Padding padding = Padding::zero;
  if (succeeded(parser.parseOptionalComma())) {
    StringRef keyword;
    SMLoc loc = parser.getCurrentLocation();
    if (parser.parseKeyword(&keyword))
      return {};
    std::optional<Padding> p = symbolizePadding(keyword);
    if (!p) {
      parser.emitError(loc, "expected padding 'zero' or 'nan', got '") << keyword << "'";
      return {};
    }
    padding = *p;
  }
  if (parser.parseGreater())
    return {};
  return DescType::get(parser.getContext(), shape, elementType, padding);
}

void DescType::print(AsmPrinter &printer) const {
  printer << "<";
  for (int64_t d : getBlockShape())
    printer << d << "x";
  printer << getElementType();
  if (getPadding() != Padding::zero)
    printer << ", " << stringifyPadding(getPadding());
  printer << ">";
}

// !tile.shared<64x128xbf16>, !tile.shared<64x128xbf16, 2> or
// !tile.shared<64x128xf32, 1, swizzle = 32>
Type SharedType::parse(AsmParser &parser) {
  SmallVector<int64_t> shape;
  Type elementType;
  unsigned buffers = 1;
  int64_t swizzle = 0;
  if (parser.parseLess() || parser.parseDimensionList(shape, /*allowDynamic=*/false) ||
      parser.parseType(elementType))
    return {};
  if (succeeded(parser.parseOptionalComma()) && parser.parseInteger(buffers))
    return {};
  if (succeeded(parser.parseOptionalComma()) &&
      (parser.parseKeyword("swizzle") || parser.parseEqual() || parser.parseInteger(swizzle)))
    return {};
  if (parser.parseGreater())
    return {};
  return SharedType::getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                                parser.getContext(), shape, elementType, buffers, swizzle);
}

void SharedType::print(AsmPrinter &printer) const {
  printer << "<";
  for (int64_t d : getShape())
    printer << d << "x";
  printer << getElementType();
  if (getBuffers() != 1 || getSwizzle() != 0)
    printer << ", " << getBuffers();
  if (getSwizzle() != 0)
    printer << ", swizzle = " << getSwizzle();
  printer << ">";
}

LogicalResult SharedType::verify(function_ref<InFlightDiagnostic()> emitError,
                                 ArrayRef<int64_t> shape, Type elementType, unsigned buffers,
                                 int64_t swizzle) {
  if (shape.size() != 2 || shape[0] <= 0 || shape[1] <= 0)
    return emitError() << "expects a 2-D tile shape, got " << shapeString(shape);
  if (!elementType.isIntOrFloat() ||
      (elementType.getIntOrFloatBitWidth() != 16 && elementType.getIntOrFloatBitWidth() != 32))
    return emitError() << "expects 16- or 32-bit elements, got " << elementType;
  // A row is whole 16-byte chunks: the swizzle permutes chunks.
  if (shape[1] * elementType.getIntOrFloatBitWidth() % 128 != 0)
    return emitError() << "expects rows of whole 16-byte chunks, got " << shape[1] << " x "
                       << elementType;
  if (buffers < 1 || buffers > 4)
    return emitError() << "expects 1 to 4 buffers, got " << buffers;
  // A narrower swizzle than the row's widest: one that divides the row
  // (the default has one spelling, none).
  int64_t widest = defaultSwizzleBytes(shape, elementType);
  int64_t rowBytes = shape[1] * elementType.getIntOrFloatBitWidth() / 8;
  if (swizzle != 0 && (shape[0] == 1 || (swizzle != 32 && swizzle != 64) || swizzle >= widest ||
                       rowBytes % swizzle != 0))
    return emitError() << "expects a swizzle of 32 or 64 bytes dividing the row's " << rowBytes
                       << " and narrower than its default " << widest
                       << " (a tile of more than one row), got " << swizzle;
  return success();
}

int64_t SharedType::getBufferBytes() const {
  return getShape()[0] * getShape()[1] * getElementType().getIntOrFloatBitWidth() / 8;
}

int64_t SharedType::defaultSwizzleBytes(ArrayRef<int64_t> shape, Type elementType) {
  int64_t rowBytes = shape[1] * elementType.getIntOrFloatBitWidth() / 8;
  // A row vector is one unswizzled panel, whatever its width.
  if (shape[0] == 1)
    return rowBytes;
  return std::min<int64_t>(128, rowBytes);
}

int64_t SharedType::getSwizzleBytes() const {
  return getSwizzle() ? getSwizzle() : defaultSwizzleBytes(getShape(), getElementType());
}

// !tile.tensormap<128x64xbf16, 0>: boxes, elements, the tensor's parameter;
// `, rank = 4` for a map of a rank-4 tensor with 2-D boxes.
Type TensorMapType::parse(AsmParser &parser) {
  SmallVector<int64_t> box;
  Type elementType;
  unsigned tensor = 0, rank = 2;
  if (parser.parseLess() || parser.parseDimensionList(box, /*allowDynamic=*/false) ||
      parser.parseType(elementType) || parser.parseComma() || parser.parseInteger(tensor))
    return {};
  if (succeeded(parser.parseOptionalComma()) &&
      (parser.parseKeyword("rank") || parser.parseEqual() || parser.parseInteger(rank)))
    return {};
  if (parser.parseGreater())
    return {};
  return TensorMapType::getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                                   parser.getContext(), box, elementType, tensor, rank);
}

void TensorMapType::print(AsmPrinter &printer) const {
  printer << "<";
  for (int64_t d : getBox())
    printer << d << "x";
  printer << getElementType() << ", " << getTensor();
  if (getRank() != 2)
    printer << ", rank = " << getRank();
  printer << ">";
}

LogicalResult TensorMapType::verify(function_ref<InFlightDiagnostic()> emitError,
                                    ArrayRef<int64_t> box, Type elementType, unsigned,
                                    unsigned rank) {
  if (box.size() != 2)
    return emitError() << "expects a 2-D box, got " << shapeString(box);
  // cuTensorMapEncodeTiled takes tensors of rank 1 to 5.
  if (rank < 2 || rank > 5)
    return emitError() << "expects a tensor of rank 2 to 5, got rank " << rank;
  // 16-bit tiles (copies, stores) and f32 ones (copies of tiles tf32 wgmma
  // reads as copied, tile.tma_store add); the launch encodes 4-byte elements
  // as FLOAT32, which TMA's add needs.
  if (!elementType.isIntOrFloat() ||
      (elementType.getIntOrFloatBitWidth() != 16 && !elementType.isF32()))
    return emitError() << "expects 16-bit or f32 elements, got " << elementType;
  // TMA boxes have at most 256 elements along each dimension; a row is one
  // swizzle period of a shared tile's panel.
  if (box[0] < 1 || box[0] > 256)
    return emitError() << "expects 1 to 256 box rows, got " << box[0];
  int64_t rowBytes = box[1] * elementType.getIntOrFloatBitWidth() / 8;
  // A box of one row copies a row vector, unswizzled: up to 256 elements of
  // whole 16-byte chunks.
  if (box[0] == 1) {
    if (box[1] > 256 || rowBytes % 16 != 0)
      return emitError() << "expects a one-row box of at most 256 elements in whole 16-byte "
                            "chunks, got "
                         << box[1] << " x " << elementType;
    return success();
  }
  if (rowBytes != 32 && rowBytes != 64 && rowBytes != 128)
    return emitError() << "expects box rows of 32, 64 or 128 bytes (a swizzle's width), got "
                       << rowBytes;
  return success();
}

int64_t TensorMapType::getSwizzleBytes() const {
  return getBox()[1] * getElementType().getIntOrFloatBitWidth() / 8;
}

int64_t TensorMapType::getBoxBytes() const { return getBox()[0] * getSwizzleBytes(); }

LogicalResult MBarriersType::verify(function_ref<InFlightDiagnostic()> emitError, unsigned count) {
  if (count < 1 || count > 4)
    return emitError() << "expects 1 to 4 barriers, got " << count;
  return success();
}

LogicalResult StagingAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t offsetA,
                                  int64_t offsetB, bool, bool, PublishNext) {
  for (int64_t offset : {offsetA, offsetB})
    if (offset < -1 || (offset >= 0 && offset % kSharedTileAlignment != 0))
      return emitError() << "expects tile offsets that are multiples of " << kSharedTileAlignment
                         << " (or -1: not staged), got " << offset;
  return success();
}

static bool isPowerOf2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

LogicalResult BlockedLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                        ArrayRef<unsigned> sizePerThread,
                                        ArrayRef<unsigned> threadsPerWarp,
                                        ArrayRef<unsigned> warpsPerCTA, ArrayRef<unsigned> order) {
  size_t rank = order.size();
  if (sizePerThread.size() != rank || threadsPerWarp.size() != rank || warpsPerCTA.size() != rank)
    return emitError() << "expects sizePerThread, threadsPerWarp, warpsPerCTA and order of one "
                          "rank, got "
                       << sizePerThread.size() << ", " << threadsPerWarp.size() << ", "
                       << warpsPerCTA.size() << " and " << rank;
  unsigned lanes = 1;
  for (size_t d = 0; d < rank; ++d) {
    if (!isPowerOf2(sizePerThread[d]) || !isPowerOf2(threadsPerWarp[d]) ||
        !isPowerOf2(warpsPerCTA[d]))
      return emitError() << "expects powers of two in every entry (dimension " << d << ")";
    lanes *= threadsPerWarp[d];
  }
  if (lanes != kWarpSize)
    return emitError() << "expects threadsPerWarp to multiply to " << kWarpSize << ", got "
                       << lanes;
  SmallVector<bool> seen(rank, false);
  for (unsigned d : order) {
    if (d >= rank || seen[d])
      return emitError() << "expects order to be a permutation of 0.." << rank - 1;
    seen[d] = true;
  }
  return success();
}

unsigned BlockedLayoutAttr::getNumWarps() const {
  unsigned n = 1;
  for (unsigned w : getWarpsPerCTA())
    n *= w;
  return n;
}

LogicalResult SliceLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError, unsigned dim,
                                      Attribute parent) {
  if (!isa<BlockedLayoutAttr, MmaLayoutAttr, DotOperandLayoutAttr>(parent))
    return emitError() << "expects a blocked, mma or dot_op parent, got " << parent;
  unsigned parentRank = getLayoutRank(parent);
  if (dim >= parentRank)
    return emitError() << "expects dim " << dim << " below the parent's rank " << parentRank;
  if (parentRank < 2)
    return emitError() << "expects a parent of rank 2 or more";
  return success();
}

LogicalResult MmaLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    ArrayRef<unsigned> warpsPerCTA, unsigned columnBlock) {
  if (warpsPerCTA.size() != 2 || !isPowerOf2(warpsPerCTA[0]) || !isPowerOf2(warpsPerCTA[1]))
    return emitError() << "expects two powers of two in warpsPerCTA";
  if (columnBlock < 8 || !isPowerOf2(columnBlock))
    return emitError() << "expects a columnBlock that is a power of two, 8 or more; got "
                       << columnBlock;
  return success();
}

LogicalResult DotOperandLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                           unsigned opIdx, MmaLayoutAttr parent, unsigned kWidth) {
  if (opIdx > 1)
    return emitError() << "expects opIdx 0 (A) or 1 (B), got " << opIdx;
  if (kWidth != 1 && kWidth != 2)
    return emitError() << "expects kWidth 1 (32-bit) or 2 (16-bit elements), got " << kWidth;
  return success();
}

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

// A tensor's layout (if any) must match its rank; distributed tiles have
// power-of-two dimensions.
static LogicalResult verifyLayout(Operation *op, Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.getEncoding())
    return success();
  Attribute enc = type.getEncoding();
  if (!hasLayout(type))
    return op->emitOpError("expects a #tile.blocked, #tile.mma, #tile.dot_op or #tile.slice "
                           "layout, got ")
           << enc;
  unsigned rank = type.getRank();
  if (getLayoutRank(enc) != rank)
    return op->emitOpError("expects a layout of rank ")
           << rank << ", got rank " << getLayoutRank(enc);
  for (int64_t d : type.getShape())
    if (!isPowerOf2(d))
      return op->emitOpError("expects power-of-two tile dimensions, got ")
             << shapeString(type.getShape());
  return success();
}

static LogicalResult verifyAllLayouts(Operation *op) {
  for (Value v : op->getOperands())
    if (failed(verifyLayout(op, v)))
      return failure();
  for (Value v : op->getResults())
    if (failed(verifyLayout(op, v)))
      return failure();
  return success();
}

LogicalResult AtOp::verify() {
  if (getIndices().empty() || getIndices().size() != getStrides().size())
    return emitOpError("expects one stride per index, at least one, got ")
           << getIndices().size() << " indices and " << getStrides().size() << " strides";
  return success();
}

LogicalResult MakeDescOp::verify() {
  DescType desc = getType();
  if (getSizes().size() != desc.getRank() || getStrides().size() != desc.getRank())
    return emitOpError("expects ")
           << desc.getRank() << " sizes and strides for a rank-" << desc.getRank() << " block, got "
           << getSizes().size() << " sizes and " << getStrides().size() << " strides";
  if (getPtr().getType().getElementType() != desc.getElementType())
    return emitOpError("expects the pointer's element type ")
           << getPtr().getType().getElementType() << " to match the descriptor's "
           << desc.getElementType();
  return success();
}

static LogicalResult verifyBlockAccess(Operation *op, DescType desc, size_t numIndices,
                                       RankedTensorType tile) {
  if (numIndices != desc.getRank())
    return op->emitOpError("expects ") << desc.getRank() << " indices for a rank-" << desc.getRank()
                                       << " descriptor, got " << numIndices;
  if (tile.getShape() != desc.getBlockShape())
    return op->emitOpError("expects a tile of the descriptor's block shape ")
           << shapeString(desc.getBlockShape()) << ", got " << shapeString(tile.getShape());
  if (tile.getElementType() != desc.getElementType())
    return op->emitOpError("expects element type ")
           << desc.getElementType() << ", got " << tile.getElementType();
  return verifyAllLayouts(op);
}

LogicalResult LoadOp::verify() {
  if (getTf32Rounded() && !getType().getElementType().isF32())
    return emitOpError("tf32_rounded expects an f32 block, got ") << getType().getElementType();
  return verifyBlockAccess(*this, getDesc().getType(), getIndices().size(), getType());
}

LogicalResult GatherOp::verify() {
  DescType desc = getDesc().getType();
  if (desc.getRank() != 2)
    return emitOpError("expects a rank-2 descriptor, got rank ") << desc.getRank();
  RankedTensorType rows = getRows().getType();
  if (rows.getRank() != 1 || rows.getDimSize(0) != desc.getBlockShape()[0])
    return emitOpError("expects one row index per block row, ")
           << desc.getBlockShape()[0] << ", got " << shapeString(rows.getShape());
  return verifyBlockAccess(*this, desc, 2, getType());
}

LogicalResult StoreOp::verify() {
  if (Value mask = getMask();
      mask && cast<RankedTensorType>(mask.getType()).getShape() != getValue().getType().getShape())
    return emitOpError("expects a mask of the value's shape ")
           << shapeString(getValue().getType().getShape()) << ", got "
           << shapeString(cast<RankedTensorType>(mask.getType()).getShape());
  RankedTensorType type = getValue().getType();
  unsigned bits = type.getElementType().getIntOrFloatBitWidth();
  if (getStaged() && (getMask() || type.getRank() != 2 || (bits != 16 && bits != 32) ||
                      type.getDimSize(1) * bits % 128 != 0))
    return emitOpError("expects a staged store to be unmasked, of a 2-D block of 16- or 32-bit "
                       "elements whose rows are whole 16-byte chunks, got ")
           << type << (getMask() ? " with a mask" : "");
  return verifyBlockAccess(*this, getDesc().getType(), getIndices().size(), getValue().getType());
}

LogicalResult AtomicAddOp::verify() {
  if (!getValue().getType().getElementType().isF32())
    return emitOpError("expects an f32 tile, got ") << getValue().getType().getElementType();
  return verifyBlockAccess(*this, getDesc().getType(), getIndices().size(), getValue().getType());
}

LogicalResult AtomicRMWOp::verify() {
  Type elem = getValue().getType().getElementType();
  if (!elem.isF32() && !elem.isInteger(32))
    return emitOpError("expects an f32 or i32 tile, got ") << elem;
  if (getType() != getValue().getType())
    return emitOpError("expects the old values in the value's type ") << getValue().getType();
  return verifyBlockAccess(*this, getDesc().getType(), getIndices().size(), getValue().getType());
}

LogicalResult PrintOp::verify() {
  Type elem = getElementTypeOrSelf(getValue().getType());
  if (!elem.isF32() && !elem.isF16() && !elem.isBF16() && !elem.isInteger(32) && !elem.isInteger(1))
    return emitOpError("prints f32, f16, bf16, i32 or i1 values, got ") << elem;
  if (getPrefix().contains('%'))
    return emitOpError("expects a prefix without '%'");
  if (auto tile = dyn_cast<RankedTensorType>(getValue().getType()); tile && tile.getRank() > 3)
    return emitOpError("prints tiles of rank 3 or less, got rank ") << tile.getRank();
  return success();
}

std::string PrintOp::getFormat() {
  auto tile = dyn_cast<RankedTensorType>(getValue().getType());
  std::string format = getPrefix().str() + " pid (%d, %d, %d) idx (";
  for (int64_t d = 0; d < (tile ? tile.getRank() : 0); ++d)
    format += d ? ", %d" : "%d";
  bool isFloat = isa<FloatType>(getElementTypeOrSelf(getValue().getType()));
  return format + (isFloat ? "): %f\n" : "): %d\n");
}

LogicalResult AtomicCASOp::verify() {
  if (!getValue().getType().getElementType().isInteger(32))
    return emitOpError("expects an i32 tile, got ") << getValue().getType().getElementType();
  if (getCmp().getType() != getValue().getType() || getType() != getValue().getType())
    return emitOpError("expects cmp, value and result of one type");
  return verifyBlockAccess(*this, getDesc().getType(), getIndices().size(), getValue().getType());
}

LogicalResult IotaOp::verify() {
  if (getType().getRank() != 1)
    return emitOpError("expects a 1-D result, got rank ") << getType().getRank();
  return verifyAllLayouts(*this);
}

LogicalResult SplatOp::verify() {
  if (getSrc().getType() != getType().getElementType())
    return emitOpError("expects a scalar of the result's element type ")
           << getType().getElementType() << ", got " << getSrc().getType();
  return verifyAllLayouts(*this);
}

LogicalResult BroadcastOp::verify() {
  RankedTensorType src = getSrc().getType(), dst = getType();
  if (src.getElementType() != dst.getElementType())
    return emitOpError("expects matching element types");
  if (src.getRank() != dst.getRank())
    return emitOpError("expects operand and result of one rank, got ")
           << src.getRank() << " and " << dst.getRank();
  for (int64_t d = 0; d < src.getRank(); ++d)
    if (src.getDimSize(d) != dst.getDimSize(d) && src.getDimSize(d) != 1)
      return emitOpError("can only broadcast dimensions of size 1, but dimension ")
             << d << " is " << src.getDimSize(d) << " -> " << dst.getDimSize(d);
  return verifyAllLayouts(*this);
}

OpFoldResult BroadcastOp::fold(FoldAdaptor) {
  if (getSrc().getType() == getType())
    return getSrc();
  return {};
}

LogicalResult ExpandDimsOp::verify() {
  RankedTensorType src = getSrc().getType(), dst = getType();
  int64_t axis = getAxis();
  if (axis < 0 || axis > src.getRank())
    return emitOpError("expects axis in [0, ") << src.getRank() << "], got " << axis;
  SmallVector<int64_t> expected(src.getShape());
  expected.insert(expected.begin() + axis, 1);
  if (dst.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError("expects result shape ")
           << shapeString(expected) << ", got " << shapeString(dst.getShape());
  if (src.getElementType() != dst.getElementType())
    return emitOpError("expects matching element types");
  return verifyAllLayouts(*this);
}

LogicalResult TransOp::verify() {
  RankedTensorType src = getSrc().getType(), dst = getType();
  if (src.getRank() != 2 || dst.getRank() != 2)
    return emitOpError("expects 2-D tiles");
  if (src.getDimSize(0) != dst.getDimSize(1) || src.getDimSize(1) != dst.getDimSize(0))
    return emitOpError("expects result shape ") << src.getDimSize(1) << "x" << src.getDimSize(0)
                                                << ", got " << shapeString(dst.getShape());
  if (src.getElementType() != dst.getElementType())
    return emitOpError("expects matching element types");
  return verifyAllLayouts(*this);
}

LogicalResult DotOp::verify() {
  RankedTensorType a = getA().getType(), b = getB().getType(), c = getType();
  if (a.getRank() != 2 || b.getRank() != 2 || c.getRank() != 2)
    return emitOpError("expects 2-D operands");
  if (a.getDimSize(1) != b.getDimSize(0))
    return emitOpError("expects lhs columns (")
           << a.getDimSize(1) << ") to equal rhs rows (" << b.getDimSize(0) << ")";
  if (c.getDimSize(0) != a.getDimSize(0) || c.getDimSize(1) != b.getDimSize(1))
    return emitOpError("expects an accumulator of shape ")
           << a.getDimSize(0) << "x" << b.getDimSize(1) << ", got " << shapeString(c.getShape());
  if (a.getElementType() != b.getElementType())
    return emitOpError("expects operands of one element type, got ")
           << a.getElementType() << " and " << b.getElementType();
  Type accType = c.getElementType();
  bool floatIn = isa<FloatType>(a.getElementType());
  if (floatIn && !accType.isF32())
    return emitOpError("expects an f32 accumulator for floating-point operands, got ") << accType;
  if (!floatIn && !accType.isInteger(32))
    return emitOpError("expects an i32 accumulator for integer operands, got ") << accType;
  if (getTf32() && !a.getElementType().isF32())
    return emitOpError("tf32 expects f32 operands, got ") << a.getElementType();
  return verifyAllLayouts(*this);
}

/// A reduction of `src` along `axis` into `dst`: rank 2 or more, the shape
/// without the axis, the element type kept.
static LogicalResult verifyReduction(Operation *op, RankedTensorType src, RankedTensorType dst,
                                     int64_t axis) {
  if (src.getRank() < 2)
    return op->emitOpError("expects an operand of rank 2 or more, got rank ") << src.getRank();
  if (axis < 0 || axis >= src.getRank())
    return op->emitOpError("expects axis in [0, ") << src.getRank() << "), got " << axis;
  SmallVector<int64_t> expected(src.getShape());
  expected.erase(expected.begin() + axis);
  if (dst.getShape() != ArrayRef<int64_t>(expected))
    return op->emitOpError("expects result shape ")
           << shapeString(expected) << ", got " << shapeString(dst.getShape());
  if (src.getElementType() != dst.getElementType())
    return op->emitOpError("expects matching element types");
  return verifyAllLayouts(op);
}

LogicalResult ReduceOp::verify() {
  return verifyReduction(*this, getSrc().getType(), getType(), getAxis());
}

/// A combine region: one block of two scalars of each of `elems` (the left
/// ones, then the right ones) yielding one of each, over ops without memory
/// effects on scalars (the lowering clones the block wherever elements meet).
static LogicalResult verifyCombineRegion(Operation *op, Region &region, TypeRange elems) {
  Block &body = region.front();
  SmallVector<Type> expected(elems.begin(), elems.end());
  expected.append(elems.begin(), elems.end());
  if (body.getArgumentTypes() != TypeRange(expected)) {
    std::string types;
    llvm::raw_string_ostream os(types);
    llvm::interleaveComma(expected, os);
    return op->emitOpError("expects a combine region of arguments (") << types << ")";
  }
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield || yield.getValues().getTypes() != elems) {
    std::string types;
    llvm::raw_string_ostream os(types);
    llvm::interleaveComma(elems, os);
    return op->emitOpError("expects the combine region to yield (") << types << ")";
  }
  for (Operation &inner : body.without_terminator()) {
    if (!isMemoryEffectFree(&inner) || inner.getNumRegions() != 0)
      return inner.emitOpError("is not allowed in a combine region: it must be a pure scalar op");
    for (Type t : llvm::concat<Type>(inner.getOperandTypes(), inner.getResultTypes()))
      if (isa<ShapedType>(t))
        return inner.emitOpError("is not allowed in a combine region: it must be a pure scalar op");
  }
  return success();
}

/// Tiles combined together: at least one, all of one shape and layout.
static LogicalResult verifyCombinedTiles(Operation *op, ValueRange srcs, unsigned numResults) {
  if (srcs.empty())
    return op->emitOpError("expects at least one tile");
  if (numResults != srcs.size())
    return op->emitOpError("expects one result per tile, got ")
           << numResults << " for " << srcs.size();
  auto first = cast<RankedTensorType>(srcs.front().getType());
  for (Value v : srcs.drop_front()) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getShape() != first.getShape() || t.getEncoding() != first.getEncoding())
      return op->emitOpError("expects tiles of one shape and layout, got ")
             << first << " and " << t;
  }
  return success();
}

static SmallVector<Type> elementTypes(ValueRange tiles) {
  SmallVector<Type> elems;
  for (Value v : tiles)
    elems.push_back(cast<RankedTensorType>(v.getType()).getElementType());
  return elems;
}

LogicalResult ReduceCombineOp::verify() {
  if (failed(verifyCombinedTiles(*this, getSrcs(), getNumResults())))
    return failure();
  for (auto [src, result] : llvm::zip(getSrcs(), getResults()))
    if (failed(verifyReduction(*this, cast<RankedTensorType>(src.getType()),
                               cast<RankedTensorType>(result.getType()), getAxis())))
      return failure();
  return success();
}

LogicalResult ReduceCombineOp::verifyRegions() {
  return verifyCombineRegion(*this, getCombine(), elementTypes(getSrcs()));
}

LogicalResult ScanOp::verify() {
  if (failed(verifyCombinedTiles(*this, getSrcs(), getNumResults())))
    return failure();
  if (getSrcs().getTypes() != getResults().getTypes())
    return emitOpError("expects results of the tiles' types");
  int64_t rank = cast<RankedTensorType>(getSrcs().front().getType()).getRank(), axis = getAxis();
  if (axis < 0 || axis >= rank)
    return emitOpError("expects axis in [0, ") << rank << "), got " << axis;
  return verifyAllLayouts(*this);
}

LogicalResult ScanOp::verifyRegions() {
  return verifyCombineRegion(*this, getCombine(), elementTypes(getSrcs()));
}

OpFoldResult ConvertLayoutOp::fold(FoldAdaptor) {
  if (getSrc().getType() == getType())
    return getSrc();
  return {};
}

namespace {
/// convert(convert(x)) -> convert(x): only the last layout matters.
struct FoldConvertChain : OpRewritePattern<ConvertLayoutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvertLayoutOp op, PatternRewriter &rewriter) const override {
    auto inner = op.getSrc().getDefiningOp<ConvertLayoutOp>();
    if (!inner)
      return failure();
    rewriter.replaceOpWithNewOp<ConvertLayoutOp>(op, op.getType(), inner.getSrc());
    return success();
  }
};

/// convert(splat(x)) -> splat(x) in the new layout: a splat has no data to move.
struct FoldConvertOfSplat : OpRewritePattern<ConvertLayoutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvertLayoutOp op, PatternRewriter &rewriter) const override {
    auto splat = op.getSrc().getDefiningOp<SplatOp>();
    if (!splat)
      return failure();
    rewriter.replaceOpWithNewOp<SplatOp>(op, op.getType(), splat.getSrc());
    return success();
  }
};

/// convert(constant splat) -> constant splat in the new layout.
struct FoldConvertOfConstant : OpRewritePattern<ConvertLayoutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvertLayoutOp op, PatternRewriter &rewriter) const override {
    DenseElementsAttr value;
    if (!matchPattern(op.getSrc(), m_Constant(&value)) || !value.isSplat())
      return failure();
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, value.resizeSplat(op.getType()));
    return success();
  }
};
} // namespace

void ConvertLayoutOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                  MLIRContext *context) {
  results.add<FoldConvertChain, FoldConvertOfSplat, FoldConvertOfConstant>(context);
}

#define GET_OP_CLASSES
#include "tessera/Dialect/Tile/IR/TileOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Schedule
//===----------------------------------------------------------------------===//

LogicalResult SharedAllocOp::verify() {
  SharedType type = getType();
  if (getOffsets().size() != type.getBuffers())
    return emitOpError("expects one offset per buffer (")
           << type.getBuffers() << "), got " << getOffsets().size();
  // Swizzled tiles start on the swizzle's period; unswizzled row vectors
  // where TMA may write (128 bytes).
  int64_t alignment = type.isRowVector() ? kRowVectorAlignment : kSharedTileAlignment;
  for (int64_t offset : getOffsets())
    if (offset < 0 || offset % alignment != 0)
      return emitOpError("expects offsets that are non-negative multiples of ")
             << alignment << ", got " << offset;
  return success();
}

/// A tile of `tile`'s type fits the buffers of `shared`.
static LogicalResult verifyBufferTile(Operation *op, SharedType shared, RankedTensorType tile,
                                      bool rowVectors = false) {
  // A one-row buffer holds a row vector: its tile may be the 1-D vector.
  bool vector = rowVectors && shared.isRowVector() && tile.getRank() == 1 &&
                tile.getDimSize(0) == shared.getShape()[1];
  if ((!vector && tile.getShape() != shared.getShape()) ||
      tile.getElementType() != shared.getElementType())
    return op->emitOpError("expects a tile of the buffer's shape and element type, ")
           << RankedTensorType::get(shared.getShape(), shared.getElementType()) << ", got "
           << RankedTensorType::get(tile.getShape(), tile.getElementType());
  return success();
}

LogicalResult AsyncCopyOp::verify() {
  RankedTensorType tile = getTileType();
  if (!tile.getEncoding())
    return emitOpError("expects a tile with a layout (the copying threads')");
  if (getDistance() < 0 || getDistance() >= getBuffer().getType().getBuffers() + 1)
    return emitOpError("expects a distance between 0 and the buffers (")
           << getBuffer().getType().getBuffers() << "), got " << getDistance();
  if (failed(verifyBlockAccess(*this, getDesc().getType(), getIndices().size(), tile)))
    return failure();
  return verifyBufferTile(*this, getBuffer().getType(), tile);
}

LogicalResult SharedViewOp::verify() {
  if (getTf32Rounded() && !getType().getElementType().isF32())
    return emitOpError("tf32_rounded expects an f32 tile, got ") << getType().getElementType();
  return verifyBufferTile(*this, getBuffer().getType(), getType(), /*rowVectors=*/true);
}

LogicalResult AsyncWaitOp::verify() {
  if (getPending() < 0)
    return emitOpError("expects a non-negative count of pending groups, got ") << getPending();
  return success();
}

LogicalResult StoreStagingOp::verify() {
  if (!getValue().getType().getEncoding())
    return emitOpError("expects a tile with a layout (the storing threads')");
  if (getValue().getType().getRank() != 2)
    return emitOpError("expects a 2-D tile, got rank ") << getValue().getType().getRank();
  if (int64_t offset = getOffsetAttr().getInt(); offset < 0)
    return emitOpError("expects a non-negative byte offset, got ") << offset;
  if (std::optional<int64_t> swizzle = getSwizzle()) {
    RankedTensorType type = getValue().getType();
    if (failed(SharedType::verifyInvariants([&] { return emitOpError(); }, type.getShape(),
                                            type.getElementType(), 1, *swizzle)))
      return failure();
  }
  return success();
}

LogicalResult RoundSharedToTf32Op::verify() {
  if (!getTileType().getElementType().isF32())
    return emitOpError("expects an f32 tile, got ") << getTileType().getElementType();
  if (!getTileType().getEncoding())
    return emitOpError("expects a tile with a layout (the copying threads')");
  return verifyBufferTile(*this, getBuffer().getType(), getTileType());
}

LogicalResult WarpgroupWaitOp::verify() {
  if (getPending() < 0)
    return emitOpError("expects a non-negative count of pending groups, got ") << getPending();
  if (getResults().size() != getAccumulators().size())
    return emitOpError("expects one result per accumulator, got ")
           << getResults().size() << " for " << getAccumulators().size();
  return success();
}

LogicalResult MBarrierAllocOp::verify() {
  if (getOffset() < 0 || getOffset() % 8 != 0)
    return emitOpError("expects a non-negative offset, a multiple of 8, got ") << getOffset();
  return success();
}

LogicalResult MBarrierInitOp::verify() {
  if (getCount() < 1)
    return emitOpError("expects a positive arrival count, got ") << getCount();
  return success();
}

LogicalResult TmaCopyOp::verify() {
  TensorMapType map = getMap().getType();
  SharedType buffer = getBuffer().getType();
  if (getIndices().size() != map.getRank())
    return emitOpError("expects ")
           << map.getRank() << " indices (the tensor's rank: leading ones, row, column), got "
           << getIndices().size();
  if (map.getElementType() != buffer.getElementType())
    return emitOpError("expects the buffer's element type ")
           << buffer.getElementType() << " in the tensor map, got " << map.getElementType();
  // Boxes fill the tile's column panels: as many rows, one panel wide.
  if (map.getBox()[0] != buffer.getShape()[0] ||
      map.getSwizzleBytes() != buffer.getSwizzleBytes() ||
      buffer.getShape()[1] % map.getBox()[1] != 0)
    return emitOpError("expects boxes of one column panel of the buffer (")
           << buffer.getShape()[0] << " rows, " << buffer.getSwizzleBytes() << " bytes), got "
           << shapeString(map.getBox());
  if (getBarriers().getType().getCount() != buffer.getBuffers())
    return emitOpError("expects one barrier per buffer (")
           << buffer.getBuffers() << "), got " << getBarriers().getType().getCount();
  if (getDistance() < 0 || getDistance() >= buffer.getBuffers() + 1)
    return emitOpError("expects a distance between 0 and the buffers (")
           << buffer.getBuffers() << "), got " << getDistance();
  int64_t panels = buffer.getShape()[1] / map.getBox()[1];
  if (getMulticast() < 1 || panels % getMulticast() != 0 ||
      (getMulticast() > 1 && getSingleThread()))
    return emitOpError("expects multicast to a number of CTAs dividing the tile's ")
           << panels << " panels, issued by every CTA's leader, got " << getMulticast();
  return success();
}

LogicalResult TmaStoreOp::verify() {
  TensorMapType map = getMap().getType();
  SharedType staging = getStaging().getType();
  if (getIndices().size() != map.getRank())
    return emitOpError("expects ")
           << map.getRank() << " indices (the tensor's rank: leading ones, row, column), got "
           << getIndices().size();
  // Stores move 16-bit tiles; adds accumulate f32 (TMA's reductions of
  // 16-bit floats round at every step).
  Type elem = staging.getElementType();
  bool elementsFit = getAdd() ? elem.isF32() : elem.getIntOrFloatBitWidth() == 16;
  if (staging.getBuffers() != 1 || !elementsFit || map.getElementType() != elem)
    return emitOpError("expects one staging tile of ")
           << (getAdd() ? "f32 elements (an add)" : "16-bit elements (a store)")
           << ", those of the tensor map, got " << staging.getBuffers() << " of " << elem;
  if (map.getBox()[0] != staging.getShape()[0] ||
      map.getSwizzleBytes() != staging.getSwizzleBytes() ||
      staging.getShape()[1] % map.getBox()[1] != 0)
    return emitOpError("expects boxes of one column panel of the staging tile (")
           << staging.getShape()[0] << " rows, " << staging.getSwizzleBytes() << " bytes), got "
           << shapeString(map.getBox());
  return success();
}

LogicalResult StoreFromStagingOp::verify() {
  DescType desc = getDesc().getType();
  SharedType staging = getStaging().getType();
  if (desc.getRank() != 2 || getIndices().size() != 2)
    return emitOpError("expects a 2-D descriptor and 2 indices (row, column), got rank ")
           << desc.getRank() << " and " << getIndices().size();
  Type elem = staging.getElementType();
  if (staging.getBuffers() != 1 || elem.getIntOrFloatBitWidth() != 16 ||
      desc.getElementType() != elem)
    return emitOpError("expects one staging tile of 16-bit elements, those of the descriptor, got ")
           << staging.getBuffers() << " of " << elem;
  if (desc.getBlockShape() != staging.getShape())
    return emitOpError("expects the descriptor's blocks of the staging tile's shape ")
           << shapeString(staging.getShape()) << ", got " << shapeString(desc.getBlockShape());
  if (staging.getSwizzle())
    return emitOpError("expects a staging tile of the widest panels, got swizzle ")
           << staging.getSwizzle();
  return success();
}

/// Turn ops run in the consumers of a warp_specialize whose kernel has two
/// consumer warpgroups.
static LogicalResult verifyTurn(Operation *op) {
  auto split = op->getParentOfType<WarpSpecializeOp>();
  if (!split || !split.getConsumers().isAncestor(op->getParentRegion()))
    return op->emitOpError("expects to be in the consumers of a tile.warp_specialize");
  Operation *kernel = split->getParentOp();
  while (kernel && !kernel->hasAttr(kNumWarpsAttr))
    kernel = kernel->getParentOp();
  if (!kernel || getNumWarps(kernel) != 8)
    return op->emitOpError("expects two consumer warpgroups (tile.num_warps = 8)");
  return success();
}

LogicalResult TurnWaitOp::verify() { return verifyTurn(*this); }
LogicalResult TurnPassOp::verify() { return verifyTurn(*this); }
LogicalResult TurnStartOp::verify() { return verifyTurn(*this); }
LogicalResult TurnFinishOp::verify() { return verifyTurn(*this); }

LogicalResult WarpSpecializeOp::verify() {
  if (getProducerWarps() != 4)
    return emitOpError("expects one producer warpgroup (4 warps), got ") << getProducerWarps();
  // What runs before the split runs on the producer's warps too: nothing
  // that reads or writes tiles.
  for (Operation *op = (*this)->getPrevNode(); op; op = op->getPrevNode())
    if (llvm::any_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>) &&
        !isa<arith::ConstantOp>(op))
      return op->emitOpError("before a tile.warp_specialize would run on the producer's warps "
                             "too; only scalar code, constants and shared buffers may");
  return success();
}
