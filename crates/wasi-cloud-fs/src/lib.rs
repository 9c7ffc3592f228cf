//! Cloud platform services offered to WASI preview 1 modules as files in
//! their namespace (`spec/wasi-cloud.md`), served by the mount layer of
//! `wasi-core` (`wasi_core::mount`).
//!
//! - [`kv`]: a key-value store. A file's name under `/beta/kv/local`,
//!   `/beta/kv/region` or `/beta/kv/global` is a key, its contents the
//!   value; [`kv::KvDir`] is the mount, over [`kv::KvStore`] backends (redb,
//!   Redis).
//! - [`http`]: HTTP functions. A guest reads its request from `/request/txt`
//!   or `/request/json` and writes its response to `/response/txt` or
//!   `/response/json`; the module's [`http::serve`] is the HTTP server
//!   behind `wasirun serve`.

pub mod http;
pub mod kv;
