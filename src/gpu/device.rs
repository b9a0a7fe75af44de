//! The adapter and device: chosen once, with every wgpu error routed into [`GpuError`] values
//! (wgpu's default is to panic on an uncaptured validation error, which in a browser worker
//! would kill it) and device loss recorded so the next call fails with a clear message instead
//! of hanging.

use std::sync::{Arc, Mutex};

use super::kernels::KernelLimits;
use super::GpuOptions;
use crate::error::GpuError;

#[cfg(not(target_arch = "wasm32"))]
const NO_ADAPTER_HINT: &str = "natively the GPU backend needs a Vulkan, Metal or DX12 driver; on Linux without a GPU, Mesa's lavapipe: apt install mesa-vulkan-drivers";
#[cfg(target_arch = "wasm32")]
const NO_ADAPTER_HINT: &str =
    "the browser offers WebGPU but no adapter: it may be disabled or blocklisted for this GPU";

/// wgpu panics when the global scope has no `navigator.gpu` to use (Node, a shared worker, a
/// browser without WebGPU): check first, and say so as an error.
#[cfg(target_arch = "wasm32")]
fn browser_has_webgpu() -> Result<(), GpuError> {
    use wasm_bindgen::JsValue;
    let global = js_sys::global();
    let navigator = js_sys::Reflect::get(&global, &JsValue::from_str("navigator")).unwrap_or(JsValue::UNDEFINED);
    let gpu = if navigator.is_object() {
        js_sys::Reflect::get(&navigator, &JsValue::from_str("gpu")).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    };
    let in_window_or_worker = ["window", "WorkerGlobalScope"]
        .iter()
        .any(|k| js_sys::Reflect::has(&global, &JsValue::from_str(k)).unwrap_or(false));
    if gpu.is_undefined() || gpu.is_null() || !in_window_or_worker {
        return Err(GpuError::NoAdapter {
            detail: "this JavaScript environment has no WebGPU (navigator.gpu is missing: Node, an older browser, \
                     or a page where it is disabled; Chromium needs a secure context)"
                .into(),
        });
    }
    Ok(())
}

/// What was chosen: the adapter and the features the kernels may use.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GpuInfo {
    pub adapter: String,
    pub backend: String,
    pub device_type: String,
    pub shader_f16: bool,
    pub subgroups: bool,
    /// The smallest subgroup the kernels may rely on (0: no subgroup operations).
    pub subgroup_min: u32,
    /// The KV cache holds f16 values and the attention scores are f16 arithmetic (shader-f16
    /// present and allowed), else f32.
    pub kv_f16: bool,
    pub max_binding_bytes: u64,
    pub max_workgroup_storage: u32,
}

impl std::fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.adapter, self.backend, self.device_type)?;
        let features: Vec<&str> = [(self.shader_f16, "shader-f16"), (self.subgroups, "subgroups")]
            .iter()
            .filter(|f| f.0)
            .map(|f| f.1)
            .collect();
        if !features.is_empty() {
            write!(f, " [{}]", features.join(", "))?;
        }
        write!(f, ", KV cache {}", if self.kv_f16 { "f16" } else { "f32" })
    }
}

/// An open device and queue, with the errors wgpu reported since the last check.
#[derive(Debug)]
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: GpuInfo,
    pub(crate) limits: wgpu::Limits,
    max_binding: u64,
    /// Tests: the hardware kernel configuration on a software adapter.
    hardware_config: bool,
    /// Uncaptured errors (validation, out of memory), oldest first.
    errors: Arc<Mutex<Vec<String>>>,
    /// Why the device was lost, once it is.
    lost: Arc<Mutex<Option<String>>>,
    attention_split: u32,
}

