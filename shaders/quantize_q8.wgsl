// Quantizes rows of f32 activations into Q8 units for matmul_q8.wgsl, as the CPU path does:
//   mode 0 (Q8_0) and 1 (Q8_1), per 32 values: d = max|x| / 127, q = round(x / d) with halves
//     away from zero, d stored as f16; Q8_1 also s = d * sum(q), stored as f16;
//   mode 2 (Q8_K), per 256 values: the scale carries the sign of the value of largest
//     magnitude so that it maps to -127, q rounds half to even and is clamped to 127, d = 1/iscale
//     in f32; each of the eight units gets (d, d * sum of its values).
// One invocation per scale group and token.

struct Params {
    cols: u32,
    units: u32,
    mode: u32,
    _pad0: u32,
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
    if (p.mode == 2u) {
        var amax = 0.0;
        var mx = 0.0;
        for (var c = 0u; c < n; c++) {
            let v = x[base + c];
            if (abs(v) > amax) {
                amax = abs(v);
                mx = v;
            }
        }
        let iscale = select(0.0, -127.0 / mx, amax != 0.0);
        let d = select(0.0, 1.0 / iscale, amax != 0.0);
        for (var k = 0u; k < 8u; k++) {
            let u = i * p.units + u0 + k;
            var sum = 0;
            for (var j = 0u; j < 8u; j++) {
                let v = vec4<f32>(x[base + 32u * k + 4u * j], x[base + 32u * k + 4u * j + 1u],
                                  x[base + 32u * k + 4u * j + 2u], x[base + 32u * k + 4u * j + 3u]);
                let q = min(vec4<i32>(round(iscale * v)), vec4<i32>(127));
                sum += q.x + q.y + q.z + q.w;
                aq[u * 8u + j] = pack_i8(q);
            }
            ads[u] = vec2<f32>(d, d * f32(sum));
        }
        return;
    }
    var amax = 0.0;
    for (var c = 0u; c < 32u; c++) {
        amax = max(amax, abs(x[base + c]));
    }
    let d = amax / 127.0;
    let id = select(0.0, 1.0 / d, d != 0.0);
    var sum = 0;
    let u = i * p.units + u0;
    for (var j = 0u; j < 8u; j++) {
        var q: vec4<i32>;
        for (var c = 0u; c < 4u; c++) {
            q[c] = i32(round_away(x[base + 4u * j + c] * id));
        }
        sum += q.x + q.y + q.z + q.w;
        aq[u * 8u + j] = pack_i8(q);
    }
    let d16 = round_f16(d);
    ads[u] = vec2<f32>(d16, select(d * f32(sum), round_f16(d * f32(sum)), p.mode == 1u));
}
