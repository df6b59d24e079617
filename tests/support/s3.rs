//! The real S3 server the tests use (SeaweedFS, started and seeded by
//! `.ci/s3.sh`), found through the environment it exports.

use std::net::SocketAddr;

use tower_cdn::{S3Credentials, S3Origin};

/// Where the test S3 server is and what it holds.
pub struct S3Env {
    pub endpoint: String,
    pub addr: SocketAddr,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub public: String,
    pub private: String,
    pub big_key: String,
    pub big_size: usize,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the test S3 server. Start it with \
             `source .ci/s3.sh` (SeaweedFS on 127.0.0.1:19000, seeded), then run cargo test \
             in the same shell; or run `bash scripts/test.sh`, which does both"
        )
    })
}

/// Reads the environment `.ci/s3.sh` exports; panics with instructions if
/// it is missing (an S3 test never passes without S3).
pub fn s3_env() -> S3Env {
    let endpoint = var("S3_ENDPOINT");
    let addr = endpoint
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("S3_ENDPOINT={endpoint:?} is not http://IP:PORT"));
    S3Env {
        endpoint,
        addr,
        region: var("S3_REGION"),
        access_key_id: var("S3_ACCESS_KEY_ID"),
        secret_access_key: var("S3_SECRET_ACCESS_KEY"),
        public: var("S3_PUBLIC_BUCKET"),
        private: var("S3_PRIVATE_BUCKET"),
        big_key: var("S3_BIG_KEY"),
        big_size: var("S3_BIG_SIZE").parse().expect("S3_BIG_SIZE is a number"),
    }
}

impl S3Env {
    /// The right keys.
    pub fn keys(&self) -> S3Credentials {
        S3Credentials::from_keys(&self.access_key_id, &self.secret_access_key)
    }

    /// A path-style origin for `bucket` on the test server.
    pub fn path_style(&self, bucket: &str) -> S3Origin {
        S3Origin::new(bucket).region(&self.region).endpoint(&self.endpoint).path_style(true)
    }

    /// A virtual-hosted origin: `http://BUCKET.localhost:PORT/key`, with
    /// connections sent to the server's address (`bucket.localhost` does
    /// not resolve everywhere).
    pub fn virtual_hosted(&self, bucket: &str) -> S3Origin {
        S3Origin::new(bucket)
            .region(&self.region)
            .endpoint(format!("http://localhost:{}", self.addr.port()))
            .connect_to(self.addr)
    }
}
