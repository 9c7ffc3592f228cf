//! What both the comparison and the intended divergences reason about: a
//! model of each host's descriptor table, rebuilt from the calls and their
//! results, and where a call's pointers are bad.

use std::collections::BTreeMap;
use wasi_core::types::Rights;

use crate::calls::{Arg, Call, Func, Out, Param};
use crate::exec::CallResult;
use crate::hosts::{ARGS, ENV, Outcome};
use crate::tree::PREOPENS;

/// What a descriptor refers to, to tell whether a number means the same
/// thing on two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Object {
    /// Standard input, output or error.
    Stdio(u8),
    /// The `n`th preopen.
    Preopen(u8),
    /// What the call at this index opened.
    Opened(usize),
}

/// One descriptor of a [`Descriptors`] model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What it refers to.
    pub object: Object,
    /// An upper bound of its base and inheriting rights on our host (`None`
    /// where the model does not know them): rights requested, intersected
    /// with the parent's; the host may narrow them further to the file type.
    pub rights: Option<(Rights, Rights)>,
}

/// A host's descriptor table, rebuilt from the calls and their results.
#[derive(Clone, Debug)]
pub struct Descriptors {
    /// The open descriptors.
    pub open: BTreeMap<u32, Entry>,
    /// Whether the table may hold descriptors the model does not know (a
    /// call trapped after opening one).
    pub lost_track: bool,
}

impl Descriptors {
    /// Standard streams, then the preopens.
    pub(crate) fn new() -> Self {
        let mut open = BTreeMap::new();
        for n in 0..3u8 {
            open.insert(
                u32::from(n),
                Entry {
                    object: Object::Stdio(n),
                    // Pipes: spec/preview1.md, "Standard streams and preopens".
                    rights: Some((Rights::CHARACTER_DEVICE, Rights::empty())),
                },
            );
        }
        for n in 0..PREOPENS.len() as u8 {
            open.insert(
                3 + u32::from(n),
                Entry {
                    object: Object::Preopen(n),
                    rights: Some((Rights::DIRECTORY, Rights::DIRECTORY_INHERITING)),
                },
            );
        }
        Self {
            open,
            lost_track: false,
        }
    }

    /// The lowest number not open.
    pub fn lowest_free(&self) -> u32 {
        (0..)
            .find(|n| !self.open.contains_key(n))
            .unwrap_or(u32::MAX)
    }

    /// Applies call `index`'s result.
    pub(crate) fn update(&mut self, index: usize, call: &Call, result: &CallResult) {
        let fds = &result.fds;
        match result.outcome {
            Outcome::Errno(0) => {}
            Outcome::Errno(_) => return,
            _ => {
                if matches!(
                    call.func,
                    Func::path_open | Func::fd_renumber | Func::fd_close
                ) {
                    self.lost_track = true;
                }
                return;
            }
        }
        match call.func {
            Func::path_open => {
                let Some(fd) = result.number(Out::Fd) else {
                    self.lost_track = true;
                    return;
                };
                let parent = self.open.get(&fds[0]).and_then(|e| e.rights);
                let requested = |k| Rights::from_bits_truncate(result.args[k]);
                // spec/preview1.md, Paths and files: narrowed to a directory's
                // rights with oflags::directory, else to a file's and a
                // directory's together until the type is known.
                let (base, inheriting) = if result.args[4] & 2 != 0 {
                    (Rights::DIRECTORY, Rights::DIRECTORY_INHERITING)
                } else {
                    (
                        Rights::REGULAR_FILE | Rights::DIRECTORY,
                        Rights::DIRECTORY_INHERITING,
                    )
                };
                let rights = parent.map(|(_, from_parent)| {
                    (
                        requested(5) & from_parent & base,
                        requested(6) & from_parent & inheriting,
                    )
                });
                self.open.insert(
                    fd as u32,
                    Entry {
                        object: Object::Opened(index),
                        rights,
                    },
                );
            }
            Func::fd_close => {
                self.open.remove(&fds[0]);
            }
            Func::fd_renumber => {
                if fds[0] != fds[1]
                    && let Some(entry) = self.open.remove(&fds[0])
                {
                    self.open.insert(fds[1], entry);
                }
            }
            Func::fd_fdstat_set_rights => {
                if let Some(entry) = self.open.get_mut(&fds[0]) {
                    let rights = |k| Rights::from_bits_truncate(result.args[k]);
                    entry.rights = Some((rights(1), rights(2)));
                }
            }
            _ => {}
        }
    }
}

/// Whether any region a call reads or writes lies outside memory, or an
/// array is misaligned: where wasmtime-wasi traps.
pub fn bad_pointer(call: &Call) -> bool {
    use crate::calls::in_bounds;
    // args_get and environ_get write the whole list, whatever the region.
    let list = match call.func {
        Func::args_get => Some(ARGS.iter().map(|a| a.len() + 1).collect::<Vec<_>>()),
        Func::environ_get => Some(ENV.iter().map(|(k, v)| k.len() + v.len() + 2).collect()),
        _ => None,
    };
    if let (Some(list), [Arg::Out { ptr: array, .. }, Arg::Out { ptr: buf, .. }]) =
        (list, call.args.as_slice())
    {
        let size: usize = list.iter().sum();
        return !in_bounds(*array, 4 * list.len() as u32)
            || array % 4 != 0
            || !in_bounds(*buf, size as u32);
    }
    call.func
        .import()
        .params
        .iter()
        .zip(&call.args)
        .any(|(param, arg)| match arg {
            Arg::Bytes { ptr, len, .. } => !in_bounds(*ptr, *len),
            Arg::Out { ptr, len } => {
                let align = match param {
                    Param::OutPtr(kind) => kind.align(),
                    _ => 1,
                };
                !in_bounds(*ptr, *len) || ptr % align != 0
            }
            Arg::Iovs { ptr, iovs } => {
                !in_bounds(*ptr, 8 * iovs.len() as u32)
                    || ptr % 4 != 0
                    || iovs.iter().any(|iov| !in_bounds(iov.buf, iov.len))
            }
            Arg::Poll { subs, events, list } => {
                let n = list.len() as u32;
                !in_bounds(*subs, 48 * n)
                    || !in_bounds(*events, 32 * n)
                    || subs % 8 != 0
                    || events % 8 != 0
            }
            Arg::Int(_) => false,
        })
}
