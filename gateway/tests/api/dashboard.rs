//! The dashboard's files: served when they are a release build, refused
//! with a page that says why when they are a build of Trunk's dev server
//! (whose live-reload script would keep dialling a dev server that is not
//! there).

use crate::helpers::*;

/// A folder holding one `index.html` with `body`.
fn static_dir(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).expect("static dir");
    std::fs::write(dir.join("index.html"), body).expect("index.html");
    dir
}

#[tokio::test]
async fn a_release_build_is_served_and_a_dev_servers_build_is_refused() {
    let release = static_dir("release", "<html><body>release build</body></html>");
    let app = spawn_with(|c| c.static_dir = release.clone()).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("body").contains("release build"));

    // What `trunk serve` writes: its live-reload script dials
    // /.well-known/trunk/ws on the dev server.
    let dev = static_dir(
        "dev",
        "<html><body><script>const url = protocol + '://' + address + base + \
         '.well-known/trunk/ws';</script></body></html>",
    );
    let app = spawn_with(|c| c.static_dir = dev.clone()).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 503);
    let text = page.text().await.expect("body");
    assert!(text.contains("development build"), "{text}");
    assert!(text.contains("scripts/build.sh"), "{text}");
    // The API is served all the same.
    assert_eq!(app.get("/api/openapi.json").await.status(), 200);
}
