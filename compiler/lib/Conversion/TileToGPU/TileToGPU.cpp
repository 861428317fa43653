//===- TileToGPU.cpp - The convert-tile-to-gpu pass -----------------------===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"

namespace tessera {
#define GEN_PASS_DEF_CONVERTTILETOGPU
#define GEN_PASS_DEF_ALIGNDYNAMICSHAREDMEMORY
#define GEN_PASS_DEF_TESSERATENSORMAPPARAMS
#include "tessera/Conversion/TileToGPU/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

bool touchesTiles(Operation *op) {
  return llvm::any_of(op->getOperandTypes(), llvm::IsaPred<RankedTensorType>) ||
         llvm::any_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
}

/// A kernel `func.func` (already moved into its gpu.module) becomes a
/// `gpu.func` kernel with LLVM pointer arguments and a thread-count bound.
struct KernelToGPUFunc : OpConversionPattern<func::FuncOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(func::FuncOp func, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    FunctionType type = func.getFunctionType();
    if (type.getNumResults() != 0)
      return rewriter.notifyMatchFailure(func, "kernels return nothing");
    TypeConverter::SignatureConversion signature(type.getNumInputs());
    for (auto [i, t] : llvm::enumerate(type.getInputs())) {
      Type converted = getTypeConverter()->convertType(t);
      if (!converted)
        return rewriter.notifyMatchFailure(func, "argument type has no GPU form");
      signature.addInputs(i, converted);
    }
    auto gpuFunc =
        gpu::GPUFuncOp::create(rewriter, func.getLoc(), func.getName(),
                               rewriter.getFunctionType(signature.getConvertedTypes(), {}));
    gpuFunc->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), rewriter.getUnitAttr());
    unsigned threads = tile::getNumWarps(func) * tile::kWarpSize;
    // CTAs per SM the kernel asked for (KernelBuilder::setCtasPerSm): ptxas
    // fits each thread's registers to that share of the SM (PTX
    // .minnctapersm). A warp-specialized split carries its own below.
    if (auto ctas = func->getAttrOfType<IntegerAttr>(tile::kCtasPerSmAttr);
        ctas && ctas.getInt() > 1)
      gpuFunc->setAttr("nvvm.minctasm", rewriter.getI32IntegerAttr(int32_t(ctas.getInt())));
    func.walk([&](tile::WarpSpecializeOp split) {
      // The split's CTAs per SM (PTX .minnctapersm, as CUTLASS's
      // __launch_bounds__): ptxas gives each thread 64K / threads / CTAs
      // registers at launch, which setmaxnreg then moves from the
      // producer's warps to the consumers' (lowerWarpSpecialize).
      gpuFunc->setAttr("nvvm.minctasm", rewriter.getI32IntegerAttr(split.getCtasPerSm()));
      threads += split.getProducerWarps() * tile::kWarpSize;
    });
    gpuFunc->setAttr("nvvm.maxntid", rewriter.getDenseI32ArrayAttr({int32_t(threads), 1, 1}));
    // Clusters of CTAs along x (PTX .reqnctapercluster): a plain launch
    // groups its programs so.
    if (auto size = func->getAttrOfType<IntegerAttr>(tile::kClusterSizeAttr);
        size && size.getInt() > 1)
      gpuFunc->setAttr("nvvm.cluster_dim",
                       rewriter.getDenseI32ArrayAttr({int32_t(size.getInt()), 1, 1}));
    for (StringRef name : {tile::kNumWarpsAttr.data(), tile::kWarpgroupMmaAttr.data()})
      if (Attribute a = func->getAttr(name))
        gpuFunc->setAttr(name, a);
    // The tensor maps, for tessera-tensor-map-params after the lowering to
    // NVVM (which keeps function attributes but not these arguments').
    SmallVector<int64_t> tensorMaps;
    for (auto [i, t] : llvm::enumerate(type.getInputs()))
      if (isa<tile::TensorMapType>(t))
        tensorMaps.push_back(i);
    if (!tensorMaps.empty())
      gpuFunc->setAttr(kTensorMapsAttr, rewriter.getDenseI64ArrayAttr(tensorMaps));
    rewriter.eraseBlock(&gpuFunc.getBody().front());
    rewriter.inlineRegionBefore(func.getBody(), gpuFunc.getBody(), gpuFunc.getBody().end());
    rewriter.applySignatureConversion(&gpuFunc.getBody().front(), signature, getTypeConverter());
    rewriter.eraseOp(func);
    return success();
  }
};

struct ReturnToGPUReturn : OpConversionPattern<func::ReturnOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(func::ReturnOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<gpu::ReturnOp>(op);
    return success();
  }
};

