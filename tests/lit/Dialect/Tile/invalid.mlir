// RUN: tessera-opt %s -split-input-file -verify-diagnostics

func.func @dot_inner_mismatch(%a: tensor<16x32xf16>, %b: tensor<16x16xf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{expects lhs columns (32) to equal rhs rows (16)}}
  %r = tile.dot %a, %b, %c : tensor<16x32xf16>, tensor<16x16xf16> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_f16_accumulator(%a: tensor<16x16xf16>, %b: tensor<16x16xf16>, %c: tensor<16x16xf16>) {
  // expected-error @+1 {{expects an f32 accumulator for floating-point operands}}
  %r = tile.dot %a, %b, %c : tensor<16x16xf16>, tensor<16x16xf16> -> tensor<16x16xf16>
  return
}

// -----

func.func @load_wrong_block(%p: !tile.ptr<f32>, %n: i32) {
  %d = tile.make_desc %p, [%n], [%n] : !tile.ptr<f32> -> !tile.desc<64xf32>
  // expected-error @+1 {{expects a tile of the descriptor's block shape 64, got 32}}
  %t = tile.load %d[%n] : !tile.desc<64xf32> -> tensor<32xf32>
  return
}

// -----

func.func @tf32_rounded_f16(%p: !tile.ptr<f16>, %n: i32) {
  %d = tile.make_desc %p, [%n], [%n] : !tile.ptr<f16> -> !tile.desc<64xf16>
  // expected-error @+1 {{tf32_rounded expects an f32 block, got 'f16'}}
  %t = tile.load %d[%n] {tf32_rounded} : !tile.desc<64xf16> -> tensor<64xf16>
  return
}

// -----

func.func @load_missing_index(%p: !tile.ptr<f32>, %n: i32) {
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<4x4xf32>
  // expected-error @+1 {{expects 2 indices for a rank-2 descriptor, got 1}}
  %t = tile.load %d[%n] : !tile.desc<4x4xf32> -> tensor<4x4xf32>
  return
}

// -----

func.func @desc_rank(%p: !tile.ptr<f32>, %n: i32) {
  // expected-error @+1 {{expects 2 sizes and strides for a rank-2 block, got 1 sizes and 2 strides}}
  %d = tile.make_desc %p, [%n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<4x4xf32>
  return
}

// -----

func.func @desc_element_type(%p: !tile.ptr<f16>, %n: i32) {
  // expected-error @+1 {{expects the pointer's element type 'f16' to match the descriptor's 'f32'}}
  %d = tile.make_desc %p, [%n], [%n] : !tile.ptr<f16> -> !tile.desc<4xf32>
  return
}

// -----

func.func @store_element_type(%p: !tile.ptr<f32>, %n: i32, %v: tensor<4xf16>) {
  %d = tile.make_desc %p, [%n], [%n] : !tile.ptr<f32> -> !tile.desc<4xf32>
  // expected-error @+1 {{expects element type 'f32', got 'f16'}}
  tile.store %d[%n], %v : !tile.desc<4xf32>, tensor<4xf16>
  return
}

// -----

func.func @reduce_shape(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects result shape 4, got 8}}
  %r = tile.reduce sum %x, 1 : tensor<4x8xf32> -> tensor<8xf32>
  return
}

// -----

func.func @reduce_rank1(%x: tensor<8xf32>) {
  // expected-error @+1 {{expects an operand of rank 2 or more, got rank 1}}
  %r = tile.reduce sum %x, 0 : tensor<8xf32> -> tensor<f32>
  return
}

// -----

func.func @broadcast_non_unit(%x: tensor<4x2xf32>) {
  // expected-error @+1 {{can only broadcast dimensions of size 1, but dimension 1 is 2 -> 8}}
  %r = tile.broadcast %x : tensor<4x2xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @expand_dims_shape(%x: tensor<4xf32>) {
  // expected-error @+1 {{expects result shape 4x1, got 1x4}}
  %r = tile.expand_dims %x, 1 : tensor<4xf32> -> tensor<1x4xf32>
  return
}

// -----

func.func @trans_shape(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects result shape 8x4, got 4x8}}
  %r = tile.trans %x : tensor<4x8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @splat_type(%s: f16) {
  // expected-error @+1 {{expects a scalar of the result's element type 'f32', got 'f16'}}
  %r = tile.splat %s : f16 -> tensor<4xf32>
  return
}

