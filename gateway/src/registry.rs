//! The Schema Registry adapter: the only code that speaks to a registry
//! (Confluent's REST API, which Apicurio also serves), and the cache of the
//! schemas it gave.
//!
//! A schema id is asked for once: every record after the first with that id
//! decodes from the cache, and concurrent first asks share one fetch. An id
//! the registry does not know, or a registry that does not answer, is
//! remembered for [`MISS_TTL`] and the record shown as bytes with its id,
//! so that a topic of foreign binary values costs one ask per id, not one
//! per record. Every ask has [`FETCH_TIMEOUT`], every answer at most
//! [`MAX_ANSWER_BYTES`], the cache [`MAX_SCHEMAS`] entries.

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
            runtime: Handle::current(),
        })
    }

    /// The schema `id`, from the cache or else the registry.
    pub async fn lookup(&self, id: u32) -> Lookup {
        let cell = self.cell(id);
        let (lookup, _) = cell
            .get_or_init(|| async {
                let lookup = match tokio::time::timeout(FETCH_TIMEOUT, self.load(id)).await {
                    Ok(Ok(found)) => Lookup::Found(Arc::new(found)),
                    Ok(Err(why)) => Lookup::Missing(why),
                    Err(_) => Lookup::Missing(format!(
                        "the schema registry did not answer within {} s",
                        FETCH_TIMEOUT.as_secs()
                    )),
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
            cache.retain(|_, e| matches!(e.cell.get(), Some((Lookup::Found(_), _))));
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
    async fn load(&self, id: u32) -> Result<Found, String> {
        let answer: SchemaAnswer = match self.get(&format!("schemas/ids/{id}")).await? {
            Some(answer) => answer,
            None => return Err(format!("schema id {id} is not in the schema registry")),
        };
        let kind =
            match answer.schema_type.as_deref() {
                None => None,
                Some(t) => Some(Kind::from_registry(t).ok_or_else(|| {
                    format!("schema id {id} is of type {t}, which is not decoded")
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
        let schema = Schema::parse(kind, &source).map_err(|e| format!("schema id {id}: {e}"))?;
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
    ) -> Result<(), String> {
        let mut pending = references;
        while let Some(reference) = pending.pop() {
            if into.iter().any(|(name, _)| *name == reference.name) {
                continue;
            }
            if into.len() >= MAX_REFERENCES {
                return Err(format!("more than {MAX_REFERENCES} schema references"));
            }
            let path = format!(
                "subjects/{}/versions/{}",
                percent_encoded(&reference.subject),
                reference.version
            );
            let answer: SchemaAnswer = self.get(&path).await?.ok_or_else(|| {
                format!(
                    "the referenced schema {} (subject {} version {}) is not in the registry",
                    reference.name, reference.subject, reference.version
                )
            })?;
            into.push((reference.name, answer.schema));
            pending.extend(answer.references);
        }
        Ok(())
    }

    /// GETs a registry path as JSON; `None` for 404.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Option<T>, String> {
        let url = self
            .base
            .join(path)
            .map_err(|e| format!("schema registry URL: {e}"))?;
        let mut request = self.http.get(url).header(
            "accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("the schema registry: {}", without_url(&e)))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(format!(
                "the schema registry answered {}",
                response.status()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the schema registry: {}", without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "the schema registry's answer is over {} MiB",
                    MAX_ANSWER_BYTES >> 20
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| format!("the schema registry's answer: {e}"))
    }
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
