// x rounded to the nearest f16 value, ties to even, returned as f32: what the CPU path stores
// when it converts a scale or an activation to f16 (quantizeToF16 would need the f16 capability
// and leaves the rounding to the implementation). Values beyond f16's range are not expected.
fn round_f16(x: f32) -> f32 {
    if (abs(x) < 6.103515625e-5) {
        // f16 subnormals: multiples of 2^-24 (exact scalings; round() is ties-to-even).
        return round(x * 16777216.0) / 16777216.0;
    }
    // Keep 10 of f32's 23 mantissa bits, rounding at bit 13 with ties to even.
    let bits = bitcast<u32>(x);
    let lsb = (bits >> 13u) & 1u;
    return bitcast<f32>((bits + 0xfffu + lsb) & 0xffffe000u);
}
