//! `ruvllm quantize INPUT OUTPUT TYPE`: requantize a model, as llama.cpp's `llama-quantize`.

use std::io::Write;
use std::path::Path;

use super::CliError;
use crate::quant::GgmlType;
use crate::GgufFile;

pub(super) fn run(input: &Path, output: &Path, ty: &str, out: &mut dyn Write) -> Result<(), CliError> {
    let target = GgmlType::ALL.iter().copied().find(|t| t.name().eq_ignore_ascii_case(ty)).ok_or_else(|| {
        CliError::Usage(format!("unknown type '{ty}' (targets: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K)"))
    })?;
    let file = GgufFile::open(input)?;
    let io = |op, e| crate::Error::Io { op, path: output.to_path_buf(), source: e };
    // Write beside the target and rename, so a failure never leaves a truncated model behind.
    let tmp = output.with_extension("gguf.partial");
    let result = (|| -> Result<usize, CliError> {
        let f = std::fs::File::create(&tmp).map_err(|e| io("cannot create", e))?;
        let mut w = std::io::BufWriter::new(f);
        let n = crate::requantize::requantize(&file, target, &mut w)?;
        w.flush().map_err(|e| io("cannot write", e))?;
        Ok(n)
    })();
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, output).map_err(|e| io("cannot rename into", e))?;
            writeln!(out, "{}: {n} tensors requantized to {} (others kept)", output.display(), target.name())?;
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
