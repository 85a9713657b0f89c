//! The parts of a JSON text found by its structure alone: where a value
//! ends, an array's elements, an object's members, each as its text. Not a
//! parser: nothing inside a string is decoded and no number or literal is
//! checked. It is for a client reading the gateway's own messages (which
//! serde wrote, or the gateway checked as JSON) thousands of times a second,
//! where it only needs to count most of a message: a page at 10,000 records
//! a second spent a tenth of its main thread in serde skipping record values
//! it never showed.
//!
//! What it finds in valid JSON is what a parser finds (the tests hold it to
//! serde_json on mutated texts); given anything else it answers `None`, or
//! parts that a parser would then refuse, and never panics.

/// The index just after the value that starts at or after `at` (leading
/// whitespace skipped), or `None` if no whole value is there.
pub fn value_end(text: &[u8], at: usize) -> Option<usize> {
    let start = skip_space(text, at);
    match *text.get(start)? {
        b'"' => string_end(text, start),
        b'{' | b'[' => container_end(text, start),
        b',' | b':' | b'}' | b']' => None,
        // A number or a literal: up to the next delimiter.
        _ => Some(
            text[start..]
                .iter()
                .position(|&b| matches!(b, b',' | b':' | b'}' | b']' | b'"') || is_space(b))
                .map_or(text.len(), |n| start + n),
        ),
    }
}

/// The elements of the array `text` (surrounding whitespace allowed), each
/// as its text; `None` unless `text` is an array by its structure.
pub fn array_elements(text: &str) -> Option<Vec<&str>> {
    let mut elements = Vec::new();
    let end = list(text.as_bytes(), b'[', b']', |bytes, at| {
        let end = value_end(bytes, at)?;
        elements.push(text.get(skip_space(bytes, at)..end)?);
        Some(end)
    })?;
    (skip_space(text.as_bytes(), end) == text.len()).then_some(elements)
}

