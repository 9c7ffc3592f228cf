//! The answers of commands 0–16: the system, the clock, the time zone and
//! the user, and the per-program profile the setters write.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use std::path::{Path, PathBuf};

/// Command 2's text for the engine named `engine` (spec §5); empty for an
/// engine the spec does not list.
pub(crate) fn cpu_extensions(engine: &str) -> &'static str {
    match engine {
        "wasmtime" => {
            "bulk-memory exceptions gc memory64 multi-memory multi-value reference-types \
             relaxed-simd simd tail-call threads"
        }
        "wasmi" => {
            "bulk-memory extended-const memory64 multi-memory multi-value reference-types \
             relaxed-simd simd tail-call"
        }
        _ => "",
    }
}

/// Command 7: the `Platform` of the host's kernel.
pub(crate) fn kernel() -> u32 {
    if cfg!(target_os = "linux") {
        0
    } else if cfg!(any(
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )) {
        1
    } else if cfg!(target_os = "macos") {
        3
    } else {
        u32::MAX
    }
}

/// Command 8: `NAME` of os-release.
pub(crate) fn os_name() -> String {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|t| os_release_name(&t))
        })
        .unwrap_or_else(|| "Linux".into())
}

/// The `NAME` of an os-release file's text, unquoted.
pub(crate) fn os_release_name(text: &str) -> Option<String> {
    let value = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("NAME="))?;
    let value = value.trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    (!unquoted.is_empty()).then(|| unquoted.to_owned())
}

/// Command 9: the `Environment` for an `XDG_CURRENT_DESKTOP` value.
pub(crate) fn environment(desktop: Option<&str>) -> u32 {
    let first = desktop.unwrap_or("").split(':').next().unwrap_or("");
    match first.to_ascii_lowercase().as_str() {
        "" => 13,
        "gnome" => 0,
        "lxde" => 2,
        "openbox" => 3,
        "mate" => 4,
        "xfce" => 5,
        "kde" => 6,
        "cinnamon" | "x-cinnamon" => 7,
        "i3" => 8,
        "ubuntu" => 14,
        _ => u32::MAX,
    }
}

/// Command 10: the `Runtime` of the engine named `engine`; `0xFFFF_FFFF`
/// for one outside the enumeration.
pub(crate) fn runtime(engine: &str) -> u32 {
    match engine {
        "wasmtime" => 0,
        "wasmi" => 2,
        _ => u32::MAX,
    }
}

/// The fields of this process's `/etc/passwd` entry: name and GECOS.
fn passwd_entry() -> Option<(String, String)> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 5 && fields[2] == uid)
            .then(|| (fields[0].to_owned(), fields[4].to_owned()))
    })
}

/// Command 11 without a profile value.
pub(crate) fn system_username() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| passwd_entry().map(|(name, _)| name))
        .unwrap_or_default()
}

/// Command 12 without a profile value.
pub(crate) fn system_full_name() -> String {
    passwd_entry()
        .map(|(_, gecos)| gecos.split(',').next().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// Command 13 without a profile value: `LANGUAGE` then `LANG`.
pub(crate) fn system_languages(language: Option<&str>, lang: Option<&str>) -> Vec<[u8; 4]> {
    let mut found = Vec::new();
    let entries = language
        .unwrap_or("")
        .split(':')
        .chain(std::iter::once(lang.unwrap_or("")));
    for entry in entries {
        if let Some(code) = language_code(entry)
            && !found.contains(&code)
        {
            found.push(code);
        }
    }
    found
}

/// `ll[_RR][.charset][@modifier]` as `llRR` (`llXX` without a region).
fn language_code(locale: &str) -> Option<[u8; 4]> {
    let base = locale.split(['.', '@']).next()?;
    if base == "C" || base == "POSIX" {
        return None;
    }
    let (lang, region) = base.split_once('_').unwrap_or((base, "XX"));
    let lang = lang.as_bytes();
    let region = region.as_bytes();
    let valid = lang.len() == 2
        && lang.iter().all(u8::is_ascii_alphabetic)
        && region.len() == 2
        && region.iter().all(u8::is_ascii_alphabetic);
    valid.then(|| {
        [
            lang[0].to_ascii_lowercase(),
            lang[1].to_ascii_lowercase(),
            region[0].to_ascii_uppercase(),
            region[1].to_ascii_uppercase(),
        ]
    })
}

/// Whether `code` is a valid `Language` (spec §5, command 16).
pub(crate) fn is_language(code: [u8; 4]) -> bool {
    code[..2].iter().all(u8::is_ascii_lowercase) && code[2..].iter().all(u8::is_ascii_uppercase)
}

/// A program's profile (spec §8): what setters 14–16 stored.
#[derive(Debug, Default)]
pub(crate) struct Profile {
    path: Option<PathBuf>,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub languages: Option<Vec<[u8; 4]>>,
}

impl Profile {
    /// `$XDG_CONFIG_HOME/daku/profiles/MODULE.profile`.
    pub fn default_path(module: &Path) -> Option<PathBuf> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
        let name = module.file_name()?;
        let mut file = name.to_owned();
        file.push(".profile");
        Some(config.join("daku").join("profiles").join(file))
    }

    /// The profile at `path`, empty if it does not exist or cannot be read.
    pub fn load(path: Option<PathBuf>) -> Self {
        let mut profile = Profile::default();
        if let Some(text) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
            for line in text.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                match key {
                    "username" => profile.username = Some(value.to_owned()),
                    "fullname" => profile.full_name = Some(value.to_owned()),
                    "languages" => {
                        let codes = value
                            .split(',')
                            .filter_map(|c| <[u8; 4]>::try_from(c.as_bytes()).ok())
                            .filter(|&c| is_language(c))
                            .collect();
                        profile.languages = Some(codes);
                    }
                    _ => {}
                }
            }
        }
        profile.path = path;
        profile
    }

    /// Writes the profile back, atomically (a temporary file renamed over it).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Err(std::io::Error::other("no profile path (HOME is unset)"));
        };
        let mut text = String::new();
        if let Some(name) = &self.username {
            text += &format!("username={name}\n");
        }
        if let Some(name) = &self.full_name {
            text += &format!("fullname={name}\n");
        }
        if let Some(codes) = &self.languages {
            let codes: Vec<&str> = codes
                .iter()
                .map(|c| std::str::from_utf8(c).unwrap_or("xxXX"))
                .collect();
            text += &format!("languages={}\n", codes.join(","));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut temporary = path.clone().into_os_string();
        temporary.push(".tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path)
    }
}

