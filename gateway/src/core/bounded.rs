//! Which filters end quickly whatever the record, so that the gateway may
//! test them itself instead of in a worker process (`core::filter`).
//!
//! jq's language can loop and recurse without end, which is why filters
//! run in workers. But the filters people type most
//! (`select(.value.total_cents > 10000)`, `.key == "customer-42"`, a few
//! tests joined by `and`/`or`) only look up paths and compare them with
//! constants: bounded by the record's size, whatever its values. This
//! module recognises exactly that language and nothing more. What it
//! accepts a search tests in its scan, in the gateway: evaluated here, on
//! the record's plain fields and the value's JSON text as it lies (no tree
//! built), wherever that is sure to be jq's answer; else (an error such as
//! indexing a string, escapes, long numbers, arrays compared, headers)
//! compiled and run by jaq (`core::jq`) on the record's document, as the
//! worker would. Tested to answer as jaq does wherever it answers.
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

use std::cmp::Ordering;

use crate::kafka::record::Fields;

/// Deepest parentheses accepted (jaq's parser recurses per level).
const MAX_NESTING: usize = 16;
/// Most paths a filter may look up: each may scan the record once, so
/// that `.a or .a or …` 300 times over costs a worker, not the gateway.
const MAX_PATHS: usize = 16;

/// Whether `code` is in the bounded language above.
pub(crate) fn is_bounded(code: &str) -> bool {
    Filter::parse(code).is_some()
}

/// A filter of the bounded language, parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter(Expr);

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Op, Box<Expr>),
    Path(Vec<Step>),
    Literal(Literal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
}

impl Filter {
    /// The filter, if `code` is in the bounded language.
    pub(crate) fn parse(code: &str) -> Option<Self> {
        let mut p = Parser {
            s: code.as_bytes(),
            at: 0,
            depth: 0,
            paths: 0,
        };
        let expr = p.filter()?;
        p.space();
        (p.at == p.s.len()).then_some(Self(expr))
    }

    /// Whether `record` matches, evaluated here on its plain fields, as jq
    /// would: `None` wherever this evaluation is not sure to be jq's (an
    /// error, as indexing a number; a key or string with escapes; numbers
    /// past 15 digits; comparing arrays or objects), and the caller asks
    /// jaq then.
    pub(crate) fn test(&self, record: &Fields<'_>) -> Option<bool> {
        truthy(&eval(&self.0, &Root::Fields(record))?)
    }

    /// [`Filter::test`] on a record's whole document (`record::document`,
    /// as the live filters get it): the same answers, looked up in the
    /// document's JSON text.
    pub(crate) fn test_document(&self, document: &[u8]) -> Option<bool> {
        truthy(&eval(&self.0, &Root::Document(document))?)
    }
}

/// What `.` is: a record's plain fields, or its document.
enum Root<'a> {
    Fields(&'a Fields<'a>),
    Document(&'a [u8]),
}

