//! Which filters end quickly whatever the record, so that the gateway may
//! test them itself instead of in a worker process (`core::filter`).
//!
//! jq's language can loop and recurse without end, which is why filters
//! run in workers. But the filters people type most
//! (`select(.value.total_cents > 10000)`, `.key == "customer-42"`, a few
//! tests joined by `and`/`or`) only look up paths and compare them with
//! constants: bounded by the
//! record's size, whatever its values. This module recognises exactly that
//! language and nothing more; what it accepts is still compiled and run by
//! jaq (`core::jq`), so the results are the worker's to the letter, only
//! without the process, the pipe and a second parse.
//!
//! ```text
//! filter  := "select" "(" or ")" | or
//! or      := and ("or" and)*
//! and     := compare ("and" compare)*
//! compare := term (("==" | "!=" | "<" | "<=" | ">" | ">=") term)?
//! term    := path | number | string | "true" | "false" | "null" | "(" or ")"
//! path    := "." step? ("." step | "[" (string | integer) "]")*   (also ".[…]" first)
//! step    := identifier | string
//! ```
//!
//! Strings are JSON strings (no `\(…)` interpolation); identifiers are not
//! jq's keywords; parentheses nest at most [`MAX_NESTING`] deep.

/// Deepest parentheses accepted (jaq's parser recurses per level).
const MAX_NESTING: usize = 16;

/// Whether `code` is in the bounded language above.
pub(crate) fn is_bounded(code: &str) -> bool {
    let mut p = Parser {
        s: code.as_bytes(),
        at: 0,
        depth: 0,
    };
    p.filter().is_some() && {
        p.space();
        p.at == p.s.len()
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
}

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "if", "then", "elif", "else", "end", "def", "as", "reduce", "foreach",
    "try", "catch", "label", "import", "include", "__loc__", "true", "false", "null", "select",
];

