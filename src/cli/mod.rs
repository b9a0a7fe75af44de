//! The `ruvllm` command line (native only, feature `cli`).
//!
//! Each subcommand lives in its own module; this one parses arguments and turns every error into
//! one line on stderr and a non-zero exit status. Nothing here panics on bad input.

mod generate;
mod inspect;
mod kernels;
mod quantize;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ruvllm", version, about = "GGUF LLM inference runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a GGUF file's header, metadata and tensor table.
    Inspect {
        /// The GGUF file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Show at most this many elements of each metadata array.
        #[arg(long, default_value_t = 8)]
        array_limit: usize,
    },
    /// Generate text from a prompt (streamed to stdout; a summary goes to stderr).
    Run {
        #[command(flatten)]
        model: generate::ModelArgs,
        #[command(flatten)]
        sample: generate::SampleArgs,
        /// The prompt ("-" reads stdin).
        #[arg(long, required_unless_present = "chat")]
        prompt: Option<String>,
        /// Wrap the prompt in the model's chat template as a user message.
        #[arg(long)]
        chat: bool,
        /// System message for --chat.
        #[arg(long)]
        system: Option<String>,
    },
    /// Interactive chat in the terminal (the KV cache is reused between turns).
    Chat {
        #[command(flatten)]
        model: generate::ModelArgs,
        #[command(flatten)]
        sample: generate::SampleArgs,
        #[arg(long)]
        system: Option<String>,
    },
    /// Prefill and decode speed and peak memory.
    Bench {
        #[command(flatten)]
        model: generate::ModelArgs,
        #[arg(long, default_value_t = 128)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 64)]
        gen_tokens: usize,
    },
    /// Each dot-product kernel in GB/s of weights read, per flavour, and the memory bandwidth.
    BenchKernels {
        /// Weights per matrix in KiB (256 stays in L2 and measures arithmetic; 65536 measures
        /// memory).
        #[arg(long, default_value_t = 256)]
        weights_kb: usize,
        /// Only measure the memory bandwidth.
        #[arg(long)]
        memory_only: bool,
        /// The GPU backend's kernels instead: matmul (GB/s of weights read, 1 and 4 tokens), and
        /// the batch attention tiled against one workgroup per token (ms).
        #[arg(long)]
        gpu: bool,
    },
    /// Requantize a model to another weight type (as llama-quantize; K types fall back to
    /// Q5_0/Q8_0 for rows that are not whole 256-value super-blocks).
    Quantize {
        /// Input GGUF.
        input: PathBuf,
        /// Output GGUF.
        output: PathBuf,
        /// Target: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K or Q6_K.
        #[arg(value_name = "TYPE")]
        ty: String,
    },
    /// Perplexity of a text file, computed as llama.cpp's llama-perplexity does.
    Perplexity {
        #[command(flatten)]
        model: generate::ModelArgs,
        /// The text.
        #[arg(long)]
        file: PathBuf,
    },
}

/// Errors a subcommand can end with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Ruvllm(#[from] crate::Error),
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
    #[error("{0}")]
    Usage(String),
}

impl From<crate::ModelError> for CliError {
    fn from(e: crate::ModelError) -> Self {
        Self::Ruvllm(e.into())
    }
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = match cli.command {
        Command::Inspect { file, json, array_limit } => inspect::run(&file, json, array_limit, &mut out),
        Command::Run { model, sample, prompt, chat, system } => {
            let prompt = match prompt.as_deref() {
                Some("-") => generate::read_stdin(),
                Some(p) => Ok(p.to_string()),
                None => Err(CliError::Usage("--prompt is required".into())),
            };
            prompt.and_then(|p| generate::run(&model, &sample, &p, chat, system.as_deref(), &mut out))
        }
        Command::Chat { model, sample, system } => generate::chat(&model, &sample, system.as_deref(), &mut out),
        Command::Bench { model, prompt_tokens, gen_tokens } => {
            generate::bench(&model, prompt_tokens, gen_tokens, &mut out)
        }
        Command::BenchKernels { weights_kb, memory_only, gpu: false } => {
            kernels::run(weights_kb.clamp(1, 1 << 20), memory_only, &mut out)
        }
        Command::BenchKernels { weights_kb, gpu: true, .. } => kernels::run_gpu(weights_kb.clamp(1, 1 << 20), &mut out),
        Command::Quantize { input, output, ty } => quantize::run(&input, &output, &ty, &mut out),
        Command::Perplexity { model, file } => generate::perplexity(&model, &file, model.ctx_or(512), &mut out),
    }
    .and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) => 0,
        // The reader of our output went away (`ruvllm inspect m.gguf | head`): not an error.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("ruvllm: error: {e}");
            1
        }
    }
}
