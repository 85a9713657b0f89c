//! Demo services: real consumer groups on the topic, run by the gateway so a
//! person can watch what Kafka promises downstream services. Stop one and its
//! lag grows while orders are still accepted; start it and it resumes from
//! its committed offsets and drains the backlog; scale it and the group
//! rebalances.
//!
//! Each member is its own Kafka consumer in the service's group and is
//! delivered each record at least once: it stores an order's offset only
//! after processing it, and commits what is stored once a second, when it
//! stops, and before it gives partitions up in a rebalance. So a stopped or
//! rescaled service loses nothing.
//!
//! Each service is also an idempotent consumer: it remembers the order ids
//! it processed (the last `--service-remembered-orders`, from the `order-id`
//! header), and a record whose id it already processed is not processed
//! again: a redelivery after a crash (the same offset, counted
//! `redelivered`) or a second record of the order (another offset, counted
//! `duplicates_dropped`), which a client's retry after an in-doubt timeout
//! can write. A redelivered record without an id is known by its offset:
//! at or below the highest this service processed in its partition. A real service would keep
//! these ids with what processing changed, in one transaction; here they
//! live as long as the gateway.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wire::services::{GroupProtocol, MAX_ATTEMPTS, MemberAssignment, ServiceUpdate, ServiceView};
use wire::stream::ProcessedOrder;

use crate::clock::now_ms;
use crate::config::{Config, ServiceSpec};
use crate::kafka;
use crate::kafka::member::{Delivery, MemberConsumer, Rebalances};
use crate::metrics::{Counter, Metrics};
use crate::sync::lock;

/// How long stopping members may take, all together, to commit and leave
/// their group before the gateway stops waiting for them: part of the bound
/// on how long the gateway takes to stop, whatever its broker does.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished orders a service holds until they are sent to browsers (four
/// times a second); beyond this, between two sends, the oldest are not sent
/// (the counters still are). A page keeps the newest 2,000 orders' fan-out
/// and 5,000 latency samples, so at 10,000 orders a second three services'
/// 30,000 would be mostly read only to be dropped: they were half the bytes
/// the page received.
const MAX_PENDING: usize = 1024;

/// Why a member was not crashed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CrashError {
    #[error("no demo service named {0:?}")]
    NoSuchService(String),
    #[error("service {0:?} runs no member to crash; start it first")]
    NotRunning(String),
}

/// Every demo service of this gateway.
/// A service change's answer, and the service as it is then.
pub(crate) enum Changed {
    Done(ServiceView),
    /// Still being made: `changing` says so in the view.
    Going(ServiceView),
}

pub(crate) struct Services {
    list: Vec<Service>,
    /// Set once the topic exists: members are only started after that, as a
    /// subscription to a missing topic would wait for a metadata refresh.
    ready: AtomicBool,
}

impl Services {
    pub(crate) fn new(config: &Arc<Config>, metrics: &Metrics) -> Self {
        let list = config
            .demo_services()
            .into_iter()
            .map(|spec| Service::new(spec, config.clone(), metrics))
            .collect();
        Self {
            list,
            ready: AtomicBool::new(false),
        }
    }