/// A value met while evaluating: JSON as it lies in the record's bytes.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Null,
    Bool(bool),
    Number(f64),
    /// A string without escapes (others make the evaluation give up).
    Str(&'a str),
    Array(&'a [u8]),
    Object(&'a [u8]),
    /// The record itself (`.`).
    Record,
}

impl Val<'_> {
    /// jq's order of types: null, false, true, numbers, strings, arrays,
    /// objects.
    fn rank(&self) -> u8 {
        match self {
            Val::Null => 0,
            Val::Bool(false) => 1,
            Val::Bool(true) => 2,
            Val::Number(_) => 3,
            Val::Str(_) => 4,
            Val::Array(_) => 5,
            Val::Object(_) | Val::Record => 6,
        }
    }
}

fn truthy(v: &Val<'_>) -> Option<bool> {
    Some(!matches!(v, Val::Null | Val::Bool(false)))
}

fn eval<'a>(expr: &'a Expr, record: &Root<'a>) -> Option<Val<'a>> {
    match expr {
        Expr::Or(a, b) => Some(Val::Bool(
            truthy(&eval(a, record)?)? || truthy(&eval(b, record)?)?,
        )),
        Expr::And(a, b) => Some(Val::Bool(
            truthy(&eval(a, record)?)? && truthy(&eval(b, record)?)?,
        )),
        Expr::Compare(a, op, b) => {
            let (a, b) = (eval(a, record)?, eval(b, record)?);
            let order = compare(&a, &b)?;
            Some(Val::Bool(match op {
                Op::Eq => order == Ordering::Equal,
                Op::Ne => order != Ordering::Equal,
                Op::Lt => order == Ordering::Less,
                Op::Le => order != Ordering::Greater,
                Op::Gt => order == Ordering::Greater,
                Op::Ge => order != Ordering::Less,
            }))
        }
        Expr::Literal(Literal::Null) => Some(Val::Null),
        Expr::Literal(Literal::Bool(b)) => Some(Val::Bool(*b)),
        Expr::Literal(Literal::Number(n)) => Some(Val::Number(*n)),
        Expr::Literal(Literal::String(s)) => Some(Val::Str(s)),
        Expr::Path(steps) => {
            let mut at = Val::Record;
            for step in steps {
                at = index(at, step, record)?;
            }
            Some(at)
        }
    }
}

/// jq's order of two values, where it is sure; `None` for two arrays or
/// two objects (compared by content, which is left to jaq).
fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<Ordering> {
    match (a, b) {
        (Val::Number(x), Val::Number(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Array(_), Val::Array(_))
        | (Val::Object(_) | Val::Record, Val::Object(_) | Val::Record) => None,
        _ => Some(a.rank().cmp(&b.rank())),
    }
}

/// One step of a path from `at`.
fn index<'a>(at: Val<'a>, step: &Step, root: &Root<'a>) -> Option<Val<'a>> {
    match (at, step, root) {
        // A document is the record as jq sees it: look the step up there.
        (Val::Record, _, Root::Document(document)) => index(json(document)?, step, root),
        (Val::Record, Step::Field(name), Root::Fields(record)) => Some(match name.as_str() {
            "topic" => Val::Str(record.topic),
            "partition" => Val::Number(f64::from(record.partition)),
            "offset" => exact(record.offset)?,
            "timestamp" => record.timestamp.map_or(Some(Val::Null), exact)?,
            "key" => record.key.map_or(Val::Null, Val::Str),
            "value" => record.value.map_or(Some(Val::Null), json)?,
            // Headers, formats, schemas: jaq's, from the document.
            _ => return None,
        }),
        (Val::Null, _, _) => Some(Val::Null),
        (Val::Object(bytes), Step::Field(name), _) => field(bytes, name),
        (Val::Array(bytes), Step::Index(i), _) => element(bytes, *i),
        // Indexing anything else is jq's error, with jaq's words.
        _ => None,
    }
}

/// An integer as jq holds it, exactly (up to 2^53).
fn exact(n: i64) -> Option<Val<'static>> {
    #[allow(clippy::cast_precision_loss)] // exact below 2^53
    let f = n as f64;
    (n.unsigned_abs() < (1 << 53)).then_some(Val::Number(f))
}

/// The JSON value that starts `bytes` (after spaces). An object or an
/// array is not scanned to its end here: a lookup in it stops at the
/// member it needs, or its end.
fn json(bytes: &[u8]) -> Option<Val<'_>> {
    let start = skip_space(bytes, 0);
    match bytes.get(start)? {
        b'{' => return Some(Val::Object(&bytes[start..])),
        b'[' => return Some(Val::Array(&bytes[start..])),
        _ => {}
    }
    let end = value_end(bytes, start)?;
    let text = &bytes[start..end];
    Some(match text.first()? {
        b'"' => {
            let inner = &text[1..text.len() - 1];
            if inner.contains(&b'\\') {
                return None;
            }
            Val::Str(std::str::from_utf8(inner).ok()?)
        }
        b't' => Val::Bool(true),
        b'f' => Val::Bool(false),
        b'n' => Val::Null,
        _ => {
            let digits = text.iter().filter(|b| b.is_ascii_digit()).count();
            // Past 15 digits jaq may keep what an f64 cannot.
            if digits > 15 {
                return None;
            }
            Val::Number(std::str::from_utf8(text).ok()?.parse().ok()?)
        }
    })
}

