//! IPv4/IPv6 CIDR ranges for the custom policy `IpAddress` condition.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address range such as `192.0.2.0/24` or `2001:db8::/32`.
///
/// A bare address means a single host (`/32` or `/128`). Host bits below the
/// prefix are ignored, as in `192.0.2.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Parse error for [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x:y::z/n` or a bare address.
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let err = |why: &str| CidrError(format!("invalid IP range {s:?}: {why}"));
        if s.len() > 64 {
            return Err(err("too long"));
        }
        let (addr_part, prefix_part) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_part.parse().map_err(|_| err("bad address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_part {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| err("bad prefix length"))?
            }
            Some(_) => return Err(err("bad prefix length")),
        };
        if prefix > max {
            return Err(err("prefix length too large"));
        }
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is inside the range. IPv4-mapped IPv6 client addresses
    /// (`::ffff:a.b.c.d`) are treated as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// The network address as written.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_ranges() {
        let c = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(c.contains(ip("192.0.2.0")));
        assert!(c.contains(ip("192.0.2.255")));
        assert!(!c.contains(ip("192.0.3.0")));
        assert!(c.contains(ip("::ffff:192.0.2.7")));
        assert!(!c.contains(ip("2001:db8::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        let single = Cidr::parse("192.0.2.10").unwrap();
        assert_eq!(single.to_string(), "192.0.2.10/32");
        assert!(single.contains(ip("192.0.2.10")));
        assert!(!single.contains(ip("192.0.2.11")));
        assert!(Cidr::parse("192.0.2.77/24").unwrap().contains(ip("192.0.2.1")));
    }

    #[test]
    fn ipv6_ranges() {
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        assert!(!c.contains(ip("192.0.2.1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
        assert_eq!(Cidr::parse("::1").unwrap().prefix(), 128);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "/",
            "1.2.3.4/",
            "1.2.3.4/33",
            "::/129",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "1.2.3.4/1000",
            "1.2.3/8",
            "01.2.3.4/8",
            "example.com/8",
            "1.2.3.4/8/8",
            " 1.2.3.4/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
        let long = "1".repeat(100);
        assert!(Cidr::parse(&long).unwrap_err().to_string().contains("too long"));
    }
}
