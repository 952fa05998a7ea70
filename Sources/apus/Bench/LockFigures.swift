import Foundation

/// How long Apus holds its locks and runs at EL2 with interrupts masked, over the hostile run
/// (Apus issue 10: both under 50 us of guest time). The hypervisor keeps running maxima since
/// boot and prints them whenever a domain ends:
///
///     (XEN) Apus: longest lock hold ns: state N xen N p2m N domain N scheduler N console N; longest at EL2 with interrupts masked ns: N
///
/// The figures come from the last such line of the run's console log (hostile's domain ends
/// after its verdict, so that line covers all of its operations). Xen 4.17 has no such
/// counters.
struct LockFigures: Codable {
    struct Lock: Codable { var name: String; var ns: Int }
    /// Each lock's longest hold, in the hypervisor's order.
    var locks: [Lock]
    /// The longest hold of any lock, and which lock it was.
    var maxLockHoldNs: Int
    var longestLock: String
    /// The longest stretch a CPU ran at EL2 with interrupts masked.
    var maskedAtEL2Ns: Int
    var goalNs = LockFigures.goalNs
    var lockHoldUnderGoal: Bool
    var maskedUnderGoal: Bool
    /// Which run: the guests, their options and the board.
    var run = ""
    /// What one ns is: a guest instruction (icount) or real time of the emulated board.
    var clock = ""
    /// The log the line was read from.
    var log = ""

    static let goalNs = 50_000
    static let marker = "Apus: longest lock hold ns:"
    static let maskedMarker = "longest at EL2 with interrupts masked ns:"

    /// The figures of the last complete line in `text`, or nil when there is none.
    static func parse(_ text: String) -> LockFigures? {
        for raw in text.split(whereSeparator: \.isNewline).reversed() {
            if let f = parse(line: Substring(raw)) { return f }
        }
        return nil
    }

    /// One line; nil unless it holds at least one lock figure and the EL2 figure.
    static func parse(line: Substring) -> LockFigures? {
        let line = line.replacingOccurrences(of: "\r", with: "")
        guard let start = line.range(of: marker), let masked = line.range(of: maskedMarker),
              start.upperBound <= masked.lowerBound else { return nil }
        let lockPart = line[start.upperBound..<masked.lowerBound]
            .trimmingCharacters(in: CharacterSet.whitespaces.union(CharacterSet(charactersIn: ";")))
        let words = lockPart.split(separator: " ")
        guard !words.isEmpty, words.count % 2 == 0 else { return nil }
        var locks: [Lock] = []
        for i in stride(from: 0, to: words.count, by: 2) {
            guard let ns = Int(words[i + 1]), ns >= 0 else { return nil }
            locks.append(Lock(name: String(words[i]), ns: ns))
        }
        guard let el2 = line[masked.upperBound...].split(separator: " ").first.flatMap({ Int($0) }), el2 >= 0,
              let longest = locks.max(by: { $0.ns < $1.ns }) else { return nil }
        return LockFigures(locks: locks, maxLockHoldNs: longest.ns, longestLock: longest.name, maskedAtEL2Ns: el2,
                           lockHoldUnderGoal: longest.ns < goalNs, maskedUnderGoal: el2 < goalNs)
    }
}
