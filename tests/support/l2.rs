//! Redis for the fleet tests: the shared server `scripts/test.sh` starts
//! (`REDIS_URL`), throwaway servers a test can stop and restart, and a TCP
//! relay that can cut one edge off from Redis.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The Redis started by `scripts/test.sh`. Fails (never skips) without it.
pub fn shared_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "REDIS_URL is not set: run the tests with `bash scripts/test.sh`, or start a Redis yourself \
             (`redis-server --port 16379 --save '' --appendonly no --daemonize yes`) and \
             `export REDIS_URL=redis://127.0.0.1:16379`"
        )
    })
}

/// A key prefix no other test (or earlier run) uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("t-{test}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A direct connection for inspecting or tampering with what the edges wrote.
pub async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// A redis-server process of this test's own, on a free loopback port.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// Cluster mode: a one-node Redis Cluster owning every slot.
    cluster_dir: Option<std::path::PathBuf>,
    /// TLS on a second port, with a certificate from a test CA.
    pub tls: Option<Tls>,
}

/// A TLS port and the files behind it.
pub struct Tls {
    pub port: u16,
    /// The test CA's certificate (PEM): what clients must trust.
    pub ca_file: std::path::PathBuf,
    /// A client certificate and key (PEM) the CA signed, for mutual TLS.
    pub client_cert_file: std::path::PathBuf,
    pub client_key_file: std::path::PathBuf,
    /// The server refuses clients without a certificate from the CA.
    require_client_cert: bool,
    dir: std::path::PathBuf,
}

