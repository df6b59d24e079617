//! Which endpoint of a multi-endpoint origin takes a fetch: pure choices
//! over weights, the endpoints a fetch may use, and (for consistent
//! hashing) the cache key's hash. No clock, no IO; `endpoints.rs` holds
//! the state they are given.

/// How an origin with several endpoints spreads its fetches.
///
/// ```
/// use tower_cdn::{Balance, Origin};
///
/// let shield = Origin::http_endpoints([("http://10.0.0.1", 1), ("http://10.0.0.2", 1)])
///     .balance(Balance::ConsistentHash);
/// # let _ = shield;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Balance {
    /// Smooth weighted round-robin, as nginx's upstreams: an endpoint of
    /// weight 2 takes two fetches for every one of a weight-1 endpoint,
    /// interleaved rather than in bursts. The default.
    #[default]
    RoundRobin,
    /// The endpoint with the fewest fetches in flight (head to end of
    /// body), relative to its weight; a slow endpoint gets fewer.
    LeastOutstanding,
    /// By the cache key: a key always goes to the same endpoint while it
    /// is healthy, and removing an endpoint moves only its own keys
    /// (weighted rendezvous hashing). Put in front of a tier of shields or
    /// caches, each object is then held by one of them only.
    ConsistentHash,
}

/// The hash of a fetch's cache key, set by the request flow as a request
/// extension, so that consistent hashing follows the key (not the raw
/// path, which the key may normalise). A fetch without one (a request
/// passed through uncached) hashes its path and query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BalanceKey(pub(crate) u64);

impl BalanceKey {
    /// The key for a cache key (or any text).
    pub(crate) fn of(text: &str) -> Self {
        BalanceKey(hash64(text.as_bytes()))
    }
}

/// FNV-1a with a final avalanche (murmur3's `fmix64`): stable across
/// builds, platforms and restarts, so every edge of a fleet sends a key to
/// the same endpoint (std's `DefaultHasher` promises no such thing).
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fmix64(h)
}

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// Smooth weighted round-robin (nginx's `ngx_http_upstream_get_peer`):
/// every eligible endpoint's `current` grows by its weight, the largest
/// wins and gives back the eligible total. Over any run of `sum(weights)`
/// picks with the same eligible set, each endpoint is picked exactly
/// `weight` times.
pub(crate) fn smooth_wrr(current: &mut [i64], weights: &[u32], eligible: impl Fn(usize) -> bool) -> Option<usize> {
    let mut total = 0i64;
    let mut best: Option<usize> = None;
    for (i, w) in weights.iter().enumerate() {
        if !eligible(i) {
            continue;
        }
        current[i] += i64::from(*w);
        total += i64::from(*w);
        if best.is_none_or(|b| current[i] > current[b]) {
            best = Some(i);
        }
    }
    let best = best?;
    current[best] -= total;
    Some(best)
}

/// The eligible endpoint with the fewest fetches in flight per unit of
/// weight; ties go to the first at or after `start` (a rotating offset, so
/// idle endpoints share the work).
pub(crate) fn least_outstanding(
    in_flight: &[usize],
    weights: &[u32],
    start: usize,
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    let n = weights.len();
    let mut best: Option<usize> = None;
    for i in (0..n).map(|k| (start + k) % n) {
        if !eligible(i) {
            continue;
        }
        // load_i / w_i < load_b / w_b, without division.
        let better = best.is_none_or(|b| {
            (in_flight[i] as u128) * u128::from(weights[b]) < (in_flight[b] as u128) * u128::from(weights[i])
        });
        if better {
            best = Some(i);
        }
    }
    best
}

