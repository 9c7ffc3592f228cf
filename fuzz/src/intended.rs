//! The intended divergences from wasmtime-wasi: the one place where they
//! are listed, each with the rule of `spec/preview1.md` that makes our host
//! differ (or the wasmtime-wasi behaviour that is wrong) and a predicate on
//! the call, both results and both descriptor tables that matches that
//! divergence and nothing else.

use wasi_core::types::{Errno, Rights};

use crate::calls::{Arg, Call, Func, IntKind, Out, Param, Sub, Value};
use crate::exec::CallResult;
use crate::hosts::{ARGS, ENV, Outcome};
use crate::model::{Descriptors, Object, bad_pointer};
use crate::tree::LINKS;

/// What a predicate sees of one call that differs.
pub struct Ctx<'a> {
    /// The call.
    pub call: &'a Call,
    /// The calls before it.
    pub history: &'a [Call],
    /// Their results on our host.
    pub ours_history: &'a [CallResult],
    /// Its result on our host.
    pub ours: &'a CallResult,
    /// Its result on wasmtime-wasi.
    pub theirs: &'a CallResult,
    /// The fields of the views that differ (`result`, `o0.size`, ...).
    pub differing: &'a [String],
    /// Our host's descriptors before the call.
    pub ours_fds: &'a Descriptors,
    /// wasmtime-wasi's descriptors before the call.
    pub theirs_fds: &'a Descriptors,
    /// Whether a descriptor number the call names refers to different
    /// objects on the two hosts.
    pub objects_differ: bool,
}

impl Ctx<'_> {
    /// Our errno, if the call returned one.
    fn ours_errno(&self) -> Option<Errno> {
        self.ours.errno().map(Errno)
    }

    /// wasmtime-wasi's errno, if the call returned one.
    fn theirs_errno(&self) -> Option<Errno> {
        self.theirs.errno().map(Errno)
    }

    /// Our host's wasm argument `k` (0 if the call has fewer).
    fn arg(&self, k: usize) -> u64 {
        self.ours.args.get(k).copied().unwrap_or(0)
    }

    /// Our host's output region `k` (empty if the call has fewer).
    fn output(&self, k: usize) -> &[u8] {
        self.ours.outputs.get(k).map_or(&[], |(_, bytes)| bytes)
    }

    /// Whether the call is one of `funcs`.
    fn is(&self, funcs: &[Func]) -> bool {
        funcs.contains(&self.call.func)
    }

    /// Whether only fields whose names end with one of `suffixes` differ.
    fn only_differ(&self, suffixes: &[&str]) -> bool {
        self.differing
            .iter()
            .all(|field| suffixes.iter().any(|s| field.ends_with(s)))
    }

    /// What the descriptor arguments refer to on our host (`None` for a
    /// number that is not open).
    fn objects(&self) -> Vec<Option<Object>> {
        self.ours
            .fds
            .iter()
            .map(|fd| self.ours_fds.open.get(fd).map(|e| e.object))
            .collect()
    }

    /// Whether the call acts on paths (or lists a directory): its
    /// descriptors must be directories.
    fn takes_directories(&self) -> bool {
        self.call.func.name().starts_with("path_") || self.call.func == Func::fd_readdir
    }

    /// Whether a path argument may lead out of its directory: it is
    /// absolute, has a `..` component, or a component that may be a symlink
    /// (one of the initial tree or a name earlier calls made a symlink,
    /// renamed or linked something to).
    fn may_escape(&self) -> bool {
        let links = self.maybe_links();
        self.call.args.iter().any(|arg| match arg {
            Arg::Bytes { bytes, .. } => {
                bytes.starts_with(b"/")
                    || bytes
                        .split(|b| *b == b'/')
                        .any(|c| c == b".." || links.contains(&c))
            }
            _ => false,
        })
    }

    /// Names that may be symlinks: those of the initial tree and the names
    /// earlier calls made a symlink, renamed or linked something to.
    fn maybe_links(&self) -> Vec<&[u8]> {
        let mut links: Vec<&[u8]> = LINKS.iter().map(|l| l.as_bytes()).collect();
        for call in self.history {
            if matches!(
                call.func,
                Func::path_symlink | Func::path_rename | Func::path_link
            ) && let Some(Arg::Bytes { bytes, .. }) = call.args.last()
            {
                links.extend(bytes.split(|b| *b == b'/'));
            }
        }
        links
    }

    /// Whether a path argument ends with a slash after a name that may be
    /// a symlink.
    fn link_with_slash(&self) -> bool {
        let links = self.maybe_links();
        self.call.args.iter().any(|arg| match arg {
            Arg::Bytes { bytes, .. } if bytes.ends_with(b"/") => {
                let mut name = bytes.as_slice();
                while let Some(shorter) = name.strip_suffix(b"/") {
                    name = shorter;
                }
                let last = name.rsplit(|b| *b == b'/').next().unwrap_or(name);
                links.contains(&last)
            }
            _ => false,
        })
    }

    /// Whether the `k`th descriptor argument lacks one of `rights` in our
    /// host's model (an upper bound of its rights, so a right missing there
    /// is missing on the host).
    fn lacks(&self, k: usize, rights: Rights) -> bool {
        self.ours
            .fds
            .get(k)
            .and_then(|fd| self.ours_fds.open.get(fd))
            .and_then(|entry| entry.rights)
            .is_some_and(|(base, _)| !base.contains(rights))
    }

    /// Whether the `k`th descriptor argument lacks one of `rights` among
    /// its inheriting rights in our host's model.
    fn lacks_inheriting(&self, k: usize, rights: Rights) -> bool {
        self.ours
            .fds
            .get(k)
            .and_then(|fd| self.ours_fds.open.get(fd))
            .and_then(|entry| entry.rights)
            .is_some_and(|(_, inheriting)| !inheriting.contains(rights))
    }
}

