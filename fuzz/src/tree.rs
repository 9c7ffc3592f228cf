//! The scratch tree every host starts from, and snapshots of what a
//! sequence left there.
//!
//! Each host gets a directory holding `root/` (preopened as `/sandbox`,
//! descriptor 3, and its `dir/` as `/sandbox/dir`, descriptor 4) and
//! `outside/`, which symlinks in `root/` point to: nothing a guest does may
//! change it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::io::{self, Read};
use std::os::unix::fs::symlink;
use std::path::Path;

/// The preopens: guest name and path beneath the host's scratch directory,
/// as descriptors 3, 4, ...
pub const PREOPENS: [(&str, &str); 2] = [("/sandbox", "root"), ("/sandbox/dir", "root/dir")];

/// What the initial tree holds, beneath a host's scratch directory.
enum Entry {
    Dir(&'static str),
    File(&'static str, &'static [u8]),
    Link(&'static str, &'static str),
}

const INITIAL: &[Entry] = &[
    Entry::Dir("root"),
    Entry::File("root/file", b"hello, world\n"),
    Entry::File("root/empty", b""),
    Entry::Dir("root/dir"),
    Entry::File("root/dir/nested", b"nested file\n"),
    Entry::Dir("root/dir/sub"),
    Entry::File("root/dir/sub/deep", b"deep\n"),
    Entry::Link("root/dir/up", "../file"),
    Entry::Link("root/link", "file"),
    Entry::Link("root/chain", "link"),
    Entry::Link("root/dirlink", "dir"),
    Entry::Link("root/dangling", "missing"),
    Entry::Link("root/escape", "../outside/secret"),
    Entry::Link("root/absolute", "/etc/hostname"),
    Entry::Link("root/loop", "loop"),
    Entry::Dir("outside"),
    Entry::File("outside/secret", b"secret\n"),
];

/// Names found in the initial tree, for generating paths.
pub const NAMES: &[&str] = &[
    "file", "empty", "dir", "nested", "sub", "deep", "up", "link", "chain", "dirlink", "dangling",
    "escape", "absolute", "loop", "missing", "outside", "secret",
];

/// Names of the symlinks of the initial tree.
pub const LINKS: &[&str] = &[
    "up", "link", "chain", "dirlink", "dangling", "escape", "absolute", "loop",
];

/// Creates the initial tree in `dir` (which must exist and be empty).
pub fn create(dir: &Path) -> io::Result<()> {
    for entry in INITIAL {
        match *entry {
            Entry::Dir(path) => fs::create_dir(dir.join(path))?,
            Entry::File(path, contents) => fs::write(dir.join(path), contents)?,
            Entry::Link(path, target) => symlink(target, dir.join(path))?,
        }
    }
    Ok(())
}

/// The initial tree as a shell script, for reproducing a failure by hand.
pub fn script() -> String {
    let mut script = String::new();
    for entry in INITIAL {
        let line = match *entry {
            Entry::Dir(path) => format!("mkdir {path}"),
            Entry::File(path, contents) => {
                let text = String::from_utf8_lossy(contents).replace('\n', "\\n");
                format!("printf '{text}' > {path}")
            }
            Entry::Link(path, target) => format!("ln -s {target} {path}"),
        };
        script.push_str(&line);
        script.push('\n');
    }
    script
}

/// Bytes of a file's contents that a snapshot keeps (files can be sparse and
/// huge: the rest is only hashed up to [`HASHED`]).
const KEPT: usize = 256;
/// Bytes of a file's contents that a snapshot hashes.
const HASHED: u64 = 1 << 20;

/// What a snapshot records of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file: its size, its first bytes and a hash of its first MiB.
    File {
        /// Size in bytes.
        size: u64,
        /// The first 256 bytes (`KEPT`).
        head: Vec<u8>,
        /// Hash of the first MiB (`HASHED` bytes).
        hash: u64,
    },
    /// A symlink and its target.
    Link(Vec<u8>),
    /// Anything else (never made by the fuzzer's calls).
    Other,
}

/// The files beneath a directory, by relative path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree(pub BTreeMap<String, Node>);

/// Records what is beneath `dir`.
pub fn snapshot(dir: &Path) -> io::Result<Tree> {
    let mut tree = Tree::default();
    walk(dir, "", &mut tree)?;
    Ok(tree)
}

fn walk(dir: &Path, prefix: &str, tree: &mut Tree) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let kind = entry.file_type()?;
        let node = if kind.is_dir() {
            walk(&entry.path(), &format!("{name}/"), tree)?;
            Node::Dir
        } else if kind.is_file() {
            let size = entry.metadata()?.len();
            let mut contents = Vec::new();
            fs::File::open(entry.path())?
                .take(HASHED)
                .read_to_end(&mut contents)?;
            let mut hasher = DefaultHasher::new();
            hasher.write(&contents);
            contents.truncate(KEPT);
            Node::File {
                size,
                head: contents,
                hash: hasher.finish(),
            }
        } else if kind.is_symlink() {
            use std::os::unix::ffi::OsStrExt;
            Node::Link(fs::read_link(entry.path())?.as_os_str().as_bytes().to_vec())
        } else {
            Node::Other
        };
        tree.0.insert(name, node);
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Dir => f.write_str("directory"),
            Node::File { size, head, .. } => {
                let mut text = String::new();
                crate::calls::print_bytes(&mut text, head);
                write!(f, "file of {size} bytes {text}")
            }
            Node::Link(target) => {
                let mut text = String::new();
                crate::calls::print_bytes(&mut text, target);
                write!(f, "symlink to {text}")
            }
            Node::Other => f.write_str("special file"),
        }
    }
}

impl Tree {
    /// The differences from `other`, one line each (`None` when equal).
    pub fn diff(&self, other: &Tree, mine: &str, theirs: &str) -> Option<String> {
        let mut lines = Vec::new();
        let names: std::collections::BTreeSet<_> = self.0.keys().chain(other.0.keys()).collect();
        for name in names {
            let (a, b) = (self.0.get(name), other.0.get(name));
            if a != b {
                let show = |n: Option<&Node>| n.map_or("absent".to_owned(), |n| n.to_string());
                lines.push(format!(
                    "  {name}: {mine}: {}; {theirs}: {}",
                    show(a),
                    show(b)
                ));
            }
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_see_the_initial_tree() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path()).unwrap();
        let tree = snapshot(dir.path()).unwrap();
        assert_eq!(tree.0.len(), INITIAL.len());
        assert_eq!(tree.0["root/link"], Node::Link(b"file".to_vec()));
        assert!(matches!(&tree.0["root/file"], Node::File { size: 13, .. }));
        let mut changed = tree.clone();
        changed.0.remove("root/empty");
        assert_eq!(
            tree.diff(&changed, "a", "b").unwrap(),
            "  root/empty: a: file of 0 bytes \"\"; b: absent"
        );
        assert_eq!(tree.diff(&tree, "a", "b"), None);
    }

    #[test]
    fn every_name_is_in_the_tree() {
        for name in NAMES {
            let known = INITIAL.iter().any(|e| {
                let path = match e {
                    Entry::Dir(p) | Entry::File(p, _) | Entry::Link(p, _) => *p,
                };
                path.rsplit('/').next() == Some(name)
            });
            assert!(known || *name == "missing", "{name}");
        }
    }
}
