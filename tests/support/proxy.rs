//! The dev proxy binary as a child process: started with arguments, its
//! address read from the `listening on URL` line, killed when dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `tower-cdn` process.
pub struct Proxy {
    pub child: Child,
    /// `http://ADDR` from its first line.
    pub url: String,
    /// Every listener's URL, in the order of its lines.
    pub urls: Vec<String>,
}

impl Proxy {
    /// Starts the binary with `args` and waits for `listening on URL`.
    pub fn start<I, S>(args: I) -> Proxy
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Proxy::start_with(args, 1, Stdio::null())
    }

    /// Starts the binary and reads `lines` listening lines; its stderr
    /// goes to `stderr`.
    pub fn start_with<I, S>(args: I, lines: usize, stderr: impl Into<Stdio>) -> Proxy
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start tower-cdn");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut urls = Vec::new();
        for _ in 0..lines {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected line {line:?}"));
            urls.push(url.to_owned());
        }
        Proxy { url: urls[0].clone(), urls, child }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
