// Merges the partial results of a split attention (attention.wgsl with p.split != 0): for each
// query head and token, out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s with M = max m_s.
// One workgroup per (head, token); invocations take output dimensions.

struct Params {
    n_head: u32,
    head_dim: u32,
    split: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> partial: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let h = wid.x;
    let i = wid.y;
    if (i >= step.t) {
        return;
    }
    let hd = p.head_dim;
    // The splits the attention dispatch used for this token's positions.
    let splits = (step.n_past + i + 1u + p.split - 1u) / p.split;
    let first = (i * p.n_head + h) * splits * (hd + 2u);
    var mx = -3.0e38;
    for (var s = 0u; s < splits; s++) {
        mx = max(mx, partial[first + s * (hd + 2u)]);
    }
    var l = 0.0;
    for (var s = 0u; s < splits; s++) {
        let b = first + s * (hd + 2u);
        l += exp(partial[b] - mx) * partial[b + 1u];
    }
    for (var d = li; d < hd; d += WG) {
        var a = 0.0;
        for (var s = 0u; s < splits; s++) {
            let b = first + s * (hd + 2u);
            a += exp(partial[b] - mx) * partial[b + 2u + d];
        }
        out[(i * p.n_head + h) * hd + d] = a / l;
    }
}
