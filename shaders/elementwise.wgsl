// Element-wise operations of two rows over n values per token, in place in `acc`; the host
// prepends OP: 0 is the residual connection acc += x, 1 the product acc *= x, 2 SwiGLU's gate
// acc = silu(acc) * x.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.n || gid.y >= step.t) {
        return;
    }
    let o = gid.y * p.n + gid.x;
    if (OP == 0u) {
        acc[o] += x[o];
    } else if (OP == 1u) {
        acc[o] *= x[o];
    } else {
        let g = acc[o];
        acc[o] = g / (1.0 + exp(-g)) * x[o];
    }
}
