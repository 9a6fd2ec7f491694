//! A fixed number of slots for expensive work, shared fairly among groups of clients.
//!
//! A **group** is an IPv4 /24 or an IPv6 /48 ([`ClientGroup::of`]): what one operator usually
//! holds, so a flood from many addresses of one network counts as one client here. A group holds
//! at most half the slots (rounded up), so another group's request never waits behind more than
//! the other half. A request takes a free slot at once when its group is under that share;
//! otherwise it waits in its group's queue (at most [`FairSlots::wait`], then it is refused).
//! When a slot is given back, it goes to the waiting group under its share that holds the
//! **fewest** slots (ties: the group whose first waiter came first), first in first out within a
//! group. So a group that holds no slot is served before every group that holds one: a flood
//! from one group, however many of its requests wait, delays another group's request by one
//! slot's turn at most, never by the flood's queue.
//!
//! Queues are bounded ([`MAX_WAITING_PER_GROUP`] per group, a total given at creation): when
//! the total is reached, a newcomer from a group with a shorter queue takes the place of the
//! newest waiter of the longest queue, so a flood cannot fill the queues against other groups.
//! A waiter whose request ends (time limit, closed connection) leaves its queue at once.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// Most requests of one group waiting for a slot.
pub const MAX_WAITING_PER_GROUP: usize = 8;

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
    /// The queues are full, or this request's place went to another group's.
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
    /// Most slots one group holds: half of all, rounded up.
    share: usize,
    held: HashMap<ClientGroup, usize>,
    waiting: BTreeMap<ClientGroup, VecDeque<Waiter>>,
    waiting_total: usize,
    max_waiting: usize,
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

/// A place in a queue, left when the waiting request ends before it gets a slot.
struct Place {
    slots: Arc<Mutex<Inner>>,
    group: ClientGroup,
    id: u64,
}

impl Drop for Place {
    fn drop(&mut self) {
        lock(&self.slots).forget(self.group, self.id);
    }
}

impl FairSlots {
    /// `slots` slots; a request waits at most `wait` for one, and at most `max_waiting`
    /// requests wait in all.
    pub fn new(slots: usize, wait: Duration, max_waiting: usize) -> FairSlots {
        FairSlots {
            inner: Arc::new(Mutex::new(Inner {
                free: slots,
                share: slots.div_ceil(2).max(1),
                held: HashMap::new(),
                waiting: BTreeMap::new(),
                waiting_total: 0,
                max_waiting,
                next_waiter: 0,
            })),
            wait,
        }
    }

    /// How long a request waits for a slot at most.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// A slot at once, if one is free and the group is under its share.
    pub fn try_acquire(&self, group: ClientGroup) -> Option<SlotPermit> {
        let mut inner = lock(&self.inner);
        inner
            .may_take(group)
            .then(|| inner.grant(&self.inner, group))
    }

    /// A slot for a request of `group`: at once when one is free and the group is under its
    /// share, else in its group's turn (see the module doc), within the wait.
    pub async fn acquire(&self, group: ClientGroup) -> Result<SlotPermit, SlotRefused> {
        let (place, receiver) = {
            let mut inner = lock(&self.inner);
            if inner.may_take(group) {
                return Ok(inner.grant(&self.inner, group));
            }
            let receiver = inner.enqueue(group).ok_or(SlotRefused::QueueFull)?;
            let place = Place {
                slots: self.inner.clone(),
                group,
                id: receiver.0,
            };
            (place, receiver.1)
        };
        // Dropping `place` (here, or with this future when the request ends) leaves the queue
        // if still in it. A permit sent as the wait ended is dropped with the receiver, in this
        // task and outside the lock, which gives its slot back.
        let given = tokio::time::timeout(self.wait, receiver).await;
        drop(place);
        match given {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(SlotRefused::QueueFull),
            Err(_) => Err(SlotRefused::TimedOut),
        }
    }

    /// Slots held now by `group`.
    pub fn held_by(&self, group: ClientGroup) -> usize {
        lock(&self.inner).held.get(&group).copied().unwrap_or(0)
    }
}

impl Inner {
    /// Whether `group` may take a free slot now. (A free slot and a waiting group under its
    /// share never coexist: a slot given back goes to such a group first.)
    fn may_take(&self, group: ClientGroup) -> bool {
        self.free > 0 && self.held.get(&group).copied().unwrap_or(0) < self.share
    }

    /// Queues a waiter of `group`; its id and the receiver of its permit, or `None` when no
    /// place is left for it.
    fn enqueue(&mut self, group: ClientGroup) -> Option<(u64, oneshot::Receiver<SlotPermit>)> {
        let queued = self.waiting.get(&group).map_or(0, VecDeque::len);
        if queued >= MAX_WAITING_PER_GROUP {
            return None;
        }
        if self.waiting_total >= self.max_waiting {
            // The newest waiter of the longest queue gives its place, if that queue is longer
            // than this group's (its receiver then reads a closed channel: refused).
            let (longest, length) = self
                .waiting
                .iter()
                .map(|(g, q)| (*g, q.len()))
                .max_by_key(|(_, len)| *len)?;
            if length <= queued + 1 {
                return None;
            }
            self.waiting.get_mut(&longest).and_then(VecDeque::pop_back);
            self.waiting_total -= 1;
        }
        let (give, receiver) = oneshot::channel();
        let id = self.next_waiter;
        self.next_waiter += 1;
        self.waiting
            .entry(group)
            .or_default()
            .push_back(Waiter { id, give });
        self.waiting_total += 1;
        Some((id, receiver))
    }

