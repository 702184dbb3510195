//! Suggestions for a misspelt name: the nearest valid one, if it is close
//! enough to be a typo.

/// The valid name nearest to `wrong`, if one is close enough to be a typo.
pub fn nearest<'a>(wrong: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|v| (strsim::damerau_levenshtein(wrong, v), v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// ": did you mean `x`?" for the valid name nearest `wrong`, or nothing;
/// `quote` is the quote the suggestion is written with (` or ").
pub fn did_you_mean<'a>(
    wrong: &str,
    valid: impl IntoIterator<Item = &'a str>,
    quote: char,
) -> String {
    nearest(wrong, valid)
        .map(|k| format!(": did you mean {quote}{k}{quote}?"))
        .unwrap_or_default()
}
