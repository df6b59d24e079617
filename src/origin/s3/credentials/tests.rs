//! Unit tests of `credentials`.

use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

fn creds(ak: &str, sk: &str, token: Option<&str>) -> Credentials {
    Credentials::Static { access_key_id: ak.into(), secret_access_key: sk.into(), session_token: token.map(Into::into) }
}

#[test]
fn debug_redacts_secrets() {
    let c = creds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Some("tok-secret"));
    let shown = format!("{c:?} {c:#?}");
    assert!(shown.contains("AKIDEXAMPLE") && shown.contains("***"), "{shown}");
    assert!(!shown.contains("wJalr") && !shown.contains("tok-secret"), "{shown}");
    assert_eq!(
        format!("{:?}", creds("a", "s", None)),
        r#"Static { access_key_id: "a", secret_access_key: ***, session_token: None }"#
    );
    assert_eq!(format!("{:?}", Credentials::Anonymous), "Anonymous");
}

#[test]
fn from_env() {
    assert_eq!(credentials_from_env(env(&[])), Ok(None));
    assert_eq!(
        credentials_from_env(env(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "s")])),
        Ok(Some(creds("a", "s", None)))
    );
    let with_token = env(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_SESSION_TOKEN", "t")]);
    assert_eq!(credentials_from_env(with_token), Ok(Some(creds("a", "s", Some("t")))));
    let empty_token = env(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_SESSION_TOKEN", "")]);
    assert_eq!(credentials_from_env(empty_token), Ok(Some(creds("a", "s", None))));
    assert!(matches!(
        credentials_from_env(env(&[("AWS_ACCESS_KEY_ID", "a")])),
        Err(CredentialsError::Incomplete { .. })
    ));
    assert!(credentials_from_env(env(&[("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_ACCESS_KEY_ID", " ")])).is_err());
}

const FILE: &str = "
# comment
; another comment
[default]
aws_access_key_id=AKDEFAULT
aws_secret_access_key = sk/default+x==
  region = eu-west-1

[ prod ]   # trailing comment
\tAWS_ACCESS_KEY_ID   =   AKPROD\t
aws_secret_access_key=skprod
aws_session_token = tok=en==
s3 =
  max_concurrent_requests = 10

[partial]
aws_access_key_id = only

[sso]
sso_start_url = https://example.com/start

[default]
aws_secret_access_key = overridden
";

#[test]
fn shared_file_profiles() {
    assert_eq!(credentials_from_shared_file(FILE, "default"), Ok(Some(creds("AKDEFAULT", "overridden", None))));
    assert_eq!(credentials_from_shared_file(FILE, "prod"), Ok(Some(creds("AKPROD", "skprod", Some("tok=en==")))));
    assert_eq!(credentials_from_shared_file(FILE, "sso"), Ok(None));
    assert_eq!(credentials_from_shared_file(FILE, "missing"), Ok(None));
    assert!(matches!(credentials_from_shared_file(FILE, "partial"), Err(CredentialsError::Incomplete { .. })));
    assert_eq!(credentials_from_shared_file("", "default"), Ok(None));
    assert_eq!(
        credentials_from_shared_file("[default]\r\naws_access_key_id=a\r\naws_secret_access_key=s\r\n", "default"),
        Ok(Some(creds("a", "s", None)))
    );
}

#[test]
fn shared_file_errors_do_not_leak() {
    assert_eq!(
        credentials_from_shared_file("[default]\nsecret-without-equals\n", "default"),
        Err(CredentialsError::Parse { line: 2 })
    );
    assert_eq!(
        credentials_from_shared_file("aws_access_key_id=a\n[default]\n", "default"),
        Err(CredentialsError::Parse { line: 1 })
    );
    assert_eq!(credentials_from_shared_file("[default\n", "default"), Err(CredentialsError::Parse { line: 1 }));
    let e = credentials_from_shared_file("[x]\nSECRETVALUE\n", "x").unwrap_err();
    assert!(!e.to_string().contains("SECRETVALUE"));
}

#[test]
fn location_and_chain() {
    let l = shared_credentials_location(env(&[("HOME", "/home/u")]));
    assert_eq!(l, Some((PathBuf::from("/home/u/.aws/credentials"), "default".to_owned())));
    let l = shared_credentials_location(env(&[
        ("HOME", "/h"),
        ("AWS_SHARED_CREDENTIALS_FILE", "~/c"),
        ("AWS_PROFILE", "p"),
    ]));
    assert_eq!(l, Some((PathBuf::from("/h/c"), "p".to_owned())));
    assert_eq!(
        shared_credentials_location(env(&[("AWS_SHARED_CREDENTIALS_FILE", "/etc/c")])).map(|l| l.0),
        Some(PathBuf::from("/etc/c"))
    );
    assert_eq!(shared_credentials_location(env(&[])), None);

    let dir = std::env::temp_dir().join(format!("s3-creds-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("credentials");
    std::fs::write(&file, FILE).unwrap();
    let f = file.to_str().unwrap();
    assert_eq!(
        resolve_credentials(env(&[("AWS_SHARED_CREDENTIALS_FILE", f), ("AWS_PROFILE", "prod")])),
        Ok(creds("AKPROD", "skprod", Some("tok=en==")))
    );
    let both = env(&[("AWS_SHARED_CREDENTIALS_FILE", f), ("AWS_ACCESS_KEY_ID", "e"), ("AWS_SECRET_ACCESS_KEY", "s")]);
    assert_eq!(resolve_credentials(both), Ok(creds("e", "s", None)));
    let missing = dir.join("nope");
    assert_eq!(
        resolve_credentials(env(&[("AWS_SHARED_CREDENTIALS_FILE", missing.to_str().unwrap())])),
        Ok(Credentials::Anonymous)
    );
    assert!(matches!(
        credentials_from_shared_file_env(env(&[("AWS_SHARED_CREDENTIALS_FILE", dir.to_str().unwrap())])),
        Err(CredentialsError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
