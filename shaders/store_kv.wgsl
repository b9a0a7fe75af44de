// Writes a batch's keys or values (f32, t rows of kv_dim) into one layer's cache at positions
// n_past .. n_past + t, converting to the cache's element type KV (f16 where the adapter has
// shader-f16, else f32; the host prepends the alias).

struct Params {
    kv_dim: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> cache: array<KV>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.kv_dim || gid.y >= step.t) {
        return;
    }
    cache[(step.n_past + gid.y) * p.kv_dim + gid.x] = KV(x[gid.y * p.kv_dim + gid.x]);
}
