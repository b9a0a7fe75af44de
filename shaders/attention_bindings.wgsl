// What both attention kernels (attention.wgsl for one token, attention_tiled.wgsl for a batch)
// bind: one parameter record, the batch's queries, one layer's K and V cache (KV: f16 or f32,
// the alias the host prepends) and the output. The host passes both kernels the same record.

struct Params {
    n_head: u32,
    group: u32,     // query heads per KV head
    head_dim: u32,
    kv_stride: u32, // values per position in the cache (n_head_kv * head_dim)
    scale: f32,     // 1 / sqrt(head_dim)
    split: u32,     // one token: positions per split (0: no split); unused by the tiled kernel
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<KV>;
@group(0) @binding(4) var<storage, read> v_cache: array<KV>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const NEG_BIG: f32 = -3.0e38;
