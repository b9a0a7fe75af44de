// Shared helpers of the quantized kernels: little-endian reads at any byte offset inside the
// weight words `w` (declared by the kernel that includes this file), and unpacking of int8x4.
//
// Blocks are uploaded exactly as they lie in the GGUF file, so a block may start at any byte
// (Q8_0 blocks are 34 bytes, Q4_0 18): every read goes through these helpers.

// Each quant/*.wgsl file describes one block type through two functions over a 32-value slice
// ("unit") `sub` of the block at byte `b`:
//   unit_dot(b, sub, a0, a1, ds): the dot product with one Q8 activation unit (values packed
//     four to a word in a0 (0..16) and a1 (16..32); ds = (d, d * sum of the values));
//   unit_values(b, sub, j): values 4j .. 4j + 3 of the unit, dequantized.
// Both work from the levels of four values at a time (`q`, integers) and the unit's scales:
// value = d0 * q + m for values 0..16 and d1 * q + m for 16..32.

fn w_u8(o: u32) -> u32 {
    return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu;
}

fn w_u16(o: u32) -> u32 {
    return w_u8(o) | (w_u8(o + 1u) << 8u);
}

// Four bytes starting at byte `o` (the buffer is padded by one word, so `o + 4` never passes its end).
fn w_u32(o: u32) -> u32 {
    let s = (o & 3u) * 8u;
    let lo = w[o >> 2u];
    if (s == 0u) {
        return lo;
    }
    return (lo >> s) | (w[(o >> 2u) + 1u] << (32u - s));
}

fn w_f16(o: u32) -> f32 {
    return unpack2x16float(w_u16(o)).x;
}

// The four bytes of `v` as signed values.
fn i8x4(v: u32) -> vec4<i32> {
    let s = vec4<i32>(bitcast<i32>(v << 24u), bitcast<i32>(v << 16u), bitcast<i32>(v << 8u), bitcast<i32>(v));
    return s >> vec4<u32>(24u);
}

// The four bytes of `v` as unsigned values.
fn u8x4(v: u32) -> vec4<i32> {
    return vec4<i32>((vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu));
}

// Sum over the 16 values of four packed words: weight levels `q` (four per vec4 component:
// one vec4<i32> per word) times signed activation bytes.
fn dot16(q0: vec4<i32>, q1: vec4<i32>, q2: vec4<i32>, q3: vec4<i32>, a: vec4<u32>) -> i32 {
    return dot(q0, i8x4(a.x)) + dot(q1, i8x4(a.y)) + dot(q2, i8x4(a.z)) + dot(q3, i8x4(a.w));
}

// The four words at byte `o`.
fn w_vec4(o: u32) -> vec4<u32> {
    return vec4<u32>(w_u32(o), w_u32(o + 4u), w_u32(o + 8u), w_u32(o + 12u));
}
