//! What the kernel knows of a TCP connection (`TCP_INFO`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// How long TCP connection `socket` has been idle: since data last went
/// either way (the kernel's `tcpi_last_data_recv` and
/// `tcpi_last_data_sent`, in milliseconds). Data the peer does not take
/// (a zero window) is not sent: a stalled connection is idle too.
pub fn tcp_idle(socket: BorrowedFd<'_>) -> io::Result<Duration> {
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `socket` is a live descriptor for the call; `info` points to
    // `len` writable bytes, and the kernel writes at most `len` of them
    // (fewer on an older kernel, the rest staying zero); `len` is a valid
    // in/out length.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed, then filled in part or whole by the kernel: every
    // field of `tcp_info` (integers) is valid at any bit pattern.
    let info = unsafe { info.assume_init() };
    let ms = info.tcpi_last_data_recv.min(info.tcpi_last_data_sent);
    Ok(Duration::from_millis(u64::from(ms)))
}

#[cfg(test)]
mod tests {
    use super::tcp_idle;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::time::Duration;

    #[test]
    fn idle_time_counts_from_the_last_data_either_way() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"x").unwrap();
        server.read_exact(&mut [0]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let idle = tcp_idle(server.as_fd()).unwrap();
        assert!(idle >= Duration::from_millis(250), "{idle:?}");
        server.write_all(b"y").unwrap();
        assert!(tcp_idle(server.as_fd()).unwrap() < Duration::from_millis(250));
        // Not a TCP socket.
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(tcp_idle(file.as_fd()).is_err());
    }
}
