// The end of the matmuls where the adapter has subgroups of at least LANES invocations (the
// host checks the adapter's smallest subgroup before choosing this file): the LANES lanes of a
// row, consecutive invocations of one subgroup, sum their partial dot products with a butterfly
// of subgroup shuffles — no workgroup memory and no barriers — then lane 0 writes the row's
// results for the workgroup's nt tokens t0 .. t0 + nt. Same interface as matmul_store.wgsl.
// (The browser's WGSL needs the subgroups enable directive, which the host prepends there;
// naga, natively, rejects it and takes the builtins without it.)

fn store_rows(li: u32, lane: u32, row: u32, t0: u32, nt: u32, partial: vec4<f32>) {
    var acc = partial;
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
        acc += subgroupShuffleXor(acc, s);
    }
    if (lane == 0u && row < p.rows) {
        let o = t0 * p.out_stride + p.row_base + row;
        out[o] = acc.x;
        if (nt > 1u) {
            out[o + p.out_stride] = acc.y;
        }
        if (nt > 2u) {
            out[o + 2u * p.out_stride] = acc.z;
        }
        if (nt > 3u) {
            out[o + 3u * p.out_stride] = acc.w;
        }
    }
}
