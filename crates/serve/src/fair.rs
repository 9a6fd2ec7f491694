//! A fixed number of slots for expensive work, shared fairly among groups of clients.
//!
//! A **group** is an IPv4 /24 or an IPv6 /48 ([`ClientGroup::of`]): what one operator usually
//! holds, so a flood from many addresses of one network counts as one client here. A request
//! takes a free slot at once when nobody waits; otherwise it waits in its group's queue (at most
//! [`FairSlots::wait`], then it is refused). When a slot is given back, it goes to the waiting
//! group that holds the **fewest** slots (ties: the group served longest ago), first in first
//! out within a group. So a group that holds no slot is served before every group that holds
//! one: a flood from one group, however many of its requests wait, delays another group's
//! request by at most one slot's turn, never by the flood's queue.
//!
//! Queues are bounded ([`MAX_WAITING_PER_GROUP`] per group, [`MAX_WAITING`] in all): a request
//! beyond them is refused at once, so waiting costs bounded memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// Most requests of one group waiting for a slot.
pub const MAX_WAITING_PER_GROUP: usize = 64;

/// Most requests waiting for a slot in all.
pub const MAX_WAITING: usize = 4_096;

/// A group of clients: an IPv4 /24 or an IPv6 /48.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientGroup(u128);

impl ClientGroup {
    /// The group of address `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> ClientGroup {
        match ip {
            IpAddr::V4(v4) => ClientGroup(u128::from(u32::from(v4) >> 8)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientGroup(u128::from(u32::from(v4) >> 8)),
                // The /48 prefix, marked so that it cannot equal an IPv4 group.
                None => ClientGroup((u128::from(v6) >> 80) | (1 << 127)),
            },
        }
    }
}

/// Why no slot was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotRefused {
    /// The queues are full.
    QueueFull,
    /// No slot came within the wait.
    TimedOut,
}

/// Slots shared fairly among groups (see the module doc).
#[derive(Clone)]
pub struct FairSlots {
    inner: Arc<Mutex<Inner>>,
    wait: Duration,
}

struct Inner {
    free: usize,
    held: HashMap<ClientGroup, usize>,
    waiting: BTreeMap<ClientGroup, VecDeque<Waiter>>,
    waiting_total: usize,
    /// When each group was last given a slot (a counter), for ties.
    served: HashMap<ClientGroup, u64>,
    turns: u64,
    next_waiter: u64,
}

struct Waiter {
    id: u64,
    give: oneshot::Sender<SlotPermit>,
}

/// A held slot, given back when dropped.
pub struct SlotPermit {
    /// `None` once disarmed (a grant undone by hand).
    slots: Option<Arc<Mutex<Inner>>>,
    group: ClientGroup,
}

impl FairSlots {
    /// `slots` slots; a request waits at most `wait` for one.
    pub fn new(slots: usize, wait: Duration) -> FairSlots {
        FairSlots {
            inner: Arc::new(Mutex::new(Inner {
                free: slots,
                held: HashMap::new(),
                waiting: BTreeMap::new(),
                waiting_total: 0,
                served: HashMap::new(),
                turns: 0,
                next_waiter: 0,
            })),
            wait,
        }
    }

    /// How long a request waits for a slot at most.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// A slot at once, if one is free and nobody waits.
    pub fn try_acquire(&self, group: ClientGroup) -> Option<SlotPermit> {
        let mut inner = lock(&self.inner);
        if inner.free > 0 && inner.waiting_total == 0 {
            return Some(inner.grant(&self.inner, group));
        }
        None
    }

    /// A slot for a request of `group`: at once when one is free and nobody waits, else in
    /// its group's turn (see the module doc), within the wait.
    pub async fn acquire(&self, group: ClientGroup) -> Result<SlotPermit, SlotRefused> {
        let (id, receiver) = {
            let mut inner = lock(&self.inner);
            if inner.free > 0 && inner.waiting_total == 0 {
                return Ok(inner.grant(&self.inner, group));
            }
            let queued = inner.waiting.get(&group).map_or(0, VecDeque::len);
            if queued >= MAX_WAITING_PER_GROUP || inner.waiting_total >= MAX_WAITING {
                return Err(SlotRefused::QueueFull);
            }
            let (give, receiver) = oneshot::channel();
            let id = inner.next_waiter;
            inner.next_waiter += 1;
            inner
                .waiting
                .entry(group)
                .or_default()
                .push_back(Waiter { id, give });
            inner.waiting_total += 1;
            (id, receiver)
        };
        match tokio::time::timeout(self.wait, receiver).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                // Out of the queue, if still in it. A permit sent just as the wait ended was
                // dropped with the receiver, which gave its slot back.
                lock(&self.inner).forget(group, id);
                Err(SlotRefused::TimedOut)
            }
        }
    }

    /// Slots held now by `group`.
    pub fn held_by(&self, group: ClientGroup) -> usize {
        lock(&self.inner).held.get(&group).copied().unwrap_or(0)
    }
}

impl Inner {
    /// Gives one slot (free or just given back) to `group`.
    fn grant(&mut self, slots: &Arc<Mutex<Inner>>, group: ClientGroup) -> SlotPermit {
        self.free = self.free.saturating_sub(1);
        *self.held.entry(group).or_default() += 1;
        self.turns += 1;
        self.served.insert(group, self.turns);
        SlotPermit {
            slots: Some(slots.clone()),
            group,
        }
    }

