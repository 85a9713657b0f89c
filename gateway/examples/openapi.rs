//! Prints the gateway's OpenAPI document (what `GET /api/openapi.json`
//! serves), for tools that want it without a running gateway.

fn main() {
    println!("{:#}", gateway::http::openapi::build());
}
