//! Caching rules as pure functions: inputs are request/response parts and
//! `now`; no IO, no clock reads. Each rule cites its RFC section.

pub mod cache_control;
pub mod cdn_loop;
pub mod conditional;
pub mod forward_policy;
pub mod freshness;
pub mod headers;
pub mod host;
pub mod invalidation;
pub mod key_policy;
pub mod range;
pub mod response_headers;
pub mod reuse;
pub mod rewrite;
pub mod storable;
pub mod target;
pub mod targeted;
pub mod update;
pub mod vary;
pub mod wildcard;
