//! Comparing the runs of a sequence on the three hosts.
//!
//! Each call's result is turned into a [`View`]: named fields (the errno,
//! then the fields of each output region) without what legitimately differs
//! between two runs (inode and device numbers, times, random bytes). Our two
//! engines must agree on every field of every call, on the final trees and
//! on what the guest wrote to its standard streams. wasmtime-wasi must agree
//! too, except where an entry of [`crate::intended::INTENDED`] matches the
//! difference; an entry that may leave the hosts in different states ends
//! the comparison with wasmtime-wasi for the rest of the sequence.

use std::collections::BTreeMap;
use std::fmt;

use wasi_core::types::{Errno, Filetype, Rights};

use crate::calls::{Call, FILL, Func, Out};
use crate::exec::{CallResult, Run};
use crate::hosts::{Kind, Outcome};
use crate::intended::{Ctx, INTENDED};
use crate::model::Descriptors;
use crate::tree::Tree;

/// A call's result as named fields, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View(pub Vec<(String, String)>);

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // Long values (buffers) are cut for reading.
            let value = match value.char_indices().nth(120) {
                Some((cut, _)) => format!("{}... ({} chars)", &value[..cut], value.len()),
                None => value.clone(),
            };
            if name == "result" {
                f.write_str(&value)?;
            } else {
                write!(f, "{name}={value}")?;
            }
        }
        Ok(())
    }
}

impl View {
    /// The names of the fields that differ from `other`'s.
    pub fn differing(&self, other: &View) -> Vec<String> {
        let theirs: BTreeMap<_, _> = other.0.iter().cloned().collect();
        let mine: BTreeMap<_, _> = self.0.iter().cloned().collect();
        let mut names: Vec<String> = mine.keys().chain(theirs.keys()).cloned().collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| mine.get(n) != theirs.get(n))
            .collect()
    }
}

/// The name of an errno.
pub fn errno_name(errno: u16) -> String {
    match Errno(errno).name() {
        Some(name) => name.to_uppercase(),
        None => format!("errno {errno}"),
    }
}

