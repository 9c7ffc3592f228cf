//! Every `System` method, called through `Tracer(Wadi(UnixSystem))`, reaches
//! the `UnixSystem` at the bottom: no decorator drops a call. The calls and
//! the recorder are generated from `for_each_system_method!`, so a method
//! added to the table is walked without touching this test.

use std::sync::{Arc, Mutex};
use wadi_devices::Wadi;
use wasi_core::Tracer;
use wasi_core::mount::Mounts;
use wasi_core::system::prelude::*;
use wasi_core::vfs::VirtualFds;
use wasi_unix::UnixSystem;
use wasi_wasmi::WasmiRuntime;

/// Forwards every call to a `UnixSystem`, recording its name first.
struct Recorder {
    inner: UnixSystem,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

macro_rules! recorded {
    ($($(#[$meta:meta])* [trace: $trace:ident] fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty $(=> $default:block)?;)*) => {
        impl wasi_core::system::Decorator for Recorder {
            type Inner = UnixSystem;

            fn inner(&mut self) -> &mut UnixSystem {
                &mut self.inner
            }

            $(
                $(#[$meta])*
                fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                    self.calls.lock().unwrap().push(stringify!($name));
                    self.inner.$name($($arg),*)
                }
            )*
        }

        /// The name of every method.
        const METHODS: &[&str] = &[$(stringify!($name)),*];

        /// The methods whose default follows from another method
        /// (`args_sizes_get` from `args_get`): a decorator computes them
        /// from what it forwards.
        const DERIVED: &[&str] = &[$($({
            let _ = stringify!($default);
            stringify!($name)
        },)?)*];

        /// Calls every method once with harmless arguments: descriptor 1000
        /// (not open), path `walk`, empty buffers.
        fn call_every_method(sys: &mut impl System) {
            $(
                {
                    $(let $arg: $ty = Sample::sample();)*
                    let _ = sys.$name($($arg),*);
                }
            )*
        }
    };
}

wasi_core::for_each_system_method!(recorded);

impl VirtualFds for Recorder {
    wasi_core::forward_virtual_fds!(self => self.inner);
}

/// A harmless value of an argument type.
trait Sample {
    fn sample() -> Self;
}

macro_rules! sample_default {
    ($($ty:ty),*) => {$(
        impl Sample for $ty {
            fn sample() -> Self {
                Default::default()
            }
        }
    )*};
}

sample_default!(
    u64,
    i64,
    usize,
    i32,
    Clockid,
    Advice,
    Fdflags,
    Rights,
    Fstflags,
    Lookupflags,
    Oflags,
    Whence,
    Signal,
    Riflags,
    Siflags,
    Sdflags,
    AddressFamily,
    SockType,
    AddrinfoHints
);

impl Sample for SockOpt {
    fn sample() -> Self {
        SockOpt::ReuseAddr
    }
}

impl Sample for u32 {
    /// Descriptor 1000, which is not open (and a harmless count elsewhere).
    fn sample() -> Self {
        1000
    }
}

impl Sample for &str {
    fn sample() -> Self {
        "walk"
    }
}

impl Sample for SocketAddr {
    fn sample() -> Self {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }
}

impl Sample for &[IoSlice<'_>] {
    fn sample() -> Self {
        &[]
    }
}

impl Sample for &mut [IoSliceMut<'_>] {
    fn sample() -> Self {
        &mut []
    }
}

impl Sample for &mut [u8] {
    fn sample() -> Self {
        &mut []
    }
}

impl Sample for &[Subscription] {
    fn sample() -> Self {
        // `poll_oneoff` gets at least one subscription: a clock that is due.
        Box::leak(Box::new([Subscription {
            tag: Eventtype::CLOCK,
            ..Default::default()
        }]))
    }
}

impl Sample for &mut [Event] {
    fn sample() -> Self {
        Box::leak(Box::new([Event::default()]))
    }
}

impl Sample for &mut DirentWriter<'_> {
    fn sample() -> Self {
        Box::leak(Box::new(DirentWriter::new(Box::leak(Box::new([0u8; 64])))))
    }
}

#[test]
fn every_method_reaches_the_inner_system_through_tracer_and_wadi() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        inner: UnixSystem::builder().build().unwrap(),
        calls: Arc::clone(&calls),
    };
    let host: wadi_devices::HostFactory = Box::new(|_| Err("no drivers here".into()));
    let wadi = Wadi::new(
        Mounts::new(recorder),
        WasmiRuntime::new(Default::default()),
        host,
    )
    .unwrap();
    let mut stack = Tracer::new(wadi, std::io::sink());
    // Setting up WADI installs its `/dev` descriptors through the recorder.
    calls.lock().unwrap().clear();
    call_every_method(&mut stack);
    let calls = calls.lock().unwrap();
    let missed: Vec<_> = METHODS
        .iter()
        .filter(|m| !calls.contains(m) && !DERIVED.contains(m))
        .collect();
    assert!(missed.is_empty(), "never reached UnixSystem: {missed:?}");
    assert_eq!((METHODS.len(), DERIVED.len()), (57, 2));
}
