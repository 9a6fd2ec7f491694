//! Several consensus seats behind one network identity.
//!
//! A validator holds one seat per whole seat size of its stake (`cairn_ledger::seats`) and runs
//! one simplex engine per seat, each signing with its own seat key. simplex, though, takes the
//! network sender of a vote to be its signer (it blocks a peer whose vote names another signer),
//! and the network knows each node by its one node key. This module sits between the two, per
//! epoch and per consensus channel:
//!
//! - Each local engine gets a [`SeatSender`]: it prefixes every message with the 32 bytes of its
//!   seat key (and, for a message to one seat, a flag and that seat's key), sends it to the nodes
//!   that host the recipient seats, and hands it straight to the engines of the other seats
//!   hosted here (the network never loops a message back).
//! - One task ([`route`]) reads the epoch's channel: a message whose prefix names a seat the
//!   sending node does not host in this epoch gets that node blocked; any other message goes to
//!   the local engine it is addressed to (a request or an answer to one seat), or to every local
//!   engine, as if it came from the seat itself.
//! - [`SeatBlocker`] blocks the node behind a misbehaving seat.
//!
//! A node holding no seat in an epoch (a follower) runs one engine that only verifies; it speaks
//! for itself (its node key as the prefix), and replies to it go to its node key.
//!
//! Which node hosts which seat comes from the epoch's validator set, so every node agrees on it.

use crate::types::ConsensusKey;
use commonware_actor::{Feedback, Unreliable};
use commonware_codec::DecodeExt;
use commonware_p2p::{
    BlockedSubscription, Blocker, CheckedSender, LimitedSender, Message, Receiver, Recipients,
};
use commonware_runtime::{IoBuf, IoBufs};
use commonware_utils::channel::mpsc;
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::SystemTime;

/// Length of the sender's seat key that starts every routed message.
const SEAT: usize = 32;

/// Most bytes a routed message's prefix takes: the sender's seat, a flag, the target seat.
pub const MAX_SEAT_PREFIX: usize = SEAT + 1 + SEAT;

/// The flag after the sender's seat: the message is for every local engine.
const TO_ALL: u8 = 0;
/// The flag after the sender's seat: the target seat's key follows.
const TO_ONE: u8 = 1;

/// Who hosts which seat in one epoch, and which seats this node hosts.
#[derive(Debug)]
pub struct SeatMap {
    /// Seat key → the node key of the validator holding it.
    host: BTreeMap<ConsensusKey, ConsensusKey>,
    /// This node's key.
    me: ConsensusKey,
}

impl SeatMap {
    /// A map from `(seat, node)` pairs, seen from node `me`.
    pub fn new(
        seats: impl IntoIterator<Item = (ConsensusKey, ConsensusKey)>,
        me: ConsensusKey,
    ) -> Self {
        SeatMap {
            host: seats.into_iter().collect(),
            me,
        }
    }

    /// The node hosting `seat`, if any.
    pub fn host(&self, seat: &ConsensusKey) -> Option<&ConsensusKey> {
        self.host.get(seat)
    }

    /// Whether `seat` is hosted by this node.
    pub fn is_local(&self, seat: &ConsensusKey) -> bool {
        self.host(seat) == Some(&self.me)
    }
}

/// The inboxes of the engines of the seats this node hosts in one epoch, by seat key.
pub type Inboxes = Arc<BTreeMap<ConsensusKey, mpsc::Sender<Message<ConsensusKey>>>>;

/// What a local engine sends with: see the module documentation.
#[derive(Clone)]
pub struct SeatSender<S> {
    inner: S,
    seat: ConsensusKey,
    map: Arc<SeatMap>,
    inboxes: Inboxes,
}

impl<S> SeatSender<S> {
    /// The sender of `seat`'s engine over `inner` (the epoch's channel).
    pub fn new(inner: S, seat: ConsensusKey, map: Arc<SeatMap>, inboxes: Inboxes) -> Self {
        SeatSender {
            inner,
            seat,
            map,
            inboxes,
        }
    }