    /// Takes waiter `id` of `group` out of its queue.
    fn forget(&mut self, group: ClientGroup, id: u64) {
        if let Some(queue) = self.waiting.get_mut(&group) {
            if let Some(at) = queue.iter().position(|w| w.id == id) {
                queue.remove(at);
                self.waiting_total -= 1;
            }
            if queue.is_empty() {
                self.waiting.remove(&group);
            }
        }
    }

    /// The waiting group next in turn: the fewest held, then the one served longest ago.
    fn next_group(&self) -> Option<ClientGroup> {
        self.waiting
            .keys()
            .min_by_key(|g| {
                (
                    self.held.get(*g).copied().unwrap_or(0),
                    self.served.get(*g).copied().unwrap_or(0),
                )
            })
            .copied()
    }

    /// A slot was given back by `group`: to the next waiter in turn, or freed.
    fn release(&mut self, slots: &Arc<Mutex<Inner>>, group: ClientGroup) {
        match self.held.get_mut(&group) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                self.held.remove(&group);
            }
        }
        if !self.waiting.contains_key(&group) && !self.held.contains_key(&group) {
            self.served.remove(&group);
        }
        self.free += 1;
        while let Some(next) = self.next_group() {
            let Some(waiter) = self.waiting.get_mut(&next).and_then(VecDeque::pop_front) else {
                self.waiting.remove(&next);
                continue;
            };
            self.waiting_total -= 1;
            if self.waiting.get(&next).is_some_and(VecDeque::is_empty) {
                self.waiting.remove(&next);
            }
            let permit = self.grant(slots, next);
            match waiter.give.send(permit) {
                Ok(()) => return,
                // The waiter gave up: its permit comes back here. Its drop would take the
                // lock this holds, so it is disarmed and the grant undone by hand.
                Err(mut permit) => {
                    permit.slots = None;
                    self.undo_grant(next);
                }
            }
        }
    }

    /// Undoes a grant whose permit was never delivered.
    fn undo_grant(&mut self, group: ClientGroup) {
        self.free += 1;
        match self.held.get_mut(&group) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                self.held.remove(&group);
            }
        }
    }
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            lock(&slots).release(&slots, self.group);
        }
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> ClientGroup {
        ClientGroup::of(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    #[test]
    fn groups_are_a_v4_slash_24_and_a_v6_slash_48() {
        assert_eq!(v4(127, 0, 0, 2), v4(127, 0, 0, 101));
        assert_ne!(v4(127, 0, 0, 2), v4(127, 0, 1, 2));
        let v6 = |s: &str| ClientGroup::of(IpAddr::V6(s.parse::<Ipv6Addr>().unwrap()));
        assert_eq!(v6("2001:db8:1::1"), v6("2001:db8:1:ffff::9"));
        assert_ne!(v6("2001:db8:1::1"), v6("2001:db8:2::1"));
        assert_eq!(v6("::ffff:127.0.0.9"), v4(127, 0, 0, 1));
        assert_ne!(v6("::7f00:1"), v4(127, 0, 0, 1));
    }

    /// A flood holding every slot with a long queue behind it: a request of another group gets
    /// the next slot given back, before the flood's waiters.
    #[tokio::test]
    async fn a_group_holding_nothing_is_served_before_the_flood_queue() {
        let slots = FairSlots::new(2, Duration::from_secs(5));
        let flood = v4(10, 0, 0, 1);
        let honest = v4(10, 0, 1, 1);
        let mut held = vec![
            slots.acquire(flood).await.unwrap(),
            slots.acquire(flood).await.unwrap(),
        ];
        let mut queued = Vec::new();
        for _ in 0..10 {
            let slots = slots.clone();
            queued.push(tokio::spawn(async move { slots.acquire(flood).await }));
        }
        tokio::task::yield_now().await;
        let waiting_honest = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(honest).await })
        };
        // Let every waiter queue before a slot is given back.
        tokio::time::sleep(Duration::from_millis(50)).await;
        held.pop();
        let permit = waiting_honest.await.unwrap().unwrap();
        assert_eq!(slots.held_by(honest), 1);
        assert_eq!(slots.held_by(flood), 1);
        drop(permit);
        drop(held);
        for waiter in queued {
            drop(waiter.await.unwrap().unwrap());
        }
        assert_eq!(slots.held_by(flood), 0);
        assert!(slots.try_acquire(honest).is_some());
    }

    #[tokio::test]
    async fn queues_are_bounded_and_a_wait_ends() {
        let slots = FairSlots::new(1, Duration::from_millis(50));
        let group = v4(10, 0, 0, 1);
        let _held = slots.acquire(group).await.unwrap();
        assert_eq!(
            slots.acquire(group).await.err(),
            Some(SlotRefused::TimedOut)
        );
        let mut waiting = Vec::new();
        for _ in 0..MAX_WAITING_PER_GROUP {
            let slots = slots.clone();
            waiting.push(tokio::spawn(async move { slots.acquire(group).await }));
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            slots.acquire(group).await.err(),
            Some(SlotRefused::QueueFull)
        );
        for w in waiting {
            assert!(w.await.unwrap().is_err());
        }
        // Waiters that gave up left no trace: the slot given back is free again.
        drop(_held);
        assert!(slots.try_acquire(group).is_some());
    }
}
