//! [`AltSvcLayer`]: advertises the HTTP/3 endpoint on TCP responses
//! (RFC 7838, RFC 9114 §3.1.1), so browsers try QUIC on their next request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::{ALT_SVC, HeaderValue};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// How long clients may remember the advertisement (`ma`, seconds): a day,
/// as CloudFront and most CDNs send.
pub const ALT_SVC_MAX_AGE_SECS: u32 = 86_400;

/// Adds `alt-svc: h3=":PORT"; ma=86400` to every response that has no
/// `Alt-Svc` of its own. Apply it to the TCP (HTTP/1.1 and HTTP/2)
/// service only, and only while HTTP/3 is served on `PORT`: an HTTP/3
/// response advertising itself would be noise.
#[derive(Debug, Clone)]
pub struct AltSvcLayer {
    value: HeaderValue,
}

impl AltSvcLayer {
    /// Advertises HTTP/3 on `port` of the same host.
    #[must_use]
    pub fn new(port: u16) -> Self {
        let text = format!("h3=\":{port}\"; ma={ALT_SVC_MAX_AGE_SECS}");
        // Digits, quotes, colons and spaces only: always a valid value.
        let value = HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("clear"));
        AltSvcLayer { value }
    }

    /// The header value this layer adds.
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }
}

impl<S> Layer<S> for AltSvcLayer {
    type Service = AltSvc<S>;

    fn layer(&self, inner: S) -> AltSvc<S> {
        AltSvc { inner, value: self.value.clone() }
    }
}

/// The service made by [`AltSvcLayer`].
#[derive(Debug, Clone)]
pub struct AltSvc<S> {
    inner: S,
    value: HeaderValue,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for AltSvc<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = AltSvcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        AltSvcFuture { inner: self.inner.call(req), value: Some(self.value.clone()) }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`AltSvc`].
    pub struct AltSvcFuture<F> {
        #[pin]
        inner: F,
        value: Option<HeaderValue>,
    }
}

impl<F, B, E> Future for AltSvcFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = ready!(this.inner.poll(cx))?;
        if let Some(value) = this.value.take() {
            resp.headers_mut().entry(ALT_SVC).or_insert(value);
        }
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn adds_the_advertisement_unless_the_response_has_one() {
        let svc = AltSvcLayer::new(8443).layer(tower::service_fn(|req: Request<()>| async move {
            let mut resp = Response::new(());
            if req.uri().path() == "/own" {
                resp.headers_mut().insert(ALT_SVC, HeaderValue::from_static("clear"));
            }
            Ok::<_, std::convert::Infallible>(resp)
        }));
        let call = |path: &'static str| {
            let svc = svc.clone();
            async move { tower::ServiceExt::oneshot(svc, Request::get(path).body(()).unwrap()).await.unwrap() }
        };
        assert_eq!(call("/").await.headers()[ALT_SVC], "h3=\":8443\"; ma=86400");
        assert_eq!(call("/own").await.headers()[ALT_SVC], "clear");
    }
}