/// The member `name` of an object: its last occurrence, as jq keeps it.
fn field<'a>(object: &'a [u8], name: &str) -> Option<Val<'a>> {
    let mut at = skip_space(object, 1);
    let mut found = None;
    if object.get(at) == Some(&b'}') {
        return Some(Val::Null);
    }
    loop {
        let key_end = value_end(object, at)?;
        let key = &object[at + 1..key_end - 1];
        if key.contains(&b'\\') {
            return None;
        }
        at = skip_space(object, key_end);
        if object.get(at) != Some(&b':') {
            return None;
        }
        let value_start = skip_space(object, at + 1);
        let value_end = value_end(object, value_start)?;
        if key == name.as_bytes() {
            found = Some(value_start);
        }
        at = skip_space(object, value_end);
        match object.get(at)? {
            b',' => at = skip_space(object, at + 1),
            b'}' => break,
            _ => return None,
        }
    }
    match found {
        Some(start) => json(&object[start..]),
        None => Some(Val::Null),
    }
}

/// The `i`th element of an array, or null past its end.
fn element(array: &[u8], i: usize) -> Option<Val<'_>> {
    let mut at = skip_space(array, 1);
    if array.get(at) == Some(&b']') {
        return Some(Val::Null);
    }
    let mut n = 0;
    loop {
        let end = value_end(array, at)?;
        if n == i {
            return json(&array[at..]);
        }
        n += 1;
        at = skip_space(array, end);
        match array.get(at)? {
            b',' => at = skip_space(array, at + 1),
            b']' => return Some(Val::Null),
            _ => return None,
        }
    }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// Where the JSON value starting at `at` ends (exclusive), in text known
