//! The TOML file's shape, as serde types. Unknown keys are errors
//! everywhere (`deny_unknown_fields`); sizes and durations are human
//! strings (`"256MiB"`, `"24h"`) or plain numbers (bytes, seconds).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::units::{parse_duration, parse_size};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSchema {
    pub(crate) listen: Option<String>,
    pub(crate) admin: Option<String>,
    pub(crate) admin_token: Option<String>,
    pub(crate) access_log: Option<AccessLogSchema>,
    pub(crate) capacity: Option<Size>,
    pub(crate) max_object_size: Option<Size>,
    pub(crate) slice_size: Option<Size>,
    pub(crate) default_ttl: Option<Dur>,
    pub(crate) min_ttl: Option<Dur>,
    pub(crate) max_ttl: Option<Dur>,
    pub(crate) error_caching_min_ttl: Option<Dur>,
    pub(crate) stale_while_revalidate: Option<Dur>,
    pub(crate) stale_if_error: Option<Dur>,
    pub(crate) stale_if_unreachable: Option<Dur>,
    pub(crate) viewer_scheme: Option<String>,
    #[serde(default)]
    pub(crate) key_groups: BTreeMap<String, KeyGroupSchema>,
    #[serde(default)]
    pub(crate) cache_policies: BTreeMap<String, CachePolicySchema>,
    #[serde(default)]
    pub(crate) origin_request_policies: BTreeMap<String, OriginRequestPolicySchema>,
    #[serde(default)]
    pub(crate) response_headers_policies: BTreeMap<String, super::response_headers::ResponseHeadersSchema>,
    #[serde(default)]
    pub(crate) distributions: Vec<DistributionSchema>,
    pub(crate) cache_name: Option<String>,
    pub(crate) edge_id: Option<String>,
    pub(crate) l2: Option<L2Schema>,
    pub(crate) disk: Option<DiskSchema>,
    pub(crate) telemetry: Option<TelemetrySchema>,
    pub(crate) tls: Option<super::tls::TlsSchema>,
}

/// `[telemetry]`: OpenTelemetry tracing (feature `otel`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TelemetrySchema {
    pub(crate) otlp_endpoint: String,
    pub(crate) service_name: Option<String>,
    pub(crate) sample_ratio: Option<f64>,
}

/// `[disk]`: the local disk tier.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiskSchema {
    pub(crate) dir: String,
    pub(crate) capacity: Option<Size>,
    pub(crate) max_object_size: Option<Size>,
}

/// `[l2]`: the shared Redis tier.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct L2Schema {
    pub(crate) url: Option<String>,
    pub(crate) cluster: Option<Vec<String>>,
    pub(crate) key_prefix: Option<String>,
    pub(crate) timeout: Option<Dur>,
    pub(crate) max_object_size: Option<Size>,
    pub(crate) chunk_size: Option<Size>,
    pub(crate) lock_ttl: Option<Dur>,
    pub(crate) lock_wait: Option<Dur>,
    pub(crate) log_interval: Option<Dur>,
    pub(crate) purge_log_len: Option<usize>,
    pub(crate) tls_ca_file: Option<String>,
    pub(crate) tls_cert_file: Option<String>,
    pub(crate) tls_key_file: Option<String>,
}

