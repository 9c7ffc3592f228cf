//! Files the host writes in the output directory (commands 33, 35, 41;
//! spec §6, "Outputs"): each created beneath the directory under a fresh
//! name, never through a symbolic link, then renamed to its final name,
//! which replaces a link there rather than following it.

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io;
use std::path::Path;

/// Fresh names tried before giving up (each is 64 random bits: only a
/// directory filled on purpose makes a second try needed).
const TRIES: usize = 16;

/// A file being written in an output directory under a temporary name:
/// [`publish`](Self::publish) gives it its final name; dropped before, it
/// is removed.
pub(crate) struct Output {
    dir: OwnedFd,
    temporary: String,
    file: Option<File>,
}

impl Output {
    /// Creates an empty file of a fresh name (`.daku-HEX.tmp`) in `dir`,
    /// with `O_CREAT | O_EXCL | O_NOFOLLOW`: nothing that was there before,
    /// a symbolic link least of all, is opened.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let dir = rustix::fs::open(
            dir,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..TRIES {
            let temporary = fresh_name()?;
            match rustix::fs::openat(&dir, &temporary, flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => {
                    return Ok(Output {
                        dir,
                        temporary,
                        file: Some(File::from(fd)),
                    });
                }
                Err(Errno::EXIST) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        Err(io::Error::other(
            "no fresh file name in the output directory",
        ))
    }

    /// The file, to write.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("held until published")
    }

    /// Renames the file to `name` in its directory, replacing what has
    /// that name (a symbolic link itself, never its target); returns the
    /// file, still open for writing.
    pub fn publish(mut self, name: &str) -> io::Result<File> {
        rustix::fs::renameat(&self.dir, &self.temporary, &self.dir, name)?;
        Ok(self.file.take().expect("held until published"))
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Not published: the temporary file goes. Best effort: a
            // directory that is gone has nothing to clean.
            let _ = rustix::fs::unlinkat(&self.dir, &self.temporary, AtFlags::empty());
        }
    }
}

/// Writes a file called `name` in `dir` with `write`, beneath `dir` and
/// without following a symbolic link; returns it, still open.
pub(crate) fn write(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<File> {
    let mut output = Output::create(dir)?;
    write(output.file())?;
    output.publish(name)
}

/// `.daku-` then 16 random hex digits then `.tmp`.
fn fresh_name() -> io::Result<String> {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        filled +=
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(format!(".daku-{:016x}.tmp", u64::from_le_bytes(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn outputs_replace_symbolic_links_and_never_follow_them() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("name")).unwrap();
        let mut file = write(&out, "name", |file| file.write_all(b"new")).unwrap();
        file.write_all(b"er").unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        let meta = std::fs::symlink_metadata(out.join("name")).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(std::fs::read(out.join("name")).unwrap(), b"newer");
        // A directory of that name: an error, and no temporary file left.
        std::fs::create_dir(out.join("dir")).unwrap();
        assert!(write(&out, "dir", |_| Ok(())).is_err());
        // A failed write leaves nothing either.
        assert!(write(&out, "failed", |_| Err(io::Error::other("no"))).is_err());
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["dir", "name"]);
        assert_ne!(fresh_name().unwrap(), fresh_name().unwrap());
    }
}
