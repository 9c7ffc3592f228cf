//! The commands a channel carries (spec §5, §6), one module per kind, and
//! which of them a run serves.
//!
//! | Module | Commands |
//! | --- | --- |
//! | [`system`] | 0–10: the CPU, clock, time zone, OS and runtime |
//! | [`user`] | 11–16: the user's names and languages, and the profile |
//! | [`tasks`] | 17, 18: child tasks and the connection to the parent |
//! | [`log`] | 19: logging |
//! | [`console`] | 20: the developer console |
//! | [`devices`] | 33, 35: headless audio and framebuffer |
//! | [`storage`] | 40, 41: storage files and sharing them |

pub(crate) mod console;
pub(crate) mod devices;
pub(crate) mod log;
pub(crate) mod storage;
pub(crate) mod system;
pub(crate) mod tasks;
pub(crate) mod user;

use crate::abi::{self, cmd};
use crate::options::DakuOptions;

/// Why opening a channel for `which` is refused under `options`, if it is
/// (`has_parent`: whether the task is a child).
pub(crate) fn refusal(options: &DakuOptions, has_parent: bool, which: u32) -> Option<u32> {
    let grants = options.grants;
    match which {
        0..=10 | cmd::LOG | cmd::DEBUG => None,
        cmd::USERNAME..=cmd::SET_LANGUAGES => (!grants.user).then_some(abi::DENIED),
        cmd::SPAWN => (!grants.spawn).then_some(abi::DENIED),
        cmd::PARENT => (!has_parent).then_some(abi::UNSUPPORTED),
        cmd::PLAY_AUDIO | cmd::FRAMEBUFFER => options.output.is_none().then_some(abi::UNSUPPORTED),
        cmd::STORAGE | cmd::SHARE => {
            let present =
                options.storage.is_some() && (which == cmd::STORAGE || options.output.is_some());
            if !present {
                Some(abi::UNSUPPORTED)
            } else if !grants.storage {
                Some(abi::DENIED)
            } else {
                None
            }
        }
        _ => Some(abi::UNSUPPORTED),
    }
}
