//! Sent and received [`Digest`]s compared: all of it (nothing may be
//! lost), or, where packets may be lost or the receiver joined late, each
//! received unit identical to a sent one, in order.

use crate::common::access_units::{Digest, Unit};

/// The whole received stream must be the whole sent one.
pub fn compare_exact(sent: &Digest, got: &Digest) -> Result<(), String> {
    check_errors(sent, got)?;
    if let Some(i) =
        (0..sent.units.len().max(got.units.len())).find(|&i| sent.units.get(i) != got.units.get(i))
    {
        return Err(format!(
            "{:?}: {} units sent, {} received; the first difference is unit {i} \
             (sent {:?}, received {:?}); differing units: {}",
            sent.codec,
            sent.units.len(),
            got.units.len(),
            sent.units.get(i),
            got.units.get(i),
            differing(sent, got)
        ));
    }
    compare_params(sent, got)
}

/// Indices of differing units, compressed into ranges ("1-28, 31").
fn differing(sent: &Digest, got: &Digest) -> String {
    let n = sent.units.len().max(got.units.len());
    let bad: Vec<usize> = (0..n)
        .filter(|&i| sent.units.get(i) != got.units.get(i))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bad.len() {
        let mut j = i;
        while j + 1 < bad.len() && bad[j + 1] == bad[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            bad[i].to_string()
        } else {
            format!("{}-{}", bad[i], bad[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

fn check_errors(sent: &Digest, got: &Digest) -> Result<(), String> {
    if !sent.errors.is_empty() || !got.errors.is_empty() {
        return Err(format!(
            "{:?}: unparsable buffers: sent {:?}, received {:?}",
            sent.codec, sent.errors, got.errors
        ));
    }
    Ok(())
}

fn compare_params(sent: &Digest, got: &Digest) -> Result<(), String> {
    if sent.params != got.params {
        return Err(format!(
            "{:?}: parameter sets differ: {} sent, {} received, {} in common",
            sent.codec,
            sent.params.len(),
            got.params.len(),
            sent.params.intersection(&got.params).count()
        ));
    }
    Ok(())
}

/// How received units may relate to the sent ones when not all of them
/// can arrive.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// The receiver joined a stream already running (multicast): it may
    /// start anywhere, and its first unit may lack its beginning.
    pub joined_late: bool,
    /// Packets were counted lost: a unit may be damaged where sent units
    /// are missing, never elsewhere.
    pub losses: bool,
}

/// Received units must be the sent ones, in order, each identical: with
/// `joined_late` from some point on; with `losses` some may be missing,
/// and only in their place a damaged one may stand. Returns the matches
/// as (sent index, received index).
pub fn compare_tolerant(
    sent: &Digest,
    got: &Digest,
    tolerance: Tolerance,
) -> Result<Vec<(usize, usize)>, String> {
    check_errors(sent, got)?;
    let position = |unit: &Unit, from: usize| sent.units[from..].iter().position(|u| u == unit);
    let mut units = got.units.iter().enumerate().peekable();
    // Where in the sent sequence the receiver is (index of the next unit).
    let mut next = if tolerance.joined_late {
        let Some(start) = got.units.iter().take(2).find_map(|u| position(u, 0)) else {
            return Err(format!(
                "{:?}: none of the first received units was sent ({} sent, {} received)",
                sent.codec,
                sent.units.len(),
                got.units.len()
            ));
        };
        // A partial first unit (the receiver joined inside it).
        if got.units.first().and_then(|u| position(u, 0)).is_none() {
            units.next();
        }
        start
    } else {
        0
    };
    let mut matched = Vec::new();
    let mut damaged_pending = 0usize;
    for (i, unit) in units {
        match position(unit, next) {
            Some(skip) => {
                if skip > 0 && !tolerance.losses {
                    return Err(format!(
                        "{:?}: received unit {i} is sent unit {}, but {skip} sent units before it \
                         never arrived and no packet was counted lost",
                        sent.codec,
                        next + skip
                    ));
                }
                if damaged_pending > skip {
                    return Err(format!(
                        "{:?}: {damaged_pending} damaged units before received unit {i}, \
                         in place of only {skip} missing ones",
                        sent.codec
                    ));
                }
                damaged_pending = 0;
                matched.push((next + skip, i));
                next += skip + 1;
            }
            None if tolerance.losses => damaged_pending += 1,
            None => {
                return Err(format!(
                    "{:?}: received unit {i} ({} bytes) is damaged: it matches no sent unit \
                     from {next} on, and no packet was counted lost",
                    sent.codec, unit.len
                ));
            }
        }
    }
    if !tolerance.joined_late {
        compare_params(sent, got)?;
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::access_units::{Codec, Framing};

    fn digest(codec: Codec, framing: Framing, buffers: &[&[u8]]) -> Digest {
        let mut d = Digest::new(codec);
        for b in buffers {
            d.add(framing, b);
        }
        d
    }

    #[test]
    fn one_changed_byte_differs() {
        let a = digest(Codec::Opus, Framing::Whole, &[&[1, 2, 3], &[4, 5, 6]]);
        let b = digest(Codec::Opus, Framing::Whole, &[&[1, 2, 3], &[4, 5, 7]]);
        assert!(compare_exact(&a, &a).is_ok());
        let err = compare_exact(&a, &b).unwrap_err();
        assert!(err.contains("unit 1"), "{err}");
    }

    #[test]
    fn tolerant_comparison_allows_loss_only_when_counted() {
        let frames: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i, i, i]).collect();
        let all: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let sent = digest(Codec::Opus, Framing::Whole, &all);
        let gap = digest(
            Codec::Opus,
            Framing::Whole,
            &[all[0], all[1], all[4], all[5]],
        );
        let strict = Tolerance {
            joined_late: false,
            losses: false,
        };
        let lossy = Tolerance {
            joined_late: false,
            losses: true,
        };
        assert!(compare_tolerant(&sent, &gap, strict).is_err());
        assert_eq!(
            compare_tolerant(&sent, &gap, lossy),
            Ok(vec![(0, 0), (1, 1), (4, 2), (5, 3)])
        );
        let damaged = digest(Codec::Opus, Framing::Whole, &[all[0], &[9, 9], all[3]]);
        assert_eq!(
            compare_tolerant(&sent, &damaged, lossy),
            Ok(vec![(0, 0), (3, 2)])
        );
        let damaged_in_place = digest(Codec::Opus, Framing::Whole, &[all[0], &[9, 9], all[1]]);
        assert!(compare_tolerant(&sent, &damaged_in_place, lossy).is_err());
        let late = digest(Codec::Opus, Framing::Whole, &[&[7], all[3], all[4]]);
        let joined = Tolerance {
            joined_late: true,
            losses: false,
        };
        assert_eq!(
            compare_tolerant(&sent, &late, joined),
            Ok(vec![(3, 1), (4, 2)])
        );
    }
}
