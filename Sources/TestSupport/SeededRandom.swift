import Foundation

/// A reproducible source of random test inputs: SplitMix64 seeded from `RELAY_INIT_TEST_SEED`
/// when set, else from a fresh random seed. The seed is printed, so a failing run can be
/// replayed with `RELAY_INIT_TEST_SEED=<seed> swift test --filter …`.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    /// The environment variable that fixes the seed.
    public static let variable = "RELAY_INIT_TEST_SEED"

    public let seed: UInt64
    private var state: UInt64

    /// A generator seeded as described above; `label` names the test in the printed line.
    public init(for label: String) {
        let text = ProcessInfo.processInfo.environment[Self.variable] ?? ""
        let seed = UInt64(text) ?? UInt64.random(in: .min ... .max)
        self.init(seed: seed)
        print("\(label): \(Self.variable)=\(seed)")
    }

    public init(seed: UInt64) {
        self.seed = seed
        self.state = seed
    }

    /// SplitMix64 (Steele, Lea, Flood 2014), as in Java's `SplittableRandom`.
    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
