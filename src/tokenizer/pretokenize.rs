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

/// The splitting rules of one `tokenizer.ggml.pre` value: llama.cpp's regex list, as stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreTokenizer {
    name: &'static str,
    stages: &'static [Stage],
}

/// One regex of a pre-tokenizer's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`.
    Gpt2,
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    Llama3 { max_digits: usize },
    /// Every character of the class on its own (`\p{N}`, `[\r\n]`).
    Each(Class),
    /// Runs of the class, optionally with one leading whitespace (`\s?[...]+`).
    Runs { class: Class, leading_space: bool },
    /// `[0-9][0-9][0-9]`.
    DigitTriples,
    /// `\s+$`.
    TrailingSpace,
}

/// A character class of the pre-tokenizer regexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Number,
    Newline,
    /// `[\p{P}\$\+<=>\^~\|]`
    PunctSymbols,
    /// A bracket expression of literal characters and ranges, as written in llama.cpp.
    Literal(&'static str),
}

// DeepSeek LLM's literal classes, as in llama.cpp's regex list (escaped: several are
// compatibility characters, e.g. U+212A KELVIN SIGN, that normalisation would change).
const DEEPSEEK_LETTERS: &str = "A-Za-z\u{b5}\u{c0}-\u{d6}\u{d8}-\u{f6}\u{f8}-\u{1ba}\u{1bc}-\u{1bf}\u{1c4}-\u{293}\u{295}-\u{2af}\u{370}-\u{373}\u{376}\u{377}\u{37b}-\u{37d}\u{37f}\u{386}\u{388}-\u{38a}\u{38c}\u{38e}-\u{3a1}\u{3a3}-\u{3f5}\u{3f7}-\u{481}\u{48a}-\u{52f}\u{531}-\u{556}\u{10a0}-\u{10c5}\u{13a0}-\u{13f5}\u{13f8}-\u{13fd}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}\u{1d00}-\u{1d2b}\u{1d6b}-\u{1d77}\u{1d79}-\u{1d9a}\u{1e00}-\u{1f15}\u{1f18}-\u{1f1d}\u{1f20}-\u{1f45}\u{1f48}-\u{1f4d}\u{1f50}-\u{1f57}\u{1f59}\u{1f5b}\u{1f5d}\u{1f5f}-\u{1f7d}\u{1f80}-\u{1fb4}\u{1fb6}-\u{1fbc}\u{1fbe}\u{1fc2}-\u{1fc4}\u{1fc6}-\u{1fcc}\u{1fd0}-\u{1fd3}\u{1fd6}-\u{1fdb}\u{1fe0}-\u{1fec}\u{1ff2}-\u{1ff4}\u{1ff6}-\u{1ffc}\u{2102}\u{2107}\u{210a}-\u{2113}\u{2115}\u{2119}-\u{211d}\u{2124}\u{2126}\u{2128}\u{212a}-\u{212d}\u{212f}-\u{2134}\u{2139}\u{213c}-\u{213f}\u{2145}-\u{2149}\u{214e}\u{2183}\u{2184}\u{2c00}-\u{2c7b}\u{2c7e}-\u{2ce4}\u{2ceb}-\u{2cee}\u{2cf2}\u{2cf3}\u{a640}-\u{a66d}\u{a680}-\u{a69b}\u{a722}-\u{a76f}\u{a771}-\u{a787}\u{a78b}-\u{a78e}\u{ab70}-\u{abbf}\u{fb00}-\u{fb06}\u{fb13}-\u{fb17}\u{ff21}-\u{ff3a}\u{ff41}-\u{ff5a}\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}";
const DEEPSEEK_PUNCT: &str = "!-/:-~\u{ff01}-\u{ff0f}\u{ff1a}-\u{ff5e}\u{2018}-\u{201f}\u{3000}-\u{3002}";
const DEEPSEEK_CJK: &str = "\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}";

