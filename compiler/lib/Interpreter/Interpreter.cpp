//===- Interpreter.cpp - Run tile programs on the CPU ---------------------===//

#include "tessera/Interpreter/Interpreter.h"

#include "tessera/Dialect/Tile/IR/TileDialect.h"
#include "tessera/Support/DType.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

using namespace mlir;
using namespace tessera;
using namespace tessera::interp;

namespace {

enum class Elt { F32, F16, BF16, I32, I1, Index };

bool isFloatElt(Elt e) { return e == Elt::F32 || e == Elt::F16 || e == Elt::BF16; }

size_t memBytes(Elt e) {
  switch (e) {
  case Elt::F32:
  case Elt::I32:
    return 4;
  case Elt::F16:
  case Elt::BF16:
    return 2;
  case Elt::I1:
    return 1;
  case Elt::Index:
    return 8;
  }
  return 0;
}

/// A value of the program: a tile or scalar (shape empty), a pointer or a
/// tensor descriptor; in scheduled IR also a shared buffer, a view of one
/// of its slots (read when an op uses it, as the GPU's dot reads the
/// buffer, not when the view is made), a set of mbarriers or a tensor map.
struct Slot {
  enum Kind { Data, Ptr, Desc, Shared, View, Barriers, Map } kind = Data;
  Elt elt = Elt::F32;
  SmallVector<int64_t> shape;
  std::vector<float> f;   // floating-point elements (already rounded)
  std::vector<int64_t> i; // integer and boolean elements
  // Pointers and descriptors.
  int arg = -1;
  int64_t offset = 0;
  SmallVector<int64_t> sizes, strides;
  bool nanPadding = false;
  // Shared: each slot's byte offset; Barriers: the first one's (offset) and
  // their count (sizes[0]); View: the slot's byte offset (offset) and whether
  // it reads the buffer transposed; Map: the tensor's pointer parameter (arg)
  // and rank (sizes[0]).
  SmallVector<int64_t> slotOffsets;
  bool transposed = false;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

float roundTo(Elt e, float v) {
  switch (e) {
  case Elt::F16:
    return tessera::roundTo(DType::F16, v);
  case Elt::BF16:
    return tessera::roundTo(DType::BF16, v);
  default:
    return v;
  }
}

int64_t wrapInt(Elt e, int64_t v) {
  if (e == Elt::I32)
    return int64_t(int32_t(uint32_t(uint64_t(v))));
  if (e == Elt::I1)
    return v & 1;
  return v;
}

class Interpreter {
public:
  Interpreter(ArrayRef<Arg> args) : args(args) {}

  llvm::Error runProgram(func::FuncOp func, unsigned x, unsigned y, unsigned z,
                         const LaunchGrid &grid) {
    pid[0] = x, pid[1] = y, pid[2] = z;
    nprog[0] = grid.x, nprog[1] = grid.y, nprog[2] = grid.z;
    env.clear();
    materialized.clear();
    shared.clear();
    race.reset();
    asyncGroups.clear();
    barriers.clear();
    bulkReads.clear();
    Block &entry = func.getBody().front();
    for (auto [idx, arg] : llvm::enumerate(entry.getArguments())) {
      Slot s;
      // Tensor maps (tile-use-tma) follow the launch's arguments.
      if (auto map = dyn_cast<tile::TensorMapType>(arg.getType())) {
        s.kind = Slot::Map;
        s.arg = int(map.getTensor());
        s.sizes = {int64_t(map.getRank())};
        env[arg] = std::move(s);
        continue;
      }
      const Arg &a = args[idx];
      if (auto ptr = dyn_cast<tile::PtrType>(arg.getType())) {
        s.kind = Slot::Ptr;
        s.arg = idx;
        auto e = eltOf(ptr.getElementType());
        if (!e)
          return error(func, "unsupported pointer element type");
        s.elt = *e;
      } else if (arg.getType().isInteger(32)) {
        s.elt = Elt::I32;
        s.i = {a.i};
      } else {
        s.elt = Elt::F32;
        s.f = {a.f};
      }
      env[arg] = std::move(s);
    }
    SmallVector<Slot, 4> ignored;
    return execBlock(entry, ignored);
  }

  static std::optional<Elt> eltOf(Type t) {
    if (t.isF32())
      return Elt::F32;
    if (t.isF16())
      return Elt::F16;
    if (t.isBF16())
      return Elt::BF16;
    if (t.isInteger(32))
      return Elt::I32;
    if (t.isInteger(1))
      return Elt::I1;
    if (t.isIndex())
      return Elt::Index;
    return std::nullopt;
  }

  ArrayRef<Arg> args;

private:
  llvm::Error error(Operation *op, const Twine &message) {
    std::string loc;
    llvm::raw_string_ostream os(loc);
    os << op->getLoc();
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "interpreter: '" + op->getName().getStringRef() + "' at " + loc +
                                       ": " + message);
  }

  /// A slot for a result of `type` (tensor or scalar).
  llvm::Expected<Slot> make(Operation *op, Type type) {
    Slot s;
    Type elem = type;
    if (auto t = dyn_cast<RankedTensorType>(type)) {
      s.shape.assign(t.getShape().begin(), t.getShape().end());
      elem = t.getElementType();
    }
    std::optional<Elt> e = eltOf(elem);
    if (!e)
      return error(op, "unsupported element type");
    s.elt = *e;
    if (isFloatElt(s.elt))
      s.f.resize(s.numel());
    else
      s.i.resize(s.numel());
    return s;
  }

  /// The value of `v`; a view is read from the shared memory now.
  const Slot &get(Value v) {
    const Slot &s = env.find(v)->second;
    if (s.kind != Slot::View)
      return s;
    checkNotInFlight(s.offset, s.numel() * int64_t(memBytes(s.elt)), "reads");
    materialized.push_back(readShared(s.offset, s.shape, s.elt, s.transposed));
    return materialized.back();
  }

  llvm::Error execBlock(Block &block, SmallVectorImpl<Slot> &yielded) {
    for (Operation &op : block) {
      if (isa<scf::YieldOp, func::ReturnOp, tile::YieldOp>(op)) {
        for (Value v : op.getOperands())
          yielded.push_back(get(v));
        return llvm::Error::success();
      }
      if (llvm::Error e = execOp(&op))
        return e;
      ++progress;
      if (race)
        return error(&op, *std::exchange(race, std::nullopt));
    }
    return llvm::Error::success();
  }

  // --- memory ---------------------------------------------------------------

  llvm::Expected<unsigned char *> address(Operation *op, const Slot &ptr, int64_t element,
                                          ArrayRef<int64_t> where) {
    const Arg &a = args[ptr.arg];
    int64_t byte = element * int64_t(memBytes(ptr.elt));
    if (element < 0 || byte + int64_t(memBytes(ptr.elt)) > int64_t(a.bytes)) {
      std::string at;
      for (size_t d = 0; d < where.size(); ++d)
        at += (d ? ", " : "") + std::to_string(where[d]);
      return error(op, "element (" + at + ") is at byte offset " + Twine(byte) + ", outside the " +
                           Twine(a.bytes) + "-byte buffer of argument " + Twine(ptr.arg));
    }
    return static_cast<unsigned char *>(a.base) + byte;
  }

