//! Pre-tokenization: the regex split that byte-level BPE applies before merging, per
//! `tokenizer.ggml.pre`.
//!
//! llama.cpp describes each pre-tokenizer as a list of regexes. The text starts as one fragment;
//! each regex in turn splits every fragment into its matches and the gaps between them (both
//! kept), a fragment's end acting as the end of text for look-aheads. The regexes are written
//! here as hand-coded matchers over Unicode general categories, so no regex engine is needed
//! (the patterns use look-ahead, which the `regex` crate lacks) and matching is linear.

use std::ops::Range;

use unicode_general_category::{get_general_category, GeneralCategory as G};

use crate::error::TokenizerError;

/// The splitting rules of one `tokenizer.ggml.pre` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    Gpt2,
    /// Every digit alone (`\p{N}`), then GPT-2 (SmolLM, StarCoder, Refact, Command-R, ...).
    DigitsThenGpt2,
    /// Llama 3: case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, numbers in runs of
    /// at most three digits, punctuation with trailing newlines, newline runs, whitespace.
    Llama3,
    /// Qwen2: Llama 3 with single digits.
    Qwen2,
}

impl PreTokenizer {
    /// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` name.
    pub fn from_name(name: &str) -> Result<Self, TokenizerError> {
        Ok(match name {
            "default" | "gpt2" | "gpt-2" | "mpt" | "olmo" | "jais" => Self::Gpt2,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => Self::DigitsThenGpt2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" => Self::Llama3,
            "qwen2" | "stablelm2" | "deepseek-r1-qwen" | "megrez" | "hunyuan" => Self::Qwen2,
            other => return Err(TokenizerError::UnknownPreTokenizer { name: other.into() }),
        })
    }

    /// Splits `text` into pieces (byte ranges) that are BPE-encoded independently.
    pub fn split(self, text: &str, out: &mut Vec<Range<usize>>) {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut fragments = Vec::new();
        match self {
            Self::Gpt2 => gpt2(&chars, 0..chars.len(), &mut fragments),
            Self::DigitsThenGpt2 => {
                let mut digits = Vec::new();
                split_single_digits(&chars, 0..chars.len(), &mut digits);
                for f in digits {
                    gpt2(&chars, f, &mut fragments);
                }
            }
            Self::Llama3 => llama3(&chars, 0..chars.len(), 3, &mut fragments),
            Self::Qwen2 => llama3(&chars, 0..chars.len(), 1, &mut fragments),
        }
        out.extend(fragments.into_iter().map(|r| {
            let start = chars[r.start].0;
            let end = chars.get(r.end).map_or(text.len(), |c| c.0);
            start..end
        }));
    }
}

fn is_letter(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
    )
}

fn is_number(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::DecimalNumber | G::LetterNumber | G::OtherNumber
    )
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Neither whitespace, letter nor number (`[^\s\p{L}\p{N}]`).
fn is_other(c: char) -> bool {
    !is_space(c) && !is_letter(c) && !is_number(c)
}

/// `\p{N}`: every number character is a fragment of its own; the runs between are fragments too.
fn split_single_digits(chars: &[(usize, char)], range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let mut gap = range.start;
    for i in range.clone() {
        if is_number(chars[i].1) {
            if gap < i {
                out.push(gap..i);
            }
            out.push(i..i + 1);
            gap = i + 1;
        }
    }
    if gap < range.end {
        out.push(gap..range.end);
    }
}

/// Reads characters of one fragment; positions outside it read as "end of text".
struct Frag<'a> {
    chars: &'a [(usize, char)],
    end: usize,
}

impl Frag<'_> {
    fn at(&self, i: usize) -> Option<char> {
        (i < self.end).then(|| self.chars[i].1)
    }

    fn run(&self, mut i: usize, pred: impl Fn(char) -> bool) -> usize {
        while self.at(i).is_some_and(&pred) {
            i += 1;
        }
        i
    }

    /// `\s+(?!\S)|\s+` at `i` (a whitespace character): the run, minus its last character when
    /// more than one precedes a non-space (that one joins the next piece as its leading space).
    fn whitespace(&self, i: usize) -> usize {
        let end = self.run(i, is_space);
        if end - i > 1 && self.at(end).is_some() {
            end - 1
        } else {
            end
        }
    }
}