const GPT2: &[Stage] = &[Stage::Gpt2];
const DEFAULT: &[Stage] = &[
    Stage::Runs { class: Class::PunctSymbols, leading_space: false },
    Stage::Gpt2,
    Stage::Runs { class: Class::Number, leading_space: false },
    Stage::DigitTriples,
];
const DIGITS_GPT2: &[Stage] = &[Stage::Each(Class::Number), Stage::Gpt2];
const LLAMA3: &[Stage] = &[Stage::Llama3 { max_digits: 3 }];
const QWEN2: &[Stage] = &[Stage::Llama3 { max_digits: 1 }];
const DEEPSEEK_LLM: &[Stage] = &[
    Stage::Each(Class::Newline),
    Stage::Runs { class: Class::Literal(DEEPSEEK_LETTERS), leading_space: true },
    Stage::Runs { class: Class::Literal(DEEPSEEK_PUNCT), leading_space: true },
    Stage::TrailingSpace,
    Stage::Runs { class: Class::Literal(DEEPSEEK_CJK), leading_space: false },
    Stage::Runs { class: Class::Number, leading_space: false },
];

impl PreTokenizer {
    /// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` name.
    pub fn from_name(name: &str) -> Result<Self, TokenizerError> {
        let stages = match name {
            "default" => DEFAULT,
            "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0"
            | "mellum" | "modern-bert" | "exaone4" | "mpt" | "olmo" | "jais" | "jina-v1-en" | "jina-v2-code"
            | "roberta-bpe" => GPT2,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => DIGITS_GPT2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
            | "jina-v5-nano" => LLAMA3,
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2" => QWEN2,
            "deepseek-llm" => DEEPSEEK_LLM,
            other => return Err(TokenizerError::UnknownPreTokenizer { name: other.into() }),
        };
        let name = match stages {
            s if s == DEFAULT => "default",
            s if s == GPT2 => "gpt-2",
            s if s == DIGITS_GPT2 => "smollm",
            s if s == LLAMA3 => "llama-bpe",
            s if s == QWEN2 => "qwen2",
            _ => "deepseek-llm",
        };
        Ok(Self { name, stages })
    }

    /// GPT-2's split, used when a model names an unknown pre-tokenizer and the caller opts in.
    pub fn gpt2() -> Self {
        Self { name: "gpt-2", stages: GPT2 }
    }

    /// Llama 3 style pre-tokenizers also skip merging when a whole piece is a token.
    pub(crate) fn ignores_merges(&self) -> bool {
        self.stages == LLAMA3
    }

    /// The canonical name of this split.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Splits `text` into pieces (byte ranges) that are BPE-encoded independently.
    pub fn split(self, text: &str, out: &mut Vec<Range<usize>>) {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut fragments: Vec<Range<usize>> = Vec::with_capacity(16);
        fragments.push(0..chars.len());
        let mut next = Vec::new();
        for stage in self.stages {
            next.clear();
            for f in &fragments {
                apply(*stage, &chars, f.clone(), &mut next);
            }
            std::mem::swap(&mut fragments, &mut next);
        }
        out.extend(fragments.into_iter().map(|r| {
            let start = chars[r.start].0;
            let end = chars.get(r.end).map_or(text.len(), |c| c.0);
            start..end
        }));
    }
}

/// Splits one fragment by one stage into matches and the gaps between them.
fn apply(stage: Stage, chars: &[(usize, char)], range: Range<usize>, out: &mut Vec<Range<usize>>) {
    match stage {
        Stage::Gpt2 => gpt2(chars, range, out),
        Stage::Llama3 { max_digits } => llama3(chars, range, max_digits, out),
        _ => {
            let f = Frag { chars, end: range.end };
            let mut gap = range.start;
            let mut i = range.start;
            while i < range.end {
                match stage_match(stage, &f, i) {
                    Some(end) => {
                        if gap < i {
                            out.push(gap..i);
                        }
                        out.push(i..end);
                        i = end;
                        gap = end;
                    }
                    None => i += 1,
                }
            }
            if gap < range.end {
                out.push(gap..range.end);
            }
        }
    }
}

