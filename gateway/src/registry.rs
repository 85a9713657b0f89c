//! The Schema Registry adapter: the only code that speaks to a registry
//! (Confluent's REST API, which Apicurio also serves), and the cache of the
//! schemas it gave.
//!
//! A schema id is asked for once: every record after the first with that id
//! decodes from the cache, and concurrent first asks share one fetch. An id
//! the registry does not know is remembered for [`MISS_TTL`] and the record
//! shown as bytes with its id, so that a topic of foreign binary values
//! costs one ask per id, not one per record. A registry that does not
//! answer (a timeout, no connection, a 5xx, a 401 or 403) is not asked again for
//! [`MISS_TTL`]: every new id meanwhile is shown as bytes at once. And at
//! most [`NEW_IDS_PER_SECOND`] new ids are asked for a second, so that a
//! producer writing a new id on every record costs the registry that, and
//! the records past it are shown as bytes without waiting. Every ask has
//! [`FETCH_TIMEOUT`], every answer at most [`MAX_ANSWER_BYTES`], the cache
//! [`MAX_SCHEMAS`] entries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::runtime::Handle;
use tokio::sync::OnceCell;

use crate::formats::{Kind, Schema, Source};
use crate::sync::lock;

/// The longest one schema (with its references) takes to fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an id that could not be had is shown as bytes before it is
/// asked for again.
pub const MISS_TTL: Duration = Duration::from_secs(30);
/// Schemas held at most.
pub const MAX_SCHEMAS: usize = 10_000;
/// The largest answer read from the registry.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// References followed per schema, at most, at any depth.
const MAX_REFERENCES: usize = 64;
/// New schema ids asked for per second, at most.
pub const NEW_IDS_PER_SECOND: u32 = 20;

/// A schema id, looked up.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(Arc<Found>),
    /// Why it could not be had: shown on the record.
    Missing(String),
}

/// A schema, ready to decode with.
#[derive(Debug)]
pub struct Found {
    pub id: u32,
    /// The first subject the registry lists for the id, if it says.
    pub subject: Option<String>,
    pub schema: Schema,
}

struct Entry {
    cell: Arc<OnceCell<(Lookup, Instant)>>,
}

/// Why the HTTP client could not be built (its TLS backend failed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(reqwest::Error);

/// A registry and the schemas it gave.
pub struct Registry {
    http: reqwest::Client,
    base: reqwest::Url,
    auth: Option<(String, String)>,
    cache: std::sync::Mutex<HashMap<u32, Entry>>,
    /// Until when the registry is not asked (it did not answer), and why.
    down: std::sync::Mutex<Option<(Instant, String)>>,
    /// New ids asked for in the current second: (its start, how many).
    asked: std::sync::Mutex<(Instant, u32)>,
    runtime: Handle,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the password.
        f.debug_struct("Registry")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry at `url` (credentials in it become basic auth). Call
    /// within the runtime: blocking readers ask through its handle.
    pub fn new(url: &reqwest::Url) -> Result<Self, ClientError> {
        let mut base = url.clone();
        let auth = (!url.username().is_empty()).then(|| {
            (
                percent_decoded(url.username()),
                percent_decoded(url.password().unwrap_or_default()),
            )
        });
        let _ = base.set_username("");
        let _ = base.set_password(None);
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(ClientError)?;
        Ok(Self {
            http,
            base,
            auth,
            cache: std::sync::Mutex::new(HashMap::new()),
            down: std::sync::Mutex::new(None),
            asked: std::sync::Mutex::new((Instant::now(), 0)),
            runtime: Handle::current(),
        })
    }

    /// The schema `id`, from the cache or else the registry.
    pub async fn lookup(&self, id: u32) -> Lookup {
        if let Some(lookup) = self.cached(id) {
            return lookup;
        }
        if let Some(why) = self.not_now() {
            return Lookup::Missing(why);
        }
        let cell = self.cell(id);
        let (lookup, _) = cell
            .get_or_init(|| async {
                let lookup = match tokio::time::timeout(FETCH_TIMEOUT, self.load(id)).await {
                    Ok(Ok(found)) => Lookup::Found(Arc::new(found)),
                    Ok(Err(Failure::Schema(why))) => Lookup::Missing(why),
                    Ok(Err(Failure::Registry(why))) => Lookup::Missing(self.went_down(why)),
                    Err(_) => Lookup::Missing(self.went_down(format!(
                        "the schema registry did not answer within {} s",
                        FETCH_TIMEOUT.as_secs()
                    ))),
                };
                if let Lookup::Missing(why) = &lookup {
                    tracing::warn!(
                        id,
                        why,
                        "schema not available; its records are shown as bytes"
                    );
                }
                (lookup, Instant::now())
            })
            .await;
        lookup.clone()
    }

