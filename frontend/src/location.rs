//! The page's URL: `?topic=T` names the topic the page watches (the
//! gateway's own without it), so that a view can be shared.

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
}