/// The end of the match of a simple stage starting exactly at `i`, if any.
fn stage_match(stage: Stage, f: &Frag<'_>, i: usize) -> Option<usize> {
    let c = f.at(i)?;
    match stage {
        Stage::Each(class) => in_class(class, c).then_some(i + 1),
        Stage::Runs { class, leading_space } => {
            let body =
                if leading_space && is_space(c) && f.at(i + 1).is_some_and(|n| in_class(class, n)) { i + 1 } else { i };
            let end = f.run(body, |x| in_class(class, x));
            (end > body).then_some(end)
        }
        Stage::DigitTriples => {
            let d = |k| f.at(k).is_some_and(|x: char| x.is_ascii_digit());
            (d(i) && d(i + 1) && d(i + 2)).then_some(i + 3)
        }
        Stage::TrailingSpace => {
            let end = f.run(i, is_space);
            (end > i && end == f.end).then_some(end)
        }
        Stage::Gpt2 | Stage::Llama3 { .. } => None,
    }
}

fn in_class(class: Class, c: char) -> bool {
    match class {
        Class::Number => is_number(c),
        Class::Newline => c == '\r' || c == '\n',
        Class::PunctSymbols => is_punct(c) || matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '~' | '|'),
        // llama.cpp hides non-ASCII whitespace from literal ranges (it matches only `\s`).
        Class::Literal(set) => (c.is_ascii() || !is_space(c)) && in_literal_set(set, c),
    }
}

/// Whether `c` is in a bracket expression body of characters and `a-b` ranges.
fn in_literal_set(set: &str, c: char) -> bool {
    let mut it = set.chars().peekable();
    while let Some(lo) = it.next() {
        let mut hi = lo;
        let mut look = it.clone();
        if look.next() == Some('-') {
            if let Some(h) = look.next() {
                hi = h;
                it = look;
            }
        }
        if (lo..=hi).contains(&c) {
            return true;
        }
    }
    false
}

fn is_punct(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::ConnectorPunctuation
            | G::DashPunctuation
            | G::OpenPunctuation
            | G::ClosePunctuation
            | G::InitialPunctuation
            | G::FinalPunctuation
            | G::OtherPunctuation
    )
}

fn is_letter(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter
    )
}

fn is_number(c: char) -> bool {
    matches!(get_general_category(c), G::DecimalNumber | G::LetterNumber | G::OtherNumber)
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Neither whitespace, letter nor number (`[^\s\p{L}\p{N}]`).
fn is_other(c: char) -> bool {
    !is_space(c) && !is_letter(c) && !is_number(c)
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
    let f = Frag { chars, end: range.end };
    let mut i = range.start;
    while i < f.end {
        let c = chars[i].1;
        let next = f.at(i + 1);
        let end = if let Some(len) = contraction(&f, i, false) {
            i + len
        } else {
            // An optional single space joins the run that follows it.
            let (body, ch) =
                if c == ' ' && next.is_some_and(|n| !is_space(n)) { (i + 1, next.unwrap_or(c)) } else { (i, c) };
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
fn llama3(chars: &[(usize, char)], range: Range<usize>, max_digits: usize, out: &mut Vec<Range<usize>>) {
    let f = Frag { chars, end: range.end };
    let is_nl = |c: char| c == '\r' || c == '\n';
    let mut i = range.start;
    while i < f.end {
        let c = chars[i].1;
        let next = f.at(i + 1);
        let end = if let Some(len) = contraction(&f, i, true) {
            i + len
        } else if is_letter(c) || (!is_nl(c) && !is_letter(c) && !is_number(c) && next.is_some_and(is_letter)) {
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
        assert_eq!(pieces(PreTokenizer::gpt2(), "Hello world!  ok"), ["Hello", " world", "!", " ", " ok"]);
        assert_eq!(pieces(PreTokenizer::gpt2(), "it's 42"), ["it", "'s", " 42"]);
        assert_eq!(pieces(PreTokenizer::gpt2(), "a \n"), ["a", " \n"]);
    }

    #[test]
    fn smollm_splits_every_digit() {
        assert_eq!(pieces(PreTokenizer::from_name("smollm").unwrap(), "x 123"), ["x", " ", "1", "2", "3"]);
    }

    #[test]
    fn unknown_pre_tokenizer_is_an_error() {
        assert!(PreTokenizer::from_name("no-such").is_err());
    }
}
