//===- KernelBuilder.cpp - Writing tile kernels in C++ --------------------===//

#include "tessera/dsl/KernelBuilder.h"

#include "tessera/Dialect/Tile/IR/TileDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::dsl;

namespace {
thread_local KernelBuilder *currentBuilder = nullptr;
} // namespace

KernelBuilder &KernelBuilder::current() {
  if (!currentBuilder)
    throw dsl::Error("Tessera DSL: no KernelBuilder is active on this thread; DSL operations must "
                     "run inside a kernel-building function");
  return *currentBuilder;
}

KernelBuilder::KernelBuilder(MLIRContext &ctx, const std::string &name, unsigned numWarps)
    : name(name), numWarps(numWarps), b(&ctx) {
  if (numWarps == 0 || (numWarps & (numWarps - 1)) || numWarps > 32)
    throw dsl::Error("KernelBuilder '" + name +
                     "': num_warps must be a power of two in [1, 32], got " +
                     std::to_string(numWarps));
  ctx.loadDialect<tile::TileDialect, arith::ArithDialect, math::MathDialect, scf::SCFDialect,
                  func::FuncDialect>();
  Location l = FileLineColLoc::get(&ctx, name, 0, 0);
  module = ModuleOp::create(l);
  b.setInsertionPointToEnd(module->getBody());
  auto f = func::FuncOp::create(b, l, name, b.getFunctionType({}, {}));
  f->setAttr(tile::kKernelAttr, b.getUnitAttr());
  f->setAttr(tile::kNumWarpsAttr, b.getI32IntegerAttr(numWarps));
  func = f;
  entry = f.addEntryBlock();
  b.setInsertionPointToStart(entry);
  previous = currentBuilder;
  currentBuilder = this;
}

KernelBuilder::~KernelBuilder() {
  if (currentBuilder == this)
    currentBuilder = previous;
}

Location KernelBuilder::loc(SourceLoc where) const {
  return FileLineColLoc::get(b.getContext(), llvm::sys::path::filename(where.file), where.line, 0);
}

Location KernelBuilder::loc() const { return FileLineColLoc::get(b.getContext(), name, 0, 0); }

Type KernelBuilder::mlirType(DType t) {
  switch (t) {
  case DType::F32:
    return b.getF32Type();
  case DType::F16:
    return b.getF16Type();
  case DType::BF16:
    return b.getBF16Type();
  case DType::I32:
    return b.getI32Type();
  case DType::I1:
    return b.getI1Type();
  }
  throw dsl::Error("unknown dtype");
}

Value KernelBuilder::addParam(Type type, const std::string &paramName) {
  if (finished)
    throw dsl::Error("kernel '" + name + "': parameter '" + paramName + "' added after finish()");
  paramNames.push_back(paramName);
  return entry->addArgument(type, loc());
}

void KernelBuilder::declare(ParamDecl param) {
  for (const ParamDecl &p : declared)
    if (p.name == param.name)
      throw dsl::Error("kernel '" + name + "': parameter '" + param.name + "' declared twice");
  declared.push_back(std::move(param));
}

TensorArg KernelBuilder::tensor(const std::string &paramName, DType dtype, unsigned rank) {
  if (rank == 0 || rank > 8)
    throw dsl::Error("kernel '" + name + "': tensor '" + paramName +
                     "' must have rank 1 to 8, got " + std::to_string(rank));
  declare({paramName, ParamDecl::Kind::Tensor, dtype, rank});
  Value ptr = addParam(tile::PtrType::get(b.getContext(), mlirType(dtype)), paramName);
  std::vector<Scalar> sizes, strides;
  for (unsigned d = 0; d < rank; ++d)
    sizes.emplace_back(addParam(b.getI32Type(), paramName + ".size" + std::to_string(d)));
  for (unsigned d = 0; d < rank; ++d)
    strides.emplace_back(addParam(b.getI32Type(), paramName + ".stride" + std::to_string(d)));
  TensorArg t(paramName, dtype, ptr, std::move(sizes), std::move(strides));
  t.vectorAligned = tensorsDeclared < 64 && (alignedTensors >> tensorsDeclared & 1);
  ++tensorsDeclared;
  return t;
}

