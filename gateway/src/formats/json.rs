//! Checking that bytes are JSON without building them, in one pass.
//!
//! Every record a search or a live filter tests is checked before its
//! value is embedded in the document the filter reads; a scan of a million
//! records spent a quarter of its time there when the check was three
//! passes (the depth, serde_json's grammar, the escapes). This is the same
//! verdict in one: what serde_json accepts as one value, nested at most so
//! deep, with every `\u` escape a character (jaq refuses a lone surrogate,
//! which serde_json lets through when it only checks a text).
//!
//! Like serde_json's check it does not look inside strings for UTF-8:
//! bytes of 0x80 and above are taken as they are.

/// Whether `bytes` are one JSON value (surrounded by whitespace at most),
/// nested at most `max_depth` (≤ 128) arrays and objects deep, with no
/// lone surrogate escaped in a string.
pub(crate) fn valid(bytes: &[u8], max_depth: usize) -> bool {
    check(bytes, max_depth) != Checked::Invalid
}

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    Invalid,
    Json,
    /// JSON with a number that may not fit a 64-bit float (an exponent, or
    /// over 300 digits before the point): serde_json, the page's reader,
    /// refuses one that does not ("number out of range"), and the grammar
    /// alone cannot tell.
    JsonWithWideNumbers,
}

/// Whether `bytes` are JSON as [`valid`] has it, and whether a number in
/// it may be too large for a reader that holds numbers as floats.
pub(crate) fn check(bytes: &[u8], max_depth: usize) -> Checked {
    debug_assert!(max_depth <= 128, "the nesting is kept in a u128");
    let mut checker = Checker {
        bytes,
        at: 0,
        wide: false,
    };
    match checker.document(max_depth.min(128)) {
        false => Checked::Invalid,
        true if checker.wide => Checked::JsonWithWideNumbers,
        true => Checked::Json,
    }
}

/// Digits before the point past which a number may overflow a 64-bit
/// float (its largest is about 1.8e308).
const WIDE_DIGITS: usize = 300;

/// `text` (checked JSON) without the whitespace between its tokens:
/// strings cannot hold a raw line break, so what is left is one line.
pub(crate) fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if matches!(c, ' ' | '\n' | '\t' | '\r') {
            continue;
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}

struct Checker<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Whether a number may not fit a 64-bit float (see [`Checked`]).
    wide: bool,
}

