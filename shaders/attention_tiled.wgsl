// Causal grouped-query attention for a batch (prefill): one workgroup per (query head, tile of
// TQ consecutive tokens), walking the KV cache of one layer in tiles of TK positions.
//
// attention.wgsl has each token's workgroup read the whole history on its own; here a tile of
// keys, then of values, is read from the cache once into workgroup memory and serves the TQ
// queries of the workgroup (flash-attention style). Per tile:
//   1. the keys of positions start .. start + TK go to `kv`;
//   2. every (query, position) pair of the tile is scored into `s` (q . k / sqrt(head_dim)),
//      positions past a query's own (causal mask) or past the batch get NEG_BIG;
//   3. each query row's running maximum `m` and sum of exponentials `l` are updated (online
//      softmax) and `s` turns into the tile's unnormalized probabilities, `alpha` keeps the
//      factor that rescales the row's earlier sums;
//   4. the values replace the keys in `kv`, and each invocation adds the tile to the outputs it
//      owns: output o = li + k * WG of the workgroup is query o / HD, dimension o % HD.
// Token i of the batch (absolute position n_past + i) sees positions 0 ..= n_past + i. The cache
// holds KV values (f16 where the adapter has shader-f16, else f32; the host prepends the alias),
// copied into the tile as they are. The queries are scaled by 1 / sqrt(head_dim) and held in the
// same type, so with an f16 cache the scores are f16 arithmetic — four products and their sum
// per dot of vec4<f16>, as GPUs' packed half units do them — summed in f32 (the scaling keeps
// those products far from f16's range); softmax, the value sums and the outputs are f32. The
// host chose TQ and TK from HD (the model's head size) so the tiles fit the adapter's workgroup
// storage, validated n_head_kv > 0 dividing n_head, and dispatches (n_head, ceil(t / TQ), 1)
// workgroups.

// Parameters (head_dim equals HD; split is unused) and bindings: attention_bindings.wgsl.

// Outputs each invocation accumulates.
const OPT: u32 = (TQ * HD + WG - 1u) / WG;

var<workgroup> qs: array<KV, TQ * HD>;
var<workgroup> kv: array<KV, TK * HD>;
var<workgroup> s: array<f32, TQ * TK>;
var<workgroup> m_row: array<f32, TQ>;
var<workgroup> l_row: array<f32, TQ>;
var<workgroup> alpha_row: array<f32, TQ>;

// The scaled query at qs[qb..] dotted with the key at kv[kb..]: products four at a time in the
// cache's type, their sums in f32.
fn score(qb: u32, kb: u32) -> f32 {
    var dt = 0.0;
    var d = 0u;
    for (; d + 4u <= HD; d += 4u) {
        let a = vec4<KV>(qs[qb + d], qs[qb + d + 1u], qs[qb + d + 2u], qs[qb + d + 3u]);
        let b = vec4<KV>(kv[kb + d], kv[kb + d + 1u], kv[kb + d + 2u], kv[kb + d + 3u]);
        dt += f32(dot(a, b));
    }
    for (; d < HD; d++) {
        dt += f32(qs[qb + d] * kv[kb + d]);
    }
    return dt;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let h = wid.x;
    let q0 = wid.y * TQ;
    if (q0 >= step.t) {
        return;
    }
    let nq = min(TQ, step.t - q0);
    let kv_off = (h / p.group) * HD;
    for (var e = li; e < TQ * HD; e += WG) {
        let qi = e / HD;
        var x = 0.0;
        if (qi < nq) {
            x = q[((q0 + qi) * p.n_head + h) * HD + e % HD] * p.scale;
        }
        qs[e] = KV(x);
    }
    for (var qi = li; qi < TQ; qi += WG) {
        m_row[qi] = NEG_BIG;
        l_row[qi] = 0.0;
    }
    var acc: array<f32, OPT>;
    // Positions up to the last query's own.
    let end = step.n_past + q0 + nq;
    for (var start = 0u; start < end; start += TK) {
        let count = min(TK, end - start);
        workgroupBarrier(); // the previous tile's values have been used
        for (var e = li; e < TK * HD; e += WG) {
            let j = e / HD;
            var x = KV(0.0);
            if (j < count) {
                x = k_cache[(start + j) * p.kv_stride + kv_off + e % HD];
            }
            kv[e] = x;
        }
        workgroupBarrier();
        for (var e = li; e < TQ * TK; e += WG) {
            let qi = e / TK;
            let j = e % TK;
            var sc = NEG_BIG;
            if (qi < nq && j < count && start + j <= step.n_past + q0 + qi) {
                sc = score(qi * HD, j * HD);
            }
            s[e] = sc;
        }
        workgroupBarrier();
        for (var qi = li; qi < TQ; qi += WG) {
            var mx = m_row[qi];
            for (var j = 0u; j < TK; j++) {
                mx = max(mx, s[qi * TK + j]);
            }
            // A row with nothing visible yet (only a padding row past the batch, or a tile
            // wholly after a query's position) keeps m = NEG_BIG and gets zeros.
            let live = mx > NEG_BIG;
            var sum = 0.0;
            for (var j = 0u; j < TK; j++) {
                let x = s[qi * TK + j];
                let pr = select(0.0, exp(x - mx), live && x > NEG_BIG);
                s[qi * TK + j] = pr;
                sum += pr;
            }
            let alpha = select(1.0, exp(m_row[qi] - mx), live);
            alpha_row[qi] = alpha;
            l_row[qi] = l_row[qi] * alpha + sum;
            m_row[qi] = mx;
        }
        workgroupBarrier(); // the keys have been scored
        for (var e = li; e < TK * HD; e += WG) {
            let j = e / HD;
            var x = KV(0.0);
            if (j < count) {
                x = v_cache[(start + j) * p.kv_stride + kv_off + e % HD];
            }
            kv[e] = x;
        }
        workgroupBarrier();
        for (var k = 0u; k < OPT; k++) {
            let o = li + k * WG;
            if (o < TQ * HD) {
                let qi = o / HD;
                let d = o % HD;
                var a = acc[k] * alpha_row[qi];
                for (var j = 0u; j < count; j++) {
                    a += s[qi * TK + j] * f32(kv[j * HD + d]);
                }
                acc[k] = a;
            }
        }
    }
    for (var k = 0u; k < OPT; k++) {
        let o = li + k * WG;
        let qi = o / HD;
        if (o < TQ * HD && qi < nq) {
            out[((q0 + qi) * p.n_head + h) * HD + o % HD] = acc[k] / l_row[qi];
        }
    }
}
