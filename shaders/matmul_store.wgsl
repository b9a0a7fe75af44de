// The end both matmul kernels share: the lanes of each row sum their partial dot products in
// workgroup memory (WG vec4s; nothing to sum with one lane per row), then lane 0 writes the row's
// results for the workgroup's nt tokens t0 .. t0 + nt. Uses the kernel's LANES, p (rows,
// row_base, out_stride) and out.

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
