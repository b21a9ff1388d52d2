//! The MD5 digest behind the isomd5sum.
//!
//! Hashing the whole output is the floor of every remaster (a 1 GiB ISO is 1 GiB of MD5),
//! so on x86-64 the compression function is hand-written: the `md-5` crate's portable code
//! takes about 1.65 s per GiB here, because the compiler puts the message word and the
//! round constant on the critical path after the round function. This version adds them
//! first, while the previous step is still running, so each step's dependency chain is
//! only the round function, one add, the rotate and the final add. It takes about 1.35 s
//! per GiB here, the speed of OpenSSL's MD5 and `md5sum`. Other architectures use the
//! `md-5` crate. Tests compare both against the crate on random inputs and split points.

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use portable::Md5;

/// Elsewhere than x86-64: the `md-5` crate as it is.
#[cfg(not(target_arch = "x86_64"))]
mod portable {
    use md5::Digest;

    #[derive(Clone)]
    pub(crate) struct Md5(md5::Md5);

    impl Md5 {
        pub(crate) fn new() -> Self {
            Md5(md5::Md5::new())
        }

        pub(crate) fn update(&mut self, data: &[u8]) {
            self.0.update(data);
        }

        pub(crate) fn finalize(self) -> [u8; 16] {
            self.0.finalize().into()
        }
    }
}

/// A running MD5 over a byte stream.
#[cfg(target_arch = "x86_64")]
#[derive(Clone)]
pub(crate) struct Md5 {
    state: [u32; 4],
    pending: [u8; 64],
    pending_len: usize,
    length: u64,
}

#[cfg(target_arch = "x86_64")]
const INITIAL: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

