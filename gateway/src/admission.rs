//! Admission by client address: at most so many of something (connections,
//! live clients, reads from Kafka) in all, and at most so many from any one
//! client, so that one address cannot take everyone's capacity.
//!
//! A client is an IPv4 address, or an IPv6 /64: one host is handed a whole
//! /64, so counting its single addresses would give it 2^64 budgets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// Who a per-client bound is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Client(IpAddr);

impl Client {
    pub(crate) fn of(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        };
        Self(ip)
    }
}

/// What each client address holds (watched topics, live filters), with how
/// many of its clients hold each: a client may hold at most so many
/// different things at once.
pub(crate) struct Holdings<K> {
    held: Arc<Mutex<HashMap<Client, HashMap<K, usize>>>>,
}

/// One client's count on one thing, given back when dropped.
pub(crate) struct Hold<K: Eq + std::hash::Hash> {
    held: Arc<Mutex<HashMap<Client, HashMap<K, usize>>>>,
    client: Client,
    key: K,
}

impl<K: Eq + std::hash::Hash + Clone> Holdings<K> {
    pub(crate) fn new() -> Self {
        Self {
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether `client` could hold `key` besides what it holds: it holds
    /// it already, or fewer than `most` things.
    pub(crate) fn fits(&self, client: Client, key: &K, most: usize) -> bool {
        let held = lock(&self.held);
        let mine = held.get(&client);
        mine.is_some_and(|m| m.contains_key(key)) || mine.map_or(0, HashMap::len) < most
    }

    /// Counts `key` among `client`'s, if it [`fits`](Self::fits), at once
    /// (two asks from one client cannot both pass the check first).
    pub(crate) fn take(&self, client: Client, key: &K, most: usize) -> Option<Hold<K>> {
        let mut held = lock(&self.held);
        let mine = held.entry(client).or_default();
        if !mine.contains_key(key) && mine.len() >= most {
            if mine.is_empty() {
                held.remove(&client);
            }
            return None;
        }
        *mine.entry(key.clone()).or_insert(0) += 1;
        Some(Hold {
            held: self.held.clone(),
            client,
            key: key.clone(),
        })
    }
}

impl<K: Eq + std::hash::Hash> Drop for Hold<K> {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        if let Some(mine) = held.get_mut(&self.client) {
            if let Some(count) = mine.get_mut(&self.key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    mine.remove(&self.key);
                }
            }
            if mine.is_empty() {
                held.remove(&self.client);
            }
        }
    }
}

/// Why something was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the gateway already has {0} of these, as many as it takes")]
    Full(usize),
    #[error("this client address already has {0} of these, as many as one address may have")]
    ClientFull(usize),
}

/// Counts what is admitted, in all and per client. Both counts are exact and
/// taken under one lock that is held for a hash-map lookup only; the map
/// has an entry per client with something admitted, so it never holds more
/// than `total` entries.
#[derive(Debug)]
pub(crate) struct Admission {
    total: usize,
    per_client: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_client: HashMap<Client, usize>,
}

impl Admission {
    pub(crate) fn new(total: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            total,
            per_client,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Admits one more for `client`, until the returned [`Admitted`] is dropped.
    pub(crate) fn admit(self: &Arc<Self>, client: Client) -> Result<Admitted, Refused> {
        let mut counts = lock(&self.counts);
        if counts.total >= self.total {
            return Err(Refused::Full(self.total));
        }
        let mine = counts.by_client.entry(client).or_insert(0);
        if *mine >= self.per_client {
            return Err(Refused::ClientFull(self.per_client));
        }
        *mine += 1;
        counts.total += 1;
        Ok(Admitted {
            admission: self.clone(),
            client,
        })
    }

    /// Whether one more would be admitted for `client` now.
    pub(crate) fn would_admit(self: &Arc<Self>, client: Client) -> Result<(), Refused> {
        self.admit(client).map(drop)
    }

    /// How many are admitted now.
    #[cfg(test)]
    fn admitted(&self) -> usize {
        lock(&self.counts).total
    }

    fn release(&self, client: Client) {
        let mut counts = lock(&self.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(mine) = counts.by_client.get_mut(&client) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                counts.by_client.remove(&client);
            }
        }
    }
}

/// One admitted connection, client or read; released when dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    client: Client,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.release(self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(s: &str) -> Client {
        Client::of(s.parse().expect("ip"))
    }

    #[test]
    fn one_client_cannot_take_everyones_share() {
        let admission = Admission::new(3, 2);
        let a1 = admission.admit(client("10.0.0.1")).expect("first");
        let _a2 = admission.admit(client("10.0.0.1")).expect("second");
        assert_eq!(
            admission.admit(client("10.0.0.1")).expect_err("third"),
            Refused::ClientFull(2)
        );
        let _b = admission.admit(client("10.0.0.2")).expect("another client");
        assert_eq!(
            admission.admit(client("10.0.0.3")).expect_err("all taken"),
            Refused::Full(3)
        );
        drop(a1);
        assert_eq!(admission.admitted(), 2);
        let _a3 = admission.admit(client("10.0.0.1")).expect("a freed slot");
    }

    #[test]
    fn the_map_forgets_clients_with_nothing_admitted() {
        let admission = Admission::new(10, 10);
        for i in 0..100u8 {
            drop(
                admission
                    .admit(client(&format!("10.0.1.{i}")))
                    .expect("admitted"),
            );
        }
        assert!(lock(&admission.counts).by_client.is_empty());
    }

    #[test]
    fn an_ipv6_host_is_its_slash_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(client("2001:db8:1:2::1"), client("2001:db8:1:2:ffff::9"));
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
        assert_eq!(client("::ffff:10.0.0.1"), client("10.0.0.1"));
    }
}
