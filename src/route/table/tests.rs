//! Unit tests of the routing table.
