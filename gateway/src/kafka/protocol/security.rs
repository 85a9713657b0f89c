//! The security settings of the protocol client, read from the same
//! librdkafka properties (`-X`, `--kafka-properties-file`) every other
//! client of the gateway uses, so one configuration reaches the broker
//! one way. What this client cannot do yet is said, never guessed at.

use std::fmt;

use super::scram::Hash;

/// How connections authenticate and encrypt.
#[derive(Clone, Default)]
pub(crate) struct Security {
    pub(super) tls: Option<Tls>,
    pub(super) sasl: Option<Sasl>,
}

#[derive(Clone)]
pub(super) struct Tls {
    pub(super) connector: tokio_native_tls::TlsConnector,
}

#[derive(Clone)]
pub(super) struct Sasl {
    pub(super) mechanism: Mechanism,
    pub(super) username: String,
    pub(super) password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mechanism {
    Plain,
    Scram(Hash),
}

impl Mechanism {
    pub(super) fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(Hash::Sha256) => "SCRAM-SHA-256",
            Mechanism::Scram(Hash::Sha512) => "SCRAM-SHA-512",
        }
    }
}

/// Settings this client does not support (or that are wrong): the views
/// that need it say this instead of showing something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsupported(pub(crate) String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Security {
    /// The settings in `properties` (later keys win, as in librdkafka).
    pub(crate) fn from_properties(properties: &[(String, String)]) -> Result<Self, Unsupported> {
        // The last of these keys given (librdkafka's aliases are one key).
        let get_any = |keys: &[&str]| {
            properties
                .iter()
                .rev()
                .find(|(k, _)| keys.contains(&k.as_str()))
                .map(|(_, v)| v.as_str())
        };
        let get = |key: &str| get_any(&[key]);
        let protocol = get("security.protocol")
            .unwrap_or("plaintext")
            .to_ascii_lowercase();
        let (tls, sasl) = match protocol.as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            other => return Err(Unsupported(format!("security.protocol={other}"))),
        };
        Ok(Self {
            tls: tls.then(|| self::tls(&get)).transpose()?,
            sasl: sasl.then(|| self::sasl(&get, &get_any)).transpose()?,
        })
    }
}

fn sasl<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    get_any: &impl Fn(&[&str]) -> Option<&'a str>,
) -> Result<Sasl, Unsupported> {
    let mechanism = get_any(&["sasl.mechanism", "sasl.mechanisms"]).unwrap_or("GSSAPI");
    let mechanism = match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => Mechanism::Plain,
        "SCRAM-SHA-256" => Mechanism::Scram(Hash::Sha256),
        "SCRAM-SHA-512" => Mechanism::Scram(Hash::Sha512),
        other => {
            return Err(Unsupported(format!(
                "SASL mechanism {other} (the protocol client speaks PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512)"
            )));
        }
    };
    Ok(Sasl {
        mechanism,
        username: get("sasl.username").unwrap_or_default().to_owned(),
        password: get("sasl.password").unwrap_or_default().to_owned(),
    })
}

fn tls<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<Tls, Unsupported> {
    let unsupported = |what: &str| Err(Unsupported(format!("{what} for TLS")));
    let read = |key: &str, path: &str| {
        std::fs::read(path).map_err(|err| Unsupported(format!("{key}={path}: {err}")))
    };
    let mut builder = native_tls::TlsConnector::builder();
    let mut roots = Vec::new();
    if let Some(path) = get("ssl.ca.location").filter(|p| *p != "probe") {
        roots.push(read("ssl.ca.location", path)?);
    }
    if let Some(pem) = get("ssl.ca.pem") {
        roots.push(pem.as_bytes().to_vec());
    }
    // As librdkafka: a configured CA is the only one trusted.
    builder.disable_built_in_roots(!roots.is_empty());
    for pem in roots {
        // A file may hold a chain: each certificate in it is trusted.
        let certificates = native_tls::Certificate::stack_from_pem(&pem)
            .map_err(|err| Unsupported(format!("the CA certificates: {err}")))?;
        for certificate in certificates {
            builder.add_root_certificate(certificate);
        }
    }
    if get("ssl.key.password").is_some() {
        return unsupported("an encrypted private key (ssl.key.password)");
    }
    let certificate = match (get("ssl.certificate.location"), get("ssl.certificate.pem")) {
        (Some(path), _) => Some(read("ssl.certificate.location", path)?),
        (None, Some(pem)) => Some(pem.as_bytes().to_vec()),
        (None, None) => None,
    };
    let key = match (get("ssl.key.location"), get("ssl.key.pem")) {
        (Some(path), _) => Some(read("ssl.key.location", path)?),
        (None, Some(pem)) => Some(pem.as_bytes().to_vec()),
        (None, None) => None,
    };
    match (certificate, key, get("ssl.keystore.location")) {
        (Some(certificate), Some(key), _) => {
            let identity = native_tls::Identity::from_pkcs8(&certificate, &key)
                .map_err(|err| Unsupported(format!("the client certificate: {err}")))?;
            builder.identity(identity);
        }
        (None, None, Some(path)) => {
            let store = read("ssl.keystore.location", path)?;
            let password = get("ssl.keystore.password").unwrap_or_default();
            let identity = native_tls::Identity::from_pkcs12(&store, password)
                .map_err(|err| Unsupported(format!("the keystore: {err}")))?;
            builder.identity(identity);
        }
        (None, None, None) => {}
        _ => return unsupported("a certificate without its key"),
    }
    if get("enable.ssl.certificate.verification").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        builder.danger_accept_invalid_certs(true);
    }
    // librdkafka checks the broker's name since 2.0 unless told `none`.
    if get("ssl.endpoint.identification.algorithm").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        builder.danger_accept_invalid_hostnames(true);
    }
    let connector = builder
        .build()
        .map_err(|err| Unsupported(format!("TLS settings: {err}")))?;
    Ok(Tls {
        connector: connector.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_protocol_and_mechanism_come_from_librdkafka_properties() {
        let plain = Security::from_properties(&[]).expect("plaintext");
        assert!(plain.tls.is_none() && plain.sasl.is_none());

        let scram = Security::from_properties(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "u"),
            ("sasl.password", "first"),
            ("sasl.password", "second"),
        ]))
        .expect("scram");
        let sasl = scram.sasl.expect("sasl");
        assert_eq!(sasl.mechanism, Mechanism::Scram(Hash::Sha512));
        assert_eq!(sasl.password, "second", "the later key wins");
        assert!(scram.tls.is_none());

        let tls = Security::from_properties(&props(&[("security.protocol", "ssl")])).expect("ssl");
        assert!(tls.tls.is_some() && tls.sasl.is_none());
    }

    #[test]
    fn what_the_client_cannot_do_is_named() {
        for (pairs, named) in [
            (vec![("security.protocol", "SASL_SSL")], "GSSAPI"),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "OAUTHBEARER"),
                ],
                "OAUTHBEARER",
            ),
            (vec![("security.protocol", "quic")], "quic"),
            (
                vec![("security.protocol", "SSL"), ("ssl.key.password", "x")],
                "ssl.key.password",
            ),
            (
                vec![
                    ("security.protocol", "SSL"),
                    ("ssl.ca.location", "/nonexistent/ca.pem"),
                ],
                "/nonexistent/ca.pem",
            ),
        ] {
            let err = Security::from_properties(&props(&pairs))
                .err()
                .unwrap_or_else(|| panic!("{pairs:?} accepted"));
            assert!(err.0.contains(named), "{pairs:?}: {err}");
        }
    }
}
