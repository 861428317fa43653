//===- Ops.cpp - The DSL's operations on tiles and scalars ----------------===//

#include "tessera/dsl/Ops.h"

#include "tessera/Dialect/Tile/IR/TileDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <sstream>

using namespace mlir;
using namespace tessera;
using namespace tessera::dsl;

namespace {

KernelBuilder &kb() { return KernelBuilder::current(); }
OpBuilder &bld() { return kb().builder(); }

std::string shapeStr(ArrayRef<int64_t> shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

std::string typeStr(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

[[noreturn]] void fail(const std::string &op, const std::string &message) {
  throw dsl::Error(op + ": " + message + " (kernel '" + kb().getName() + "')");
}

bool isFloatType(Type t) { return isa<FloatType>(t); }

RankedTensorType tensorOf(ArrayRef<int64_t> shape, Type elem) {
  return RankedTensorType::get(shape, elem);
}

Value constantTile(ArrayRef<int64_t> shape, Type elem, double v, Location l) {
  auto type = tensorOf(shape, elem);
  Attribute a = isFloatType(elem) ? Attribute(FloatAttr::get(elem, v))
                                  : Attribute(IntegerAttr::get(elem, int64_t(v)));
  return arith::ConstantOp::create(bld(), l, DenseElementsAttr::get(type, a));
}

/// Broadcasts `t` to `shape` (same rank, size-1 dims stretch).
Tile broadcastTo(const Tile &t, ArrayRef<int64_t> shape, Location l, const std::string &op) {
  std::vector<int64_t> s = t.shape();
  if (ArrayRef<int64_t>(s) == shape)
    return t;
  if (s.size() != shape.size())
    fail(op, "cannot broadcast a tile of shape " + shapeStr(s) + " to " + shapeStr(shape) +
                 " (ranks differ; use expand_dims)");
  for (size_t d = 0; d < s.size(); ++d)
    if (s[d] != shape[d] && s[d] != 1)
      fail(op, "cannot broadcast a tile of shape " + shapeStr(s) + " to " + shapeStr(shape));
  return Tile(tile::BroadcastOp::create(bld(), l, tensorOf(shape, t.type().getElementType()),
                                        t.getValue()));
}

/// NumPy-style common shape of two tiles of one rank.
std::vector<int64_t> commonShape(const Tile &a, const Tile &b, const std::string &op) {
  std::vector<int64_t> sa = a.shape(), sb = b.shape();
  if (sa.size() != sb.size())
    fail(op, "expects tiles of one rank, got shapes " + shapeStr(sa) + " and " + shapeStr(sb));
  std::vector<int64_t> out(sa.size());
  for (size_t d = 0; d < sa.size(); ++d) {
    if (sa[d] != sb[d] && sa[d] != 1 && sb[d] != 1)
      fail(op, "shapes " + shapeStr(sa) + " and " + shapeStr(sb) + " do not broadcast");
    out[d] = std::max(sa[d], sb[d]);
  }
  return out;
}

std::pair<Value, Value> unify(const Tile &a, const Tile &b, const std::string &op, Location l) {
  if (a.type().getElementType() != b.type().getElementType())
    fail(op, "mixes element types " + typeStr(a.type().getElementType()) + " and " +
                 typeStr(b.type().getElementType()) + "; cast one first");
  std::vector<int64_t> shape = commonShape(a, b, op);
  return {broadcastTo(a, shape, l, op).getValue(), broadcastTo(b, shape, l, op).getValue()};
}

/// A scalar as a tile like `like` (converted to its element type).
Tile scalarAsTile(const Scalar &s, const Tile &like, Location l) {
  Type elem = like.type().getElementType();
  Value v = s.getValue();
  if (v.getType() != elem) {
    if (isFloatType(elem) && v.getType().isInteger(32))
      v = arith::SIToFPOp::create(bld(), l, bld().getF32Type(), v);
    if (isFloatType(elem) && v.getType() != elem)
      v = arith::TruncFOp::create(bld(), l, elem, v);
    if (v.getType() != elem)
      fail("scalar operand",
           "cannot use a " + typeStr(v.getType()) + " scalar with a " + typeStr(elem) + " tile");
  }
  return Tile(tile::SplatOp::create(bld(), l, tensorOf(like.shape(), elem), v));
}

enum class Bin { Add, Sub, Mul, Div, Rem, Max, Min, And, Or, Xor, Shl, Shr };

Tile binary(Bin kind, const Tile &a, const Tile &b, const std::string &op, Location l) {
  auto [x, y] = unify(a, b, op, l);
  bool f = isFloatType(cast<RankedTensorType>(x.getType()).getElementType());
  OpBuilder &o = bld();
  switch (kind) {
  case Bin::Add:
    return Tile(f ? Value(arith::AddFOp::create(o, l, x, y))
                  : Value(arith::AddIOp::create(o, l, x, y)));
  case Bin::Sub:
    return Tile(f ? Value(arith::SubFOp::create(o, l, x, y))
                  : Value(arith::SubIOp::create(o, l, x, y)));
  case Bin::Mul:
    return Tile(f ? Value(arith::MulFOp::create(o, l, x, y))
                  : Value(arith::MulIOp::create(o, l, x, y)));
  case Bin::Div:
    return Tile(f ? Value(arith::DivFOp::create(o, l, x, y))
                  : Value(arith::DivSIOp::create(o, l, x, y)));
  case Bin::Max:
    return Tile(f ? Value(arith::MaximumFOp::create(o, l, x, y))
                  : Value(arith::MaxSIOp::create(o, l, x, y)));
  case Bin::Min:
    return Tile(f ? Value(arith::MinimumFOp::create(o, l, x, y))
                  : Value(arith::MinSIOp::create(o, l, x, y)));
  case Bin::Rem:
    return Tile(f ? Value(arith::RemFOp::create(o, l, x, y))
                  : Value(arith::RemSIOp::create(o, l, x, y)));
  case Bin::And:
  case Bin::Or:
  case Bin::Xor:
    if (f)
      fail(op, "expects integer or boolean tiles");
    if (kind == Bin::And)
      return Tile(arith::AndIOp::create(o, l, x, y));
    if (kind == Bin::Or)
      return Tile(arith::OrIOp::create(o, l, x, y));
    return Tile(arith::XOrIOp::create(o, l, x, y));
  case Bin::Shl:
  case Bin::Shr:
    if (!cast<RankedTensorType>(x.getType()).getElementType().isInteger(32))
      fail(op, "expects i32 tiles");
    // Shifts by 32 or more are undefined in PTX and LLVM alike: counts are
    // taken modulo 32, as the hardware's shf does.
    y = arith::AndIOp::create(
        o, l, y,
        constantTile(cast<RankedTensorType>(y.getType()).getShape(), o.getI32Type(), 31, l));
    return Tile(kind == Bin::Shl ? Value(arith::ShLIOp::create(o, l, x, y))
                                 : Value(arith::ShRSIOp::create(o, l, x, y)));
  }
  fail(op, "unknown operation");
}

enum class Cmp { LT, LE, GT, GE, EQ, NE };

Tile compare(Cmp kind, const Tile &a, const Tile &b, const std::string &op) {
  Location l = kb().loc();
  auto [x, y] = unify(a, b, op, l);
  if (isFloatType(cast<RankedTensorType>(x.getType()).getElementType())) {
    arith::CmpFPredicate p[] = {arith::CmpFPredicate::OLT, arith::CmpFPredicate::OLE,
                                arith::CmpFPredicate::OGT, arith::CmpFPredicate::OGE,
                                arith::CmpFPredicate::OEQ, arith::CmpFPredicate::UNE};
    return Tile(arith::CmpFOp::create(bld(), l, p[int(kind)], x, y));
  }
  arith::CmpIPredicate p[] = {arith::CmpIPredicate::slt, arith::CmpIPredicate::sle,
                              arith::CmpIPredicate::sgt, arith::CmpIPredicate::sge,
                              arith::CmpIPredicate::eq,  arith::CmpIPredicate::ne};
  return Tile(arith::CmpIOp::create(bld(), l, p[int(kind)], x, y));
}

Tile constantLike(const Tile &t, double v) {
  return Tile(constantTile(t.shape(), t.type().getElementType(), v, kb().loc()));
}

template <typename OpTy> Tile unaryMath(const Tile &t, SourceLoc where, const char *name) {
  if (!isFloatType(t.type().getElementType()))
    fail(name, "expects a floating-point tile, got " + typeStr(t.type().getElementType()));
  return Tile(OpTy::create(bld(), kb().loc(where), t.getValue()));
}

Scalar scalarBinary(Bin kind, const Scalar &a, const Scalar &b) {
  Location l = kb().loc();
  Value x = a.getValue(), y = b.getValue();
  bool f = a.isFloat() || b.isFloat();
  if (f) {
    if (!a.isFloat())
      x = arith::SIToFPOp::create(bld(), l, bld().getF32Type(), x);
    if (!b.isFloat())
      y = arith::SIToFPOp::create(bld(), l, bld().getF32Type(), y);
  }
  OpBuilder &o = bld();
  switch (kind) {
  case Bin::Add:
    return Scalar(f ? Value(arith::AddFOp::create(o, l, x, y))
                    : Value(arith::AddIOp::create(o, l, x, y)));
  case Bin::Sub:
    return Scalar(f ? Value(arith::SubFOp::create(o, l, x, y))
                    : Value(arith::SubIOp::create(o, l, x, y)));
  case Bin::Mul:
    return Scalar(f ? Value(arith::MulFOp::create(o, l, x, y))
                    : Value(arith::MulIOp::create(o, l, x, y)));
  case Bin::Div:
    return Scalar(f ? Value(arith::DivFOp::create(o, l, x, y))
                    : Value(arith::DivSIOp::create(o, l, x, y)));
  case Bin::Max:
    return Scalar(f ? Value(arith::MaximumFOp::create(o, l, x, y))
                    : Value(arith::MaxSIOp::create(o, l, x, y)));
  case Bin::Min:
    return Scalar(f ? Value(arith::MinimumFOp::create(o, l, x, y))
                    : Value(arith::MinSIOp::create(o, l, x, y)));
  default:
    throw dsl::Error("scalar: unsupported operation");
  }
}

} // namespace

// --- Program ids ------------------------------------------------------------

Scalar tessera::dsl::program_id(int axis, SourceLoc where) {
  if (axis < 0 || axis > 2)
    fail("program_id", "axis must be 0, 1 or 2, got " + std::to_string(axis));
  return Scalar(tile::ProgramIdOp::create(bld(), kb().loc(where), axis));
}

Scalar tessera::dsl::num_programs(int axis, SourceLoc where) {
  if (axis < 0 || axis > 2)
    fail("num_programs", "axis must be 0, 1 or 2, got " + std::to_string(axis));
  return Scalar(tile::NumProgramsOp::create(bld(), kb().loc(where), axis));
}

// --- Scalars ------------------------------------------------------------------

Scalar tessera::dsl::operator+(const Scalar &a, const Scalar &b) {
  return scalarBinary(Bin::Add, a, b);
}
Scalar tessera::dsl::operator-(const Scalar &a, const Scalar &b) {
  return scalarBinary(Bin::Sub, a, b);
}
Scalar tessera::dsl::operator*(const Scalar &a, const Scalar &b) {
  return scalarBinary(Bin::Mul, a, b);
}
Scalar tessera::dsl::operator/(const Scalar &a, const Scalar &b) {
  return scalarBinary(Bin::Div, a, b);
}
Scalar tessera::dsl::min(const Scalar &a, const Scalar &b) { return scalarBinary(Bin::Min, a, b); }
Scalar tessera::dsl::max(const Scalar &a, const Scalar &b) { return scalarBinary(Bin::Max, a, b); }

namespace {

Scalar compare(arith::CmpIPredicate ip, arith::CmpFPredicate fp, const Scalar &a, const Scalar &b) {
  Location l = kb().loc();
  Value x = a.getValue(), y = b.getValue();
  if (x.getType().isInteger(1) || y.getType().isInteger(1))
    fail("comparison", "expects i32 or f32 scalars, got a boolean");
  if (a.isFloat() || b.isFloat()) {
    if (!a.isFloat())
      x = arith::SIToFPOp::create(bld(), l, bld().getF32Type(), x);
    if (!b.isFloat())
      y = arith::SIToFPOp::create(bld(), l, bld().getF32Type(), y);
    return Scalar(arith::CmpFOp::create(bld(), l, fp, x, y));
  }
  return Scalar(arith::CmpIOp::create(bld(), l, ip, x, y));
}

} // namespace

Scalar tessera::dsl::operator<(const Scalar &a, const Scalar &b) {
  return compare(arith::CmpIPredicate::slt, arith::CmpFPredicate::OLT, a, b);
}
Scalar tessera::dsl::operator<=(const Scalar &a, const Scalar &b) {
  return compare(arith::CmpIPredicate::sle, arith::CmpFPredicate::OLE, a, b);
}
Scalar tessera::dsl::operator>(const Scalar &a, const Scalar &b) {
  return compare(arith::CmpIPredicate::sgt, arith::CmpFPredicate::OGT, a, b);
}
Scalar tessera::dsl::operator>=(const Scalar &a, const Scalar &b) {
  return compare(arith::CmpIPredicate::sge, arith::CmpFPredicate::OGE, a, b);
}
Scalar tessera::dsl::operator==(const Scalar &a, const Scalar &b) {
  return compare(arith::CmpIPredicate::eq, arith::CmpFPredicate::OEQ, a, b);
}
Scalar tessera::dsl::operator!=(const Scalar &a, const Scalar &b) {
  return compare(arith::CmpIPredicate::ne, arith::CmpFPredicate::UNE, a, b);
}

Scalar tessera::dsl::where(const Scalar &cond, const Scalar &a, const Scalar &b) {
  if (!cond.getValue().getType().isInteger(1))
    fail("where", "expects a boolean condition (a comparison of scalars), got " +
                      typeStr(cond.getValue().getType()));
  Location l = kb().loc();
  Value x = a.getValue(), y = b.getValue();
  if (x.getType().isInteger(1) != y.getType().isInteger(1))
    fail("where", "expects two booleans or two numbers");
  if (a.isFloat() != b.isFloat()) {
    if (!a.isFloat())
      x = arith::SIToFPOp::create(bld(), l, bld().getF32Type(), x);
    if (!b.isFloat())
      y = arith::SIToFPOp::create(bld(), l, bld().getF32Type(), y);
  }
  return Scalar(arith::SelectOp::create(bld(), l, cond.getValue(), x, y));
}

Scalar tessera::dsl::operator%(const Scalar &a, const Scalar &b) {
  if (a.isFloat() || b.isFloat())
    fail("operator%", "expects i32 scalars");
  return Scalar(arith::RemSIOp::create(bld(), kb().loc(), a.getValue(), b.getValue()));
}

Scalar tessera::dsl::cdiv(const Scalar &a, const Scalar &b) {
  if (a.isFloat() || b.isFloat())
    fail("cdiv", "expects i32 scalars");
  return Scalar(arith::CeilDivSIOp::create(bld(), kb().loc(), a.getValue(), b.getValue()));
}

Scalar tessera::dsl::f32(double v) {
  return Scalar(
      arith::ConstantFloatOp::create(bld(), kb().loc(), bld().getF32Type(), APFloat(float(v))));
}

Scalar tessera::dsl::to_f32(const Scalar &a) {
  if (a.isFloat())
    return a;
  return Scalar(arith::SIToFPOp::create(bld(), kb().loc(), bld().getF32Type(), a.getValue()));
}

// --- Memory -------------------------------------------------------------------

static tile::DescType descType(const TensorArg &t, ArrayRef<int64_t> shape, Padding padding) {
  Type elem = kb().mlirType(t.dtype());
  return tile::DescType::get(bld().getContext(), shape, elem,
                             padding == Padding::NaN ? tile::Padding::nan : tile::Padding::zero);
}

static Value makeDesc(const TensorArg &t, ArrayRef<int64_t> shape, Padding padding, Location l,
                      const std::string &op, size_t numOffsets) {
  if (numOffsets != t.rank() || shape.size() != t.rank())
    fail(op, "tensor '" + t.getName() + "' has rank " + std::to_string(t.rank()) + "; got " +
                 std::to_string(numOffsets) + " offsets and a block of rank " +
                 std::to_string(shape.size()));
  for (int64_t d : shape)
    if (d <= 0 || (d & (d - 1)))
      fail(op, "block dimensions must be powers of two, got " + shapeStr(shape));
  SmallVector<Value> sizes, strides;
  for (unsigned d = 0; d < t.rank(); ++d) {
    sizes.push_back(t.size(d).getValue());
    strides.push_back(t.stride(d).getValue());
  }
  auto desc = tile::MakeDescOp::create(bld(), l, descType(t, shape, padding), t.basePointer(),
                                       sizes, strides);
  desc.setAligned(t.aligned());
  desc.setClusterShared(t.clusterShared());
  return desc;
}

static SmallVector<Value> offsetValues(const std::vector<Scalar> &offsets, const std::string &op) {
  SmallVector<Value> out;
  for (const Scalar &s : offsets) {
    if (s.isFloat())
      fail(op, "offsets must be i32 scalars");
    out.push_back(s.getValue());
  }
  return out;
}

Tile tessera::dsl::load(const TensorArg &t, const std::vector<Scalar> &offsets,
                        const std::vector<int64_t> &shape, Padding padding, SourceLoc where) {
  Location l = kb().loc(where);
  Value desc = makeDesc(t, shape, padding, l, "load", offsets.size());
  auto type = tensorOf(shape, kb().mlirType(t.dtype()));
  return Tile(
      tile::LoadOp::create(bld(), l, type, desc, offsetValues(offsets, "load"), t.roundedToTf32()));
}

Tile tessera::dsl::gather_rows(const TensorArg &t, const Tile &rows, const Scalar &col,
                               int64_t width, Padding padding, SourceLoc where) {
  Location l = kb().loc(where);
  RankedTensorType rowsType = rows.type();
  if (rowsType.getRank() != 1 || !rowsType.getElementType().isInteger(32))
    fail("gather_rows", "rows must be a 1-D i32 tile, got " + typeStr(rowsType));
  std::vector<int64_t> shape{rowsType.getDimSize(0), width};
  Value desc = makeDesc(t, shape, padding, l, "gather_rows", 2);
  auto type = tensorOf(shape, kb().mlirType(t.dtype()));
  return Tile(tile::GatherOp::create(bld(), l, type, desc, rows.getValue(),
                                     offsetValues({col}, "gather_rows")[0]));
}

Tile tessera::dsl::load(const TensorArg &t, const std::vector<Scalar> &offsets,
                        const std::vector<int64_t> &shape, const Tile &mask, double other,
                        SourceLoc where) {
  if (!mask.type().getElementType().isInteger(1))
    fail("load", "expects a boolean mask, got " + typeStr(mask.type().getElementType()));
  Tile loaded = load(t, offsets, shape, Padding::Zero, where);
  Location l = kb().loc(where);
  Tile m = broadcastTo(mask, shape, l, "load");
  Tile fill = full(shape, other, t.dtype(), where);
  return Tile(arith::SelectOp::create(bld(), l, m.getValue(), loaded.getValue(), fill.getValue()));
}

void tessera::dsl::store(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
                         const Tile &mask, SourceLoc where) {
  Location l = kb().loc(where);
  if (!mask.type().getElementType().isInteger(1))
    fail("store", "expects a boolean mask, got " + typeStr(mask.type().getElementType()));
  if (value.type().getElementType() != kb().mlirType(t.dtype()))
    fail("store", "tensor '" + t.getName() + "' holds " + std::string(name(t.dtype())) +
                      " but the tile is " + typeStr(value.type().getElementType()) +
                      "; cast it first");
  Tile m = broadcastTo(mask, value.shape(), l, "store");
  Value desc = makeDesc(t, value.shape(), Padding::Zero, l, "store", offsets.size());
  tile::StoreOp::create(bld(), l, desc, offsetValues(offsets, "store"), value.getValue(),
                        m.getValue());
}

void tessera::dsl::store(const TensorArg &t, const std::vector<Scalar> &offsets, const Tile &value,
                         SourceLoc where) {
  Location l = kb().loc(where);
  if (value.type().getElementType() != kb().mlirType(t.dtype()))
    fail("store", "tensor '" + t.getName() + "' holds " + std::string(name(t.dtype())) +
                      " but the tile is " + typeStr(value.type().getElementType()) +
                      "; cast it first");
  Value desc = makeDesc(t, value.shape(), Padding::Zero, l, "store", offsets.size());
  tile::StoreOp::create(bld(), l, desc, offsetValues(offsets, "store"), value.getValue());
}

void tessera::dsl::atomic_add(const TensorArg &t, const std::vector<Scalar> &offsets,
                              const Tile &value, SourceLoc where) {
  Location l = kb().loc(where);
  if (t.dtype() != DType::F32 || !value.type().getElementType().isF32())
    fail("atomic_add", "adds f32 tiles into f32 tensors; tensor '" + t.getName() + "' holds " +
                           std::string(name(t.dtype())) + " and the tile is " +
                           typeStr(value.type().getElementType()));
  Value desc = makeDesc(t, value.shape(), Padding::Zero, l, "atomic_add", offsets.size());
  tile::AtomicAddOp::create(bld(), l, desc, offsetValues(offsets, "atomic_add"), value.getValue());
}

namespace {

/// The tile's element type matches `t`'s dtype, f32 or i32 (`allowF32`).
void checkAtomic(const TensorArg &t, const Tile &value, const char *op, bool allowF32) {
  Type elem = value.type().getElementType();
  bool f32 = t.dtype() == DType::F32 && elem.isF32();
  bool i32 = t.dtype() == DType::I32 && elem.isInteger(32);
  if (!(i32 || (allowF32 && f32)))
    fail(op, std::string(allowF32 ? "takes f32 or i32" : "takes i32") +
                 " tiles into tensors of the same dtype; tensor '" + t.getName() + "' holds " +
                 std::string(name(t.dtype())) + " and the tile is " + typeStr(elem));
}

Tile atomicRMW(tile::AtomicKind kind, const TensorArg &t, const std::vector<Scalar> &offsets,
               const Tile &value, SourceLoc where, const char *op) {
  Location l = kb().loc(where);
  checkAtomic(t, value, op, /*allowF32=*/true);
  Value desc = makeDesc(t, value.shape(), Padding::Zero, l, op, offsets.size());
  return Tile(
      tile::AtomicRMWOp::create(bld(), l, kind, desc, offsetValues(offsets, op), value.getValue()));
}

} // namespace

Tile tessera::dsl::atomic_max(const TensorArg &t, const std::vector<Scalar> &offsets,
                              const Tile &value, SourceLoc where) {
  return atomicRMW(tile::AtomicKind::max, t, offsets, value, where, "atomic_max");
}

Tile tessera::dsl::atomic_min(const TensorArg &t, const std::vector<Scalar> &offsets,
                              const Tile &value, SourceLoc where) {
  return atomicRMW(tile::AtomicKind::min, t, offsets, value, where, "atomic_min");
}

Tile tessera::dsl::atomic_xchg(const TensorArg &t, const std::vector<Scalar> &offsets,
                               const Tile &value, SourceLoc where) {
  return atomicRMW(tile::AtomicKind::xchg, t, offsets, value, where, "atomic_xchg");
}

Tile tessera::dsl::atomic_fetch_add(const TensorArg &t, const std::vector<Scalar> &offsets,
                                    const Tile &value, SourceLoc where) {
  return atomicRMW(tile::AtomicKind::add, t, offsets, value, where, "atomic_fetch_add");
}

Tile tessera::dsl::atomic_cas(const TensorArg &t, const std::vector<Scalar> &offsets,
                              const Tile &cmp, const Tile &value, SourceLoc where) {
  Location l = kb().loc(where);
  checkAtomic(t, value, "atomic_cas", /*allowF32=*/false);
  if (cmp.type() != value.type())
    fail("atomic_cas", "expects cmp and value of one type, got " + typeStr(cmp.type()) + " and " +
                           typeStr(value.type()));
  Value desc = makeDesc(t, value.shape(), Padding::Zero, l, "atomic_cas", offsets.size());
  return Tile(tile::AtomicCASOp::create(bld(), l, desc, offsetValues(offsets, "atomic_cas"),
                                        cmp.getValue(), value.getValue()));
}

// --- Construction ------------------------------------------------------------

Tile tessera::dsl::arange(int64_t n, SourceLoc where) {
  if (n <= 0 || (n & (n - 1)))
    fail("arange", "length must be a power of two, got " + std::to_string(n));
  return Tile(tile::IotaOp::create(bld(), kb().loc(where), tensorOf({n}, bld().getI32Type())));
}

Tile tessera::dsl::full(const std::vector<int64_t> &shape, double value, DType dtype,
                        SourceLoc where) {
  for (int64_t d : shape)
    if (d <= 0 || (d & (d - 1)))
      fail("full", "dimensions must be powers of two, got " + shapeStr(shape));
  return Tile(constantTile(shape, kb().mlirType(dtype), value, kb().loc(where)));
}

Tile tessera::dsl::zeros(const std::vector<int64_t> &shape, DType dtype, SourceLoc where) {
  return full(shape, 0.0, dtype, where);
}

Tile tessera::dsl::splat(const Scalar &s, const std::vector<int64_t> &shape, SourceLoc where) {
  return Tile(tile::SplatOp::create(bld(), kb().loc(where), tensorOf(shape, s.getValue().getType()),
                                    s.getValue()));
}

// --- Shape -------------------------------------------------------------------

Tile tessera::dsl::expand_dims(const Tile &t, int axis, SourceLoc where) {
  std::vector<int64_t> shape = t.shape();
  if (axis < 0 || axis > int(shape.size()))
    fail("expand_dims",
         "axis " + std::to_string(axis) + " out of range for a tile of shape " + shapeStr(shape));
  shape.insert(shape.begin() + axis, 1);
  return Tile(tile::ExpandDimsOp::create(bld(), kb().loc(where),
                                         tensorOf(shape, t.type().getElementType()), t.getValue(),
                                         bld().getI32IntegerAttr(axis)));
}

Tile tessera::dsl::broadcast_to(const Tile &t, const std::vector<int64_t> &shape, SourceLoc where) {
  return broadcastTo(t, shape, kb().loc(where), "broadcast_to");
}

Tile tessera::dsl::trans(const Tile &t, SourceLoc where) {
  std::vector<int64_t> s = t.shape();
  if (s.size() != 2)
    fail("trans", "expects a 2-D tile, got shape " + shapeStr(s));
  return Tile(tile::TransOp::create(
      bld(), kb().loc(where), tensorOf({s[1], s[0]}, t.type().getElementType()), t.getValue()));
}

Tile tessera::dsl::cast(const Tile &t, DType to, SourceLoc where) {
  Location l = kb().loc(where);
  Type from = t.type().getElementType(), dst = kb().mlirType(to);
  if (from == dst)
    return t;
  auto type = tensorOf(t.shape(), dst);
  OpBuilder &o = bld();
  Value v = t.getValue();
  if (isFloatType(from) && isFloatType(dst)) {
    unsigned fw = from.getIntOrFloatBitWidth(), tw = dst.getIntOrFloatBitWidth();
    if (fw == tw) { // f16 <-> bf16 through f32
      v = arith::ExtFOp::create(o, l, tensorOf(t.shape(), o.getF32Type()), v);
      return Tile(arith::TruncFOp::create(o, l, type, v));
    }
    return Tile(fw < tw ? Value(arith::ExtFOp::create(o, l, type, v))
                        : Value(arith::TruncFOp::create(o, l, type, v)));
  }
  if (isFloatType(dst))
    return Tile(from.isInteger(1) ? Value(arith::UIToFPOp::create(o, l, type, v))
                                  : Value(arith::SIToFPOp::create(o, l, type, v)));
  if (dst.isInteger(1)) {
    Tile zero = constantLike(t, 0.0);
    return isFloatType(from) ? compare(Cmp::NE, t, zero, "cast")
                             : compare(Cmp::NE, t, zero, "cast");
  }
  if (isFloatType(from))
    return Tile(arith::FPToSIOp::create(o, l, type, v));
  return Tile(arith::ExtUIOp::create(o, l, type, v)); // i1 -> i32
}

Tile tessera::dsl::round_to_tf32(const Tile &t, SourceLoc where) {
  Location l = kb().loc(where);
  if (!t.type().getElementType().isF32())
    fail("round_to_tf32", "expects an f32 tile, got " + typeStr(t.type()));
  OpBuilder &o = bld();
  auto bitsType = tensorOf(t.shape(), o.getI32Type());
  auto splat = [&](int32_t c) {
    return arith::ConstantOp::create(
        o, l, DenseElementsAttr::get(bitsType, o.getI32IntegerAttr(c).getValue()));
  };
  Value bits = arith::BitcastOp::create(o, l, bitsType, t.getValue());
  bits = arith::AddIOp::create(o, l, bits, splat(0x1000));
  bits = arith::AndIOp::create(o, l, bits, splat(~0x1fff));
  return Tile(arith::BitcastOp::create(o, l, t.type(), bits));
}

// --- Random numbers ----------------------------------------------------------------

// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011): ten rounds of
//   (hi0, lo0) = mulhilo(M0, c0),  (hi1, lo1) = mulhilo(M1, c2)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0),  k += (W0, W1)
// on the counter c = (offset, 0, 0, 0) and key k = (seed, 0); the result is
// the first word. A stateless function of (seed, offset): any program
// computes any element's number, as Triton's tl.randint.
Tile tessera::dsl::randint(const Scalar &seed, const Tile &offsets, SourceLoc where) {
  Location l = kb().loc(where);
  if (!offsets.type().getElementType().isInteger(32))
    fail("randint", "expects i32 offsets, got " + typeStr(offsets.type()));
  if (seed.isFloat())
    fail("randint", "expects an i32 seed");
  OpBuilder &o = bld();
  RankedTensorType type = offsets.type();
  auto splatScalar = [&](Value v) { return tile::SplatOp::create(o, l, type, v).getResult(); };
  auto constant = [&](uint32_t c) {
    return arith::ConstantOp::create(
        o, l, DenseElementsAttr::get(type, o.getI32IntegerAttr(int32_t(c)).getValue()));
  };
  auto scalarConstant = [&](uint32_t c) {
    return arith::ConstantIntOp::create(o, l, o.getI32Type(), int32_t(c)).getResult();
  };
  Value m0 = constant(0xD2511F53), m1 = constant(0xCD9E8D57);
  Value zero = constant(0);
  Value c0 = offsets.getValue(), c1 = zero, c2 = zero, c3 = zero;
  Value k0 = seed.getValue(), k1 = scalarConstant(0);
  for (int round = 0; round < 10; ++round) {
    auto p0 = arith::MulUIExtendedOp::create(o, l, m0, c0);
    auto p1 = arith::MulUIExtendedOp::create(o, l, m1, c2);
    Value n0 =
        arith::XOrIOp::create(o, l, arith::XOrIOp::create(o, l, p1.getHigh(), c1), splatScalar(k0));
    Value n2 =
        arith::XOrIOp::create(o, l, arith::XOrIOp::create(o, l, p0.getHigh(), c3), splatScalar(k1));
    c0 = n0, c1 = p1.getLow(), c2 = n2, c3 = p0.getLow();
    k0 = arith::AddIOp::create(o, l, k0, scalarConstant(0x9E3779B9));
    k1 = arith::AddIOp::create(o, l, k1, scalarConstant(0xBB67AE85));
  }
  return Tile(c0);
}

Tile tessera::dsl::rand(const Scalar &seed, const Tile &offsets, SourceLoc where) {
  Location l = kb().loc(where);
  OpBuilder &o = bld();
  Value bits = randint(seed, offsets, where).getValue();
  RankedTensorType type = offsets.type();
  // The top 24 bits, scaled by 2^-24: every value exact in f32, in [0, 1).
  Value top = arith::ShRUIOp::create(
      o, l, bits,
      arith::ConstantOp::create(o, l,
                                DenseElementsAttr::get(type, o.getI32IntegerAttr(8).getValue())));
  Value asFloat = arith::UIToFPOp::create(o, l, tensorOf(type.getShape(), o.getF32Type()), top);
  return Tile(asFloat) * std::ldexp(1.0, -24);
}

// --- Elementwise -----------------------------------------------------------------

Tile tessera::dsl::operator+(const Tile &a, const Tile &b) {
  return binary(Bin::Add, a, b, "operator+", kb().loc());
}
Tile tessera::dsl::operator-(const Tile &a, const Tile &b) {
  return binary(Bin::Sub, a, b, "operator-", kb().loc());
}
Tile tessera::dsl::operator*(const Tile &a, const Tile &b) {
  return binary(Bin::Mul, a, b, "operator*", kb().loc());
}
Tile tessera::dsl::operator/(const Tile &a, const Tile &b) {
  return binary(Bin::Div, a, b, "operator/", kb().loc());
}
Tile tessera::dsl::operator&(const Tile &a, const Tile &b) {
  return binary(Bin::And, a, b, "operator&", kb().loc());
}
Tile tessera::dsl::operator|(const Tile &a, const Tile &b) {
  return binary(Bin::Or, a, b, "operator|", kb().loc());
}
Tile tessera::dsl::operator^(const Tile &a, const Tile &b) {
  return binary(Bin::Xor, a, b, "operator^", kb().loc());
}
Tile tessera::dsl::operator<<(const Tile &a, const Tile &b) {
  return binary(Bin::Shl, a, b, "operator<<", kb().loc());
}
Tile tessera::dsl::operator>>(const Tile &a, const Tile &b) {
  return binary(Bin::Shr, a, b, "operator>>", kb().loc());
}
Tile tessera::dsl::operator%(const Tile &a, const Tile &b) {
  return binary(Bin::Rem, a, b, "operator%", kb().loc());
}
Tile tessera::dsl::operator-(const Tile &a) { return constantLike(a, 0.0) - a; }

Tile tessera::dsl::operator+(const Tile &a, const Scalar &b) {
  return a + scalarAsTile(b, a, kb().loc());
}
Tile tessera::dsl::operator-(const Tile &a, const Scalar &b) {
  return a - scalarAsTile(b, a, kb().loc());
}
Tile tessera::dsl::operator*(const Tile &a, const Scalar &b) {
  return a * scalarAsTile(b, a, kb().loc());
}
Tile tessera::dsl::operator/(const Tile &a, const Scalar &b) {
  return a / scalarAsTile(b, a, kb().loc());
}
Tile tessera::dsl::operator+(const Scalar &a, const Tile &b) {
  return scalarAsTile(a, b, kb().loc()) + b;
}
Tile tessera::dsl::operator-(const Scalar &a, const Tile &b) {
  return scalarAsTile(a, b, kb().loc()) - b;
}
Tile tessera::dsl::operator*(const Scalar &a, const Tile &b) {
  return scalarAsTile(a, b, kb().loc()) * b;
}

Tile tessera::dsl::operator+(const Tile &a, double b) { return a + constantLike(a, b); }
Tile tessera::dsl::operator-(const Tile &a, double b) { return a - constantLike(a, b); }
Tile tessera::dsl::operator*(const Tile &a, double b) { return a * constantLike(a, b); }
Tile tessera::dsl::operator/(const Tile &a, double b) { return a / constantLike(a, b); }

Tile tessera::dsl::operator<(const Tile &a, const Tile &b) {
  return compare(Cmp::LT, a, b, "operator<");
}
Tile tessera::dsl::operator<=(const Tile &a, const Tile &b) {
  return compare(Cmp::LE, a, b, "operator<=");
}
Tile tessera::dsl::operator>(const Tile &a, const Tile &b) {
  return compare(Cmp::GT, a, b, "operator>");
}
Tile tessera::dsl::operator>=(const Tile &a, const Tile &b) {
  return compare(Cmp::GE, a, b, "operator>=");
}
Tile tessera::dsl::operator==(const Tile &a, const Tile &b) {
  return compare(Cmp::EQ, a, b, "operator==");
}
Tile tessera::dsl::operator!=(const Tile &a, const Tile &b) {
  return compare(Cmp::NE, a, b, "operator!=");
}
Tile tessera::dsl::operator<(const Tile &a, const Scalar &b) {
  return a < scalarAsTile(b, a, kb().loc());
}
Tile tessera::dsl::operator>=(const Tile &a, const Scalar &b) {
  return a >= scalarAsTile(b, a, kb().loc());
}

Tile tessera::dsl::where(const Tile &cond, const Tile &a, const Tile &b, SourceLoc where) {
  Location l = kb().loc(where);
  if (!cond.type().getElementType().isInteger(1))
    fail("where", "expects a boolean condition, got " + typeStr(cond.type().getElementType()));
  auto [x, y] = unify(a, b, "where", l);
  Tile tx(x);
  std::vector<int64_t> shape = commonShape(cond, tx, "where");
  Value c = broadcastTo(cond, shape, l, "where").getValue();
  x = broadcastTo(tx, shape, l, "where").getValue();
  y = broadcastTo(Tile(y), shape, l, "where").getValue();
  return Tile(arith::SelectOp::create(bld(), l, c, x, y));
}

Tile tessera::dsl::maximum(const Tile &a, const Tile &b, SourceLoc where) {
  return binary(Bin::Max, a, b, "maximum", kb().loc(where));
}
Tile tessera::dsl::minimum(const Tile &a, const Tile &b, SourceLoc where) {
  return binary(Bin::Min, a, b, "minimum", kb().loc(where));
}

Tile tessera::dsl::rescale_rows(const Tile &x, const Tile &factor, SourceLoc where) {
  Location l = kb().loc(where);
  std::vector<int64_t> shape = x.shape(), factorShape = factor.shape();
  if (shape.size() != 2 || !isFloatType(x.type().getElementType()))
    fail("rescale_rows", "expects a 2-D float tile, got " + typeStr(x.type()));
  if (factorShape != std::vector<int64_t>{shape[0]} ||
      factor.type().getElementType() != x.type().getElementType())
    fail("rescale_rows", "expects a factor of shape [" + std::to_string(shape[0]) + "] and type " +
                             typeStr(x.type().getElementType()) + ", got " +
                             typeStr(factor.type()));
  Tile factors = broadcastTo(expand_dims(factor, 1, where), shape, l, "rescale_rows");
  auto mul = arith::MulFOp::create(bld(), l, x.getValue(), factors.getValue());
  mul->setAttr(tile::kSkipUnitFactorAttr, UnitAttr::get(bld().getContext()));
  return Tile(mul.getResult());
}
Tile tessera::dsl::exp(const Tile &t, SourceLoc w) { return unaryMath<math::ExpOp>(t, w, "exp"); }
Tile tessera::dsl::exp2(const Tile &t, SourceLoc w) {
  return unaryMath<math::Exp2Op>(t, w, "exp2");
}
Tile tessera::dsl::log(const Tile &t, SourceLoc w) { return unaryMath<math::LogOp>(t, w, "log"); }
Tile tessera::dsl::log2(const Tile &t, SourceLoc w) {
  return unaryMath<math::Log2Op>(t, w, "log2");
}
Tile tessera::dsl::sqrt(const Tile &t, SourceLoc w) {
  return unaryMath<math::SqrtOp>(t, w, "sqrt");
}
Tile tessera::dsl::rsqrt(const Tile &t, SourceLoc w) {
  return unaryMath<math::RsqrtOp>(t, w, "rsqrt");
}
Tile tessera::dsl::abs(const Tile &t, SourceLoc w) { return unaryMath<math::AbsFOp>(t, w, "abs"); }
Tile tessera::dsl::sin(const Tile &t, SourceLoc w) { return unaryMath<math::SinOp>(t, w, "sin"); }
Tile tessera::dsl::cos(const Tile &t, SourceLoc w) { return unaryMath<math::CosOp>(t, w, "cos"); }
Tile tessera::dsl::erf(const Tile &t, SourceLoc w) { return unaryMath<math::ErfOp>(t, w, "erf"); }
Tile tessera::dsl::floor(const Tile &t, SourceLoc w) {
  return unaryMath<math::FloorOp>(t, w, "floor");
}
Tile tessera::dsl::ceil(const Tile &t, SourceLoc w) {
  return unaryMath<math::CeilOp>(t, w, "ceil");
}

Tile tessera::dsl::sigmoid(const Tile &t, SourceLoc w) {
  if (!isFloatType(t.type().getElementType()))
    fail("sigmoid", "expects a float tile, got " + typeStr(t.type()));
  // 1 / (1 + e^-x) in f32 with one approximate reciprocal: e^-x overflows to
  // inf for x < -88 and the result is then 0, as it should be.
  Tile x = cast(t, DType::F32, w);
  return cast(reciprocal(exp(-x, w) + 1.0, w), t.dtype(), w);
}

Tile tessera::dsl::fma(const Tile &a, const Tile &b, const Tile &c, SourceLoc where) {
  Location l = kb().loc(where);
  if (!isFloatType(a.type().getElementType()))
    fail("fma", "expects float tiles, got " + typeStr(a.type()));
  // Broadcast all three to one shape.
  auto [x, y] = unify(a, b, "fma", l);
  auto [xc, z] = unify(Tile(x), c, "fma", l);
  auto [yc, zc] = unify(Tile(y), Tile(z), "fma", l);
  return Tile(math::FmaOp::create(bld(), l, xc, yc, zc));
}

Tile tessera::dsl::tanh(const Tile &t, SourceLoc w) {
  return unaryMath<math::TanhOp>(t, w, "tanh");
}
Tile tessera::dsl::reciprocal(const Tile &t, SourceLoc where) {
  if (!t.type().getElementType().isF32())
    fail("reciprocal", "expects an f32 tile, got " + typeStr(t.type()));
  Location l = kb().loc(where);
  Value one = constantTile(t.shape(), t.type().getElementType(), 1.0, l);
  return Tile(arith::DivFOp::create(bld(), l, one, t.getValue(), arith::FastMathFlags::afn));
}

// --- Reductions ---------------------------------------------------------------

static Tile reduceKind(tile::ReduceKind kind, const Tile &t, int axis, SourceLoc where,
                       const char *name) {
  Location l = kb().loc(where);
  Tile src = t;
  if (t.rank() == 1) {
    if (axis != 0)
      fail(name, "axis " + std::to_string(axis) + " out of range for a 1-D tile");
    src = expand_dims(t, 0, where);
    axis = 1;
  }
  std::vector<int64_t> shape = src.shape();
  if (axis < 0 || axis >= int(shape.size()))
    fail(name,
         "axis " + std::to_string(axis) + " out of range for a tile of shape " + shapeStr(shape));
  shape.erase(shape.begin() + axis);
  return Tile(tile::ReduceOp::create(bld(), l, tensorOf(shape, t.type().getElementType()),
                                     tile::ReduceKindAttr::get(bld().getContext(), kind),
                                     src.getValue(), bld().getI32IntegerAttr(axis)));
}

Tile tessera::dsl::reduce_sum(const Tile &t, int axis, SourceLoc w) {
  return reduceKind(tile::ReduceKind::sum, t, axis, w, "reduce_sum");
}
Tile tessera::dsl::reduce_max(const Tile &t, int axis, SourceLoc w) {
  return reduceKind(tile::ReduceKind::max, t, axis, w, "reduce_max");
}
Tile tessera::dsl::reduce_min(const Tile &t, int axis, SourceLoc w) {
  return reduceKind(tile::ReduceKind::min, t, axis, w, "reduce_min");
}

/// The first index along `axis` where `t` equals its reduction: the
/// reduction, then the minimum of the indices (or the axis' length) where
/// the elements equal it.
static Tile argReduce(tile::ReduceKind kind, const Tile &t, int axis, SourceLoc loc,
                      const char *name) {
  Tile src = t;
  if (t.rank() == 1) {
    if (axis != 0)
      fail(name, "axis " + std::to_string(axis) + " out of range for a 1-D tile");
    src = expand_dims(t, 0, loc);
    axis = 1;
  }
  std::vector<int64_t> shape = src.shape();
  if (shape.size() != 2 || axis < 0 || axis > 1)
    fail(name, "expects a 1- or 2-D tile and an axis of it, got shape " + shapeStr(t.shape()) +
                   " and axis " + std::to_string(axis));
  Tile best = reduceKind(kind, src, axis, loc, name);
  Tile bestAll = broadcast_to(expand_dims(best, axis, loc), shape, loc);
  int64_t n = shape[axis];
  Tile index = broadcast_to(expand_dims(arange(n, loc), 1 - axis, loc), shape, loc);
  Tile candidates = where(src == bestAll, index, full(shape, double(n), DType::I32, loc), loc);
  return reduceKind(tile::ReduceKind::min, candidates, axis, loc, name);
}

Tile tessera::dsl::argmax(const Tile &t, int axis, SourceLoc w) {
  return argReduce(tile::ReduceKind::max, t, axis, w, "argmax");
}
Tile tessera::dsl::argmin(const Tile &t, int axis, SourceLoc w) {
  return argReduce(tile::ReduceKind::min, t, axis, w, "argmin");
}

/// Fills `region` with the block of `combine` over scalars of `elems` (the
/// left ones, then the right ones).
static void buildCombine(Region &region, const SmallVector<Type> &elems, const CombineN &combine,
                         Location l, const char *name) {
  OpBuilder &o = bld();
  OpBuilder::InsertionGuard guard(o);
  SmallVector<Type> args(elems);
  args.append(elems);
  Block *body = o.createBlock(&region, {}, args, SmallVector<Location>(args.size(), l));
  std::vector<Scalar> left, right;
  for (unsigned i = 0; i < elems.size(); ++i) {
    left.emplace_back(body->getArgument(i));
    right.emplace_back(body->getArgument(elems.size() + i));
  }
  std::vector<Scalar> results = combine(left, right);
  if (results.size() != elems.size())
    fail(name, "the combine function must return " + std::to_string(elems.size()) +
                   " scalars, got " + std::to_string(results.size()));
  SmallVector<Value> values;
  for (auto [i, r] : llvm::enumerate(results)) {
    if (!r.getValue() || r.getValue().getType() != elems[i])
      fail(name, "the combine function's result " + std::to_string(i) + " must be a " +
                     typeStr(elems[i]) + " scalar, got " +
                     (r.getValue() ? typeStr(r.getValue().getType()) : "nothing"));
    values.push_back(r.getValue());
  }
  tile::YieldOp::create(o, l, values);
}

/// 16-bit float tiles combine in f32: the tiles widened, and the dtypes to
/// round the results back to.
static std::pair<std::vector<Tile>, std::vector<DType>>
combineInF32(const std::vector<Tile> &ts, SourceLoc where, const char *name) {
  if (ts.empty())
    fail(name, "expects at least one tile");
  std::vector<Tile> wide;
  std::vector<DType> dtypes;
  for (const Tile &t : ts) {
    if (t.shape() != ts.front().shape())
      fail(name, "expects tiles of one shape, got " + shapeStr(ts.front().shape()) + " and " +
                     shapeStr(t.shape()));
    DType dtype = t.dtype();
    dtypes.push_back(dtype);
    wide.push_back(dtype == DType::F16 || dtype == DType::BF16 ? cast(t, DType::F32, where) : t);
  }
  return {wide, dtypes};
}

static SmallVector<Type> elementTypes(const std::vector<Tile> &ts) {
  SmallVector<Type> elems;
  for (const Tile &t : ts)
    elems.push_back(t.type().getElementType());
  return elems;
}

static CombineN single(const Combine &combine) {
  return [combine](const std::vector<Scalar> &a, const std::vector<Scalar> &b) {
    return std::vector<Scalar>{combine(a[0], b[0])};
  };
}

std::vector<Tile> tessera::dsl::reduce(const std::vector<Tile> &ts, int axis,
                                       const CombineN &combine, SourceLoc where) {
  if (!combine)
    fail("reduce", "expects a combine function");
  Location l = kb().loc(where);
  auto [srcs, dtypes] = combineInF32(ts, where, "reduce");
  if (srcs.front().rank() == 1) {
    if (axis != 0)
      fail("reduce", "axis " + std::to_string(axis) + " out of range for a 1-D tile");
    for (Tile &t : srcs)
      t = expand_dims(t, 0, where);
    axis = 1;
  }
  std::vector<int64_t> shape = srcs.front().shape();
  if (axis < 0 || axis >= int(shape.size()))
    fail("reduce",
         "axis " + std::to_string(axis) + " out of range for a tile of shape " + shapeStr(shape));
  shape.erase(shape.begin() + axis);
  SmallVector<Type> elems = elementTypes(srcs), resultTypes;
  SmallVector<Value> values;
  for (auto [t, elem] : llvm::zip(srcs, elems)) {
    resultTypes.push_back(tensorOf(shape, elem));
    values.push_back(t.getValue());
  }
  auto op =
      tile::ReduceCombineOp::create(bld(), l, resultTypes, values, bld().getI32IntegerAttr(axis));
  buildCombine(op.getCombine(), elems, combine, l, "reduce");
  std::vector<Tile> results;
  for (auto [r, dtype] : llvm::zip(op.getResults(), dtypes))
    results.push_back(cast(Tile(r), dtype, where));
  return results;
}

Tile tessera::dsl::reduce(const Tile &t, int axis, const Combine &combine, SourceLoc where) {
  if (!combine)
    fail("reduce", "expects a combine function");
  return reduce(std::vector<Tile>{t}, axis, single(combine), where).front();
}

std::vector<Tile> tessera::dsl::associative_scan(const std::vector<Tile> &ts, int axis,
                                                 const CombineN &combine, bool reverse,
                                                 SourceLoc where) {
  if (!combine)
    fail("associative_scan", "expects a combine function");
  Location l = kb().loc(where);
  auto [srcs, dtypes] = combineInF32(ts, where, "associative_scan");
  if (axis < 0 || axis >= int(srcs.front().rank()))
    fail("associative_scan", "axis " + std::to_string(axis) + " out of range for a tile of shape " +
                                 shapeStr(srcs.front().shape()));
  SmallVector<Type> resultTypes;
  SmallVector<Value> values;
  for (const Tile &t : srcs) {
    resultTypes.push_back(t.type());
    values.push_back(t.getValue());
  }
  auto op = tile::ScanOp::create(bld(), l, resultTypes, values, bld().getI32IntegerAttr(axis),
                                 reverse ? bld().getUnitAttr() : UnitAttr());
  buildCombine(op.getCombine(), elementTypes(srcs), combine, l, "associative_scan");
  std::vector<Tile> results;
  for (auto [r, dtype] : llvm::zip(op.getResults(), dtypes))
    results.push_back(cast(Tile(r), dtype, where));
  return results;
}

Tile tessera::dsl::associative_scan(const Tile &t, int axis, const Combine &combine, bool reverse,
                                    SourceLoc where) {
  if (!combine)
    fail("associative_scan", "expects a combine function");
  return associative_scan(std::vector<Tile>{t}, axis, single(combine), reverse, where).front();
}

Tile tessera::dsl::cumsum(const Tile &t, int axis, bool reverse, SourceLoc where) {
  return associative_scan(
      t, axis, [](const Scalar &a, const Scalar &b) { return a + b; }, reverse, where);
}

Tile tessera::dsl::cumprod(const Tile &t, int axis, bool reverse, SourceLoc where) {
  return associative_scan(
      t, axis, [](const Scalar &a, const Scalar &b) { return a * b; }, reverse, where);
}

// --- Matrix product -----------------------------------------------------------

Tile tessera::dsl::dot(const Tile &a, const Tile &b, const Tile &acc, SourceLoc where) {
  return dot(a, b, acc, DotPrecision::ieee, where);
}

Tile tessera::dsl::dot(const Tile &a, const Tile &b, DotPrecision precision, SourceLoc where) {
  std::vector<int64_t> sa = a.shape(), sb = b.shape();
  if (sa.size() != 2 || sb.size() != 2)
    fail("dot", "expects 2-D operands");
  return dot(a, b, zeros({sa[0], sb[1]}, DType::F32, where), precision, where);
}

Tile tessera::dsl::dot(const Tile &a, const Tile &b, const Tile &acc, DotPrecision precision,
                       SourceLoc where) {
  std::vector<int64_t> sa = a.shape(), sb = b.shape(), sc = acc.shape();
  if (sa.size() != 2 || sb.size() != 2)
    fail("dot", "expects 2-D operands, got shapes " + shapeStr(sa) + " and " + shapeStr(sb));
  if (sa[1] != sb[0])
    fail("dot", "lhs columns (" + std::to_string(sa[1]) + ") must equal rhs rows (" +
                    std::to_string(sb[0]) + ")");
  if (sc != std::vector<int64_t>{sa[0], sb[1]})
    fail("dot", "accumulator must be " + shapeStr({sa[0], sb[1]}) + ", got " + shapeStr(sc));
  if (a.type().getElementType() != b.type().getElementType())
    fail("dot", "operands mix " + typeStr(a.type().getElementType()) + " and " +
                    typeStr(b.type().getElementType()));
  if (!acc.type().getElementType().isF32())
    fail("dot", "accumulator must be f32");
  auto op = tile::DotOp::create(bld(), kb().loc(where), acc.type(), a.getValue(), b.getValue(),
                                acc.getValue());
  op.setTf32(precision == DotPrecision::tf32 && a.type().getElementType().isF32());
  return Tile(op.getResult());
}

Tile tessera::dsl::dot(const Tile &a, const Tile &b, SourceLoc where) {
  std::vector<int64_t> sa = a.shape(), sb = b.shape();
  if (sa.size() != 2 || sb.size() != 2)
    fail("dot", "expects 2-D operands");
  return dot(a, b, zeros({sa[0], sb[1]}, DType::F32, where), where);
}

// --- Control flow ----------------------------------------------------------------

std::vector<Tile> tessera::dsl::for_range(
    const Scalar &lo, const Scalar &hi, const Scalar &step, const std::vector<Tile> &init,
    const std::function<std::vector<Tile>(Scalar, const std::vector<Tile> &)> &body,
    SourceLoc where) {
  if (lo.isFloat() || hi.isFloat() || step.isFloat())
    fail("for_range", "bounds and step must be i32 scalars");
  Location l = kb().loc(where);
  SmallVector<Value> inits;
  for (const Tile &t : init)
    inits.push_back(t.getValue());
  OpBuilder &o = bld();
  auto loop = scf::ForOp::create(o, l, lo.getValue(), hi.getValue(), step.getValue(), inits);
  std::vector<Tile> results;
  {
    OpBuilder::InsertionGuard guard(o);
    o.setInsertionPointToStart(loop.getBody());
    std::vector<Tile> carried;
    for (Value v : loop.getRegionIterArgs())
      carried.emplace_back(v);
    std::vector<Tile> next = body(Scalar(loop.getInductionVar()), carried);
    if (next.size() != init.size())
      fail("for_range", "body returned " + std::to_string(next.size()) + " tiles for " +
                            std::to_string(init.size()) + " carried");
    SmallVector<Value> yields;
    for (size_t i = 0; i < next.size(); ++i) {
      if (next[i].type() != init[i].type())
        fail("for_range", "carried tile " + std::to_string(i) + " changes type from " +
                              typeStr(init[i].type()) + " to " + typeStr(next[i].type()));
      yields.push_back(next[i].getValue());
    }
    // scf.for's builder added an empty yield when there is nothing carried.
    // The builder inserted before it: continue at the end once it is gone.
    if (!loop.getBody()->empty() && isa<scf::YieldOp>(loop.getBody()->back()))
      loop.getBody()->back().erase();
    o.setInsertionPointToEnd(loop.getBody());
    scf::YieldOp::create(o, l, yields);
  }
  for (Value v : loop.getResults())
    results.emplace_back(v);
  return results;
}

void tessera::dsl::if_(const Scalar &cond, const std::function<void()> &then,
                       const std::function<void()> &otherwise, SourceLoc where) {
  if (!cond.getValue().getType().isInteger(1))
    fail("if_", "expects a boolean condition (a comparison of scalars), got " +
                    typeStr(cond.getValue().getType()));
  Location l = kb().loc(where);
  OpBuilder &o = bld();
  auto ifOp = scf::IfOp::create(o, l, TypeRange{}, cond.getValue(), bool(otherwise));
  OpBuilder::InsertionGuard guard(o);
  o.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  then();
  if (otherwise) {
    o.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    otherwise();
  }
}

/// Read on every launch (kernels::detail::jitKernel's key): the environment
/// once, then an atomic load.
static std::atomic<bool> &debugFlag() {
  static std::atomic<bool> flag = [] {
    const char *env = std::getenv("TESSERA_DEBUG");
    return env && std::string(env) == "1";
  }();
  return flag;
}

bool tessera::dsl::debugEnabled() { return debugFlag().load(std::memory_order_relaxed); }
void tessera::dsl::setDebug(bool on) { debugFlag().store(on, std::memory_order_relaxed); }

void tessera::dsl::device_assert(const Tile &cond, const std::string &message, SourceLoc where) {
  if (!cond.type().getElementType().isInteger(1))
    fail("device_assert", "expects a boolean tile (a comparison), got " + typeStr(cond.type()));
  if (debugEnabled())
    tile::AssertOp::create(bld(), kb().loc(where), cond.getValue(), message);
}

void tessera::dsl::device_assert(const Scalar &cond, const std::string &message, SourceLoc where) {
  if (!cond.getValue().getType().isInteger(1))
    fail("device_assert",
         "expects a boolean scalar (a comparison), got " + typeStr(cond.getValue().getType()));
  if (debugEnabled())
    tile::AssertOp::create(bld(), kb().loc(where), cond.getValue(), message);
}

void tessera::dsl::device_print(const std::string &prefix, const Tile &t, SourceLoc where) {
  if (prefix.find('%') != std::string::npos)
    fail("device_print", "the prefix may not hold '%'");
  tile::PrintOp::create(bld(), kb().loc(where), prefix, t.getValue());
}

void tessera::dsl::device_print(const std::string &prefix, const Scalar &s, SourceLoc where) {
  if (prefix.find('%') != std::string::npos)
    fail("device_print", "the prefix may not hold '%'");
  tile::PrintOp::create(bld(), kb().loc(where), prefix, s.getValue());
}
