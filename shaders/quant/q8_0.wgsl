// Q8_0: 34 bytes per 32 values: f16 scale d, then 32 signed bytes; value = d * q.
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 34u;

fn unit_dot(b: u32, sub: u32, a0: vec4<u32>, a1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let v0 = w_vec4(b + 2u);
    let v1 = w_vec4(b + 18u);
    let s0 = dot16(i8x4(v0.x), i8x4(v0.y), i8x4(v0.z), i8x4(v0.w), a0);
    let s1 = dot16(i8x4(v1.x), i8x4(v1.y), i8x4(v1.z), i8x4(v1.w), a1);
    return ds.x * (w_f16(b) * f32(s0 + s1));
}

fn unit_values(b: u32, sub: u32, j: u32) -> vec4<f32> {
    return w_f16(b) * vec4<f32>(i8x4(w_u32(b + 2u + 4u * j)));
}