/// The members of the object `text` (surrounding whitespace allowed), each
/// as its key's text between the quotes (escapes as written) and its
/// value's text; `None` unless `text` is an object by its structure.
pub fn object_members(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut members = Vec::new();
    let end = list(text.as_bytes(), b'{', b'}', |bytes, at| {
        let key_start = skip_space(bytes, at);
        if bytes.get(key_start) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(bytes, key_start)?;
        let colon = skip_space(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let value_start = skip_space(bytes, colon + 1);
        let value_end = value_end(bytes, value_start)?;
        members.push((
            text.get(key_start + 1..key_end - 1)?,
            text.get(value_start..value_end)?,
        ));
        Some(value_end)
    })?;
    (skip_space(text.as_bytes(), end) == text.len()).then_some(members)
}

/// Walks `open item (, item)* close` from the start of `text` (an empty
/// list allowed), `item` reading one from an index and giving the index
/// after it; the index after `close`.
fn list(
    text: &[u8],
    open: u8,
    close: u8,
    mut item: impl FnMut(&[u8], usize) -> Option<usize>,
) -> Option<usize> {
    let start = skip_space(text, 0);
    if text.get(start) != Some(&open) {
        return None;
    }
    let mut at = skip_space(text, start + 1);
    if text.get(at) == Some(&close) {
        return Some(at + 1);
    }
    loop {
        at = skip_space(text, item(text, at)?);
        match text.get(at)? {
            b',' => at += 1,
            b if *b == close => return Some(at + 1),
            _ => return None,
        }
    }
}

/// The index after the string whose opening quote is at `start`.
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        match *text.get(at)? {
            b'"' => return Some(at + 1),
            // An escape: whatever follows is part of the string (a `\u`'s
            // four digits are plain characters anyway).
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
}

/// The index after the object or array whose opening bracket is at `start`:
/// brackets counted outside strings. Each closing bracket must match its
/// opening one.
fn container_end(text: &[u8], start: usize) -> Option<usize> {
    // Only the kinds of the open brackets are kept, one bit each. The
    // gateway sends record values nested up to 100 deep, inside a record
    // inside a message: 128 holds them.
    let mut open: u128 = 0;
    let mut depth = 0_u32;
    let mut at = start;
    loop {
        match *text.get(at)? {
            b'"' => {
                at = string_end(text, at)?;
                continue;
            }
            b @ (b'{' | b'[') => {
                if depth == 128 {
                    return None;
                }
                open = (open << 1) | u128::from(b == b'{');
                depth += 1;
            }
            b @ (b'}' | b']') => {
                if depth == 0 || (open & 1 == 1) != (b == b'}') {
                    return None;
                }
                open >>= 1;
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_space(text: &[u8], at: usize) -> usize {
    text.get(at..)
        .and_then(|rest| rest.iter().position(|&b| !is_space(b)))
        .map_or(text.len(), |n| at + n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::value::RawValue;

    #[test]
    fn finds_the_parts_of_valid_json() {
        assert_eq!(
            array_elements(r#" [1, "a,]", {"b":[2,{}]} ,null] "#),
            Some(vec!["1", r#""a,]""#, r#"{"b":[2,{}]}"#, "null"])
        );
        assert_eq!(array_elements("[]"), Some(vec![]));
        assert_eq!(
            object_members(r#"{"a\"b": "x\\", "c" : [1,2], "d":-1.5e3}"#),
            Some(vec![
                (r#"a\"b"#, r#""x\\""#),
                ("c", "[1,2]"),
                ("d", "-1.5e3")
            ])
        );
        assert_eq!(object_members("{ }"), Some(vec![]));
        assert_eq!(value_end(br#"  "x" ,"#, 0), Some(5));
        assert_eq!(value_end(b"true}", 0), Some(4));
    }

    #[test]
    fn refuses_what_is_not_that_structure() {
        for text in [
            "",
            "[",
            "[1,",
            "[1 2]",
            "[1,]",
            "{}",
            r#"["a]"#,
            "[{]",
            "[}",
            "[1] x",
            "{\"a\":1}",
        ] {
            assert_eq!(array_elements(text), None, "{text}");
        }
        for text in [
            "",
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{a:1}"#,
            r#"{"a":1,}"#,
            "[]",
            r#"{"a":1"#,
        ] {
            assert_eq!(object_members(text), None, "{text}");
        }
        // A record's value nested 100 deep (as deep as the gateway sends),
        // inside its record and message, is read; past 128 it is refused.
        let value = format!("{}1{}", "{\"a\":[".repeat(50), "]}".repeat(50));
        let record = format!(r#"{{"partition":0,"payload":{{"kind":"json","value":{value}}}}}"#);
        assert_eq!(object_members(&record).map(|m| m.len()), Some(2));
        let message = format!("[{record}]");
        assert_eq!(array_elements(&message), Some(vec![record.as_str()]));
        let at = |depth: usize| format!("[{}{}]", "[".repeat(depth), "]".repeat(depth));
        assert!(array_elements(&at(128)).is_some());
        assert_eq!(array_elements(&at(129)), None);
    }

    /// Mutations of JSON texts (bytes changed, cut, doubled): wherever
    /// serde_json reads the text, the parts found are the ones it finds.
    #[test]
    fn the_parts_are_serde_jsons_parts() {
        let seeds = [
            r#"[{"partition":0,"offset":12,"key":"c-1","headers":[{"key":"k","value":"v"}],"consumed_at_ms":5,"payload":{"json":{"a":[1,"}]\"",{}]}}}]"#,
            r#"[true,false,null,"\ud83d\ude00\n",0,-0.25E-2,{"":[]}]"#,
            r#"{"a":{"b":{"c":[[["\u00e9\\\"/"]]]}},"d":"é😀","e":[]}"#,
            r#"  {"text" : "x" , "n":1}  "#,
        ];
        let alphabet = "{}[]\",:\\u019ae.-tnl \n\té";
        let alphabet: Vec<char> = alphabet.chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let (mut arrays, mut objects) = (0, 0);
        for round in 0..100_000 {
            let mut chars: Vec<char> = seeds[round % seeds.len()].chars().collect();
            for _ in 0..=next() % 3 {
                let at = next() % (chars.len() + 1);
                match next() % 4 {
                    0 if at < chars.len() => chars[at] = alphabet[next() % alphabet.len()],
                    1 => chars.insert(at, alphabet[next() % alphabet.len()]),
                    2 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ => chars.truncate(at),
                }
            }
            let text: String = chars.into_iter().collect();
            // Never a panic, whatever the text.
            let found_elements = array_elements(&text);
            let found_members = object_members(&text);
            if let Ok(elements) = serde_json::from_str::<Vec<&RawValue>>(&text) {
                let elements: Vec<&str> = elements.iter().map(|e| e.get()).collect();
                assert_eq!(found_elements, Some(elements), "{text}");
                arrays += 1;
            }
            if let Ok(Value::Object(parsed)) = serde_json::from_str::<Value>(&text) {
                let members = found_members.unwrap_or_else(|| panic!("{text}"));
                // Read as serde reads them: the last of a repeated key stands.
                let mut read = serde_json::Map::new();
                for (key, value) in members {
                    let key: String = serde_json::from_str(&format!("\"{key}\"")).expect(key);
                    read.insert(key, serde_json::from_str(value).expect(value));
                }
                assert_eq!(read, parsed, "{text}");
                objects += 1;
            }
        }
        // Both kinds are read often: a test of only broken texts would say
        // little.
        assert!(arrays > 5_000 && objects > 5_000, "{arrays} {objects}");
    }
}