/// GPT-2's pattern over one fragment.
fn gpt2(chars: &[(usize, char)], range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let f = Frag {
        chars,
        end: range.end,
    };
    let mut i = range.start;
    while i < f.end {
        let c = chars[i].1;
        let next = f.at(i + 1);
        let end = if let Some(len) = contraction(&f, i, false) {
            i + len
        } else {
            // An optional single space joins the run that follows it.
            let (body, ch) = if c == ' ' && next.is_some_and(|n| !is_space(n)) {
                (i + 1, next.unwrap_or(c))
            } else {
                (i, c)
            };
            if is_letter(ch) {
                f.run(body, is_letter)
            } else if is_number(ch) {
                f.run(body, is_number)
            } else if is_other(ch) {
                f.run(body, is_other)
            } else {
                f.whitespace(i)
            }
        };
        out.push(i..end);
        i = end;
    }
}

/// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (optionally case-insensitive): the match length.
fn contraction(f: &Frag<'_>, i: usize, any_case: bool) -> Option<usize> {
    if f.at(i) != Some('\'') {
        return None;
    }
    let lower = |c: Option<char>| c.map(|c| if any_case { c.to_ascii_lowercase() } else { c });
    match (lower(f.at(i + 1)), lower(f.at(i + 2))) {
        (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => Some(3),
        (Some('s' | 't' | 'm' | 'd'), _) => Some(2),
        _ => None,
    }
}

/// Llama 3's pattern (`max_digits` = 3) or Qwen2's (`max_digits` = 1) over one fragment:
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
fn llama3(
    chars: &[(usize, char)],
    range: Range<usize>,
    max_digits: usize,
    out: &mut Vec<Range<usize>>,
) {
    let f = Frag {
        chars,
        end: range.end,
    };
    let is_nl = |c: char| c == '\r' || c == '\n';
    let mut i = range.start;
    while i < f.end {
        let c = chars[i].1;
        let next = f.at(i + 1);
        let end = if let Some(len) = contraction(&f, i, true) {
            i + len
        } else if is_letter(c)
            || (!is_nl(c) && !is_letter(c) && !is_number(c) && next.is_some_and(is_letter))
        {
            // [^\r\n\p{L}\p{N}]?\p{L}+
            f.run(if is_letter(c) { i } else { i + 1 }, is_letter)
        } else if is_number(c) {
            let run = f.run(i, is_number);
            i + (run - i).min(max_digits)
        } else if is_other(c) || (c == ' ' && next.is_some_and(is_other)) {
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let body = if c == ' ' { i + 1 } else { i };
            f.run(f.run(body, is_other), is_nl)
        } else {
            // Whitespace: `\s*[\r\n]+` takes the run up to and including its last newline;
            // otherwise `\s+(?!\S)|\s+`.
            let run_end = f.run(i, is_space);
            match (i..run_end).rev().find(|&j| is_nl(chars[j].1)) {
                Some(last_nl) => last_nl + 1,
                None => f.whitespace(i),
            }
        };
        out.push(i..end);
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(p: PreTokenizer, text: &str) -> Vec<&str> {
        let mut r = Vec::new();
        p.split(text, &mut r);
        r.into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn gpt2_splits_words_with_their_leading_space() {
        assert_eq!(
            pieces(PreTokenizer::Gpt2, "Hello world!  ok"),
            ["Hello", " world", "!", " ", " ok"]
        );
        assert_eq!(pieces(PreTokenizer::Gpt2, "it's 42"), ["it", "'s", " 42"]);
        assert_eq!(pieces(PreTokenizer::Gpt2, "a \n"), ["a", " \n"]);
    }

    #[test]
    fn smollm_splits_every_digit() {
        assert_eq!(
            pieces(PreTokenizer::DigitsThenGpt2, "x 123"),
            ["x", " ", "1", "2", "3"]
        );
    }

    #[test]
    fn unknown_pre_tokenizer_is_an_error() {
        assert!(PreTokenizer::from_name("no-such").is_err());
    }
}