// -----

func.func @iota_rank() {
  // expected-error @+1 {{expects a 1-D result, got rank 2}}
  %r = tile.iota : tensor<4x4xi32>
  return
}

// -----

func.func @program_id_axis() {
  // expected-error @+1 {{attribute 'axis' failed to satisfy constraint}}
  %r = tile.program_id 3
  return
}

// -----

// expected-error @+1 {{expects threadsPerWarp to multiply to 32, got 16}}
func.func @bad_layout(%x: tensor<16xf32, #tile.blocked<sizePerThread = [1], threadsPerWarp = [16], warpsPerCTA = [4], order = [0]>>) {
  return
}

// -----

// expected-error @+1 {{expects a columnBlock that is a power of two, 8 or more; got 12}}
func.func @bad_column_block(%x: tensor<64x64xf32, #tile.mma<warpsPerCTA = [4, 2], columnBlock = 12>>) {
  return
}

// -----

func.func @layout_rank(%x: tensor<16x16xf32, #tile.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>>) {
  // expected-error @+1 {{expects a layout of rank 2, got rank 1}}
  %r = tile.trans %x : tensor<16x16xf32, #tile.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>> -> tensor<16x16xf32>
  return
}

// -----

func.func @bad_padding(%p: !tile.ptr<f32>, %n: i32) {
  // expected-error @+1 {{expected padding 'zero' or 'nan', got 'ones'}}
  %d = tile.make_desc %p, [%n], [%n] : !tile.ptr<f32> -> !tile.desc<4xf32, ones>
  return
}

// -----

func.func @dot_tf32_of_bf16(%a: tensor<16x16xbf16>, %b: tensor<16x16xbf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{tf32 expects f32 operands, got 'bf16'}}
  %r = tile.dot %a, %b, %c {tf32} : tensor<16x16xbf16>, tensor<16x16xbf16> -> tensor<16x16xf32>
  return
}

// -----

func.func @atomic_add_f16(%p: !tile.ptr<f16>, %n: i32, %t: tensor<16xf16>) {
  %d = tile.make_desc %p, [%n], [%n] : !tile.ptr<f16> -> !tile.desc<16xf16>
  // expected-error @+1 {{expects an f32 tile, got 'f16'}}
  tile.atomic_add %d[%n], %t : !tile.desc<16xf16>, tensor<16xf16>
  return
}

// -----

func.func @gather_rows_length(%p: !tile.ptr<f32>, %n: i32, %rows: tensor<8xi32>) {
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<16x16xf32>
  // expected-error @+1 {{expects one row index per block row, 16, got 8}}
  %t = tile.gather %d[%rows, %n] : !tile.desc<16x16xf32>, tensor<8xi32> -> tensor<16x16xf32>
  return
}

// -----

func.func @gather_rank(%p: !tile.ptr<f32>, %n: i32, %rows: tensor<16xi32>) {
  %d = tile.make_desc %p, [%n], [%n] : !tile.ptr<f32> -> !tile.desc<16xf32>
  // expected-error @+1 {{expects a rank-2 descriptor, got rank 1}}
  %t = tile.gather %d[%rows, %n] : !tile.desc<16xf32>, tensor<16xi32> -> tensor<16xf32>
  return
}

// -----

func.func @shared_alloc_offsets(%i: i32) {
  // expected-error @+1 {{expects one offset per buffer (2), got 1}}
  %b = tile.shared_alloc [0] : !tile.shared<32x64xbf16, 2>
  return
}

// -----

func.func @shared_alloc_alignment(%i: i32) {
  // expected-error @+1 {{expects offsets that are non-negative multiples of 1024, got 512}}
  %b = tile.shared_alloc [512] : !tile.shared<32x64xbf16>
  return
}

// -----

// expected-error @+1 {{expects 1 to 4 buffers, got 5}}
func.func @shared_buffers(%b: !tile.shared<32x64xbf16, 5>) {
  return
}

// -----

