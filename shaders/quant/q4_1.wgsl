// Q4_1: 20 bytes per 32 values: f16 scale d, f16 min m, 16 bytes of nibbles (as Q4_0);
// value = d * nibble + m.
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 20u;

fn q4_1_levels(v: u32, high: bool) -> vec4<i32> {
    return u8x4((v >> select(0u, 4u, high)) & 0x0f0f0f0fu);
}

fn unit_dot(b: u32, sub: u32, a0: vec4<u32>, a1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let v = w_vec4(b + 4u);
    let s0 = dot16(q4_1_levels(v.x, false), q4_1_levels(v.y, false), q4_1_levels(v.z, false), q4_1_levels(v.w, false), a0);
    let s1 = dot16(q4_1_levels(v.x, true), q4_1_levels(v.y, true), q4_1_levels(v.z, true), q4_1_levels(v.w, true), a1);
    return ds.x * (w_f16(b) * f32(s0 + s1)) + w_f16(b + 2u) * ds.y;
}

fn unit_values(b: u32, sub: u32, j: u32) -> vec4<f32> {
    return w_f16(b) * vec4<f32>(q4_1_levels(w_u32(b + 4u + 4u * (j & 3u)), j >= 4u)) + w_f16(b + 2u);
}
