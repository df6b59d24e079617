//! Headless Chromium driven over WebDriver: a chromedriver of the test's
//! own on a free loopback port (stopped when dropped) and a fantoccini
//! session with a throwaway profile.

use std::future::Future;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The chromedriver and browser a test runs; `CHROMEDRIVER` and
/// `CHROME_BIN` say where they are (`source .ci/browser.sh`).
fn tools() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!(
                "{name} is not set: the dashboard tests drive a headless Chromium. Run them with \
                 `bash scripts/test.sh`, or `source .ci/browser.sh` first (it installs Debian's chromium \
                 and chromium-driver and exports CHROME_BIN and CHROMEDRIVER)"
            )
        })
    };
    (var("CHROMEDRIVER"), var("CHROME_BIN"))
}

/// A chromedriver process (in a process group of its own, with the
/// browsers it starts), ended on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start(path: &str) -> Driver {
        // A free port: bound, read and released (chromedriver has no `:0`).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver {path:?}: {e}"));
        let driver = Driver { child, port };
        let status = format!("http://127.0.0.1:{port}/status");
        let client = reqwest::Client::new();
        let ready = poll_until(Duration::from_secs(30), || async {
            let r = client.get(&status).send().await.ok()?;
            let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.ok()?).ok()?;
            (v["value"]["ready"] == true).then_some(())
        })
        .await;
        assert!(ready.is_some(), "chromedriver did not become ready on port {port}");
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SIGTERM to the group (chromedriver and any browser it left), then
        // SIGKILL to chromedriver itself.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session.
pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
    _driver: Driver,
}

impl Browser {
    pub async fn start() -> Browser {
        let (chromedriver, chrome) = tools();
        let driver = Driver::start(&chromedriver).await;
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chrome,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--window-size=1280,1700",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("cannot start a Chromium session through chromedriver: {e}"));
        Browser { client, _profile: profile, _driver: driver }
    }

    /// The text of the element with this id ("" when there is none yet).
    pub async fn text(&self, id: &str) -> String {
        match self.client.find(Locator::Id(id)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits (bounded) until the element's text satisfies `ok`; its text.
    pub async fn wait_text(&self, id: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let found = poll_until(Duration::from_secs(30), || async {
            let t = self.text(id).await;
            ok(&t).then_some(t)
        })
        .await;
        match found {
            Some(t) => t,
            None => panic!("waited for {what}; #{id} shows {:?}", self.text(id).await),
        }
    }

    /// Replaces the content of an input or textarea.
    pub async fn fill(&self, id: &str, value: &str) {
        let e = self.client.find(Locator::Id(id)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// Calls `probe` until it gives a value or `limit` has passed. The limit
/// only keeps a broken test from hanging: no assertion rides on time.
pub async fn poll_until<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
