//! Choosing the certificate for a connection by its SNI name: a
//! distribution's own (exact names, then `*.` wildcards one label deep),
//! else the default one. Swapped whole on reload; open connections keep
//! what they were given.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The certificates by name.
#[derive(Default)]
pub(crate) struct Certs {
    pub(crate) exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` under `example.com`.
    pub(crate) wildcard: HashMap<String, Arc<CertifiedKey>>,
    pub(crate) default: Option<Arc<CertifiedKey>>,
}

impl Certs {
    /// Adds `cert` for `name` (a host name, or `*.` and a domain).
    pub(crate) fn add(&mut self, name: &str, cert: &Arc<CertifiedKey>) {
        let name = normalise(name);
        match name.strip_prefix("*.") {
            Some(domain) => self.wildcard.insert(domain.to_owned(), Arc::clone(cert)),
            None => self.exact.insert(name, Arc::clone(cert)),
        };
    }

    /// The certificate presented for `name` (`None`: no SNI).
    pub(crate) fn for_name(&self, name: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let Some(name) = name else { return self.default.as_ref() };
        let name = normalise(name);
        self.exact
            .get(&name)
            .or_else(|| name.split_once('.').and_then(|(_, domain)| self.wildcard.get(domain)))
            .or(self.default.as_ref())
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// rustls's certificate resolver over the current [`Certs`].
pub(crate) struct SniResolver {
    certs: ArcSwap<Certs>,
}

impl SniResolver {
    pub(crate) fn new(certs: Certs) -> Self {
        SniResolver { certs: ArcSwap::from_pointee(certs) }
    }

    /// Replaces every certificate; handshakes from now on see the new ones.
    pub(crate) fn swap(&self, certs: Certs) {
        self.certs.store(Arc::new(certs));
    }

    /// Whether a connection that presented the certificate for `sni` may
    /// serve a request for `host` (RFC 9110 §15.5.20: otherwise 421): the
    /// same certificate answers for both. Compared by identity, so a
    /// reload in between makes a request misdirected, and the client
    /// retries on a new connection.
    pub(crate) fn same_certificate(&self, sni: Option<&str>, host: &str) -> bool {
        if sni.is_some_and(|s| s.eq_ignore_ascii_case(host)) {
            return true;
        }
        let certs = self.certs.load();
        match (certs.for_name(sni), certs.for_name(Some(host))) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let certs = self.certs.load();
        f.debug_struct("SniResolver")
            .field("names", &certs.exact.len())
            .field("wildcards", &certs.wildcard.len())
            .field("default", &certs.default.is_some())
            .finish()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let cert = self.certs.load().for_name(hello.server_name()).cloned();
        if cert.is_none() {
            tracing::debug!(sni = ?hello.server_name(), "TLS handshake refused: no certificate for this name");
        }
        cert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(n: u8) -> Arc<CertifiedKey> {
        use rustls::sign::SigningKey;
        #[derive(Debug)]
        struct NoKey;
        impl SigningKey for NoKey {
            fn choose_scheme(&self, _: &[rustls::SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
                None
            }
            fn algorithm(&self) -> rustls::SignatureAlgorithm {
                rustls::SignatureAlgorithm::ED25519
            }
        }
        Arc::new(CertifiedKey::new(vec![rustls::pki_types::CertificateDer::from(vec![n])], Arc::new(NoKey)))
    }

    #[test]
    fn exact_names_then_one_label_wildcards_then_the_default() {
        let (a, b, d) = (cert(1), cert(2), cert(3));
        let mut certs = Certs::default();
        certs.add("A.example", &a);
        certs.add("*.b.example", &b);
        certs.default = Some(Arc::clone(&d));
        let pick = |n: Option<&str>| certs.for_name(n).map(|c| c.cert[0].as_ref()[0]);
        assert_eq!(pick(Some("a.example.")), Some(1));
        assert_eq!(pick(Some("www.b.example")), Some(2));
        assert_eq!(pick(Some("x.www.b.example")), Some(3), "a wildcard covers one label");
        assert_eq!(pick(Some("b.example")), Some(3));
        assert_eq!(pick(None), Some(3));
        let resolver = SniResolver::new(certs);
        assert!(resolver.same_certificate(Some("www.b.example"), "api.b.example"));
        assert!(!resolver.same_certificate(Some("a.example"), "www.b.example"));
        assert!(resolver.same_certificate(Some("other.example"), "unknown.example"), "both get the default");
        resolver.swap(Certs::default());
        assert!(!resolver.same_certificate(Some("a.example"), "b.example"));
        assert!(resolver.same_certificate(Some("a.example"), "A.example"));
    }
}