// The default swizzle (the widest the row allows) has one spelling: none.
// expected-error @+1 {{expects a swizzle of 32 or 64 bytes dividing the row's 256 and narrower than its default 128 (a tile of more than one row), got 128}}
func.func @shared_default_swizzle(%b: !tile.shared<64x64xf32, 1, swizzle = 128>) {
  return
}

// -----

// expected-error @+1 {{expects a swizzle of 32 or 64 bytes dividing the row's 64 and narrower than its default 64 (a tile of more than one row), got 64}}
func.func @shared_swizzle_not_narrower(%b: !tile.shared<64x16xf32, 1, swizzle = 64>) {
  return
}

// -----

func.func @store_staging_swizzle(%t: tensor<64x64xf32, #tile.mma<warpsPerCTA = [4, 1]>>) {
  // expected-error @+1 {{expects a swizzle of 32 or 64 bytes dividing the row's 256 and narrower than its default 128 (a tile of more than one row), got 48}}
  tile.store_staging %t at 0 exact swizzle 48 : tensor<64x64xf32, #tile.mma<warpsPerCTA = [4, 1]>>
  return
}

// -----

// A TMA add's staging tile of 32-byte panels takes boxes of 8 f32 columns.
func.func @tma_store_narrow_panels(%m: !tile.tensormap<64x32xf32, 0>, %i: i32) {
  %s = tile.shared_alloc [0] : !tile.shared<64x64xf32, 1, swizzle = 32>
  // expected-error @+1 {{expects boxes of one column panel of the staging tile (64 rows, 32 bytes), got 64x32}}
  tile.tma_store add %s, %m[%i, %i] : !tile.shared<64x64xf32, 1, swizzle = 32>, !tile.tensormap<64x32xf32, 0>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
func.func @async_copy_shape(%d: !tile.desc<32x64xbf16>, %i: i32) {
  %b = tile.shared_alloc [0] : !tile.shared<64x64xbf16>
  // expected-error @+1 {{expects a tile of the buffer's shape and element type, 'tensor<64x64xbf16>', got 'tensor<32x64xbf16>'}}
  tile.async_copy %d[%i, %i], %b[%i] : !tile.desc<32x64xbf16>, !tile.shared<64x64xbf16> as tensor<32x64xbf16, #bl>
  return
}

// -----

func.func @async_copy_layout(%d: !tile.desc<32x64xbf16>, %i: i32) {
  %b = tile.shared_alloc [0] : !tile.shared<32x64xbf16>
  // expected-error @+1 {{expects a tile with a layout (the copying threads')}}
  tile.async_copy %d[%i, %i], %b[%i] : !tile.desc<32x64xbf16>, !tile.shared<32x64xbf16> as tensor<32x64xbf16>
  return
}

// -----

func.func @staging_offset(%a: tensor<16x16xf16>, %b: tensor<16x16xf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{expects tile offsets that are multiples of 1024 (or -1: not staged), got 100}}
  %r = tile.dot %a, %b, %c {staging = #tile.staging<offsetA = 100, offsetB = -1, readyA = false, readyB = false, publishNext = none>} : tensor<16x16xf16>, tensor<16x16xf16> -> tensor<16x16xf32>
  return
}

// -----

func.func @atomic_rmw_f16(%d: !tile.desc<16xf16>, %n: i32, %t: tensor<16xf16>) {
  // expected-error @+1 {{expects an f32 or i32 tile, got 'f16'}}
  %o = tile.atomic_rmw add %d[%n], %t : !tile.desc<16xf16>, tensor<16xf16>
  return
}

// -----

func.func @atomic_cas_f32(%d: !tile.desc<16xf32>, %n: i32, %t: tensor<16xf32>) {
  // expected-error @+1 {{expects an i32 tile, got 'f32'}}
  %o = tile.atomic_cas %d[%n], %t, %t : !tile.desc<16xf32>, tensor<16xf32>
  return
}

// -----

func.func @store_mask_shape(%d: !tile.desc<64xf32>, %n: i32, %t: tensor<64xf32>, %m: tensor<32xi1>) {
  // expected-error @+1 {{expects a mask of the value's shape 64, got 32}}
  tile.store %d[%n], %t mask %m : !tile.desc<64xf32>, tensor<64xf32>, tensor<32xi1>
  return
}

// -----

func.func @print_prefix(%n: i32) {
  // expected-error @+1 {{expects a prefix without '%'}}
  tile.print "n=%d" %n : i32
  return
}

// -----

func.func @combine_arguments(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects a combine region of arguments (f32, f32)}}
  %r = tile.reduce_combine %x along 1 : tensor<4x8xf32> -> tensor<4xf32> {
  ^bb0(%a: f32):
    tile.yield %a : f32
  }
  return
}

