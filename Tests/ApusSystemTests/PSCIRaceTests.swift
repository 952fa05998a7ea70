import Foundation
import Testing

/// Issue 10, finding 9: PSCI CPU_ON checked its target's power state and acted on it in two
/// holds of the domain's lock, so two CPU_ONs for one vCPU at the same moment could both see
/// it OFF and both return SUCCESS (the second resetting a vCPU the first had started).
/// guests/psci-race makes vCPUs 0 and 1 call CPU_ON(2) at the same moment, round after round,
/// on two physical CPUs with QEMU's multi-threaded TCG so that the calls really run at once.
/// Before the fix (9e38301^) 63 to 321 of 2,000 rounds had two SUCCESS (5 runs of 5 failed,
/// the first time at round 5 to 821); with it, none (5 runs of 5 passed).
/// The same race with SYSTEM_RESET left the target marked on in the next boot.
@Suite(.serialized) struct PSCIRaceTests {
    static let rounds = 2000
    /// Multi-threaded TCG is QEMU 7.2's default for an aarch64 guest on this host; said
    /// explicitly, as the test means nothing with the two CPUs taking turns on one thread.
    /// APUS_RACE_IMAGE=<hypervisor image> runs them on that image instead of a fresh build
    /// (how they were shown to fail on the code before the fix).
    static let board = ["--cpus", "2", "--qemu-arg", "-accel", "--qemu-arg", "tcg,thread=multi"]
        + (ProcessInfo.processInfo.environment["APUS_RACE_IMAGE"].map { ["--image", $0] } ?? [])

    static func config(_ extra: String) -> (String, String) {
        ("psci-race.cfg", """
        name = "psci-race"
        memory = 64
        vcpus = 3
        kernel = "\(SystemHarness.guestImage("psci-race"))"
        extra = "\(extra)"
        on_reboot = "restart"
        """)
    }

    /// Issue 10, the stall this test found: vCPU 2 sometimes took 0.5 to 3.5 s to turn OFF after
    /// its entry, a runnable vCPU waiting for a CPU while the scheduler's ticket lock was handed
    /// from one QEMU thread to a descheduled other at every switch (~4 ms each). The guest's
    /// watchdog on that wait (off_ms) and the longest wait it reports are both held to 500 ms:
    /// with the fix the longest waits were 20-106 ms on this 2-core host shared with other
    /// QEMUs (load 2.3-4.9), so 500 ms leaves about 5x for a busier host; before it, every run
    /// went over 200 ms (rounds 14 to 4180), and 500 ms is the low end of what was reported.
    static let offBoundMs = 500

    @Test func twoCPUOnsForOneVCPUAtOnceHaveOneWinner() throws {
        let r = try SystemHarness.run([Self.config("rounds=\(Self.rounds) off_ms=\(Self.offBoundMs)")], arguments: Self.board,
                                      timeout: 150)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let lines = r.domainLines(1)
        let failures = lines.filter { $0.hasPrefix("psci-race: FAIL: ") }
        #expect(lines.contains("TEST PASS psci-race"), "\(failures.prefix(10))")
        #expect(failures.isEmpty, "\(failures.prefix(10))")

        // "N rounds: SUCCESS + ALREADY_ON a, SUCCESS + ON_PENDING b; two SUCCESS c, ..."
        let summary = lines.first { $0.hasPrefix("psci-race: \(Self.rounds) rounds: SUCCESS + ALREADY_ON ") }
        #expect(summary != nil, "no summary line")
        if let s = summary {
            let n = Self.numbers(s)
            // rounds, ALREADY_ON, ON_PENDING, two SUCCESS, no SUCCESS, other answer, entered
            // more than once, wrong context id, rounds without one entry, stray entries, vCPU, AFFINITY_INFO
            #expect(n.count == 12, "\(s)")
            if n.count == 12 {
                #expect(n[1] + n[2] == Self.rounds, "\(s)")
                #expect(Array(n[3...9]) == [0, 0, 0, 0, 0, 0, 0], "\(s)")
                #expect(n[11] == 1, "vCPU 2 not OFF at the end: \(s)")
            }
        }
        // The test means something only if the two calls met: rounds with both calls within
        // 100 us of each other (a busy host sometimes leaves one QEMU vCPU thread waiting).
        let timing = lines.first { $0.hasPrefix("psci-race: \(Self.rounds) rounds in ") }
        let close = timing.map(Self.numbers).flatMap { $0.count >= 3 ? $0[2] : nil } ?? 0
        #expect(close > 0, "the two CPU_ONs never came within 100 us of each other: \(timing ?? "no timing line")")
        // "longest wait for vCPU 2 to be OFF after its entry: N ms (round R)": the watchdog alone
        // misses a stall that also kept vCPU 0 (which checks it) from running.
        let longest = lines.first { $0.hasPrefix("psci-race: longest wait for vCPU 2 to be OFF after its entry: ") }
        let waited = longest.map(Self.numbers).flatMap { $0.count >= 2 ? $0[1] : nil }
        #expect(waited != nil, "no longest-wait line")
        if let w = waited { #expect(w < Self.offBoundMs, "\(longest ?? "")") }
    }

    /// One CPU_ON(2) from vCPU 1 at the moment vCPU 0 calls SYSTEM_RESET, in every boot for
    /// 30 s of the board's counter (400 to 1,000 boots here); each boot first checks that vCPUs
    /// 1 and 2 are OFF and vCPU 2 never entered. Before the fix the CPU_ON could act after the
    /// reset turned every vCPU off: 8 runs of 8 failed, after 2 to 328 boots, with vCPU 2 ON
    /// (AFFINITY_INFO 0) in a new boot that had not started it; with it, 5 of 5 passed.
    @Test func cpuOnRacingSystemResetLeavesNoVCPUOnInTheNextBoot() throws {
        let r = try SystemHarness.run([Self.config("reset_ms=30000")], arguments: Self.board, timeout: 150)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let lines = r.domainLines(1)
        let failures = lines.filter { $0.hasPrefix("psci-race: FAIL: ") }
        #expect(lines.contains("TEST PASS psci-race"), "\(failures.prefix(10))")
        #expect(failures.isEmpty, "\(failures.prefix(10))")
        #expect(lines.contains { $0.hasPrefix("psci-race: reset: boot at ") && $0.hasSuffix(" ms: vCPUs 1 and 2 OFF and vCPU 2 not entered after every SYSTEM_RESET that raced CPU_ON(2)") })
        let restarts = r.output.components(separatedBy: "(XEN) d1 (psci-race): rebooted, restarting").count - 1
        #expect(restarts >= 50, "only \(restarts) boots raced")
    }

    /// The decimal numbers in a line, in order (a minus sign belongs to its number).
    static func numbers(_ line: String) -> [Int] {
        var out: [Int] = [], digits = "", negative = false
        for c in line + " " {
            if c.isASCII, c.isNumber { digits.append(c); continue }
            if !digits.isEmpty { out.append((negative ? -1 : 1) * (Int(digits) ?? 0)); digits = "" }
            negative = c == "-"
        }
        return out
    }
}
