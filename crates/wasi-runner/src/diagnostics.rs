//! What the runner prints: one line per diagnostic on stderr, safe to print
//! whatever a module put in it.

/// Prints `wasirun: MESSAGE` on stderr. Messages carry text from the module
/// (names in its name section, import names, paths it asked for...), which
/// must not be able to pass for the runner's own diagnostics or drive the
/// terminal, so they are printed through [`escape_controls`].
///
/// The library prints only what it is asked to: the refusals of a run with
/// [`RunOptions::report_denials`](crate::RunOptions::report_denials).
/// Outcomes and errors are returned, for the caller to report.
pub fn report(message: &str) {
    eprintln!("wasirun: {}", escape_controls(message));
}

/// `text` with its control characters escaped (`\u{1b}`, `\r`, ...),
/// except line feeds, each of which is followed by an indent so that no
/// line of it starts in the first column.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\n    "),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn controls_are_escaped_and_lines_indented() {
        assert_eq!(
            escape_controls("trap\x1b[2J\r\nwasirun: all good"),
            "trap\\u{1b}[2J\\r\n    wasirun: all good"
        );
        assert_eq!(escape_controls("plain, ünïcode"), "plain, ünïcode");
    }
}
