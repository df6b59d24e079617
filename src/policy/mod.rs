//! Caching rules as pure functions: inputs are request/response parts and
//! `now`; no IO, no clock reads. Each rule cites its RFC section.

pub mod cache_control;
pub mod forward_policy;
pub mod freshness;
pub mod headers;
pub mod key_policy;
pub mod storable;