/// One intended divergence.
pub struct Intended {
    /// A short name, counted in the report.
    pub name: &'static str,
    /// Why: the section of `spec/preview1.md` that states our behaviour, or
    /// what wasmtime-wasi gets wrong.
    pub reason: &'static str,
    /// Whether the hosts may be left in different states afterwards (the
    /// rest of the sequence is then compared between our engines only).
    pub desyncs: bool,
    /// Whether this entry explains the difference.
    pub applies: fn(&Ctx<'_>) -> bool,
}

/// The rights a call needs on its descriptor arguments, as
/// `(argument index, rights)`, following the witx (spec/preview1.md, "File
/// descriptors": every call checks the rights it needs).
fn needed_rights(call: &Call, ours: &CallResult) -> Vec<(usize, Rights)> {
    use Rights as R;
    let one = |r: Rights| vec![(0, r)];
    match call.func {
        Func::fd_advise => one(R::FD_ADVISE),
        Func::fd_allocate => one(R::FD_ALLOCATE),
        Func::fd_datasync => one(R::FD_DATASYNC),
        Func::fd_sync => one(R::FD_SYNC),
        Func::fd_fdstat_set_flags => one(R::FD_FDSTAT_SET_FLAGS),
        Func::fd_filestat_get => one(R::FD_FILESTAT_GET),
        Func::fd_filestat_set_size => one(R::FD_FILESTAT_SET_SIZE),
        Func::fd_filestat_set_times => one(R::FD_FILESTAT_SET_TIMES),
        Func::fd_read => one(R::FD_READ),
        Func::fd_pread => one(R::FD_READ | R::FD_SEEK),
        Func::fd_write => one(R::FD_WRITE),
        Func::fd_pwrite => one(R::FD_WRITE | R::FD_SEEK),
        Func::fd_readdir => one(R::FD_READDIR),
        Func::fd_tell => one(R::FD_TELL),
        Func::fd_seek => {
            // fd_seek(0, cur) needs fd_tell or fd_seek; any other needs fd_seek.
            if ours.args.get(1) == Some(&0) && ours.args.get(2) == Some(&1) {
                one(R::FD_TELL)
            } else {
                one(R::FD_SEEK)
            }
        }
        Func::path_create_directory => one(R::PATH_CREATE_DIRECTORY),
        Func::path_filestat_get => one(R::PATH_FILESTAT_GET),
        Func::path_filestat_set_times => one(R::PATH_FILESTAT_SET_TIMES),
        Func::path_link => vec![(0, R::PATH_LINK_SOURCE), (1, R::PATH_LINK_TARGET)],
        Func::path_readlink => one(R::PATH_READLINK),
        Func::path_remove_directory => one(R::PATH_REMOVE_DIRECTORY),
        Func::path_rename => vec![(0, R::PATH_RENAME_SOURCE), (1, R::PATH_RENAME_TARGET)],
        Func::path_symlink => one(R::PATH_SYMLINK),
        Func::path_unlink_file => one(R::PATH_UNLINK_FILE),
        Func::path_open => {
            let oflags = ours.args.get(4).copied().unwrap_or(0);
            let mut rights = R::PATH_OPEN;
            if oflags & 1 != 0 {
                rights |= R::PATH_CREATE_FILE;
            }
            if oflags & 8 != 0 {
                rights |= R::PATH_FILESTAT_SET_SIZE;
            }
            one(rights)
        }
        _ => Vec::new(),
    }
}

/// The values of a call's `rights` arguments.
fn rights_args(call: &Call) -> impl Iterator<Item = u64> + '_ {
    call.func
        .import()
        .params
        .iter()
        .zip(&call.args)
        .filter_map(|(param, arg)| match (param, arg) {
            (Param::U64(IntKind::Rights), Arg::Int(Value::Imm(v))) => Some(*v),
            _ => None,
        })
}

/// Whether a flags or enumeration argument (or a `poll_oneoff` event type)
/// has a value the witx does not define.
fn undefined_value(call: &Call) -> bool {
    let bad_tag = call.args.iter().any(|arg| {
        matches!(arg, Arg::Poll { list, .. } if list.iter().any(|s| matches!(s, Sub::BadTag(_))))
    });
    bad_tag
        || call
            .func
            .import()
            .params
            .iter()
            .zip(&call.args)
            .any(|(param, arg)| {
                let (Param::U32(kind) | Param::U64(kind), Arg::Int(Value::Imm(v))) = (param, arg)
                else {
                    return false;
                };
                let max = match kind {
                    IntKind::Fdflags => 0x1f,
                    IntKind::Oflags | IntKind::Fstflags => 0xf,
                    IntKind::Lookupflags => 1,
                    IntKind::Whence => 2,
                    IntKind::Advice => 5,
                    IntKind::Clockid => 3,
                    IntKind::SockFlags if call.func == Func::sock_send => 0,
                    // spec/preview1.md, ABI: an empty `how` gives EINVAL too.
                    IntKind::SockFlags if call.func == Func::sock_shutdown && *v == 0 => {
                        return true;
                    }
                    IntKind::SockFlags => 3,
                    _ => return false,
                };
                *v > max
            })
}

/// Whether our host refused a `poll_oneoff` subscription (an event with
/// ENOTCAPABLE) on a descriptor that lacks `poll_fd_readwrite`.
fn poll_refused_for_rights(ctx: &Ctx<'_>) -> bool {
    let Some(Arg::Poll { list, .. }) = ctx.call.args.first() else {
        return false;
    };
    // The k-th subscription on a descriptor names ours.fds[k].
    let mut fd_index = 0;
    let mut refused = false;
    for (userdata, sub) in (0u64..).zip(list) {
        if !matches!(sub, Sub::FdRead(_) | Sub::FdWrite(_)) {
            continue;
        }
        let event = ctx
            .output(0)
            .chunks_exact(32)
            .find(|e| u64::from_le_bytes(e[..8].try_into().expect("8 bytes")) == userdata);
        if event.is_some_and(|e| u16::from_le_bytes([e[8], e[9]]) == Errno::NOTCAPABLE.0) {
            refused |= ctx.lacks(fd_index, Rights::POLL_FD_READWRITE);
        }
        fd_index += 1;
    }
    refused && ctx.only_differ(&[".events", ".size"])
}