  static void readElement(const unsigned char *p, Elt e, Slot &out, int64_t idx) {
    switch (e) {
    case Elt::F32:
      std::memcpy(&out.f[idx], p, 4);
      return;
    case Elt::F16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      out.f[idx] = f16ToFloat(h);
      return;
    }
    case Elt::BF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      out.f[idx] = bf16ToFloat(h);
      return;
    }
    case Elt::I32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      out.i[idx] = v;
      return;
    }
    case Elt::I1:
      out.i[idx] = *p != 0;
      return;
    case Elt::Index:
      return;
    }
  }

  static void writeElement(unsigned char *p, Elt e, const Slot &in, int64_t idx) {
    switch (e) {
    case Elt::F32:
      std::memcpy(p, &in.f[idx], 4);
      return;
    case Elt::F16: {
      uint16_t h = floatToF16(in.f[idx]);
      std::memcpy(p, &h, 2);
      return;
    }
    case Elt::BF16: {
      uint16_t h = floatToBF16(in.f[idx]);
      std::memcpy(p, &h, 2);
      return;
    }
    case Elt::I32: {
      int32_t v = int32_t(in.i[idx]);
      std::memcpy(p, &v, 4);
      return;
    }
    case Elt::I1:
      *p = in.i[idx] != 0;
      return;
    case Elt::Index:
      return;
    }
  }

  /// Calls fn(flatIndex, inBounds, elementOffset, position) for every element
  /// of a block at `indices` of `desc`.
  template <typename Fn>
  llvm::Error forEachBlockElement(const Slot &desc, ArrayRef<int64_t> block,
                                  ArrayRef<int64_t> indices, Fn fn) {
    size_t rank = block.size();
    SmallVector<int64_t> c(rank, 0), pos(rank);
    int64_t n = 1;
    for (int64_t d : block)
      n *= d;
    for (int64_t flat = 0; flat < n; ++flat) {
      bool inBounds = true;
      int64_t offset = desc.offset;
      for (size_t d = 0; d < rank; ++d) {
        pos[d] = indices[d] + c[d];
        inBounds &= uint64_t(pos[d]) < uint64_t(desc.sizes[d]);
        offset += pos[d] * desc.strides[d];
      }
      if (llvm::Error e = fn(flat, inBounds, offset, ArrayRef<int64_t>(pos)))
        return e;
      for (int d = int(rank) - 1; d >= 0; --d) {
        if (++c[d] < block[d])
          break;
        c[d] = 0;
      }
    }
    return llvm::Error::success();
  }

  // --- ops ------------------------------------------------------------------

  llvm::Error execOp(Operation *op) {
    return llvm::TypeSwitch<Operation *, llvm::Error>(op)
        .Case([&](tile::ProgramIdOp o) { return scalarInt(o, pid[o.getAxis()]); })
        .Case([&](tile::NumProgramsOp o) { return scalarInt(o, nprog[o.getAxis()]); })
        .Case([&](tile::AddPtrOp o) {
          Slot s = get(o.getPtr());
          s.offset += get(o.getOffset()).i[0];
          env[o.getResult()] = std::move(s);
          return llvm::Error::success();
        })
        .Case([&](tile::AtOp o) {
          Slot s = get(o.getPtr());
          // i32 arithmetic, as the lowering's.
          int32_t offset = 0;
          for (auto [index, stride] : llvm::zip(o.getIndices(), o.getStrides()))
            offset =
                int32_t(uint32_t(offset) + uint32_t(get(index).i[0]) * uint32_t(get(stride).i[0]));
          s.offset += offset;
          env[o.getResult()] = std::move(s);
          return llvm::Error::success();
        })
        .Case([&](tile::MakeDescOp o) {
          Slot s = get(o.getPtr());
          s.kind = Slot::Desc;
          for (Value v : o.getSizes())
            s.sizes.push_back(get(v).i[0]);
          for (Value v : o.getStrides())
            s.strides.push_back(get(v).i[0]);
          s.nanPadding = o.getType().getPadding() == tile::Padding::nan;
          env[o.getResult()] = std::move(s);
          return llvm::Error::success();
        })
        .Case([&](tile::LoadOp o) { return load(o); })
        .Case([&](tile::GatherOp o) { return gather(o); })
        .Case([&](tile::StoreOp o) { return store(o); })
        .Case([&](tile::PrintOp o) { return print(o); })
        .Case([&](tile::AssertOp o) { return deviceAssert(o); })
        .Case([&](tile::AtomicAddOp o) { return atomicAdd(o); })
        .Case([&](tile::AtomicRMWOp o) { return atomicRMW(o); })
        .Case([&](tile::AtomicCASOp o) { return atomicCAS(o); })
        .Case([&](tile::IotaOp o) -> llvm::Error {
          auto s = make(o, o.getType());
          if (!s)
            return s.takeError();
          for (int64_t k = 0; k < s->numel(); ++k)
            s->i[k] = k;
          env[o.getResult()] = std::move(*s);
          return llvm::Error::success();
        })
        .Case([&](tile::SplatOp o) -> llvm::Error {
          auto s = make(o, o.getType());
          if (!s)
            return s.takeError();
          const Slot &src = get(o.getSrc());
          if (isFloatElt(s->elt))
            std::fill(s->f.begin(), s->f.end(), src.f[0]);
          else
            std::fill(s->i.begin(), s->i.end(), src.i[0]);
          env[o.getResult()] = std::move(*s);
          return llvm::Error::success();
        })
        .Case([&](tile::BroadcastOp o) { return broadcast(o); })
        .Case([&](tile::ExpandDimsOp o) { return reshape(o, o.getSrc(), o.getType()); })
        .Case([&](tile::ConvertLayoutOp o) { return reshape(o, o.getSrc(), o.getType()); })
        .Case([&](tile::TransOp o) { return trans(o); })
        .Case([&](tile::DotOp o) { return dot(o); })
        .Case([&](tile::ReduceOp o) { return reduce(o); })
        .Case([&](tile::ReduceCombineOp o) { return reduceCombine(o); })
        .Case([&](tile::ScanOp o) { return scan(o); })
        .Case([&](tile::SharedAllocOp o) {
          Slot s;
          s.kind = Slot::Shared;
          tile::SharedType type = o.getType();
          s.elt = *eltOf(type.getElementType());
          s.shape.assign(type.getShape().begin(), type.getShape().end());
          s.slotOffsets.assign(o.getOffsets().begin(), o.getOffsets().end());
          env[o.getResult()] = std::move(s);
          return llvm::Error::success();
        })
        .Case([&](tile::SharedViewOp o) -> llvm::Error {
          auto slot = slotOffset(o, get(o.getBuffer()), get(o.getSlot()).i[0]);
          if (!slot)
            return slot.takeError();
          // A row vector's view is read where it stands.
          if (o.getType().getRank() == 1) {
            env[o.getResult()] =
                readShared(*slot, o.getType().getShape(), get(o.getBuffer()).elt, false);
            return llvm::Error::success();
          }
          Slot s;
          s.kind = Slot::View;
          s.elt = get(o.getBuffer()).elt;
          s.offset = *slot;
          s.shape.assign(o.getType().getShape().begin(), o.getType().getShape().end());
          env[o.getResult()] = std::move(s);
          return llvm::Error::success();
        })
        .Case([&](tile::AsyncCopyOp o) { return asyncCopy(o); })
        .Case([&](tile::AsyncWaitOp o) {
          landAsyncGroups(o.getPending());
          return llvm::Error::success();
        })
        .Case([&](tile::StoreStagingOp o) {
          const Slot &value = get(o.getValue());
          checkNotInFlight(o.getOffset(), value.numel() * int64_t(memBytes(value.elt)), "writes");
          writeShared(o.getOffset(), value);
          return llvm::Error::success();
        })
        .Case([&](tile::RoundSharedToTf32Op o) -> llvm::Error {
          auto slot = slotOffset(o, get(o.getBuffer()), get(o.getSlot()).i[0]);
          if (!slot)
            return slot.takeError();
          auto tileType = cast<RankedTensorType>(o.getTile());
          checkNotInFlight(*slot, tileType.getNumElements() * 4, "rounds");
          Slot t = readShared(*slot, tileType.getShape(), Elt::F32, false);
          for (float &v : t.f)
            v = roundToTf32(v);
          writeShared(*slot, t);
          return llvm::Error::success();
        })
        .Case([&](tile::MBarrierAllocOp o) {
          Slot s;
          s.kind = Slot::Barriers;
          s.offset = o.getOffset();
          s.sizes = {int64_t(o.getType().getCount())};
          env[o.getResult()] = std::move(s);
          return llvm::Error::success();
        })
        .Case([&](tile::MBarrierInitOp o) {
          const Slot &bars = get(o.getBarriers());
          for (int64_t k = 0; k < bars.sizes[0]; ++k)
            barriers[bars.offset + 8 * k] = Barrier();
          return llvm::Error::success();
        })
        .Case([&](tile::TmaCopyOp o) { return tmaCopy(o); })
        .Case([&](tile::MBarrierWaitOp o) { return mbarrierWait(o); })
        .Case([&](tile::TmaStoreOp o) { return tmaStore(o); })
        .Case([&](tile::StoreFromStagingOp o) { return storeFromStaging(o); })
        .Case([&](tile::WarpgroupWaitOp o) {
          for (auto [result, acc] : llvm::zip(o.getResults(), o.getAccumulators()))
            env[result] = get(acc);
          return llvm::Error::success();
        })
        // The consumer warpgroups run as one thread here: their turns order
        // nothing (ping-pong only orders their issues on the GPU).
        .Case([&](tile::TmaStoreWaitOp) {
          bulkReads.clear();
          return llvm::Error::success();
        })
        .Case<gpu::BarrierOp, tile::FenceAsyncSharedOp, tile::ClusterBarrierOp, tile::TurnWaitOp,
              tile::TurnPassOp, tile::TurnStartOp, tile::TurnFinishOp>(
            [&](Operation *) { return llvm::Error::success(); })
        .Case([&](tile::WarpSpecializeOp o) { return warpSpecialize(o); })
        .Case([&](tile::MBarrierArriveOp o) -> llvm::Error {
          if (o.getPredicate() && !get(o.getPredicate()).i[0])
            return llvm::Error::success();
          // Every consumer warp arrives: the phase completes.
          auto it = barriers.find(get(o.getBarriers()).offset + 8 * get(o.getSlot()).i[0]);
          if (it == barriers.end())
            return error(o, "arrives on an mbarrier that was never initialized");
          ++it->second.phases;
          return llvm::Error::success();
        })
        .Case([&](arith::ConstantOp o) { return constant(o); })
        .Case([&](arith::MulUIExtendedOp o) { return mulUIExtended(o); })
        .Case([&](scf::ForOp o) { return forLoop(o); })
        .Case([&](scf::IfOp o) { return ifOp(o); })
        .Default([&](Operation *other) -> llvm::Error {
          if (isa<arith::ArithDialect, math::MathDialect>(other->getDialect()))
            return elementwise(other);
          return error(other, "unsupported operation");
        });
  }

  llvm::Error scalarInt(Operation *op, int64_t v) {
    Slot s;
    s.elt = Elt::I32;
    s.i = {v};
    env[op->getResult(0)] = std::move(s);
    return llvm::Error::success();
  }

  /// Reads the block of r's shape at `indices` into r's elements from
  /// `first` on; elements outside the tensor read the padding.
  llvm::Error readBlock(Operation *o, const Slot &desc, ArrayRef<int64_t> block,
                        ArrayRef<int64_t> indices, Slot &r, int64_t first) {
    float pad = desc.nanPadding ? NAN : 0.f;
    return forEachBlockElement(
        desc, block, indices,
        [&](int64_t flat, bool inBounds, int64_t offset, ArrayRef<int64_t> pos) -> llvm::Error {
          flat += first;
          if (!inBounds) {
            if (isFloatElt(r.elt))
              r.f[flat] = pad;
            else
              r.i[flat] = 0;
            return llvm::Error::success();
          }
          auto p = address(o, desc, offset, pos);
          if (!p)
            return p.takeError();
          readElement(*p, desc.elt, r, flat);
          return llvm::Error::success();
        });
  }

  /// The `type` block of `desc`'s tensor at `indices`, as tile.load reads
  /// it (tile.async_copy's data too).
  llvm::Expected<Slot> readTile(Operation *o, Value desc, ValueRange indices, Type type) {
    auto out = make(o, type);
    if (!out)
      return out.takeError();
    SmallVector<int64_t> at;
    for (Value v : indices)
      at.push_back(get(v).i[0]);
    if (llvm::Error e = readBlock(o, get(desc), out->shape, at, *out, 0))
      return std::move(e);
    return out;
  }

  llvm::Error load(tile::LoadOp o) {
    auto out = readTile(o, o.getDesc(), o.getIndices(), o.getType());
    if (!out)
      return out.takeError();
    env[o.getResult()] = std::move(*out);
    return llvm::Error::success();
  }

  /// Row by row, each a 1 x width block at (rows[r], col).
  llvm::Error gather(tile::GatherOp o) {
    auto out = make(o, o.getType());
    if (!out)
      return out.takeError();
    const Slot &rows = get(o.getRows());
    int64_t col = get(o.getCol()).i[0], width = o.getType().getDimSize(1);
    for (int64_t row = 0; row < int64_t(rows.i.size()); ++row)
      if (llvm::Error e =
              readBlock(o, get(o.getDesc()), {1, width}, {rows.i[row], col}, *out, row * width))
        return e;
    env[o.getResult()] = std::move(*out);
    return llvm::Error::success();
  }

  /// An error naming the message, the program and the first false element.
  llvm::Error deviceAssert(tile::AssertOp o) {
    const Slot &cond = get(o.getCond());
    for (int64_t flat = 0; flat < int64_t(cond.i.size()); ++flat) {
      if (cond.i[flat])
        continue;
      std::string index;
      for (int64_t d = int64_t(cond.shape.size()) - 1, rest = flat; d >= 0; --d) {
        index = std::to_string(rest % cond.shape[d]) + (index.empty() ? "" : ", ") + index;
        rest /= cond.shape[d];
      }
      return error(o, "device_assert failed: " + o.getMessage() + " (program (" + Twine(pid[0]) +
                          ", " + Twine(pid[1]) + ", " + Twine(pid[2]) + "), element (" + index +
                          "))");
    }
    return llvm::Error::success();
  }

  /// As the GPU prints it (PrintOp::getFormat), every element in order.
  llvm::Error print(tile::PrintOp o) {
    const Slot &v = get(o.getValue());
    std::string format = o.getFormat();
    int64_t n = v.shape.empty() ? 1 : v.numel();
    for (int64_t flat = 0; flat < n; ++flat) {
      SmallVector<int64_t> index(v.shape.size());
      for (int64_t d = int64_t(v.shape.size()) - 1, rest = flat; d >= 0; --d) {
        index[d] = rest % v.shape[d];
        rest /= v.shape[d];
      }
      // printf takes exactly the format's arguments: one call per rank.
      auto emit = [&](auto value) {
        int x = int(pid[0]), y = int(pid[1]), z = int(pid[2]);
        const char *f = format.c_str();
        switch (index.size()) {
        case 0:
          std::printf(f, x, y, z, value);
          break;
        case 1:
          std::printf(f, x, y, z, int(index[0]), value);
          break;
        case 2:
          std::printf(f, x, y, z, int(index[0]), int(index[1]), value);
          break;
        default:
          std::printf(f, x, y, z, int(index[0]), int(index[1]), int(index[2]), value);
          break;
        }
      };
      if (isFloatElt(v.elt))
        emit(double(v.f[flat]));
      else
        emit(int(v.i[flat]));
    }
    std::fflush(stdout);
    return llvm::Error::success();
  }

  llvm::Error store(tile::StoreOp o) {
    const Slot *mask = o.getMask() ? &get(o.getMask()) : nullptr;
    return writeBlock(o, o.getDesc(), o.getIndices(), o.getValue(),
                      [&](unsigned char *p, Elt e, const Slot &value, int64_t flat) {
                        if (!mask || mask->i[flat])
                          writeElement(p, e, value, flat);
                      });
  }

  // Programs run one after another, so a read-add-write is atomic here.
  llvm::Error atomicAdd(tile::AtomicAddOp o) {
    return writeBlock(o, o.getDesc(), o.getIndices(), o.getValue(),
                      [](unsigned char *p, Elt, const Slot &value, int64_t flat) {
                        float old;
                        std::memcpy(&old, p, 4);
                        old += value.f[flat];
                        std::memcpy(p, &old, 4);
                      });
  }

  /// Each element of the block inside the tensor: its old value goes to
  /// `old` at the block's flat index, and `update(element, flat)` turns the
  /// one-element slot holding it into the new value; the block's elements
  /// outside the tensor keep zero in `old`.
  llvm::Error readModifyWrite(Operation *o, Value descValue, ValueRange indexValues, Slot &old,
                              llvm::function_ref<void(Slot &, int64_t)> update) {
    const Slot &desc = get(descValue);
    SmallVector<int64_t> indices;
    for (Value v : indexValues)
      indices.push_back(get(v).i[0]);
    // The element being updated, alone: `update` sees it at index 0.
    Slot one;
    one.elt = old.elt;
    one.f.resize(1);
    one.i.resize(1);
    return forEachBlockElement(
        desc, old.shape, indices,
        [&](int64_t flat, bool inBounds, int64_t offset, ArrayRef<int64_t> pos) -> llvm::Error {
          if (!inBounds)
            return llvm::Error::success();
          auto p = address(o, desc, offset, pos);
          if (!p)
            return p.takeError();
          readElement(*p, desc.elt, old, flat);
          readElement(*p, desc.elt, one, 0);
          update(one, flat);
          writeElement(*p, desc.elt, one, 0);
          return llvm::Error::success();
        });
  }

  llvm::Error atomicRMW(tile::AtomicRMWOp o) {
    auto old = make(o, o.getType());
    if (!old)
      return old.takeError();
    const Slot &value = get(o.getValue());
    tile::AtomicKind kind = o.getKind();
    bool isFloat = isFloatElt(old->elt);
    auto combine = [&](auto a, auto b) -> decltype(a) {
      switch (kind) {
      case tile::AtomicKind::add:
        return a + b;
      case tile::AtomicKind::max:
        return std::max(a, b);
      case tile::AtomicKind::min:
        return std::min(a, b);
      case tile::AtomicKind::xchg:
        return b;
      }
      llvm_unreachable("atomic kind");
    };
    if (llvm::Error e =
            readModifyWrite(o, o.getDesc(), o.getIndices(), *old, [&](Slot &now, int64_t flat) {
              if (isFloat)
                now.f[0] = combine(now.f[0], value.f[flat]);
              else
                now.i[0] = int32_t(combine(int32_t(now.i[0]), int32_t(value.i[flat])));
            }))
      return e;
    env[o.getResult()] = std::move(*old);
    return llvm::Error::success();
  }

  llvm::Error atomicCAS(tile::AtomicCASOp o) {
    auto old = make(o, o.getType());
    if (!old)
      return old.takeError();
    const Slot &cmp = get(o.getCmp()), &value = get(o.getValue());
    if (llvm::Error e =
            readModifyWrite(o, o.getDesc(), o.getIndices(), *old, [&](Slot &now, int64_t flat) {
              if (now.i[0] == cmp.i[flat])
                now.i[0] = value.i[flat];
            }))
      return e;
    env[o.getResult()] = std::move(*old);
    return llvm::Error::success();
  }

  /// Calls `write` with the address of every element of the block that lies
  /// inside the descriptor's tensor.
  llvm::Error
  writeBlock(Operation *o, Value descValue, ValueRange indexValues, Value tile,
             llvm::function_ref<void(unsigned char *, Elt, const Slot &, int64_t)> write) {
    return writeBlock(o, descValue, indexValues, get(tile), write);
  }
  llvm::Error
  writeBlock(Operation *o, Value descValue, ValueRange indexValues, const Slot &value,
             llvm::function_ref<void(unsigned char *, Elt, const Slot &, int64_t)> write) {
    const Slot &desc = get(descValue);
    SmallVector<int64_t> indices;
    for (Value v : indexValues)
      indices.push_back(get(v).i[0]);
    return forEachBlockElement(
        desc, value.shape, indices,
        [&](int64_t flat, bool inBounds, int64_t offset, ArrayRef<int64_t> pos) -> llvm::Error {
          if (!inBounds)
            return llvm::Error::success();
          auto p = address(o, desc, offset, pos);
          if (!p)
            return p.takeError();
          write(*p, desc.elt, value, flat);
          return llvm::Error::success();
        });
  }

  llvm::Error reshape(Operation *op, Value src, Type type) {
    // A view stays one: the op that uses it reads the buffer.
    Slot s = env.find(src)->second.kind == Slot::View ? env.find(src)->second : get(src);
    auto t = cast<RankedTensorType>(type);
    s.shape.assign(t.getShape().begin(), t.getShape().end());
    env[op->getResult(0)] = std::move(s);
    return llvm::Error::success();
  }

  llvm::Error broadcast(tile::BroadcastOp o) {
    const Slot &src = get(o.getSrc());
    auto out = make(o, o.getType());
    if (!out)
      return out.takeError();
    Slot &r = *out;
    size_t rank = r.shape.size();
    SmallVector<int64_t> c(rank, 0);
    for (int64_t flat = 0; flat < r.numel(); ++flat) {
      int64_t s = 0;
      for (size_t d = 0; d < rank; ++d)
        s = s * src.shape[d] + (src.shape[d] == 1 ? 0 : c[d]);
      if (isFloatElt(r.elt))
        r.f[flat] = src.f[s];
      else
        r.i[flat] = src.i[s];
      for (int d = int(rank) - 1; d >= 0; --d) {
        if (++c[d] < r.shape[d])
          break;
        c[d] = 0;
      }
    }
    env[o.getResult()] = std::move(r);
    return llvm::Error::success();
  }

  llvm::Error trans(tile::TransOp o) {
    if (const Slot &view = env.find(o.getSrc())->second; view.kind == Slot::View) {
      Slot s = view;
      s.transposed = !s.transposed;
      s.shape.assign(o.getType().getShape().begin(), o.getType().getShape().end());
      env[o.getResult()] = std::move(s);
      return llvm::Error::success();
    }
    const Slot &src = get(o.getSrc());
    auto out = make(o, o.getType());
    if (!out)
      return out.takeError();
    Slot &r = *out;
    int64_t rows = src.shape[0], cols = src.shape[1];
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        if (isFloatElt(r.elt))
          r.f[j * rows + i] = src.f[i * cols + j];
        else
          r.i[j * rows + i] = src.i[i * cols + j];
      }
    env[o.getResult()] = std::move(r);
    return llvm::Error::success();
  }

  llvm::Error dot(tile::DotOp o) {
    const Slot &a = get(o.getA()), &b = get(o.getB());
    Slot c = get(o.getAcc());
    int64_t m = a.shape[0], k = a.shape[1], n = b.shape[1];
    if (isFloatElt(c.elt)) {
      // One fp32 FMA per k, in order: what the GPU's CUDA-core dot does.
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          float acc = c.f[i * n + j];
          for (int64_t p = 0; p < k; ++p)
            acc = std::fmaf(a.f[i * k + p], b.f[p * n + j], acc);
          c.f[i * n + j] = acc;
        }
    } else {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          int64_t acc = c.i[i * n + j];
          for (int64_t p = 0; p < k; ++p)
            acc = wrapInt(Elt::I32, acc + a.i[i * k + p] * b.i[p * n + j]);
          c.i[i * n + j] = acc;
        }
    }
    env[o.getResult()] = std::move(c);
    return llvm::Error::success();
  }

  llvm::Error reduce(tile::ReduceOp o) {
    const Slot &src = get(o.getSrc());
    auto out = make(o, o.getType());
    if (!out)
      return out.takeError();
    Slot &r = *out;
    auto [outer, len, inner] = linesAlong(src.shape, o.getAxis());
    tile::ReduceKind kind = o.getKind();
    bool isFloat = isFloatElt(r.elt);
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t b = 0; b < inner; ++b) {
        int64_t first = (a * len) * inner + b;
        // Sequential, k = 0, 1, ...: the order the GPU combines in too.
        if (isFloat) {
          float acc = src.f[first];
          for (int64_t k = 1; k < len; ++k) {
            float v = src.f[(a * len + k) * inner + b];
            acc = kind == tile::ReduceKind::sum ? acc + v
                  : std::isnan(acc) || std::isnan(v)
                      ? NAN
                      : (kind == tile::ReduceKind::max ? std::max(acc, v) : std::min(acc, v));
          }
          r.f[a * inner + b] = roundTo(r.elt, acc);
        } else {
          int64_t acc = src.i[first];
          for (int64_t k = 1; k < len; ++k) {
            int64_t v = src.i[(a * len + k) * inner + b];
            acc = kind == tile::ReduceKind::sum   ? wrapInt(r.elt, acc + v)
                  : kind == tile::ReduceKind::max ? std::max(acc, v)
                                                  : std::min(acc, v);
          }
          r.i[a * inner + b] = acc;
        }
      }
    env[o.getResult()] = std::move(r);
    return llvm::Error::success();
  }

  /// The elements before, along and after `axis` of `shape`: element
  /// (a, k, b) is at (a·len + k)·inner + b.
  static std::tuple<int64_t, int64_t, int64_t> linesAlong(ArrayRef<int64_t> shape, unsigned axis) {
    int64_t outer = 1, inner = 1;
    for (unsigned d = 0; d < axis; ++d)
      outer *= shape[d];
    for (size_t d = axis + 1; d < shape.size(); ++d)
      inner *= shape[d];
    return {outer, shape[axis], inner};
  }

  /// Element `k` of `t` as a scalar slot, and back.
  static Slot elementOf(const Slot &t, int64_t k) {
    Slot s;
    s.elt = t.elt;
    if (isFloatElt(t.elt))
      s.f = {t.f[k]};
    else
      s.i = {t.i[k]};
    return s;
  }
  static void setElement(Slot &t, int64_t k, const Slot &s) {
    if (isFloatElt(t.elt))
      t.f[k] = roundTo(t.elt, s.f[0]);
    else
      t.i[k] = s.i[0];
  }

  /// a ⊕ b by the combine region (one slot per combined tile each).
  llvm::Expected<SmallVector<Slot, 2>> combine(Region &region, SmallVector<Slot, 2> a,
                                               SmallVector<Slot, 2> b) {
    Block &body = region.front();
    unsigned n = a.size();
    for (unsigned i = 0; i < n; ++i) {
      env[body.getArgument(i)] = std::move(a[i]);
      env[body.getArgument(n + i)] = std::move(b[i]);
    }
    SmallVector<Slot, 2> result;
    if (llvm::Error e = execBlock(body, result))
      return std::move(e);
    return result;
  }

  /// Runs `combine` along each line of `srcs` in order (from the end with
  /// `reverse`): `visit(line, position, acc)` sees the running values acc =
  /// x[first] ⊕ ... ⊕ x[position] at each element of line a·inner + b.
  llvm::Error foldLines(ArrayRef<Slot> srcs, unsigned axis, bool reverse, Region &combine,
                        function_ref<void(int64_t, int64_t, ArrayRef<Slot>)> visit) {
    auto [outer, len, inner] = linesAlong(srcs.front().shape, axis);
    auto elements = [&](int64_t flat) {
      SmallVector<Slot, 2> e;
      for (const Slot &src : srcs)
        e.push_back(elementOf(src, flat));
      return e;
    };
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t b = 0; b < inner; ++b) {
        auto at = [&, len = len, inner = inner](int64_t step) {
          int64_t k = reverse ? len - 1 - step : step;
          return (a * len + k) * inner + b;
        };
        int64_t line = a * inner + b;
        SmallVector<Slot, 2> acc = elements(at(0));
        visit(line, at(0), acc);
        for (int64_t step = 1; step < len; ++step) {
          auto next = this->combine(combine, std::move(acc), elements(at(step)));
          if (!next)
            return next.takeError();
          acc = std::move(*next);
          visit(line, at(step), acc);
        }
      }
    return llvm::Error::success();
  }

  /// The slots of `values`, copied (env may grow while they are used).
  SmallVector<Slot, 2> slotsOf(ValueRange values) {
    SmallVector<Slot, 2> slots;
    for (Value v : values)
      slots.push_back(get(v));
    return slots;
  }

  /// Fresh slots for `results`, filled by `fill`, then bound to them.
  template <typename Fill> llvm::Error produce(Operation *op, ResultRange results, Fill fill) {
    SmallVector<Slot, 2> outs;
    for (Value r : results) {
      auto out = make(op, r.getType());
      if (!out)
        return out.takeError();
      outs.push_back(std::move(*out));
    }
    if (llvm::Error e = fill(outs))
      return e;
    for (auto [r, out] : llvm::zip(results, outs))
      env[r] = std::move(out);
    return llvm::Error::success();
  }

  /// Sequential along the axis, k = 0, 1, ... (the GPU's order may differ:
  /// the combine is commutative).
  llvm::Error reduceCombine(tile::ReduceCombineOp o) {
    SmallVector<Slot, 2> srcs = slotsOf(o.getSrcs());
    return produce(o, o.getResults(), [&](SmallVector<Slot, 2> &outs) {
      return foldLines(srcs, o.getAxis(), /*reverse=*/false, o.getCombine(),
                       [&](int64_t line, int64_t, ArrayRef<Slot> acc) {
                         for (auto [out, a] : llvm::zip(outs, acc))
                           setElement(out, line, a); // the last one stays
                       });
    });
  }

  /// In order along the axis (from the end with `reverse`): acc ⊕ x[k].
  llvm::Error scan(tile::ScanOp o) {
    SmallVector<Slot, 2> srcs = slotsOf(o.getSrcs());
    return produce(o, o.getResults(), [&](SmallVector<Slot, 2> &outs) {
      return foldLines(srcs, o.getAxis(), o.getReverse(), o.getCombine(),
                       [&](int64_t, int64_t position, ArrayRef<Slot> acc) {
                         for (auto [out, a] : llvm::zip(outs, acc))
                           setElement(out, position, a);
                       });
    });
  }

  llvm::Error constant(arith::ConstantOp o) {
    auto out = make(o, o.getType());
    if (!out)
      return out.takeError();
    Slot &r = *out;
    Attribute value = o.getValue();
    if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
      int64_t k = 0;
      if (isFloatElt(r.elt))
        for (APFloat v : dense.getValues<APFloat>())
          r.f[k++] = roundTo(r.elt, float(v.convertToDouble()));
      else
        for (APInt v : dense.getValues<APInt>())
          r.i[k++] = r.elt == Elt::I1 ? int64_t(v.getZExtValue()) : v.getSExtValue();
    } else if (auto f = dyn_cast<FloatAttr>(value)) {
      r.f[0] = roundTo(r.elt, float(f.getValueAsDouble()));
    } else if (auto i = dyn_cast<IntegerAttr>(value)) {
      r.i[0] =
          r.elt == Elt::I1 ? int64_t(i.getValue().getZExtValue()) : i.getValue().getSExtValue();
    } else {
      return error(o, "unsupported constant");
    }
    env[o.getResult()] = std::move(r);
    return llvm::Error::success();
  }

  llvm::Error forLoop(scf::ForOp o) {
    int64_t lb = get(o.getLowerBound()).i[0], ub = get(o.getUpperBound()).i[0],
            step = get(o.getStep()).i[0];
    if (step <= 0)
      return error(o, "expects a positive step, got " + Twine(step));
    SmallVector<Slot, 4> carried;
    for (Value v : o.getInitArgs())
      carried.push_back(get(v));
    Block &body = *o.getBody();
    Elt ivElt = *eltOf(o.getInductionVar().getType());
    for (int64_t iv = lb; iv < ub; iv += step) {
      // Views read in the last iteration are done with.
      materialized.clear();
      Slot ivSlot;
      ivSlot.elt = ivElt;
      ivSlot.i = {iv};
      env[o.getInductionVar()] = std::move(ivSlot);
      for (auto [arg, value] : llvm::zip(o.getRegionIterArgs(), carried))
        env[arg] = value;
      SmallVector<Slot, 4> next;
      if (llvm::Error e = execBlock(body, next))
        return e;
      carried = std::move(next);
    }
    for (auto [result, value] : llvm::zip(o.getResults(), carried))
      env[result] = std::move(value);
    return llvm::Error::success();
  }

  llvm::Error ifOp(scf::IfOp o) {
    bool cond = get(o.getCondition()).i[0] != 0;
    Region &region = cond ? o.getThenRegion() : o.getElseRegion();
    SmallVector<Slot, 4> results;
    if (!region.empty())
      if (llvm::Error e = execBlock(region.front(), results))
        return e;
    for (auto [result, value] : llvm::zip(o.getResults(), results))
      env[result] = std::move(value);
    return llvm::Error::success();
  }

  static bool compareF(arith::CmpFPredicate p, float a, float b) {
    bool unordered = std::isnan(a) || std::isnan(b);
    switch (p) {
    case arith::CmpFPredicate::AlwaysFalse:
      return false;
    case arith::CmpFPredicate::OEQ:
      return !unordered && a == b;
    case arith::CmpFPredicate::OGT:
      return !unordered && a > b;
    case arith::CmpFPredicate::OGE:
      return !unordered && a >= b;
    case arith::CmpFPredicate::OLT:
      return !unordered && a < b;
    case arith::CmpFPredicate::OLE:
      return !unordered && a <= b;
    case arith::CmpFPredicate::ONE:
      return !unordered && a != b;
    case arith::CmpFPredicate::ORD:
      return !unordered;
    case arith::CmpFPredicate::UEQ:
      return unordered || a == b;
    case arith::CmpFPredicate::UGT:
      return unordered || a > b;
    case arith::CmpFPredicate::UGE:
      return unordered || a >= b;
    case arith::CmpFPredicate::ULT:
      return unordered || a < b;
    case arith::CmpFPredicate::ULE:
      return unordered || a <= b;
    case arith::CmpFPredicate::UNE:
      return unordered || a != b;
    case arith::CmpFPredicate::UNO:
      return unordered;
    case arith::CmpFPredicate::AlwaysTrue:
      return true;
    }
    return false;
  }

  static bool compareI(arith::CmpIPredicate p, int64_t a, int64_t b, Elt e) {
    uint64_t ua = e == Elt::I32 ? uint32_t(a) : uint64_t(a),
             ub = e == Elt::I32 ? uint32_t(b) : uint64_t(b);
    switch (p) {
    case arith::CmpIPredicate::eq:
      return a == b;
    case arith::CmpIPredicate::ne:
      return a != b;
    case arith::CmpIPredicate::slt:
      return a < b;
    case arith::CmpIPredicate::sle:
      return a <= b;
    case arith::CmpIPredicate::sgt:
      return a > b;
    case arith::CmpIPredicate::sge:
      return a >= b;
    case arith::CmpIPredicate::ult:
      return ua < ub;
    case arith::CmpIPredicate::ule:
      return ua <= ub;
    case arith::CmpIPredicate::ugt:
      return ua > ub;
    case arith::CmpIPredicate::uge:
      return ua >= ub;
    }
    return false;
  }

  /// arith and math ops, on scalars or tiles of one shape, element by element.
  /// The low and high 32 bits of the unsigned 64-bit product (Philox's
  /// mulhilo; i32 only).
  llvm::Error mulUIExtended(arith::MulUIExtendedOp op) {
    const Slot &a = get(op.getLhs()), &b = get(op.getRhs());
    if (a.elt != Elt::I32 || b.elt != Elt::I32 || a.numel() != b.numel())
      return error(op, "expects i32 operands of one shape");
    auto low = make(op, op.getLow().getType());
    if (!low)
      return low.takeError();
    Slot high = *low;
    for (int64_t k = 0; k < a.numel(); ++k) {
      uint64_t p = uint64_t(uint32_t(a.i[k])) * uint32_t(b.i[k]);
      low->i[k] = wrapInt(Elt::I32, int64_t(uint32_t(p)));
      high.i[k] = wrapInt(Elt::I32, int64_t(p >> 32));
    }
    env[op.getLow()] = std::move(*low);
    env[op.getHigh()] = std::move(high);
    return llvm::Error::success();
  }

  llvm::Error elementwise(Operation *op) {
    if (op->getNumResults() != 1)
      return error(op, "unsupported operation");
    auto out = make(op, op->getResult(0).getType());
    if (!out)
      return out.takeError();
    Slot &r = *out;
    SmallVector<const Slot *> in;
    for (Value v : op->getOperands())
      in.push_back(&get(v));
    int64_t n = r.numel();
    for (const Slot *s : in)
      if (s->numel() != n && s->numel() != 1)
        return error(op, "operands of " + Twine(s->numel()) + " and " + Twine(n) +
                             " elements do not match");
    auto F = [&](int k, int64_t idx) { return in[k]->f[in[k]->numel() == 1 ? 0 : idx]; };
    auto I = [&](int k, int64_t idx) { return in[k]->i[in[k]->numel() == 1 ? 0 : idx]; };
    Elt inElt = in.empty() ? r.elt : in[0]->elt;

    using FloatFn = std::function<float(int64_t)>;
    using IntFn = std::function<int64_t(int64_t)>;
    FloatFn ff;
    IntFn fi;
    StringRef name = op->getName().getStringRef();
    // Floating-point results.
    if (name == "arith.addf")
      ff = [&](int64_t k) { return F(0, k) + F(1, k); };
    else if (name == "arith.subf")
      ff = [&](int64_t k) { return F(0, k) - F(1, k); };
    else if (name == "arith.mulf")
      ff = [&](int64_t k) { return F(0, k) * F(1, k); };
    else if (name == "arith.divf")
      ff = [&](int64_t k) { return F(0, k) / F(1, k); };
    else if (name == "arith.negf")
      ff = [&](int64_t k) { return -F(0, k); };
    else if (name == "arith.maximumf" || name == "arith.minimumf")
      ff = [&, max = name == "arith.maximumf"](int64_t k) {
        float a = F(0, k), b = F(1, k);
        return std::isnan(a) || std::isnan(b) ? NAN : max ? std::max(a, b) : std::min(a, b);
      };
    else if (name == "arith.maxnumf")
      ff = [&](int64_t k) { return std::fmax(F(0, k), F(1, k)); };
    else if (name == "arith.minnumf")
      ff = [&](int64_t k) { return std::fmin(F(0, k), F(1, k)); };
    else if (name == "arith.extf" || name == "arith.truncf")
      ff = [&](int64_t k) { return F(0, k); };
    else if (name == "arith.sitofp")
      ff = [&](int64_t k) { return float(I(0, k)); };
    else if (name == "arith.uitofp")
      ff = [&](int64_t k) {
        return float(inElt == Elt::I32 ? uint32_t(I(0, k)) : uint64_t(I(0, k)));
      };
    else if (name == "math.exp")
      ff = [&](int64_t k) { return std::exp(F(0, k)); };
    else if (name == "math.exp2")
      ff = [&](int64_t k) { return std::exp2(F(0, k)); };
    else if (name == "math.log")
      ff = [&](int64_t k) { return std::log(F(0, k)); };
    else if (name == "math.log2")
      ff = [&](int64_t k) { return std::log2(F(0, k)); };
    else if (name == "math.sqrt")
      ff = [&](int64_t k) { return std::sqrt(F(0, k)); };
    else if (name == "math.rsqrt")
      ff = [&](int64_t k) { return 1.f / std::sqrt(F(0, k)); };
    else if (name == "math.absf")
      ff = [&](int64_t k) { return std::fabs(F(0, k)); };
    else if (name == "math.tanh")
      ff = [&](int64_t k) { return std::tanh(F(0, k)); };
    else if (name == "math.sin")
      ff = [&](int64_t k) { return std::sin(F(0, k)); };
    else if (name == "math.cos")
      ff = [&](int64_t k) { return std::cos(F(0, k)); };
    else if (name == "math.erf")
      ff = [&](int64_t k) { return std::erf(F(0, k)); };
    else if (name == "math.floor")
      ff = [&](int64_t k) { return std::floor(F(0, k)); };
    else if (name == "math.ceil")
      ff = [&](int64_t k) { return std::ceil(F(0, k)); };
    else if (name == "arith.remf")
      ff = [&](int64_t k) { return std::fmod(F(0, k), F(1, k)); };
    else if (name == "math.fma")
      ff = [&](int64_t k) { return std::fmaf(F(0, k), F(1, k), F(2, k)); };
    else if (name == "arith.select" && isFloatElt(r.elt))
      ff = [&](int64_t k) { return I(0, k) ? F(1, k) : F(2, k); };
    // Integer and boolean results.
    else if (name == "arith.addi")
      fi = [&](int64_t k) { return I(0, k) + I(1, k); };
    else if (name == "arith.subi")
      fi = [&](int64_t k) { return I(0, k) - I(1, k); };
    else if (name == "arith.muli")
      fi = [&](int64_t k) { return I(0, k) * I(1, k); };
    else if (name == "arith.divsi" || name == "arith.remsi" || name == "arith.ceildivsi" ||
             name == "arith.floordivsi") {
      for (int64_t k = 0; k < n; ++k)
        if (I(1, k) == 0)
          return error(op, "division by zero");
      if (name == "arith.divsi")
        fi = [&](int64_t k) { return I(0, k) / I(1, k); };
      else if (name == "arith.remsi")
        fi = [&](int64_t k) { return I(0, k) % I(1, k); };
      else if (name == "arith.ceildivsi")
        fi = [&](int64_t k) {
          int64_t a = I(0, k), b = I(1, k), q = a / b;
          return q + ((a % b != 0) && ((a < 0) == (b < 0)) ? 1 : 0);
        };
      else
        fi = [&](int64_t k) {
          int64_t a = I(0, k), b = I(1, k), q = a / b;
          return q - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
        };
    } else if (name == "arith.divui")
      fi = [&](int64_t k) { return int64_t(uint32_t(I(0, k)) / uint32_t(I(1, k))); };
    else if (name == "arith.remui")
      fi = [&](int64_t k) { return int64_t(uint32_t(I(0, k)) % uint32_t(I(1, k))); };
    else if (name == "arith.maxsi")
      fi = [&](int64_t k) { return std::max(I(0, k), I(1, k)); };
    else if (name == "arith.minsi")
      fi = [&](int64_t k) { return std::min(I(0, k), I(1, k)); };
    else if (name == "arith.andi")
      fi = [&](int64_t k) { return I(0, k) & I(1, k); };
    else if (name == "arith.ori")
      fi = [&](int64_t k) { return I(0, k) | I(1, k); };
    else if (name == "arith.xori")
      fi = [&](int64_t k) { return I(0, k) ^ I(1, k); };
    else if (name == "arith.shli")
      fi = [&](int64_t k) { return I(0, k) << I(1, k); };
    else if (name == "arith.shrsi")
      fi = [&](int64_t k) { return I(0, k) >> I(1, k); };
    else if (name == "arith.shrui")
      fi = [&](int64_t k) { return int64_t(uint32_t(I(0, k)) >> I(1, k)); };
    else if (name == "arith.extui")
      fi = [&](int64_t k) { return inElt == Elt::I1 ? I(0, k) : int64_t(uint32_t(I(0, k))); };
    else if (name == "arith.extsi" || name == "arith.trunci" || name == "arith.index_cast" ||
             name == "arith.index_castui")
      fi = [&](int64_t k) { return I(0, k); };
    else if (name == "arith.fptosi")
      fi = [&](int64_t k) { return int64_t(F(0, k)); };
    else if (name == "arith.bitcast" && r.elt == Elt::F32 && inElt == Elt::I32)
      ff = [&](int64_t k) { return llvm::bit_cast<float>(uint32_t(I(0, k))); };
    else if (name == "arith.bitcast" && r.elt == Elt::I32 && inElt == Elt::F32)
      fi = [&](int64_t k) { return int64_t(llvm::bit_cast<int32_t>(F(0, k))); };
    else if (auto cmp = dyn_cast<arith::CmpFOp>(op))
      fi = [&, p = cmp.getPredicate()](int64_t k) {
        return int64_t(compareF(p, F(0, k), F(1, k)));
      };
    else if (auto cmp = dyn_cast<arith::CmpIOp>(op))
      fi = [&, p = cmp.getPredicate()](int64_t k) {
        return int64_t(compareI(p, I(0, k), I(1, k), inElt));
      };
    else if (name == "arith.select")
      fi = [&](int64_t k) { return I(0, k) ? I(1, k) : I(2, k); };
    else
      return error(op, "unsupported operation");

    if (ff) {
      if (!isFloatElt(r.elt))
        return error(op, "expects a floating-point result");
      for (int64_t k = 0; k < n; ++k)
        r.f[k] = roundTo(r.elt, ff(k));
    } else {
      if (isFloatElt(r.elt))
        return error(op, "expects an integer result");
      for (int64_t k = 0; k < n; ++k)
        r.i[k] = wrapInt(r.elt, fi(k));
    }
    env[op->getResult(0)] = std::move(r);
    return llvm::Error::success();
  }

  // --- shared memory (scheduled IR) -----------------------------------------
  //
  // One program's shared memory is bytes, poisoned (NaN in every float
  // format) when the program starts; a buffer slot holds its tile row-major
  // at the slot's byte offset, so tiles that overlap in the GPU's shared
  // memory overlap here. Copies land when the GPU's would be waited for:
  // cp.async groups at `tile.async_wait`, TMA copies at the wait on their
  // mbarrier, which also checks the phase: a wait whose phase the copies do
  // not complete would hang on the GPU, and is an error here.

  struct PendingTile {
    int64_t offset;
    Slot data;
  };
  struct Barrier {
    int64_t phases = 0;               // completed phases
    std::vector<PendingTile> landing; // TMA copies armed on it, not yet landed
  };

  static float roundToTf32(float v) {
    if (!std::isfinite(v))
      return v;
    // cvt.rna.tf32: to 10 mantissa bits, ties away from zero.
    uint32_t bits = llvm::bit_cast<uint32_t>(v);
    bits = (bits + 0x1000u) & 0xffffe000u;
    return llvm::bit_cast<float>(bits);
  }

  /// Notes a race when bytes [offset, offset + bytes) of the shared memory
  /// are the target of a copy not yet waited for: the GPU's threads could
  /// see them before or after it lands.
  void checkNotInFlight(int64_t offset, int64_t bytes, const char *what) {
    auto overlaps = [&](const PendingTile &t) {
      int64_t end = t.offset + t.data.numel() * int64_t(memBytes(t.data.elt));
      return t.offset < offset + bytes && offset < end;
    };
    auto note = [&](const PendingTile &t, const Twine &copy) {
      if (!race)
        race = (what + Twine(" shared bytes ") + Twine(offset) + ".." + Twine(offset + bytes) +
                " while " + copy + " into bytes from " + Twine(t.offset) +
                " is in flight (not yet waited for)")
                   .str();
    };
    for (const PendingTile &t : asyncGroups)
      if (overlaps(t))
        note(t, "a cp.async group");
    for (const auto &[at, barrier] : barriers)
      for (const PendingTile &t : barrier.landing)
        if (overlaps(t))
          note(t, "a TMA copy armed on the mbarrier at byte " + Twine(at));
    // TMA stores and adds read their staging tile until tile.tma_store_wait:
    // reads may overlap them, writes may not.
    if (StringRef(what) == "reads")
      return;
    for (auto [start, length] : bulkReads)
      if (start < offset + bytes && offset < start + length && !race)
        race = (what + Twine(" shared bytes ") + Twine(offset) + ".." + Twine(offset + bytes) +
                " while a TMA store or add reads bytes " + Twine(start) + ".." +
                Twine(start + length) + " (not yet waited for: tile.tma_store_wait)")
                   .str();
  }

  unsigned char *sharedBytes(int64_t offset, int64_t bytes) {
    if (size_t(offset + bytes) > shared.size())
      shared.resize(size_t(offset + bytes), 0xff);
    return shared.data() + offset;
  }

  void writeShared(int64_t offset, const Slot &data) {
    size_t bytes = memBytes(data.elt);
    unsigned char *p = sharedBytes(offset, data.numel() * int64_t(bytes));
    for (int64_t k = 0; k < data.numel(); ++k)
      writeElement(p + k * bytes, data.elt, data, k);
  }

  /// The tile of `shape` at byte `offset`; `transposed`: element (i, j) is
  /// (j, i) of the row-major tile stored there.
  Slot readShared(int64_t offset, ArrayRef<int64_t> shape, Elt elt, bool transposed) {
    Slot r;
    r.elt = elt;
    r.shape.assign(shape.begin(), shape.end());
    if (isFloatElt(elt))
      r.f.resize(r.numel());
    else
      r.i.resize(r.numel());
    size_t bytes = memBytes(elt);
    const unsigned char *p = sharedBytes(offset, r.numel() * int64_t(bytes));
    int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = r.numel() / rows;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        int64_t stored = transposed ? j * rows + i : i * cols + j;
        readElement(p + stored * bytes, elt, r, i * cols + j);
      }
    return r;
  }

  llvm::Expected<int64_t> slotOffset(Operation *op, const Slot &buffer, int64_t slot) {
    if (slot < 0 || slot >= int64_t(buffer.slotOffsets.size()))
      return error(op, "buffer slot " + Twine(slot) + " of " + Twine(buffer.slotOffsets.size()));
    return buffer.slotOffsets[slot];
  }

  /// All but the `pending` most recent cp.async groups land.
  void landAsyncGroups(int64_t pending) {
    while (int64_t(asyncGroups.size()) > pending) {
      writeShared(asyncGroups.front().offset, asyncGroups.front().data);
      asyncGroups.pop_front();
    }
  }

  llvm::Error asyncCopy(tile::AsyncCopyOp o) {
    auto data = readTile(o, o.getDesc(), o.getIndices(), o.getTileType());
    if (!data)
      return data.takeError();
    auto slot = slotOffset(o, get(o.getBuffer()), get(o.getSlot()).i[0]);
    if (!slot)
      return slot.takeError();
    checkNotInFlight(*slot, data->numel() * int64_t(memBytes(data->elt)), "copies into");
    asyncGroups.push_back({*slot, std::move(*data)});
    return llvm::Error::success();
  }

  /// Tensor map `map`'s whole tensor as a descriptor (its sizes and strides
  /// are the parameters after its pointer), and the block of a `rows` x
  /// `cols` box in it: one element along the leading dimensions.
  std::pair<Slot, SmallVector<int64_t>> boxOf(const Slot &map, Elt elt, int64_t rows,
                                              int64_t cols) {
    int64_t rank = map.sizes[0];
    Slot desc;
    desc.kind = Slot::Desc;
    desc.arg = map.arg;
    desc.elt = elt;
    for (int64_t d = 0; d < rank; ++d) {
      desc.sizes.push_back(args[map.arg + 1 + d].i);
      desc.strides.push_back(args[map.arg + 1 + rank + d].i);
    }
    SmallVector<int64_t> block(rank - 2, 1);
    block.append({rows, cols});
    return {std::move(desc), std::move(block)};
  }

  llvm::Error tmaCopy(tile::TmaCopyOp o) {
    if (o.getPredicate() && !get(o.getPredicate()).i[0])
      return llvm::Error::success();
    const Slot &map = get(o.getMap()), &buffer = get(o.getBuffer());
    SmallVector<int64_t> coords;
    for (Value v : o.getIndices())
      coords.push_back(get(v).i[0]);
    Slot data;
    data.elt = buffer.elt;
    data.shape = buffer.shape;
    data.f.resize(data.numel());
    auto [desc, block] = boxOf(map, buffer.elt, buffer.shape[0], buffer.shape[1]);
    if (llvm::Error e = readBlock(o, desc, block, coords, data, 0))
      return e;
    auto slot = slotOffset(o, buffer, get(o.getSlot()).i[0]);
    if (!slot)
      return slot.takeError();
    const Slot &bars = get(o.getBarriers());
    auto it = barriers.find(bars.offset + 8 * get(o.getSlot()).i[0]);
    if (it == barriers.end())
      return error(o, "arms an mbarrier that was never initialized");
    checkNotInFlight(*slot, data.numel() * int64_t(memBytes(data.elt)), "copies into");
    it->second.landing.push_back({*slot, std::move(data)});
    return llvm::Error::success();
  }

  llvm::Error mbarrierWait(tile::MBarrierWaitOp o) {
    // Values, not references: the other side of a producer warpgroup may run
    // (and grow env) while this one waits.
    int64_t slot = get(o.getSlot()).i[0], parity = get(o.getPhase()).i[0];
    int64_t at = get(o.getBarriers()).offset + 8 * slot;
    while (true) {
      auto it = barriers.find(at);
      if (it == barriers.end())
        return error(o, "waits on an mbarrier that was never initialized");
      Barrier &b = it->second;
      for (PendingTile &t : b.landing) {
        writeShared(t.offset, t.data);
        ++b.phases;
      }
      b.landing.clear();
      // try_wait.parity(p) returns once the phase of parity p has completed:
      // the current phase's parity is then the other one.
      if (b.phases % 2 != parity)
        return llvm::Error::success();
      int64_t phases = b.phases;
      if (!yieldToOtherSide())
        return error(o, "would wait forever: mbarrier " + Twine(slot) + " has completed " +
                            Twine(phases) + " phases, the wait is for one of parity " +
                            Twine(parity));
    }
  }

  // --- producer warpgroups ---------------------------------------------------
  //
  // The producer region and the consumers run as two threads, one at a time:
  // each runs until it waits on an mbarrier whose phase has not completed,
  // then hands the baton to the other. A wait that neither side can
  // complete any more would hang the GPU: an error.

  struct Baton {
    std::mutex mutex;
    std::condition_variable changed;
    bool producerTurn = false, producerDone = false, consumersDone = false;
    std::thread::id producer;
  };

  /// Runs the other side until it hands the baton back; false when it is
  /// done or ran no op meanwhile (then nothing this side waits for changes).
  bool yieldToOtherSide() {
    if (!baton)
      return false;
    std::unique_lock<std::mutex> lock(baton->mutex);
    bool producer = std::this_thread::get_id() == baton->producer;
    if (producer ? baton->consumersDone : baton->producerDone)
      return false;
    uint64_t before = progress;
    baton->producerTurn = !producer;
    baton->changed.notify_all();
    baton->changed.wait(lock, [&] { return baton->producerTurn == producer; });
    return progress != before;
  }

  llvm::Error warpSpecialize(tile::WarpSpecializeOp o) {
    Baton b;
    std::string producerError;
    std::thread producer([&] {
      {
        std::unique_lock<std::mutex> lock(b.mutex);
        b.changed.wait(lock, [&] { return b.producerTurn; });
      }
      SmallVector<Slot, 4> ignored;
      if (llvm::Error e = execBlock(o.getProducer().front(), ignored))
        producerError = llvm::toString(std::move(e));
      std::lock_guard<std::mutex> lock(b.mutex);
      b.producerDone = true;
      b.producerTurn = false;
      b.changed.notify_all();
    });
    {
      std::lock_guard<std::mutex> lock(b.mutex);
      b.producer = producer.get_id();
      baton = &b;
    }
    SmallVector<Slot, 4> ignored;
    llvm::Error consumers = execBlock(o.getConsumers().front(), ignored);
    {
      // The producer finishes what is left to it (or finds it never can).
      std::unique_lock<std::mutex> lock(b.mutex);
      b.consumersDone = true;
      b.producerTurn = true;
      b.changed.notify_all();
      b.changed.wait(lock, [&] { return b.producerDone; });
    }
    producer.join();
    baton = nullptr;
    if (consumers)
      return consumers;
    if (!producerError.empty())
      return error(o, "in the producer: " + producerError);
    return llvm::Error::success();
  }

  llvm::Error tmaStore(tile::TmaStoreOp o) {
    const Slot &map = get(o.getMap()), &staging = get(o.getStaging());
    SmallVector<int64_t> coords;
    for (Value v : o.getIndices())
      coords.push_back(get(v).i[0]);
    checkNotInFlight(staging.slotOffsets[0], staging.numel() * int64_t(memBytes(staging.elt)),
                     "stores");
    Slot tile = readShared(staging.slotOffsets[0], staging.shape, staging.elt, false);
    bulkReads.push_back({staging.slotOffsets[0], staging.numel() * int64_t(memBytes(staging.elt))});
    // Elements outside the tensor are left alone.
    auto [desc, block] = boxOf(map, staging.elt, staging.shape[0], staging.shape[1]);
    return forEachBlockElement(
        desc, block, coords,
        [&](int64_t flat, bool inBounds, int64_t offset, ArrayRef<int64_t> pos) -> llvm::Error {
          if (!inBounds)
            return llvm::Error::success();
          auto p = address(o, desc, offset, pos);
          if (!p)
            return p.takeError();
          // An add (f32) reads, adds and writes: programs run one after
          // another here.
          if (o.getAdd()) {
            float old;
            std::memcpy(&old, *p, 4);
            old += tile.f[flat];
            std::memcpy(*p, &old, 4);
            return llvm::Error::success();
          }
          writeElement(*p, desc.elt, tile, flat);
          return llvm::Error::success();
        });
  }

  /// Every thread's stores of the staging tile's elements that lie inside
  /// the tensor (16-byte vectors or element by element on the GPU: the same
  /// elements).
  llvm::Error storeFromStaging(tile::StoreFromStagingOp o) {
    const Slot &staging = get(o.getStaging());
    checkNotInFlight(staging.slotOffsets[0], staging.numel() * int64_t(memBytes(staging.elt)),
                     "stores from");
    return writeBlock(o, o.getDesc(), o.getIndices(),
                      readShared(staging.slotOffsets[0], staging.shape, staging.elt, false),
                      [](unsigned char *p, Elt e, const Slot &value, int64_t flat) {
                        writeElement(p, e, value, flat);
                      });
  }

  /// The warp-specialized region running, if any, and the ops run so far.
  Baton *baton = nullptr;
  uint64_t progress = 0;
  std::vector<unsigned char> shared;
  /// The first race an op's shared-memory access ran into.
  std::optional<std::string> race;
  /// Staging tiles TMA stores and adds read until tile.tma_store_wait
  /// (offset, bytes).
  std::vector<std::pair<int64_t, int64_t>> bulkReads;
  std::deque<PendingTile> asyncGroups;
  std::map<int64_t, Barrier> barriers;
  /// Views read by the ops of the current loop iteration (get()).
  std::deque<Slot> materialized;
  DenseMap<Value, Slot> env;
  int64_t pid[3] = {0, 0, 0}, nprog[3] = {1, 1, 1};
};

} // namespace

