//! SentencePiece-style BPE (`tokenizer.ggml.model = llama`): spaces become `▁`, adjacent pieces
//! are merged highest score first, and characters without a token fall back to `<0xNN>` bytes.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

#[derive(PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    len: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    /// Highest score first; on ties the leftmost.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then(other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Encodes `text` (a fragment without special tokens), appending ids to `out`.
pub(super) fn encode(
    text: &str,
    space_prefix: bool,
    lookup: &HashMap<String, u32>,
    scores: &[f32],
    out: &mut Vec<u32>,
) {
    let mut s = String::with_capacity(text.len() + 3);
    if space_prefix {
        s.push('▁');
    }
    for c in text.chars() {
        s.push(if c == ' ' { '▁' } else { c });
    }
    // Symbols: byte ranges of `s`, linked so merges are O(1).
    let mut sym: Vec<(usize, usize)> = s.char_indices().map(|(i, c)| (i, i + c.len_utf8())).collect();
    let n = sym.len();
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut heap = BinaryHeap::new();
    let try_add = |heap: &mut BinaryHeap<Bigram>, sym: &[(usize, usize)], l: usize, r: usize| {
        if r >= n {
            return;
        }
        if let Some(&id) = lookup.get(&s[sym[l].0..sym[r].1]) {
            heap.push(Bigram { score: scores[id as usize], left: l, len: sym[r].1 - sym[l].0 });
        }
    };
    for i in 0..n.saturating_sub(1) {
        try_add(&mut heap, &sym, i, i + 1);
    }
    while let Some(b) = heap.pop() {
        let l = b.left;
        let r = next[l];
        // Stale: one side was merged away or changed since this bigram was queued.
        if r >= n || sym[l].1 == sym[l].0 || sym[r].1 - sym[l].0 != b.len {
            continue;
        }
        sym[l].1 = sym[r].1;
        sym[r] = (sym[r].0, sym[r].0);
        next[l] = next[r];
        if next[r] < n {
            prev[next[r]] = l;
        }
        if prev[l] < n {
            try_add(&mut heap, &sym, prev[l], l);
        }
        try_add(&mut heap, &sym, l, next[l]);
    }
    let mut i = 0;
    while i < n {
        let piece = &s[sym[i].0..sym[i].1];
        match lookup.get(piece) {
            Some(&id) => out.push(id),
            None => {
                for b in piece.bytes() {
                    if let Some(&id) = lookup.get(&format!("<0x{b:02X}>")) {
                        out.push(id);
                    }
                }
            }
        }
        i = next[i];
    }
}

/// The bytes of a piece: `<0xNN>` byte tokens are that byte, `▁` is a space.
pub(super) fn piece_bytes(text: &str, out: &mut Vec<u8>) {
    if let Some(hex) = text.strip_prefix("<0x").and_then(|t| t.strip_suffix('>')) {
        if let (2, Ok(b)) = (hex.len(), u8::from_str_radix(hex, 16)) {
            out.push(b);
            return;
        }
    }
    for c in text.chars() {
        if c == '▁' {
            out.push(b' ');
        } else {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_by_score_and_falls_back_to_bytes() {
        let vocab = ["▁", "h", "i", "▁h", "hi", "▁hi", "<0xC3>", "<0xA9>"];
        let scores = [0.0, 0.0, 0.0, -1.0, -2.0, -0.5, 0.0, 0.0];
        let lookup: HashMap<String, u32> = vocab.iter().enumerate().map(|(i, v)| (v.to_string(), i as u32)).collect();
        let mut out = Vec::new();
        encode("hi", true, &lookup, &scores, &mut out);
        assert_eq!(out, [5]); // ▁h (-1) beats hi (-2), then ▁hi
        out.clear();
        encode("é", false, &lookup, &scores, &mut out);
        assert_eq!(out, [6, 7]);
        let mut bytes = Vec::new();
        piece_bytes("▁hi", &mut bytes);
        piece_bytes("<0xC3>", &mut bytes);
        piece_bytes("<0xA9>", &mut bytes);
        assert_eq!(String::from_utf8(bytes).unwrap(), " hié");
    }
}
