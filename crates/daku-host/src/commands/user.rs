//! Commands 11–16: the user's name, full name and languages, read from
//! the program's profile (spec §8) or the system, and set in the profile.

use crate::abi::{self, Res, cmd, fault};
use crate::info;
use crate::run_state::RunState;
use std::sync::PoisonError;
use wasi_core::GuestMemory;

/// Carries out command `which` (11–16) with its payload at `data`, for
/// task number `task` of `run`.
pub(crate) fn serve(
    mem: &mut GuestMemory<'_>,
    which: u32,
    data: u32,
    run: &RunState,
    task: u32,
) -> Res<()> {
    let mut profile = run.profile.lock().unwrap_or_else(PoisonError::into_inner);
    let text = |mem: &GuestMemory<'_>| -> Res<String> {
        let text = abi::text_at(mem, data, 4096)?;
        if abi::has_controls(&text) {
            return Err(fault("text has control characters"));
        }
        Ok(text)
    };
    match which {
        cmd::USERNAME => {
            let name = profile
                .username
                .clone()
                .unwrap_or_else(info::system_username);
            return abi::receive_text(mem, data, &name);
        }
        cmd::FULL_NAME => {
            let name = profile
                .full_name
                .clone()
                .unwrap_or_else(info::system_full_name);
            return abi::receive_text(mem, data, &name);
        }
        cmd::LANGUAGES => {
            let codes = profile.languages.clone().unwrap_or_else(|| {
                let language = std::env::var("LANGUAGE").ok();
                let lang = std::env::var("LANG").ok();
                info::system_languages(language.as_deref(), lang.as_deref())
            });
            return abi::receive(mem, data, &codes.concat(), codes.len() as u32);
        }
        cmd::SET_USERNAME => profile.username = Some(text(mem)?),
        cmd::SET_FULL_NAME => profile.full_name = Some(text(mem)?),
        _ => {
            let (count, list) = abi::list_at(mem, data)?;
            if count > 256 {
                return Err(fault("more than 256 languages"));
            }
            let raw = abi::slice(mem, list, count * 4)?;
            let codes: Vec<[u8; 4]> = raw
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect();
            if !codes.iter().all(|&c| info::is_language(c)) {
                return Err(fault("a Language is two letters a-z then two A-Z"));
            }
            profile.languages = Some(codes);
        }
    }
    if let Err(error) = profile.save() {
        drop(profile);
        run.log_line(&format!(
            "daku[{task}] host WARNING: profile not saved: {error}"
        ));
    }
    Ok(())
}