    /// Why a new id is not asked for now, if it is not: the registry did
    /// not answer lately, or this second's new ids are asked already.
    fn not_now(&self) -> Option<String> {
        if let Some((until, why)) = lock(&self.down).as_ref()
            && Instant::now() < *until
        {
            return Some(why.clone());
        }
        let mut asked = lock(&self.asked);
        if asked.0.elapsed() >= Duration::from_secs(1) {
            *asked = (Instant::now(), 0);
        }
        if asked.1 >= NEW_IDS_PER_SECOND {
            return Some(format!(
                "more than {NEW_IDS_PER_SECOND} new schema ids a second; asked for later"
            ));
        }
        asked.1 += 1;
        None
    }

    /// Stops asking the registry for [`MISS_TTL`]; the reason, for records.
    fn went_down(&self, why: String) -> String {
        let why = format!("{why}; not asked again for {} s", MISS_TTL.as_secs());
        *lock(&self.down) = Some((Instant::now() + MISS_TTL, why.clone()));
        why
    }

    /// [`Self::lookup`] for code on the blocking pool (range reads, scans).
    pub fn lookup_blocking(&self, id: u32) -> Lookup {
        if let Some(lookup) = self.cached(id) {
            return lookup;
        }
        self.runtime.block_on(self.lookup(id))
    }

    /// The schema `id` if the cache holds it now, fresh.
    pub fn cached(&self, id: u32) -> Option<Lookup> {
        let cache = lock(&self.cache);
        let (lookup, at) = cache.get(&id)?.cell.get()?;
        fresh(lookup, *at).then(|| lookup.clone())
    }

    /// The cell the lookup of `id` fills: the cached one unless it holds a
    /// stale miss.
    fn cell(&self, id: u32) -> Arc<OnceCell<(Lookup, Instant)>> {
        let mut cache = lock(&self.cache);
        if let Some(entry) = cache.get(&id)
            && entry
                .cell
                .get()
                .is_none_or(|(lookup, at)| fresh(lookup, *at))
        {
            return entry.cell.clone();
        }
        if cache.len() >= MAX_SCHEMAS {
            // Misses first; if none, any: a schema dropped is fetched again.
            // Fetches under way stay, so that their askers still share one.
            cache.retain(|_, e| !matches!(e.cell.get(), Some((Lookup::Missing(_), _))));
            if cache.len() >= MAX_SCHEMAS
                && let Some(&victim) = cache.keys().next()
            {
                cache.remove(&victim);
            }
        }
        let cell = Arc::new(OnceCell::new());
        cache.insert(id, Entry { cell: cell.clone() });
        cell
    }

    /// Fetches and parses the schema `id`, its references and its subject.
    async fn load(&self, id: u32) -> Result<Found, Failure> {
        let answer: SchemaAnswer = match self.get(&format!("schemas/ids/{id}")).await? {
            Some(answer) => answer,
            None => {
                return Err(Failure::Schema(format!(
                    "schema id {id} is not in the schema registry"
                )));
            }
        };
        let kind = match answer.schema_type.as_deref() {
            None => None,
            Some(t) => Some(Kind::from_registry(t).ok_or_else(|| {
                Failure::Schema(format!(
                    "schema id {id} is of type {t}, which is not decoded"
                ))
            })?),
        };
        let mut source = Source {
            text: answer.schema,
            references: Vec::new(),
        };
        self.follow(answer.references, &mut source.references)
            .await?;
        // Which subject the id is registered under: shown, not needed.
        let subject = match self
            .get::<Vec<SubjectVersion>>(&format!("schemas/ids/{id}/versions"))
            .await
        {
            Ok(Some(versions)) => versions.into_iter().next().map(|v| v.subject),
            _ => None,
        };
        // Parsing (Protobuf's compiling) is CPU work: off the async threads.
        let schema = tokio::task::spawn_blocking(move || Schema::parse(kind, &source))
            .await
            .map_err(|e| Failure::Schema(format!("schema id {id}: {e}")))?
            .map_err(|e| Failure::Schema(format!("schema id {id}: {e}")))?;
        Ok(Found {
            id,
            subject,
            schema,
        })
    }

    /// Fetches every schema `references` name, and theirs, into `into`.
    async fn follow(
        &self,
        references: Vec<Reference>,
        into: &mut Vec<(String, String)>,
    ) -> Result<(), Failure> {
        let mut pending = references;
        while let Some(reference) = pending.pop() {
            if into.iter().any(|(name, _)| *name == reference.name) {
                continue;
            }
            if into.len() >= MAX_REFERENCES {
                return Err(Failure::Schema(format!(
                    "more than {MAX_REFERENCES} schema references"
                )));
            }
            let path = format!(
                "subjects/{}/versions/{}",
                percent_encoded(&reference.subject),
                reference.version
            );
            let answer: SchemaAnswer = self.get(&path).await?.ok_or_else(|| {
                Failure::Schema(format!(
                    "the referenced schema {} (subject {} version {}) is not in the registry",
                    reference.name, reference.subject, reference.version
                ))
            })?;
            into.push((reference.name, answer.schema));
            pending.extend(answer.references);
        }
        Ok(())
    }

