//! Whisper's vocabulary, read from the model's `vocabulary.txt` (one token a line, the line
//! number is the id; CTranslate2's converter writes it). Tokens are GPT-2 byte-level BPE
//! strings: each byte is shown as one printable character, so decoding maps characters back
//! to bytes and reads the bytes as UTF-8. That is all transcription needs (prompts are
//! token strings or ids), so no BPE encoder is built.

use std::collections::HashMap;
use std::path::Path;

/// Special tokens by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    pub eot: usize,
    pub sot: usize,
    pub sot_prev: usize,
    pub sot_lm: Option<usize>,
    pub no_speech: Option<usize>,
    pub transcribe: Option<usize>,
    pub translate: Option<usize>,
    pub no_timestamps: usize,
    /// `<|0.00|>`; every id from here up is a timestamp, 0.02 s apart.
    pub timestamp_begin: usize,
}

#[derive(Debug)]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, usize>,
    pub specials: Specials,
    /// GPT-2's byte ↔ character table, inverted.
    char_to_byte: HashMap<char, u8>,
}

impl Vocab {
    pub fn load(model_dir: &Path) -> Result<Vocab, String> {
        let path = model_dir.join("vocabulary.txt");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Vocab::from_tokens(text.lines().map(str::to_owned).collect())
    }