    /// Splits seat recipients into the remote nodes to send to and the local seats to hand the
    /// message to (never this engine's own seat).
    fn split(
        &self,
        recipients: Recipients<ConsensusKey>,
    ) -> (Option<Recipients<ConsensusKey>>, Vec<ConsensusKey>) {
        let seats: Vec<ConsensusKey> = match recipients {
            Recipients::All => {
                let local = self
                    .inboxes
                    .keys()
                    .filter(|s| **s != self.seat)
                    .cloned()
                    .collect();
                return (Some(Recipients::All), local);
            }
            Recipients::Some(seats) => seats,
            Recipients::One(seat) => vec![seat],
        };
        let mut nodes = BTreeSet::new();
        let mut local = Vec::new();
        for seat in seats {
            if seat == self.seat {
                continue;
            }
            if self.map.is_local(&seat) {
                local.push(seat);
            } else if let Some(node) = self.map.host(&seat) {
                nodes.insert(node.clone());
            } else if seat != self.map.me {
                // Not a seat: a node speaking for itself (a follower asking for certificates).
                nodes.insert(seat);
            }
        }
        let remote = (!nodes.is_empty()).then(|| Recipients::Some(nodes.into_iter().collect()));
        (remote, local)
    }
}

/// A checked [`SeatSender`]: the remote part checked by the network, the local part as is.
pub struct CheckedSeatSender<'a, S: LimitedSender<PublicKey = ConsensusKey> + 'a> {
    remote: Option<S::Checked<'a>>,
    local: Vec<ConsensusKey>,
    seat: ConsensusKey,
    /// The one seat the message is for, if it is for one.
    target: Option<ConsensusKey>,
    map: Arc<SeatMap>,
    inboxes: Inboxes,
}

impl<S> LimitedSender for SeatSender<S>
where
    S: LimitedSender<PublicKey = ConsensusKey>,
{
    type PublicKey = ConsensusKey;
    type Checked<'a>
        = CheckedSeatSender<'a, S>
    where
        Self: 'a;

    fn check(
        &mut self,
        recipients: Recipients<ConsensusKey>,
    ) -> Result<Self::Checked<'_>, SystemTime> {
        let target = match &recipients {
            Recipients::One(seat) => Some(seat.clone()),
            _ => None,
        };
        let (remote, local) = self.split(recipients);
        let remote = match remote {
            Some(nodes) => match self.inner.check(nodes) {
                Ok(checked) => Some(checked),
                // Every remote node is rate limited: only the local seats get it now.
                Err(at) if local.is_empty() => return Err(at),
                Err(_) => None,
            },
            None => None,
        };
        Ok(CheckedSeatSender {
            remote,
            local,
            seat: self.seat.clone(),
            target,
            map: self.map.clone(),
            inboxes: self.inboxes.clone(),
        })
    }
}

impl<'a, S> CheckedSender for CheckedSeatSender<'a, S>
where
    S: LimitedSender<PublicKey = ConsensusKey> + 'a,
{
    type PublicKey = ConsensusKey;

    fn recipients(&self) -> Vec<ConsensusKey> {
        // The seats behind the nodes that will get it, and the local seats.
        let nodes: BTreeSet<ConsensusKey> = self
            .remote
            .as_ref()
            .map(|r| r.recipients().into_iter().collect())
            .unwrap_or_default();
        let mut seats: Vec<ConsensusKey> = self
            .map
            .host
            .iter()
            .filter(|(_, node)| nodes.contains(*node))
            .map(|(seat, _)| seat.clone())
            .collect();
        seats.extend(self.local.iter().cloned());
        seats
    }

    fn send(self, message: impl Into<IoBufs> + Send, priority: bool) -> Unreliable<Feedback> {
        let mut message: IoBufs = message.into();
        let payload = message.clone().coalesce();
        for seat in &self.local {
            if let Some(inbox) = self.inboxes.get(seat) {
                // A full inbox drops the message, as a congested link would.
                let _ = inbox.try_send((self.seat.clone(), payload.clone()));
            }
        }
        match self.remote {
            Some(remote) => {
                message.prepend(IoBuf::from(prefix(&self.seat, self.target.as_ref())));
                remote.send(message, priority)
            }
            None => Unreliable::new(Feedback::Ok),
        }
    }
}

/// What a local engine receives with: messages from every other seat, named by seat key.
#[derive(Debug)]
pub struct SeatReceiver {
    inbox: mpsc::Receiver<Message<ConsensusKey>>,
    capacity: NonZeroUsize,
}

impl SeatReceiver {
    /// A receiver reading `inbox` (which holds `capacity` messages).
    pub fn new(inbox: mpsc::Receiver<Message<ConsensusKey>>, capacity: NonZeroUsize) -> Self {
        SeatReceiver { inbox, capacity }
    }
}

/// The seat receiver's only error: the router stopped.
#[derive(Debug, thiserror::Error)]
#[error("the seat router stopped")]
pub struct RouterStopped;

impl Receiver for SeatReceiver {
    type Error = RouterStopped;
    type PublicKey = ConsensusKey;

