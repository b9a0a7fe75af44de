// Q4_0: 18 bytes per 32 values: f16 scale d, then 16 bytes of nibbles (value j in the low
// nibble of byte j, value 16 + j in its high nibble); value = d * (nibble - 8).
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 18u;

// Levels of values 4j .. 4j + 3 (j < 4: low nibbles of word j; else high nibbles of word j - 4).
fn q4_0_levels(v: u32, high: bool) -> vec4<i32> {
    return u8x4((v >> select(0u, 4u, high)) & 0x0f0f0f0fu) - vec4<i32>(8);
}

fn unit_dot(b: u32, sub: u32, a0: vec4<u32>, a1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let v = w_vec4(b + 2u);
    let s0 = dot16(q4_0_levels(v.x, false), q4_0_levels(v.y, false), q4_0_levels(v.z, false), q4_0_levels(v.w, false), a0);
    let s1 = dot16(q4_0_levels(v.x, true), q4_0_levels(v.y, true), q4_0_levels(v.z, true), q4_0_levels(v.w, true), a1);
    return ds.x * (w_f16(b) * f32(s0 + s1));
}

fn unit_values(b: u32, sub: u32, j: u32) -> vec4<f32> {
    return w_f16(b) * vec4<f32>(q4_0_levels(w_u32(b + 2u + 4u * (j & 3u)), j >= 4u));
}
