//! The fuzzer on a few fixed seeds: every host runs each sequence and no
//! unintended divergence shows, and the reproducer module makes the same
//! calls. (`cargo xtask fuzz` builds the fuzzer through this target: see
//! `xtask/src/fuzz.rs`.)

use wasi_difffuzz::calls::{Arg, Call, Func, Value};
use wasi_difffuzz::hosts::{Kind, Outcome};
use wasi_difffuzz::{Fuzzer, guest, sequence};

/// Seeds that exercised most calls and most intended divergences when they
/// were chosen.
const SEEDS: [u64; 12] = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233];

#[test]
fn fixed_seeds_pass() {
    let fuzzer = Fuzzer::new().unwrap();
    for seed in SEEDS {
        let calls = sequence(seed, 40);
        let checked = fuzzer.check(&calls).unwrap();
        if let Some(failure) = &checked.verdict.failure {
            panic!("seed {seed}: {}", failure.message);
        }
        for (kind, run) in Kind::ALL.iter().zip(&checked.runs) {
            assert_eq!(
                run.results.len(),
                calls.len(),
                "{} on seed {seed}",
                kind.name()
            );
        }
    }
}

fn int(v: u64) -> Arg {
    Arg::Int(Value::Imm(v))
}

fn path(ptr: u32, text: &str) -> Arg {
    Arg::Bytes {
        ptr,
        len: text.len() as u32,
        bytes: text.as_bytes().to_vec(),
    }
}

/// `path_open(3, "file")` storing the descriptor at address 0, then
/// `fd_read` of it into a 5-byte buffer.
fn open_and_read() -> Vec<Call> {
    vec![
        Call {
            func: Func::path_open,
            args: vec![
                int(3),
                int(0),
                path(0x1000, "file"),
                int(0),
                int(wasi_core::types::Rights::all().bits()),
                int(0),
                int(0),
                Arg::Out { ptr: 0, len: 4 },
            ],
        },
        Call {
            func: Func::fd_read,
            args: vec![
                Arg::Int(Value::Load(0)),
                Arg::Iovs {
                    ptr: 0x2000,
                    iovs: vec![wasi_difffuzz::calls::Iov {
                        buf: 0x3000,
                        len: 5,
                        data: Vec::new(),
                    }],
                },
                Arg::Out {
                    ptr: 0x2008,
                    len: 4,
                },
            ],
        },
    ]
}

#[test]
fn every_host_reads_the_same_bytes() {
    let fuzzer = Fuzzer::new().unwrap();
    let checked = fuzzer.check(&open_and_read()).unwrap();
    assert!(checked.verdict.failure.is_none());
    for run in &checked.runs {
        let read = &run.results[1];
        assert_eq!(read.outcome, Outcome::Errno(0));
        assert_eq!(read.outputs[0].1, b"hello");
        assert_eq!(read.number(wasi_difffuzz::calls::Out::Size), Some(5));
    }
}

#[test]
fn reproducers_run_on_our_host() {
    // The reproducer makes the same calls: it runs without trapping on
    // wasirun's runtime and leaves the same bytes in memory.
    use wasi_core::runtime::{Imports, Instance, Runtime, RuntimeConfig};
    let wat = guest::reproducer(&open_and_read(), &[]);
    let wasm = wat::parse_str(&wat).unwrap();
    let dir = tempfile::tempdir().unwrap();
    wasi_difffuzz::tree::create(dir.path()).unwrap();
    let system = wasi_unix::UnixSystem::builder()
        .preopen_dir(dir.path().join("root"), "/sandbox")
        .unwrap()
        .build()
        .unwrap();
    let mut imports = Imports::new();
    imports.wasi(|sys: &mut wasi_unix::UnixSystem| -> &mut dyn wasi_core::System { sys });
    let runtime = wasi_wasmtime::WasmtimeRuntime::new(RuntimeConfig::default()).unwrap();
    let mut instance = runtime.instantiate(&wasm, &imports, system).unwrap();
    instance.call("_start", &[], &mut []).unwrap();
    assert_eq!(instance.memory().slice(0x3000, 5).unwrap(), b"hello");
    assert_eq!(instance.memory().read::<u32>(0x2008), Ok(5));
}