// -----

func.func @combine_yield_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects the combine region to yield (f32)}}
  %r = tile.scan %x along 1 : tensor<4x8xf32> -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    %c = arith.fptosi %a : f32 to i32
    tile.yield %c : i32
  }
  return
}

// -----

func.func @combine_side_effects(%x: tensor<4x8xf32>, %d: !tile.desc<8xf32>, %n: i32, %t: tensor<8xf32>) {
  %r = tile.scan %x along 1 : tensor<4x8xf32> -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    // expected-error @+1 {{is not allowed in a combine region: it must be a pure scalar op}}
    tile.store %d[%n], %t : !tile.desc<8xf32>, tensor<8xf32>
    tile.yield %a : f32
  }
  return
}

// -----

func.func @reduce_combine_shape(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects result shape 4, got 8}}
  %r = tile.reduce_combine %x along 1 : tensor<4x8xf32> -> tensor<8xf32> {
  ^bb0(%a: f32, %b: f32):
    tile.yield %a : f32
  }
  return
}

// -----

func.func @scan_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects axis in [0, 2), got 2}}
  %r = tile.scan %x along 2 : tensor<4x8xf32> -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    tile.yield %a : f32
  }
  return
}

// -----

func.func @yield_outside(%a: f32) {
  // expected-error @+1 {{expects parent op to be one of 'tile.reduce_combine, tile.scan'}}
  tile.yield %a : f32
}

// -----

func.func @assert_not_boolean(%t: tensor<64xf32>) {
  // expected-error @+1 {{operand #0 must be 1-bit signless integer or ranked tensor of 1-bit signless integer values}}
  tile.assert %t, "x" : tensor<64xf32>
  return
}

// -----

func.func @combine_tiles_of_two_shapes(%x: tensor<4x8xf32>, %i: tensor<4x4xi32>) {
  // expected-error @+1 {{expects tiles of one shape and layout}}
  %r:2 = tile.reduce_combine %x, %i along 1 : tensor<4x8xf32>, tensor<4x4xi32> -> tensor<4xf32>, tensor<4xi32> {
  ^bb0(%a: f32, %ai: i32, %b: f32, %bi: i32):
    tile.yield %a, %ai : f32, i32
  }
  return
}

// -----

func.func @combine_tuple_arguments(%x: tensor<4x8xf32>, %i: tensor<4x8xi32>) {
  // expected-error @+1 {{expects a combine region of arguments (f32, i32, f32, i32)}}
  %r:2 = tile.scan %x, %i along 1 : tensor<4x8xf32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xi32> {
  ^bb0(%a: f32, %b: f32, %ai: i32, %bi: i32):
    tile.yield %a, %ai : f32, i32
  }
  return
}

// -----

// expected-error @+1 {{expects box rows of 32, 64 or 128 bytes (a swizzle's width), got 96}}
func.func @tensormap_box(%m: !tile.tensormap<64x48xbf16, 0>) {
  return
}

// -----

// expected-error @+1 {{expects 16-bit or f32 elements, got 'i32'}}
func.func @tensormap_element(%m: !tile.tensormap<64x32xi32, 0>) {
  return
}

// -----

// expected-error @+1 {{expects 1 to 256 box rows, got 512}}
func.func @tensormap_rows(%m: !tile.tensormap<512x64xbf16, 0>) {
  return
}

// -----

func.func @mbarrier_alloc_offset() {
  // expected-error @+1 {{expects a non-negative offset, a multiple of 8, got 12}}
  %b = tile.mbarrier_alloc 12 : !tile.mbarriers<2>
  return
}

// -----