/// to be valid JSON (`record::Fields` checked it).
fn value_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    let mut depth = 0usize;
    loop {
        match *bytes.get(i)? {
            b'"' => {
                i += 1;
                loop {
                    match *bytes.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            _ if depth == 0 => {
                // A number or a literal: up to the next delimiter.
                while bytes.get(i).is_some_and(|b| {
                    !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                }) {
                    i += 1;
                }
                return Some(i);
            }
            _ => i += 1,
        }
        if depth == 0 {
            return Some(i);
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
    paths: usize,
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

    fn filter(&mut self) -> Option<Expr> {
        let start = self.at;
        if self.word("select") {
            if self.eat("(") {
                let expr = self.or()?;
                return self.eat(")").then_some(expr);
            }
            self.at = start;
            return None;
        }
        self.or()
    }

    fn or(&mut self) -> Option<Expr> {
        let mut expr = self.and()?;
        while self.word("or") {
            expr = Expr::Or(Box::new(expr), Box::new(self.and()?));
        }
        Some(expr)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut expr = self.compare()?;
        while self.word("and") {
            expr = Expr::And(Box::new(expr), Box::new(self.compare()?));
        }
        Some(expr)
    }

    fn compare(&mut self) -> Option<Expr> {
        let left = self.term()?;
        // Longest first: "<=" before "<".
        for (token, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(token) {
                return Some(Expr::Compare(Box::new(left), op, Box::new(self.term()?)));
            }
        }
        Some(left)
    }

    fn term(&mut self) -> Option<Expr> {
        self.space();
        match self.s.get(self.at)? {
            b'.' => self.path().map(Expr::Path),
            b'"' => self.string().map(|s| Expr::Literal(Literal::String(s))),
            b'(' => {
                self.at += 1;
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return None;
                }
                let expr = self.or()?;
                self.depth -= 1;
                self.eat(")").then_some(expr)
            }
            b'-' | b'0'..=b'9' => self.number().map(|n| Expr::Literal(Literal::Number(n))),
            _ => match self.identifier()? {
                "true" => Some(Expr::Literal(Literal::Bool(true))),
                "false" => Some(Expr::Literal(Literal::Bool(false))),
                "null" => Some(Expr::Literal(Literal::Null)),
                _ => None,
            },
        }
    }

    /// `.`, `.a`, `."a"`, `.a.b`, `.a["b"]`, `.a[0]`, `.[0]`, with no
    /// spaces inside (as jq writes paths).
    fn path(&mut self) -> Option<Vec<Step>> {
        self.paths += 1;
        if self.paths > MAX_PATHS {
            return None;
        }
        self.at += 1; // the first '.'
        let mut steps = Vec::new();
        loop {
            let first = steps.is_empty();
            match self.s.get(self.at) {
                Some(b'[') => {
                    self.at += 1;
                    let step = match self.s.get(self.at)? {
                        b'"' => Step::Field(self.string()?),
                        b'0'..=b'9' => Step::Index(self.integer()?),
                        _ => return None,
                    };
                    if self.s.get(self.at) != Some(&b']') {
                        return None;
                    }
                    self.at += 1;
                    steps.push(step);
                }
                Some(b'"') if first => steps.push(Step::Field(self.string()?)),
                Some(b) if first && (b.is_ascii_alphabetic() || *b == b'_') => {
                    steps.push(Step::Field(self.step()?));
                }
                Some(b'.') if !first => {
                    self.at += 1;
                    let step = match self.s.get(self.at)? {
                        b'"' => self.string()?,
                        _ => self.step()?,
                    };
                    steps.push(Step::Field(step));
                }
                // `.a?`, `..`, `.a |`: not in the language (a space or an
                // operator ends the path).
                Some(b'?' | b'.') => return None,
                _ => return Some(steps),
            }
        }
    }

    fn step(&mut self) -> Option<String> {
        let word = self.identifier()?;
        (!KEYWORDS.contains(&word)).then(|| word.to_owned())
    }

    fn integer(&mut self) -> Option<usize> {
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        if self.at == start || self.at - start > 9 {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .parse()
            .ok()
    }

    /// A JSON number (with an optional minus, which jq reads as negation).
    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        if self.s.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let digits = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            self.at += 1;
        }
        if self.at == digits || self.at - digits > 15 {
            return None;
        }
        let n: f64 = std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .parse()
            .ok()?;
        n.is_finite().then_some(n)
    }

    /// A JSON string (no `\(` interpolation), unescaped.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.at += 1; // the opening quote
        loop {
            match *self.s.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    break;
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
        serde_json::from_slice(&self.s[start..self.at]).ok()
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
            &[".a"; 17].join(" or "),
            ".a[99999999999]",
            &deep,
        ] {
            assert!(!is_bounded(code), "{code}");
        }
    }

    /// The document jq would see for these fields (as `record::document`
    /// writes it), beside the fields themselves.
    fn record<'a>(key: Option<&'a str>, value: Option<&'a str>) -> (Fields<'a>, Vec<u8>) {
        let fields = Fields {
            topic: "orders",
            partition: 2,
            offset: 41,
            timestamp: Some(1_795_857_549_813),
            key,
            value: value.map(str::as_bytes),
        };
        let document = format!(
            r#"{{"topic":"orders","partition":2,"offset":41,"timestamp":1795857549813,"key":{},"headers":[],"value":{},"value_format":"json","truncated":false,"size":0,"key_schema":null,"value_schema":null}}"#,
            key.map_or("null".into(), |k| serde_json::to_string(k).expect("JSON")),
            value.unwrap_or("null"),
        );
        (fields, document.into_bytes())
    }

    #[test]
    fn where_it_answers_it_answers_as_jaq() {
        use crate::core::jq::{Program, Verdict};
        let values = [
            r#"{"total_cents": 12000, "customer_id": "customer-42", "items": [{"sku": "BOOK-1", "quantity": 2}], "paid": true}"#,
            r#"{"total_cents": 9999.5, "customer_id": "c\"q", "items": [], "paid": false, "note": null}"#,
            r#"{"total_cents": -3, "customer_id": "é☃", "items": [1, "a", null, [2]], "paid": null}"#,
            r#"{"total_cents": 123456789012345678901, "items": {"0": 1}, "paid": "yes"}"#,
            r#"{"total_cents": "12000", "dup": 1, "dup": 2, "nested": {"a": {"b": [10, 20]}}}"#,
            r#"{"total_cents": 1e3, "customer_id": "", "paid": 0}"#,
            r#" { "total_cents" : 12000 , "items" : [ { "sku" : "X" } ] } "#,
            r#"[1, 2, 3]"#,
            r#""just text""#,
            r#"42"#,
            r#"null"#,
            r#"{}"#,
        ];
        let filters = [
            "select(.value.total_cents > 10000)",
            ".value.total_cents >= 12000",
            ".value.total_cents == 12000",
            ".value.total_cents != 1000",
            ".value.total_cents < 0",
            ".value.total_cents <= \"12000\"",
            r#".value.customer_id == "customer-42""#,
            r#".value.customer_id > "d""#,
            r#".value.items[0].sku == "BOOK-1""#,
            ".value.items[3] == null",
            ".value.items[0] < 2",
            ".value.paid",
            ".value.paid == true or .value.paid == null",
            ".value.paid and .value.total_cents > 1",
            ".value.dup == 2",
            ".value.nested.a.b[1] == 20",
            r#".value["total_cents"] > 100 and .partition == 2"#,
            r#".key == "customer-42""#,
            ".key == null",
            ".offset > 40 and .timestamp > 1795857549812",
            r#".topic == "orders""#,
            ".value == null",
            ".value > 41",
            ".value[1] == 2",
            ".value.missing == null",
            ".value.items > 3",
            ".value.nested > .value.items",
            "true",
            "null",
            "(.value.total_cents > 10000 or .value.paid) and .key != null",
        ];
        let keys = [Some("customer-42"), None, Some("a\"b")];
        let (mut answered, mut answered_in_documents, mut asked) = (0, 0, 0);
        for filter in filters {
            let parsed = Filter::parse(filter).unwrap_or_else(|| panic!("bounded: {filter}"));
            let program = Program::compile(filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
            for value in values.iter().copied().map(Some).chain([None]) {
                for key in keys {
                    let (fields, document) = record(key, value);
                    let by_jaq = program.test(&document);
                    asked += 1;
                    if let Some(matched) = parsed.test(&fields) {
                        answered += 1;
                        let expected = if matched {
                            Verdict::Match
                        } else {
                            Verdict::NoMatch
                        };
                        assert_eq!(by_jaq, expected, "{filter} on key {key:?}, value {value:?}");
                    }
                    // The same looked up in the document, as live filters do.
                    if let Some(matched) = parsed.test_document(&document) {
                        answered_in_documents += 1;
                        let expected = if matched {
                            Verdict::Match
                        } else {
                            Verdict::NoMatch
                        };
                        assert_eq!(by_jaq, expected, "{filter} in the document of {value:?}");
                    }
                }
            }
        }
        // Most cases are answered here (the rest are jq's errors, long
        // numbers, escapes, arrays compared): the test compares, not skips.
        assert!(answered * 10 >= asked * 7, "{answered} of {asked}");
        assert!(
            answered_in_documents * 10 >= asked * 7,
            "{answered_in_documents} of {asked}"
        );
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