    async fn recv(&mut self) -> Result<Message<ConsensusKey>, RouterStopped> {
        self.inbox.recv().await.ok_or(RouterStopped)
    }

    fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }
}

/// Blocks the node behind a seat.
#[derive(Clone)]
pub struct SeatBlocker<B> {
    inner: B,
    map: Arc<SeatMap>,
}

impl<B> SeatBlocker<B> {
    /// Blocks through `inner`, mapping seats with `map`.
    pub fn new(inner: B, map: Arc<SeatMap>) -> Self {
        SeatBlocker { inner, map }
    }
}

impl<B: Blocker<PublicKey = ConsensusKey>> Blocker for SeatBlocker<B> {
    type PublicKey = ConsensusKey;

    fn block(&mut self, seat: ConsensusKey) -> Feedback {
        match self.map.host(&seat) {
            // A seat of this node misbehaving is a bug here, not a peer to cut off.
            Some(node) if !self.map.is_local(&seat) => self.inner.block(node.clone()),
            Some(_) => Feedback::Ok,
            // No seat: a follower speaking for itself, named by its node key.
            None if seat != self.map.me => self.inner.block(seat),
            None => Feedback::Ok,
        }
    }

    fn blocked(&mut self) -> BlockedSubscription<ConsensusKey> {
        // Node keys, which name no seat: consensus sees no blocked seat through this.
        self.inner.blocked()
    }
}

/// The prefix of a message from `seat`, for `target` alone or (without one) for every engine.
fn prefix(seat: &ConsensusKey, target: Option<&ConsensusKey>) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_SEAT_PREFIX);
    out.extend_from_slice(seat.as_ref());
    match target {
        Some(target) => {
            out.push(TO_ONE);
            out.extend_from_slice(target.as_ref());
        }
        None => out.push(TO_ALL),
    }
    out
}

/// A routed message taken apart.
#[derive(Debug)]
pub struct Routed {
    /// The seat that sent it.
    pub seat: ConsensusKey,
    /// The one seat it is for, if it is for one.
    pub target: Option<ConsensusKey>,
    /// The message itself.
    pub payload: IoBuf,
}

/// Takes a routed message apart; `None` when the prefix is malformed.
pub fn unprefix(message: &IoBuf) -> Option<Routed> {
    let bytes: &[u8] = message.as_ref();
    let key = |range: std::ops::Range<usize>| -> Option<ConsensusKey> {
        ConsensusKey::decode(bytes.get(range)?.to_vec()).ok()
    };
    let seat = key(0..SEAT)?;
    match *bytes.get(SEAT)? {
        TO_ALL => Some(Routed {
            seat,
            target: None,
            payload: message.slice(SEAT + 1..),
        }),
        TO_ONE => Some(Routed {
            seat,
            target: Some(key(SEAT + 1..MAX_SEAT_PREFIX)?),
            payload: message.slice(MAX_SEAT_PREFIX..),
        }),
        _ => None,
    }
}

