//! The `ruvllm` command line (native only, feature `cli`).
//!
//! Each subcommand lives in its own module; this one parses arguments and turns every error into
//! one line on stderr and a non-zero exit status. Nothing here panics on bad input.

mod inspect;

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
}

/// Errors a subcommand can end with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Ruvllm(#[from] crate::Error),
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
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
        Command::Inspect {
            file,
            json,
            array_limit,
        } => inspect::run(&file, json, array_limit, &mut out),
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
