//! A raw HTTP/1.1 origin that records the exact bytes of every request it
//! receives, per connection, for tests that assert on what really crossed
//! the wire. It keeps connections alive, frames requests itself (httparse
//! for the head, `Content-Length` or chunked for the body, as an origin
//! server would), and can answer before it reads a declared body, as
//! nginx does when it serves a file: a proxy that declares a body it does
//! not send then has the next request's bytes eaten as this one's body.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the origin framed it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The index of the connection it came on.
    pub conn: usize,
    /// The head's bytes (request line and fields, up to and with CRLFCRLF).
    pub head: Vec<u8>,
    pub method: String,
    pub target: String,
    /// Field names lower-cased, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The content as framed by `Content-Length` or chunked coding.
    pub body: Vec<u8>,
    /// The bytes of the content on the wire (with chunk framing).
    pub body_wire: Vec<u8>,
    /// The connection ended before the declared content did (the sender
    /// aborted it: nothing after it on that connection can be misread).
    pub truncated: bool,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned()).collect()
    }
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }
    /// The head and content as one byte string.
    pub fn raw(&self) -> Vec<u8> {
        let mut v = self.head.clone();
        v.extend_from_slice(&self.body_wire);
        v
    }
}

/// How the origin answers.
pub type Answer = Arc<dyn Fn(&Recorded) -> Vec<u8> + Send + Sync>;

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    /// Every byte received, per connection.
    raw: Vec<Vec<u8>>,
    /// Connections that sent bytes the origin could not frame.
    garbled: Vec<(usize, Vec<u8>)>,
}

/// The recording origin on 127.0.0.1:0.
#[derive(Clone)]
pub struct RecordingOrigin {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// `200 OK`, cacheable for a minute, its body naming the target received.
pub fn echo_target(r: &Recorded) -> Vec<u8> {
    response(200, &[("cache-control", "max-age=60")], format!("served {}", r.target).as_bytes())
}

/// A raw response with `Content-Length`.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len()).into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

impl RecordingOrigin {
    /// Answers after reading each whole request.
    pub async fn start(answer: Answer) -> Self {
        Self::start_with(answer, false).await
    }

    /// Answers as soon as a head is read, then reads the declared content.
    pub async fn answering_first(answer: Answer) -> Self {
        Self::start_with(answer, true).await
    }

    async fn start_with(answer: Answer, answer_first: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                let conn = {
                    let mut s = st.lock().unwrap();
                    s.raw.push(Vec::new());
                    s.raw.len() - 1
                };
                tokio::spawn(serve_conn(sock, conn, Arc::clone(&st), Arc::clone(&answer), answer_first));
            }
        });
        RecordingOrigin { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// Forgets what was recorded (connections stay open).
    pub fn clear(&self) {
        let mut s = self.state.lock().unwrap();
        s.requests.clear();
        s.garbled.clear();
        for raw in &mut s.raw {
            raw.clear();
        }
    }

    /// Every byte each connection received.
    pub fn raw(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().raw.clone()
    }

    /// Connections whose bytes did not parse as requests, with those bytes.
    pub fn garbled(&self) -> Vec<(usize, Vec<u8>)> {
        self.state.lock().unwrap().garbled.clone()
    }

    /// The last request for `target`.
    pub fn last(&self, target: &str) -> Option<Recorded> {
        self.requests().into_iter().rev().find(|r| r.target == target)
    }
}

async fn fill(sock: &mut TcpStream, buf: &mut Vec<u8>, conn: usize, st: &Mutex<State>) -> bool {
    let mut chunk = [0u8; 8192];
    match sock.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            st.lock().unwrap().raw[conn].extend_from_slice(&chunk[..n]);
            true
        }
    }
}

async fn serve_conn(mut sock: TcpStream, conn: usize, st: Arc<Mutex<State>>, answer: Answer, answer_first: bool) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // The head.
        let (head_len, mut rec) = loop {
            let mut fields = [httparse::EMPTY_HEADER; 128];
            let mut req = httparse::Request::new(&mut fields);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let headers =
                        req.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect::<Vec<_>>();
                    let rec = Recorded {
                        conn,
                        head: buf[..n].to_vec(),
                        method: req.method.unwrap_or_default().to_owned(),
                        target: req.path.unwrap_or_default().to_owned(),
                        headers,
                        body: Vec::new(),
                        body_wire: Vec::new(),
                        truncated: false,
                    };
                    break (n, rec);
                }
                Ok(httparse::Status::Partial) => {
                    if !fill(&mut sock, &mut buf, conn, &st).await {
                        if !buf.is_empty() {
                            st.lock().unwrap().garbled.push((conn, buf.clone()));
                        }
                        return;
                    }
                }
                Err(_) => {
                    st.lock().unwrap().garbled.push((conn, buf.clone()));
                    return;
                }
            }
        };
        buf.drain(..head_len);
        // The content, framed as an origin server frames it.
        let chunked = rec.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = rec.header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
        let reply = if answer_first { Some(answer(&rec)) } else { None };
        if let Some(reply) = &reply {
            // Without content the record is complete: keep it before the
            // answer, so whoever reads the answer finds the request recorded.
            let bodiless = !chunked && length.is_none_or(|n| n == 0);
            if bodiless {
                st.lock().unwrap().requests.push(rec.clone());
            }
            if sock.write_all(reply).await.is_err() {
                return;
            }
            if bodiless {
                continue;
            }
        }
        if chunked {
            loop {
                let Some(line_end) = find_crlf(&buf) else {
                    if !fill(&mut sock, &mut buf, conn, &st).await {
                        return;
                    }
                    continue;
                };
                let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16);
                let Ok(size) = size else {
                    st.lock().unwrap().garbled.push((conn, buf.clone()));
                    return;
                };
                if size == 0 {
                    // The last chunk, then the trailer section: field
                    // lines up to an empty one (RFC 9112 §7.1.2).
                    let mut end = line_end + 2;
                    loop {
                        match find_crlf(&buf[end..]) {
                            Some(0) => {
                                end += 2;
                                break;
                            }
                            Some(n) => end += n + 2,
                            None => {
                                if !fill(&mut sock, &mut buf, conn, &st).await {
                                    rec.truncated = true;
                                    rec.body_wire.extend_from_slice(&buf);
                                    st.lock().unwrap().requests.push(rec);
                                    return;
                                }
                            }
                        }
                    }
                    rec.body_wire.extend_from_slice(&buf[..end]);
                    buf.drain(..end);
                    break;
                }
                let need = line_end + 2 + size + 2;
                while buf.len() < need {
                    if !fill(&mut sock, &mut buf, conn, &st).await {
                        rec.truncated = true;
                        rec.body_wire.extend_from_slice(&buf);
                        st.lock().unwrap().requests.push(rec);
                        return;
                    }
                }
                rec.body_wire.extend_from_slice(&buf[..need]);
                rec.body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
                buf.drain(..need);
            }
        } else if let Some(len) = length {
            while buf.len() < len {
                if !fill(&mut sock, &mut buf, conn, &st).await {
                    rec.truncated = true;
                    rec.body = std::mem::take(&mut buf);
                    rec.body_wire = rec.body.clone();
                    st.lock().unwrap().requests.push(rec);
                    return;
                }
            }
            rec.body = buf[..len].to_vec();
            rec.body_wire = rec.body.clone();
            buf.drain(..len);
        }
        let reply = match reply {
            Some(_) => None,
            None => Some(answer(&rec)),
        };
        st.lock().unwrap().requests.push(rec);
        if let Some(reply) = reply
            && sock.write_all(&reply).await.is_err()
        {
            return;
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}
