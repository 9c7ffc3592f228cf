//! Cloud platform services offered to WASI preview 1 modules as files in
//! their namespace (`spec/wasi-cloud.md`), served by the mount layer of
//! `wasi-core` (`wasi_core::mount`). One service for now:
//!
//! - [`kv`]: a key-value store. A file's name under `/beta/kv/local`,
//!   `/beta/kv/region` or `/beta/kv/global` is a key, its contents the
//!   value; [`kv::KvDir`] is the mount, over [`kv::KvStore`] backends (redb,
//!   Redis).
//!
//! The HTTP functions' `/request` and `/response` files and the server
//! behind `wasirun serve` are the `wasi-http-server` crate.

pub mod kv;