    /// GETs a registry path as JSON; `None` for 404.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Option<T>, Failure> {
        let url = self
            .base
            .join(path)
            .map_err(|e| Failure::Schema(format!("schema registry URL: {e}")))?;
        let mut request = self.http.get(url).header(
            "accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let unreachable = |e: reqwest::Error| {
            Failure::Registry(format!("the schema registry: {}", without_url(&e)))
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        // A registry that refuses us refuses every id alike.
        if status.is_server_error()
            || status == reqwest::StatusCode::UNAUTHORIZED
            || status == reqwest::StatusCode::FORBIDDEN
        {
            return Err(Failure::Registry(format!(
                "the schema registry answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(Failure::Schema(format!(
                "the schema registry answered {status}"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Failure::Schema(format!(
                    "the schema registry's answer is over {} MiB",
                    MAX_ANSWER_BYTES >> 20
                )));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| Failure::Schema(format!("the schema registry's answer: {e}")))
    }
}

/// Why a schema could not be had: the schema's own fault (not there, not
/// parsed), remembered per id; or the registry's (no answer, a 5xx), which
/// stops all asking for a while.
enum Failure {
    Schema(String),
    Registry(String),
}

/// A miss is fresh for [`MISS_TTL`]; a schema found, always.
fn fresh(lookup: &Lookup, at: Instant) -> bool {
    matches!(lookup, Lookup::Found(_)) || at.elapsed() < MISS_TTL
}

/// What went wrong, without the URL (it may name an internal host).
fn without_url(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else if err.is_decode() || err.is_body() {
        "a broken answer".to_owned()
    } else {
        "a request failed".to_owned()
    };
    if let Some(source) = err.source().and_then(|s| s.source()) {
        text.push_str(&format!(" ({source})"));
    }
    text
}

fn percent_encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn percent_decoded(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `GET /schemas/ids/{id}` and `GET /subjects/{s}/versions/{v}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaAnswer {
    schema: String,
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    name: String,
    subject: String,
    version: i64,
}

#[derive(Deserialize)]
struct SubjectVersion {
    subject: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_become_basic_auth_and_leave_it() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let url = reqwest::Url::parse("https://us%40er:p%2Bw+d@registry.example/api/ccompat/v7")
            .expect("url");
        let registry = Registry::new(&url).expect("client");
        assert_eq!(registry.auth, Some(("us@er".into(), "p+w+d".into())));
        assert_eq!(
            registry.base.as_str(),
            "https://registry.example/api/ccompat/v7/"
        );
        assert!(!format!("{registry:?}").contains("p+w"));
        assert_eq!(percent_encoded("a b/c"), "a%20b%2Fc");
    }

    /// A registry on loopback that answers every request with `status`.
    async fn answering(status: &'static str) -> reqwest::Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let answer = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
                        );
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        url.parse().expect("url")
    }

    fn missing(lookup: &Lookup) -> &str {
        match lookup {
            Lookup::Missing(why) => why,
            Lookup::Found(_) => panic!("found"),
        }
    }

    #[tokio::test]
    async fn new_ids_past_the_rate_are_shown_as_bytes_without_asking() {
        let registry = Registry::new(&answering("404 Not Found").await).expect("client");
        for id in 0..NEW_IDS_PER_SECOND {
            let lookup = registry.lookup(id).await;
            assert!(
                missing(&lookup).contains("is not in the schema registry"),
                "{lookup:?}"
            );
        }
        let over = registry.lookup(1_000).await;
        assert!(
            missing(&over).contains("new schema ids a second"),
            "{over:?}"
        );
        // Not remembered: asked for once the second is over.
        assert!(registry.cached(1_000).is_none());
        // A miss asked for already is answered from the cache meanwhile.
        assert!(missing(&registry.lookup(3).await).contains("is not in the schema registry"));
    }

    #[tokio::test]
    async fn a_registry_that_fails_is_not_asked_again_for_a_while() {
        for url in [
            answering("503 Service Unavailable").await,
            answering("401 Unauthorized").await,
            // Nothing listens on port 1.
            "http://127.0.0.1:1/".parse().expect("url"),
        ] {
            let registry = Registry::new(&url).expect("client");
            let first = registry.lookup(1).await;
            assert!(missing(&first).contains("not asked again"), "{first:?}");
            let began = Instant::now();
            let second = registry.lookup(2).await;
            assert_eq!(missing(&second), missing(&first));
            assert!(registry.cached(2).is_none(), "asked for once it is back");
            assert!(began.elapsed() < FETCH_TIMEOUT, "answered without asking");
        }
    }

    #[test]
    fn misses_expire_and_schemas_stay() {
        let found = Lookup::Found(Arc::new(Found {
            id: 1,
            subject: None,
            schema: Schema::Json,
        }));
        let long_ago = Instant::now()
            .checked_sub(MISS_TTL * 2)
            .expect("an instant");
        assert!(fresh(&found, long_ago));
        assert!(!fresh(&Lookup::Missing("x".into()), long_ago));
        assert!(fresh(&Lookup::Missing("x".into()), Instant::now()));
    }
}
