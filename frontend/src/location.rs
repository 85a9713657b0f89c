//! The page's URL: `?topic=T` names the topic the page watches (the
//! gateway's own without it) and `?filter=F` the live filter on it, so that
//! a view can be shared.

use leptos::prelude::window;

/// The topic the page's URL asks for, if any.
pub fn wanted_topic() -> Option<String> {
    let search = window().location().search().ok()?;
    topic_in(&search)
}

/// A link to this page watching `topic` (a topic name needs no escaping:
/// Kafka allows only `[a-zA-Z0-9._-]`).
pub fn watch_href(topic: &str) -> String {
    format!("?topic={topic}")
}

/// The live filter the page's URL asks for, if any.
pub fn wanted_filter() -> Option<String> {
    let search = window().location().search().ok()?;
    filter_in(&search)
}

/// A link to this page watching `topic` (the gateway's own for `None`)
/// through `filter`.
pub fn filter_href(topic: Option<&str>, filter: &str) -> String {
    let mut href = String::from("?");
    if let Some(topic) = topic {
        href.push_str(&format!("topic={topic}"));
    }
    if !filter.trim().is_empty() {
        if topic.is_some() {
            href.push('&');
        }
        href.push_str(&format!("filter={}", encode(filter.trim())));
    }
    href
}

/// The `filter` of a query string, decoded, when it is not empty.
pub fn filter_in(search: &str) -> Option<String> {
    let query = search.strip_prefix('?').unwrap_or(search);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("filter="))
        .and_then(decode)
        .filter(|f| !f.trim().is_empty())
}

/// Percent-encodes `text` for a query string: everything but unreserved
/// characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a query string value (`%XX` escapes, `+` for a space); `None`
/// when it is not UTF-8 or an escape is broken.
pub fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The `topic` of a query string such as `?topic=orders&x=1`, when it is a
/// legal topic name.
pub fn topic_in(search: &str) -> Option<String> {
    let query = search.strip_prefix('?').unwrap_or(search);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("topic="))
        .filter(|topic| wire::api::is_topic_name(topic))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_a_legal_topic_or_none() {
        assert_eq!(
            topic_in("?topic=payments.v2&x=1").as_deref(),
            Some("payments.v2")
        );
        assert_eq!(topic_in("?x=1&topic=a_b-c").as_deref(), Some("a_b-c"));
        assert_eq!(topic_in(""), None);
        assert_eq!(topic_in("?topic="), None);
        assert_eq!(topic_in("?topic=a%20b"), None);
        assert_eq!(topic_in(&watch_href("orders")).as_deref(), Some("orders"));
    }

    #[test]
    fn a_filter_goes_into_the_url_and_comes_back_whole() {
        let filter = r#"select(.value.total_cents > 10000 and .key == "a&b=c") | 1+1 # é"#;
        let href = filter_href(Some("orders"), filter);
        assert!(href.starts_with("?topic=orders&filter="), "{href}");
        assert!(!href[21..].contains(['&', '=', ' ', '"', '+']), "{href}");
        assert_eq!(filter_in(&href).as_deref(), Some(filter));
        assert_eq!(topic_in(&href).as_deref(), Some("orders"));
        assert_eq!(filter_in(&filter_href(None, " . ")).as_deref(), Some("."));
        assert_eq!(filter_href(None, "  "), "?");
        assert_eq!(filter_in("?filter=a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(filter_in("?filter=%zz"), None);
        assert_eq!(filter_in("?filter=%ff"), None);
        assert_eq!(filter_in("?filter="), None);
    }
}
