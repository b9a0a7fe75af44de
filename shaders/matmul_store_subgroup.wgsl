// The end of the matmuls where the adapter has subgroups of at least LANES invocations (the
// host checks the adapter's smallest subgroup before choosing this file): the LANES lanes of a
// row, consecutive invocations of one subgroup, sum their partial dot products with a butterfly
// of subgroup shuffles — no workgroup memory and no barriers — then lane 0 writes the row's
// results (matmul_write.wgsl). Same interface as matmul_store.wgsl.
// (The browser's WGSL needs the subgroups enable directive, which the host prepends there;
// naga, natively, rejects it and takes the builtins without it.)

fn store_rows(li: u32, lane: u32, row: u32, t0: u32, nt: u32, partial: vec4<f32>) {
    var acc = partial;
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
        acc += subgroupShuffleXor(acc, s);
    }
    write_row(lane, row, t0, nt, acc);
}
