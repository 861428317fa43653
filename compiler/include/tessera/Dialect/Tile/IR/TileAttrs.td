//===- TileAttrs.td - Enums and layout encodings ----------*- tablegen -*-===//
#ifndef TESSERA_TILE_ATTRS_TD
#define TESSERA_TILE_ATTRS_TD

include "tessera/Dialect/Tile/IR/TileBase.td"

def Tile_PaddingZero : I32EnumAttrCase<"zero", 0>;
def Tile_PaddingNan : I32EnumAttrCase<"nan", 1>;
def Tile_Padding : I32EnumAttr<"Padding",
    "value read for elements outside the tensor", [Tile_PaddingZero, Tile_PaddingNan]> {
  let cppNamespace = "::tessera::tile";
  let genSpecializedAttr = 0;
}

def Tile_ReduceSum : I32EnumAttrCase<"sum", 0>;
def Tile_ReduceMax : I32EnumAttrCase<"max", 1>;
def Tile_ReduceMin : I32EnumAttrCase<"min", 2>;
def Tile_ReduceKind : I32EnumAttr<"ReduceKind", "combining function of a reduction",
    [Tile_ReduceSum, Tile_ReduceMax, Tile_ReduceMin]> {
  let cppNamespace = "::tessera::tile";
  let genSpecializedAttr = 0;
}
def Tile_ReduceKindAttr : EnumAttr<Tile_Dialect, Tile_ReduceKind, "reduce_kind">;

def Tile_PublishNone : I32EnumAttrCase<"none", 0>;
def Tile_PublishAtStart : I32EnumAttrCase<"at_start", 1>;
def Tile_PublishAtExchange : I32EnumAttrCase<"at_exchange", 2>;
def Tile_PublishNext : I32EnumAttr<"PublishNext",
    "where a dot waits for and publishes the copied tiles of the dot after it",
    [Tile_PublishNone, Tile_PublishAtStart, Tile_PublishAtExchange]> {
  let cppNamespace = "::tessera::tile";
  let genSpecializedAttr = 0;
}

def Tile_AtomicAdd : I32EnumAttrCase<"add", 0>;
def Tile_AtomicMax : I32EnumAttrCase<"max", 1>;
def Tile_AtomicMin : I32EnumAttrCase<"min", 2>;
def Tile_AtomicXchg : I32EnumAttrCase<"xchg", 3>;
def Tile_AtomicKind : I32EnumAttr<"AtomicKind", "read-modify-write of an atomic",
    [Tile_AtomicAdd, Tile_AtomicMax, Tile_AtomicMin, Tile_AtomicXchg]> {
  let cppNamespace = "::tessera::tile";
  let genSpecializedAttr = 0;
}
def Tile_AtomicKindAttr : EnumAttr<Tile_Dialect, Tile_AtomicKind, "atomic_kind">;

class Tile_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Tile_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Tile_BlockedLayoutAttr : Tile_Attr<"BlockedLayout", "blocked"> {
  let summary = "each thread holds sizePerThread contiguous elements, repeated over the tile";
  let description = [{
    The CTA's threads tile the tensor in a grid of
    `sizePerThread * threadsPerWarp * warpsPerCTA` elements per dimension, repeated
    until the tensor is covered; where the grid is larger than the tensor, threads
    hold copies (coordinates wrap). `order` lists dimensions fastest first: lanes
    and warps are numbered along `order[0]` first. All entries are powers of two.

    ```mlir
    #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8],
                  warpsPerCTA = [4, 1], order = [1, 0]>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"unsigned">:$sizePerThread,
                        ArrayRefParameter<"unsigned">:$threadsPerWarp,
                        ArrayRefParameter<"unsigned">:$warpsPerCTA,
                        ArrayRefParameter<"unsigned">:$order);
  let assemblyFormat = [{
    `<` `sizePerThread` `=` `[` $sizePerThread `]` `,`
        `threadsPerWarp` `=` `[` $threadsPerWarp `]` `,`
        `warpsPerCTA` `=` `[` $warpsPerCTA `]` `,` `order` `=` `[` $order `]` `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    unsigned getRank() const { return getOrder().size(); }
    unsigned getNumWarps() const;
    /// Elements covered by one repetition of the layout along `dim`.
    int64_t getShapePerCTA(unsigned dim) const {
      return int64_t(getSizePerThread()[dim]) * getThreadsPerWarp()[dim] *
             getWarpsPerCTA()[dim];
    }
  }];
}

def Tile_SliceLayoutAttr : Tile_Attr<"SliceLayout", "slice"> {
  let summary = "the parent layout with dimension `dim` removed (result of a reduction)";
  let description = [{
    A tensor of rank r-1 laid out as its rank-r parent with `dim` removed: the
    threads that held a row of the parent hold that row's reduced value, so
    `expand_dims` back along `dim` costs nothing.

    ```mlir
    #tile.slice<dim = 1, parent = #tile.blocked<...>>
    ```

    The parent is a `#tile.blocked`, `#tile.mma` or `#tile.dot_op` layout.
  }];
  let parameters = (ins "unsigned":$dim, "::mlir::Attribute":$parent);
  let assemblyFormat = "`<` `dim` `=` $dim `,` `parent` `=` qualified($parent) `>`";
  let genVerifyDecl = 1;
}

