//! `tower-cdn`: a local CDN edge caching proxy. See `tower-cdn --help`.

use std::process::ExitCode;

use clap::Parser;
use tower_cdn::cli::{self, args::Args};

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tower-cdn: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(cli::run(args))
}
