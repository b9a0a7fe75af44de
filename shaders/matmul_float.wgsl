// F32 or F16 weights times f32 activations: out[t][row_base + r] = W[r] . x[t].
//
// Needs common.wgsl and quant/f32.wgsl or quant/f16.wgsl (VALUE_BYTES, w_value), and the
// constants WG and ROWS (as matmul_q8.wgsl). With `p.act_f16` the activations are first
// rounded to f16, as the CPU path converts them for F16 weights.

const LANES: u32 = WG / ROWS;

struct Params {
    rows: u32,
    row_base: u32,
    out_stride: u32,
    cols: u32,
    row_bytes: u32,
    act_f16: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn act(tok: u32, c: u32) -> f32 {
    let a = x[tok * p.cols + c];
    return select(a, round_f16(a), p.act_f16 != 0u);
}

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nw: vec3<u32>,
) {
    let lane = li % LANES;
    let row = (wid.x + wid.z * nw.x) * ROWS + li / LANES;
    let t0 = wid.y * 4u;
    let nt = min(step.t - t0, 4u);
    var acc = vec4<f32>(0.0);
    if (row < p.rows) {
        let rb = row * p.row_bytes;
        for (var c = lane; c < p.cols; c += LANES) {
            let wv = w_value(rb + c * VALUE_BYTES);
            acc.x += wv * act(t0, c);
            if (nt > 1u) {
                acc.y += wv * act(t0 + 1u, c);
            }
            if (nt > 2u) {
                acc.z += wv * act(t0 + 2u, c);
            }
            if (nt > 3u) {
                acc.w += wv * act(t0 + 3u, c);
            }
        }
    }
    store_rows(li, lane, row, t0, nt, acc);
}
