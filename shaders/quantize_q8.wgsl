// Quantizes rows of f32 activations into Q8 units for matmul_q8.wgsl, as the CPU path does:
//   mode 0 (Q8_0) and 1 (Q8_1), per 32 values: d = max|x| / 127, q = round(x / d) with halves
//     away from zero, d stored as f16; Q8_1 also s = d * sum(q), stored as f16;
//   mode 2 (Q8_K), per 256 values: the scale carries the sign of the value of largest
//     magnitude so that it maps to -127, q rounds half to even and is clamped to 127, d = 1/iscale
//     in f32; each of the eight units gets (d, d * sum of its values).
// With `paired`, token i's units are followed, at token index step.t + i, by the units of what
// its own rounding left out (x - d * q), quantized by the same rules; in mode 1 their s is
// what the first s misses of the sum of x (see ops::quantize_rows_paired on the CPU).
// One invocation per scale group and token.

struct Params {
    cols: u32,
    units: u32,
    mode: u32,
    paired: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> aq: array<u32>;
@group(0) @binding(4) var<storage, read_write> ads: array<vec2<f32>>;

// C's roundf: halves away from zero.
fn round_away(v: f32) -> f32 {
    let a = abs(v);
    let f = floor(a);
    return sign(v) * (f + select(0.0, 1.0, a - f >= 0.5));
}

fn pack_i8(q: vec4<i32>) -> u32 {
    let b = vec4<u32>(bitcast<vec4<u32>>(q) & vec4<u32>(0xffu));
    return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// The value quantized in `part`: x itself (part 0), or what part 0's rounding left out of it,
// part 0 having scaled by `mul` (1/d, or iscale in mode 2) and dequantized with `d`.
fn value(v: f32, part: u32, mul: f32, d: f32) -> f32 {
    if (part == 0u) {
        return v;
    }
    if (p.mode == 2u) {
        return v - d * f32(min(i32(round(mul * v)), 127));
    }
    return v - d * round_away(v * mul);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    let i = gid.y;
    if (i >= step.t) {
        return;
    }
    let group_units = select(1u, 8u, p.mode == 2u);
    let u0 = g * group_units;
    if (u0 >= p.units) {
        return;
    }
    let base = i * p.cols + u0 * 32u;
    let n = group_units * 32u;
    // Part 0's scale (mul) and dequantization factor (hd), and its s in mode 1.
    var mul = 0.0;
    var hd = 0.0;
    var hs = 0.0;
    for (var part = 0u; part < select(1u, 2u, p.paired != 0u); part++) {
        let tok = i + part * step.t;
        if (p.mode == 2u) {
            var amax = 0.0;
            var mx = 0.0;
            for (var c = 0u; c < n; c++) {
                let v = value(x[base + c], part, mul, hd);
                if (abs(v) > amax) {
                    amax = abs(v);
                    mx = v;
                }
            }
            let iscale = select(0.0, -127.0 / mx, amax != 0.0);
            let d = select(0.0, 1.0 / iscale, amax != 0.0);
            for (var k = 0u; k < 8u; k++) {
                let u = tok * p.units + u0 + k;
                var sum = 0;
                for (var j = 0u; j < 8u; j++) {
                    let c = base + 32u * k + 4u * j;
                    let v = vec4<f32>(value(x[c], part, mul, hd), value(x[c + 1u], part, mul, hd),
                                      value(x[c + 2u], part, mul, hd), value(x[c + 3u], part, mul, hd));
                    let q = min(vec4<i32>(round(iscale * v)), vec4<i32>(127));
                    sum += q.x + q.y + q.z + q.w;
                    aq[u * 8u + j] = pack_i8(q);
                }
                ads[u] = vec2<f32>(d, d * f32(sum));
            }
            mul = iscale;
            hd = d;
            continue;
        }
        var amax = 0.0;
        var sumx = 0.0;
        for (var c = 0u; c < 32u; c++) {
            amax = max(amax, abs(value(x[base + c], part, mul, hd)));
            sumx += x[base + c];
        }
        let d = amax / 127.0;
        let id = select(0.0, 1.0 / d, d != 0.0);
        var sum = 0;
        let u = tok * p.units + u0;
        for (var j = 0u; j < 8u; j++) {
            var q: vec4<i32>;
            for (var c = 0u; c < 4u; c++) {
                q[c] = i32(round_away(value(x[base + 4u * j + c], part, mul, hd) * id));
            }
            sum += q.x + q.y + q.z + q.w;
            aq[u * 8u + j] = pack_i8(q);
        }
        let d16 = round_f16(d);
        var s = select(d * f32(sum), round_f16(d * f32(sum)), p.mode == 1u);
        if (part == 1u && p.mode == 1u) {
            s = round_f16(sumx - hs);
        }
        ads[u] = vec2<f32>(d16, s);
        mul = id;
        hd = d16;
        hs = s;
    }
}
