//! Requests sent without waiting for their answer (keep-alives, parameter
//! requests), remembered until it comes so that a 401 can be answered by
//! sending the request again with renewed credentials.

use rtspclient_protocol::auth_flow::AuthAttempt;
use rtspclient_protocol::message::Headers;

/// A server that never answers keep-alives must not grow the list forever:
/// beyond this many the oldest is forgotten (its answer, if it ever comes,
/// is then a response nobody waits for).
const MAX_IN_FLIGHT: usize = 64;

/// One request sent without waiting.
pub struct InFlight {
    /// What the sender was given to recognise the answer: the CSeq of the
    /// first send.
    pub id: u32,
    /// CSeq of the latest send.
    pub cseq: u32,
    pub method: String,
    pub uri: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub attempt: AuthAttempt,
}

#[derive(Default)]
pub struct InFlightRequests {
    entries: Vec<InFlight>,
}

impl InFlightRequests {
    pub fn track(&mut self, flight: InFlight) {
        if self.entries.len() >= MAX_IN_FLIGHT {
            self.entries.remove(0);
        }
        self.entries.push(flight);
    }

    /// Whether a request whose latest send had this CSeq is tracked.
    pub fn contains(&self, cseq: u32) -> bool {
        self.entries.iter().any(|f| f.cseq == cseq)
    }

    /// The request whose latest send had this CSeq, no longer tracked.
    pub fn take(&mut self, cseq: Option<u32>) -> Option<InFlight> {
        let at = self.entries.iter().position(|f| Some(f.cseq) == cseq)?;
        Some(self.entries.remove(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(cseq: u32) -> InFlight {
        InFlight {
            id: cseq,
            cseq,
            method: "GET_PARAMETER".into(),
            uri: "rtsp://h/".into(),
            headers: Headers::new(),
            body: Vec::new(),
            attempt: AuthAttempt::default(),
        }
    }

    #[test]
    fn found_once_by_latest_cseq_and_bounded() {
        let mut list = InFlightRequests::default();
        for cseq in 1..=(MAX_IN_FLIGHT as u32 + 1) {
            list.track(flight(cseq));
        }
        assert!(list.take(Some(1)).is_none(), "the oldest was forgotten");
        assert_eq!(list.take(Some(2)).map(|f| f.id), Some(2));
        assert!(list.take(Some(2)).is_none());
        assert!(list.take(None).is_none());
    }
}
