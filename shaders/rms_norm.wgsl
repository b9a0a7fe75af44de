// RMSNorm of each token's row, for any row length: out = x / sqrt(mean(x^2) + eps) * weight.
// One workgroup of WG invocations per token; the sum of squares is reduced in workgroup memory.

struct Params {
    n: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let i = wid.x;
    if (i >= step.t) {
        return;
    }
    let base = i * p.n;
    var s = 0.0;
    for (var c = li; c < p.n; c += WG) {
        let v = x[base + c];
        s += v * v;
    }
    red[li] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (li < k) {
            red[li] += red[li + k];
        }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(red[0] / f32(p.n) + p.eps);
    for (var c = li; c < p.n; c += WG) {
        out[base + c] = x[base + c] * scale * weight[c];
    }
}
