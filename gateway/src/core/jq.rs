//! A filter in jq's language, compiled and tested against records with the
//! `jaq` crates. This runs inside a filter worker process (`core::filter`):
//! jaq has no fuel, no timeout and no stack guard, so a filter such as
//! `def f: f; f` or `last(range(1e12))` runs forever or overflows the
//! stack, and only a process of its own can be stopped from outside when it
//! does. The one exception is a filter of `core::bounded`'s language
//! (lookups and comparisons), which ends quickly whatever the record: a
//! search tests those in the gateway, in its scan.
//!
//! A record *matches* when the filter yields a true value (anything but
//! `false` and `null`) among its first [`MAX_OUTPUTS`] outputs, as jq's
//! `select` keeps what a true output selects. An error before any true
//! output means the record could not be tested: it is skipped, and the
//! error says why.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, data, unwrap_valr};
use jaq_json::Val;

type Data = data::JustLut<Val>;

/// Outputs of one record read at most before giving up on a true one, so
/// that a filter yielding endless falsy values still finishes its record.
pub(crate) const MAX_OUTPUTS: usize = 1_000;
/// An error message is cut to this many bytes.
const MAX_ERROR_BYTES: usize = 200;

/// A compiled filter.
pub(crate) struct Program {
    filter: jaq_core::compile::Filter<Native<Data>>,
}

/// Why a filter does not compile: where (a character index, from 0) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub at: usize,
    pub message: String,
}

/// What testing a record gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Match,
    NoMatch,
    /// The record could not be tested; why.
    Skipped(String),
}

impl Program {
    /// Parses and compiles `code` with jq's standard library. Modules are
    /// never read from files (jaq's loader refuses `import`/`include` unless
    /// given a reader).
    pub(crate) fn compile(code: &str) -> Result<Self, Invalid> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let program = File { code, path: () };
        let modules = Loader::new(defs)
            .load(&arena, program)
            .map_err(|errors| load_error(code, errors))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let first = errors.into_iter().flat_map(|(_, e)| e).next();
                match first {
                    Some((name, undefined)) => Invalid {
                        at: char_index(code, name),
                        message: format!("undefined {} {name:?}", undefined.as_str()),
                    },
                    None => Invalid {
                        at: 0,
                        message: "does not compile".into(),
                    },
                }
            })?;
        Ok(Self { filter })
    }

    /// Tests one record, given as the JSON document the filter sees.
    pub(crate) fn test(&self, document: &[u8]) -> Verdict {
        let input = match jaq_json::read::parse_single(document) {
            Ok(input) => input,
            Err(err) => return Verdict::Skipped(cut(format!("unreadable record: {err}"))),
        };
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        let outputs = self.filter.id.run((ctx, input)).map(unwrap_valr);
        for output in outputs.take(MAX_OUTPUTS) {
            match output {
                Ok(value) if jaq_core::ValT::as_bool(&value) => return Verdict::Match,
                Ok(_) => {}
                Err(err) => return Verdict::Skipped(cut(err.to_string())),
            }
        }
        Verdict::NoMatch
    }
}

/// Whether a JSON text has a number (outside its strings) of more than
/// `max` digits.
pub(crate) fn has_number_longer_than(json: &[u8], max: usize) -> bool {
    let (mut in_string, mut escaped, mut run) = (false, false, 0usize);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if b.is_ascii_digit() {
            run += 1;
            if run > max {
                return true;
            }
        } else {
            run = 0;
            in_string = b == b'"';
        }
    }
    false
}

/// The first lexing or parsing error, at its place in `code`.
fn load_error(code: &str, errors: jaq_core::load::Errors<&str, ()>) -> Invalid {
    use jaq_core::load::Error;
    let first = errors.into_iter().next().map(|(_, e)| e);
    match first {
        Some(Error::Lex(errors)) => match errors.first() {
            Some((expected, found)) => Invalid {
                at: char_index(code, found),
                message: format!("expected {}", lex_expected(expected)),
            },
            None => Invalid {
                at: 0,
                message: "does not lex".into(),
            },
        },
        Some(Error::Parse(errors)) => match errors.first() {
            Some((expected, found)) => Invalid {
                at: char_index(code, found),
                message: if found.is_empty() {
                    format!("expected {}, found the end", expected.as_str())
                } else {
                    format!(
                        "expected {}, found {:?}",
                        expected.as_str(),
                        cut((*found).to_owned())
                    )
                },
            },
            None => Invalid {
                at: 0,
                message: "does not parse".into(),
            },
        },
        Some(Error::Io(errors)) => Invalid {
            at: errors.first().map_or(0, |(path, _)| char_index(code, path)),
            message: "modules cannot be imported or included here".into(),
        },
        None => Invalid {
            at: 0,
            message: "does not load".into(),
        },
    }
}

/// What the lexer expected, in words. (jaq's own `as_str` panics on a
/// delimiter it does not name; this never does.)
fn lex_expected(expected: &jaq_core::load::lex::Expect<&str>) -> &'static str {
    use jaq_core::load::lex::Expect;
    match expected {
        Expect::Digit => "a digit",
        Expect::Ident => "an identifier",
        Expect::Delim("(") => "a closing parenthesis",
        Expect::Delim("[") => "a closing bracket",
        Expect::Delim("{") => "a closing brace",
        Expect::Delim("\"") => "a closing quote",
        Expect::Delim(_) => "a closing delimiter",
        Expect::Escape => "a string escape sequence",
        Expect::Unicode => "a 4-digit hexadecimal code point",
        _ => "a token",
    }
}