/// Whether our host refused the call for a right the descriptor lacks.
fn refused_for_rights(ctx: &Ctx<'_>) -> bool {
    if ctx.call.func == Func::poll_oneoff {
        return poll_refused_for_rights(ctx);
    }
    let refusal = match ctx.call.func {
        // A missing fd_read or fd_write right gives EBADF.
        Func::fd_read | Func::fd_write | Func::fd_pread | Func::fd_pwrite => {
            [Errno::BADF, Errno::NOTCAPABLE].as_slice()
        }
        _ => [Errno::NOTCAPABLE].as_slice(),
    };
    if !ctx.ours_errno().is_some_and(|e| refusal.contains(&e)) {
        return false;
    }
    let lacks_right = needed_rights(ctx.call, ctx.ours)
        .into_iter()
        .any(|(k, rights)| ctx.lacks(k, rights));
    // path_open's fdflags dsync needs fd_datasync, sync and rsync fd_sync,
    // among the directory's inheriting rights.
    let lacks_sync = ctx.call.func == Func::path_open && {
        let fdflags = ctx.arg(7);
        (fdflags & 2 != 0 && ctx.lacks_inheriting(0, Rights::FD_DATASYNC))
            || (fdflags & (8 | 16) != 0 && ctx.lacks_inheriting(0, Rights::FD_SYNC))
    };
    lacks_right || lacks_sync
}