/// `[access_log]`: `path` (`-` for stdout) and `format`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessLogSchema {
    pub(crate) path: String,
    pub(crate) format: Option<LogFormatSchema>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormatSchema {
    Cloudfront,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DistributionSchema {
    pub(crate) id: String,
    pub(crate) enabled: Option<bool>,
    pub(crate) domain: Option<String>,
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    pub(crate) default_root_object: Option<String>,
    #[serde(default)]
    pub(crate) origins: BTreeMap<String, OriginSchema>,
    #[serde(default)]
    pub(crate) origin_groups: BTreeMap<String, GroupSchema>,
    #[serde(default)]
    pub(crate) behaviors: Vec<BehaviorSchema>,
    pub(crate) default_behavior: Option<BehaviorSchema>,
    #[serde(default)]
    pub(crate) custom_error_responses: Vec<ErrorResponseSchema>,
    /// The dev proxy's certificate for this distribution's names.
    pub(crate) tls: Option<super::tls::CertSchema>,
}

/// One custom error response (CloudFront's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErrorResponseSchema {
    pub(crate) error_code: u16,
    pub(crate) response_page_path: Option<String>,
    pub(crate) response_code: Option<u16>,
    pub(crate) error_caching_min_ttl: Option<Dur>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OriginKindSchema {
    Http,
    S3,
    App,
}

/// One origin. The settings a kind does not use are errors (checked when
/// converting, so the message can say which kind uses them).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OriginSchema {
    pub(crate) kind: OriginKindSchema,
    // http
    pub(crate) url: Option<String>,
    pub(crate) forward_host: Option<bool>,
    pub(crate) http2: Option<bool>,
    pub(crate) custom_headers: Option<BTreeMap<String, String>>,
    pub(crate) endpoints: Option<Vec<StrOrTable<EndpointSchema>>>,
    pub(crate) balance: Option<String>,
    pub(crate) health_check: Option<HealthCheckSchema>,
    pub(crate) eject_after: Option<u32>,
    pub(crate) ejection_time: Option<Dur>,
    pub(crate) retry_budget: Option<RetryBudgetSchema>,
    // s3
    pub(crate) bucket: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) path_style: Option<bool>,
    pub(crate) credentials: Option<StrOrTable<CredentialsTable>>,
    pub(crate) forbidden_as_not_found: Option<bool>,
    pub(crate) connect_to: Option<String>,
    // http and s3
    pub(crate) origin_path: Option<String>,
    pub(crate) connect_timeout: Option<Dur>,
    pub(crate) response_timeout: Option<Dur>,
    pub(crate) keepalive_timeout: Option<Dur>,
    pub(crate) max_idle_connections: Option<usize>,
    pub(crate) max_concurrent_requests: Option<usize>,
    pub(crate) concurrency_wait: Option<Dur>,
    /// http: TLS to an https:// origin.
    pub(crate) tls: Option<OriginTlsSchema>,
}

/// One of an http origin's `endpoints`: `{ url = "...", weight = 2 }`
/// (or the URL alone, of weight 1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointSchema {
    pub(crate) url: String,
    pub(crate) weight: Option<u32>,
}

/// `[distributions.origins.NAME.health_check]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthCheckSchema {
    pub(crate) path: String,
    pub(crate) interval: Option<Dur>,
    pub(crate) timeout: Option<Dur>,
    pub(crate) healthy_threshold: Option<u32>,
    pub(crate) unhealthy_threshold: Option<u32>,
    pub(crate) host: Option<String>,
    pub(crate) expected_status: Option<StatusesSchema>,
}

/// `200` or `"200-399"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum StatusesSchema {
    One(u16),
    Range(String),
}

/// `retry_budget = { ratio = 0.2, min_per_second = 3 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryBudgetSchema {
    pub(crate) ratio: Option<f64>,
    pub(crate) min_per_second: Option<u32>,
}

