//===- RemoveLayoutConversions.cpp - Drop conversions that move nothing ---===//

#include "tessera/Dialect/Tile/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace tessera::tile {
#define GEN_PASS_DEF_TILEREMOVELAYOUTCONVERSIONS
#include "tessera/Dialect/Tile/Transforms/Passes.h.inc"
} // namespace tessera::tile

using namespace mlir;
using namespace tessera::tile;

namespace {
struct TileRemoveLayoutConversionsPass
    : tessera::tile::impl::TileRemoveLayoutConversionsBase<TileRemoveLayoutConversionsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // The folders (same layout) run as part of the greedy driver; the
    // canonical patterns fold chains and rebuild splats in place.
    ConvertLayoutOp::getCanonicalizationPatterns(patterns, &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