impl Tls {
    /// A CA and a server certificate for 127.0.0.1 it signed (P-256, two days).
    fn make(port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("tower-cdn-{}", unique_prefix("tls")));
        std::fs::create_dir_all(&dir).unwrap();
        let ext = dir.join("server.ext");
        std::fs::write(&ext, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
        std::fs::write(dir.join("client.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n").unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let sign = |name: &'static str| -> Vec<&'static str> {
            let (csr, pem, ext): (&str, &str, &str) = match name {
                "server" => ("server.csr", "server.pem", "server.ext"),
                _ => ("client.csr", "client.pem", "client.ext"),
            };
            vec![
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                pem,
                "-days",
                "2",
                "-extfile",
                ext,
            ]
        };
        let steps: [Vec<&str>; 5] = [
            [
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tower-cdn test CA"],
            ]
            .concat(),
            [&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat(),
            sign("server"),
            [&["req"][..], &ec, &["-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=tower-cdn edge"]]
                .concat(),
            sign("client"),
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(&args)
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|e| panic!("cannot run openssl ({e}): install it (apt-get install openssl)"));
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Tls {
            port,
            ca_file: dir.join("ca.pem"),
            client_cert_file: dir.join("client.pem"),
            client_key_file: dir.join("client.key"),
            require_client_cert: false,
            dir,
        }
    }

    fn args(&self) -> Vec<String> {
        let file = |name: &str| self.dir.join(name).display().to_string();
        vec![
            "--tls-port".into(),
            self.port.to_string(),
            "--tls-cert-file".into(),
            file("server.pem"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.pem"),
            "--tls-auth-clients".into(),
            if self.require_client_cert { "yes" } else { "no" }.into(),
        ]
    }

    /// `rediss://` on the TLS port.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

fn binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

impl RedisServer {
    /// Starts one (fails with a hint when `redis-server` is not installed).
    pub async fn start() -> Self {
        Self::start_on_a_free_port(None).await
    }

    /// A server with TLS on a second port (see [`Tls`]); the plain port
    /// stays open for inspecting what the edges wrote.
    pub async fn start_tls() -> Self {
        Self::start_tls_with(false).await
    }

    /// Like [`start_tls`](Self::start_tls), but the TLS port accepts only
    /// clients with a certificate from the test CA (mutual TLS).
    pub async fn start_mtls() -> Self {
        Self::start_tls_with(true).await
    }

    async fn start_tls_with(require_client_cert: bool) -> Self {
        let mut server = RedisServer { port: 0, child: None, cluster_dir: None, tls: None };
        for _ in 0..5 {
            server.port = free_port(false);
            let tls_port = free_port(false);
            if tls_port == server.port {
                continue;
            }
            if server.tls.is_none() {
                server.tls = Some(Tls { require_client_cert, ..Tls::make(tls_port) });
            }
            if let Some(tls) = &mut server.tls {
                tls.port = tls_port;
            }
            if server.try_start().await {
                return server;
            }
        }
        panic!("redis-server with TLS did not come up on any of 5 port pairs");
    }

    /// A one-node Redis Cluster (cluster protocol, every slot on this node).
    pub async fn start_cluster() -> Self {
        let dir = std::env::temp_dir().join(format!("tower-cdn-{}", unique_prefix("cluster")));
        std::fs::create_dir_all(&dir).unwrap();
        let server = Self::start_on_a_free_port(Some(dir)).await;
        let client = redis::Client::open(server.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(0).arg(16383).query_async(&mut c).await.unwrap();
        for _ in 0..800 {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query_async(&mut c).await.unwrap();
            if info.contains("cluster_state:ok") {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the one-node cluster never became ready");
    }

    /// Another process may take the port between the check and the bind:
    /// then the server exits and the next port is tried.
    async fn start_on_a_free_port(cluster_dir: Option<std::path::PathBuf>) -> Self {
        let mut server = RedisServer { port: 0, child: None, cluster_dir, tls: None };
        for _ in 0..5 {
            server.port = free_port(server.cluster_dir.is_some());
            if server.try_start().await {
                return server;
            }
        }
        panic!("redis-server did not come up on any of 5 ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port, with no data.
    pub async fn restart(&mut self) {
        assert!(self.try_start().await, "redis-server on port {} did not come up", self.port);
    }

    async fn try_start(&mut self) -> bool {
        self.stop();
        let mut args: Vec<String> =
            ["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        if let Some(dir) = &self.cluster_dir {
            let _ = std::fs::remove_file(dir.join("nodes.conf"));
            args.extend(["--cluster-enabled".into(), "yes".into(), "--dir".into(), dir.display().to_string()]);
        }
        if let Some(tls) = &self.tls {
            args.extend(tls.args());
        }
        let child = Command::new(binary())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): install it (apt-get install redis-server) or set REDIS_SERVER")
            });
        self.child = Some(child);
        // Bounded: 20 s for a loaded machine.
        for _ in 0..800 {
            if let Some(child) = &mut self.child
                && matches!(child.try_wait(), Ok(Some(_)))
            {
                self.child = None;
                return false; // exited: the port (or the cluster bus port) was taken
            }
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(Ok(mut c)) =
                    tokio::time::timeout(Duration::from_millis(200), client.get_multiplexed_async_connection()).await
                && redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.stop();
        false
    }

    /// Kills the server (its data is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        for dir in self.cluster_dir.iter().chain(self.tls.as_ref().map(|t| &t.dir)) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A loopback port nothing listens on, below the ephemeral range (Linux:
/// 32768 and up). A cluster node also needs its bus port (port + 10000),
/// so cluster ports come from 20000..22700, whose bus ports stay below too.
fn free_port(cluster: bool) -> u16 {
    let seed = std::process::id() as u64 * 7919
        + std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    let span = if cluster { 2700 } else { 12000 };
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    for i in 0..1000u64 {
        let port = 20000 + ((seed + i * 104_729) % span) as u16;
        if free(port) && (!cluster || free(port + 10000)) {
            return port;
        }
    }
    panic!("no free port");
}

/// A TCP relay in front of Redis that can be cut (every connection
/// dropped, new ones refused) and restored: one edge loses Redis while
/// the others keep it.
pub struct Relay {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl Relay {
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = target.trim_start_matches("redis://").to_owned();
        let open = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (o, c) = (Arc::clone(&open), Arc::clone(&cut));
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if !o.load(Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                let c = Arc::clone(&c);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = c.notified() => {}
                    }
                });
            }
        });
        Relay { addr, open, cut }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
