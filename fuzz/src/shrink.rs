//! Shrinking a failing sequence: dropping calls, then simplifying arguments,
//! as long as it still fails the same way (same [`Failure::signature`]).

use std::time::{Duration, Instant};

use crate::calls::{Arg, Call, Iov, Sub, Value};
use crate::compare::Failure;

/// Shrinks `calls`, which fail with `signature`, using `fails` to run a
/// candidate. Stops after `budget` (the sequence found so far is returned).
pub fn shrink(
    mut calls: Vec<Call>,
    signature: &str,
    budget: Duration,
    mut fails: impl FnMut(&[Call]) -> Option<Failure>,
) -> Vec<Call> {
    let deadline = Instant::now() + budget;
    let mut still_fails =
        |candidate: &[Call]| fails(candidate).is_some_and(|failure| failure.signature == signature);
    loop {
        let before = calls.clone();
        // Drop chunks of calls, halving their size down to one.
        let mut chunk = calls.len().div_ceil(2).max(1);
        loop {
            let mut at = 0;
            while at < calls.len() && Instant::now() < deadline {
                let mut candidate = calls.clone();
                candidate.drain(at..(at + chunk).min(calls.len()));
                if !candidate.is_empty() && still_fails(&candidate) {
                    calls = candidate;
                } else {
                    at += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
        // Simplify each argument of each call.
        for i in 0..calls.len() {
            for j in 0..calls[i].args.len() {
                for simpler in simplifications(&calls[i].args[j]) {
                    if Instant::now() >= deadline {
                        return calls;
                    }
                    let mut candidate = calls.clone();
                    candidate[i].args[j] = simpler;
                    if still_fails(&candidate) {
                        calls = candidate;
                        break;
                    }
                }
            }
        }
        if calls == before || Instant::now() >= deadline {
            return calls;
        }
    }
}

/// Simpler versions of an argument, simplest first.
fn simplifications(arg: &Arg) -> Vec<Arg> {
    let mut out = Vec::new();
    match arg {
        Arg::Int(Value::Imm(v)) => {
            for simpler in [0, 1, 3, v >> 1, v & (v.wrapping_sub(1))] {
                if simpler < *v && !out.contains(&Arg::Int(Value::Imm(simpler))) {
                    out.push(Arg::Int(Value::Imm(simpler)));
                }
            }
        }
        Arg::Int(Value::Load(_)) => out.push(Arg::Int(Value::Imm(3))),
        Arg::Bytes { ptr, len, bytes } => {
            if *len as usize != bytes.len() {
                out.push(Arg::Bytes {
                    ptr: *ptr,
                    len: bytes.len() as u32,
                    bytes: bytes.clone(),
                });
            }
            // Drop one `/`-separated component at a time.
            let parts: Vec<&[u8]> = bytes.split(|b| *b == b'/').collect();
            for skip in 0..parts.len() {
                if parts.len() < 2 {
                    break;
                }
                let kept: Vec<&[u8]> = parts
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, p)| *p)
                    .collect();
                let shorter = kept.join(&b'/');
                out.push(Arg::Bytes {
                    ptr: *ptr,
                    len: shorter.len() as u32,
                    bytes: shorter,
                });
            }
        }
        Arg::Iovs { ptr, iovs } => {
            for skip in 0..iovs.len() {
                let mut fewer = iovs.clone();
                fewer.remove(skip);
                out.push(Arg::Iovs {
                    ptr: *ptr,
                    iovs: fewer,
                });
            }
            let halved: Vec<Iov> = iovs
                .iter()
                .map(|iov| Iov {
                    buf: iov.buf,
                    len: iov.len / 2,
                    data: iov.data.get(..iov.data.len() / 2).unwrap_or(&[]).to_vec(),
                })
                .collect();
            if halved != *iovs {
                out.push(Arg::Iovs {
                    ptr: *ptr,
                    iovs: halved,
                });
            }
        }
        Arg::Poll { subs, events, list } => {
            for skip in 0..list.len() {
                let mut fewer = list.clone();
                fewer.remove(skip);
                if !Sub::bounded(&fewer) {
                    continue;
                }
                out.push(Arg::Poll {
                    subs: *subs,
                    events: *events,
                    list: fewer,
                });
            }
        }
        Arg::Out { .. } => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::Func;

    fn int(v: u64) -> Arg {
        Arg::Int(Value::Imm(v))
    }

    #[test]
    fn shrinks_to_the_calls_that_matter() {
        // A "failure": an fd_close of descriptor 7 after an fd_close of 5.
        let close = |fd| Call {
            func: Func::fd_close,
            args: vec![int(fd)],
        };
        let calls: Vec<Call> = [1, 5, 2, 9, 7, 8, 7, 3].into_iter().map(close).collect();
        let fails = |calls: &[Call]| {
            let fds: Vec<_> = calls
                .iter()
                .map(|c| match c.args[0] {
                    Arg::Int(Value::Imm(v)) => v,
                    _ => 0,
                })
                .collect();
            let five = fds.iter().position(|&fd| fd == 5)?;
            fds[five..].contains(&7).then(|| Failure {
                signature: "x".into(),
                call: None,
                message: String::new(),
            })
        };
        let shrunk = shrink(calls, "x", Duration::from_secs(10), fails);
        assert_eq!(shrunk, vec![close(5), close(7)]);
    }

    #[test]
    fn paths_lose_components() {
        let path = Arg::Bytes {
            ptr: 0x100,
            len: 5,
            bytes: b"a/b/c".to_vec(),
        };
        let simpler: Vec<_> = simplifications(&path)
            .into_iter()
            .map(|a| match a {
                Arg::Bytes { bytes, .. } => String::from_utf8(bytes).unwrap(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(simpler, ["b/c", "a/c", "a/b"]);
        assert_eq!(simplifications(&int(0)), []);
        assert_eq!(simplifications(&int(6)), [int(0), int(1), int(3), int(4)]);
    }
}
