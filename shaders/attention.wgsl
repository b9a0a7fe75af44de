// Causal grouped-query attention of each token's query heads over the KV cache of one layer.
// The host dispatches it for one token (decode); a batch goes to attention_tiled.wgsl, whose
// query tiles share each key/value tile (this kernel still computes any batch: the tiled one
// is benchmarked against it).
//
// One workgroup of WG invocations per (query head, token, split); the token at index i of the
// batch sees positions 0..n_past + i + 1. With `p.split == 0` a workgroup covers all of them and
// writes the output; otherwise (flash-decoding, for one token over a long history) workgroup z
// covers positions z * split .. and writes its partial result — running maximum m, sum of
// exponentials l and the unnormalized outputs — to `partial`, which attention_combine.wgsl
// merges. Positions are taken WG at a time: each invocation scores one
// position (q . k / sqrt(head_dim)), the block's maximum is reduced in workgroup memory, and an
// online softmax rescales the running sums, so any context length works in fixed workgroup
// memory. Invocation li accumulates output dimensions li, li + WG, ... (head_dim <= WG * DPT).
// Query head h reads KV head h / (n_head / n_head_kv); the host validated n_head_kv > 0 and
// that it divides n_head before any pipeline existed. The cache holds KV values (f16 where the
// adapter has shader-f16, else f32; the host prepends the alias). The query is scaled by
// 1 / sqrt(head_dim) and held in the same type, so with an f16 cache the scores are f16
// arithmetic (four products and their sum per dot of vec4<f16>) summed in f32, as in
// attention_tiled.wgsl; softmax, the value sums and the outputs are f32.

// Parameters and bindings 0-5: attention_bindings.wgsl.
@group(0) @binding(6) var<storage, read_write> partial: array<f32>;

var<workgroup> qs: array<KV, WG * DPT>;
var<workgroup> probs: array<f32, WG>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nw: vec3<u32>,
) {
    let h = wid.x;
    let i = wid.y;
    if (i >= step.t) {
        return;
    }
    let hd = p.head_dim;
    let q_base = (i * p.n_head + h) * hd;
    let kv_off = (h / p.group) * hd;
    for (var d = li; d < hd; d += WG) {
        qs[d] = KV(q[q_base + d] * p.scale);
    }
    workgroupBarrier();
    var n = step.n_past + i + 1u;
    var begin = 0u;
    if (p.split != 0u) {
        begin = wid.z * p.split;
        n = min(n, begin + p.split);
    }
    var m = NEG_BIG;
    var l = 0.0;
    var acc: array<f32, DPT>;
    for (var start = begin; start < n; start += WG) {
        let pos = start + li;
        var s = NEG_BIG;
        if (pos < n) {
            let kb = pos * p.kv_stride + kv_off;
            var dt = 0.0;
            var d = 0u;
            for (; d + 4u <= hd; d += 4u) {
                let a = vec4<KV>(qs[d], qs[d + 1u], qs[d + 2u], qs[d + 3u]);
                let b = vec4<KV>(k_cache[kb + d], k_cache[kb + d + 1u], k_cache[kb + d + 2u], k_cache[kb + d + 3u]);
                dt += f32(dot(a, b));
            }
            for (; d < hd; d++) {
                dt += f32(qs[d] * k_cache[kb + d]);
            }
            s = dt;
        }
        red[li] = s;
        workgroupBarrier();
        for (var k = WG / 2u; k > 0u; k >>= 1u) {
            if (li < k) {
                red[li] = max(red[li], red[li + k]);
            }
            workgroupBarrier();
        }
        let m_new = max(m, red[0]);
        let alpha = exp(m - m_new);
        let pr = select(0.0, exp(s - m_new), pos < n);
        probs[li] = pr;
        l = l * alpha + pr;
        workgroupBarrier();
        let count = min(WG, n - start);
        for (var k = 0u; k < DPT; k++) {
            let d = li + k * WG;
            if (d < hd) {
                var a = acc[k] * alpha;
                for (var j = 0u; j < count; j++) {
                    a += probs[j] * f32(v_cache[(start + j) * p.kv_stride + kv_off + d]);
                }
                acc[k] = a;
            }
        }
        m = m_new;
        workgroupBarrier();
    }
    red[li] = l;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (li < k) {
            red[li] += red[li + k];
        }
        workgroupBarrier();
    }
    if (p.split != 0u) {
        // Partial result of this split: m, l, then the head's unnormalized outputs.
        let base = ((i * p.n_head + h) * nw.z + wid.z) * (hd + 2u);
        if (li == 0u) {
            partial[base] = m;
            partial[base + 1u] = red[0];
        }
        for (var k = 0u; k < DPT; k++) {
            let d = li + k * WG;
            if (d < hd) {
                partial[base + 2u + d] = acc[k];
            }
        }
        return;
    }
    let inv = 1.0 / red[0];
    for (var k = 0u; k < DPT; k++) {
        let d = li + k * WG;
        if (d < hd) {
            out[q_base + d] = acc[k] * inv;
        }
    }
}
