//! Unit tests of `key_policy`.
