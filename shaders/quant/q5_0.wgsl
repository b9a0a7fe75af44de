// Q5_0: 22 bytes per 32 values: f16 scale d, 32 high bits qh (bit j for value j), 16 bytes of
// low nibbles (as Q4_0); value = d * ((nibble | high bit << 4) - 16).
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 22u;

// Levels of values 4j .. 4j + 3: nibbles of word j & 3 (high nibbles for j >= 4), and bits
// 4j .. 4j + 3 of qh moved to bit 4 of each byte.
fn q5_0_levels(v: u32, qh: u32, j: u32) -> vec4<i32> {
    let h = qh >> (4u * j);
    let high = ((h & 1u) << 4u) | ((h & 2u) << 11u) | ((h & 4u) << 18u) | ((h & 8u) << 25u);
    return u8x4(((v >> select(0u, 4u, j >= 4u)) & 0x0f0f0f0fu) | high) - vec4<i32>(16);
}

fn unit_dot(b: u32, sub: u32, a0: vec4<u32>, a1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let qh = w_u32(b + 2u);
    let v = w_vec4(b + 6u);
    let s0 = dot16(q5_0_levels(v.x, qh, 0u), q5_0_levels(v.y, qh, 1u), q5_0_levels(v.z, qh, 2u), q5_0_levels(v.w, qh, 3u), a0);
    let s1 = dot16(q5_0_levels(v.x, qh, 4u), q5_0_levels(v.y, qh, 5u), q5_0_levels(v.z, qh, 6u), q5_0_levels(v.w, qh, 7u), a1);
    return ds.x * (w_f16(b) * f32(s0 + s1));
}

fn unit_values(b: u32, sub: u32, j: u32) -> vec4<f32> {
    return w_f16(b) * vec4<f32>(q5_0_levels(w_u32(b + 6u + 4u * (j & 3u)), w_u32(b + 2u), j));
}
