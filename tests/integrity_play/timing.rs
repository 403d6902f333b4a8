//! The timestamps a receiver gives the units it passes on, checked
//! against the sender's: what decoders, parsers and muxers downstream rely
//! on besides the bytes.
//!
//! A receiver may shift the whole timeline (its clock is not the
//! sender's) and follow the sender's drift slowly, but in presentation
//! order each unit must come after the previous one, about one sent
//! interval later, and a decode timestamp, if any, never after the
//! presentation timestamp (GStreamer's `DTS <= PTS`). Otherwise
//! `h264parse` takes a repeated PTS for "none" (then `mp4mux`: "Buffer has
//! no PTS"), and decoders and synchronising sinks drop or repeat frames.

/// A unit's timestamps, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamps {
    pub pts: Option<u64>,
    pub dts: Option<u64>,
}

/// `sent[i]` and `got[i]` are the same unit (the contents compared
/// equal): everything of [`check_basic`], and in presentation order each
/// unit about one sent interval after the previous one.
pub fn check(sent: &[Stamps], got: &[Stamps]) -> Result<(), String> {
    let mut problems = basic_problems(got);
    // Presentation order, from the sender's timestamps.
    let mut order: Vec<usize> = (0..sent.len().min(got.len()))
        .filter(|&i| sent[i].pts.is_some() && got[i].pts.is_some())
        .collect();
    order.sort_by_key(|&i| sent[i].pts);
    for pair in order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let sent_gap = sent[b].pts.unwrap() as i64 - sent[a].pts.unwrap() as i64;
        let got_gap = got[b].pts.unwrap() as i64 - got[a].pts.unwrap() as i64;
        if got_gap <= 0 || (got_gap - sent_gap).abs() > sent_gap / 2 {
            problems.push(format!(
                "units {a} then {b} (presentation order): sent {} ms apart, received {} ms",
                sent_gap as f64 / 1e6,
                got_gap as f64 / 1e6
            ));
        }
    }
    report(problems)
}

/// Every unit has a PTS, and a DTS only if not after it.
pub fn check_basic(got: &[Stamps]) -> Result<(), String> {
    report(basic_problems(got))
}

fn basic_problems(got: &[Stamps]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, s) in got.iter().enumerate() {
        match (s.pts, s.dts) {
            (None, _) => problems.push(format!("unit {i} has no PTS")),
            (Some(pts), Some(dts)) if dts > pts => problems.push(format!(
                "unit {i}: DTS {} ms after PTS {} ms",
                dts / 1_000_000,
                pts / 1_000_000
            )),
            _ => {}
        }
    }
    problems
}

fn report(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        return Ok(());
    }
    let shown = problems.len().min(8);
    Err(format!(
        "{} timestamp problems, the first {shown}:\n  {}",
        problems.len(),
        problems[..shown].join("\n  ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamps(pts: &[u64]) -> Vec<Stamps> {
        pts.iter()
            .map(|&p| Stamps {
                pts: Some(p * 1_000_000),
                dts: None,
            })
            .collect()
    }

    #[test]
    fn a_shifted_timeline_is_fine_a_repeated_or_reordered_pts_is_not() {
        // Decode order I P B B, presentation I B B P.
        let sent = stamps(&[0, 99, 33, 66]);
        assert!(check(&sent, &stamps(&[500, 599, 533, 566])).is_ok());
        assert!(check(&sent, &stamps(&[500, 500, 533, 566])).is_err());
        assert!(check(&sent, &stamps(&[500, 599, 566, 533])).is_err());
        let mut late_dts = stamps(&[500, 599, 533, 566]);
        late_dts[2].dts = Some(560_000_000);
        assert!(check(&sent, &late_dts).is_err());
    }
}