    /// The services' consumer group ids.
    pub(crate) fn group_ids(&self) -> Vec<String> {
        self.list
            .iter()
            .map(|s| s.shared.group_id.clone())
            .collect()
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Stops, starts, scales or retunes the service named `name`, or `None`
    /// when there is no such service. The change is made in a task of its
    /// own, so that it is finished whatever happens to whoever asked; the
    /// answer waits for it up to `within`: [`Changed::Done`] when stopped
    /// members have committed and left the group and new members are
    /// joining it, [`Changed::Going`] when members are still stopping
    /// (leaving a group can take up to [`STOP_TIMEOUT`], longer than a
    /// request may wait).
    pub(crate) async fn update(
        self: &Arc<Self>,
        name: &str,
        update: ServiceUpdate,
        within: Duration,
    ) -> Option<Changed> {
        let index = self.list.iter().position(|s| s.shared.name == name)?;
        let services = self.clone();
        let change = tokio::spawn(async move {
            let service = &services.list[index];
            service.update(&update, services.ready()).await;
        });
        let done = tokio::time::timeout(within, change).await.is_ok();
        let view = self.list[index].view();
        Some(if done {
            Changed::Done(view)
        } else {
            Changed::Going(view)
        })
    }

    pub(crate) fn views(&self) -> Vec<ServiceView> {
        self.list.iter().map(Service::view).collect()
    }

    /// Crashes the newest member of the service named `name` (see
    /// [`Service::crash`]); the service as it is then, or why not.
    pub(crate) async fn crash(&self, name: &str) -> Result<ServiceView, CrashError> {
        let service = self
            .list
            .iter()
            .find(|s| s.shared.name == name)
            .ok_or_else(|| CrashError::NoSuchService(name.to_owned()))?;
        if !service.crash().await {
            return Err(CrashError::NotRunning(name.to_owned()));
        }
        Ok(service.view())
    }

    /// Each service's orders finished since the last call.
    pub(crate) fn take_processed(&self) -> Vec<(String, Vec<ProcessedOrder>)> {
        self.list
            .iter()
            .map(|s| {
                let orders = Vec::from(std::mem::take(&mut *lock(&s.shared.pending)));
                (s.shared.name.clone(), orders)
            })
            .filter(|(_, orders)| !orders.is_empty())
            .collect()
    }

    /// The topic exists: start every service that should run.
    pub(crate) async fn start(&self) {
        self.ready.store(true, Ordering::Release);
        for service in &self.list {
            service.reconcile(true).await;
        }
    }

    /// Gateway shutdown: every member commits and leaves its group, all at
    /// once, within [`STOP_TIMEOUT`]; how many could not commit (or did not
    /// go in time).
    pub(crate) async fn stop(&self) -> usize {
        self.ready.store(false, Ordering::Release);
        let stopping = self.list.iter().map(|s| s.reconcile(false));
        futures_util::future::join_all(stopping)
            .await
            .into_iter()
            .sum()
    }
}

/// One demo service: its settings, counters and running members.
struct Service {
    shared: Arc<Shared>,
    /// A tokio mutex: held while members start and stop, so two commands to
    /// one service apply one after the other.
    members: tokio::sync::Mutex<Vec<Member>>,
    config: Arc<Config>,
}

/// What a service's members and its view share.
struct Shared {
    name: String,
    group_id: String,
    protocol: GroupProtocol,
    settings: Mutex<Settings>,
    processed: Counter,
    failed_attempts: Counter,
    gave_up: Counter,
    redelivered: Counter,
    duplicates_dropped: Counter,
    /// The order ids processed, to process each order once.
    seen: Mutex<SeenOrders>,
    /// Highest offset processed per partition, to notice redeliveries.
    highest: Mutex<HashMap<i32, i64>>,
    /// Each running member's partitions, by client id, as it was told in
    /// its last rebalance.
    assignments: Mutex<BTreeMap<String, Vec<i32>>>,
    /// Orders finished and not yet sent to browsers.
    pending: Mutex<VecDeque<ProcessedOrder>>,
    /// Changes under way (members starting or stopping), for the view.
    changing: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    running: bool,
    members: u32,
    processing_ms: u32,
    failure_rate: f64,
}

struct Member {
    stop: CancellationToken,
    /// Set before `stop` when the member is to crash rather than leave.
    crash: Arc<AtomicBool>,
    /// Ends with whether what the member processed is committed.
    task: JoinHandle<bool>,
}

impl Service {
    fn new(spec: ServiceSpec, config: Arc<Config>, metrics: &Metrics) -> Self {
        // Counted once, for the view and for `/metrics` alike.
        let name = spec.name.clone();
        let counter = |outcome: &'static str| {
            metrics
                .service_records
                .get_or_create(&vec![
                    ("service", name.clone()),
                    ("outcome", outcome.into()),
                ])
                .clone()
        };
        let shared = Shared {
            group_id: format!("{}{}", config.group_prefix(), spec.name),
            protocol: spec.protocol.unwrap_or(config.service_protocol),
            name: spec.name,
            settings: Mutex::new(Settings {
                running: true,
                members: spec.members,
                processing_ms: spec.processing_ms,
                failure_rate: spec.failure_rate,
            }),
            processed: counter("processed"),
            failed_attempts: counter("failed_attempts"),
            gave_up: counter("gave_up"),
            redelivered: counter("redelivered"),
            duplicates_dropped: counter("duplicates_dropped"),
            seen: Mutex::new(SeenOrders::new(
                usize::try_from(config.service_remembered_orders).unwrap_or(usize::MAX),
            )),
            changing: AtomicUsize::new(0),
            highest: Mutex::new(HashMap::new()),
            assignments: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(VecDeque::new()),
        };
        Self {
            shared: Arc::new(shared),
            members: tokio::sync::Mutex::new(Vec::new()),
            config,
        }
    }

