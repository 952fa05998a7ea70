#if hasFeature(Embedded)
import AArch64
import ApusCore

/// The two figures that say whether a guest can stall the board (issue: "the longest time
/// any lock is held and the longest a CPU runs at EL2 with interrupts masked"), kept as
/// running maxima in physical-counter ticks and printed whenever a domain ends
/// (`TrapKind.report`), where `apus bench` reads them. Updated without a lock: a lost
/// update between two CPUs loses at most one sample of a maximum.
///
/// A build option, as Xen's CONFIG_LOCK_PROFILE is: compiled in only with
/// `-D APUS_LOCK_PROFILE` (`apus build --lock-profile`, and the image `apus bench` builds for
/// its hostile part). In the ordinary image every call here is empty, so the trap paths
/// pay nothing for it (the counter reads and maxima cost about 8% of a null hypercall).
enum Latency {
    #if APUS_LOCK_PROFILE
    static let enabled = true
    #else
    static let enabled = false
    #endif

    /// The counter at the start of a lock hold (0 when profiling is not built in).
    @inline(__always)
    static func stamp() -> UInt64 { enabled ? read_cntpct_el0() : 0 }

    /// One maximum per lock, in the order of the lock-order table (docs/architecture.md).
    enum Lock: Int { case state, xen, p2m, domain, scheduler, console }
    static let lockNames: [StaticString] = ["state", "xen", "p2m", "domain", "scheduler", "console"]

    // One variable per lock, each statically initialized: an array here would be a lazily
    // initialized global, with a swift_once check at every lock release.
    nonisolated(unsafe) static var longestState: UInt64 = 0
    nonisolated(unsafe) static var longestXen: UInt64 = 0
    nonisolated(unsafe) static var longestP2M: UInt64 = 0
    nonisolated(unsafe) static var longestDomain: UInt64 = 0
    nonisolated(unsafe) static var longestScheduler: UInt64 = 0
    nonisolated(unsafe) static var longestConsole: UInt64 = 0
    /// Longest stretch a CPU ran at EL2 (interrupts are masked there) between leaving a
    /// guest, or waking from idle, and entering a guest or going idle.
    nonisolated(unsafe) static var longestEL2: UInt64 = 0

    static func reset() {
        longestState = 0; longestXen = 0; longestP2M = 0; longestDomain = 0; longestScheduler = 0
        longestConsole = 0; longestEL2 = 0; longestXenLine = 0
    }

    /// `lock` is a constant at every call site: the switch folds away.
    /// Where the longest Xen-lock hold was taken (the caller of `Xen.locked`).
    nonisolated(unsafe) static var longestXenFile: StaticString = ""
    nonisolated(unsafe) static var longestXenLine: UInt = 0

    @inline(__always)
    static func held(_ lock: Lock, since t0: UInt64, file: StaticString = "", line: UInt = 0) {
        guard enabled else { return }
        let d = read_cntpct_el0() &- t0
        switch lock {
        case .state: if d > longestState { longestState = d }
        case .xen:
            if d > longestXen { longestXen = d; longestXenFile = file; longestXenLine = line }
        case .p2m: if d > longestP2M { longestP2M = d }
        case .domain: if d > longestDomain { longestDomain = d }
        case .scheduler: if d > longestScheduler { longestScheduler = d }
        case .console: if d > longestConsole { longestConsole = d }
        }
    }

    /// This CPU starts running hypervisor code (a trap from a guest, a wake from idle).
    @inline(__always)
    static func el2Begins(_ cpu: PerCPU, tag: UInt64 = 0) {
        if enabled { cpu.el2Since = read_cntpct_el0(); cpu.el2Tag = tag }
    }

    /// What started the longest EL2 stretch: the trap's ESR (upper 32 bits) and, for a
    /// hypercall, its number and first argument's low half; 0 for a wake from idle.
    nonisolated(unsafe) static var longestEL2Tag: UInt64 = 0
    nonisolated(unsafe) static var longestEL2Arg: UInt64 = 0

    /// ... and stops (enters a guest, or waits in WFI).
    @inline(__always)
    static func el2Ends(_ cpu: PerCPU) {
        guard enabled, cpu.el2Since != 0 else { return }
        let d = read_cntpct_el0() &- cpu.el2Since
        cpu.el2Since = 0
        if d > longestEL2 { longestEL2 = d; longestEL2Tag = cpu.el2Tag; longestEL2Arg = cpu.el2Arg }
    }

    /// "(XEN) Apus: longest lock hold ns: state N xen N ...; longest at EL2 N ns".
    static func report() {
        guard enabled else { return }
        let raw = [longestState, longestXen, longestP2M, longestDomain, longestScheduler, longestConsole]
        var holds = InlineArray<6, UInt64>(repeating: 0)
        for i in 0..<6 { holds[i] = Xen.ticksToNS(raw[i]) }
        let el2 = Xen.ticksToNS(longestEL2)
        Log.line {
            Log.put("Apus: longest lock hold ns:")
            for i in 0..<6 { Log.put(" "); Log.put(lockNames[i]); Log.put(" "); Log.dec(Int(holds[i])) }
            Log.put("; longest at EL2 with interrupts masked ns: "); Log.dec(Int(el2))
        }
        Log.line {
            Log.put("Apus: longest Xen lock hold taken at "); Log.put(longestXenFile); Log.put(":"); Log.dec(Int(longestXenLine))
        }
        Log.line {
            Log.put("Apus: longest EL2 stretch began with ESR/x16 "); Log.hex(longestEL2Tag)
            Log.put(" x0/x1 "); Log.hex(longestEL2Arg)
        }
    }
}
#endif
