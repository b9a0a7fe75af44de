// Embedding lookup from F32 or F16 rows (needs common.wgsl and quant/f32.wgsl or f16.wgsl).

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
    let c = gid.x;
    let i = gid.y;
    if (c >= p.cols || i >= step.t) {
        return;
    }
    let tok = tokens[i];
    if (tok < p.row_base || tok - p.row_base >= p.rows) {
        return;
    }
    out[i * p.cols + c] = w_value((tok - p.row_base) * p.row_bytes + c * VALUE_BYTES);
}