struct ConvertTileToGPUPass : tessera::impl::ConvertTileToGPUBase<ConvertTileToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(ctx));

    // Each kernel gets a gpu.module of its own, named after it. Its shared
    // memory was placed by the schedule level.
    for (func::FuncOp func : llvm::make_early_inc_range(module.getOps<func::FuncOp>())) {
      if (!func->hasAttr(tile::kKernelAttr))
        continue;
      WalkResult unallocated = func.walk([](tile::DotOp dot) {
        return isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()) && !dot.getStagingAttr()
                   ? WalkResult::interrupt()
                   : WalkResult::advance();
      });
      if (unallocated.wasInterrupted()) {
        func.emitError("expects its shared memory allocated: run tile-allocate-shared-memory "
                       "and tile-pipeline-copies first");
        return signalPassFailure();
      }
      // Clusters of CTAs are Hopper's: elsewhere each program runs alone
      // (the kernel's tile order does not depend on it).
      if (arch != "sm_90a")
        func->removeAttr(tile::kClusterSizeAttr);
      OpBuilder b(func);
      auto gpuModule = gpu::GPUModuleOp::create(b, func.getLoc(), func.getName());
      func->moveBefore(gpuModule.getBody(), gpuModule.getBody()->end());
    }

    LastIndexDivisors divisors(module);
    TileTypeConverter converter(ctx);
    ConversionTarget target(*ctx);
    target.addLegalDialect<gpu::GPUDialect, LLVM::LLVMDialect, vector::VectorDialect,
                           memref::MemRefDialect, scf::SCFDialect, NVVM::NVVMDialect>();
    target.addLegalOp<cf::AssertOp>();
    target.addIllegalDialect<tile::TileDialect, math::MathDialect>();
    // A wgmma group's wait stays an op until tessera-defer-wgmma-waits has
    // placed it.
    target.addLegalOp<tile::WarpgroupWaitOp, tile::WarpSpecializeOp, tile::TurnWaitOp,
                      tile::TurnPassOp, tile::TurnStartOp, tile::TurnFinishOp>();
    target.addDynamicallyLegalDialect<arith::ArithDialect>(
        [](Operation *op) { return !touchesTiles(op); });
    target.addDynamicallyLegalOp<func::FuncOp, func::ReturnOp>(
        [](Operation *op) { return !op->getParentOfType<gpu::GPUModuleOp>(); });

    RewritePatternSet patterns(ctx);
    patterns.add<KernelToGPUFunc, ReturnToGPUReturn>(converter, ctx);
    populateMemoryOpPatterns(converter, patterns, /*warpgroupMma=*/arch == "sm_90a", divisors,
                             typedAsyncCopies);
    populateElementwiseOpPatterns(converter, patterns);
    populateSharedMemoryOpPatterns(converter, patterns);
    populateFmaDotPatterns(converter, patterns);
    populateTmaOpPatterns(converter, patterns);
    populateTensorCoreOpPatterns(converter, patterns, /*warpgroupMma=*/arch == "sm_90a",
                                 typedWarpgroupMma, stmatrixStagings);
    scf::populateSCFStructuralTypeConversionsAndLegality(converter, patterns, target);

    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      return signalPassFailure();

    // Lowered after its regions' ops, whose barriers it turns into the
    // consumers' named barrier.
    module.walk([](tile::WarpSpecializeOp op) { lowerWarpSpecialize(op); });
  }
};

struct TesseraTensorMapParamsPass
    : tessera::impl::TesseraTensorMapParamsBase<TesseraTensorMapParamsPass> {
  void runOnOperation() override {
    getOperation().walk([](LLVM::LLVMFuncOp func) {
      auto indices = func->getAttrOfType<DenseI64ArrayAttr>(kTensorMapsAttr);
      if (!indices)
        return;
      MLIRContext *ctx = func.getContext();
      Builder b(ctx);
      for (int64_t i : indices.asArrayRef()) {
        // CUtensorMap: 128 bytes, 64-byte aligned.
        func.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                        TypeAttr::get(LLVM::LLVMArrayType::get(b.getI8Type(), 128)));
        func.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(), b.getI64IntegerAttr(64));
        func.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(), b.getUnitAttr());
      }
      func->removeAttr(kTensorMapsAttr);
    });
  }
};

struct AlignDynamicSharedMemoryPass
    : tessera::impl::AlignDynamicSharedMemoryBase<AlignDynamicSharedMemoryPass> {
  void runOnOperation() override {
    getOperation().walk([](LLVM::GlobalOp global) {
      auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
      if (global.getAddrSpace() != 3 || !array || array.getNumElements() != 0)
        return;
      global.setAlignment(kSharedTileAlignment);
      // Internal linkage makes NVPTX emit a static one-byte variable that
      // the dynamic shared memory merely follows; external is the
      // `.extern .shared` array that *is* the dynamic shared memory.
      global.setLinkage(LLVM::Linkage::External);
    });
  }
};

} // namespace
