//! The client side of SCRAM (RFC 5802, with SHA-256 as RFC 7677 and
//! SHA-512), as Kafka's SASL/SCRAM listeners speak it: no channel binding,
//! the user name escaped but not SASLprep'd (Kafka does not either).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::digest::Digest;
use hmac::digest::core_api::BlockSizeUser;
use hmac::{Mac, SimpleHmac};

/// The most PBKDF2 iterations a server may ask for. Kafka allows 4,096 to
/// 16,384; a hostile server asking for billions must not hold a thread.
const MAX_ITERATIONS: u32 = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

/// One SCRAM exchange, from the client's first message to checking the
/// server's signature.
pub(crate) struct Scram {
    hash: Hash,
    password: String,
    nonce: String,
    first_bare: String,
    /// The signature the server must send back, once the proof is made.
    server_signature: Option<Vec<u8>>,
}

impl Scram {
    pub(crate) fn new(hash: Hash, user: &str, password: &str) -> Self {
        let nonce = STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
        Self::with_nonce(hash, user, password, nonce)
    }

    fn with_nonce(hash: Hash, user: &str, password: &str, nonce: String) -> Self {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Self {
            hash,
            password: password.to_owned(),
            first_bare: format!("n={user},r={nonce}"),
            nonce,
            server_signature: None,
        }
    }

    /// The client's first message.
    pub(crate) fn first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// The client's final message (with its proof), answering the
    /// server's first.
    pub(crate) fn answer(&mut self, server_first: &[u8]) -> Result<String, String> {
        let server_first =
            std::str::from_utf8(server_first).map_err(|_| "server's SCRAM message is not UTF-8")?;
        let field = |name: &str| {
            server_first
                .split(',')
                .find_map(|f| f.strip_prefix(name))
                .ok_or_else(|| format!("server's SCRAM message has no {name}"))
        };
        let nonce = field("r=")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("server's SCRAM nonce does not extend the client's".into());
        }
        let salt = STANDARD
            .decode(field("s=")?)
            .map_err(|_| "server's SCRAM salt is not base64")?;
        let iterations: u32 = field("i=")?
            .parse()
            .map_err(|_| "server's SCRAM iteration count is not a number")?;
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "server asks for {iterations} SCRAM iterations (at most {MAX_ITERATIONS})"
            ));
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let (proof, server) = match self.hash {
            Hash::Sha256 => keys::<sha2::Sha256>(&self.password, &salt, iterations, &auth_message),
            Hash::Sha512 => keys::<sha2::Sha512>(&self.password, &salt, iterations, &auth_message),
        };
        self.server_signature = Some(server);
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)))
    }

    /// Checks the server's final message: the server proves it knows the
    /// password too.
    pub(crate) fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final).unwrap_or_default();
        if let Some(error) = text.strip_prefix("e=") {
            return Err(format!("SCRAM refused: {error}"));
        }
        let signature = text
            .split(',')
            .find_map(|f| f.strip_prefix("v="))
            .and_then(|v| STANDARD.decode(v).ok());
        match (&self.server_signature, signature) {
            (Some(expected), Some(got)) if *expected == got => Ok(()),
            _ => Err("the server's SCRAM signature is wrong".into()),
        }
    }
}

/// The client proof and the expected server signature (RFC 5802 §3).
fn keys<D: Digest + BlockSizeUser + Clone>(
    password: &str,
    salt: &[u8],
    iterations: u32,
    auth_message: &str,
) -> (Vec<u8>, Vec<u8>) {
    let hmac = |key: &[u8], data: &[&[u8]]| {
        let mut mac = <SimpleHmac<D> as Mac>::new_from_slice(key).expect("HMAC takes any key");
        for d in data {
            mac.update(d);
        }
        mac.finalize().into_bytes().to_vec()
    };
    // Hi(): PBKDF2 with HMAC, one block.
    let mut u = hmac(password.as_bytes(), &[salt, &1u32.to_be_bytes()]);
    let mut salted = u.clone();
    for _ in 1..iterations {
        u = hmac(password.as_bytes(), &[&u]);
        salted.iter_mut().zip(&u).for_each(|(s, x)| *s ^= x);
    }
    let client_key = hmac(&salted, &[b"Client Key"]);
    let stored_key = D::digest(&client_key);
    let client_signature = hmac(&stored_key, &[auth_message.as_bytes()]);
    let proof = client_key
        .iter()
        .zip(&client_signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac(&salted, &[b"Server Key"]);
    let server_signature = hmac(&server_key, &[auth_message.as_bytes()]);
    (proof, server_signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's example exchange.
    #[test]
    fn the_rfc_7677_exchange_gives_its_proof_and_accepts_its_signature() {
        let mut scram = Scram::with_nonce(
            Hash::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(scram.first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let answer = scram
            .answer(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .expect("answer");
        assert_eq!(
            answer,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram
            .verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .expect("the RFC's server signature");
        assert!(
            scram
                .verify(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .is_err()
        );
        assert!(scram.verify(b"e=invalid-proof").is_err());
    }

    #[test]
    fn a_hostile_server_first_message_is_refused() {
        let mut scram = Scram::with_nonce(Hash::Sha512, "a=b,c", "pw", "abc".into());
        assert_eq!(scram.first(), "n,,n=a=3Db=2Cc,r=abc");
        for bad in [
            &b"r=xyz1,s=AAAA,i=4096"[..],
            b"r=abc,s=AAAA,i=4096",
            b"r=abcd,s=!!,i=4096",
            b"r=abcd,s=AAAA,i=4000000000",
            b"r=abcd,s=AAAA,i=0",
            b"r=abcd,s=AAAA",
            b"\xff",
        ] {
            assert!(scram.answer(bad).is_err(), "{bad:?}");
        }
        assert!(scram.answer(b"r=abcd,s=AAAA,i=4096").is_ok());
    }
}
