//! What clients send: an order body (`POST /api/orders`) and the live
//! stream's `resume` parameter. Whatever the bytes, parsing answers with a
//! value or an error naming the problem, never a panic; and what is
//! accepted survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::NewOrder;
use wire::stream::{parse_resume, resume_param};

fuzz_target!(|bytes: &[u8]| {
    match gateway::http::extract::parse::<NewOrder>(bytes) {
        Ok(order) => {
            let _ = order.validate();
            let again = serde_json::to_vec(&order).expect("serialize");
            assert_eq!(gateway::http::extract::parse::<NewOrder>(&again).ok(), Some(order));
        }
        Err(err) => assert!(!err.body().message.is_empty()),
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(positions) = parse_resume(text) {
            assert_eq!(
                parse_resume(&resume_param(positions.clone())),
                Ok(positions)
            );
        }
    }
});
