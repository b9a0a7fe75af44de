//! The memory layer: where model bytes live.
//!
//! [`ModelBytes`] is one read-only byte buffer with two backings: natively a memory-mapped file
//! (nothing is read until a page is touched, nothing is copied), and in wasm (or for tests) bytes
//! owned in memory, handed over from JavaScript. The rest of the crate sees a `&[u8]`.
//!
//! This module and the kernels are the only places `unsafe` is allowed.

use std::fmt;
use std::ops::Deref;

/// Read-only model bytes: a memory-mapped file or an owned buffer.
pub struct ModelBytes {
    inner: Inner,
}

enum Inner {
    Owned(Box<[u8]>),
    Static(&'static [u8]),
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(memmap2::Mmap),
}

impl ModelBytes {
    /// Takes ownership of bytes already in memory (the wasm path: JS hands the model over).
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self { inner: Inner::Owned(bytes.into_boxed_slice()) }
    }

    /// Borrows bytes that live for the whole program (embedded test files).
    pub fn from_static(bytes: &'static [u8]) -> Self {
        Self { inner: Inner::Static(bytes) }
    }

    /// Maps a file read-only. Opening and mapping copy nothing: pages are read on first touch.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn map_file(path: &std::path::Path) -> crate::Result<Self> {
        let io = |op, source| crate::Error::Io { op, path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(|e| io("cannot open", e))?;
        let len = file.metadata().map_err(|e| io("cannot stat", e))?.len();
        if len == 0 {
            // memmap2 refuses zero-length maps on some platforms; an empty file is simply empty.
            return Ok(Self::from_vec(Vec::new()));
        }
        // Why this is sound: the map is read-only (PROT_READ, private) and we only ever hand out
        // shared `&[u8]` borrows tied to `self`, so no Rust code can write through it. The
        // remaining invariant is external: another process must not truncate or rewrite the file
        // while it is mapped (truncation would turn reads past the new end into SIGBUS, a rewrite
        // would change bytes under a shared borrow). Model files are treated as immutable, as
        // every mmap-based loader (llama.cpp, candle) does; the parsed header is validated against
        // the length captured here, so in-range reads are guaranteed for an unmodified file.
        // SAFETY: read-only private mapping, only shared borrows handed out; the model file is not
        // modified while mapped (the external invariant above).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io("cannot map", e))?;
        Ok(Self { inner: Inner::Mapped(map) })
    }

    /// Whether the bytes are a memory map (as opposed to owned or static memory).
    pub fn is_mapped(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Inner::Mapped(_) = self.inner {
            return true;
        }
        false
    }
}

impl Deref for ModelBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.inner {
            Inner::Owned(b) => b,
            Inner::Static(b) => b,
            #[cfg(not(target_arch = "wasm32"))]
            Inner::Mapped(m) => m,
        }
    }
}

impl fmt::Debug for ModelBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_mapped() { "mapped" } else { "in memory" };
        write!(f, "ModelBytes({} bytes, {kind})", self.len())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("ruvllm-mem-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap and file I/O are foreign calls Miri cannot run")]
    fn maps_a_file_and_reads_exactly_its_bytes_up_to_the_last() {
        // The edge of the mapping's invariant: the last byte is readable, nothing beyond is exposed.
        let data: Vec<u8> = (0..=255u8).cycle().take(4096 + 3).collect();
        let path = temp_file("full", &data);
        let m = ModelBytes::map_file(&path).unwrap();
        assert!(m.is_mapped());
        assert_eq!(m.len(), data.len());
        assert_eq!(&m[..], &data[..]);
        assert_eq!(m[m.len() - 1], data[data.len() - 1]);
        assert!(m.get(m.len()).is_none());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap and file I/O are foreign calls Miri cannot run")]
    fn empty_file_maps_to_empty_bytes() {
        let path = temp_file("empty", &[]);
        let m = ModelBytes::map_file(&path).unwrap();
        assert_eq!(m.len(), 0);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap and file I/O are foreign calls Miri cannot run")]
    fn missing_file_is_an_error_naming_the_path() {
        let err = ModelBytes::map_file(std::path::Path::new("/nonexistent/model.gguf")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cannot open") && msg.contains("/nonexistent/model.gguf"), "{msg}");
    }
}
