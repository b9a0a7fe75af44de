// F16 weights: one little-endian half per value.
const VALUE_BYTES: u32 = 2u;

fn w_value(o: u32) -> f32 {
    return w_f16(o);
}