/// An http origin's `tls = { ca_file, cert_file, key_file, server_name, verify, min_version }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OriginTlsSchema {
    pub(crate) ca_file: Option<String>,
    pub(crate) cert_file: Option<String>,
    pub(crate) key_file: Option<String>,
    pub(crate) server_name: Option<String>,
    pub(crate) verify: Option<bool>,
    pub(crate) min_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialsTable {
    pub(crate) profile: Option<String>,
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<String>,
    pub(crate) session_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupSchema {
    pub(crate) primary: String,
    pub(crate) secondary: String,
    pub(crate) failover_statuses: Option<Vec<u16>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BehaviorSchema {
    pub(crate) path_pattern: Option<String>,
    pub(crate) origin: Option<String>,
    pub(crate) cache_policy: Option<StrOrTable<CachePolicySchema>>,
    pub(crate) origin_request_policy: Option<StrOrTable<OriginRequestPolicySchema>>,
    pub(crate) allowed_methods: Option<AllowedMethodsSchema>,
    /// Compress compressible responses for clients that accept gzip/br.
    #[serde(default)]
    pub(crate) compress: bool,
    pub(crate) trusted_keys: Option<Vec<TrustedKeySchema>>,
    pub(crate) trusted_key_groups: Option<Vec<String>>,
    /// A response headers policy's name (the file's, or a managed one).
    pub(crate) response_headers_policy: Option<String>,
    /// Rewrites and redirects.
    pub(crate) rewrite: Option<RewriteSchema>,
    pub(crate) viewer_protocol_policy: Option<ViewerProtocolSchema>,
}

/// A behavior's `viewer_protocol_policy` (CloudFront's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ViewerProtocolSchema {
    AllowAll,
    RedirectToHttps,
    HttpsOnly,
}

/// A behavior's `rewrite = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewriteSchema {
    #[serde(default)]
    pub(crate) redirects: Vec<RedirectSchema>,
    #[serde(default)]
    pub(crate) routes: Vec<RouteSchema>,
    pub(crate) strip_prefix: Option<String>,
    pub(crate) add_prefix: Option<String>,
    pub(crate) index: Option<String>,
    pub(crate) spa: Option<String>,
    #[serde(default)]
    pub(crate) sort_query: bool,
    #[serde(default)]
    pub(crate) drop_query: Vec<String>,
}

/// `{ host = "www.example.com", path = "/old/*", to = "https://example.com$path", status = 301 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedirectSchema {
    pub(crate) host: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) to: String,
    pub(crate) status: Option<u16>,
}

/// `{ cookie = "variant", value = "b", prefix = "/_b" }` or with `header`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteSchema {
    pub(crate) header: Option<String>,
    pub(crate) cookie: Option<String>,
    pub(crate) value: String,
    pub(crate) prefix: String,
}

/// A public key trusted for signed URLs: `{ id = "K...", pem_file = "k.pem" }`
/// or `{ id = "K...", pem = "-----BEGIN PUBLIC KEY-----..." }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrustedKeySchema {
    pub(crate) id: String,
    pub(crate) pem_file: Option<String>,
    pub(crate) pem: Option<String>,
}

/// `[key_groups.NAME]`: keys that behaviors trust by group name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyGroupSchema {
    pub(crate) keys: Vec<TrustedKeySchema>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AllowedMethodsSchema {
    GetHead,
    GetHeadOptions,
    All,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CachePolicySchema {
    pub(crate) min_ttl: Option<Dur>,
    pub(crate) default_ttl: Option<Dur>,
    pub(crate) max_ttl: Option<Dur>,
    pub(crate) query_strings: Option<StrOrTable<SelectTable>>,
    pub(crate) headers: Option<StrOrTable<SelectTable>>,
    pub(crate) cookies: Option<StrOrTable<SelectTable>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OriginRequestPolicySchema {
    pub(crate) headers: Option<StrOrTable<SelectTable>>,
    pub(crate) cookies: Option<StrOrTable<SelectTable>>,
    pub(crate) query_strings: Option<StrOrTable<SelectTable>>,
}

/// `{ only = [...] }` or `{ all_except = [...] }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectTable {
    pub(crate) only: Option<Vec<String>>,
    pub(crate) all_except: Option<Vec<String>>,
}

/// A value written either as a string (a name or keyword) or as a table.
#[derive(Debug, Clone)]
pub(crate) enum StrOrTable<T> {
    Str(String),
    Table(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StrOrTable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = StrOrTable<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrTable::Str(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(StrOrTable::Table)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A duration: `"24h"`, `"90s"`, `"365d"`, `"250ms"`, or seconds as a number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dur(pub(crate) Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"24h\" or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                u64::try_from(v)
                    .map(|s| Dur(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(Duration::from_secs(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size: `"256MiB"`, `"64m"`, `"100KB"`, or bytes as a number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Size(pub(crate) u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"256MiB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v).map(Size).map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
        }
        d.deserialize_any(V)
    }
}