    fn view(&self) -> ServiceView {
        let s = &self.shared;
        let settings = *lock(&s.settings);
        ServiceView {
            name: s.name.clone(),
            group_id: s.group_id.clone(),
            protocol: s.protocol,
            running: settings.running,
            members: settings.members,
            processing_ms: settings.processing_ms,
            failure_rate: settings.failure_rate,
            processed: s.processed.get(),
            failed_attempts: s.failed_attempts.get(),
            gave_up: s.gave_up.get(),
            redelivered: s.redelivered.get(),
            duplicates_dropped: s.duplicates_dropped.get(),
            changing: s.changing.load(Ordering::Acquire) > 0,
            assignments: lock(&s.assignments)
                .iter()
                .map(|(client_id, partitions)| MemberAssignment {
                    client_id: client_id.clone(),
                    partitions: partitions.clone(),
                })
                .collect(),
        }
    }

    async fn update(&self, update: &ServiceUpdate, ready: bool) {
        {
            let mut settings = lock(&self.shared.settings);
            if let Some(running) = update.running {
                settings.running = running;
            }
            if let Some(members) = update.members {
                settings.members = members;
            }
            if let Some(ms) = update.processing_ms {
                settings.processing_ms = ms;
            }
            if let Some(rate) = update.failure_rate {
                settings.failure_rate = rate;
            }
        }
        if ready {
            self.reconcile(true).await;
        }
    }

    /// Crashes the newest member: it stops at once, between or in the middle
    /// of an order, and leaves the group without committing, so the
    /// partitions' next owner processes again what it had processed since
    /// its last commit. It is not replaced: the service runs one member
    /// fewer, or stops if it was the last. False when no member runs.
    async fn crash(&self) -> bool {
        let mut members = self.members.lock().await;
        let Some(member) = members.pop() else {
            return false;
        };
        {
            let mut settings = lock(&self.shared.settings);
            if settings.members > 1 {
                settings.members -= 1;
            } else {
                settings.running = false;
            }
        }
        member.crash.store(true, Ordering::Release);
        stop_together(&self.shared.group_id, vec![member]).await;
        true
    }

    /// Starts or stops members until as many run as the settings ask for
    /// (none when `allowed` is false, at gateway shutdown); how many
    /// stopping members could not commit what they processed.
    async fn reconcile(&self, allowed: bool) -> usize {
        let _changing = Changing::new(&self.shared.changing);
        let mut members = self.members.lock().await;
        let settings = *lock(&self.shared.settings);
        let want = if allowed && settings.running {
            settings.members as usize
        } else {
            0
        };
        let mut late = 0;
        if members.len() > want {
            // Stop them together: one rebalance rather than one per member.
            late = stop_together(&self.shared.group_id, members.split_off(want)).await;
        }
        while members.len() < want {
            let number = u32::try_from(members.len() + 1).unwrap_or(u32::MAX);
            match self.spawn_member(number) {
                Ok(member) => members.push(member),
                Err(err) => {
                    tracing::error!(%err, group = %self.shared.group_id, "could not start a member");
                    break;
                }
            }
        }
        late
    }

