// Quantized weights times Q8-quantized activations: out[t][row_base + r] = W[r] . x[t].
//
// Needs common.wgsl and one quant/*.wgsl (BLOCK_VALUES, BLOCK_BYTES, unit_dot), and the
// constants WG (invocations) and ROWS (weight rows per workgroup), which the host prepends.
// Each row gets WG / ROWS invocations (lanes) that stride over its 32-value units, each dotting
// a unit with up to four tokens' activations; the lanes of a row are then summed in workgroup
// memory (WG vec4s). On a software adapter the host gives each row one lane: no barriers.
//
// Activations are Q8 units: 32 int8 values packed four to a word in `aq` (8 words per unit),
// and per unit `ads` = (d, s) with s = d * sum(values) — the layout of ggml's Q8_0/Q8_1/Q8_K
// blocks, one scale per unit (a Q8_K block repeats its scale over its eight units). Paired
// activations hold each token's residual units after all the tokens' own.

const LANES: u32 = WG / ROWS;
const UNITS_PER_BLOCK: u32 = BLOCK_VALUES / 32u;

struct Params {
    rows: u32,       // weight rows in this binding
    row_base: u32,   // index of its first row among the tensor's rows
    out_stride: u32, // output values per token (the tensor's rows)
    units: u32,      // 32-value units per row
    row_bytes: u32,
    paired: u32,     // the activations are value-and-residual pairs (quantize_q8.wgsl)
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> aq: array<u32>;
@group(0) @binding(4) var<storage, read> ads: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// The dot product of weight unit `u` (block bytes at b, sub-unit sub) with activation unit a.
fn act_dot(b: u32, sub: u32, a: u32) -> f32 {
    let a0 = vec4<u32>(aq[a * 8u], aq[a * 8u + 1u], aq[a * 8u + 2u], aq[a * 8u + 3u]);
    let a1 = vec4<u32>(aq[a * 8u + 4u], aq[a * 8u + 5u], aq[a * 8u + 6u], aq[a * 8u + 7u]);
    return unit_dot(b, sub, a0, a1, ads[a]);
}

// The dot product of weight unit `u` with token `tok`'s activation unit (and, when the
// activations are pairs, with its residual unit, step.t tokens further on).
fn token_dot(b: u32, sub: u32, tok: u32, u: u32) -> f32 {
    var r = act_dot(b, sub, tok * p.units + u);
    if (p.paired != 0u) {
        r += act_dot(b, sub, (step.t + tok) * p.units + u);
    }
    return r;
}

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nw: vec3<u32>,
) {
    let lane = li % LANES;
    let row = (wid.x + wid.z * nw.x) * ROWS + li / LANES;
    // Up to four tokens per workgroup: acc.x for token t0, acc.y for t0 + 1, ...
    let t0 = wid.y * 4u;
    let nt = min(step.t - t0, 4u);
    var acc = vec4<f32>(0.0);
    if (row < p.rows) {
        let rb = row * p.row_bytes;
        for (var u = lane; u < p.units; u += LANES) {
            let b = rb + (u / UNITS_PER_BLOCK) * BLOCK_BYTES;
            let sub = u % UNITS_PER_BLOCK;
            acc.x += token_dot(b, sub, t0, u);
            if (nt > 1u) {
                acc.y += token_dot(b, sub, t0 + 1u, u);
            }
            if (nt > 2u) {
                acc.z += token_dot(b, sub, t0 + 2u, u);
            }
            if (nt > 3u) {
                acc.w += token_dot(b, sub, t0 + 3u, u);
            }
        }
    }
    store_rows(li, lane, row, t0, nt, acc);
}
