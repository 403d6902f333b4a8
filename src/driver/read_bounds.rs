//! The bounds on waiting for bytes inside one message, kept per
//! connection so that [`super::connection::Connection::read_message`] stays
//! cancel-safe: the rest of a message once its first byte arrived, the
//! quiet end of a body read until close, and garbage received instead of
//! an awaited answer. Between messages nothing is bounded here; waiting
//! for the next message is the caller's business (response timeouts,
//! keep-alives).

use std::time::Duration;

use rtspclient_protocol::message::Framer;
use tokio::time::Instant;

/// A body read until the connection closes (docs/QUIRKS.md, "Body until
/// close") also ends when no byte came for this long: a camera that
/// answers DESCRIBE without `Content-Length` but keeps the connection
/// open would otherwise hold the answer until the response timeout. The
/// SDP arrives in one burst; a second of silence means it is complete.
pub const BODY_UNTIL_CLOSE_QUIET: Duration = Duration::from_secs(1);

/// While an answer is awaited, bytes that are no RTSP message (a garbage
/// or binary status line) must be followed by a message within this
/// long; otherwise the answer is taken to be the garbage and the request
/// fails, instead of at the response timeout. Tolerates a camera's stray
/// bytes before its real answer (docs/QUIRKS.md, "Loose status and header
/// lines"), which follows in the same burst.
pub const GARBAGE_ANSWER_WAIT: Duration = Duration::from_secs(1);

/// Which bound applies to the next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// The rest of a started message (the connection's completion wait).
    Completion,
    /// [`BODY_UNTIL_CLOSE_QUIET`].
    QuietBody,
    /// [`GARBAGE_ANSWER_WAIT`].
    Garbage,
}

#[derive(Debug, Default)]
pub struct ReadBounds {
    /// When the message now partly in the framer began to arrive.
    partial_since: Option<Instant>,
    /// Whether an answer is awaited.
    answer_expected: bool,
    /// [`Framer::discarded_bytes`] when the last message came (or the wait
    /// for an answer began); more since then is garbage.
    discarded_mark: u64,
    /// When garbage was first seen while an answer was awaited.
    garbage_since: Option<Instant>,
}

impl ReadBounds {
    /// An answer is (or is no longer) awaited: garbage is then bounded by
    /// [`GARBAGE_ANSWER_WAIT`]. Off while playing, when stray bytes
    /// between packets are only skipped.
    pub fn expect_answer(&mut self, expected: bool, framer: &Framer) {
        self.answer_expected = expected;
        self.discarded_mark = framer.discarded_bytes();
        self.garbage_since = None;
    }

    /// A whole message came out of the framer.
    pub fn message_done(&mut self, framer: &Framer) {
        self.partial_since = None;
        self.discarded_mark = framer.discarded_bytes();
        self.garbage_since = None;
    }

    /// Garbage bytes since the last message or the start of the wait.
    pub fn garbage_bytes(&self, framer: &Framer) -> u64 {
        framer.discarded_bytes().saturating_sub(self.discarded_mark)
    }

    /// The earliest bound on the next read and which one it is; `None`
    /// between messages. `completion_wait`: how long a started message may
    /// take in all (a drip of one byte a second is bounded too).
    pub fn next(
        &mut self,
        framer: &Framer,
        completion_wait: Duration,
    ) -> Option<(Instant, Deadline)> {
        let now = Instant::now();
        if framer.buffered() == 0 && !framer.awaiting_close() {
            self.partial_since = None;
        } else if self.partial_since.is_none() {
            self.partial_since = Some(now);
        }
        if self.answer_expected && self.garbage_bytes(framer) > 0 {
            self.garbage_since.get_or_insert(now);
        }
        let completion = self
            .partial_since
            .map(|since| (since + completion_wait, Deadline::Completion));
        let quiet = framer
            .awaiting_close()
            .then(|| (now + BODY_UNTIL_CLOSE_QUIET, Deadline::QuietBody));
        let garbage = self
            .garbage_since
            .map(|since| (since + GARBAGE_ANSWER_WAIT, Deadline::Garbage));
        [completion, quiet, garbage]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_the_framer() {
        let wait = Duration::from_secs(2);
        let mut framer = Framer::default();
        let mut bounds = ReadBounds::default();
        assert_eq!(bounds.next(&framer, wait), None, "nothing started");

        framer.push(b"$\x00\x05\xdc\x80");
        assert!(framer.next_message().unwrap().is_none());
        let (at, which) = bounds.next(&framer, wait).unwrap();
        assert_eq!(which, Deadline::Completion);
        // Still the same start: a drip does not move the deadline.
        assert_eq!(bounds.next(&framer, wait).unwrap().0, at);

        // Garbage while an answer is awaited, with nothing started.
        let mut framer = Framer::default();
        let mut bounds = ReadBounds::default();
        bounds.expect_answer(true, &framer);
        framer.push(b"\x01\x02 junk\r\n");
        assert!(framer.next_message().unwrap().is_none());
        assert_eq!(bounds.next(&framer, wait).unwrap().1, Deadline::Garbage);
        bounds.expect_answer(false, &framer);
        assert_eq!(
            bounds.next(&framer, wait),
            None,
            "not awaited: only skipped"
        );

        // A body until close: the quiet end comes before the completion.
        let mut framer = Framer::default();
        framer.push(b"RTSP/1.0 200 OK\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n");
        assert!(framer.next_message().unwrap().is_none());
        assert_eq!(bounds.next(&framer, wait).unwrap().1, Deadline::QuietBody);
    }
}