func.func @tma_copy_box(%m: !tile.tensormap<32x64xbf16, 0>, %i: i32) {
  %b = tile.shared_alloc [0] : !tile.shared<64x64xbf16>
  %bars = tile.mbarrier_alloc 8192 : !tile.mbarriers<1>
  // expected-error @+1 {{expects boxes of one column panel of the buffer (64 rows, 128 bytes), got 32x64}}
  tile.tma_copy %m[%i, %i], %b[%i], %bars : !tile.tensormap<32x64xbf16, 0>, !tile.shared<64x64xbf16>, !tile.mbarriers<1>
  return
}

// -----

func.func @tma_copy_barriers(%m: !tile.tensormap<64x64xbf16, 0>, %i: i32) {
  %b = tile.shared_alloc [0, 8192] : !tile.shared<64x64xbf16, 2>
  %bars = tile.mbarrier_alloc 16384 : !tile.mbarriers<1>
  // expected-error @+1 {{expects one barrier per buffer (2), got 1}}
  tile.tma_copy %m[%i, %i], %b[%i], %bars : !tile.tensormap<64x64xbf16, 0>, !tile.shared<64x64xbf16, 2>, !tile.mbarriers<1>
  return
}

// -----

func.func @tma_copy_multicast(%m: !tile.tensormap<64x64xbf16, 0>, %i: i32) {
  %b = tile.shared_alloc [0] : !tile.shared<64x128xbf16>
  %bars = tile.mbarrier_alloc 16384 : !tile.mbarriers<1>
  // expected-error @+1 {{expects multicast to a number of CTAs dividing the tile's 2 panels, issued by every CTA's leader, got 4}}
  tile.tma_copy %m[%i, %i], %b[%i], %bars {multicast = 4} : !tile.tensormap<64x64xbf16, 0>, !tile.shared<64x128xbf16>, !tile.mbarriers<1>
  return
}

// -----

func.func @tma_store_staging(%m: !tile.tensormap<64x64xf16, 0>, %i: i32) {
  %s = tile.shared_alloc [0] : !tile.shared<64x64xbf16>
  // expected-error @+1 {{expects one staging tile of 16-bit elements (a store), those of the tensor map, got 1 of 'bf16'}}
  tile.tma_store %s, %m[%i, %i] : !tile.shared<64x64xbf16>, !tile.tensormap<64x64xf16, 0>
  return
}

// -----

// TMA adds accumulate f32 only.
func.func @tma_store_add_element(%m: !tile.tensormap<64x64xbf16, 0>, %i: i32) {
  %s = tile.shared_alloc [0] : !tile.shared<64x64xbf16>
  // expected-error @+1 {{expects one staging tile of f32 elements (an add), those of the tensor map, got 1 of 'bf16'}}
  tile.tma_store add %s, %m[%i, %i] : !tile.shared<64x64xbf16>, !tile.tensormap<64x64xbf16, 0>
  return
}

// -----

// Stores from a staging tile move 16-bit blocks of the tile's shape.
func.func @store_from_staging_element(%p: !tile.ptr<f32>, %i: i32) {
  %d = tile.make_desc %p, [%i, %i], [%i, %i] : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  %s = tile.shared_alloc [0] : !tile.shared<64x64xf32>
  // expected-error @+1 {{expects one staging tile of 16-bit elements, those of the descriptor, got 1 of 'f32'}}
  tile.store_from_staging %s, %d[%i, %i] : !tile.shared<64x64xf32>, !tile.desc<64x64xf32>
  return
}

// -----

func.func @store_from_staging_shape(%p: !tile.ptr<bf16>, %i: i32) {
  %d = tile.make_desc %p, [%i, %i], [%i, %i] : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
  %s = tile.shared_alloc [0] : !tile.shared<128x64xbf16>
  // expected-error @+1 {{expects the descriptor's blocks of the staging tile's shape 128x64, got 64x64}}
  tile.store_from_staging %s, %d[%i, %i] : !tile.shared<128x64xbf16>, !tile.desc<64x64xbf16>
  return
}

// -----