    /// Gives one slot (free or just given back) to `group`.
    fn grant(&mut self, slots: &Arc<Mutex<Inner>>, group: ClientGroup) -> SlotPermit {
        self.free = self.free.saturating_sub(1);
        *self.held.entry(group).or_default() += 1;
        SlotPermit {
            slots: Some(slots.clone()),
            group,
        }
    }

    /// Takes waiter `id` of `group` out of its queue, if it is still there.
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

    /// The waiting group next in turn: under its share, the fewest held, then the one whose
    /// first waiter came first.
    fn next_group(&self) -> Option<ClientGroup> {
        self.waiting
            .iter()
            .filter_map(|(g, queue)| {
                let held = self.held.get(g).copied().unwrap_or(0);
                let first = queue.front()?.id;
                (held < self.share).then_some((held, first, *g))
            })
            .min()
            .map(|(_, _, g)| g)
    }

    /// Counts a slot of `group` out.
    fn count_out(&mut self, group: ClientGroup) {
        match self.held.get_mut(&group) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                self.held.remove(&group);
            }
        }
        self.free += 1;
    }

    /// A slot was given back by `group`: to the next waiter in turn, or freed.
    fn release(&mut self, slots: &Arc<Mutex<Inner>>, group: ClientGroup) {
        self.count_out(group);
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
                    self.count_out(next);
                }
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

    fn waiting(slots: &FairSlots) -> usize {
        lock(&slots.inner).waiting_total
    }

    /// A group takes at most half the slots; another group then finds one free.
    #[tokio::test]
    async fn one_group_holds_at_most_half_the_slots() {
        let slots = FairSlots::new(4, Duration::from_millis(50), 16);
        let flood = v4(10, 0, 0, 1);
        let held = [
            slots.acquire(flood).await.unwrap(),
            slots.acquire(flood).await.unwrap(),
        ];
        assert_eq!(
            slots.acquire(flood).await.err(),
            Some(SlotRefused::TimedOut)
        );
        assert!(slots.try_acquire(v4(10, 0, 1, 1)).is_some());
        drop(held);
        assert_eq!(slots.held_by(flood), 0);
    }

    /// Every slot held, a flood queue waiting: a group holding nothing gets the next slot given
    /// back, before the flood's waiters; the flood's waiters come after, in order.
    #[tokio::test]
    async fn a_group_holding_nothing_is_served_before_the_flood_queue() {
        let slots = FairSlots::new(2, Duration::from_secs(5), 16);
        let (flood, other, honest) = (v4(10, 0, 0, 1), v4(10, 0, 2, 1), v4(10, 0, 1, 1));
        let flood_slot = slots.acquire(flood).await.unwrap();
        let other_slot = slots.acquire(other).await.unwrap();
        let mut queued = Vec::new();
        for _ in 0..5 {
            let slots = slots.clone();
            queued.push(tokio::spawn(async move { slots.acquire(flood).await }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiting_honest = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(honest).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(waiting(&slots), 6);
        // `other` gives its slot back: the flood is at its share (1 of 2), the honest group
        // holds nothing: the honest request is served.
        drop(other_slot);
        let permit = waiting_honest.await.unwrap().unwrap();
        assert_eq!((slots.held_by(honest), slots.held_by(flood)), (1, 1));
        drop(permit);
        drop(flood_slot);
        for waiter in queued {
            drop(waiter.await.unwrap().unwrap());
        }
        assert_eq!(waiting(&slots), 0);
        assert!(slots.try_acquire(honest).is_some());
    }

    /// At the total bound a group with a shorter queue takes the newest place of the longest;
    /// a group's own queue is bounded; a wait ends; a request that ends leaves its queue.
    #[tokio::test]
    async fn queues_are_bounded_fair_and_left_by_requests_that_end() {
        let slots = FairSlots::new(1, Duration::from_millis(300), 4);
        let (flood, honest) = (v4(10, 0, 0, 1), v4(10, 0, 1, 1));
        let held = slots.acquire(v4(10, 0, 9, 1)).await.unwrap();
        let mut flooding = Vec::new();
        for _ in 0..4 {
            let slots = slots.clone();
            flooding.push(tokio::spawn(async move { slots.acquire(flood).await }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(waiting(&slots), 4);
        // The total is reached: the flood's fifth is refused, the honest one takes a place.
        assert_eq!(
            slots.acquire(flood).await.err(),
            Some(SlotRefused::QueueFull)
        );
        let honest_waiting = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(honest).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(waiting(&slots), 4);
        let evicted = flooding.pop().unwrap().await.unwrap();
        assert_eq!(evicted.err(), Some(SlotRefused::QueueFull));
        // A request that ends while it waits leaves the queue at once.
        honest_waiting.abort();
        let _ = honest_waiting.await;
        assert_eq!(waiting(&slots), 3);
        for w in flooding {
            assert_eq!(w.await.unwrap().err(), Some(SlotRefused::TimedOut));
        }
        assert_eq!(waiting(&slots), 0);
        drop(held);
        assert!(slots.try_acquire(honest).is_some());
    }
}
