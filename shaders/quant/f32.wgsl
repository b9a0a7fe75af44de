// F32 weights: one little-endian float per value.
const VALUE_BYTES: u32 = 4u;

fn w_value(o: u32) -> f32 {
    return bitcast<f32>(w_u32(o));
}
