// GELU, in place over n values per token: mode 0 is the tanh approximation (ggml's `gelu`),
// mode 1 the error-function form (ggml's `gelu_erf`; erf by Abramowitz-Stegun 7.1.26, absolute
// error below 1.5e-7).

struct Params {
    n: u32,
    mode: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

fn erf_approx(z: f32) -> f32 {
    let a = abs(z);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(z) * (1.0 - poly * exp(-a * a));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.n || gid.y >= step.t) {
        return;
    }
    let o = gid.y * p.n + gid.x;
    let z = x[o];
    if (p.mode == 0u) {
        // tanh saturates long before |u| = 10; the clamp keeps exp-based tanh finite.
        let u = clamp(0.7978845608028654 * z * (1.0 + 0.044715 * z * z), -10.0, 10.0);
        x[o] = 0.5 * z * (1.0 + tanh(u));
    } else {
        x[o] = 0.5 * z * (1.0 + erf_approx(z * 0.7071067811865476));
    }
}
