//! Request bodies read with a cap, pure: a declared `Content-Length` over the cap is
//! refused before reading, and the chunks of the body stream are added one by one
//! until the cap is passed, when reading stops. A body without `Content-Length`
//! (chunked) is never buffered whole before its size is known: at most the cap plus
//! one chunk is ever held.

/// RunPod's completion webhooks (token checked first) carry the worker's whole output,
/// a long transcription's text included: they get their own cap, not the clients'
/// `MAX_BODY_BYTES`.
pub const MAX_RUNPOD_WEBHOOK_BYTES: usize = 16 << 20;

/// The body is longer than the cap (declared, or seen while reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// A body being read, at most `cap` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedBody {
    buf: Vec<u8>,
    cap: usize,
}

impl CappedBody {
    /// Starts reading; `content_length` is the header as sent, if any. A length that does
    /// not parse is not trusted either way: the read itself enforces the cap.
    pub fn new(cap: usize, content_length: Option<&str>) -> Result<CappedBody, TooLarge> {
        match content_length.and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(n) if n > cap as u64 => Err(TooLarge),
            _ => Ok(CappedBody { buf: Vec::new(), cap }),
        }
    }

    /// Adds the next chunk; `Err` once the body passes the cap (stop reading then).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        if chunk.len() > self.cap - self.buf.len() {
            return Err(TooLarge);
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths_over_the_cap_are_refused_before_reading() {
        assert_eq!(CappedBody::new(10, Some("11")), Err(TooLarge));
        assert_eq!(CappedBody::new(10, Some("99999999999999999999999")).map(|_| ()), Ok(()), "unparsable: the read decides");
        assert!(CappedBody::new(10, Some("10")).is_ok());
        assert!(CappedBody::new(10, None).is_ok());
    }

    #[test]
    fn a_chunked_body_stops_at_the_cap_without_being_buffered_whole() {
        let mut b = CappedBody::new(10, None).unwrap();
        assert_eq!(b.push(b"0123"), Ok(()));
        assert_eq!(b.push(b"456789"), Ok(()));
        assert_eq!(b.clone().into_bytes(), b"0123456789", "exactly the cap is fine");
        assert_eq!(b.push(b""), Ok(()));
        assert_eq!(b.push(b"x"), Err(TooLarge));
        // A chunk that passes the cap is not kept.
        let mut b = CappedBody::new(10, None).unwrap();
        b.push(b"01234").unwrap();
        assert_eq!(b.push(&[0; 1 << 20]), Err(TooLarge));
        assert_eq!(b.into_bytes().len(), 5);
        // A declared length that lies (short) does not raise the cap.
        let mut b = CappedBody::new(10, Some("3")).unwrap();
        assert_eq!(b.push(&[0; 11]), Err(TooLarge));
    }
}
