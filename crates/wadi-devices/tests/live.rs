//! Descriptors an extension inserts through a [`Wadi`] stack land in the
//! inner system's table, beside WADI's own files.

use std::io::{IoSliceMut, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use wadi_devices::{HostFactory, Wadi};
use wasi_core::System;
use wasi_core::mount::Mounts;
use wasi_core::runtime::RuntimeConfig;
use wasi_core::types::*;
use wasi_core::vfs::VirtualFds;
use wasi_unix::UnixSystem;
use wasi_wasmi::WasmiRuntime;

#[test]
fn host_descriptors_go_through_wadi_to_the_inner_table() {
    let host: HostFactory = Box::new(|_| Err("no drivers in this test".into()));
    let inner = UnixSystem::builder().build().unwrap();
    let mut wadi = Wadi::new(
        Mounts::new(inner),
        WasmiRuntime::new(RuntimeConfig::default()),
        host,
    )
    .unwrap();

    let (guest, mut peer) = UnixStream::pair().unwrap();
    let fd = wadi
        .insert_host(OwnedFd::from(guest), Rights::all(), Rights::all())
        .unwrap();
    // Past the standard streams and WADI's `/dev` preopen.
    assert_eq!(fd, 4);
    let stat = wadi.fd_fdstat_get(fd).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::SOCKET_STREAM);
    assert_eq!(stat.fs_rights_base, Rights::SOCKET);
    assert_eq!(wadi.inner_mut().fd_fdstat_get(fd), Ok(stat));

    peer.write_all(b"ping").unwrap();
    let mut buf = [0u8; 8];
    let n = wadi.fd_read(fd, &mut [IoSliceMut::new(&mut buf)]).unwrap();
    assert_eq!(&buf[..n as usize], b"ping");
}
