//! One fetch of an HTTP origin over its endpoints: pick one, send with the
//! response timeout, tell the endpoint's health how it went, and retry a
//! failed `GET`/`HEAD` once on another endpoint while the retry budget
//! allows.

use std::time::Instant;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response};
use http_body_util::Empty;

use super::balance::{BalanceKey, hash64};
use super::custom::CustomOrigin;
use super::limit::hold_until_end;
use crate::body::OriginBody;
use crate::error::OriginError;
use crate::origin::inner::HttpBody;

/// Whether an attempt's outcome counts against its endpoint (and may be
/// retried elsewhere): it could not be reached, timed out, or answered a
/// gateway failure (502, 503, 504; Envoy's "gateway failures"). Other 5xx
/// are the app's answer to that request, which a viewer can choose: they
/// must not take an endpoint out for everyone.
fn failed(result: &Result<Response<OriginBody>, OriginError>) -> bool {
    match result {
        Ok(resp) => matches!(resp.status().as_u16(), 502..=504),
        Err(e) => e.is_connect() || e.is_timeout(),
    }
}

impl CustomOrigin {
    /// Fetches from the endpoint the balance picks; see the module docs.
    pub(crate) async fn fetch_balanced<B>(
        &self,
        parts: Parts,
        body: B,
        forward_body: bool,
    ) -> Result<Response<OriginBody>, OriginError>
    where
        B: HttpBody,
    {
        self.start_checks();
        let pool = self.pool();
        // The cache key's hash when the flow set it; else the target's.
        let key = parts
            .extensions
            .get::<BalanceKey>()
            .map_or_else(|| hash64(parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).as_bytes()), |k| k.0);
        let now = Instant::now();
        pool.on_fetch(now);
        let Some(first) = pool.pick(key, None, now) else {
            return Err(OriginError::connect("the origin has no endpoint"));
        };
        let idempotent = matches!(parts.method, Method::GET | Method::HEAD);
        if !idempotent || pool.len() < 2 {
            return self.attempt(first, parts, body, forward_body).await;
        }
        // GET and HEAD forward no body (RFC 9110 §9.3.1), so a retry can
        // send the same request again.
        let again = parts.clone();
        let result = self.attempt(first, parts, Empty::<Bytes>::new(), false).await;
        if !failed(&result) {
            return result;
        }
        let now = Instant::now();
        let Some(second) = pool.pick(key, Some(first), now) else { return result };
        if !pool.try_retry(now) {
            return result;
        }
        match &result {
            Ok(resp) => {
                tracing::debug!(status = %resp.status(), endpoint = %pool.endpoint(second).display(), "retrying on another endpoint")
            }
            Err(e) => {
                tracing::debug!(error = %e, endpoint = %pool.endpoint(second).display(), "retrying on another endpoint")
            }
        }
        drop(result);
        self.attempt(second, again, Empty::<Bytes>::new(), false).await
    }

    /// One attempt at endpoint `i`, counted in flight until its body ends.
    async fn attempt<B>(
        &self,
        i: usize,
        parts: Parts,
        body: B,
        forward_body: bool,
    ) -> Result<Response<OriginBody>, OriginError>
    where
        B: HttpBody,
    {
        let pool = self.pool();
        let endpoint = pool.endpoint(i);
        let in_flight = pool.begin(i);
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
        let fut = self.fetch(i, parts, body, forward_body);
        let result = match tokio::time::timeout(self.response_timeout(), fut).await {
            Ok(result) => result,
            Err(_) => {
                let err = OriginError::timeout("no response head in time");
                self.failures().warn(&format!("{}{path_and_query}", endpoint.display()), &err, None);
                Err(err)
            }
        };
        pool.on_outcome(i, failed(&result), Instant::now());
        result.map(|resp| hold_until_end(resp, in_flight))
    }
}
