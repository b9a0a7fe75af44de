// Embedding lookup from quantized rows: out[i] = dequantized row tokens[i] of the weights.
//
// Needs common.wgsl and one quant/*.wgsl (unit_values). One invocation per (32-value unit, token);
// a token whose row lies outside this binding's rows is left to the dispatch of the binding
// that holds it (a tensor larger than one binding is split by rows).

const UNITS_PER_BLOCK: u32 = BLOCK_VALUES / 32u;

struct Params {
    rows: u32,
    row_base: u32,
    cols: u32,
    units: u32,
    row_bytes: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> tokens: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = gid.x;
    let i = gid.y;
    if (u >= p.units || i >= step.t) {
        return;
    }
    let tok = tokens[i];
    if (tok < p.row_base || tok - p.row_base >= p.rows) {
        return;
    }
    let b = (tok - p.row_base) * p.row_bytes + (u / UNITS_PER_BLOCK) * BLOCK_BYTES;
    let o = i * p.cols + u * 32u;
    for (var j = 0u; j < 8u; j++) {
        let v = unit_values(b, u % UNITS_PER_BLOCK, j);
        out[o + 4u * j] = v.x;
        out[o + 4u * j + 1u] = v.y;
        out[o + 4u * j + 2u] = v.z;
        out[o + 4u * j + 3u] = v.w;
    }
}