func.func @store_from_staging_rank(%p: !tile.ptr<bf16>, %i: i32) {
  %d = tile.make_desc %p, [%i, %i, %i], [%i, %i, %i] : !tile.ptr<bf16> -> !tile.desc<2x64x64xbf16>
  %s = tile.shared_alloc [0] : !tile.shared<64x64xbf16>
  // expected-error @+1 {{expects a 2-D descriptor and 2 indices (row, column), got rank 3 and 3}}
  tile.store_from_staging %s, %d[%i, %i, %i] : !tile.shared<64x64xbf16>, !tile.desc<2x64x64xbf16>
  return
}

// -----

func.func @staged_store_masked(%p: !tile.ptr<bf16>, %i: i32, %v: tensor<4x64xbf16>, %m: tensor<4x64xi1>) {
  %d = tile.make_desc %p, [%i, %i], [%i, %i] : !tile.ptr<bf16> -> !tile.desc<4x64xbf16>
  // expected-error @+1 {{expects a staged store to be unmasked, of a 2-D block of 16- or 32-bit elements whose rows are whole 16-byte chunks, got 'tensor<4x64xbf16>' with a mask}}
  tile.store %d[%i, %i], %v mask %m staged : !tile.desc<4x64xbf16>, tensor<4x64xbf16>, tensor<4x64xi1>
  return
}

// -----

func.func @tma_store_box(%m: !tile.tensormap<32x64xbf16, 0>, %i: i32) {
  %s = tile.shared_alloc [0] : !tile.shared<64x128xbf16>
  // expected-error @+1 {{expects boxes of one column panel of the staging tile (64 rows, 128 bytes), got 32x64}}
  tile.tma_store %s, %m[%i, %i] : !tile.shared<64x128xbf16>, !tile.tensormap<32x64xbf16, 0>
  return
}

// -----

func.func @cluster_size(%x: i32) attributes {tile.kernel, tile.cluster_size = 3 : i32} {
  // expected-error @-1 {{attribute 'tile.cluster_size' expects an i32 power of two from 1 to 8, got 3 : i32}}
  return
}

// -----

func.func @ctas_per_sm(%x: i32) attributes {tile.kernel, tile.ctas_per_sm = 5 : i32} {
  // expected-error @-1 {{attribute 'tile.ctas_per_sm' expects an i32 from 1 to 4, got 5 : i32}}
  return
}

// -----

func.func @tma_copy_element(%m: !tile.tensormap<64x64xf16, 0>, %i: i32) {
  %b = tile.shared_alloc [0] : !tile.shared<64x64xbf16>
  %bars = tile.mbarrier_alloc 8192 : !tile.mbarriers<1>
  // expected-error @+1 {{expects the buffer's element type 'bf16' in the tensor map, got 'f16'}}
  tile.tma_copy %m[%i, %i], %b[%i], %bars : !tile.tensormap<64x64xf16, 0>, !tile.shared<64x64xbf16>, !tile.mbarriers<1>
  return
}

// -----

func.func @warp_specialize_warps() {
  // expected-error @+1 {{expects one producer warpgroup (4 warps), got 2}}
  tile.warp_specialize producer_warps(2) {
  } consumers {
  }
  return
}

// -----