void KernelBuilder::setAlignedTensors(uint64_t mask) {
  if (tensorsDeclared != 0)
    throw dsl::Error("kernel '" + name +
                     "': setAlignedTensors() must come before the tensor parameters");
  alignedTensors = mask;
}

Scalar KernelBuilder::scalarI32(const std::string &paramName) {
  declare({paramName, ParamDecl::Kind::I32, DType::I32, 0});
  return Scalar(addParam(b.getI32Type(), paramName));
}

Scalar KernelBuilder::scalarF32(const std::string &paramName) {
  declare({paramName, ParamDecl::Kind::F32, DType::F32, 0});
  return Scalar(addParam(b.getF32Type(), paramName));
}

int64_t KernelBuilder::constant(const std::string &constName, int64_t value) {
  func->setAttr((tile::kConstantAttrPrefix + constName).str(), b.getI64IntegerAttr(value));
  return value;
}

void KernelBuilder::setNumStages(int64_t stages) {
  if (stages < 1 || stages > 4)
    throw dsl::Error("kernel '" + name + "': num_stages must be 1 to 4, got " +
                     std::to_string(stages));
  func->setAttr(tile::kNumStagesAttr, b.getI32IntegerAttr(stages));
}

void KernelBuilder::setWarpgroupMma(bool enabled) {
  func->setAttr(tile::kWarpgroupMmaAttr, b.getBoolAttr(enabled));
}

void KernelBuilder::setWarpSpecialize(bool enabled) {
  if (enabled)
    func->setAttr(tile::kWarpSpecializeAttr, b.getUnitAttr());
  else
    func->removeAttr(tile::kWarpSpecializeAttr);
}

void KernelBuilder::setPingPong(bool enabled) {
  if (enabled)
    func->setAttr(tile::kPingPongAttr, b.getUnitAttr());
  else
    func->removeAttr(tile::kPingPongAttr);
}

void KernelBuilder::setCtaCount(llvm::StringRef attr, llvm::StringRef method, int64_t ctas,
                                int64_t max, bool powerOfTwo) {
  if (ctas < 1 || ctas > max || (powerOfTwo && (ctas & (ctas - 1))))
    throw dsl::Error("kernel '" + name + "': " + method.str() + "(" + std::to_string(ctas) +
                     "): expected " + (powerOfTwo ? "a power of two from " : "") + "1 to " +
                     std::to_string(max));
  // 1 is the default: no attribute.
  if (ctas > 1)
    func->setAttr(attr, b.getI32IntegerAttr(int32_t(ctas)));
  else
    func->removeAttr(attr);
}

void KernelBuilder::setCtasPerSm(int64_t ctas) {
  setCtaCount(tile::kCtasPerSmAttr, "setCtasPerSm", ctas, 4, /*powerOfTwo=*/false);
}

void KernelBuilder::setClusterSize(int64_t ctas) {
  setCtaCount(tile::kClusterSizeAttr, "setClusterSize", ctas, 8, /*powerOfTwo=*/true);
}

void KernelBuilder::setTensorMemoryAcceleratorStores(bool enabled) {
  if (enabled)
    func->setAttr(tile::kTmaStoresAttr, b.getUnitAttr());
  else
    func->removeAttr(tile::kTmaStoresAttr);
}

void KernelBuilder::setTensorMemoryAccelerator(bool enabled) {
  if (enabled)
    func->setAttr(tile::kTmaAttr, b.getUnitAttr());
  else
    func->removeAttr(tile::kTmaAttr);
}

OwningOpRef<ModuleOp> KernelBuilder::finish() {
  if (finished)
    throw dsl::Error("kernel '" + name + "': finish() called twice");
  finished = true;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(entry);
  func::ReturnOp::create(b, loc());
  cast<func::FuncOp>(func).setFunctionType(
      b.getFunctionType(entry->getArgumentTypes(), TypeRange{}));
  std::string message;
  {
    ScopedDiagnosticHandler handler(b.getContext(), [&](Diagnostic &d) {
      llvm::raw_string_ostream os(message);
      os << d.getLocation() << ": " << d << "\n";
      return success();
    });
    if (failed(verify(*module)))
      throw dsl::Error("kernel '" + name + "' is not valid tile IR:\n" + message);
  }
  if (currentBuilder == this)
    currentBuilder = previous;
  return std::move(module);
}

// --- Values -------------------------------------------------------------------

Scalar::Scalar(int v) : Scalar(int64_t(v)) {}

