//! Tokenizers built from GGUF metadata alone (no external files): byte-level BPE
//! (`tokenizer.ggml.model = gpt2`) with the pre-tokenizer `tokenizer.ggml.pre` names, and
//! SentencePiece-style BPE with scores and byte fallback (`tokenizer.ggml.model = llama`).
//!
//! Behaviour follows llama.cpp's `llama_tokenize`/`llama_token_to_piece`, which the tests check
//! against (`tests/fixtures/llamacpp/tokenize.jsonl`).

mod bpe;
mod pretokenize;
mod spm;
mod stream;

use std::collections::HashMap;

pub use pretokenize::PreTokenizer;
pub use stream::StreamDecoder;

use crate::error::{GgufError, Result, TokenizerError};
use crate::gguf::{Array, GgufFile};

/// What a vocabulary entry is (`tokenizer.ggml.token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_id(id: i32) -> Self {
        match id {
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Normal,
        }
    }
}

#[derive(Debug)]
enum Algorithm {
    Bpe { merges: bpe::Merges, pre: PreTokenizer, byte_char: Box<[char; 256]>, char_byte: HashMap<char, u8> },
    Spm { scores: Vec<f32> },
}

/// A tokenizer: text to token ids and back.
#[derive(Debug)]
pub struct Tokenizer {
    algo: Algorithm,
    tokens: Vec<String>,
    types: Vec<TokenType>,
    lookup: HashMap<String, u32>,
    /// Control, user-defined and unknown tokens, longest text first (matched in text).
    specials: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eog: Vec<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    /// Longest token text in bytes: no token's bytes are longer.
    max_token_len: usize,
}

/// Token texts that end a generation whatever the model's eos id says (as llama.cpp's list).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "<|end_of_text|>",
];