func.func @warp_specialize_ctas() {
  // expected-error @+1 {{attribute 'ctas_per_sm' failed to satisfy constraint}}
  tile.warp_specialize producer_warps(4) ctas_per_sm(5) {
  } consumers {
  }
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
func.func @warp_specialize_after_tiles(%d: !tile.desc<32x64xbf16>, %i: i32) {
  // expected-error @+1 {{before a tile.warp_specialize would run on the producer's warps too}}
  %t = tile.load %d[%i, %i] : !tile.desc<32x64xbf16> -> tensor<32x64xbf16, #bl>
  tile.warp_specialize producer_warps(4) {
  } consumers {
  }
  return
}

// -----

// The dialect's attributes on other operations are declared and verified:
// a name it does not know is an error, not a silent no-op.
// expected-error @+1 {{unknown attribute 'tile.prefetch_next' of the tile dialect}}
func.func @unknown_tile_attribute() attributes {tile.kernel, tile.prefetch_next} {
  return
}

// -----

// expected-error @+1 {{attribute 'tile.num_warps' expects an i32 power of two from 1 to 32, got 6 : i32}}
func.func @num_warps_not_a_power_of_two() attributes {tile.kernel, tile.num_warps = 6 : i32} {
  return
}

// -----

// expected-error @+1 {{attribute 'tile.num_stages' expects an i32 from 1 to 4, got 5 : i32}}
func.func @too_many_stages() attributes {tile.kernel, tile.num_stages = 5 : i32} {
  return
}

// -----

// expected-error @+1 {{attribute 'tile.tma' expects a unit attribute, got 1 : i32}}
func.func @tma_is_a_flag() attributes {tile.kernel, tile.tma = 1 : i32} {
  return
}

// -----

// expected-error @+1 {{attribute 'tile.warpgroup_mma' expects a bool, got 0 : i32}}
func.func @warpgroup_mma_is_a_bool() attributes {tile.kernel, tile.warpgroup_mma = 0 : i32} {
  return
}

// -----

// expected-error @+1 {{attribute 'tile.constant.BLOCK' expects an i64 after a constant's name, got 64 : i32}}
func.func @constant_is_i64() attributes {tile.kernel, tile.constant.BLOCK = 64 : i32} {
  return
}

// -----

// expected-error @+1 {{attribute 'tile.tensor_maps' expects argument indices of the function it is on, got array<i64: 0, 2>}}
func.func @tensor_map_index_past_the_arguments(%a: i32, %b: i32) attributes {tile.tensor_maps = array<i64: 0, 2>} {
  return
}

// -----

// Valid: every one of them on the operations it belongs on.
func.func @every_attribute(%a: i32, %x: f32) attributes {tile.kernel, tile.num_warps = 8 : i32, tile.num_stages = 4 : i32, tile.warpgroup_mma = false, tile.tma, tile.warp_specialize, tile.constant.BLOCK_M = 128, tile.tensor_maps = array<i64: 0>} {
  %y = arith.mulf %x, %x {tile.skip_unit_factor} : f32
  return
}

// -----

func.func @store_staging_without_layout(%t: tensor<32x32xbf16>) {
  // expected-error @+1 {{expects a tile with a layout (the storing threads')}}
  tile.store_staging %t at 0 : tensor<32x32xbf16>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
func.func @store_staging_negative_offset(%t: tensor<32x32xbf16, #bl>) {
  // expected-error @+1 {{expects a non-negative byte offset, got -1024}}
  tile.store_staging %t at -1024 : tensor<32x32xbf16, #bl>
  return
}

// -----

// expected-error @+1 {{expects a tensor of rank 2 to 5, got rank 6}}
func.func @tensormap_rank(%m: !tile.tensormap<64x64xbf16, 0, rank = 6>) {
  return
}

// -----

func.func @tma_copy_rank(%m: !tile.tensormap<64x64xbf16, 0, rank = 4>, %i: i32) {
  %b = tile.shared_alloc [0] : !tile.shared<64x64xbf16>
  %bars = tile.mbarrier_alloc 8192 : !tile.mbarriers<1>
  // expected-error @+1 {{expects 4 indices (the tensor's rank: leading ones, row, column), got 2}}
  tile.tma_copy %m[%i, %i], %b[%i], %bars : !tile.tensormap<64x64xbf16, 0, rank = 4>, !tile.shared<64x64xbf16>, !tile.mbarriers<1>
  return
}

// -----

func.func @at_strides(%p: !tile.ptr<bf16>, %i: i32) {
  // expected-error @+1 {{expects one stride per index, at least one, got 2 indices and 1 strides}}
  %q = tile.at %p[%i, %i] strides [%i] : !tile.ptr<bf16>
  return
}

// -----

func.func @turn_outside_consumers() attributes {tile.kernel, tile.num_warps = 8 : i32} {
  // expected-error @+1 {{expects to be in the consumers of a tile.warp_specialize}}
  tile.turn_wait
  return
}

// -----

func.func @turn_on_one_warpgroup() attributes {tile.kernel, tile.num_warps = 4 : i32} {
  tile.warp_specialize producer_warps(4) {
  } consumers {
    // expected-error @+1 {{expects two consumer warpgroups (tile.num_warps = 8)}}
    tile.turn_pass
  }
  return
}
