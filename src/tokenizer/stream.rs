//! Streaming detokenization: a token that ends inside a multi-byte UTF-8 character emits nothing
//! until the character is complete, so streamed pieces concatenate to the whole decode.

use super::Tokenizer;

/// Turns tokens into text pieces as they are generated.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    text: String,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one token; returns the text it completes (possibly empty). Invalid UTF-8 becomes
    /// U+FFFD exactly as `String::from_utf8_lossy` of the whole byte stream would.
    ///
    /// The first call sizes the buffers for the longest token: later calls never allocate.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32, special: bool) -> &str {
        // At most 3 bytes of an incomplete character wait in `pending`; each pending byte
        // becomes at most 3 bytes of text (U+FFFD).
        let most = tokenizer.max_token_bytes() + 4;
        if self.pending.capacity() < most {
            self.pending.reserve(most - self.pending.len());
        }
        if self.text.capacity() < 3 * most {
            self.text.reserve(3 * most);
        }
        tokenizer.token_bytes(id, special, &mut self.pending);
        self.text.clear();
        let mut consumed = 0;
        loop {
            match std::str::from_utf8(&self.pending[consumed..]) {
                Ok(s) => {
                    self.text.push_str(s);
                    consumed = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The first `valid` bytes were just checked to be UTF-8.
                    self.text
                        .push_str(std::str::from_utf8(&self.pending[consumed..consumed + valid]).unwrap_or_default());
                    consumed += valid;
                    match e.error_len() {
                        Some(len) => {
                            self.text.push('\u{FFFD}');
                            consumed += len;
                        }
                        None => break, // an incomplete character: wait for more bytes
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        &self.text
    }

    /// Ends the stream: an incomplete trailing character becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }

    /// Forgets any pending bytes (a new generation starts).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.text.clear();
    }
}
