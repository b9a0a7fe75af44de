// SwiGLU's gate: gate = silu(gate) * up, element-wise over n values per token.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Step {
    t: u32,
    n_past: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.n || gid.y >= step.t) {
        return;
    }
    let o = gid.y * p.n + gid.x;
    let g = gate[o];
    gate[o] = g / (1.0 + exp(-g)) * up[o];
}