    fn spawn_member(&self, number: u32) -> Result<Member, kafka::Error> {
        let client_id = format!("{}-{number}", self.shared.group_id);
        let slot = AssignmentSlot {
            shared: self.shared.clone(),
            client_id: client_id.clone(),
        };
        let consumer = MemberConsumer::join(
            &self.config,
            &self.shared.group_id,
            self.shared.protocol,
            &client_id,
            slot,
        )?;
        lock(&self.shared.assignments).insert(client_id.clone(), Vec::new());
        let stop = CancellationToken::new();
        let crash = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run_member(
            consumer,
            self.shared.clone(),
            MemberRun {
                number,
                client_id,
                commit_every: Duration::from_millis(self.config.service_commit_interval_ms),
                stop: stop.clone(),
                crash: crash.clone(),
            },
        ));
        Ok(Member { stop, crash, task })
    }
}

/// One change under way, counted while it lives.
struct Changing<'a>(&'a AtomicUsize);

impl<'a> Changing<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Tells `members` to stop and waits for them together, at most
/// [`STOP_TIMEOUT`] in all; how many did not commit what they processed
/// (their commit failed, or they did not go in time and are left to finish
/// on their own).
async fn stop_together(group: &str, members: Vec<Member>) -> usize {
    for member in &members {
        member.stop.cancel();
    }
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    let mut uncommitted = 0;
    for member in members {
        match tokio::time::timeout_at(deadline, member.task).await {
            Ok(Ok(true)) => {}
            Ok(_) => uncommitted += 1,
            Err(_) => {
                tracing::warn!(%group, "a member did not leave its group in time");
                uncommitted += 1;
            }
        }
    }
    uncommitted
}

/// How one member runs.
struct MemberRun {
    number: u32,
    client_id: String,
    commit_every: Duration,
    stop: CancellationToken,
    crash: Arc<AtomicBool>,
}

/// One member's life: process every order it is given until told to stop,
/// committing what it processed every `commit_every`; then commit and leave
/// the group, or, told to crash, leave without committing. Whether what it
/// processed is committed (a crash is what it is asked to be: true).
async fn run_member(
    consumer: MemberConsumer<AssignmentSlot>,
    shared: Arc<Shared>,
    run: MemberRun,
) -> bool {
    let MemberRun {
        number,
        client_id,
        commit_every,
        stop,
        crash,
    } = run;
    tracing::info!(%client_id, "service member started");
    let mut commit = tokio::time::interval(commit_every);
    commit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = commit.tick() => {
                consumer.commit();
                continue;
            }
            received = consumer.recv() => received,
        };
        let message = match received {
            Ok(message) => message,
            // The broker is away or the group is rebalancing: librdkafka
            // retries by itself, and recv waits for the next record.
            Err(err) => {
                tracing::debug!(%err, %client_id, "service member");
                continue;
            }
        };
        if !shared.process(&message, number, &stop).await {
            // Stopped between attempts: the order stays unprocessed and
            // uncommitted, and is processed when the service runs again.
            break;
        }
        if let Err(err) = consumer.processed(&message) {
            tracing::warn!(%err, %client_id, "could not store a processed offset");
        }
    }
    let committed = if crash.load(Ordering::Acquire) {
        consumer.crash().await;
        tracing::info!(%client_id, "service member crashed");
        true
    } else {
        let committed = consumer.leave().await;
        tracing::info!(%client_id, committed, "service member stopped");
        committed
    };
    lock(&shared.assignments).remove(&client_id);
    committed
}