Scalar::Scalar(int64_t v) {
  if (v < INT32_MIN || v > INT32_MAX)
    throw dsl::Error("Scalar constant " + std::to_string(v) + " does not fit in i32");
  KernelBuilder &kb = KernelBuilder::current();
  value = arith::ConstantIntOp::create(kb.builder(), kb.loc(), kb.builder().getI32Type(), v);
}

bool Scalar::isFloat() const { return isa<FloatType>(value.getType()); }

RankedTensorType Tile::type() const {
  if (!value)
    throw dsl::Error("use of an empty Tile");
  return cast<RankedTensorType>(value.getType());
}

std::vector<int64_t> Tile::shape() const {
  auto s = type().getShape();
  return std::vector<int64_t>(s.begin(), s.end());
}

DType Tile::dtype() const {
  Type t = type().getElementType();
  if (t.isF32())
    return DType::F32;
  if (t.isF16())
    return DType::F16;
  if (t.isBF16())
    return DType::BF16;
  if (t.isInteger(32))
    return DType::I32;
  return DType::I1;
}

const Scalar &TensorArg::size(unsigned dim) const {
  if (dim >= sizes.size())
    throw dsl::Error("tensor '" + name + "': size(" + std::to_string(dim) + ") of a rank-" +
                     std::to_string(sizes.size()) + " tensor");
  return sizes[dim];
}

const Scalar &TensorArg::stride(unsigned dim) const {
  if (dim >= strides.size())
    throw dsl::Error("tensor '" + name + "': stride(" + std::to_string(dim) + ") of a rank-" +
                     std::to_string(strides.size()) + " tensor");
  return strides[dim];
}

TensorArg TensorArg::at(const std::vector<Scalar> &leading, SourceLoc where) const {
  if (leading.size() >= sizes.size())
    throw dsl::Error("tensor '" + name + "'.at(): " + std::to_string(leading.size()) +
                     " indices leave nothing of a rank-" + std::to_string(sizes.size()) +
                     " tensor");
  KernelBuilder &kb = KernelBuilder::current();
  OpBuilder &b = kb.builder();
  // One tile.at of the whole tensor, also for a view of a view, so that the
  // compiler sees which tensor the blocks lie in (TMA maps all of it).
  SmallVector<Value> indices, outerStrides;
  Value base = ptr;
  if (auto outer = ptr.getDefiningOp<tile::AtOp>()) {
    base = outer.getPtr();
    indices.append(outer.getIndices().begin(), outer.getIndices().end());
    outerStrides.append(outer.getStrides().begin(), outer.getStrides().end());
  }
  for (size_t d = 0; d < leading.size(); ++d) {
    indices.push_back(leading[d].getValue());
    outerStrides.push_back(strides[d].getValue());
  }
  Value p = tile::AtOp::create(b, kb.loc(where), base, indices, outerStrides);
  TensorArg t(name, elementType, p,
              std::vector<Scalar>(sizes.begin() + leading.size(), sizes.end()),
              std::vector<Scalar>(strides.begin() + leading.size(), strides.end()));
  t.tf32Values = tf32Values;
  t.sharedInCluster = sharedInCluster;
  // The leading strides are multiples of 16 bytes: the sub-tensor's base is
  // aligned as the tensor's.
  t.vectorAligned = vectorAligned;
  return t;
}

TensorArg TensorArg::transposed() const {
  if (sizes.size() < 2)
    throw dsl::Error("tensor '" + name + "'.transposed(): needs rank 2 or more, got rank " +
                     std::to_string(sizes.size()));
  std::vector<Scalar> s = sizes, st = strides;
  std::swap(s[s.size() - 2], s.back());
  std::swap(st[st.size() - 2], st.back());
  TensorArg t(name, elementType, ptr, std::move(s), std::move(st));
  t.tf32Values = tf32Values;
  return t;
}

TensorArg &TensorArg::sameBlocksInCluster() {
  sharedInCluster = true;
  return *this;
}

TensorArg &TensorArg::assumeRoundedToTf32() {
  if (elementType != DType::F32)
    throw dsl::Error("tensor '" + name + "'.assumeRoundedToTf32(): needs an f32 tensor, got " +
                     std::string(tessera::name(elementType)));
  tf32Values = true;
  return *this;
}
