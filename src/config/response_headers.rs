//! `[response_headers_policies.NAME]` and a behavior's
//! `response_headers_policy = "NAME"` (or a managed policy's name).

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;

use super::schema::Dur;
use crate::error::ConfigError;
use crate::policy::response_headers::{AllowOrigins, Cors, ResponseHeadersPolicy};

/// A response headers policy in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResponseHeadersSchema {
    pub(crate) cors: Option<CorsSchema>,
    pub(crate) security: Option<SecuritySchema>,
    #[serde(default)]
    pub(crate) custom_headers: Vec<CustomHeaderSchema>,
    #[serde(default)]
    pub(crate) remove_headers: Vec<String>,
    #[serde(default)]
    pub(crate) server_timing: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CorsSchema {
    pub(crate) allow_origins: Vec<String>,
    pub(crate) allow_methods: Option<Vec<String>>,
    pub(crate) allow_headers: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) expose_headers: Vec<String>,
    #[serde(default)]
    pub(crate) allow_credentials: bool,
    pub(crate) max_age: Option<Dur>,
    #[serde(default, rename = "override")]
    pub(crate) override_origin: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecuritySchema {
    pub(crate) hsts: Option<HstsSchema>,
    pub(crate) content_type_options: Option<Overridable>,
    pub(crate) frame_options: Option<ValueSchema>,
    pub(crate) referrer_policy: Option<ValueSchema>,
    pub(crate) content_security_policy: Option<ValueSchema>,
    pub(crate) xss_protection: Option<ValueSchema>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HstsSchema {
    pub(crate) max_age: Dur,
    #[serde(default)]
    pub(crate) include_subdomains: bool,
    #[serde(default)]
    pub(crate) preload: bool,
    #[serde(default, rename = "override")]
    pub(crate) override_origin: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Overridable {
    #[serde(default, rename = "override")]
    pub(crate) override_origin: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValueSchema {
    pub(crate) value: String,
    #[serde(default, rename = "override")]
    pub(crate) override_origin: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomHeaderSchema {
    pub(crate) name: String,
    pub(crate) value: String,
    #[serde(default, rename = "override")]
    pub(crate) override_origin: bool,
}

fn name(at: &str, s: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(s.as_bytes()).map_err(|_| ConfigError::new(at, format!("{s:?} is not a header name")))
}

fn value(at: &str, s: &str) -> Result<(), ConfigError> {
    HeaderValue::from_str(s).map(drop).map_err(|_| ConfigError::new(at, format!("{s:?} is not a valid header value")))
}

/// Builds a policy from the file, every name and value checked.
pub(crate) fn policy(p: &ResponseHeadersSchema) -> Result<ResponseHeadersPolicy, ConfigError> {
    let mut out = ResponseHeadersPolicy::new();
    if let Some(c) = &p.cors {
        let any = c.allow_origins.iter().any(|o| o == "*");
        if any && c.allow_credentials {
            return Err(ConfigError::new(
                "cors.allow_credentials",
                "cannot be true with allow_origins = [\"*\"]: list the origins that get credentials",
            ));
        }
        let origins = if any {
            AllowOrigins::Any
        } else if c.allow_origins.is_empty() {
            return Err(ConfigError::new("cors.allow_origins", "list at least one origin, or \"*\""));
        } else {
            AllowOrigins::List(c.allow_origins.clone())
        };
        let mut cors = Cors::new(origins).allow_credentials(c.allow_credentials).override_origin(c.override_origin);
        match &c.allow_methods {
            Some(m) if m.iter().any(|m| m == "ALL" || m == "*") => cors = cors.any_method(),
            Some(m) => {
                let methods = m
                    .iter()
                    .map(|s| {
                        Method::from_bytes(s.as_bytes())
                            .map_err(|_| ConfigError::new("cors.allow_methods", format!("{s:?} is not a method")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                cors = cors.allow_methods(methods);
            }
            None => {}
        }
        match &c.allow_headers {
            Some(h) if h.iter().any(|h| h == "*") => cors = cors.any_header(),
            Some(h) => {
                cors = cors.allow_headers(
                    h.iter()
                        .map(|s| name("cors.allow_headers", &s.to_ascii_lowercase()))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            None => {}
        }
        cors = cors.expose_headers(
            c.expose_headers.iter().map(|s| name("cors.expose_headers", s)).collect::<Result<Vec<_>, _>>()?,
        );
        if let Some(age) = &c.max_age {
            cors = cors.max_age(age.0);
        }
        out = out.cors(cors);
    }
    if let Some(s) = &p.security {
        if let Some(h) = &s.hsts {
            out = out.hsts(h.max_age.0, h.include_subdomains, h.preload, h.override_origin);
        }
        if let Some(o) = &s.content_type_options {
            out = out.content_type_options(o.override_origin);
        }
        if let Some(v) = &s.frame_options {
            let deny = match v.value.to_ascii_uppercase().as_str() {
                "DENY" => true,
                "SAMEORIGIN" => false,
                _ => return Err(ConfigError::new("security.frame_options.value", "DENY or SAMEORIGIN")),
            };
            out = out.frame_options(deny, v.override_origin);
        }
        if let Some(v) = &s.referrer_policy {
            value("security.referrer_policy.value", &v.value)?;
            out = out.referrer_policy(&v.value, v.override_origin);
        }
        if let Some(v) = &s.content_security_policy {
            value("security.content_security_policy.value", &v.value)?;
            out = out.content_security_policy(&v.value, v.override_origin);
        }
        if let Some(v) = &s.xss_protection {
            value("security.xss_protection.value", &v.value)?;
            out = out.xss_protection(&v.value, v.override_origin);
        }
    }
    let reserved = |at: &str, n: &str| {
        if crate::policy::response_headers::is_reserved(n) {
            return Err(ConfigError::new(
                at,
                format!(
                    "{n:?} is reserved (framing, connection, CORS and the edge's own fields cannot be set or removed here)"
                ),
            ));
        }
        Ok(())
    };
    for (i, h) in p.custom_headers.iter().enumerate() {
        let at = format!("custom_headers[{i}]");
        name(&format!("{at}.name"), &h.name)?;
        reserved(&format!("{at}.name"), &h.name)?;
        value(&format!("{at}.value"), &h.value)?;
        out = out.header(&h.name, &h.value, h.override_origin);
    }
    for (i, h) in p.remove_headers.iter().enumerate() {
        name(&format!("remove_headers[{i}]"), h)?;
        reserved(&format!("remove_headers[{i}]"), h)?;
        out = out.remove(h);
    }
    Ok(out.server_timing(p.server_timing))
}

/// The policy a behavior names: one of the file's, or a managed one.
pub(crate) fn named(
    name: &str,
    defined: &BTreeMap<String, ResponseHeadersSchema>,
) -> Result<ResponseHeadersPolicy, ConfigError> {
    if let Some(p) = defined.get(name) {
        return policy(p).map_err(|e| e.within(&format!("response_headers_policies.{name}")));
    }
    ResponseHeadersPolicy::managed(name).ok_or_else(|| {
        ConfigError::new(
            "response_headers_policy",
            format!(
                "no response headers policy named {name:?} (define it under [response_headers_policies.{name}], or use a managed one: {})",
                crate::policy::response_headers::MANAGED_POLICIES.join(", ")
            ),
        )
    })
}