impl Shared {
    /// Simulates processing one order: the configured time per attempt, a
    /// failed attempt with the configured chance, retried with backoff up to
    /// [`MAX_ATTEMPTS`]. False when told to stop before it was done.
    async fn process(&self, message: &Delivery<'_>, member: u32, stop: &CancellationToken) -> bool {
        let (partition, offset) = (message.partition(), message.offset());
        if lock(&self.highest)
            .get(&partition)
            .is_some_and(|&highest| offset <= highest)
        {
            // Delivered again (after a crash, or a rebalance before a
            // commit): each partition is processed in order, so an offset at
            // or below the highest processed was processed, whatever its id.
            self.redelivered.inc();
            return true;
        }
        let id = message.order_id_bytes();
        if id.is_some_and(|id| lock(&self.seen).contains(id)) {
            // A second record of an order processed from another one.
            self.duplicates_dropped.inc();
            return true;
        }
        let order_id = message.order_id();
        let mut done = ProcessedOrder {
            partition,
            offset,
            order_id: order_id.clone(),
            produced_at_ms: message.produced_at_ms(),
            processed_at_ms: 0,
            member,
            attempts: 0,
            gave_up: false,
        };
        for attempt in 1..=MAX_ATTEMPTS {
            done.attempts = attempt;
            let Settings {
                processing_ms,
                failure_rate,
                ..
            } = *lock(&self.settings);
            // An attempt in progress is finished even when the service is
            // being stopped: stopping waits for the order in hand.
            tokio::time::sleep(Duration::from_millis(processing_ms.into())).await;
            if fastrand::f64() >= failure_rate {
                self.processed.inc();
                break;
            }
            self.failed_attempts.inc();
            if attempt == MAX_ATTEMPTS {
                tracing::warn!(service = %self.name, partition, offset, "giving up on an order after {MAX_ATTEMPTS} attempts");
                self.gave_up.inc();
                done.gave_up = true;
                break;
            }
            let backoff = Duration::from_millis(50 << attempt).min(Duration::from_secs(1));
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(backoff) => {}
            }
        }
        {
            let mut highest = lock(&self.highest);
            let entry = highest.entry(partition).or_insert(offset);
            *entry = (*entry).max(offset);
        }
        if let Some(id) = id {
            lock(&self.seen).insert(id);
        }
        done.processed_at_ms = now_ms();
        let mut pending = lock(&self.pending);
        if pending.len() == MAX_PENDING {
            pending.pop_front();
        }
        pending.push_back(done);
        true
    }

    /// A member's partitions after a rebalance: the classic protocol
    /// revokes everything and assigns the whole new set; the consumer
    /// protocol moves a few partitions at a time.
    fn change_assignment(&self, client_id: &str, added: &[i32], removed: &[i32]) {
        if let Some(slot) = lock(&self.assignments).get_mut(client_id) {
            slot.retain(|p| !removed.contains(p));
            for p in added {
                if !slot.contains(p) {
                    slot.push(*p);
                }
            }
            slot.sort_unstable();
        }
    }
}

/// The order ids a service processed: the last `capacity` of them. Ids are
/// kept as a 64-bit hash keyed at random per process, so no producer can
/// make two ids collide on purpose.
struct SeenOrders {
    ids: HashSet<u64>,
    order: VecDeque<u64>,
    hasher: RandomState,
    capacity: usize,
}

impl SeenOrders {
    fn new(capacity: usize) -> Self {
        Self {
            ids: HashSet::new(),
            order: VecDeque::new(),
            hasher: RandomState::new(),
            capacity: capacity.max(1),
        }
    }

    /// Whether `order_id` was processed.
    fn contains(&self, order_id: &[u8]) -> bool {
        self.ids.contains(&self.hasher.hash_one(order_id))
    }

    /// `order_id` was processed.
    fn insert(&mut self, order_id: &[u8]) {
        let hash = self.hasher.hash_one(order_id);
        if self.ids.contains(&hash) {
            return;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.ids.insert(hash);
        self.order.push_back(hash);
    }
}

/// Where one member's partitions are kept, as its rebalances say.
struct AssignmentSlot {
    shared: Arc<Shared>,
    client_id: String,
}

impl Rebalances for AssignmentSlot {
    fn assigned(&self, added: &[i32]) {
        tracing::info!(client_id = %self.client_id, ?added, "partitions assigned");
        self.shared.change_assignment(&self.client_id, added, &[]);
    }

    fn revoked(&self, removed: &[i32]) {
        tracing::info!(client_id = %self.client_id, ?removed, "partitions revoked");
        self.shared.change_assignment(&self.client_id, &[], removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_remembers_the_last_orders_it_processed() {
        let mut seen = SeenOrders::new(2);
        assert!(!seen.contains(b"a"));
        seen.insert(b"a");
        seen.insert(b"b");
        seen.insert(b"b");
        assert!(seen.contains(b"a") && seen.contains(b"b"));
        seen.insert(b"c");
        assert!(!seen.contains(b"a"), "the oldest goes first");
        assert!(seen.contains(b"c"));
        assert_eq!((seen.ids.len(), seen.order.len()), (2, 2));
    }
}
