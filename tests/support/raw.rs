//! Raw TCP peers for hostile-input tests: a client that sends exact bytes,
//! and an origin that answers with exact (possibly broken) bytes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Sends `request` as is and reads until the server closes or goes quiet
/// (bounded), returning what came back.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    read_some(&mut s, Duration::from_secs(3)).await
}

/// Reads what arrives until close, or `quiet` without new bytes.
pub async fn read_some(s: &mut TcpStream, quiet: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(quiet, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An origin that answers every request with `response` (raw bytes), then
/// optionally keeps the connection open without sending more.
pub struct RawOrigin {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl RawOrigin {
    pub async fn start(response: Vec<u8>, hold_open: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hits);
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else { return };
                let response = response.clone();
                let h = Arc::clone(&h);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let _ = s.write_all(&response).await;
                    if hold_open {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                });
            }
        });
        RawOrigin { addr, hits }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