fn filetype_name(raw: u8) -> String {
    Filetype(raw)
        .name()
        .map_or_else(|| format!("filetype {raw}"), str::to_owned)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` with the given ranges replaced by `..`, in hex.
fn masked(bytes: &[u8], masks: &[std::ops::Range<usize>]) -> String {
    let mut out = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if masks.iter().any(|m| m.contains(&i)) {
            out.push_str("..");
        } else {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// The view of a call's result. `strict` views (for comparing our two
/// engines) also hold the raw bytes of each output, less the fields that
/// differ between any two runs.
pub fn view(result: &CallResult, strict: bool) -> View {
    let mut fields = Vec::new();
    let outcome = match &result.outcome {
        Outcome::Errno(0) => "success".to_owned(),
        Outcome::Errno(errno) => errno_name(*errno),
        Outcome::Trap(message) if strict => format!("trap: {message}"),
        Outcome::Trap(_) => "trap".to_owned(),
        Outcome::Panic(message) => format!("panic: {message}"),
    };
    fields.push(("result".to_owned(), outcome));
    let success = result.errno() == Some(0);
    // fd_readdir's used size, needed to parse its buffer.
    let used = result.number(Out::Size).map(|n| n as usize);
    for (i, (kind, bytes)) in result.outputs.iter().enumerate() {
        let name = |field: &str| format!("o{i}.{field}");
        if !success || matches!(kind, Out::Clock | Out::Random) {
            // Nothing may be written by a failed call; clocks and random
            // bytes differ between runs.
            if !success {
                let value = if bytes.iter().all(|b| *b == FILL) {
                    "unwritten".to_owned()
                } else {
                    hex(bytes)
                };
                fields.push((format!("o{i}"), value));
            }
            continue;
        }
        if kind.size().is_some_and(|size| bytes.len() < size as usize) {
            fields.push((name("partial"), hex(bytes)));
            continue;
        }
        match kind {
            Out::Size | Out::Fd => fields.push((
                name(if *kind == Out::Fd { "fd" } else { "size" }),
                u32_at(bytes, 0).to_string(),
            )),
            Out::Filesize => fields.push((name("filesize"), u64_at(bytes, 0).to_string())),
            Out::Roflags => fields.push((name("roflags"), u16_at(bytes, 0).to_string())),
            Out::Fdstat => {
                fields.push((name("filetype"), filetype_name(bytes[0])));
                fields.push((name("flags"), format!("{:#x}", u16_at(bytes, 2))));
                let rights = |at| format!("{:?}", Rights::from_bits_retain(u64_at(bytes, at)));
                fields.push((name("rights_base"), rights(8)));
                fields.push((name("rights_inheriting"), rights(16)));
                if strict {
                    fields.push((name("raw"), hex(bytes)));
                }
            }
            Out::Filestat => {
                fields.push((name("filetype"), filetype_name(bytes[16])));
                fields.push((name("nlink"), u64_at(bytes, 24).to_string()));
                fields.push((name("size"), u64_at(bytes, 32).to_string()));
                if strict {
                    fields.push((name("raw"), masked(bytes, &[0..16, 40..64])));
                }
            }
            Out::Prestat => {
                fields.push((name("tag"), bytes[0].to_string()));
                fields.push((name("name_len"), u32_at(bytes, 4).to_string()));
                if strict {
                    fields.push((name("raw"), hex(bytes)));
                }
            }
            Out::Bytes => {
                let mut text = String::new();
                crate::calls::print_bytes(&mut text, bytes);
                fields.push((name("bytes"), text));
            }
            Out::Pointers => {
                let pointers: Vec<String> = bytes
                    .chunks(4)
                    .map(|c| {
                        if c.len() == 4 {
                            format!("{:#x}", u32_at(c, 0))
                        } else {
                            hex(c)
                        }
                    })
                    .collect();
                fields.push((name("pointers"), pointers.join(" ")));
            }
            Out::Events => {
                let mut events: Vec<String> = bytes
                    .chunks(32)
                    .map(|e| {
                        if e.len() < 32 {
                            return hex(e);
                        }
                        if !strict && e[10] == 0 {
                            // The witx: clock events ignore the fd_readwrite field.
                            return format!("{}:{}:clock", u64_at(e, 0), errno_name(u16_at(e, 8)));
                        }
                        format!(
                            "{}:{}:{}:{}:{}",
                            u64_at(e, 0),
                            errno_name(u16_at(e, 8)),
                            e[10],
                            u64_at(e, 16),
                            u16_at(e, 24)
                        )
                    })
                    .collect();
                if !strict {
                    events.sort();
                }
                fields.push((name("events"), events.join(" ")));
            }
            Out::Dirents => dirents(&mut fields, &name, bytes, used, strict),
            Out::Clock | Out::Random => unreachable!("skipped above"),
        }
    }
    View(fields)
}

/// The fields of an `fd_readdir` buffer of which `used` bytes were filled.
fn dirents(
    fields: &mut Vec<(String, String)>,
    name: &dyn Fn(&str) -> String,
    bytes: &[u8],
    used: Option<usize>,
    strict: bool,
) {
    let used = used.unwrap_or(0).min(bytes.len());
    let mut entries = Vec::new();
    let mut cookies = Vec::new();
    let mut masks = Vec::new();
    let mut at = 0;
    let mut partial = String::new();
    while at < used {
        // d_ino differs between runs, even in a cut header.
        masks.push(at + 8..at + 16);
        if at + 24 > used {
            partial = format!("header of {} bytes", used - at);
            break;
        }
        let namlen = u32_at(bytes, at + 16) as usize;
        let end = at + 24 + namlen;
        let entry_name = &bytes[at + 24..end.min(used)];
        let mut text = String::new();
        crate::calls::print_bytes(&mut text, entry_name);
        let described = format!("{text}:{}", filetype_name(bytes[at + 20]));
        if end > used {
            partial = format!("{described} cut to {} bytes", used - at - 24);
            break;
        }
        entries.push(described);
        cookies.push(u64_at(bytes, at).to_string());
        at = end;
    }
    if strict {
        fields.push((name("order"), entries.join(" ")));
        fields.push((name("raw"), masked(&bytes[..used], &masks)));
    }
    entries.sort();
    fields.push((name("entries"), entries.join(" ")));
    fields.push((name("cookies"), cookies.join(" ")));
    if !partial.is_empty() {
        fields.push((name("partial"), partial));
    }
}

/// Why a sequence failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure, and on which call and import: what shrinking
    /// must preserve.
    pub signature: String,
    /// The index of the call where it shows, if any.
    pub call: Option<usize>,
    /// A description for the report.
    pub message: String,
}

/// The outcome of comparing a sequence's runs.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// Intended divergences seen: entry name and call index.
    pub intended: Vec<(&'static str, usize)>,
    /// The call after which wasmtime-wasi's state may differ from ours (no
    /// later call, nor the final trees, was compared with it).
    pub desynced_at: Option<usize>,
}

fn failure(signature: String, call: Option<usize>, message: String) -> Option<Failure> {
    Some(Failure {
        signature,
        call,
        message,
    })
}

/// Compares the runs of `calls` on the hosts of [`Kind::ALL`], in order.
pub fn compare(calls: &[Call], runs: &[Run; 3], initial: &Tree) -> Verdict {
    let mut verdict = Verdict::default();
    verdict.failure = check_runs(calls, runs, initial, &mut verdict);
    verdict
}

fn check_runs(
    calls: &[Call],
    runs: &[Run; 3],
    initial: &Tree,
    verdict: &mut Verdict,
) -> Option<Failure> {
    let [ours, wasmi, theirs] = runs;
    // Panics first: they end a run early.
    for (kind, run) in Kind::ALL.iter().zip(runs) {
        if let Some((
            i,
            CallResult {
                outcome: Outcome::Panic(message),
                ..
            },
        )) = run.results.iter().enumerate().next_back()
        {
            return failure(
                format!("panic {} {}", kind.name(), calls[i].func.name()),
                Some(i),
                format!("{} panicked: {message}", kind.name()),
            );
        }
    }
    // Our two engines agree on everything.
    let mut model = Descriptors::new();
    for (i, (a, b)) in ours.results.iter().zip(&wasmi.results).enumerate() {
        let (va, vb) = (view(a, true), view(b, true));
        if va != vb {
            return failure(
                format!(
                    "engines {} {}",
                    calls[i].func.name(),
                    summary(&va.differing(&vb))
                ),
                Some(i),
                format!(
                    "our host differs between engines:\n  {}: {va}\n  {}: {vb}",
                    Kind::OursWasmtime.name(),
                    Kind::OursWasmi.name()
                ),
            );
        }
        if let Outcome::Trap(message) = &a.outcome {
            return failure(
                format!("trap {}", calls[i].func.name()),
                Some(i),
                format!("our host trapped: {message}"),
            );
        }
        // spec/preview1.md, "File descriptors": new descriptors take the
        // lowest free number.
        if let Some(fd) = result_fd(&calls[i], a)
            && fd != model.lowest_free()
        {
            return failure(
                format!("lowest-free {}", calls[i].func.name()),
                Some(i),
                format!(
                    "our host returned descriptor {fd}, not the lowest free one ({})",
                    model.lowest_free()
                ),
            );
        }
        model.update(i, &calls[i], a);
    }
    if let Some(diff) = ours.tree.diff(&wasmi.tree, "ours/wasmtime", "ours/wasmi") {
        return failure(
            "engines tree".to_owned(),
            None,
            format!("the trees left by our host differ between engines:\n{diff}"),
        );
    }
    if ours.streams != wasmi.streams {
        return failure(
            "engines streams".to_owned(),
            None,
            format!(
                "standard streams differ between engines: {:?} / {:?}",
                ours.streams, wasmi.streams
            ),
        );
    }
    // Nothing outside the sandbox changes, on any host.
    for (kind, run) in Kind::ALL.iter().zip(runs) {
        let outside = |tree: &Tree| -> Tree {
            Tree(
                tree.0
                    .iter()
                    .filter(|(name, _)| name.starts_with("outside/"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        };
        if let Some(diff) = outside(initial).diff(&outside(&run.tree), "before", kind.name()) {
            return failure(
                format!("escape {}", kind.name()),
                None,
                format!("{} changed files outside its sandbox:\n{diff}", kind.name()),
            );
        }
    }
    // wasmtime-wasi, up to the first divergence that may desynchronise it.
    let mut mine = Descriptors::new();
    let mut yours = Descriptors::new();
    for (i, (a, b)) in ours.results.iter().zip(&theirs.results).enumerate() {
        let call = &calls[i];
        let (va, vb) = (view(a, false), view(b, false));
        let differing = va.differing(&vb);
        let objects_differ = a.fds.iter().zip(&b.fds).any(|(x, y)| {
            mine.open.get(x).map(|e| e.object) != yours.open.get(y).map(|e| e.object)
        });
        let ctx = Ctx {
            call,
            history: &calls[..i],
            ours_history: &ours.results[..i],
            ours: a,
            theirs: b,
            differing: &differing,
            ours_fds: &mine,
            theirs_fds: &yours,
            objects_differ,
        };
        if !differing.is_empty() || objects_differ {
            match INTENDED.iter().find(|entry| (entry.applies)(&ctx)) {
                Some(entry) => {
                    verdict.intended.push((entry.name, i));
                    // Calls that fail on both hosts change nothing.
                    let both_failed =
                        a.errno().is_some_and(|e| e != 0) && b.errno().is_some_and(|e| e != 0);
                    if (entry.desyncs && !both_failed) || objects_differ || yours.lost_track {
                        verdict.desynced_at = Some(i);
                        return None;
                    }
                }
                None => {
                    return failure(
                        format!(
                            "divergence {} {} {}",
                            call.func.name(),
                            va.0[0].1,
                            vb.0[0].1
                        ),
                        Some(i),
                        format!(
                            "our host and wasmtime-wasi differ in {}:\n  ours:          {va}\n  wasmtime-wasi: {vb}",
                            summary(&differing)
                        ),
                    );
                }
            }
        }
        mine.update(i, call, a);
        yours.update(i, call, b);
        if yours.lost_track {
            verdict.desynced_at = Some(i);
            return None;
        }
    }
    if let Some(diff) = ours.tree.diff(&theirs.tree, "ours", "wasmtime-wasi") {
        return failure(
            "tree".to_owned(),
            None,
            format!("the trees left by our host and by wasmtime-wasi differ:\n{diff}"),
        );
    }
    if ours.streams != theirs.streams {
        return failure(
            "streams".to_owned(),
            None,
            format!(
                "standard streams differ: ours {:?}, wasmtime-wasi {:?}",
                ours.streams, theirs.streams
            ),
        );
    }
    None
}

/// The first few names of `fields`, for a message.
fn summary(fields: &[String]) -> String {
    let mut text = fields
        .iter()
        .take(6)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if fields.len() > 6 {
        text.push_str(&format!(" and {} more", fields.len() - 6));
    }
    text
}

/// The descriptor a successful `path_open` returned.
fn result_fd(call: &Call, result: &CallResult) -> Option<u32> {
    (call.func == Func::path_open)
        .then(|| result.number(Out::Fd))
        .flatten()
        .map(|fd| fd as u32)
}
