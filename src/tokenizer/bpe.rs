//! Byte-level BPE (GPT-2 style, `tokenizer.ggml.model = gpt2`): bytes are mapped to printable
//! characters, pieces are merged by the rank of the merge rules.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes stand for
/// themselves, the rest are shifted to U+0100 and up.
pub(crate) fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut shifted = 0u32;
    for b in 0..256u32 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap_or('\0')
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap_or('\0')
        };
    }
    table
}

/// The merge rules: `(left id, right id) -> (rank, merged id)`.
#[derive(Debug, Default)]
pub(crate) struct Merges {
    rules: HashMap<(u32, u32), (u32, u32)>,
}

impl Merges {
    /// Builds the rules from `"left right"` strings, looking the parts up in the vocabulary.
    /// Rules whose parts or result are not tokens can never apply and are skipped.
    pub fn new(merges: &[String], lookup: impl Fn(&str) -> Option<u32>) -> Self {
        let mut rules = HashMap::with_capacity(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            let Some((l, r)) = m.split_once(' ') else {
                continue;
            };
            if let (Some(li), Some(ri), Some(mi)) = (lookup(l), lookup(r), lookup(&format!("{l}{r}"))) {
                rules.entry((li, ri)).or_insert((rank as u32, mi));
            }
        }
        Self { rules }
    }

    /// Encodes one pre-token whose characters have already been mapped to initial token ids
    /// (`symbols`), merging the lowest-ranked adjacent pair first (leftmost on ties) until no
    /// rule applies. `O(n log n)` in the number of symbols, so a huge run cannot stall it.
    pub fn apply(&self, symbols: &mut Vec<u32>, work: &mut BpeWork) {
        let n = symbols.len();
        if n < 2 {
            return;
        }
        let BpeWork { prev, next, alive, heap } = work;
        prev.clear();
        next.clear();
        alive.clear();
        heap.clear();
        prev.extend((0..n).map(|i| i.wrapping_sub(1)));
        next.extend(1..=n);
        alive.resize(n, true);
        let push = |heap: &mut BinaryHeap<_>, symbols: &[u32], l: usize, r: usize| {
            if let Some(&(rank, _)) = self.rules.get(&(symbols[l], symbols[r])) {
                heap.push(Reverse((rank, l, symbols[l], symbols[r])));
            }
        };
        for i in 0..n - 1 {
            push(heap, symbols, i, i + 1);
        }
        while let Some(Reverse((rank, l, lid, rid))) = heap.pop() {
            let r = next[l];
            // Skip entries made stale by earlier merges.
            if !alive[l] || r >= n || symbols[l] != lid || symbols[r] != rid {
                continue;
            }
            let merged = self.rules[&(lid, rid)].1;
            debug_assert_eq!(self.rules[&(lid, rid)].0, rank);
            symbols[l] = merged;
            alive[r] = false;
            next[l] = next[r];
            if next[r] < n {
                prev[next[r]] = l;
            }
            if prev[l] < n {
                push(heap, symbols, prev[l], l);
            }
            if next[l] < n {
                push(heap, symbols, l, next[l]);
            }
        }
        let mut w = 0;
        for i in 0..n {
            if alive[i] {
                symbols[w] = symbols[i];
                w += 1;
            }
        }
        symbols.truncate(w);
    }
}

/// Reusable buffers for [`Merges::apply`].
#[derive(Debug, Default)]
pub(crate) struct BpeWork {
    prev: Vec<usize>,
    next: Vec<usize>,
    alive: Vec<bool>,
    heap: BinaryHeap<Reverse<(u32, usize, u32, u32)>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection_onto_printable_characters() {
        let t = byte_to_char_table();
        let mut seen = std::collections::HashSet::new();
        for &c in &t {
            assert!(!c.is_whitespace() && !c.is_control(), "{c:?}");
            assert!(seen.insert(c));
        }
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'A' as usize], 'A');
    }

    #[test]
    fn merges_apply_lowest_rank_first_and_leftmost_on_ties() {
        // vocab: a=0 b=1 c=2 ab=3 bc=4 abc=5
        let vocab = ["a", "b", "c", "ab", "bc", "abc"];
        let lookup = |s: &str| vocab.iter().position(|&v| v == s).map(|p| p as u32);
        let merges = Merges::new(&["b c".into(), "a b".into(), "a bc".into()], lookup);
        let mut work = BpeWork::default();
        let mut s = vec![0, 1, 2];
        merges.apply(&mut s, &mut work);
        assert_eq!(s, [5]); // "b c" (rank 0) first, then "a bc"
        let mut s = vec![0, 1, 0, 1];
        merges.apply(&mut s, &mut work);
        assert_eq!(s, [3, 3]);
    }
}
