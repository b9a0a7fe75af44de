// Q6_K: 210 bytes per 256 values: 128 bytes of low nibbles (ql), 64 bytes of 2-bit high parts
// (qh), sixteen int8 scales, f16 d. In each half n of 128 values, the 32 values of quarter k
// take the low (k < 2) or high nibble of ql[64n + 32 (k & 1) + l] and bits 2k, 2k + 1 of
// qh[32n + l]; value = d * scale[8n + 2k + l / 16] * (q - 32).
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 210u;

// Levels of four values from a word of ql and the matching word of qh.
fn q6_k_levels(lo: u32, hi: u32, sub: u32) -> vec4<i32> {
    let k = sub & 3u;
    let l = (lo >> ((k >> 1u) * 4u)) & 0x0f0f0f0fu;
    let h = ((hi >> (2u * k)) & 0x03030303u) << 4u;
    return u8x4(l | h) - vec4<i32>(32);
}

fn q6_k_ql(b: u32, sub: u32) -> u32 {
    return b + 64u * (sub >> 2u) + 32u * (sub & 1u);
}

fn q6_k_qh(b: u32, sub: u32) -> u32 {
    return b + 128u + 32u * (sub >> 2u);
}

// d * the scale of values 16 * half .. of sub-block `sub`.
fn q6_k_scale(b: u32, sub: u32, half: u32) -> f32 {
    let s = w_u8(b + 192u + 8u * (sub >> 2u) + 2u * (sub & 3u) + half);
    return w_f16(b + 208u) * f32(bitcast<i32>(s << 24u) >> 24u);
}

fn unit_dot(b: u32, sub: u32, a0: vec4<u32>, a1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let l0 = w_vec4(q6_k_ql(b, sub));
    let l1 = w_vec4(q6_k_ql(b, sub) + 16u);
    let h0 = w_vec4(q6_k_qh(b, sub));
    let h1 = w_vec4(q6_k_qh(b, sub) + 16u);
    let s0 = dot16(q6_k_levels(l0.x, h0.x, sub), q6_k_levels(l0.y, h0.y, sub), q6_k_levels(l0.z, h0.z, sub), q6_k_levels(l0.w, h0.w, sub), a0);
    let s1 = dot16(q6_k_levels(l1.x, h1.x, sub), q6_k_levels(l1.y, h1.y, sub), q6_k_levels(l1.z, h1.z, sub), q6_k_levels(l1.w, h1.w, sub), a1);
    return ds.x * (q6_k_scale(b, sub, 0u) * f32(s0) + q6_k_scale(b, sub, 1u) * f32(s1));
}

fn unit_values(b: u32, sub: u32, j: u32) -> vec4<f32> {
    let q = q6_k_levels(w_u32(q6_k_ql(b, sub) + 4u * j), w_u32(q6_k_qh(b, sub) + 4u * j), sub);
    return q6_k_scale(b, sub, j >> 2u) * vec4<f32>(q);
}
