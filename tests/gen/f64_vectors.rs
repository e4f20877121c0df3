// Prints the test vectors of tests/test_number.c: one double per line, as
//     <bits in hex> <Rust's {:?}> <serde_json's text (ryu; null when not finite), = if the same>
// for edge cases, every power of two, powers of ten and their neighbours, the doubles around
// the points where the notation switches, subnormals, ties between two shortest candidates,
// the benchmark's 0.1 * i, and random bit patterns. Deterministic (a fixed-seed splitmix64).
// Built and run by tests/gen/f64_vectors.sh; not part of the build.
extern crate ryu;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
}

fn emit(v: f64) {
    let json = if v.is_finite() { ryu::Buffer::new().format_finite(v).to_string() } else { "null".to_string() };
    let text = format!("{:?}", v);
    println!("{:016x} {} {}", v.to_bits(), text, if json == text { "=" } else { &json });
}

fn around(v: f64, n: i64) {
    // v and its n neighbours on each side (positive finite v)
    let b = v.to_bits() as i64;
    for d in -n..=n {
        let x = f64::from_bits((b + d) as u64);
        if x.is_finite() && x > 0.0 {
            emit(x);
        }
    }
}

fn main() {
    let mut rng = Rng(0x5eed_f64_0000_0001);
    let edges = [
        0.0, -0.0, f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.1, 0.2, 0.3, 0.1 + 0.2,
        1.0 / 3.0, 2.0 / 3.0, 2.0, 0.5, 1.5, 100.0, 123.456, -123.456, 1e21, 1e22, 1e23, 5e-324,
        1e-323, 2.2250738585072014e-308, 2.225073858507201e-308, 1.7976931348623157e308,
        -1.7976931348623157e308, 9007199254740992.0, 9007199254740993.0, 4503599627370496.5,
        562949953421312.25, 562949953421312.75, 1e15, 1e16, 1e17, 0.0001, 0.00001, 1e-7, 1.5e-7,
        std::f64::consts::PI, std::f64::consts::E, f64::EPSILON, 299792458.0, 6.02214076e23,
        1.602176634e-19, -1e-300, 3.0e-5, 9.999999999999999e15, 9.999999999999999e-5,
        123456789012345680.0, f64::MAX, f64::MIN, f64::MIN_POSITIVE, 1e-5, 1e-4, 2f64.powi(-25),
        -3.0, -5e-324,
    ];
    for &v in edges.iter() {
        emit(v);
    }
    // Every power of two, normal and subnormal, and the double below it (whose interval is
    // the asymmetric one when the power is normal).
    for e in -1074..=1023 {
        let v = 2f64.powi(e.max(-1022)) / if e < -1022 { 2f64.powi(-1022 - e) } else { 1.0 };
        emit(v);
        emit(f64::from_bits(v.to_bits() - 1));
    }
    // Powers of ten (as parsed: the nearest double) with a neighbour each side.
    for e in -323..=308 {
        let v: f64 = format!("1e{}", e).parse().unwrap();
        around(v, 1);
    }
    // Where the notation switches: 1e-5 (ryu), 1e-4 (Rust) and 1e16 (both).
    for &v in [1e-5, 1e-4, 1e16].iter() {
        around(v, 40);
    }
    // Subnormals: the smallest, and random ones.
    for m in 1..200u64 {
        emit(f64::from_bits(m));
    }
    for _ in 0..500 {
        emit(f64::from_bits(rng.next() & ((1u64 << 52) - 1)));
    }
    // Doubles with few fraction bits in the binades where a tie between the two nearest
    // shortest candidates can happen (e.g. 562949953421312.25: .2 or .3).
    for j in 1..=12i32 {
        for _ in 0..60 {
            let int = (1u64 << (52 - j)) | (rng.next() & ((1u64 << (52 - j)) - 1));
            let frac = (rng.next() & ((1u64 << j) - 1)) | 1;
            let v = int as f64 + frac as f64 / 2f64.powi(j);
            emit(v);
        }
    }
    // Short decimals, as people log them: 0.1 * i (the benchmark's field), i / 100, i * 1e-9.
    for i in 0..400u64 {
        emit(0.1 * i as f64);
        emit(i as f64 / 100.0);
        emit(i as f64 * 1e-9);
    }
    // Random bit patterns: every exponent and sign alike.
    for _ in 0..4000 {
        emit(f64::from_bits(rng.next()));
    }
}