/// Every intended divergence from wasmtime-wasi.
pub const INTENDED: &[Intended] = &[
    Intended {
        name: "bad pointer: EFAULT/EINVAL, not a trap",
        reason: "spec/preview1.md, ABI, \"Pointers\" and \"Alignment\": a bad address gives \
                 EFAULT and a misaligned array EINVAL, the host never traps; wasmtime-wasi \
                 traps (after the operation, for output pointers)",
        desyncs: true,
        applies: |ctx| {
            matches!(ctx.theirs.outcome, Outcome::Trap(_))
                && ctx.ours_errno().is_some()
                && bad_pointer(ctx.call)
        },
    },
    Intended {
        name: "bad pointer checked first",
        reason: "spec/preview1.md, ABI, \"Pointers\": output pointers are checked before the \
                 operation runs (EFAULT; EINVAL for a misaligned array); wasmtime-wasi checks \
                 them last, so it fails first for another reason",
        desyncs: false,
        applies: |ctx| {
            matches!(ctx.ours_errno(), Some(Errno::FAULT | Errno::INVAL))
                && ctx.theirs_errno().is_some_and(|e| e != Errno::SUCCESS)
                && bad_pointer(ctx.call)
        },
    },
    Intended {
        name: "bad buffer with nothing to transfer",
        reason: "spec/preview1.md, ABI, \"Pointers\": every address and length is checked \
                 (EFAULT) and every iovec array's alignment (EINVAL), whether or not the call \
                 would use it; wasmtime-wasi checks a buffer only when it copies into or out \
                 of it, so a transfer of 0 bytes succeeds",
        desyncs: false,
        applies: |ctx| {
            matches!(ctx.ours_errno(), Some(Errno::FAULT | Errno::INVAL))
                && ctx.theirs.number(Out::Size) == Some(0)
                && bad_pointer(ctx.call)
        },
    },
    Intended {
        name: "bad buffer partly used",
        reason: "spec/preview1.md, ABI, \"Pointers\": every address and length is checked \
                 (EFAULT) before the operation; wasmtime-wasi checks only the bytes it copies, \
                 so a buffer reaching past the end of memory works when the data fits",
        desyncs: true,
        applies: |ctx| {
            ctx.ours_errno() == Some(Errno::FAULT)
                && ctx.theirs_errno() == Some(Errno::SUCCESS)
                && bad_pointer(ctx.call)
        },
    },
    Intended {
        name: "unknown rights bits are ignored",
        reason: "spec/preview1.md, ABI, \"Flags\": unknown bits in rights are ignored (rights \
                 only restrict); wasmtime-wasi traps (\"Invalid flag value Rights\") before \
                 doing anything",
        desyncs: false,
        applies: |ctx| {
            matches!(ctx.theirs.outcome, Outcome::Trap(_))
                && ctx.ours_errno().is_some()
                && rights_args(ctx.call).any(|r| r & !Rights::all().bits() != 0)
        },
    },
    Intended {
        name: "path call on a non-directory: not EBADF",
        reason: "spec/preview1.md, File descriptors, order of checks: EBADF only for a missing \
                 descriptor, then ENOTDIR for a path call on a non-directory (Paths and files: \
                 fd_readdir too; with a file type not yet known, the kernel's error, such as \
                 ENOENT for an empty path); wasmtime-wasi gives EBADF for a path call or \
                 fd_readdir on a standard stream or a file",
        desyncs: false,
        applies: |ctx| {
            ctx.takes_directories()
                && ctx
                    .ours_errno()
                    .is_some_and(|e| e != Errno::SUCCESS && e != Errno::BADF)
                && ctx.theirs_errno() == Some(Errno::BADF)
                && ctx
                    .objects()
                    .iter()
                    .any(|o| matches!(o, Some(Object::Stdio(_) | Object::Opened(_))))
        },
    },
    Intended {
        name: "path call on a file of unknown type: the kernel's error",
        reason: "spec/preview1.md, Paths and files (lazy file type): until a descriptor's type \
                 is known, the kernel's error is given, and the kernel refuses an empty path \
                 (ENOENT), an absolute one (EXDEV under RESOLVE_BENEATH, so ENOTCAPABLE) or \
                 O_CREAT with O_DIRECTORY (EINVAL) before it looks at the descriptor; \
                 wasmtime-wasi gives ENOTDIR or EBADF",
        desyncs: false,
        applies: |ctx| {
            let path = |test: fn(&[u8]) -> bool| {
                ctx.call
                    .args
                    .iter()
                    .any(|a| matches!(a, Arg::Bytes { bytes, .. } if test(bytes)))
            };
            ctx.takes_directories()
                && matches!(ctx.theirs_errno(), Some(Errno::NOTDIR | Errno::BADF))
                && ctx
                    .objects()
                    .iter()
                    .any(|o| matches!(o, Some(Object::Opened(_))))
                && match ctx.ours_errno() {
                    Some(Errno::NOENT) => path(|p| p.is_empty()),
                    Some(Errno::NOTCAPABLE) => path(|p| p.starts_with(b"/")),
                    // O_CREAT | O_DIRECTORY.
                    Some(Errno::INVAL) => ctx.is(&[Func::path_open]) && ctx.arg(4) & 3 == 3,
                    _ => false,
                }
        },
    },
    Intended {
        name: "file call on a directory of unknown type: EISDIR",
        reason: "spec/preview1.md, Paths and files (lazy file type): until a descriptor's type \
                 is known, it has the rights of a file and a directory together and the \
                 kernel's error is given (read(2) on a directory: EISDIR); wasmtime-wasi gives \
                 EBADF for a read or write on a directory",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[
                Func::fd_read,
                Func::fd_pread,
                Func::fd_write,
                Func::fd_pwrite,
            ]) && ctx.ours_errno() == Some(Errno::ISDIR)
                && ctx.theirs_errno() == Some(Errno::BADF)
                && matches!(ctx.objects()[0], Some(Object::Opened(_)))
        },
    },
    Intended {
        name: "absolute symlink target: ENOTCAPABLE",
        reason: "spec/preview1.md, Sandbox: path_symlink with an absolute target gives \
                 ENOTCAPABLE; wasmtime-wasi gives EPERM",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::path_symlink])
                && ctx.ours_errno() == Some(Errno::NOTCAPABLE)
                && ctx.theirs_errno() == Some(Errno::PERM)
                && ctx.call.path(0).is_some_and(|p| p.starts_with(b"/"))
        },
    },
    Intended {
        name: "fd_fdstat_set_rights is implemented",
        reason: "spec/preview1.md, File descriptors: fd_fdstat_set_rights drops rights \
                 (ENOTCAPABLE when asked to add one); wasmtime-wasi does not implement it \
                 (ENOTSUP, or EBADF on a standard stream)",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::fd_fdstat_set_rights])
                && (ctx.theirs_errno() == Some(Errno::NOTSUP)
                    || ctx.theirs_errno() == Some(Errno::BADF)
                        && matches!(ctx.objects()[0], Some(Object::Stdio(_))))
        },
    },
    Intended {
        name: "leaving the sandbox: ENOTCAPABLE",
        reason: "spec/preview1.md, Sandbox: leaving the directory in any way (`..`, an absolute \
                 path, a symlink) gives ENOTCAPABLE; wasmtime-wasi (cap-std) gives EPERM",
        desyncs: false,
        applies: |ctx| {
            ctx.call.func.name().starts_with("path_")
                && ctx.ours_errno() == Some(Errno::NOTCAPABLE)
                && ctx.theirs_errno() == Some(Errno::PERM)
                && ctx.may_escape()
        },
    },
    Intended {
        name: "fd_prestat_dir_name on a non-preopen: EBADF",
        reason: "spec/preview1.md, File descriptors: fd_prestat_get on any descriptor that is \
                 not a preopened directory gives EBADF, and so does fd_prestat_dir_name; \
                 wasmtime-wasi gives ENOTDIR for the latter (its \"legacy\" behaviour)",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::fd_prestat_dir_name])
                && ctx.ours_errno() == Some(Errno::BADF)
                && ctx.theirs_errno() == Some(Errno::NOTDIR)
                && matches!(ctx.objects()[0], Some(Object::Stdio(_) | Object::Opened(_)))
        },
    },
    Intended {
        name: "undefined flags or enumeration value: EINVAL first, not a trap",
        reason: "spec/preview1.md, ABI, \"Enumerations\" and \"Flags\": a value outside the \
                 enumeration or unknown flag bits give EINVAL, checked before anything else; \
                 wasmtime-wasi traps (\"Invalid flag value\", \"Invalid enum value\") before \
                 doing anything, or fails for another reason first",
        desyncs: false,
        applies: |ctx| {
            ctx.theirs_errno() != Some(Errno::SUCCESS)
                && ctx.ours_errno() == Some(Errno::INVAL)
                && undefined_value(ctx.call)
        },
    },
    Intended {
        name: "poll_oneoff: a bad subscription gives an event",
        reason: "spec/preview1.md, poll_oneoff: a missing descriptor gives an event with EBADF, \
                 a missing poll_fd_readwrite right (a directory has none) one with \
                 ENOTCAPABLE, a CPU-time clock one with ENOTSUP and an unknown clock one with \
                 EINVAL, without failing the call; wasmtime-wasi fails the whole call (EBADF, \
                 EINVAL), or sleeps on a lone clock whatever its id",
        desyncs: false,
        applies: |ctx| {
            let refused = [Errno::BADF, Errno::NOTCAPABLE, Errno::NOTSUP, Errno::INVAL];
            let error = |e: &[u8]| Errno(u16::from_le_bytes([e[8], e[9]]));
            let events = || ctx.output(0).chunks_exact(32);
            ctx.is(&[Func::poll_oneoff])
                && ctx.ours_errno() == Some(Errno::SUCCESS)
                && match ctx.theirs_errno() {
                    Some(e) if refused.contains(&e) => {
                        events().any(|event| refused.contains(&error(event)))
                    }
                    // A lone clock: wasmtime-wasi sleeps whatever the clock.
                    Some(Errno::SUCCESS) => {
                        ctx.only_differ(&[".events"])
                            && events().any(|event| {
                                event[10] == 0
                                    && matches!(error(event), Errno::NOTSUP | Errno::INVAL)
                            })
                    }
                    _ => false,
                }
        },
    },
    Intended {
        name: "standard streams are descriptors",
        reason: "spec/preview1.md, Standard streams and preopens: the guest's 0, 1, 2 are host \
                 descriptors with the type and rights of the host object (here pipes); \
                 wasmtime-wasi's are streams on which every call but reads, writes, fdstat, \
                 filestat and close gives EBADF (and poll_oneoff for the other direction), and \
                 whose filestat is made up (nlink 0)",
        desyncs: true,
        applies: |ctx| {
            ctx.objects()
                .iter()
                .any(|o| matches!(o, Some(Object::Stdio(_))))
                && (ctx.theirs_errno() == Some(Errno::BADF)
                    && ctx.ours_errno() != Some(Errno::BADF)
                    || ctx.is(&[Func::fd_filestat_get]) && ctx.only_differ(&[".nlink"]))
        },
    },
    Intended {
        name: "fd_sync, fd_advise, fd_fdstat_set_flags on a directory",
        reason: "spec/preview1.md, Standard streams and preopens: directories get the \
                 DIRECTORY rights, which include fd_sync, fd_advise and fd_fdstat_set_flags \
                 (Paths and files: fd_advise is posix_fadvise); wasmtime-wasi gives EBADF for \
                 these calls on anything but a file",
        desyncs: true,
        applies: |ctx| {
            ctx.is(&[Func::fd_sync, Func::fd_advise, Func::fd_fdstat_set_flags])
                && ctx.theirs_errno() == Some(Errno::BADF)
                && ctx.ours_errno() != Some(Errno::BADF)
                && matches!(
                    ctx.objects()[0],
                    Some(Object::Preopen(_) | Object::Opened(_))
                )
        },
    },
    Intended {
        name: "fd_filestat_set_times on a preopen",
        reason: "spec/preview1.md, Standard streams and preopens: preopened directories get the \
                 DIRECTORY rights, fd_filestat_set_times among them; wasmtime-wasi gives EBADF \
                 (a wasmtime-wasi bug: its preopens are O_PATH descriptors, which futimens \
                 refuses)",
        desyncs: true,
        applies: |ctx| {
            ctx.is(&[Func::fd_filestat_set_times])
                && ctx.theirs_errno() == Some(Errno::BADF)
                && ctx.ours_errno() != Some(Errno::BADF)
                && matches!(ctx.objects()[0], Some(Object::Preopen(_)))
        },
    },
    Intended {
        name: "path_link with SYMLINK_FOLLOW",
        reason: "spec/preview1.md, Sandbox: path_link with SYMLINK_FOLLOW resolves the source \
                 beneath its directory and links the object found; wasmtime-wasi refuses the \
                 flag with EINVAL",
        desyncs: true,
        applies: |ctx| {
            ctx.is(&[Func::path_link])
                && ctx.theirs_errno() == Some(Errno::INVAL)
                && ctx.arg(1) & 1 != 0
        },
    },
    Intended {
        name: "overlapping args_get/environ_get buffers",
        reason: "spec/preview1.md, ABI, \"Aliasing\" defines the overlaps it allows, and an \
                 args_get/environ_get pointer array overlapping the string buffer is not one: \
                 our host writes the strings then the pointers, wasmtime-wasi the other way",
        desyncs: false,
        applies: |ctx| {
            if !ctx.is(&[Func::args_get, Func::environ_get]) {
                return false;
            }
            let (Arg::Out { ptr: array, .. }, Arg::Out { ptr: buf, len }) =
                (&ctx.call.args[0], &ctx.call.args[1])
            else {
                return false;
            };
            // The host writes one pointer per string, whatever the region.
            let strings = if ctx.call.func == Func::args_get {
                ARGS.len()
            } else {
                ENV.len()
            } as u32;
            let array_end = u64::from(*array) + 4 * u64::from(strings);
            ctx.only_differ(&[".bytes", ".pointers"])
                && u64::from(*array) < u64::from(*buf) + u64::from(*len)
                && u64::from(*buf) < array_end
        },
    },
    Intended {
        name: "path_readlink of an absolute symlink",
        reason: "spec/preview1.md, Sandbox: path_readlink acts on the final component, never \
                 followed, so it reads any link beneath the directory; wasmtime-wasi (cap-std) \
                 refuses links with an absolute target with EPERM",
        desyncs: false,
        applies: |ctx| {
            // The buffer may be too short to show the leading slash.
            let buf = ctx.output(0);
            ctx.is(&[Func::path_readlink])
                && ctx.theirs_errno() == Some(Errno::PERM)
                && ctx.ours_errno() == Some(Errno::SUCCESS)
                && (buf.starts_with(b"/") || ctx.ours.number(Out::Size) == Some(0))
        },
    },
    Intended {
        name: "CPU-time clocks",
        reason: "spec/preview1.md, ABI, \"Enumerations\": only an unknown clockid gives EINVAL; \
                 the witx's process_cputime_id and thread_cputime_id are read as any clock; \
                 wasmtime-wasi gives EBADF for them",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::clock_time_get, Func::clock_res_get])
                && matches!(ctx.arg(0), 2 | 3)
                && ctx.theirs_errno() == Some(Errno::BADF)
                && ctx.ours_errno() == Some(Errno::SUCCESS)
        },
    },
    Intended {
        name: "path_open with dsync, rsync or sync",
        reason: "spec/preview1.md, Paths and files: path_open honours the fdflags dsync, rsync \
                 and sync (given the fd_datasync/fd_sync inheriting rights); wasmtime-wasi \
                 refuses them with ENOTSUP",
        desyncs: true,
        applies: |ctx| {
            ctx.is(&[Func::path_open])
                && ctx.theirs_errno() == Some(Errno::NOTSUP)
                && ctx.arg(7) & (2 | 8 | 16) != 0
        },
    },
    Intended {
        name: "wasmtime-wasi transfers one iovec",
        reason: "spec/preview1.md, ABI, \"iovecs\": a short read or write is allowed (POSIX), \
                 and our host transfers up to 64 buffers per call; wasmtime-wasi transfers only \
                 the first non-empty one",
        desyncs: true,
        applies: |ctx| {
            if !ctx.is(&[
                Func::fd_read,
                Func::fd_write,
                Func::fd_pread,
                Func::fd_pwrite,
            ]) {
                return false;
            }
            let Arg::Iovs { iovs, .. } = &ctx.call.args[1] else {
                return false;
            };
            let first = iovs
                .iter()
                .map(|iov| u64::from(iov.len))
                .find(|len| *len > 0);
            match (
                ctx.ours.number(Out::Size),
                ctx.theirs.number(Out::Size),
                first,
            ) {
                (Some(ours), Some(theirs), Some(first)) => {
                    theirs < ours && theirs == first.min(ours)
                }
                _ => false,
            }
        },
    },
    Intended {
        name: "symlink with a trailing slash: ENOTDIR or EEXIST",
        reason: "spec/preview1.md, Paths and files: trailing slashes follow Linux, and calls \
                 acting on a name whose final component is a symlink followed by a slash get \
                 ENOTDIR (the link is not a directory; EEXIST when creating, as Linux's \
                 symlinkat and mkdirat); wasmtime-wasi follows the link, then refuses it for \
                 leaving the sandbox (EPERM), being a directory (EISDIR) or not (ENOTDIR), \
                 dangling (ENOENT) or looping (ELOOP)",
        desyncs: false,
        applies: |ctx| {
            ctx.call.func.name().starts_with("path_")
                && matches!(ctx.ours_errno(), Some(Errno::NOTDIR | Errno::EXIST))
                && matches!(
                    ctx.theirs_errno(),
                    Some(Errno::PERM | Errno::ISDIR | Errno::NOENT | Errno::LOOP | Errno::NOTDIR)
                )
                && ctx.link_with_slash()
        },
    },
    Intended {
        name: "creating an existing name with a trailing slash: EEXIST",
        reason: "spec/preview1.md, Paths and files: trailing slashes follow Linux, whose \
                 symlinkat, mkdirat and linkat give EEXIST when the new name exists, slash or \
                 not; wasmtime-wasi gives ENOTDIR when it is not a directory",
        desyncs: false,
        applies: |ctx| {
            let new_path = ctx.call.args.iter().rev().find_map(|a| match a {
                Arg::Bytes { bytes, .. } => Some(bytes),
                _ => None,
            });
            ctx.is(&[
                Func::path_symlink,
                Func::path_create_directory,
                Func::path_link,
            ]) && ctx.ours_errno() == Some(Errno::EXIST)
                && ctx.theirs_errno() == Some(Errno::NOTDIR)
                && new_path.is_some_and(|p| p.ends_with(b"/"))
        },
    },
    Intended {
        name: "linking to a name with a trailing slash: the source's error first",
        reason: "spec/preview1.md, Paths and files: trailing slashes follow Linux, whose \
                 linkat resolves the source before it looks at the new name, so a missing \
                 source gives ENOENT; wasmtime-wasi refuses the slash first with ENOTDIR",
        desyncs: false,
        applies: |ctx| {
            let new_path = ctx.call.args.iter().rev().find_map(|a| match a {
                Arg::Bytes { bytes, .. } => Some(bytes),
                _ => None,
            });
            ctx.is(&[Func::path_link])
                && ctx.ours_errno() == Some(Errno::NOENT)
                && ctx.theirs_errno() == Some(Errno::NOTDIR)
                && new_path.is_some_and(|p| p.ends_with(b"/"))
        },
    },
    Intended {
        name: "path with a NUL byte: EINVAL first",
        reason: "spec/preview1.md, ABI, \"Paths\": a path containing a NUL byte gives EINVAL, \
                 checked before the call does anything else; wasmtime-wasi resolves what \
                 comes before the NUL first",
        desyncs: false,
        applies: |ctx| {
            ctx.ours_errno() == Some(Errno::INVAL)
                && ctx.theirs_errno().is_some_and(|e| e != Errno::SUCCESS)
                && ctx.call.args.iter().any(|arg| {
                    matches!(arg, Arg::Bytes { bytes, .. }
                        if std::str::from_utf8(bytes).is_ok_and(|p| p.contains('\0')))
                })
        },
    },
    Intended {
        name: "invalid UTF-8 path: EILSEQ first",
        reason: "spec/preview1.md, ABI, \"Paths\": paths must be valid UTF-8, else EILSEQ, \
                 checked with the other arguments before the operation; wasmtime-wasi looks \
                 at the descriptor first",
        desyncs: false,
        applies: |ctx| {
            ctx.ours_errno() == Some(Errno::ILSEQ)
                && ctx.theirs_errno().is_some_and(|e| e != Errno::SUCCESS)
                && ctx.call.args.iter().any(|arg| {
                    matches!(arg, Arg::Bytes { bytes, .. } if std::str::from_utf8(bytes).is_err())
                })
        },
    },
    Intended {
        name: "poll_oneoff: nbytes, hangup, all ready events",
        reason: "spec/preview1.md, poll_oneoff: a read event's nbytes is the FIONREAD count (0 \
                 for an empty pipe), a write event's 0, POLLHUP sets fd_readwrite_hangup, \
                 regular files are always ready and a clock whose deadline has passed is \
                 reported with the events ready at once; wasmtime-wasi reports nbytes 1 on \
                 its standard streams, never a hangup, and only some of the ready events",
        desyncs: false,
        applies: |ctx| {
            if !ctx.is(&[Func::poll_oneoff]) || !ctx.only_differ(&[".events", ".size"]) {
                return false;
            }
            let events = |r: &CallResult| -> Vec<(u64, u16, u8)> {
                let used = r.number(Out::Size).unwrap_or(0) as usize;
                r.outputs[0]
                    .1
                    .chunks_exact(32)
                    .take(used)
                    .map(|e| {
                        let userdata = u64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
                        (userdata, u16::from_le_bytes([e[8], e[9]]), e[10])
                    })
                    .collect()
            };
            let (ours, theirs) = (events(ctx.ours), events(ctx.theirs));
            // wasmtime-wasi's events are some of ours, with the same
            // errors; nbytes and flags may differ.
            !theirs.is_empty() && theirs.iter().all(|e| ours.contains(e))
        },
    },
    Intended {
        name: "oflags directory with excl or trunc",
        reason: "spec/preview1.md, Paths and files: with oflags::directory the kernel checks \
                 the type, and decides the combinations (EISDIR, ENOTDIR, excl alone ignored); \
                 wasmtime-wasi refuses directory with creat, excl or trunc with EINVAL",
        desyncs: true,
        applies: |ctx| {
            let oflags = ctx.arg(4);
            ctx.is(&[Func::path_open])
                && ctx.theirs_errno() == Some(Errno::INVAL)
                && oflags & 2 != 0
                && oflags & (4 | 8) != 0
        },
    },
    Intended {
        name: "fd_allocate is implemented",
        reason: "spec/preview1.md, Paths and files: fd_allocate is posix_fallocate (len 0 gives \
                 EINVAL); wasmtime-wasi does not implement it (ENOTSUP on a file)",
        desyncs: true,
        applies: |ctx| ctx.is(&[Func::fd_allocate]) && ctx.theirs_errno() == Some(Errno::NOTSUP),
    },
    Intended {
        name: "unfollowed symlink with oflags directory: ENOTDIR",
        reason: "spec/preview1.md, Paths and files: path_open without SYMLINK_FOLLOW on a \
                 symlink gives ELOOP, but ENOTDIR with oflags::directory, as Linux's \
                 open(O_NOFOLLOW | O_DIRECTORY); wasmtime-wasi gives ELOOP",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::path_open])
                && ctx.arg(1) & 1 == 0
                && ctx.arg(4) & 2 != 0
                && ctx.ours_errno() == Some(Errno::NOTDIR)
                && ctx.theirs_errno() == Some(Errno::LOOP)
        },
    },
    Intended {
        name: "trailing slash or /.: resolve as a directory",
        reason: "spec/preview1.md, Paths and files: trailing slashes follow Linux: on a \
                 non-directory ENOTDIR, and \"link/\" resolves the link's target even without \
                 SYMLINK_FOLLOW (POSIX: as if \"link/.\"); wasmtime-wasi (a bug) ignores a \
                 trailing slash or \"/.\" in path_filestat_get and path_filestat_set_times, \
                 and stats or touches the file or the link itself",
        desyncs: false,
        applies: |ctx| {
            // wasmtime-wasi's filestat is of a symlink.
            let of_link = ctx
                .theirs
                .outputs
                .first()
                .is_some_and(|(_, b)| b.get(16) == Some(&7));
            ctx.is(&[Func::path_filestat_get, Func::path_filestat_set_times])
                && ctx
                    .call
                    .path(2)
                    .is_some_and(|p| p.ends_with(b"/") || p.ends_with(b"/."))
                && ctx.theirs_errno() == Some(Errno::SUCCESS)
                && match ctx.ours_errno() {
                    Some(Errno::NOTDIR | Errno::NOENT | Errno::LOOP | Errno::NOTCAPABLE) => true,
                    Some(Errno::SUCCESS) => of_link,
                    _ => false,
                }
        },
    },
    Intended {
        name: "directory opened for writing: EISDIR",
        reason: "spec/preview1.md, Paths and files: path_open opens for writing when the rights \
                 include fd_write, fd_datasync, fd_allocate or fd_filestat_set_size, and a \
                 directory opened for writing gives EISDIR; wasmtime-wasi opens for writing \
                 only with fd_write",
        desyncs: true,
        applies: |ctx| {
            let writing = Rights::FD_DATASYNC | Rights::FD_ALLOCATE | Rights::FD_FILESTAT_SET_SIZE;
            ctx.is(&[Func::path_open])
                && ctx.ours_errno() == Some(Errno::ISDIR)
                && ctx.theirs_errno() == Some(Errno::SUCCESS)
                && Rights::from_bits_truncate(ctx.arg(5)).intersects(writing)
        },
    },
    Intended {
        name: "path_filestat_set_times changing nothing",
        reason: "spec/preview1.md, Sandbox: path_filestat_set_times opens the path itself \
                 (O_PATH), so a bad path fails even when no time is set; wasmtime-wasi, like \
                 Linux's utimensat with both times UTIME_OMIT, succeeds without looking at it",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::path_filestat_set_times])
                && ctx.arg(6) == 0
                && ctx.theirs_errno() == Some(Errno::SUCCESS)
                && ctx.ours_errno().is_some_and(|e| e != Errno::SUCCESS)
        },
    },
    Intended {
        name: "empty path: ENOENT first",
        reason: "spec/preview1.md, Sandbox: an empty path gives ENOENT, before any path is \
                 resolved (as Linux, which refuses it when copying the names); wasmtime-wasi \
                 resolves the other path first",
        desyncs: false,
        applies: |ctx| {
            ctx.ours_errno() == Some(Errno::NOENT)
                && ctx.theirs_errno().is_some_and(|e| e != Errno::SUCCESS)
                && ctx
                    .call
                    .args
                    .iter()
                    .any(|a| matches!(a, Arg::Bytes { bytes, .. } if bytes.is_empty()))
        },
    },
    Intended {
        name: "path_remove_directory with a trailing slash",
        reason: "spec/preview1.md, Paths and files: trailing slashes follow Linux, where \
                 rmdir(\"d/\") removes the directory d; wasmtime-wasi (a bug) refuses the slash \
                 with EINVAL",
        desyncs: true,
        applies: |ctx| {
            ctx.is(&[Func::path_remove_directory])
                && ctx.theirs_errno() == Some(Errno::INVAL)
                && ctx.call.path(1).is_some_and(|p| p.ends_with(b"/"))
        },
    },
    Intended {
        name: "fd_seek past the largest file size",
        reason: "spec/preview1.md, Paths and files and Errors: fd_seek is lseek(2), whose \
                 errors are passed on, and the kernel refuses offsets past the file system's \
                 largest file (EINVAL); wasmtime-wasi keeps the offset itself and takes any",
        desyncs: true,
        applies: |ctx| {
            ctx.is(&[Func::fd_seek])
                && ctx.ours_errno() == Some(Errno::INVAL)
                && ctx
                    .theirs
                    .number(Out::Filesize)
                    .is_some_and(|offset| offset >= 1 << 40)
        },
    },
    Intended {
        name: "fd_fdstat_set_flags with a sync flag: ENOTSUP",
        reason: "spec/preview1.md, Paths and files: fd_fdstat_set_flags changes only append and \
                 nonblock; asking for a different dsync, rsync or sync gives ENOTSUP; \
                 wasmtime-wasi gives EINVAL",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::fd_fdstat_set_flags])
                && ctx.ours_errno() == Some(Errno::NOTSUP)
                && ctx.theirs_errno() == Some(Errno::INVAL)
                && ctx.arg(1) & (2 | 8 | 16) != 0
        },
    },
    Intended {
        name: "empty write in append mode",
        reason: "spec/preview1.md, Errors: transfers are the host's (POSIX: a write of 0 bytes \
                 has no other result, so it leaves the offset); wasmtime-wasi (a bug) moves \
                 its own offset to the end of an append-mode file on an empty write, so a \
                 later read there finds nothing",
        desyncs: true,
        applies: |ctx| {
            let fd = ctx.ours.fds.first().copied();
            let Some(Some(Object::Opened(opened))) = ctx.objects().first().copied() else {
                return false;
            };
            let append = ctx.history[opened].func == Func::path_open
                && ctx.ours_history[opened]
                    .args
                    .get(7)
                    .is_some_and(|f| f & 1 != 0);
            let empty_write = ctx.history[opened..]
                .iter()
                .zip(&ctx.ours_history[opened..])
                .any(|(call, result)| {
                    call.func == Func::fd_write
                        && result.fds.first().copied() == fd
                        && result.number(Out::Size) == Some(0)
                });
            ctx.is(&[Func::fd_read])
                && append
                && empty_write
                && ctx.theirs.number(Out::Size) == Some(0)
                && ctx.ours.number(Out::Size).is_some_and(|n| n > 0)
        },
    },
    Intended {
        name: "offset past i64::MAX: EINVAL",
        reason: "spec/preview1.md, Errors: host errors are passed on, and preadv/pwritev refuse \
                 a range that does not fit an off_t (EINVAL), whatever the buffers and even in \
                 append mode (Paths and files: fd_pwrite there is the kernel's); \
                 wasmtime-wasi transfers nothing without asking the kernel, and appends \
                 itself",
        desyncs: true,
        applies: |ctx| {
            let Some(Arg::Iovs { iovs, .. }) = ctx.call.args.get(1) else {
                return false;
            };
            let total: u64 = iovs.iter().map(|iov| u64::from(iov.len)).sum();
            ctx.is(&[Func::fd_pread, Func::fd_pwrite])
                && ctx.ours_errno() == Some(Errno::INVAL)
                && ctx.arg(3).saturating_add(total) > i64::MAX as u64
        },
    },
    Intended {
        name: "lowest free descriptor",
        reason: "spec/preview1.md, File descriptors: new descriptors take the lowest free \
                 number; wasmtime-wasi reuses the highest freed one",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::path_open])
                && ctx.only_differ(&[".fd"])
                && ctx.ours.number(Out::Fd) == Some(u64::from(ctx.ours_fds.lowest_free()))
        },
    },
    Intended {
        name: "descriptor number names another object",
        reason: "spec/preview1.md, File descriptors: after wasmtime-wasi numbered a descriptor \
                 differently (previous entry), a number the guest kept or made up refers to \
                 different objects on the two hosts",
        desyncs: true,
        applies: |ctx| ctx.objects_differ,
    },
    Intended {
        name: "rights are enforced",
        reason: "spec/preview1.md, File descriptors: every call checks the rights it needs \
                 (EBADF for fd_read/fd_write, ENOTCAPABLE for the others); wasmtime-wasi's \
                 preview 1 ignores rights",
        desyncs: true,
        applies: refused_for_rights,
    },
    Intended {
        name: "fdstat rights",
        reason: "spec/preview1.md, Paths and files: fd_fdstat_get reports the rights the \
                 descriptor has; wasmtime-wasi reports fixed sets",
        desyncs: false,
        applies: |ctx| {
            ctx.is(&[Func::fd_fdstat_get])
                && ctx.only_differ(&[".rights_base", ".rights_inheriting"])
        },
    },
    Intended {
        name: "readdir order in a full buffer",
        reason: "spec/preview1.md, Paths and files: fd_readdir lists entries (\".\" and \"..\" \
                 among them) in the kernel's order, its cookies being the kernel's d_off; \
                 wasmtime-wasi lists \".\" and \"..\" first, so a listing cut short by a full \
                 buffer holds other entries",
        desyncs: false,
        applies: |ctx| {
            let filled = |r: &CallResult| {
                r.number(Out::Size) == r.outputs.first().map(|(_, b)| b.len() as u64)
            };
            ctx.is(&[Func::fd_readdir])
                && filled(ctx.ours)
                && filled(ctx.theirs)
                && ctx.only_differ(&[".entries", ".partial", ".cookies"])
        },
    },
    Intended {
        name: "readdir cookies",
        reason: "spec/preview1.md, Paths and files: cookies are the kernel's d_off, and \
                 resuming from one returns the entries after it in the kernel's order; \
                 wasmtime-wasi numbers entries 1, 2, 3, ... in its own order (\".\" and \"..\" \
                 first), so any listing from a cookie other than 0 may differ",
        desyncs: false,
        applies: |ctx| {
            if !ctx.is(&[Func::fd_readdir]) {
                return false;
            }
            // Cookies our host returned in the sequence so far.
            let mut returned_cookies = Vec::new();
            for (call, result) in ctx.history.iter().zip(ctx.ours_history) {
                let Some(used) = result.number(Out::Size) else {
                    continue;
                };
                let (Func::fd_readdir, Some((_, buf))) = (call.func, result.outputs.first()) else {
                    continue;
                };
                let buf = &buf[..(used as usize).min(buf.len())];
                let mut at = 0;
                while at + 24 <= buf.len() {
                    returned_cookies
                        .push(u64::from_le_bytes(buf[at..at + 8].try_into().expect("8")));
                    at += 24
                        + u32::from_le_bytes(buf[at + 16..at + 20].try_into().expect("4")) as usize;
                }
            }
            // A made-up cookie (or one read from memory no readdir wrote):
            // our host seeks the directory there (EINVAL past i64::MAX),
            // wasmtime-wasi skips that many entries.
            let cookie = ctx.arg(3);
            let made_up = cookie != 0 && !returned_cookies.contains(&cookie);
            // One our host returned: the same outcome, other entries.
            let returned = cookie != 0 && ctx.ours_errno() == ctx.theirs_errno();
            made_up || returned || ctx.only_differ(&[".cookies"])
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_their_reason() {
        for entry in INTENDED {
            assert!(
                entry.reason.starts_with("spec/preview1.md")
                    || entry.reason.contains("wasmtime-wasi"),
                "{}",
                entry.name
            );
        }
        let mut names: Vec<_> = INTENDED.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), INTENDED.len());
    }
}
