// The last step both matmul reductions share: lane 0 of a row writes its results for the
// workgroup's nt tokens t0 .. t0 + nt. Uses the kernel's p (rows, row_base, out_stride) and out.

fn write_row(lane: u32, row: u32, t0: u32, nt: u32, acc: vec4<f32>) {
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