fn opt<T>(r: Result<T, GgufError>) -> Result<Option<T>, GgufError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(GgufError::MissingKey { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF model describes. An unknown `tokenizer.ggml.pre` is an error
    /// unless `pre_fallback` is set (then GPT-2's split is used).
    pub fn from_gguf(file: &GgufFile, pre_fallback: bool) -> Result<Self> {
        let model = file.get_str("tokenizer.ggml.model")?;
        let tokens = match file.get_array("tokenizer.ggml.tokens")? {
            Array::String(v) => v.clone(),
            _ => return Err(bad("tokenizer.ggml.tokens", "is not an array of strings")),
        };
        let n = tokens.len();
        let types = match opt(file.get_array("tokenizer.ggml.token_type"))? {
            None => vec![TokenType::Normal; n],
            Some(Array::I32(v)) if v.len() == n => v.iter().map(|&t| TokenType::from_id(t)).collect(),
            Some(_) => return Err(bad("tokenizer.ggml.token_type", "is not an i32 array with one entry per token")),
        };
        let lookup: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let id_key = |key: &str| -> Result<Option<u32>> {
            match opt(file.get_u64(key))? {
                Some(id) if (id as usize) < n => Ok(Some(id as u32)),
                Some(id) => Err(bad(key, &format!("= {id} is outside the vocabulary of {n} tokens"))),
                None => Ok(None),
            }
        };
        let algo = match model {
            "gpt2" => {
                let merges = match file.get_array("tokenizer.ggml.merges")? {
                    Array::String(v) => v,
                    _ => return Err(bad("tokenizer.ggml.merges", "is not an array of strings")),
                };
                let pre_name = opt(file.get_str("tokenizer.ggml.pre"))?.unwrap_or("default");
                let pre = match PreTokenizer::from_name(pre_name) {
                    Ok(p) => p,
                    Err(_) if pre_fallback => PreTokenizer::gpt2(),
                    Err(e) => return Err(e.into()),
                };
                let byte_char = Box::new(bpe::byte_to_char_table());
                let char_byte = byte_char.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
                Algorithm::Bpe {
                    merges: bpe::Merges::new(merges, |s| lookup.get(s).copied()),
                    pre,
                    byte_char,
                    char_byte,
                }
            }
            "llama" => {
                let scores = match opt(file.get_array("tokenizer.ggml.scores"))? {
                    Some(Array::F32(v)) if v.len() == n => v.clone(),
                    None => vec![0.0; n],
                    Some(_) => {
                        return Err(bad("tokenizer.ggml.scores", "is not an f32 array with one entry per token"))
                    }
                };
                Algorithm::Spm { scores }
            }
            other => return Err(TokenizerError::UnknownModel { name: other.into() }.into()),
        };
        let is_spm = matches!(algo, Algorithm::Spm { .. });
        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&i| matches!(types[i as usize], TokenType::Control | TokenType::UserDefined | TokenType::Unknown))
            .filter(|&i| !tokens[i as usize].is_empty())
            .collect();
        specials.sort_by_key(|&i| std::cmp::Reverse(tokens[i as usize].len()));
        let bos = id_key("tokenizer.ggml.bos_token_id")?;
        let eos = id_key("tokenizer.ggml.eos_token_id")?;
        let mut eog: Vec<u32> = [eos, id_key("tokenizer.ggml.eot_token_id")?, id_key("tokenizer.ggml.eom_token_id")?]
            .into_iter()
            .flatten()
            .collect();
        eog.extend(EOG_TEXTS.iter().filter_map(|t| lookup.get(*t).copied()));
        eog.sort_unstable();
        eog.dedup();
        Ok(Self {
            algo,
            types,
            specials,
            bos,
            eos,
            eog,
            add_bos: opt(file.get_bool("tokenizer.ggml.add_bos_token"))?.unwrap_or(is_spm),
            add_eos: opt(file.get_bool("tokenizer.ggml.add_eos_token"))?.unwrap_or(false),
            add_space_prefix: opt(file.get_bool("tokenizer.ggml.add_space_prefix"))?.unwrap_or(is_spm),
            max_token_len: tokens.iter().map(String::len).max().unwrap_or(0),
            tokens,
            lookup,
        })
    }

    /// An upper bound on the bytes [`Tokenizer::token_bytes`] appends for one token (decoding
    /// never expands a token's text: byte-level characters become one byte, `▁` one space).
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_len
    }

    pub fn n_vocab(&self) -> usize {
        self.tokens.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Whether generating `id` ends the generation (EOS, EOT, `<|im_end|>`-style tokens).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// The id of a token by its exact vocabulary text.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.lookup.get(text).copied()
    }

    /// Tokenizes `text`. `add_special` adds BOS/EOS as the model's metadata asks;
    /// `parse_special` recognises control-token text such as `<|im_start|>` (chat templates need
    /// it; user input should not get it). User-defined tokens are always recognised, as in
    /// llama.cpp.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let mut fragments = vec![Fragment::Text(0..text.len())];
        for &sp in &self.specials {
            let ty = self.types[sp as usize];
            if !parse_special && matches!(ty, TokenType::Control | TokenType::Unknown) {
                continue;
            }
            let needle = &self.tokens[sp as usize];
            let mut next = Vec::with_capacity(fragments.len());
            for f in fragments {
                let Fragment::Text(r) = f else {
                    next.push(f);
                    continue;
                };
                let mut start = r.start;
                while let Some(found) = text[start..r.end].find(needle.as_str()) {
                    if found > 0 {
                        next.push(Fragment::Text(start..start + found));
                    }
                    next.push(Fragment::Token(sp));
                    start += found + needle.len();
                }
                if start < r.end {
                    next.push(Fragment::Text(start..r.end));
                }
            }
            fragments = next;
        }
        // SPM (as llama.cpp): a text fragment at the start, or right after a special token
        // (BOS, control, user-defined, unknown), gets the space prefix; later text does not.
        let mut after_special = true;
        for f in fragments {
            match f {
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
                Fragment::Text(r) => {
                    self.encode_text(&text[r], after_special, &mut out);
                    after_special = false;
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    fn encode_text(&self, text: &str, after_special: bool, out: &mut Vec<u32>) {
        match &self.algo {
            Algorithm::Bpe { merges, pre, byte_char, .. } => {
                let mut pieces = Vec::new();
                pre.split(text, &mut pieces);
                let mut symbols = Vec::new();
                let mut work = bpe::BpeWork::default();
                let mut mapped = String::new();
                for r in pieces {
                    mapped.clear();
                    mapped.extend(text[r].bytes().map(|b| byte_char[b as usize]));
                    // Llama 3 style: a piece that is itself a token is not merged.
                    if pre.ignores_merges() {
                        if let Some(&id) = self.lookup.get(&mapped) {
                            out.push(id);
                            continue;
                        }
                    }
                    symbols.clear();
                    let mut one = [0u8; 4];
                    for c in mapped.chars() {
                        // A byte without a token (SmolLM2 lacks a few control bytes) cannot merge
                        // and is dropped from the output, as llama.cpp drops it.
                        symbols.push(self.lookup.get(c.encode_utf8(&mut one) as &str).copied().unwrap_or(NO_TOKEN));
                    }
                    merges.apply(&mut symbols, &mut work);
                    out.extend(symbols.iter().copied().filter(|&id| id != NO_TOKEN));
                }
            }
            Algorithm::Spm { scores } => {
                spm::encode(text, self.add_space_prefix && after_special, &self.lookup, scores, out);
            }
        }
    }

    /// The bytes a token stands for. Control tokens give their text only if `special`.
    pub fn token_bytes(&self, id: u32, special: bool, out: &mut Vec<u8>) {
        let Some(text) = self.tokens.get(id as usize) else {
            return;
        };
        match self.types[id as usize] {
            // llama.cpp's token_to_piece prints nothing for an unused token, special or not.
            TokenType::Unused => {}
            TokenType::Control | TokenType::Unknown => {
                if special {
                    out.extend_from_slice(text.as_bytes());
                }
            }
            TokenType::UserDefined => out.extend_from_slice(text.as_bytes()),
            TokenType::Byte | TokenType::Normal => match &self.algo {
                Algorithm::Bpe { char_byte, .. } => {
                    for c in text.chars() {
                        match char_byte.get(&c) {
                            Some(&b) => out.push(b),
                            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                        }
                    }
                }
                Algorithm::Spm { .. } => spm::piece_bytes(text, out),
            },
        }
    }

    /// Decodes a whole sequence (invalid UTF-8 becomes U+FFFD, as a streamed decode does).
    ///
    /// SPM with the space prefix: as llama.cpp's `llama_detokenize`, one leading space is removed
    /// from the *first token's* piece only. After a BOS the space stays (`[<s>, ▁Hi]` gives
    /// `" Hi"`, or `"<s> Hi"` with `special`), since the BOS was the first token.
    pub fn decode(&self, ids: &[u32], special: bool) -> String {
        let strip_first = matches!(self.algo, Algorithm::Spm { .. }) && self.add_space_prefix;
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let start = bytes.len();
            self.token_bytes(id, special, &mut bytes);
            if i == 0 && strip_first && bytes.get(start) == Some(&b' ') {
                bytes.remove(start);
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Stands for a byte with no vocabulary entry during BPE; never merged, never emitted.
const NO_TOKEN: u32 = u32::MAX;

enum Fragment {
    Text(std::ops::Range<usize>),
    Token(u32),
}

fn bad(key: &str, reason: &str) -> crate::Error {
    TokenizerError::BadMetadata { key: key.into(), reason: reason.into() }.into()
}
