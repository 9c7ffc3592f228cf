//! Lists a host directory the way a guest sees it, through a `UnixSystem`
//! that has it preopened, and shows that the guest cannot step out of it.
//!
//! ```text
//! cargo run -p wasi-unix --example sandbox_ls -- /some/dir
//! ```

use wasi_core::types::{Dirent, Fdflags, Filetype, Lookupflags, Oflags, Rights};
use wasi_core::{DirentWriter, System};
use wasi_unix::UnixSystem;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let mut sys = UnixSystem::builder().preopen_dir(&dir, "/dir")?.build()?;
    let root = 3;

    let mut cookie = 0;
    let mut buf = vec![0u8; 4096];
    loop {
        let mut out = DirentWriter::new(&mut buf);
        sys.fd_readdir(root, cookie, &mut out)?;
        let (used, full) = (out.len(), out.is_full());
        let mut at = 0;
        while at + size_of::<Dirent>() <= used {
            let header: Dirent = bytemuck_header(&buf[at..]);
            let name_start = at + size_of::<Dirent>();
            let name_end = name_start + header.d_namlen as usize;
            if name_end > used {
                // Truncated: read again from the last complete entry.
                break;
            }
            let name = String::from_utf8_lossy(&buf[name_start..name_end]);
            println!("{:<16} {name}", kind(header.d_type));
            cookie = header.d_next;
            at = name_end;
        }
        if !full {
            break;
        }
    }

    let escape = sys.path_open(
        root,
        Lookupflags::SYMLINK_FOLLOW,
        "../",
        Oflags::DIRECTORY,
        Rights::FD_READDIR,
        Rights::empty(),
        Fdflags::empty(),
    );
    println!("opening \"..\": {escape:?}");
    Ok(())
}

/// Decodes a `dirent` header from the start of `bytes` (little-endian).
fn bytemuck_header(bytes: &[u8]) -> Dirent {
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
    Dirent {
        d_next: u64_at(0),
        d_ino: u64_at(8),
        d_namlen: u32::from_le_bytes(bytes[16..20].try_into().unwrap()),
        d_type: Filetype(bytes[20]),
        ..Dirent::default()
    }
}

fn kind(filetype: Filetype) -> &'static str {
    filetype.name().unwrap_or("?")
}
