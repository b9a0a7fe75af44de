// The batch being evaluated, rewritten by the host before each submission: t tokens at
// positions n_past .. n_past + t. Every kernel binds it at binding 1 (its own parameters are
// binding 0).
struct Step {
    t: u32,
    n_past: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(1) var<uniform> step: Step;