/// Encodes a civil date-time as a Daku `DateTime` (8 bytes); the year is
/// taken modulo 65536.
pub(crate) fn encode_datetime(dt: DateTime, millis_extra: u16) -> [u8; 8] {
    let year = dt.year() as u16;
    let weekday = dt.weekday().to_monday_one_offset() as u8;
    let millis = dt.second() as u16 * 1000 + millis_extra;
    let [y0, y1] = year.to_le_bytes();
    let [m0, m1] = millis.to_le_bytes();
    [
        y0,
        y1,
        dt.month() as u8,
        (weekday << 5) | dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        m0,
        m1,
    ]
}

/// Command 5: the current UTC `DateTime`.
pub(crate) fn now_utc() -> [u8; 8] {
    let now = Timestamp::now();
    let dt = now.to_zoned(TimeZone::UTC).datetime();
    encode_datetime(dt, (dt.subsec_nanosecond() / 1_000_000) as u16)
}

/// Command 6's values, before they are laid out.
pub(crate) struct Zone {
    pub designation: u32,
    pub deltas: Vec<[u8; 16]>,
    pub offset: [u8; 8],
    pub leap_seconds: Vec<[u8; 4]>,
    pub leap: i16,
    pub is_dst: bool,
}

/// Command 6 for `tz` at `now`, with the host's leap second table.
pub(crate) fn zone(tz: &TimeZone, now: Timestamp, leap_table: Option<&str>) -> Zone {
    let info = tz.to_offset_info(now);
    let abbreviation = info.abbreviation();
    let designation = if tz.iana_name() == Some("UTC") || abbreviation == "UTC" {
        0
    } else {
        let mut bytes = [0u8; 4];
        for (b, a) in bytes.iter_mut().zip(abbreviation.bytes()) {
            *b = a;
        }
        u32::from_le_bytes(bytes)
    };
    let year = now.to_zoned(TimeZone::UTC).year();
    let start = Date::new(year, 1, 1)
        .ok()
        .and_then(|d| d.to_zoned(TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .unwrap_or(now);
    let end = start
        .to_zoned(TimeZone::UTC)
        .checked_add(1.year())
        .map(|z| z.timestamp())
        .unwrap_or(now);
    let mut deltas = Vec::new();
    // The transition strictly after `start - 1ns`, so one at midnight counts.
    let from = start.checked_sub(1.nanosecond()).unwrap_or(start);
    for transition in tz.following(from) {
        let at = transition.timestamp();
        if at >= end {
            break;
        }
        let before = tz.to_offset(at.checked_sub(1.nanosecond()).unwrap_or(at));
        let after = transition.offset();
        let when = before.to_datetime(at);
        let new = after.to_datetime(at);
        let mut record = [0u8; 16];
        record[..8].copy_from_slice(&encode_datetime(when, 0));
        record[8..].copy_from_slice(&encode_datetime(new, 0));
        deltas.push(record);
    }
    let epoch = DateTime::constant(0, 1, 1, 0, 0, 0, 0);
    let local = epoch
        .checked_add(info.offset().seconds().seconds())
        .unwrap_or(epoch);
    let leap_seconds = leap_table.map(parse_leap_seconds).unwrap_or_default();
    let leap = leap_seconds.iter().map(|l| i16::from(l[3] as i8)).sum();
    Zone {
        designation,
        deltas,
        offset: encode_datetime(local, 0),
        leap_seconds,
        leap,
        is_dst: info.dst().is_dst(),
    }
}

/// The host's zone (`TZ`, else `/etc/localtime`), UTC if unknown.
pub(crate) fn host_zone() -> TimeZone {
    TimeZone::try_system().unwrap_or(TimeZone::UTC)
}

/// The tz database's `leapseconds` file: `Leap YEAR MON DAY HH:MM:SS +|- S`.
pub(crate) fn parse_leap_seconds(text: &str) -> Vec<[u8; 4]> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 6 || fields[0] != "Leap" {
                return None;
            }
            let year: i16 = fields[1].parse().ok()?;
            let month = MONTHS.iter().position(|m| *m == fields[2])? as u8 + 1;
            let delta: i8 = match fields[5] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let [y0, y1] = year.to_le_bytes();
            Some([y0, y1, month, delta as u8])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_from_the_environment() {
        assert_eq!(
            system_languages(Some("eo:en_GB"), Some("en_US.UTF-8")),
            [*b"eoXX", *b"enGB", *b"enUS"]
        );
        assert_eq!(
            system_languages(None, Some("C.UTF-8")),
            Vec::<[u8; 4]>::new()
        );
        assert_eq!(
            system_languages(Some("en_US"), Some("en_US.UTF-8")),
            [*b"enUS"]
        );
    }

    #[test]
    fn engines_by_name() {
        assert_eq!(runtime("wasmtime"), 0);
        assert_eq!(runtime("wasmi"), 2);
        assert_eq!(runtime("v8"), u32::MAX);
        assert!(cpu_extensions("wasmtime").contains("threads"));
        assert!(!cpu_extensions("wasmi").contains("threads"));
        assert_eq!(cpu_extensions("v8"), "");
    }

    #[test]
    fn desktops() {
        assert_eq!(environment(None), 13);
        assert_eq!(environment(Some("")), 13);
        assert_eq!(environment(Some("ubuntu:GNOME")), 14);
        assert_eq!(environment(Some("X-Cinnamon")), 7);
        assert_eq!(environment(Some("Hyprland")), u32::MAX);
    }

    #[test]
    fn os_release() {
        assert_eq!(
            os_release_name("ID=x\nNAME=\"Debian GNU/Linux\"\n").as_deref(),
            Some("Debian GNU/Linux")
        );
        assert_eq!(os_release_name("NAME=Arch\n").as_deref(), Some("Arch"));
        assert_eq!(os_release_name("ID=x\n"), None);
    }

    #[test]
    fn datetimes_and_weekdays() {
        // 2024-02-29 was a Thursday (4).
        let dt = DateTime::constant(2024, 2, 29, 23, 59, 58, 0);
        let bytes = encode_datetime(dt, 250);
        assert_eq!(bytes, [0xE8, 0x07, 2, (4 << 5) | 29, 23, 59, 0x8A, 0xE3]);
    }

    #[test]
    fn zones() {
        let leaps =
            "# c\nLeap\t1972\tJun\t30\t23:59:60\t+\tS\nLeap\t1972\tDec\t31\t23:59:60\t+\tS\n";
        // The rules of America/New_York since 2007, as a POSIX TZ string:
        // no tz database needed.
        let ny = TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        let now: Timestamp = "2025-01-15T12:00:00Z".parse().unwrap();
        let zone = zone(&ny, now, Some(leaps));
        assert_eq!(zone.designation, u32::from_le_bytes(*b"EST\0"));
        assert!(!zone.is_dst);
        assert_eq!(zone.leap, 2);
        assert_eq!(zone.leap_seconds, [[0xB4, 0x07, 6, 1], [0xB4, 0x07, 12, 1]]);
        // UTC-5 of 0000-01-01T00:00Z is -0001-12-31T19:00, a Friday.
        assert_eq!(zone.offset, [0xFF, 0xFF, 12, (5 << 5) | 31, 19, 0, 0, 0]);
        // 2025: 03-09 02:00 EST becomes 03:00 EDT; 11-02 02:00 EDT becomes 01:00 EST.
        assert_eq!(zone.deltas.len(), 2);
        assert_eq!(
            &zone.deltas[0][..8],
            &encode_datetime(DateTime::constant(2025, 3, 9, 2, 0, 0, 0), 0)
        );
        assert_eq!(
            &zone.deltas[0][8..],
            &encode_datetime(DateTime::constant(2025, 3, 9, 3, 0, 0, 0), 0)
        );
        assert_eq!(
            &zone.deltas[1][8..],
            &encode_datetime(DateTime::constant(2025, 11, 2, 1, 0, 0, 0), 0)
        );
        let utc = self::zone(&TimeZone::UTC, now, None);
        assert_eq!(utc.designation, 0);
        assert!(utc.deltas.is_empty() && utc.leap_seconds.is_empty());
        assert_eq!(utc.offset, [0, 0, 1, (6 << 5) | 1, 0, 0, 0, 0]);
    }
}