/// Reads the epoch's channel and hands each message to every local engine as coming from its
/// seat, blocking nodes that send for seats they do not host. Ends when the channel closes.
pub async fn route<R, B>(mut channel: R, map: Arc<SeatMap>, inboxes: Inboxes, mut blocker: B)
where
    R: Receiver<PublicKey = ConsensusKey>,
    B: Blocker<PublicKey = ConsensusKey>,
{
    while let Ok((node, message)) = channel.recv().await {
        let Some(Routed {
            seat,
            target,
            payload,
        }) = unprefix(&message)
        else {
            let _ = blocker.block(node);
            continue;
        };
        // A seat its node hosts, or a node speaking for itself (a follower, which holds no seat:
        // consensus treats it as a non-participant).
        let speaks_for_itself = seat == node && map.host(&seat).is_none();
        if map.host(&seat) != Some(&node) && !speaks_for_itself {
            tracing::debug!(%node, %seat, "node.seat_not_hosted_by_sender");
            let _ = blocker.block(node);
            continue;
        }
        match target {
            // For one seat: that engine alone (a request, or the answer to one, must not reach
            // an engine that did not ask).
            Some(target) => {
                if let Some(inbox) = inboxes.get(&target) {
                    let _ = inbox.try_send((seat, payload));
                }
            }
            None => {
                for inbox in inboxes.values() {
                    let _ = inbox.try_send((seat.clone(), payload.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{ed25519, Signer as _};

    fn key(seed: u64) -> ConsensusKey {
        ed25519::PrivateKey::from_seed(seed).public_key()
    }

    /// Node 1 (this one) hosts seats 10 and 11; node 2 hosts 20 and 21; node 3 hosts 30.
    fn setup() -> (
        Arc<SeatMap>,
        Inboxes,
        Vec<mpsc::Receiver<Message<ConsensusKey>>>,
    ) {
        let map = Arc::new(SeatMap::new(
            [(10, 1), (11, 1), (20, 2), (21, 2), (30, 3)]
                .into_iter()
                .map(|(s, n)| (key(s), key(n))),
            key(1),
        ));
        let mut inboxes = BTreeMap::new();
        let mut receivers = Vec::new();
        for seat in [10, 11] {
            let (tx, rx) = mpsc::channel(8);
            inboxes.insert(key(seat), tx);
            receivers.push(rx);
        }
        (map, Arc::new(inboxes), receivers)
    }

    #[test]
    fn recipients_become_nodes_and_local_seats() {
        let (map, inboxes, _rx) = setup();
        let sender = SeatSender::new((), key(10), map, inboxes);
        let (remote, local) = sender.split(Recipients::All);
        assert!(matches!(remote, Some(Recipients::All)));
        assert_eq!(local, vec![key(11)]);
        let (remote, local) = sender.split(Recipients::Some(vec![
            key(10),
            key(11),
            key(20),
            key(21),
            key(99),
        ]));
        match remote {
            // Node 2 hosts 20 and 21; 99 is no seat, so it is taken for a node itself.
            Some(Recipients::Some(nodes)) => {
                let got: BTreeSet<ConsensusKey> = nodes.into_iter().collect();
                assert_eq!(got, BTreeSet::from([key(2), key(99)]));
            }
            other => panic!("expected nodes 2 and 99, got {other:?}"),
        }
        assert_eq!(local, vec![key(11)]);
        let (remote, local) = sender.split(Recipients::One(key(10)));
        assert!(remote.is_none() && local.is_empty(), "nobody but itself");
        // A key that is no seat is a node (a follower).
        let (remote, _) = sender.split(Recipients::One(key(7)));
        match remote {
            Some(Recipients::Some(nodes)) => assert_eq!(nodes, vec![key(7)]),
            other => panic!("expected node 7, got {other:?}"),
        }
    }

    #[test]
    fn the_prefix_names_the_seat_and_the_target() {
        let seat = key(20);
        let mut bytes = prefix(&seat, None);
        bytes.extend_from_slice(b"vote");
        let routed = unprefix(&IoBuf::from(bytes)).expect("prefixed");
        assert_eq!(routed.seat, seat);
        assert_eq!(routed.target, None);
        assert_eq!(routed.payload.as_ref(), b"vote");
        let mut bytes = prefix(&seat, Some(&key(10)));
        bytes.extend_from_slice(b"ask");
        let routed = unprefix(&IoBuf::from(bytes)).expect("prefixed");
        assert_eq!(routed.target, Some(key(10)));
        assert_eq!(routed.payload.as_ref(), b"ask");
        // Too short, or an unknown flag.
        assert!(unprefix(&IoBuf::from(vec![1u8; 31])).is_none());
        let mut bad = prefix(&seat, None);
        bad[SEAT] = 7;
        assert!(unprefix(&IoBuf::from(bad)).is_none());
    }

    /// Records whom it is told to block.
    #[derive(Clone, Default)]
    struct Recorder(Arc<std::sync::Mutex<Vec<ConsensusKey>>>);

    impl Blocker for Recorder {
        type PublicKey = ConsensusKey;

        fn block(&mut self, peer: ConsensusKey) -> Feedback {
            self.0.lock().expect("lock").push(peer);
            Feedback::Ok
        }

        fn blocked(&mut self) -> BlockedSubscription<ConsensusKey> {
            let (_, receiver) =
                commonware_utils::channel::ring::channel(NonZeroUsize::new(1).expect("one"));
            receiver
        }
    }

    #[test]
    fn blocking_a_seat_blocks_its_node_and_a_follower_itself() {
        let (map, _, _rx) = setup();
        let recorder = Recorder::default();
        let mut blocker = SeatBlocker::new(recorder.clone(), map);
        let _ = blocker.block(key(21));
        // Our own seats and our own key are never blocked.
        let _ = blocker.block(key(10));
        let _ = blocker.block(key(1));
        // A key that is no seat is a follower's node key.
        let _ = blocker.block(key(7));
        assert_eq!(*recorder.0.lock().expect("lock"), vec![key(2), key(7)]);
    }
}
