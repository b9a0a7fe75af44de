// In-place softmax of each token's row of n values, for any n: one workgroup per token; the
// maximum and then the sum of exponentials are reduced in workgroup memory.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let i = wid.x;
    if (i >= step.t) {
        return;
    }
    let base = i * p.n;
    var m = -3.0e38;
    for (var c = li; c < p.n; c += WG) {
        m = max(m, x[base + c]);
    }
    red[li] = m;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (li < k) {
            red[li] = max(red[li], red[li + k]);
        }
        workgroupBarrier();
    }
    let mx = red[0];
    workgroupBarrier();
    var s = 0.0;
    for (var c = li; c < p.n; c += WG) {
        let e = exp(x[base + c] - mx);
        x[base + c] = e;
        s += e;
    }
    red[li] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (li < k) {
            red[li] += red[li + k];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / red[0];
    for (var c = li; c < p.n; c += WG) {
        x[base + c] *= inv;
    }
}