def Tile_MmaLayoutAttr : Tile_Attr<"MmaLayout", "mma"> {
  let summary = "accumulator of mma.sync m16n8: the layout of a tensor-core dot's result";
  let description = [{
    Warps tile the 2-D result in a `warpsPerCTA` grid of 16 x `columnBlock`
    blocks, repeated until the tile is covered. In each 16 x 8 part of a
    block lane `l` holds rows `l / 4` and `l / 4 + 8`, columns `2 (l % 4)`
    and `2 (l % 4) + 1` (PTX ISA, "Matrix Fragments for mma.m16n8k16"). Warp
    `w` is at row block `w % warpsPerCTA[0]` and column block
    `w / warpsPerCTA[0]`.

    `columnBlock` (a power of two, 8 by default) is the width of a warp's
    column block: 8 interleaves the warp columns every 8 columns, as
    mma.sync's instructions do; a whole warpgroup instruction's N
    (`tile-assign-layouts` on sm_90a, where warps split N) gives each
    warpgroup one contiguous run of columns, which a B tile stored N-major
    in swizzle panels can hand to it through one descriptor.

    ```mlir
    #tile.mma<warpsPerCTA = [4, 1]>
    #tile.mma<warpsPerCTA = [4, 2], columnBlock = 128>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"unsigned">:$warpsPerCTA,
                        DefaultValuedParameter<"unsigned", "8">:$columnBlock);
  let assemblyFormat =
      "`<` `warpsPerCTA` `=` `[` $warpsPerCTA `]` (`,` `columnBlock` `=` $columnBlock^)? `>`";
  let builders = [
    AttrBuilder<(ins "::llvm::ArrayRef<unsigned>":$warpsPerCTA,
                     CArg<"unsigned", "8">:$columnBlock), [{
      return $_get($_ctxt, warpsPerCTA, columnBlock);
    }]>
  ];
  let skipDefaultBuilders = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    unsigned getNumWarps() const { return getWarpsPerCTA()[0] * getWarpsPerCTA()[1]; }
  }];
}

def Tile_DotOperandLayoutAttr : Tile_Attr<"DotOperandLayout", "dot_op"> {
  let summary = "an operand of mma.sync (A for opIdx 0, B for opIdx 1) of a parent mma layout";
  let description = [{
    The registers `mma.sync` reads: for A (M x K) lane `l` holds rows `l / 4`
    and `l / 4 + 8` of each 16-row block of its warp's row, and for B (K x N)
    column `l / 4` of each 8-column block of its warp's column; along K each
    lane holds `kWidth` consecutive elements (one 32-bit register: 2 for f16 and
    bf16, 1 for tf32) at `kWidth (l % 4)` and the same 4·kWidth further on.
    tf32 dots use kWidth 2 as well, the distribution of an f32 accumulator's
    columns: each pair feeds k-slots t and t+4 of one m16n8k8, an order both
    operands then share (DotOpToGPU/MmaSync.cpp).
    A is shared by the warps of one row and B by the warps of one column.

    ```mlir
    #tile.dot_op<opIdx = 0, parent = #tile.mma<warpsPerCTA = [4, 1]>, kWidth = 2>
    ```
  }];
  let parameters = (ins "unsigned":$opIdx, "MmaLayoutAttr":$parent, "unsigned":$kWidth);
  let assemblyFormat = [{
    `<` `opIdx` `=` $opIdx `,` `parent` `=` qualified($parent) `,` `kWidth` `=` $kWidth `>`
  }];
  let genVerifyDecl = 1;
}

def Tile_StagingAttr : Tile_Attr<"Staging", "staging"> {
  let summary = "the shared tiles of a tensor-core dot's staged operands and their readiness";
  let description = [{
    Set by `tile-allocate-shared-memory` on a `tile.dot` whose A or B operand
    is staged (a conversion or transpose into a tensor-core operand layout
    read through shared memory): `offsetA` and `offsetB` are the byte
    offsets of their tiles (-1: held in registers; a copied operand's tile is
    its `tile.shared_view`'s buffer). `readyA`/`readyB`: the tile is filled
    and published already (an earlier dot of the block read it at the same
    offset, or it was copied before the loop and waited for there), so
    tile-publish-stagings places no store, wait, fence or barrier for it.
    `publishNext`: the dot also waits for, fences and publishes the copied
    tiles of the dot after it, which finds them ready: before it
    (`at_start`, one barrier for both products; tile-publish-stagings), or
    at its exchange of partial sums when K is split between groups of warps
    (`at_exchange`: tiles copied a whole product earlier; the dot's
    lowering).

    ```mlir
    #tile.staging<offsetA = 1024, offsetB = 17408, readyA = true, readyB = false,
                  publishNext = none>
    ```
  }];
  let parameters = (ins "int64_t":$offsetA, "int64_t":$offsetB, "bool":$readyA, "bool":$readyB,
                        EnumParameter<Tile_PublishNext>:$publishNext);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getOffset(unsigned operand) const { return operand == 0 ? getOffsetA() : getOffsetB(); }
    bool isReady(unsigned operand) const { return operand == 0 ? getReadyA() : getReadyB(); }
  }];
}

#endif
