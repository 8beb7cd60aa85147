//! Splitting a byte stream into JSON values.
//!
//! OVSDB sends JSON-RPC messages back to back on a stream with no length prefix or delimiter. The decoder
//! finds where each top-level object ends by tracking nesting depth and string/escape state, resuming where
//! it stopped when more bytes arrive, so a message split across reads at any byte costs no rescanning.
//!
//! ```text
//!   bytes: {"id":1,"result":[]}{"id":null,"method":"update2",...
//!          ^------- value 1 --^^--------- value 2 (incomplete) ...
//! ```

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("stream is not JSON: unexpected byte {0:?} between messages")]
    Garbage(char),
    #[error("bad JSON message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Incremental splitter of a stream of concatenated JSON objects or arrays.
#[derive(Debug, Default)]
pub struct JsonStreamDecoder {
    buf: Vec<u8>,
    /// How far into `buf` the scan has advanced.
    pos: usize,
    /// Where the current value starts, once its first byte is seen.
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Bytes at the front of `buf` already handed out by [`JsonStreamDecoder::next_message`], dropped on
    /// the next call.
    consumed: usize,
}

/// Past this capacity, an emptied buffer gives its memory back (one big message must not pin its size).
const KEEP_CAPACITY: usize = 1 << 20;

impl JsonStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet returned as a value.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// Drops the bytes of messages already returned.
    fn compact(&mut self) {
        if self.consumed == 0 {
            return;
        }
        self.buf.drain(..self.consumed);
        self.pos -= self.consumed;
        if let Some(s) = self.start.as_mut() {
            *s -= self.consumed;
        }
        self.consumed = 0;
        if self.buf.capacity() > KEEP_CAPACITY && self.buf.len() < self.buf.capacity() / 4 {
            self.buf.shrink_to(KEEP_CAPACITY.max(2 * self.buf.len()));
        }
    }

    /// Returns the next complete value, `Ok(None)` if more bytes are needed.
    pub fn next_value(&mut self) -> Result<Option<Value>, FramingError> {
        match self.next_message()? {
            None => Ok(None),
            Some(bytes) => Ok(Some(serde_json::from_slice(bytes)?)),
        }
    }

    /// Returns the text of the next complete value without parsing it (so the caller can read it with
    /// typed serde visitors), `Ok(None)` if more bytes are needed. The slice stays valid until the next
    /// call on the decoder.
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, FramingError> {
        self.compact();
        // The scan state lives in locals for the loop and is stored back before returning: most of a
        // message is string bytes (logical flows' match and actions), which are skipped with `memchr`
        // up to the next quote or backslash instead of one byte at a time.
        let buf = &self.buf[..];
        let (mut pos, mut depth, mut in_string, mut escaped) = (self.pos, self.depth, self.in_string, self.escaped);
        let mut start = self.start;
        let mut outcome = None;
        while pos < buf.len() {
            if in_string && !escaped {
                match memchr::memchr2(b'"', b'\\', &buf[pos..]) {
                    Some(i) => pos += i,
                    None => {
                        pos = buf.len();
                        break;
                    }
                }
            }
            let c = buf[pos];
            pos += 1;
            if start.is_none() {
                match c {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' | b'[' => {
                        start = Some(pos - 1);
                        depth = 1;
                        continue;
                    }
                    // Skip the bad byte so a caller that logs and goes on does not loop forever.
                    _ => {
                        outcome = Some(Err(c));
                        break;
                    }
                }
            }
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    in_string = false;
                }
                continue;
            }
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        outcome = Some(Ok(start.take().unwrap_or(0)));
                        break;
                    }
                }
                _ => {}
            }
        }
        (self.pos, self.depth, self.in_string, self.escaped, self.start) = (pos, depth, in_string, escaped, start);
        match outcome {
            None => Ok(None),
            Some(Ok(from)) => {
                self.consumed = pos;
                Ok(Some(&self.buf[from..pos]))
            }
            Some(Err(c)) => {
                self.consumed = pos;
                self.compact();
                Err(FramingError::Garbage(c as char))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn decode_all(d: &mut JsonStreamDecoder) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = d.next_value().unwrap() {
            out.push(v);
        }
        out
    }

    #[test]
    fn splits_back_to_back_messages() {
        let mut d = JsonStreamDecoder::new();
        d.feed(br#"{"id":1,"result":["a}b"]} {"id":null,"method":"echo","params":[]}"#);
        let v = decode_all(&mut d);
        assert_eq!(v, vec![json!({"id":1,"result":["a}b"]}), json!({"id":null,"method":"echo","params":[]})]);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn hands_out_message_text_and_gives_memory_back() {
        let mut d = JsonStreamDecoder::new();
        let big = format!("{{\"id\":1,\"result\":\"{}\"}}", "x".repeat(4 << 20));
        d.feed(big.as_bytes());
        d.feed(b" [1,");
        assert_eq!(d.next_message().unwrap(), Some(big.as_bytes()));
        assert_eq!(d.next_message().unwrap(), None);
        assert_eq!(d.pending(), 4);
        d.feed(b"2]");
        assert_eq!(d.next_message().unwrap(), Some(&b"[1,2]"[..]));
        assert_eq!(d.next_message().unwrap(), None);
        assert_eq!(d.pending(), 0);
        assert!(d.buf.capacity() <= KEEP_CAPACITY, "{}", d.buf.capacity());
    }

    #[test]
    fn rejects_bytes_outside_a_value() {
        let mut d = JsonStreamDecoder::new();
        d.feed(b"x{}");
        assert!(matches!(d.next_value(), Err(FramingError::Garbage('x'))));
        assert_eq!(d.next_value().unwrap(), Some(json!({})));
    }

    fn message() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(|i| json!(i)),
            any::<bool>().prop_map(|b| json!(b)),
            ".*".prop_map(|s: String| json!(s)),
            Just(Value::Null),
        ];
        let tree = leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z\"\\\\{}\\[\\]]{0,6}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        tree.prop_map(|v| json!({"id": 7, "result": v}))
    }

    proptest! {
        /// A stream of messages cut at every byte boundary into two reads decodes to the same messages.
        #[test]
        fn any_cut_decodes_the_same(msgs in proptest::collection::vec(message(), 1..4)) {
            let mut bytes = Vec::new();
            for m in &msgs {
                bytes.extend(serde_json::to_vec(m).unwrap());
                bytes.extend(b"\n");
            }
            for cut in 0..=bytes.len() {
                let mut d = JsonStreamDecoder::new();
                d.feed(&bytes[..cut]);
                let mut got = decode_all(&mut d);
                d.feed(&bytes[cut..]);
                got.extend(decode_all(&mut d));
                prop_assert_eq!(&got, &msgs);
            }
        }

        /// Byte-at-a-time delivery decodes to the same messages.
        #[test]
        fn byte_by_byte(msgs in proptest::collection::vec(message(), 1..4)) {
            let mut d = JsonStreamDecoder::new();
            let mut got = Vec::new();
            for m in &msgs {
                for b in serde_json::to_vec(m).unwrap() {
                    d.feed(&[b]);
                    got.extend(decode_all(&mut d));
                }
            }
            prop_assert_eq!(got, msgs);
        }
    }
}
