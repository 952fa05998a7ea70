/// The physical CPUs a domain's vCPUs may run on: xl's `cpus = "…"` (hard affinity, same for every vCPU).
///
/// The string is a comma-separated list of `all`, `N`, `N-M`, and exclusions `^N` / `^N-M`, applied
/// left to right (`"all,^0"`, `"0-3,^2"`). A string that starts with an exclusion starts from all CPUs.
public enum CPUAffinity: Equatable, Sendable {
    /// Every CPU of the board except the listed ones (sorted, unique). `.all(except: [])` is the default.
    case all(except: [Int])
    /// Exactly these CPUs (sorted, unique, never empty).
    case only([Int])

    public static let any = CPUAffinity.all(except: [])

    /// The highest CPU number a `cpus` string may name (ranges stay small).
    public static let maxCPU = 1023

    /// The CPUs this affinity allows on a board with `boardCPUs` CPUs (numbered from 0).
    public func cpus(boardCPUs: Int) -> [Int] {
        switch self {
        case .all(let except):
            var result: [Int] = []
            for c in 0..<max(boardCPUs, 0) where !except.contains(c) { result.append(c) }
            return result
        case .only(let list):
            var result: [Int] = []
            for c in list where c < boardCPUs { result.append(c) }
            return result
        }
    }

    /// Parses an xl `cpus` string; a failure says why (the caller adds file, line and key).
    public static func parse(_ text: String) -> Result<CPUAffinity, AffinityParseError> {
        var all = false
        var set: [Int] = []      // included (when !all) or excluded (when all)
        var first = true
        for part in text.utf8.split(separator: 0x2C, omittingEmptySubsequences: false) {
            var bytes = ArraySlice(part)
            while let c = bytes.first, c == 0x20 || c == 0x09 { bytes = bytes.dropFirst() }
            while let c = bytes.last, c == 0x20 || c == 0x09 { bytes = bytes.dropLast() }
            if bytes.isEmpty { return .failure(.syntax) }
            let word = XLBytes.string(bytes)
            if word == "all" {
                all = true
                set = []
                first = false
                continue
            }
            if bytes.starts(with: "nodes:".utf8) || bytes.starts(with: "node:".utf8) {
                return .failure(.numaNodes)
            }
            var exclude = false
            if bytes.first == 0x5E { // '^'
                exclude = true
                bytes = bytes.dropFirst()
                if first { all = true; set = [] }
            }
            first = false
            guard let (lo, hi) = range(bytes) else { return .failure(.syntax) }
            guard lo <= hi else { return .failure(.backwardsRange(lo, hi)) }
            guard hi <= maxCPU else { return .failure(.tooHigh(hi)) }
            for c in lo...hi {
                // In "all" mode the set holds exclusions, otherwise inclusions.
                if exclude == all {
                    if !set.contains(c) { set.append(c) }
                } else {
                    set.removeAll { $0 == c }
                }
            }
        }
        set.sort()
        if all { return .success(.all(except: set)) }
        if set.isEmpty { return .failure(.empty) }
        return .success(.only(set))
    }

    public enum AffinityParseError: Error, Equatable, Sendable {
        case syntax
        case numaNodes
        case backwardsRange(Int, Int)
        case tooHigh(Int)
        case empty
    }

    private static func range(_ bytes: ArraySlice<UInt8>) -> (Int, Int)? {
        if let dash = bytes.firstIndex(of: 0x2D) {
            guard let lo = number(bytes[bytes.startIndex..<dash]),
                  let hi = number(bytes[(dash + 1)..<bytes.endIndex]) else { return nil }
            return (lo, hi)
        }
        guard let n = number(bytes) else { return nil }
        return (n, n)
    }

    private static func number(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 6 else { return nil }
        var v = 0
        for c in bytes {
            guard XLBytes.isDigit(c) else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return v
    }
}
