//! Trusted keys, key groups, `viewer_scheme` and `max_concurrent_requests`
//! in the TOML file: they work, and mistakes name the key path and the PEM.

mod support;

use std::time::{Duration, SystemTime};

use support::{Origin, Reply, client, start_proxy};
use tower_cdn::auth::Signer;
use tower_cdn::config::{from_file, from_toml_str};

const RSA_A: &str = include_str!("../src/auth/testdata/rsa_a_pkcs1.pem");
const RSA_A_PUB: &str = include_str!("../src/auth/testdata/rsa_a_pub_spki.pem");
const EC_PUB: &str = include_str!("../src/auth/testdata/ec_pub_spki.pem");

/// A fresh directory under the system temp dir holding `keys/a.pem`.
fn config_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(&format!("tower-cdn-{name}-")).tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/a.pem"), RSA_A_PUB).unwrap();
    dir
}

fn file(origin: &str, behavior_keys: &str) -> String {
    format!(
        r#"
viewer_scheme = "https"

[key_groups.signers]
keys = [{{ id = "KA", pem_file = "keys/a.pem" }}]

[[distributions]]
id = "site"

[distributions.origins.web]
kind = "http"
url = "{origin}"
max_concurrent_requests = 8
concurrency_wait = "250ms"

[[distributions.behaviors]]
path_pattern = "/private/*"
origin = "web"
{behavior_keys}

[distributions.default_behavior]
origin = "web"
"#
    )
}

#[tokio::test]
async fn a_config_file_with_key_groups_serves_signed_urls() {
    let origin = Origin::start().await;
    origin.route("/private/a", Reply::ok("a").header("cache-control", "max-age=60"));
    let tmp = config_dir("keys-ok");
    let dir = tmp.path();
    let ec = format!("trusted_keys = [{{ id = \"KE\", pem = \"\"\"\n{EC_PUB}\"\"\" }}]");
    let path = dir.join("cdn.toml");
    std::fs::write(&path, file(&origin.url(), &format!("trusted_key_groups = [\"signers\"]\n{ec}"))).unwrap();
    let layer = from_file(&path).unwrap().build().unwrap();
    let edge = start_proxy(layer).await;
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let url = Signer::from_pem("KA", RSA_A).unwrap().canned_url(&format!("https://{edge}/private/a"), expires).unwrap();
    let ok = client().get(url.replacen("https://", "http://", 1)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let unsigned = client().get(format!("http://{edge}/private/a")).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(origin.total_hits(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn key_mistakes_name_the_key_path_and_the_file() {
    let tmp = config_dir("keys-bad");
    let dir = tmp.path();
    std::fs::write(dir.join("keys/private.pem"), RSA_A).unwrap();
    let name = dir.join("cdn.toml").display().to_string();
    let error = |behavior_keys: &str| {
        let text = file("http://127.0.0.1:9", behavior_keys);
        match from_toml_str(&text, &name) {
            Ok(f) => f.build().expect_err("expected an error"),
            Err(e) => e,
        }
    };
    let missing = error(r#"trusted_keys = [{ id = "K1", pem_file = "keys/nope.pem" }]"#);
    assert_eq!(missing.key(), "distributions[0].behaviors[0].trusted_keys[0].pem_file");
    assert!(missing.message().contains("nope.pem"), "{missing}");
    let private = error(r#"trusted_keys = [{ id = "K1", pem_file = "keys/private.pem" }]"#);
    assert_eq!(private.key(), "distributions[0].behaviors[0].trusted_keys[0].pem_file");
    assert!(private.message().contains("private.pem") && private.message().contains("\"K1\""), "{private}");
    let bad_id = error(r#"trusted_keys = [{ id = "has space", pem_file = "keys/a.pem" }]"#);
    assert_eq!(bad_id.key(), "distributions[0].behaviors[0].trusted_keys[0].pem_file");
    let both = error(r#"trusted_keys = [{ id = "K1", pem_file = "keys/a.pem", pem = "x" }]"#);
    assert_eq!(both.key(), "distributions[0].behaviors[0].trusted_keys[0]");
    let group = error(r#"trusted_key_groups = ["nobody"]"#);
    assert_eq!(group.key(), "distributions[0].behaviors[0].trusted_key_groups[0]");
    let twice = error(
        r#"trusted_keys = [{ id = "KA", pem_file = "keys/a.pem" }]
trusted_key_groups = ["signers"]"#,
    );
    assert!(twice.message().contains("trusted twice"), "{twice}");
    let empty = error("trusted_keys = []");
    assert_eq!(empty.key(), "distributions[0].behaviors[0].trusted_keys");
    let scheme = from_toml_str(&file("http://127.0.0.1:9", "").replace("\"https\"", "\"gopher\""), &name)
        .unwrap()
        .build()
        .unwrap_err();
    assert_eq!(scheme.key(), "viewer_scheme");
    let zero = from_toml_str(&file("http://127.0.0.1:9", "").replace("= 8", "= 0"), &name).unwrap().build();
    assert_eq!(zero.unwrap_err().key(), "distributions[0].origins.web.max_concurrent_requests");
    let _ = std::fs::remove_dir_all(dir);
}