/// The character index in `code` where `part` (a slice of it) starts; 0
/// for a slice from elsewhere (the standard library's own code).
fn char_index(code: &str, part: &str) -> usize {
    let start = code.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    if at < start || at > start + code.len() {
        return 0;
    }
    let byte = at - start;
    code.get(..byte).map_or(0, |before| before.chars().count())
}

/// `message` within [`MAX_ERROR_BYTES`]: its start and its end, which say
/// what went wrong (jaq puts the offending value in the middle: "cannot
/// use {…whole value…} as string").
fn cut(message: String) -> String {
    if message.len() <= MAX_ERROR_BYTES {
        return message;
    }
    let head_end = floor_boundary(&message, MAX_ERROR_BYTES / 2);
    let mut tail_start = message.len() - MAX_ERROR_BYTES / 2;
    while !message.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!("{} … {}", &message[..head_end], &message[tail_start..])
}

/// The largest char boundary at or below `at`.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(filter: &str, document: &str) -> Verdict {
        Program::compile(filter)
            .expect("compiles")
            .test(document.as_bytes())
    }

    const ORDER: &str = r#"{"key":"customer-42","partition":1,"offset":7,"timestamp":1,
        "headers":[{"key":"order-id","value":"a"}],
        "value":{"total_cents":12000,"customer_id":"customer-42"}}"#;

    #[test]
    fn a_record_matches_when_the_filter_yields_a_true_value() {
        assert_eq!(
            test("select(.value.total_cents > 10000)", ORDER),
            Verdict::Match
        );
        assert_eq!(test(".value.total_cents > 10000", ORDER), Verdict::Match);
        assert_eq!(test(r#".key == "customer-42""#, ORDER), Verdict::Match);
        assert_eq!(
            test(
                r#"any(.headers[]; .key == "order-id" and .value == "a")"#,
                ORDER
            ),
            Verdict::Match
        );
        assert_eq!(
            test("select(.value.total_cents > 20000)", ORDER),
            Verdict::NoMatch
        );
        assert_eq!(test("false, null, empty", ORDER), Verdict::NoMatch);
        // One true output among several is enough.
        assert_eq!(test("false, true", ORDER), Verdict::Match);
    }

    #[test]
    fn an_error_before_a_true_output_skips_the_record_and_says_why() {
        let Verdict::Skipped(why) = test(".value.total_cents > 1", r#"{"value":"plain text"}"#)
        else {
            panic!("expected a skip");
        };
        assert!(why.contains("index"), "{why}");
        assert!(matches!(
            test("error(\"no\")", ORDER),
            Verdict::Skipped(why) if why.contains("no")
        ));
        assert!(matches!(test(".", "not json"), Verdict::Skipped(_)));
    }

    #[test]
    fn a_long_error_keeps_its_start_and_its_end() {
        let value = format!(r#"{{"value":{{"blob":"{}é"}}}}"#, "x".repeat(5_000));
        let Verdict::Skipped(why) = test(".value | ascii_downcase", &value) else {
            panic!("expected a skip");
        };
        assert!(why.len() <= MAX_ERROR_BYTES + " … ".len(), "{why}");
        assert!(why.starts_with("cannot"), "{why}");
        assert!(why.contains(" … "), "{why}");
        assert!(why.ends_with("string"), "{why}");
    }

    #[test]
    fn endless_falsy_outputs_stop_after_the_cap() {
        assert_eq!(test("repeat(false)", ORDER), Verdict::NoMatch);
        assert_eq!(test("limit(1e9; repeat(null))", ORDER), Verdict::NoMatch);
    }

    #[test]
    fn long_numbers_are_found_outside_strings_only() {
        let long = "7".repeat(20);
        assert!(has_number_longer_than(
            format!(r#"{{"n": {long}}}"#).as_bytes(),
            10
        ));
        assert!(!has_number_longer_than(
            format!(r#"{{"n": "{long}"}}"#).as_bytes(),
            10
        ));
        assert!(!has_number_longer_than(
            format!(r#"{{"n": "\"{long}"}}"#).as_bytes(),
            10
        ));
        assert!(!has_number_longer_than(br#"{"n": 1234567890}"#, 10));
    }

    #[test]
    fn a_filter_that_does_not_parse_says_where_and_why() {
        let invalid = |code: &str| Program::compile(code).err().expect("refused");
        let e = invalid(".value | select(.a >)");
        assert_eq!(e.at, 20, "{e:?}");
        assert!(e.message.contains("expected"), "{e:?}");
        // An unclosed parenthesis is found where the filter ends.
        let e = invalid(".a | (.b");
        assert!(e.message.contains("closing parenthesis"), "{e:?}");
        assert_eq!(e.at, 8, "{e:?}");
        let e = invalid("nosuchfn(1)");
        assert_eq!(e.at, 0);
        assert!(e.message.contains("undefined filter"), "{e:?}");
        // Characters, not bytes: 'é' is two bytes.
        let e = invalid(r#""é" | $nope"#);
        assert_eq!(e.at, 6, "{e:?}");
        assert!(e.message.contains("undefined variable"), "{e:?}");
        let e = invalid(r#"import "evil" as e; ."#);
        assert!(e.message.contains("import"), "{e:?}");
        let e = invalid("");
        assert!(e.message.contains("end"), "{e:?}");
    }
}
