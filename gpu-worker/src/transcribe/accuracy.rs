//! How close a transcript is to the script that was read: the word error rate the
//! transcription tests and `make bench` report (faster-whisper's benchmarks normalise the
//! same way: lower-case words, punctuation stripped).

/// Lower-case words with punctuation stripped; words of punctuation alone are dropped.
pub fn normalise(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate: the word-level Levenshtein distance over the reference's length
/// (an empty reference counts as one word).
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (normalise(reference), normalise(hypothesis));
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for i in 1..=r.len() {
        let mut previous = row[0];
        row[0] = i;
        for j in 1..=h.len() {
            let substitution = previous + usize::from(r[i - 1] != h[j - 1]);
            previous = row[j];
            row[j] = substitution.min(row[j] + 1).min(row[j - 1] + 1);
        }
    }
    row[h.len()] as f64 / r.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wer_counts_word_edits_ignoring_case_and_punctuation() {
        assert_eq!(wer("The quick brown fox.", "the quick, brown fox"), 0.0);
        assert_eq!(wer("the quick brown fox", "the quack brown"), 0.5);
        assert_eq!(wer("one two", "one two three four"), 1.0);
        assert_eq!(wer("", "anything"), 1.0);
    }
}