impl Parser<'_> {
    fn space(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// Takes `token` (after spaces) if it is next.
    fn eat(&mut self, token: &str) -> bool {
        self.space();
        if self.s[self.at..].starts_with(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// Takes the word `word` if it is next as a whole word.
    fn word(&mut self, word: &str) -> bool {
        self.space();
        let start = self.at;
        match self.identifier() {
            Some(w) if w == word => true,
            _ => {
                self.at = start;
                false
            }
        }
    }

    fn identifier(&mut self) -> Option<&str> {
        let start = self.at;
        let first = *self.s.get(self.at)?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        self.at += 1;
        while self
            .s
            .get(self.at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[start..self.at]).ok()
    }

    fn filter(&mut self) -> Option<()> {
        let start = self.at;
        if self.word("select") {
            if self.eat("(") {
                self.or()?;
                return self.eat(")").then_some(());
            }
            self.at = start;
            return None;
        }
        self.or()
    }

    fn or(&mut self) -> Option<()> {
        self.and()?;
        while self.word("or") {
            self.and()?;
        }
        Some(())
    }

    fn and(&mut self) -> Option<()> {
        self.compare()?;
        while self.word("and") {
            self.compare()?;
        }
        Some(())
    }

    fn compare(&mut self) -> Option<()> {
        self.term()?;
        // Longest first: "<=" before "<".
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.eat(op) {
                return self.term();
            }
        }
        Some(())
    }

    fn term(&mut self) -> Option<()> {
        self.space();
        match self.s.get(self.at)? {
            b'.' => self.path(),
            b'"' => self.string(),
            b'(' => {
                self.at += 1;
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return None;
                }
                self.or()?;
                self.depth -= 1;
                self.eat(")").then_some(())
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => {
                let word = self.identifier()?;
                matches!(word, "true" | "false" | "null").then_some(())
            }
        }
    }

    /// `.`, `.a`, `."a"`, `.a.b`, `.a["b"]`, `.a[0]`, `.[0]`, with no
    /// spaces inside (as jq writes paths).
    fn path(&mut self) -> Option<()> {
        self.at += 1; // the first '.'
        let mut first = true;
        loop {
            match self.s.get(self.at) {
                Some(b'[') => {
                    self.at += 1;
                    match self.s.get(self.at)? {
                        b'"' => self.string()?,
                        b'0'..=b'9' => self.integer()?,
                        _ => return None,
                    }
                    if self.s.get(self.at) != Some(&b']') {
                        return None;
                    }
                    self.at += 1;
                }
                Some(b'"') if first => self.string()?,
                Some(b) if first && (b.is_ascii_alphabetic() || *b == b'_') => self.step()?,
                Some(b'.') if !first => {
                    self.at += 1;
                    match self.s.get(self.at)? {
                        b'"' => self.string()?,
                        _ => self.step()?,
                    }
                }
                // `.a?`, `..`, `.a |`: not in the language (a space or an
                // operator ends the path).
                Some(b'?' | b'.') => return None,
                _ => return Some(()),
            }
            first = false;
        }
    }

    fn step(&mut self) -> Option<()> {
        let word = self.identifier()?;
        (!KEYWORDS.contains(&word)).then_some(())
    }

    fn integer(&mut self) -> Option<()> {
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        (self.at > start && self.at - start <= 9).then_some(())
    }

    /// A JSON number (with an optional minus, which jq reads as negation).
    fn number(&mut self) -> Option<()> {
        if self.s.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).ok()?;
        (!text.is_empty() && text.parse::<f64>().is_ok_and(f64::is_finite)).then_some(())
    }

    /// A JSON string: escapes as JSON has them, never `\(`.
    fn string(&mut self) -> Option<()> {
        self.at += 1; // the opening quote
        loop {
            match *self.s.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => match *self.s.get(self.at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                    b'u' => {
                        let hex = self.s.get(self.at + 2..self.at + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.at += 6;
                    }
                    _ => return None,
                },
                b if b < 0x20 => return None,
                _ => self.at += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_comparisons_are_bounded() {
        for code in [
            "select(.value.total_cents > 10000)",
            ".value.total_cents > 10000",
            r#"select(.key == "customer-42")"#,
            r#".key == "a\"b\u00e9""#,
            ".partition == 1 and .offset >= 7",
            r#"select(.value.customer_id == "c" and (.partition == 1 or .partition == 2))"#,
            r#".value.items[0].sku == "BOOK-1""#,
            r#".value["total cents"] != null"#,
            r#".value."odd key" < -1.5e3"#,
            ".[0] == true",
            ".value.paid",
            ".",
            " select ( .value.n <= 3 ) ",
        ] {
            assert!(is_bounded(code), "{code}");
        }
    }

    #[test]
    fn anything_else_goes_to_a_worker() {
        let deep = format!("{}.a{}", "(".repeat(40), ")".repeat(40));
        for code in [
            "def f: f; f",
            "last(range(1e12))",
            "[limit(1e9; repeat(1))]",
            ".value | fromjson",
            ".. == 1",
            ".value.n % 7 == 0",
            ".value.n + 1 > 2",
            "select(.a) | .b",
            r#""\(.a)" == "x""#,
            ".a?",
            ".[]",
            ".a[]",
            ".a | not",
            "not",
            ".a == 1 == 2",
            "select(.a",
            ".and == 1",
            "select(.a) and .b",
            r#".key | test("^c")"#,
            "",
            "1e999 == .a",
            ".a[99999999999]",
            &deep,
        ] {
            assert!(!is_bounded(code), "{code}");
        }
    }

    #[test]
    fn what_it_accepts_jaq_compiles_and_reads_the_same_way() {
        use crate::core::jq::{Program, Verdict};
        let doc = br#"{"key": "customer-42", "partition": 1, "offset": 7,
            "value": {"total_cents": 12000, "items": [{"sku": "BOOK-1"}], "paid": true}}"#;
        for (code, verdict) in [
            ("select(.value.total_cents > 10000)", Verdict::Match),
            (".value.total_cents > 20000", Verdict::NoMatch),
            (
                r#".key == "customer-42" and .partition == 1"#,
                Verdict::Match,
            ),
            (r#".value.items[0].sku == "BOOK-1""#, Verdict::Match),
            (".partition == 2 or .offset < 7", Verdict::NoMatch),
            (".value.paid", Verdict::Match),
        ] {
            assert!(is_bounded(code), "{code}");
            let program = Program::compile(code).expect("compiles");
            assert_eq!(program.test(doc), verdict, "{code}");
        }
        // Indexing a string is jq's error: the record is skipped.
        let program = Program::compile(".key.name == 1").expect("compiles");
        assert!(matches!(program.test(doc), Verdict::Skipped(_)));
    }
}
