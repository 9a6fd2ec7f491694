//! The tree's hash function: BLAKE3.

/// BLAKE3 as the tree's hash function.
///
/// The tree hashes tens of thousands of short inputs per block (two 32-byte children and a
/// prefix), so input up to [`Blake3Hasher::INLINE`] bytes is buffered inline and hashed in one
/// call; only longer input (large values) goes through an incremental `blake3::Hasher`, whose
/// ~1.9 KiB state would otherwise be created and moved for every node. The output is BLAKE3 of
/// the concatenated input either way.
#[derive(Clone)]
pub struct Blake3Hasher {
    inline: [u8; Blake3Hasher::INLINE],
    len: usize,
    spilled: Option<Box<blake3::Hasher>>,
}

impl Blake3Hasher {
    /// Input bytes hashed without an incremental hasher.
    const INLINE: usize = 128;
}

impl jmt::SimpleHasher for Blake3Hasher {
    fn new() -> Self {
        Blake3Hasher {
            inline: [0; Blake3Hasher::INLINE],
            len: 0,
            spilled: None,
        }
    }
    fn update(&mut self, data: &[u8]) {
        if let Some(hasher) = &mut self.spilled {
            hasher.update(data);
            return;
        }
        match self.inline.get_mut(self.len..self.len + data.len()) {
            Some(slot) => {
                slot.copy_from_slice(data);
                self.len += data.len();
            }
            None => {
                let mut hasher = Box::new(blake3::Hasher::new());
                hasher.update(&self.inline[..self.len]);
                hasher.update(data);
                self.spilled = Some(hasher);
            }
        }
    }
    fn finalize(self) -> [u8; 32] {
        match self.spilled {
            Some(hasher) => *hasher.finalize().as_bytes(),
            None => *blake3::hash(&self.inline[..self.len]).as_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jmt::{KeyHash, SimpleHasher};

    /// The tree hasher is BLAKE3 of the concatenated input, whatever the pieces' sizes.
    #[test]
    fn the_tree_hasher_is_blake3() {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 7 % 251) as u8).collect();
        for cut in [0, 1, 16, 64, 127, 128, 129, 200, 400] {
            for total in [cut, 128, 129, 400] {
                if total < cut {
                    continue;
                }
                let mut hasher = Blake3Hasher::new();
                hasher.update(&data[..cut]);
                hasher.update(&data[cut..total]);
                assert_eq!(hasher.finalize(), *blake3::hash(&data[..total]).as_bytes());
            }
        }
        assert_eq!(crate::key_hash(b"k"), KeyHash::with::<Blake3Hasher>(b"k"));
    }
}
