//! Small text helpers shared by the header parsers.

/// Linear whitespace that may surround header values and parameters (RFC
/// 2326 section 15.1 allows SP and HT; stray CR/LF are dropped too so a
/// value never carries a line break).
pub(crate) fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `s` without surrounding linear whitespace.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(is_lws)
}

/// Removes one pair of surrounding double quotes, if present
/// (docs/QUIRKS.md, "Transport header": `mode="play"`; RFC 7826 quotes
/// `mode` and addresses).
pub(crate) fn unquote(s: &str) -> &str {
    let s = trim(s);
    s.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .map(trim)
        .unwrap_or(s)
}

/// Splits `name=value` (value optional), trimming both parts.
pub(crate) fn split_param(param: &str) -> (&str, Option<&str>) {
    match param.split_once('=') {
        Some((name, value)) => (trim(name), Some(trim(value))),
        None => (trim(param), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(trim(" \tx \r\n"), "x");
        assert_eq!(unquote(" \"play\" "), "play");
        assert_eq!(unquote("\"unterminated"), "\"unterminated");
        assert_eq!(split_param(" a = b "), ("a", Some("b")));
        assert_eq!(split_param("unicast"), ("unicast", None));
    }
}