    pub fn from_tokens(tokens: Vec<String>) -> Result<Vocab, String> {
        let ids: HashMap<String, usize> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i)).collect();
        let need = |t: &str| ids.get(t).copied().ok_or_else(|| format!("the vocabulary has no {t}"));
        let no_timestamps = need("<|notimestamps|>")?;
        let specials = Specials {
            eot: need("<|endoftext|>")?,
            sot: need("<|startoftranscript|>")?,
            sot_prev: need("<|startofprev|>")?,
            sot_lm: ids.get("<|startoflm|>").copied(),
            no_speech: ids.get("<|nospeech|>").or_else(|| ids.get("<|nocaptions|>")).copied(),
            transcribe: ids.get("<|transcribe|>").copied(),
            translate: ids.get("<|translate|>").copied(),
            no_timestamps,
            timestamp_begin: no_timestamps + 1,
        };
        let char_to_byte = byte_chars().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        Ok(Vocab { tokens, ids, specials, char_to_byte })
    }

    pub fn id(&self, token: &str) -> Option<usize> {
        self.ids.get(token).copied()
    }

    pub fn token(&self, id: usize) -> Option<&str> {
        self.tokens.get(id).map(String::as_str)
    }

    /// The UTF-8 bytes of text tokens (ids below `<|endoftext|>`); special tokens add none.
    pub fn bytes(&self, ids: &[usize]) -> Vec<u8> {
        ids.iter()
            .filter(|&&id| id < self.specials.eot)
            .filter_map(|&id| self.tokens.get(id))
            .flat_map(|t| t.chars().filter_map(|c| self.char_to_byte.get(&c).copied()))
            .collect()
    }

    /// Text of the text tokens; invalid UTF-8 (a cut multi-byte character) becomes U+FFFD.
    pub fn decode(&self, ids: &[usize]) -> String {
        String::from_utf8_lossy(&self.bytes(ids)).into_owned()
    }

    /// faster-whisper's `split_tokens_on_unicode`: groups of tokens that decode to whole
    /// characters (a character may span tokens).
    pub fn split_on_unicode(&self, ids: &[usize]) -> (Vec<String>, Vec<Vec<usize>>) {
        let mut words = Vec::new();
        let mut groups = Vec::new();
        let mut current = Vec::new();
        for &id in ids {
            current.push(id);
            if let Ok(text) = String::from_utf8(self.bytes(&current)) {
                words.push(text);
                groups.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            words.push(self.decode(&current));
            groups.push(current);
        }
        (words, groups)
    }

    /// faster-whisper's `split_tokens_on_spaces`: a word starts at a special token, a
    /// leading space, or punctuation. Languages written without spaces split on characters.
    pub fn split_to_words(&self, ids: &[usize], language: &str) -> (Vec<String>, Vec<Vec<usize>>) {
        let (subwords, groups) = self.split_on_unicode(ids);
        if matches!(language, "zh" | "ja" | "th" | "lo" | "my" | "yue") {
            return (subwords, groups);
        }
        let mut words: Vec<String> = Vec::new();
        let mut word_tokens: Vec<Vec<usize>> = Vec::new();
        for (subword, tokens) in subwords.into_iter().zip(groups) {
            let special = tokens[0] >= self.specials.eot;
            let with_space = subword.starts_with(' ');
            // Python's `s.strip() in string.punctuation` is also true for an empty string.
            let trimmed = subword.trim();
            let punctuation = trimmed.is_empty() || (trimmed.len() == 1 && trimmed.bytes().all(|b| b.is_ascii_punctuation()));
            match (words.last_mut(), word_tokens.last_mut()) {
                (Some(word), Some(last)) if !(special || with_space || punctuation) => {
                    word.push_str(&subword);
                    last.extend(tokens);
                }
                _ => {
                    words.push(subword);
                    word_tokens.push(tokens);
                }
            }
        }
        (words, word_tokens)
    }
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the others
/// are shifted to U+0100 and up, in byte order.
fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut shifted = 0u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if printable {
            b as u32
        } else {
            shifted += 1;
            255 + shifted
        };
        *slot = char::from_u32(code).unwrap_or('\u{FFFD}');
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy vocabulary with Whisper's specials after the text tokens.
    fn vocab() -> Vocab {
        let text = ["Ġhello", ",", "Ġwor", "ld", ".", "Ġ", "Ã", "£", "o", "Ġ(", "Ġ\"", "Ġ'"];
        let specials = [
            "<|endoftext|>",
            "<|startoftranscript|>",
            "<|en|>",
            "<|pt|>",
            "<|translate|>",
            "<|transcribe|>",
            "<|startoflm|>",
            "<|startofprev|>",
            "<|nospeech|>",
            "<|notimestamps|>",
            "<|0.00|>",
            "<|0.02|>",
        ];
        let tokens: Vec<String> = text.iter().chain(specials.iter()).map(|s| (*s).to_owned()).collect();
        let Ok(v) = Vocab::from_tokens(tokens) else { panic!("toy vocabulary") };
        v
    }

    #[test]
    fn specials_and_timestamps() {
        let v = vocab();
        assert_eq!(v.specials.eot, 12);
        assert_eq!(v.specials.no_timestamps, 21);
        assert_eq!(v.specials.timestamp_begin, 22);
        assert_eq!(v.token(22), Some("<|0.00|>"));
        assert_eq!(v.id("<|pt|>"), Some(15));
    }

    #[test]
    fn decodes_byte_level_tokens_and_skips_specials() {
        let v = vocab();
        assert_eq!(v.decode(&[0, 1, 2, 3, 4, 12, 22]), " hello, world.");
        // "ã" is C3 A3: two tokens, each one byte.
        assert_eq!(v.decode(&[5, 6, 7, 8]), " ão");
    }

    #[test]
    fn a_cut_character_is_replaced() {
        assert_eq!(vocab().decode(&[6]), "\u{FFFD}");
    }

    #[test]
    fn splits_words_on_spaces_and_punctuation() {
        let v = vocab();
        let (words, tokens) = v.split_to_words(&[0, 1, 2, 3, 4, 12], "en");
        assert_eq!(words, vec![" hello", ",", " world", ".", ""]);
        assert_eq!(tokens, vec![vec![0], vec![1], vec![2, 3], vec![4], vec![12]]);
    }

    #[test]
    fn multi_token_characters_stay_in_one_word() {
        let v = vocab();
        let (words, tokens) = v.split_to_words(&[5, 6, 7, 8, 12], "pt");
        assert_eq!(words, vec![" ão", ""]);
        assert_eq!(tokens, vec![vec![5, 6, 7, 8], vec![12]]);
    }

    #[test]
    fn byte_table_is_gpt2s() {
        let t = byte_chars();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'A' as usize], 'A');
        assert_eq!(t[0xAD], 'Ń');
    }
}