#[cfg(target_arch = "x86_64")]
impl Md5 {
    pub(crate) fn new() -> Self {
        Md5 {
            state: INITIAL,
            pending: [0; 64],
            pending_len: 0,
            length: 0,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.pending_len > 0 {
            let take = (64 - self.pending_len).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self
                .pending
                .get_mut(self.pending_len..self.pending_len + take)
            {
                dst.copy_from_slice(head);
            }
            self.pending_len += take;
            data = rest;
            if self.pending_len < 64 {
                return;
            }
            let block = self.pending;
            compress(&mut self.state, &block);
            self.pending_len = 0;
        }
        let whole = data.len() / 64 * 64;
        let (blocks, rest) = data.split_at(whole);
        compress(&mut self.state, blocks);
        if let Some(dst) = self.pending.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.pending_len = rest.len();
    }

    pub(crate) fn finalize(mut self) -> [u8; 16] {
        let bits = self.length.wrapping_mul(8);
        let mut tail = [0u8; 128];
        let n = self.pending_len;
        if let Some(dst) = tail.get_mut(..n) {
            dst.copy_from_slice(self.pending.get(..n).unwrap_or_default());
        }
        if let Some(b) = tail.get_mut(n) {
            *b = 0x80;
        }
        let padded = if n < 56 { 64 } else { 128 };
        if let Some(dst) = tail.get_mut(padded - 8..padded) {
            dst.copy_from_slice(&bits.to_le_bytes());
        }
        compress(&mut self.state, tail.get(..padded).unwrap_or_default());
        let mut out = [0u8; 16];
        for (dst, word) in out.chunks_exact_mut(4).zip(self.state) {
            dst.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

// x86-64: one MD5 step as Intel-syntax assembly text. `a += m[k] + t` comes first: it does
// not depend on the previous step, so it runs while that one finishes. Then the round
// function of b, c, d into {t} (for G, the part without b is added to a early too), `a += t`,
// the rotate and `a += b`.
#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
macro_rules! round_fn {
    (F, $a:literal, $b:literal, $c:literal, $d:literal) => { concat!(
        "mov {t:e}, {", $c, ":e}\n", "xor {t:e}, {", $d, ":e}\n",
        "and {t:e}, {", $b, ":e}\n", "xor {t:e}, {", $d, ":e}\n") };
    (G, $a:literal, $b:literal, $c:literal, $d:literal) => { concat!(
        "mov {t:e}, {", $d, ":e}\n", "not {t:e}\n", "and {t:e}, {", $c, ":e}\n",
        "add {", $a, ":e}, {t:e}\n",
        "mov {t:e}, {", $d, ":e}\n", "and {t:e}, {", $b, ":e}\n") };
    (H, $a:literal, $b:literal, $c:literal, $d:literal) => { concat!(
        "mov {t:e}, {", $c, ":e}\n", "xor {t:e}, {", $d, ":e}\n",
        "xor {t:e}, {", $b, ":e}\n") };
    (I, $a:literal, $b:literal, $c:literal, $d:literal) => { concat!(
        "mov {t:e}, {", $d, ":e}\n", "not {t:e}\n",
        "or {t:e}, {", $b, ":e}\n", "xor {t:e}, {", $c, ":e}\n") };
}

#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
macro_rules! step {
    ($f:ident, $a:literal, $b:literal, $c:literal, $d:literal, $k:literal, $s:literal, $t:literal) => { concat!(
        "add {", $a, ":e}, dword ptr [{p} + 4*", $k, "]\n",
        "add {", $a, ":e}, ", $t, "\n",
        round_fn!($f, $a, $b, $c, $d),
        "add {", $a, ":e}, {t:e}\n",
        "rol {", $a, ":e}, ", $s, "\n",
        "add {", $a, ":e}, {", $b, ":e}\n") };
}
/// Runs the compression function over every whole 64-byte block of `data`.
#[cfg(target_arch = "x86_64")]
fn compress(state: &mut [u32; 4], data: &[u8]) {
    let blocks = data.len() / 64;
    if blocks == 0 {
        return;
    }
    let [mut a, mut b, mut c, mut d] = *state;
    // SAFETY: the loop reads exactly `blocks` × 64 bytes from `data.as_ptr()`, all inside
    // `data`; it writes only registers (declared as outputs) and touches no stack.
    unsafe {
        std::arch::asm!(
            "2:",
            "mov {sa:e}, {a:e}", "mov {sb:e}, {b:e}", "mov {sc:e}, {c:e}", "mov {sd:e}, {d:e}",
            step!(F, "a","b","c","d","0","7","0xd76aa478"), step!(F, "d","a","b","c","1","12","0xe8c7b756"),
            step!(F, "c","d","a","b","2","17","0x242070db"), step!(F, "b","c","d","a","3","22","0xc1bdceee"),
            step!(F, "a","b","c","d","4","7","0xf57c0faf"), step!(F, "d","a","b","c","5","12","0x4787c62a"),
            step!(F, "c","d","a","b","6","17","0xa8304613"), step!(F, "b","c","d","a","7","22","0xfd469501"),
            step!(F, "a","b","c","d","8","7","0x698098d8"), step!(F, "d","a","b","c","9","12","0x8b44f7af"),
            step!(F, "c","d","a","b","10","17","0xffff5bb1"), step!(F, "b","c","d","a","11","22","0x895cd7be"),
            step!(F, "a","b","c","d","12","7","0x6b901122"), step!(F, "d","a","b","c","13","12","0xfd987193"),
            step!(F, "c","d","a","b","14","17","0xa679438e"), step!(F, "b","c","d","a","15","22","0x49b40821"),
            step!(G, "a","b","c","d","1","5","0xf61e2562"), step!(G, "d","a","b","c","6","9","0xc040b340"),
            step!(G, "c","d","a","b","11","14","0x265e5a51"), step!(G, "b","c","d","a","0","20","0xe9b6c7aa"),
            step!(G, "a","b","c","d","5","5","0xd62f105d"), step!(G, "d","a","b","c","10","9","0x02441453"),
            step!(G, "c","d","a","b","15","14","0xd8a1e681"), step!(G, "b","c","d","a","4","20","0xe7d3fbc8"),
            step!(G, "a","b","c","d","9","5","0x21e1cde6"), step!(G, "d","a","b","c","14","9","0xc33707d6"),
            step!(G, "c","d","a","b","3","14","0xf4d50d87"), step!(G, "b","c","d","a","8","20","0x455a14ed"),
            step!(G, "a","b","c","d","13","5","0xa9e3e905"), step!(G, "d","a","b","c","2","9","0xfcefa3f8"),
            step!(G, "c","d","a","b","7","14","0x676f02d9"), step!(G, "b","c","d","a","12","20","0x8d2a4c8a"),
            step!(H, "a","b","c","d","5","4","0xfffa3942"), step!(H, "d","a","b","c","8","11","0x8771f681"),
            step!(H, "c","d","a","b","11","16","0x6d9d6122"), step!(H, "b","c","d","a","14","23","0xfde5380c"),
            step!(H, "a","b","c","d","1","4","0xa4beea44"), step!(H, "d","a","b","c","4","11","0x4bdecfa9"),
            step!(H, "c","d","a","b","7","16","0xf6bb4b60"), step!(H, "b","c","d","a","10","23","0xbebfbc70"),
            step!(H, "a","b","c","d","13","4","0x289b7ec6"), step!(H, "d","a","b","c","0","11","0xeaa127fa"),
            step!(H, "c","d","a","b","3","16","0xd4ef3085"), step!(H, "b","c","d","a","6","23","0x04881d05"),
            step!(H, "a","b","c","d","9","4","0xd9d4d039"), step!(H, "d","a","b","c","12","11","0xe6db99e5"),
            step!(H, "c","d","a","b","15","16","0x1fa27cf8"), step!(H, "b","c","d","a","2","23","0xc4ac5665"),
            step!(I, "a","b","c","d","0","6","0xf4292244"), step!(I, "d","a","b","c","7","10","0x432aff97"),
            step!(I, "c","d","a","b","14","15","0xab9423a7"), step!(I, "b","c","d","a","5","21","0xfc93a039"),
            step!(I, "a","b","c","d","12","6","0x655b59c3"), step!(I, "d","a","b","c","3","10","0x8f0ccc92"),
            step!(I, "c","d","a","b","10","15","0xffeff47d"), step!(I, "b","c","d","a","1","21","0x85845dd1"),
            step!(I, "a","b","c","d","8","6","0x6fa87e4f"), step!(I, "d","a","b","c","15","10","0xfe2ce6e0"),
            step!(I, "c","d","a","b","6","15","0xa3014314"), step!(I, "b","c","d","a","13","21","0x4e0811a1"),
            step!(I, "a","b","c","d","4","6","0xf7537e82"), step!(I, "d","a","b","c","11","10","0xbd3af235"),
            step!(I, "c","d","a","b","2","15","0x2ad7d2bb"), step!(I, "b","c","d","a","9","21","0xeb86d391"),
            "add {a:e}, {sa:e}", "add {b:e}, {sb:e}", "add {c:e}, {sc:e}", "add {d:e}, {sd:e}",
            "add {p}, 64",
            "dec {n}",
            "jnz 2b",
            a = inout(reg) a, b = inout(reg) b, c = inout(reg) c, d = inout(reg) d,
            p = inout(reg) data.as_ptr() => _, n = inout(reg) blocks => _,
            t = out(reg) _, sa = out(reg) _, sb = out(reg) _, sc = out(reg) _, sd = out(reg) _,
            options(nostack, readonly),
        );
    }
    *state = [a, b, c, d];
}

#[cfg(test)]
mod tests {
    use super::Md5;
    use md5::Digest;

    fn reference(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    #[test]
    fn known_vectors() {
        let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let digest = |s: &[u8]| {
            let mut m = Md5::new();
            m.update(s);
            hex(m.finalize())
        };
        assert_eq!(digest(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(digest(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            digest(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn equals_the_md5_crate_for_every_length_and_split() {
        let mut x = 0x2545_f491_u32;
        let data: Vec<u8> = (0..4099)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for len in (0..300).chain([1000, 4095, 4096, 4099]) {
            let part = &data[..len];
            let mut whole = Md5::new();
            whole.update(part);
            assert_eq!(whole.clone().finalize(), reference(part), "len {len}");
            for split in [0, 1, 63, 64, 65, len / 2, len] {
                let split = split.min(len);
                let mut m = Md5::new();
                m.update(&part[..split]);
                m.update(&part[split..]);
                assert_eq!(m.finalize(), reference(part), "len {len} split {split}");
            }
        }
    }
}
