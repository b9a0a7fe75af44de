// The end both matmul kernels share: the lanes of each row sum their partial dot products in
// workgroup memory (WG vec4s; nothing to sum with one lane per row), then lane 0 writes the row's
// results (matmul_write.wgsl). Uses the kernel's LANES.

var<workgroup> red: array<vec4<f32>, WG>;

fn store_rows(li: u32, lane: u32, row: u32, t0: u32, nt: u32, partial: vec4<f32>) {
    var acc = partial;
    if (LANES > 1u) {
        red[li] = acc;
        workgroupBarrier();
        for (var s = LANES / 2u; s > 0u; s >>= 1u) {
            if (lane < s) {
                red[li] += red[li + s];
            }
            workgroupBarrier();
        }
        acc = red[li];
    }
    write_row(lane, row, t0, nt, acc);
}