llvm::Error tessera::interp::run(ModuleOp module, LaunchGrid grid, ArrayRef<Arg> args) {
  llvm::Expected<func::FuncOp> found = tile::getKernel(module);
  if (!found)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "interpreter: " + llvm::toString(found.takeError()));
  func::FuncOp kernel = *found;
  // Tensor maps (scheduled IR) are the interpreter's own, after the launch's.
  ArrayRef<Type> params = kernel.getFunctionType().getInputs();
  while (!params.empty() && isa<tile::TensorMapType>(params.back()))
    params = params.drop_back();
  if (params.size() != args.size())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "interpreter: kernel '" + kernel.getName() + "' takes " +
                                       Twine(params.size()) + " arguments, got " +
                                       Twine(args.size()));
  for (auto [idx, type] : llvm::enumerate(params)) {
    Arg::Kind expected = isa<tile::PtrType>(type) ? Arg::Kind::Pointer
                         : type.isInteger(32)     ? Arg::Kind::I32
                         : type.isF32()           ? Arg::Kind::F32
                                                  : Arg::Kind(-1);
    if (args[idx].kind != expected)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "interpreter: argument " + Twine(idx) + " of kernel '" +
                                         kernel.getName() + "' has the wrong kind");
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "interpreter: every grid dimension must be at least 1");
  Interpreter interpreter(args);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x)
        if (llvm::Error e = interpreter.runProgram(kernel, x, y, z, grid))
          return e;
  return llvm::Error::success();
}