impl Gpu {
    /// Opens the first adapter that matches `opts` (high-performance preferred), blocking until
    /// the device is ready (natively wgpu's futures complete without an executor).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(opts: &GpuOptions) -> Result<Self, GpuError> {
        pollster::block_on(Self::open(opts))
    }

    /// Opens the first adapter that matches `opts` (high-performance preferred). In the browser
    /// this is the page's WebGPU (`navigator.gpu`), whose futures complete on the event loop.
    pub async fn open(opts: &GpuOptions) -> Result<Self, GpuError> {
        #[cfg(target_arch = "wasm32")]
        browser_has_webgpu()?;
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::PRIMARY,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = match &opts.adapter {
            Some(name) => {
                let want = name.to_lowercase();
                let adapters = instance.enumerate_adapters(wgpu::Backends::PRIMARY).await;
                let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
                adapters.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&want)).ok_or_else(|| {
                    GpuError::NoAdapter { detail: format!("no adapter named like '{name}' (found: {names:?})") }
                })?
            }
            None => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    ..Default::default()
                })
                .await
                .map_err(|e| GpuError::NoAdapter { detail: format!("{e} ({NO_ADAPTER_HINT})") })?,
        };
        let a = adapter.get_info();
        let features = adapter.features();
        let wanted = features & (wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("ruvllm"),
                required_features: wanted,
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Device { adapter: a.name.clone(), detail: e.to_string() })?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut l) = flag.lock() {
                *l = Some(format!("{reason:?}: {message}"));
            }
        });
        let limits = device.limits();
        let subgroup_min =
            if wanted.contains(wgpu::Features::SUBGROUP) && !opts.no_subgroups { a.subgroup_min_size } else { 0 };
        let max_binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let max_binding = opts.max_binding_bytes.map_or(max_binding, |m| m.min(max_binding));
        let info = GpuInfo {
            adapter: if a.name.is_empty() { "(unnamed adapter)".into() } else { a.name },
            backend: format!("{:?}", a.backend),
            device_type: format!("{:?}", a.device_type),
            shader_f16: wanted.contains(wgpu::Features::SHADER_F16),
            subgroups: wanted.contains(wgpu::Features::SUBGROUP),
            subgroup_min,
            kv_f16: wanted.contains(wgpu::Features::SHADER_F16) && !opts.f32_only,
            max_binding_bytes: max_binding,
            max_workgroup_storage: limits.max_compute_workgroup_storage_size,
        };
        Ok(Self {
            device,
            queue,
            info,
            limits,
            max_binding,
            hardware_config: opts.hardware_config,
            errors,
            lost,
            attention_split: opts.attention_split.max(1),
        })
    }

    /// Refuses a software adapter (lavapipe, SwiftShader): what `auto` does, since the CPU
    /// kernels are faster than a CPU emulating a GPU.
    pub fn require_hardware(&self) -> Result<(), GpuError> {
        if self.info.device_type == "Cpu" {
            return Err(GpuError::NoAdapter {
                detail: format!("only a software adapter ({}): the CPU backend is faster", self.info.adapter),
            });
        }
        Ok(())
    }

    pub fn info(&self) -> &GpuInfo {
        &self.info
    }

    /// Positions per part of a decoded token's split attention.
    pub(crate) fn attention_split(&self) -> u32 {
        self.attention_split
    }

    /// The largest binding the backend uses (the adapter's, or less when the options say so).
    pub(crate) fn max_binding(&self) -> u64 {
        self.max_binding
    }

    pub(crate) fn kernel_limits(&self) -> KernelLimits {
        KernelLimits {
            invocations: self.limits.max_compute_invocations_per_workgroup,
            size_x: self.limits.max_compute_workgroup_size_x,
            workgroup_storage: self.limits.max_compute_workgroup_storage_size,
            storage_buffers: self.limits.max_storage_buffers_per_shader_stage,
            software: self.info.device_type == "Cpu" && !self.hardware_config,
            subgroup_min: self.info.subgroup_min,
        }
    }

    /// The first error wgpu reported since the last check (or the device loss), as a
    /// [`GpuError`] saying what was being done.
    pub(crate) fn check(&self, during: &str) -> Result<(), GpuError> {
        if let Some(why) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(GpuError::DeviceLost { detail: why });
        }
        let first = self.errors.lock().ok().and_then(|mut v| if v.is_empty() { None } else { Some(v.remove(0)) });
        match first {
            Some(detail) => Err(GpuError::Validation { during: during.to_string(), detail }),
            None => Ok(()),
        }
    }

    /// Destroys the device as a driver reset would (tests use it to force a loss).
    pub fn simulate_device_loss(&self) {
        self.device.destroy();
    }
}
