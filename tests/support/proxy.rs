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
}

impl Proxy {
    /// Starts the binary with `args` and waits for `listening on URL`.
    pub fn start<I, S>(args: I) -> Proxy
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tower-cdn"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tower-cdn");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Proxy { url: url.to_owned(), child }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
