// Rotary position embedding, in place, for every head of each token's row: pair i of a head is
// (2i, 2i + 1) (normal layout) or (i, i + n_pairs) (NeoX), rotated by the angle of the token's
// position (n_past + token index) from a precomputed (cos, sin) table. One invocation per
// (pair, head) and token.

struct Params {
    n_heads: u32,
    head_dim: u32,
    n_pairs: u32,
    neox: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y;
    let pair = gid.x % p.n_pairs;
    let head = gid.x / p.n_pairs;
    if (head >= p.n_heads || i >= step.t) {
        return;
    }
    let cs = table[(step.n_past + i) * p.n_pairs + pair];
    let base = (i * p.n_heads + head) * p.head_dim;
    var a = base + 2u * pair;
    var b = a + 1u;
    if (p.neox != 0u) {
        a = base + pair;
        b = a + p.n_pairs;
    }
    let x0 = x[a];
    let x1 = x[b];
    x[a] = x0 * cs.x - x1 * cs.y;
    x[b] = x0 * cs.y + x1 * cs.x;
}