/// Weighted rendezvous (highest random weight) hashing: each endpoint
/// scores `-weight / ln(u)`, `u` uniform in (0, 1) from the key and the
/// endpoint's own hash; the highest eligible score wins. The winner among
/// a set depends only on that set, so removing an endpoint moves only the
/// keys it held, and each endpoint gets a share proportional to its weight.
pub(crate) fn rendezvous(key: u64, ids: &[u64], weights: &[u32], eligible: impl Fn(usize) -> bool) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, (id, w)) in ids.iter().zip(weights).enumerate() {
        if !eligible(i) {
            continue;
        }
        let h = fmix64(key ^ id.rotate_left(17)).wrapping_add(*id);
        let h = fmix64(h);
        // 53 bits into (0, 1): never 0, never 1.
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let score = -f64::from(*w) / u.ln();
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_wrr_interleaves_by_weight_as_nginx_does() {
        // nginx's documented sequence for weights 5, 1, 1: a a b a c a a.
        let mut current = vec![0; 3];
        let seq: Vec<usize> = (0..7).map(|_| smooth_wrr(&mut current, &[5, 1, 1], |_| true).unwrap()).collect();
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(current, [0, 0, 0], "a full cycle returns to the start");
        // Weights 3, 2, 1: exact counts in every cycle of 6.
        let mut current = vec![0; 3];
        let mut counts = [0; 3];
        for _ in 0..60 {
            counts[smooth_wrr(&mut current, &[3, 2, 1], |_| true).unwrap()] += 1;
        }
        assert_eq!(counts, [30, 20, 10]);
    }

    #[test]
    fn smooth_wrr_skips_what_is_not_eligible() {
        let mut current = vec![0; 3];
        let seq: Vec<usize> = (0..4).map(|_| smooth_wrr(&mut current, &[1, 1, 1], |i| i != 1).unwrap()).collect();
        assert_eq!(seq, [0, 2, 0, 2]);
        assert_eq!(smooth_wrr(&mut current, &[1, 1, 1], |_| false), None);
    }

    #[test]
    fn least_outstanding_prefers_the_idlest_per_weight() {
        assert_eq!(least_outstanding(&[3, 0, 1], &[1, 1, 1], 0, |_| true), Some(1));
        // 4 in flight on weight 4 beats 2 on weight 1.
        assert_eq!(least_outstanding(&[2, 4], &[1, 4], 0, |_| true), Some(1));
        // Ties rotate with the offset.
        assert_eq!(least_outstanding(&[0, 0, 0], &[1, 1, 1], 2, |_| true), Some(2));
        assert_eq!(least_outstanding(&[0, 0, 0], &[1, 1, 1], 2, |i| i != 2), Some(0));
        assert_eq!(least_outstanding(&[0], &[1], 0, |_| false), None);
    }

    fn ids(n: usize) -> Vec<u64> {
        (0..n).map(|i| hash64(format!("http://10.0.0.{i}").as_bytes())).collect()
    }

    #[test]
    fn rendezvous_spreads_keys_by_weight() {
        let ids = ids(3);
        let weights = [1, 1, 2];
        let mut counts = [0usize; 3];
        for k in 0..40_000 {
            let key = hash64(format!("/objects/{k}").as_bytes());
            counts[rendezvous(key, &ids, &weights, |_| true).unwrap()] += 1;
        }
        // Expected 10k, 10k, 20k; allow 5%.
        for (got, want) in counts.iter().zip([10_000.0, 10_000.0, 20_000.0]) {
            assert!((*got as f64 - want).abs() < want * 0.05, "{counts:?}");
        }
    }

    #[test]
    fn removing_an_endpoint_moves_only_its_keys() {
        let ids = ids(4);
        let weights = [1, 2, 1, 1];
        let mut moved = 0;
        for k in 0..10_000 {
            let key = hash64(format!("/k/{k}").as_bytes());
            let before = rendezvous(key, &ids, &weights, |_| true).unwrap();
            let after = rendezvous(key, &ids, &weights, |i| i != 1).unwrap();
            if before == 1 {
                moved += 1;
                assert_ne!(after, 1);
            } else {
                assert_eq!(before, after, "key {k} moved although its endpoint stayed");
            }
            assert_eq!(rendezvous(key, &ids, &weights, |_| true), Some(before), "the same key, the same endpoint");
        }
        assert!((3_500..4_500).contains(&moved), "weight 2 of 5 holds about 40%: {moved}");
    }

    #[test]
    fn the_hash_is_stable() {
        // Pinned: every edge of a fleet (and every release) must agree.
        assert_eq!(hash64(b""), fmix64(0xcbf2_9ce4_8422_2325));
        assert_eq!(BalanceKey::of("/a"), BalanceKey::of("/a"));
        assert_ne!(BalanceKey::of("/a"), BalanceKey::of("/b"));
    }
}
