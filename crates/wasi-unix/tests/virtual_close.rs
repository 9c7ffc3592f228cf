//! `VirtualFile::close`: fd_close returns its error, and the descriptor is
//! closed all the same; a file dropped otherwise (fd_renumber) is not
//! closed through it.

use std::sync::{Arc, Mutex};
use wasi_core::system::prelude::*;
use wasi_core::vfs::{VirtualFds, VirtualFile};
use wasi_unix::UnixSystem;

/// Records its calls to `close` and its drop in `log`; `close` fails
/// with `errno` when given one.
struct Logged {
    name: &'static str,
    errno: Option<Errno>,
    log: Arc<Mutex<Vec<String>>>,
}

impl VirtualFile for Logged {
    fn filetype(&self) -> Filetype {
        Filetype::REGULAR_FILE
    }

    fn filestat(&mut self) -> Result<Filestat> {
        Ok(Filestat::default())
    }

    fn close(&mut self) -> Result<()> {
        self.log
            .lock()
            .unwrap()
            .push(format!("close {}", self.name));
        self.errno.map_or(Ok(()), Err)
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(format!("drop {}", self.name));
    }
}

#[test]
fn fd_close_returns_the_error_of_close_and_closes_the_descriptor() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut system = UnixSystem::builder().build().unwrap();
    let insert = |system: &mut UnixSystem, name, errno| {
        let file = Logged {
            name,
            errno,
            log: log.clone(),
        };
        VirtualFds::insert_virtual(
            system,
            Box::new(file),
            Rights::REGULAR_FILE,
            Rights::empty(),
            None,
        )
        .unwrap()
    };
    let ok = insert(&mut system, "ok", None);
    let failing = insert(&mut system, "failing", Some(Errno::IO));
    let replaced = insert(&mut system, "replaced", None);
    system.fd_close(ok).unwrap();
    assert_eq!(system.fd_close(failing), Err(Errno::IO));
    // Closed all the same.
    assert_eq!(system.fd_close(failing), Err(Errno::BADF));
    assert_eq!(system.fd_fdstat_get(failing).err(), Some(Errno::BADF));
    // Replaced by fd_renumber: dropped, not closed.
    let other = insert(&mut system, "other", None);
    system.fd_renumber(other, replaced).unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "close ok",
            "drop ok",
            "close failing",
            "drop failing",
            "drop replaced"
        ]
    );
}