impl Checker<'_> {
    fn document(&mut self, max_depth: usize) -> bool {
        // Bit `d` of `objects`: whether the container at depth `d + 1` is
        // an object (else an array).
        let mut objects: u128 = 0;
        let mut depth = 0usize;
        'value: loop {
            // A value is expected here.
            self.skip_whitespace();
            let Some(&b) = self.bytes.get(self.at) else {
                return false;
            };
            self.at += 1;
            match b {
                b'{' | b'[' => {
                    if depth == max_depth {
                        return false;
                    }
                    let object = b == b'{';
                    objects = if object {
                        objects | 1 << depth
                    } else {
                        objects & !(1 << depth)
                    };
                    depth += 1;
                    self.skip_whitespace();
                    let close = if object { b'}' } else { b']' };
                    if self.bytes.get(self.at) == Some(&close) {
                        self.at += 1;
                        depth -= 1;
                    } else if object {
                        if !self.key() {
                            return false;
                        }
                        continue 'value;
                    } else {
                        continue 'value;
                    }
                }
                b'"' => {
                    if !self.string() {
                        return false;
                    }
                }
                b'-' | b'0'..=b'9' => {
                    if !self.number(b) {
                        return false;
                    }
                }
                b't' => {
                    if !self.literal(b"rue") {
                        return false;
                    }
                }
                b'f' => {
                    if !self.literal(b"alse") {
                        return false;
                    }
                }
                b'n' => {
                    if !self.literal(b"ull") {
                        return false;
                    }
                }
                _ => return false,
            }
            // A value ended: a comma, the end of its container, or of the text.
            loop {
                self.skip_whitespace();
                if depth == 0 {
                    return self.at == self.bytes.len();
                }
                let object = objects & 1 << (depth - 1) != 0;
                let Some(&b) = self.bytes.get(self.at) else {
                    return false;
                };
                self.at += 1;
                match b {
                    b',' if object => {
                        self.skip_whitespace();
                        if !self.key() {
                            return false;
                        }
                        continue 'value;
                    }
                    b',' => continue 'value,
                    b'}' if object => depth -= 1,
                    b']' if !object => depth -= 1,
                    _ => return false,
                }
            }
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// An object's key and its colon (whitespace before the key skipped).
    fn key(&mut self) -> bool {
        if self.bytes.get(self.at) != Some(&b'"') {
            return false;
        }
        self.at += 1;
        if !self.string() {
            return false;
        }
        self.skip_whitespace();
        if self.bytes.get(self.at) != Some(&b':') {
            return false;
        }
        self.at += 1;
        true
    }

    /// A string's rest, after its opening quote.
    fn string(&mut self) -> bool {
        loop {
            // The common case first: plain bytes.
            while let Some(&b) = self.bytes.get(self.at) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            match self.bytes.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return true;
                }
                Some(b'\\') => {
                    self.at += 1;
                    if !self.escape() {
                        return false;
                    }
                }
                // A control character, or the end inside a string.
                _ => return false,
            }
        }
    }

    /// An escape's rest, after its backslash: a high surrogate must be
    /// followed by an escaped low one, and a low one never comes alone.
    fn escape(&mut self) -> bool {
        let Some(&b) = self.bytes.get(self.at) else {
            return false;
        };
        self.at += 1;
        match b {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => true,
            b'u' => match self.hex4() {
                Some(0xd800..=0xdbff) => {
                    if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                        return false;
                    }
                    self.at += 2;
                    matches!(self.hex4(), Some(0xdc00..=0xdfff))
                }
                Some(0xdc00..=0xdfff) | None => false,
                Some(_) => true,
            },
            _ => false,
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let mut unit = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return None,
            };
            unit = unit << 4 | u16::from(v);
        }
        self.at += 4;
        Some(unit)
    }

    /// A number's rest after its first byte `first` (`-` or a digit):
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self, first: u8) -> bool {
        let lead = if first == b'-' {
            let Some(&d) = self.bytes.get(self.at) else {
                return false;
            };
            self.at += 1;
            d
        } else {
            first
        };
        match lead {
            // One leading zero, never followed by a digit.
            b'0' => {
                if self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
                    return false;
                }
            }
            b'1'..=b'9' => {
                // The lead digit is read already.
                let from = self.at - 1;
                self.digits();
                self.wide |= self.at - from >= WIDE_DIGITS;
            }
            _ => return false,
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !self.some_digits() {
                return false;
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.wide = true;
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if !self.some_digits() {
                return false;
            }
        }
        true
    }

    fn digits(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }

    /// At least one digit.
    fn some_digits(&mut self) -> bool {
        let from = self.at;
        self.digits();
        self.at > from
    }

    fn literal(&mut self, rest: &[u8]) -> bool {
        if self.bytes.get(self.at..self.at + rest.len()) == Some(rest) {
            self.at += rest.len();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_drops_only_the_space_between_tokens() {
        let text = "{\n  \"a b\" : [1, \"x\\\" \\n y\"],\r\n\t\"c\": {}\n}\n";
        assert!(valid(text.as_bytes(), 100));
        let one_line = compact(text);
        assert_eq!(one_line, r#"{"a b":[1,"x\" \n y"],"c":{}}"#);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&one_line).expect("JSON"),
            serde_json::from_str::<serde_json::Value>(text).expect("JSON")
        );
    }

    /// The three passes this replaces: the verdict it must keep.
    fn three_passes(bytes: &[u8], max_depth: usize) -> bool {
        super::super::nested_at_most(bytes, max_depth)
            && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
            && super::super::surrogates_paired(bytes)
    }

    #[test]
    fn json_is_valid_and_what_is_not_is_not() {
        for ok in [
            "{}",
            "[]",
            " {\"a\" : [1, -2.5e+3, 0, 0.0, 1E9, true, false, null, \"x\"]}\n",
            "\"\\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9\"",
            "-0",
            "\"caf\u{e9}\"",
            "[[[]]]",
        ] {
            assert!(valid(ok.as_bytes(), 100), "{ok}");
        }
        for bad in [
            "",
            " ",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "{1:2}",
            "01",
            "1.",
            "1e",
            "-",
            ".5",
            "tru",
            "nul",
            "[] []",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "\"\\ud83d\\u0041\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"a\u{1}\"",
            "\"open",
            "[}",
            "{]",
            "NaN",
        ] {
            assert!(!valid(bad.as_bytes(), 100), "{bad:?}");
        }
    }

    #[test]
    fn numbers_that_may_not_fit_a_float_are_told() {
        for (text, checked) in [
            ("[1, 2.5, -0.125]", Checked::Json),
            (&format!("[{}]", "9".repeat(WIDE_DIGITS - 1)), Checked::Json),
            (
                &format!("[{}]", "9".repeat(WIDE_DIGITS)),
                Checked::JsonWithWideNumbers,
            ),
            ("{\"a\": 1e400}", Checked::JsonWithWideNumbers),
            ("[1E-2]", Checked::JsonWithWideNumbers),
            ("[1e]", Checked::Invalid),
        ] {
            assert_eq!(check(text.as_bytes(), 100), checked, "{text}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let at = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(valid(at(100).as_bytes(), 100));
        assert!(!valid(at(101).as_bytes(), 100));
        let objects = format!("{}1{}", "{\"a\":".repeat(100), "}".repeat(100));
        assert!(valid(objects.as_bytes(), 100));
        assert!(valid(at(128).as_bytes(), 128));
        assert!(!valid(at(129).as_bytes(), 128));
        // Mixed containers close in their own order.
        assert!(valid(b"[{\"a\":[{}]},[]]", 100));
        assert!(!valid(b"[{\"a\":[{}]],[]]", 100));
    }

    /// Mutations of JSON texts (bytes changed, cut, doubled) judged the
    /// same as the three passes it replaces.
    #[test]
    fn the_verdict_is_the_three_passes_verdict() {
        let seeds: [&[u8]; 6] = [
            br#"{"customer_id":"c-1","items":[{"sku":"A","quantity":2,"unit_price_cents":1999}],"total_cents":-1.5e3}"#,
            br#"[true,false,null,"\ud83d\ude00\n",0,-0.25E-2,{"":[]}]"#,
            br#"{"a":{"b":{"c":[[["\u00e9\\\"/"]]]}}}"#,
            b"  \"text\"  ",
            b"[[[[[[[[[[1]]]]]]]]]]",
            "{\"\u{e9}t\u{e9}\":\"\u{1F600}\"}".as_bytes(),
        ];
        let alphabet = b"{}[]\",:\\u0123456789abcdefABCDEF.-+eEtrnl \n\t\x01\xc3\xa9dD8";
        // A small xorshift: the same cases on every run.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Both verdicts are reached often: a test of only broken texts
        // would say little.
        let mut valid_cases = 0;
        for round in 0..200_000 {
            let seed = seeds[round % seeds.len()];
            let mut bytes = seed.to_vec();
            for _ in 0..=next() % 3 {
                let at = (next() as usize) % (bytes.len() + 1);
                match next() % 4 {
                    0 if at < bytes.len() => {
                        bytes[at] = alphabet[(next() as usize) % alphabet.len()];
                    }
                    1 => bytes.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
            }
            let depth = [0, 1, 2, 3, 100][round % 5];
            let expected = three_passes(&bytes, depth);
            assert_eq!(
                valid(&bytes, depth),
                expected,
                "{:?} at depth {depth}",
                String::from_utf8_lossy(&bytes)
            );
            valid_cases += usize::from(expected);
        }
        assert!((10_000..190_000).contains(&valid_cases), "{valid_cases}");
    }
}
