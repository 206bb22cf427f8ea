//! Structured values read from the fuzzer's bytes.
//!
//! A small stand-in for `arbitrary::Unstructured`: the main crate's tests
//! replay the corpus with these same checks and cannot depend on `arbitrary`,
//! so the decoding lives here, where both sides compile it. Reading past the
//! end yields zeros, so every input decodes to something.

/// A cursor over the input bytes.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    /// One byte, 0 at the end.
    pub fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    /// A boolean from one byte.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | u16::from(self.u8()) << 8
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }

    /// A value in `0..n` (0 when `n` is 0): one byte for `n <= 256`, four otherwise.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else if n <= 256 {
            usize::from(self.u8()) % n
        } else {
            self.u32() as usize % n
        }
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len());
        items[i]
    }

    /// A string of at most `max` bytes: a length byte (255: a two-byte length
    /// follows), then that many bytes, read as UTF-8 with invalid sequences
    /// replaced by U+FFFD.
    pub fn string(&mut self, max: usize) -> String {
        let mut n = usize::from(self.u8());
        if n == 255 {
            n = usize::from(self.u16());
        }
        String::from_utf8_lossy(self.bytes(n.min(max))).into_owned()
    }

    /// A float: sometimes any bit pattern, mostly ordinary numbers.
    pub fn f64(&mut self) -> f64 {
        match self.u8() % 8 {
            0 => f64::from_bits(self.u64()),
            1 => f64::from(self.u8() as i8),
            2 => f64::from(self.u32() as i32) / 1000.0,
            3 => self.u64() as f64,
            4 => self.pick(&[
                0.0,
                -0.0,
                0.1,
                1e21,
                1e-7,
                9_007_199_254_740_992.0,
                f64::MAX,
                f64::MIN_POSITIVE,
            ]),
            5 => self.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
            6 => -(self.u64() as f64) / 7.0,
            _ => f64::from(self.u16()),
        }
    }
}
