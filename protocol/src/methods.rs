//! Which methods a server takes: what its `Public:` header lists (RFC 2326
//! 12.28) and what it refused since (405, 501, 551). Some cameras drop the
//! connection on methods they do not know (docs/QUIRKS.md, "Methods not in
//! Public"), so optional requests ask here first.

use crate::headers::parse_public;

#[derive(Debug, Clone, Default)]
pub struct MethodSupport {
    /// The methods of the last `Public:` seen, upper case.
    public: Option<Vec<String>>,
    /// Methods refused since, upper case.
    refused: Vec<String>,
}

impl MethodSupport {
    /// Whether `method` may be used: listed in `Public:` (or no `Public:`
    /// seen) and not refused.
    pub fn supports(&self, method: &str) -> bool {
        if self.refused.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            return false;
        }
        match &self.public {
            Some(list) => list.iter().any(|m| m.eq_ignore_ascii_case(method)),
            None => true,
        }
    }

    /// Whether the server listed `method` in `Public:` and has not refused
    /// it since. Stricter than [`MethodSupport::supports`]: for optional
    /// methods such as GET_PARAMETER keep-alives.
    pub fn public_lists(&self, method: &str) -> bool {
        self.public.is_some() && self.supports(method)
    }

    /// Remember that the server refused `method` (405, 501 or 551).
    pub fn mark_refused(&mut self, method: &str) {
        if !self.refused.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            self.refused.push(method.to_ascii_uppercase());
        }
    }

    /// Record the values of the `Public:` headers of an answer, if any.
    pub fn set_public<'a>(&mut self, values: impl Iterator<Item = &'a str>) {
        let joined: Vec<&str> = values.collect();
        if !joined.is_empty() {
            self.public = Some(parse_public(&joined.join(",")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_refusals() {
        let mut methods = MethodSupport::default();
        assert!(methods.supports("GET_PARAMETER"));
        assert!(!methods.public_lists("GET_PARAMETER"));
        methods.set_public(["OPTIONS, DESCRIBE", "get_parameter"].into_iter());
        assert!(methods.public_lists("GET_PARAMETER"));
        assert!(!methods.supports("PAUSE"));
        methods.mark_refused("get_parameter");
        assert!(!methods.supports("GET_PARAMETER"));
        methods.set_public(std::iter::empty());
        assert!(methods.supports("DESCRIBE"));
    }
}
