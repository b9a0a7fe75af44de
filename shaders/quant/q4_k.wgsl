// Q4_K: 144 bytes per 256 values: f16 d, f16 dmin, 12 bytes packing eight 6-bit scales and
// eight 6-bit mins, then 128 bytes of nibbles. Sub-block s (32 values) uses the low nibbles
// (s even) or high nibbles (s odd) of bytes 16 + 32 * (s / 2) ..; value = d * sc_s * q - dmin * m_s.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 144u;

// (d * sc, dmin * m) of sub-block `sub`.
fn q4_k_scales(b: u32, sub: u32) -> vec2<f32> {
    var sc: u32;
    var mn: u32;
    if (sub < 4u) {
        sc = w_u8(b + 4u + sub) & 63u;
        mn = w_u8(b + 8u + sub) & 63u;
    } else {
        sc = (w_u8(b + 8u + sub) & 15u) | ((w_u8(b + sub) >> 6u) << 4u);
        mn = (w_u8(b + 8u + sub) >> 4u) | ((w_u8(b + 4u + sub) >> 6u) << 4u);
    }
    return vec2<f32>(w_f16(b) * f32(sc), w_f16(b + 2u) * f32(mn));
}

fn q4_k_levels(v: u32, shift: u32) -> vec4<i32> {
    return u8x4((v >> shift) & 0x0f0f0f0fu);
}

fn unit_dot(b: u32, sub: u32, a0: vec4<u32>, a1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let shift = (sub & 1u) * 4u;
    let qs = b + 16u + 32u * (sub >> 1u);
    let v0 = w_vec4(qs);
    let v1 = w_vec4(qs + 16u);
    let s0 = dot16(q4_k_levels(v0.x, shift), q4_k_levels(v0.y, shift), q4_k_levels(v0.z, shift), q4_k_levels(v0.w, shift), a0);
    let s1 = dot16(q4_k_levels(v1.x, shift), q4_k_levels(v1.y, shift), q4_k_levels(v1.z, shift), q4_k_levels(v1.w, shift), a1);
    let sm = q4_k_scales(b, sub);
    return ds.x * (sm.x * f32(s0 + s1)) - sm.y * ds.y;
}

fn unit_values(b: u32, sub: u32, j: u32) -> vec4<f32> {
    let sm = q4_k_scales(b, sub);
    let q = q4_k_levels(w_u32(b + 16u + 32u * (sub >> 1u) + 4u * j), (sub & 1u) * 4u);
    return sm.x * vec4<f32>(q) - sm.y;
}
